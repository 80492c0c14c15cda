"""Replicated SQLite bases: the meta0, meta1 and meta2 bases kept on N
services, a master per base elected through ZooKeeper, every committed
change shipped from the master to the other replicas (docs/replication.md).
"""
