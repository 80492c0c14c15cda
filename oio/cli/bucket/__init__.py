"""`openio bucket ...`."""
