"""`openio directory ...`"""
