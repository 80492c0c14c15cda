"""Names OpenIO's tools import from `oio.common.green`. Upstream wraps
eventlet there; our clients are threads (no eventlet), so these are the
standard library's."""

import threading
import time
from time import sleep

__all__ = ["sleep", "threading", "time"]
