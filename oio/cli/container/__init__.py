"""`openio container ...` and `openio bucket ...`."""
