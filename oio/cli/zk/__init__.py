"""`openio zk ...`"""
