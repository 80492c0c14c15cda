"""The rawx request counters served on /stat (rawx.md §8.2)."""

from __future__ import annotations

# Request kinds, in the order of the 7.2.0 /stat output.
KINDS = ("put", "copy", "get", "head", "del", "stat", "info", "raw", "other")


class RawxStats:
    """Cumulative counters: hits and microseconds per request kind, replies
    per status class, bytes read by clients and written by them."""

    def __init__(self):
        self.time = dict.fromkeys(KINDS, 0)
        self.hits = dict.fromkeys(KINDS, 0)
        self.rep = {"2xx": 0, "4xx": 0, "5xx": 0, "other": 0, "403": 0, "404": 0}
        self.bread = 0      # bytes sent by GET replies
        self.bwritten = 0   # bytes received by PUT requests

    def record(self, kind: str, status: int, usec: int) -> None:
        """Count one request of `kind` answered with `status` in `usec` µs."""
        self.time[kind] += usec
        self.hits[kind] += 1
        klass = status // 100
        if klass in (2, 4, 5):
            self.rep[f"{klass}xx"] += 1
        else:
            self.rep["other"] += 1
        if status in (403, 404):
            self.rep[str(status)] += 1

    def render(self, volume: str, service_id: str = "") -> str:
        """The /stat body: `counter <name> <n>` lines then `config` lines."""
        lines = [f"counter req.time {sum(self.time.values())}"]
        lines += [f"counter req.time.{k} {self.time[k]}" for k in KINDS]
        lines.append(f"counter req.hits {sum(self.hits.values())}")
        lines += [f"counter req.hits.{k} {self.hits[k]}" for k in KINDS]
        lines += [f"counter rep.hits.{k} {self.rep[k]}"
                  for k in ("2xx", "4xx", "5xx", "other", "403", "404")]
        lines.append(f"counter rep.bread {self.bread}")
        lines.append(f"counter rep.bwritten {self.bwritten}")
        lines.append(f"config volume {volume}")
        if service_id:
            lines.append(f"config service_id {service_id}")
        return "\n".join(lines) + "\n"
