"""`openio reference ...`"""
