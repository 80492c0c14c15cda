"""`system` stat: the host's CPU idle share (`stat.cpu`)."""

from __future__ import annotations

from oio.conscience.stats.base import BaseStat


def _cpu_times() -> tuple[int, int]:
    """(idle, total) jiffies of all CPUs since boot."""
    with open("/proc/stat", encoding="ascii") as src:
        fields = [int(x) for x in src.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return idle, sum(fields)


class SystemStat(BaseStat):
    """`stat.cpu`: 100 × idle share of the CPU time since the last sample
    (7.2 asks liboiocore; /proc/stat says the same)."""

    def configure(self) -> None:
        self.last = _cpu_times()

    def get_stats(self) -> dict:
        idle, total = _cpu_times()
        d_idle, d_total = idle - self.last[0], total - self.last[1]
        self.last = (idle, total)
        if d_total <= 0:
            return {"stat.cpu": 100.0}
        return {"stat.cpu": round(100.0 * d_idle / d_total, 6)}
