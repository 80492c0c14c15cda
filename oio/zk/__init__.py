"""ZooKeeper: the election tree of replicated meta bases (its layout, as
OpenIO 7.2 lays it out), the client side, and the server the sandbox runs."""
