"""The default executor (evloop/aio/executor.py, and run_in_executor in
evloop/aio/descriptors.py): made on first use, shut down within a timeout."""

import asyncio
import concurrent.futures
import sys
import threading
import warnings

import pytest

from evloop.aio import EventLoop


pytestmark = pytest.mark.timeout(30)


def stuck_thread_shutdown(loop):
    """shutdown_default_executor(timeout=0.01) while a thread is busy for 0.5 s:
    (whether it warned, whether it returned before the thread was done)."""
    stuck = threading.Event()
    started = threading.Event()

    def blocked():
        started.set()
        stuck.wait(20)

    async def main():
        future = loop.run_in_executor(None, blocked)
        await loop.run_in_executor(None, started.wait)
        release = threading.Timer(0.5, stuck.set)
        release.start()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            await loop.shutdown_default_executor(timeout=0.01)
        early = not stuck.is_set()
        stuck.set()
        release.join()
        await future
        with pytest.raises(RuntimeError, match="Executor shutdown has been called"):
            loop.run_in_executor(None, print)
        return [str(w.message) for w in caught if w.category is RuntimeWarning], early
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


@pytest.mark.skipif(sys.version_info < (3, 12), reason="shutdown_default_executor takes a "
                    "timeout from Python 3.12")
def test_shutdown_default_executor_s_timeout_is_the_running_python_s():
    warned, early = stuck_thread_shutdown(EventLoop())
    assert (warned, early) == stuck_thread_shutdown(asyncio.SelectorEventLoop())
    if sys.version_info >= (3, 13):  # a bound on the wait: it warns and lets the pool go
        assert warned == ["The executor did not finishing joining its threads within "
                          "0.01 seconds."] and early
    else:  # 3.12: the timeout bounds only the joining thread, once the pool is done
        assert warned == [] and not early


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
    if sys.version_info >= (3, 11):
        with pytest.raises(TypeError, match="^executor must be ThreadPoolExecutor instance$"):
            loop.set_default_executor(object())
    else:
        with pytest.warns(DeprecationWarning, match="not an instance of ThreadPoolExecutor"):
            loop.set_default_executor(concurrent.futures.ProcessPoolExecutor(1))
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="mine") as executor:
        loop.set_default_executor(executor)
        name = loop.run_until_complete(loop.run_in_executor(
            None, lambda: threading.current_thread().name))
    assert name.startswith("mine")


def test_the_default_executor_s_threads_are_named_as_asyncio_s(loop):
    name = loop.run_until_complete(loop.run_in_executor(
        None, lambda: threading.current_thread().name))
    assert name == "asyncio_0"
