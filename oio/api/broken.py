"""Chunks that a read found missing or damaged, reported for rebuild.

A read that meets a chunk answering 404 (or 410), or whose stored hash or
bytes are not what meta2 records, logs it at once (the readers do) and
carries on with another copy or fragment. At the end of the read, one
`storage.content.broken` event (events.md §3.5) names them all and goes to
the namespace's beanstalkd (`event-agent` of its configuration), where the
event agent passes it on to the rebuild tube. Rawx that refuse connections
or time out are not reported: the chunk is likely fine, and the conscience
scores the service. Reporting never fails a read.
"""

from __future__ import annotations

import json
import logging

from oio.api.io import chunk_url
from oio.common.utils import timestamp_us
from oio.event.beanstalk import Beanstalk, BeanstalkError

LOGGER = logging.getLogger(__name__)
EVENT = "storage.content.broken"
TUBE = "oio"
# How long a read may wait for beanstalkd to take its report.
SEND_TIMEOUT = 2.0


class BrokenChunks:
    """What one object read found broken, keyed by chunk URL."""

    def __init__(self, url: dict, reqid: str, queue_url: str | None,
                 logger=None):
        self.url = url
        self.reqid = reqid
        self.queue_url = queue_url
        self.logger = logger or LOGGER
        self.found: dict[str, tuple[dict, str]] = {}

    def add(self, chunk: dict, reason: str) -> None:
        """Record a broken chunk (the reader has logged it already)."""
        self.found.setdefault(chunk_url(chunk), (chunk, reason))

    def event(self, chunks: list[dict]) -> dict | None:
        """The event for `chunks` (every chunk of the content), or None when
        nothing was found broken. Beside the spec's fields, `broken_chunks`
        says which copy of a replicated position is the broken one."""
        if not self.found:
            return None
        present = [{"id": chunk_url(c), "pos": str(c["pos"]),
                    "hash": c.get("hash"), "size": c.get("size")}
                   for c in chunks if chunk_url(c) not in self.found]
        broken = [{"id": key, "pos": str(chunk["pos"]), "reason": reason}
                  for key, (chunk, reason) in self.found.items()]
        return {"event": EVENT, "when": timestamp_us(), "url": self.url,
                "request_id": self.reqid,
                "data": {"present_chunks": present,
                         "missing_chunks": [b["pos"] for b in broken],
                         "broken_chunks": broken}}

    def send(self, chunks: list[dict]) -> bool:
        """Put the event into beanstalkd; whether it was sent (logged when
        it could not be)."""
        event = self.event(chunks)
        if event is None:
            return False
        if not self.queue_url:
            self.logger.warning("broken chunks of %s not reported: no "
                                "event-agent in the namespace configuration",
                                self.url.get("path"))
            return False
        body = json.dumps(event, separators=(",", ":")).encode("utf-8")
        try:
            client = Beanstalk.from_url(self.queue_url.split(";")[0].strip(),
                                        timeout=SEND_TIMEOUT)
            try:
                client.use(TUBE)
                client.put(body)
            finally:
                client.close()
        except (OSError, BeanstalkError, ValueError) as err:
            self.logger.warning("broken chunks of %s not reported (reqid=%s): "
                                "%s", self.url.get("path"), self.reqid, err)
            return False
        self.logger.info("broken chunks of %s reported for rebuild (reqid=%s): "
                         "%s", self.url.get("path"), self.reqid,
                         ", ".join(self.found))
        return True
