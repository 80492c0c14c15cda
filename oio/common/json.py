"""`from oio.common.json import json`, as OpenIO's tools and tests import
it: upstream picks a fast JSON library here; the standard one is enough for
the sizes our clients parse."""

import json

__all__ = ["json"]
