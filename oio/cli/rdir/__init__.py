"""`openio rdir ...`"""
