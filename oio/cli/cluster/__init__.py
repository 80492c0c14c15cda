"""`openio cluster ...`"""
