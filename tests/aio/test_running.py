"""evloop.aio's running, errors, debug, executor and signals (running.py, core.py).

Each test holds the loop to asyncio's documented behaviour (the event loop
reference, and CPython's asyncio/base_events.py and unix_events.py where
the documentation is silent): the RuntimeErrors of a loop used wrongly,
the exception handler's paths and words, debug mode's slow-callback log,
async generators and the default executor at shutdown."""

import asyncio
import concurrent.futures
import gc
import logging
import os
import signal
import threading
import warnings

import pytest

from evloop.aio import EventLoop

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def loop():
    loop = EventLoop()
    yield loop
    loop.close()


# -- running and closing ----------------------------------------------------------------------

def test_a_closed_loop_refuses_to_run_and_to_schedule(loop):
    loop.close()
    loop.close()  # twice is once
    assert loop.is_closed()
    coro = asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.run_until_complete(coro)
    coro.close()
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.run_forever()
    for schedule in (lambda: loop.call_soon(print), lambda: loop.call_later(1, print),
                     lambda: loop.call_soon_threadsafe(print),
                     lambda: loop.run_in_executor(None, print)):
        with pytest.raises(RuntimeError, match="Event loop is closed"):
            schedule()
    assert loop.remove_reader(0) is False and loop.remove_writer(0) is False


def test_run_until_complete_and_close_while_running_raise(loop):
    errors = []

    async def inside():
        coro = asyncio.sleep(0)
        for call in (lambda: loop.run_until_complete(coro), loop.run_forever, loop.close):
            try:
                call()
            except RuntimeError as exc:
                errors.append(str(exc))
        coro.close()
        assert loop.is_running()

    loop.run_until_complete(inside())
    assert errors == ["This event loop is already running", "This event loop is already running",
                      "Cannot close a running event loop"]
    assert not loop.is_running()


def test_run_forever_refuses_while_another_loop_runs_in_this_thread(loop):
    other = EventLoop()
    seen = []

    async def inside():
        try:
            other.run_forever()
        except RuntimeError as exc:
            seen.append(str(exc))
    try:
        loop.run_until_complete(inside())
    finally:
        other.close()
    assert seen == ["Cannot run the event loop while another loop is running"]


def test_stop_before_run_forever_runs_one_turn(loop):
    ran = []
    loop.call_soon(lambda: (ran.append("first"), loop.call_soon(ran.append, "next turn")))
    loop.stop()
    loop.run_forever()
    assert ran == ["first"]  # what was queued before stop() ran; what it queued waits
    loop.stop()
    loop.run_forever()
    assert ran == ["first", "next turn"]


def test_a_loop_stopped_before_its_future_is_done_says_so(loop):
    future = loop.create_future()
    loop.call_soon(loop.stop)
    with pytest.raises(RuntimeError, match="Event loop stopped before Future completed."):
        loop.run_until_complete(future)
    future.cancel()


def test_system_exit_from_the_main_coroutine_propagates_and_the_loop_goes_on(loop):
    async def leaves():
        raise SystemExit(4)
    with pytest.raises(SystemExit) as info:
        loop.run_until_complete(leaves())
    assert info.value.code == 4

    async def fine():
        return "still runs"
    assert loop.run_until_complete(fine()) == "still runs"


def test_an_unclosed_loop_warns():
    loop = EventLoop()
    with pytest.warns(ResourceWarning, match="unclosed event loop"):
        loop.__del__()
    loop.close()


# -- callbacks, tasks and debug checks ----------------------------------------------------------

def test_call_later_and_call_at_refuse_none(loop):
    with pytest.raises(TypeError):
        loop.call_later(None, print)
    with pytest.raises(TypeError):
        loop.call_at(None, print)


def test_set_task_factory_is_used_by_create_task(loop):
    made = []

    def factory(loop_, coro, **kwargs):
        task = asyncio.Task(coro, loop=loop_, **kwargs)
        made.append(task)
        return task

    async def answer():
        return 42
    with pytest.raises(TypeError, match="task factory"):
        loop.set_task_factory(1)
    loop.set_task_factory(factory)
    assert loop.get_task_factory() is factory
    task = loop.create_task(answer(), name="named")
    assert made == [task] and task.get_name() == "named"
    assert loop.run_until_complete(task) == 42
    assert loop.run_until_complete(answer()) == 42 and len(made) == 2  # ensure_future too
    loop.set_task_factory(None)
    assert loop.get_task_factory() is None
    loop.run_until_complete(answer())
    assert len(made) == 2


