"""OpenIO SDS compatible object storage, in Python.

>>> from oio import ObjectStorageApi
>>> api = ObjectStorageApi("OPENIO")
>>> chunks, size, md5 = api.object_create("myaccount", "mycontainer", "/etc/magic")

The API is imported lazily, so that services importing `oio.*` modules do
not pay for the client stack.
"""

__all__ = ["ObjectStorageApi"]


def __getattr__(name):
    if name == "ObjectStorageApi":
        from oio.api.object_storage import ObjectStorageApi
        return ObjectStorageApi
    raise AttributeError(f"module 'oio' has no attribute {name!r}")
