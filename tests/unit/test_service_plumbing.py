"""The blocking thread pool and the buffered log handler of the services."""

import asyncio
import io
import logging
import re
import threading

import pytest

from oio.common.blocking_pool import BlockingPool
from oio.common.logbuffer import BufferedLogHandler


@pytest.fixture
def pool():
    pool = BlockingPool(max_workers=4, name="test-blocking")
    yield pool
    pool.shutdown()


def test_pool_returns_results_and_exceptions(pool):
    async def main():
        loop = asyncio.get_running_loop()
        assert await pool.submit(loop, pow, 2, 10) == 1024
        with pytest.raises(ZeroDivisionError):
            await pool.submit(loop, lambda: 1 / 0)
        # The work runs outside the event loop's thread.
        name = await pool.submit(loop, lambda: threading.current_thread().name)
        assert name.startswith("test-blocking-")

    asyncio.run(main())


def test_pool_runs_jobs_in_parallel_up_to_its_size(pool):
    barrier = threading.Barrier(4, timeout=10)

    async def main():
        loop = asyncio.get_running_loop()
        # Four jobs that each wait for the three others: they only finish
        # if four workers run at once.
        return await asyncio.gather(*(pool.submit(loop, barrier.wait)
                                      for _ in range(4)))

    assert sorted(asyncio.run(main())) == [0, 1, 2, 3]
    assert len(pool._threads) == 4


def test_pool_reuses_idle_workers(pool):
    async def main():
        loop = asyncio.get_running_loop()
        for _ in range(50):
            await pool.submit(loop, int, "1")

    asyncio.run(main())
    assert len(pool._threads) == 1


def test_pool_survives_a_cancelled_caller(pool):
    release = threading.Event()

    async def main():
        loop = asyncio.get_running_loop()
        future = pool.submit(loop, release.wait, 10)
        future.cancel()
        release.set()
        # The worker's late result must not break the next job.
        return await pool.submit(loop, int, "7")

    assert asyncio.run(main()) == 7


def test_log_handler_buffers_and_formats_like_logging():
    stream = io.StringIO()
    handler = BufferedLogHandler("oio-test", stream=stream)
    logger = logging.getLogger("test.logbuffer")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        logger.warning("first %s", "warning")   # flushed at once
        handler.line("access", "GET /x 200")
        logger.info("an info")
        assert stream.getvalue().count("\n") == 1
        handler.flush()
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    assert re.fullmatch(stamp + r" oio-test\[\d+\] WARNING test.logbuffer: "
                        r"first warning", lines[0])
    assert re.fullmatch(stamp + r" oio-test\[\d+\] INFO access: GET /x 200",
                        lines[1])
    assert lines[2].endswith("INFO test.logbuffer: an info")


def test_log_handler_flushes_when_full():
    stream = io.StringIO()
    handler = BufferedLogHandler("oio-test", stream=stream, capacity=3)
    for n in range(3):
        handler.line("access", f"line {n}")
    assert stream.getvalue().count("\n") == 3
    assert handler.lines == []
