"""`openio events ...`"""
