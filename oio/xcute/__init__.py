"""xcute: distributed admin jobs (rebuilds, decommissions) cut into tasks
that event agents run, steered through an HTTP service backed by Redis
(docs/healing.md)."""
