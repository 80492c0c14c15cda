"""Rebuilders of meta bases: replicas that lost their copy of a base get a
whole copy from the master (`openio-admin meta1|meta2 rebuild`), and the
client of the proxy's admin routes they share with the movers."""
