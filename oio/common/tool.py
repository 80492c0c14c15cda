"""`Tool` and `ToolWorker`, the base of 7.2's item tools (rebuilders,
movers...), for tools written against it: the tool fetches items
(`_fetch_items`), `concurrency` workers made by `create_worker` process
them (`_process_item`), and `run()` yields `(item, info, error)` as they
are done, with 7.2's counters and progress reports.

Dispatch is local, on threads. 7.2's distributed dispatch (items sent to
the workers of every host through beanstalkd) is not here: our
distributed rebuilds go through xcute or `oio-blob-rebuilder
--beanstalkd` (docs/healing.md)."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator

from oio.common.easy_value import float_value, int_value
from oio.common.exceptions import ConfigurationException, RetryLater
from oio.common.pacing import Pacer

__all__ = ["Tool", "ToolWorker"]

_END = None   # tells a worker, then the reader, that nothing more comes


class Tool:
    DEFAULT_BEANSTALKD_WORKER_TUBE = "oio-process"
    DEFAULT_REPORT_INTERVAL = 3600
    DEFAULT_RETRY_DELAY = 3600
    DEFAULT_ITEM_PER_SECOND = 30
    DEFAULT_CONCURRENCY = 1

    def __init__(self, conf: dict, beanstalkd_addr: str | None = None,
                 logger: logging.Logger | None = None):
        if beanstalkd_addr:
            raise ConfigurationException(
                "this tool takes its items locally: items from beanstalkd "
                "go through oio-blob-rebuilder --beanstalkd or xcute")
        self.conf = conf
        self.logger = logger or logging.getLogger(type(self).__name__)
        self.namespace = conf["namespace"]
        self.success = True
        self.running = True
        self.items_processed = self.total_items_processed = 0
        self.errors = self.total_errors = 0
        self.total_expected_items: int | None = None
        self.start_time = self.last_report = 0.0
        self.report_interval = float_value(conf.get("report_interval"),
                                           self.DEFAULT_REPORT_INTERVAL)
        self.concurrency = max(1, int_value(conf.get("concurrency"),
                                            self.DEFAULT_CONCURRENCY))
        self.items_per_second = float_value(conf.get("items_per_second"),
                                            self.DEFAULT_ITEM_PER_SECOND)
        self.dispatcher = None

    # To write in a tool -----------------------------------------------------
    def _fetch_items(self) -> Iterator:
        raise NotImplementedError()

    def create_worker(self, queue_workers: queue.Queue,
                      queue_reply: queue.Queue) -> ToolWorker:
        raise NotImplementedError()

    def _get_report(self, status: str, end_time: float,
                    counters: tuple[int, int, int, int]) -> str:
        raise NotImplementedError()

    def _load_total_expected_items(self) -> None:
        """Set `total_expected_items` if the tool can know it."""

    @staticmethod
    def string_from_item(item) -> str:
        return str(item)

    # Running -----------------------------------------------------------------
    def exit_gracefully(self, *_args) -> None:
        """Stop fetching items (those started finish)."""
        self.logger.info("Stop sending and wait for all items to finish")
        self.running = False

    def update_counters(self, task_res: tuple) -> None:
        self.items_processed += 1
        if task_res[2] is not None:
            self.errors += 1

    def _update_total_counters(self) -> tuple[int, int, int, int]:
        done, errors = self.items_processed, self.errors
        self.items_processed = self.errors = 0
        self.total_items_processed += done
        self.total_errors += errors
        return done, self.total_items_processed, errors, self.total_errors

    def log_report(self, status: str, force: bool = False) -> None:
        now = time.time()
        if force or now - self.last_report >= self.report_interval:
            self.logger.info(self._get_report(
                status, now, self._update_total_counters()))
            self.last_report = now

    def prepare_local_dispatcher(self) -> None:
        self.dispatcher = "local"

    def prepare_distributed_dispatcher(self) -> None:
        raise ConfigurationException(
            "distributed dispatch is not supported: use xcute jobs "
            "(openio-admin xcute) for distributed work")

    def _fill(self, queue_workers: queue.Queue) -> None:
        pacer = Pacer(self.items_per_second or 0)
        try:
            for item in self._fetch_items():
                if not self.running:
                    break
                if self.items_per_second:
                    pacer.wait()
                queue_workers.put(item)
        except Exception:  # noqa: BLE001 - the run fails, workers still end
            self.logger.exception("ERROR while fetching items")
            self.success = False
        finally:
            for _ in range(self.concurrency):
                queue_workers.put(_END)

    def run(self) -> Iterator[tuple]:
        """`(item, info, error)` of each item, as they are done."""
        if self.dispatcher is None:
            raise ValueError("No dispatcher")
        threading.Thread(target=self._load_total_expected_items,
                         daemon=True).start()
        queue_workers: queue.Queue = queue.Queue(self.concurrency * 2)
        queue_reply: queue.Queue = queue.Queue()
        workers = [self.create_worker(queue_workers, queue_reply)
                   for _ in range(self.concurrency)]
        threads = [threading.Thread(target=w.run, daemon=True)
                   for w in workers]
        threads.append(threading.Thread(target=self._fill,
                                        args=(queue_workers,), daemon=True))
        self.start_time = self.last_report = time.time()
        self.log_report("START", force=True)
        for thread in threads:
            thread.start()
        running = self.concurrency
        while running:
            task_res = queue_reply.get()
            if task_res is _END:
                running -= 1
                continue
            self.update_counters(task_res)
            yield task_res
            self.log_report("RUN")
        self.log_report("DONE", force=True)

    def is_success(self) -> bool:
        if not self.success:
            return False
        if self.total_items_processed == 0:
            self.logger.warning("No item to process")
        return self.total_errors == 0


class ToolWorker:
    """Processes the items of its tool's queue until the end mark."""

    def __init__(self, tool: Tool, queue_workers: queue.Queue,
                 queue_reply: queue.Queue):
        self.tool = tool
        self.conf = tool.conf
        self.logger = tool.logger
        self.queue_workers = queue_workers
        self.queue_reply = queue_reply

    def _process_item(self, item):
        """Do the work; what it returns is the item's `info`, what it
        raises its `error`."""
        raise NotImplementedError()

    def run(self) -> None:
        while True:
            item = self.queue_workers.get()
            if item is _END:
                self.queue_reply.put(_END)
                return
            info = error = None
            try:
                info = self._process_item(item)
            except RetryLater as exc:
                error = str(exc.args[0]) if exc.args else "retry later"
            except Exception as exc:  # noqa: BLE001 - the item's error
                error = str(exc) or type(exc).__name__
            self.queue_reply.put((item, info, error))