def test_debug_mode_checks_callbacks_and_threads(loop):
    loop.set_debug(True)
    assert loop.get_debug()

    async def coroutine_function():
        pass
    for method in (loop.call_soon, loop.call_soon_threadsafe,
                   lambda cb: loop.call_later(1, cb), lambda cb: loop.run_in_executor(None, cb)):
        with pytest.raises(TypeError, match="coroutines cannot be used"):
            method(coroutine_function)
    with pytest.raises(TypeError, match="a callable object was expected"):
        loop.call_soon(42)
    errors = []

    async def main():
        def from_thread():
            try:
                loop.call_soon(print)
            except RuntimeError as exc:
                errors.append(str(exc))
        thread = threading.Thread(target=from_thread)
        thread.start()
        await loop.run_in_executor(None, thread.join)
    loop.run_until_complete(main())
    assert errors == ["Non-thread-safe operation invoked on an event loop other than the "
                      "current one"]


def test_debug_mode_logs_a_slow_callback(loop, caplog):
    loop.set_debug(True)
    loop.slow_callback_duration = 0.001
    release = threading.Event()

    def slow():
        release.wait(0.05)  # longer than 1 ms: the timing is logged

    loop.call_soon(slow)
    loop.call_soon(lambda: None).cancel()  # a cancelled handle is skipped, not run
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        loop.call_soon(loop.stop)
        loop.run_forever()
    slow_records = [r for r in caplog.records if r.getMessage().startswith("Executing <Handle")]
    assert len(slow_records) == 1
    assert "slow" in slow_records[0].getMessage() and " took " in slow_records[0].getMessage()
    loop.set_debug(False)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        loop.call_soon(slow)
        loop.call_soon(loop.stop)
        loop.run_forever()
    assert not [r for r in caplog.records if "Executing" in r.getMessage()]


def test_in_debug_mode_a_raising_callback_is_reported_with_where_it_was_made(loop, caplog):
    loop.set_debug(True)

    def fails():
        raise ZeroDivisionError("boom")
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        loop.call_soon(fails)
        loop.call_soon(loop.stop)
        loop.run_forever()
    (record,) = [r for r in caplog.records if "Exception in callback" in r.getMessage()]
    assert "Object created at (most recent call last):" in record.getMessage()
    assert record.exc_info[0] is ZeroDivisionError


# -- the exception handler ----------------------------------------------------------------------

def test_default_exception_handler_logs_the_message_the_context_and_the_traceback(loop, caplog):
    try:
        raise ValueError("the error")
    except ValueError as exc:
        error = exc
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        loop.call_exception_handler({"message": "Something failed", "exception": error,
                                     "future": "the future", "extra_key": 12})
        loop.call_exception_handler({"handle": "a handle"})
    first, second = caplog.records
    assert first.getMessage().splitlines() == ["Something failed", "extra_key: 12",
                                               "future: 'the future'"]
    assert first.exc_info[1] is error
    assert second.getMessage().splitlines() == ["Unhandled exception in event loop",
                                                "handle: 'a handle'"]
    assert not second.exc_info


class BadRepr:
    def __repr__(self):
        raise RuntimeError("no repr")


def test_a_broken_default_handler_is_logged(loop, caplog):
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        loop.call_exception_handler({"message": "m", "bad": BadRepr()})
    assert [r.getMessage() for r in caplog.records] == ["Exception in default exception handler"]


def test_an_exception_handler_that_raises_is_reported(loop, caplog):
    def handler(loop_, context):
        raise KeyError("in the handler")

    with pytest.raises(TypeError, match="A callable object or None"):
        loop.set_exception_handler("not callable")
    loop.set_exception_handler(handler)
    assert loop.get_exception_handler() is handler
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        loop.call_exception_handler({"message": "original"})
        loop.call_exception_handler({"message": "original", "bad": BadRepr()})
    first, second = caplog.records
    assert first.getMessage().startswith("Unhandled error in exception handler")
    assert "context: {'message': 'original'}" in first.getMessage()
    assert isinstance(first.exc_info[1], KeyError)
    assert second.getMessage() == ("Exception in default exception handler while handling an "
                                   "unexpected error in custom exception handler")
    loop.set_exception_handler(None)
    assert loop.get_exception_handler() is None


def test_the_exception_handler_sees_a_raising_callback_and_the_loop_goes_on(loop):
    contexts = []
    loop.set_exception_handler(lambda _, context: contexts.append(context))

    def fails():
        raise ZeroDivisionError
    ran = []
    loop.call_soon(fails)
    loop.call_soon(ran.append, "after")
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert ran == ["after"]
    assert contexts[0]["message"].startswith("Exception in callback")
    assert isinstance(contexts[0]["exception"], ZeroDivisionError)


