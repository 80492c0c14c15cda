"""Chunks found damaged on disk, handed to the blob rebuilder.

One `storage.content.broken` event per chunk (healing.md §2.2's task
format, without a reply address) goes to the rebuild tube of a beanstalkd;
`oio-blob-rebuilder --beanstalkd` takes it from there, deletes the bad
chunk and makes a new copy from the good ones.
"""

from __future__ import annotations

import json
import logging
import time

from oio.event.beanstalk import Beanstalk, BeanstalkError

EVENT = "storage.content.broken"
REBUILD_TUBE = "oio-rebuild"
SEND_TIMEOUT = 5.0


def broken_chunk_event(namespace: str, container_id: str, content_id: str,
                       chunk_url: str, when: float | None = None,
                       irreparable: bool = False) -> dict:
    """The rebuild task for one chunk, `http://<rawx service id>/<id>` (or
    its position); `irreparable` when too few copies are left (the
    integrity crawler says so, the rebuilder will fail it)."""
    event = {"when": time.time() if when is None else when,
             "event": EVENT,
             "url": {"ns": namespace, "id": container_id,
                     "content": content_id},
             "data": {"missing_chunks": [chunk_url]}}
    if irreparable:
        event["data"]["irreparable"] = True
    return event


class RebuildReporter:
    """Puts rebuild tasks on `tube` of the beanstalkd at `queue_url`,
    through one connection kept open (reopened after an error)."""

    def __init__(self, queue_url: str, namespace: str,
                 tube: str = REBUILD_TUBE, logger: logging.Logger | None = None):
        self.queue_url = queue_url
        self.namespace = namespace
        self.tube = tube
        self.logger = logger or logging.getLogger(__name__)
        self._client: Beanstalk | None = None
        Beanstalk.from_url(queue_url)      # ValueError now, not at 1st report

    def report(self, container_id: str, content_id: str,
               chunk_url: str, irreparable: bool = False) -> bool:
        """Whether the task was queued (a failure is logged)."""
        event = broken_chunk_event(self.namespace, container_id, content_id,
                                   chunk_url, irreparable=irreparable)
        body = json.dumps(event, separators=(",", ":")).encode("utf-8")
        for attempt in (1, 2):   # once more on a fresh connection
            try:
                if self._client is None:
                    self._client = Beanstalk.from_url(self.queue_url,
                                                      timeout=SEND_TIMEOUT)
                    self._client.use(self.tube)
                self._client.put(body)
                return True
            except (OSError, BeanstalkError) as err:
                self.close()
                if attempt == 2:
                    self.logger.error("chunk %s not reported for rebuild to "
                                      "%s (tube %s): %s", chunk_url,
                                      self.queue_url, self.tube, err)
        return False

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
