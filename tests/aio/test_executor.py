"""The default executor (evloop/aio/executor.py, and run_in_executor in
evloop/aio/descriptors.py): made on first use, shut down within a timeout."""

import concurrent.futures
import threading

import pytest


pytestmark = pytest.mark.timeout(30)


def test_shutdown_default_executor_with_a_stuck_thread_warns_after_its_timeout(loop):
    stuck = threading.Event()
    started = threading.Event()

    def blocked():
        started.set()
        stuck.wait(20)

    async def main():
        future = loop.run_in_executor(None, blocked)
        await loop.run_in_executor(None, started.wait)
        with pytest.warns(RuntimeWarning, match="did not finish joining its threads within"):
            await loop.shutdown_default_executor(timeout=0.01)
        stuck.set()
        await future
        with pytest.raises(RuntimeError, match="Executor shutdown has been called"):
            loop.run_in_executor(None, print)
    loop.run_until_complete(main())


def test_shutdown_default_executor_joins_its_threads(loop):
    async def main():
        assert await loop.run_in_executor(None, sum, [1, 2]) == 3
        executor = loop._default_executor
        await loop.shutdown_default_executor()
        await loop.shutdown_default_executor()  # none left: at once
        return executor
    executor = loop.run_until_complete(main())
    with pytest.raises(RuntimeError, match="after shutdown"):
        executor.submit(print)


def test_set_default_executor_takes_only_a_thread_pool(loop):
    with pytest.raises(TypeError, match="ThreadPoolExecutor"):
        loop.set_default_executor(object())
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="mine") as executor:
        loop.set_default_executor(executor)
        name = loop.run_until_complete(loop.run_in_executor(
            None, lambda: threading.current_thread().name))
    assert name.startswith("mine")
