"""`openio object ...`."""
