"""`openio container ...`."""
