"""`volume` stat: free space and I/O idleness of a file system."""

from __future__ import annotations

import os
import time

from oio.conscience.stats.base import BaseStat


def _io_ticks(dev: int) -> int | None:
    """Milliseconds spent doing I/O by the block device `dev`."""
    major, minor = os.major(dev), os.minor(dev)
    try:
        with open("/proc/diskstats", encoding="ascii") as src:
            for line in src:
                fields = line.split()
                if int(fields[0]) == major and int(fields[1]) == minor:
                    return int(fields[12])
    except (OSError, ValueError, IndexError):
        pass
    return None


class VolumeStat(BaseStat):
    """`stat.space` from statvfs (the lower of blocks and inodes free),
    `stat.io` from the device's busy time (100 when the device cannot be
    found, e.g. in a container), `tag.vol`."""

    def configure(self) -> None:
        self.volume = str(self.stat_conf.get("path") or "/")
        self.last: tuple[float, int] | None = None

    def get_stats(self) -> dict:
        vfs = os.statvfs(self.volume)
        blocks = vfs.f_bavail / vfs.f_blocks if vfs.f_blocks else 1.0
        inodes = vfs.f_ffree / vfs.f_files if vfs.f_files else 1.0
        out = {"stat.space": round(100.0 * min(blocks, inodes), 6),
               "tag.vol": self.volume, "stat.io": 100.0}
        ticks = _io_ticks(os.stat(self.volume).st_dev)
        now = time.monotonic()
        if ticks is not None:
            if self.last is not None and now > self.last[0]:
                busy = (ticks - self.last[1]) / ((now - self.last[0]) * 1000.0)
                out["stat.io"] = round(max(0.0, 100.0 * (1.0 - busy)), 6)
            self.last = (now, ticks)
        return out
