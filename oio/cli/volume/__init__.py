"""`openio volume ...`"""
