"""`openio-admin xcute ...`: xcute jobs and locks (spec healing.md §4.9)."""