def test_keyboard_interrupt_from_a_handler_propagates(loop):
    def handler(loop_, context):
        raise KeyboardInterrupt
    loop.set_exception_handler(handler)
    with pytest.raises(KeyboardInterrupt):
        loop.call_exception_handler({"message": "m"})


# -- async generators ---------------------------------------------------------------------------

def test_shutdown_asyncgens_finalizes_suspended_generators(loop):
    closed = []

    async def counting():
        try:
            yield 1
            yield 2
        finally:
            closed.append("counting")

    async def refuses():
        try:
            yield 1
        finally:
            raise ValueError("cannot close")

    contexts = []
    loop.set_exception_handler(lambda _, context: contexts.append(context))

    async def main():
        kept = [counting(), refuses()]
        for agen in kept:
            await agen.__anext__()
        return kept
    kept = loop.run_until_complete(main())
    assert closed == []
    loop.run_until_complete(loop.shutdown_asyncgens())
    assert closed == ["counting"]
    (context,) = contexts
    assert context["message"].startswith("an error occurred during closing of asynchronous "
                                         "generator")
    assert isinstance(context["exception"], ValueError) and context["asyncgen"] is kept[1]

    async def late():
        gen = counting()
        await gen.__anext__()
        await gen.aclose()
    with pytest.warns(ResourceWarning, match="was scheduled after loop.shutdown_asyncgens"):
        loop.run_until_complete(late())
    loop.run_until_complete(loop.shutdown_asyncgens())  # none left: returns at once


def test_a_generator_collected_while_running_is_closed_on_the_loop(loop):
    closed = asyncio.Event()

    async def gen():
        try:
            yield 1
            yield 2
        finally:
            closed.set()

    async def main():
        agen = gen()
        await agen.__anext__()
        del agen
        gc.collect()  # the finalizer hook schedules aclose() on the loop
        await asyncio.wait_for(closed.wait(), 10)
        return closed.is_set()
    assert loop.run_until_complete(main())


# -- the default executor -----------------------------------------------------------------------

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


# -- signals ------------------------------------------------------------------------------------

def test_signal_handler_argument_rules(loop):
    assert loop.remove_signal_handler(signal.SIGUSR2) is False  # never added
    with pytest.raises(ValueError, match="invalid signal number"):
        loop.add_signal_handler(0x10000, print)
    with pytest.raises(ValueError, match="invalid signal number"):
        loop.remove_signal_handler(-1)
    with pytest.raises(TypeError, match="sig must be an int"):
        loop.add_signal_handler("SIGINT", print)

    async def coroutine_function():
        pass
    with pytest.raises(TypeError, match="coroutines cannot be used"):
        loop.add_signal_handler(signal.SIGUSR1, coroutine_function)
    with pytest.raises(RuntimeError, match="cannot be caught"):
        loop.add_signal_handler(signal.SIGKILL, print)


def test_a_signal_runs_its_handler_and_close_removes_it():
    loop = EventLoop()
    before = signal.getsignal(signal.SIGUSR1)
    try:
        heard = loop.create_future()
        loop.add_signal_handler(signal.SIGUSR1, lambda *a: heard.set_result(a), "arg")
        os.kill(os.getpid(), signal.SIGUSR1)
        assert loop.run_until_complete(asyncio.wait_for(heard, 10)) == ("arg",)
    finally:
        loop.close()  # removes the handler, as asyncio's unix loop does
    assert signal.getsignal(signal.SIGUSR1) == before


def test_add_signal_handler_from_another_thread_is_a_runtime_error(loop):
    errors = []

    def other():
        try:
            loop.add_signal_handler(signal.SIGUSR1, print)
        except RuntimeError as exc:
            errors.append(exc)
    thread = threading.Thread(target=other)
    thread.start()
    thread.join(10)
    assert len(errors) == 1


def test_warnings_stay_quiet_for_a_well_closed_loop():
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        loop = EventLoop()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()
        del loop
        gc.collect()


def test_install_makes_asyncio_s_new_event_loop_an_evloop_one():
    import evloop.aio
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        before = asyncio.get_event_loop_policy()
        try:
            evloop.aio.install()
            loop = asyncio.new_event_loop()
            try:
                assert type(loop) is EventLoop
            finally:
                loop.close()
        finally:
            asyncio.set_event_loop_policy(before)
