"""oio-ecd: 7.2's erasure coding daemon, an HTTP gateway that encodes and
decodes one metachunk at a time for clients without an EC library (the C
SDK sends EC objects through it). See docs/ec.md."""
