"""Contents (one version of an object) and their chunks, as the rebuilders,
movers and OpenIO 7.2's tests handle them: `ContentFactory` gives a
`PlainContent` or an `ECContent` that rebuilds or moves its chunks."""
