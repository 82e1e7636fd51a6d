"""evloop.aio's first level (evloop/aio/base.py): callbacks, timers, tasks, running,
closing, the exception path, debug mode's checks, instruments.

Each test holds the loop to asyncio's documented behaviour (the event loop
reference, and CPython's asyncio/base_events.py where the documentation is
silent): the RuntimeErrors of a loop used wrongly, asyncio's order on the first
turn, the exception handler's paths."""

import asyncio
import contextvars
import gc
import socket
import threading
import warnings

import pytest

import evloop.aio
from evloop.aio import EventLoop
from evloop.loop.instruments import Instrument

pytestmark = pytest.mark.timeout(30)


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


@pytest.mark.parametrize("new_loop", [EventLoop, asyncio.SelectorEventLoop])
def test_a_stop_from_a_callback_queued_before_the_loop_runs_is_not_slept_past(new_loop):
    # The pass before the first wait runs loop.stop(); nothing else is ready, and
    # nothing will be, so a turn that waited would wait for good (the timeout fails it).
    loop = new_loop()
    try:
        ran = []
        loop.call_soon(ran.append, "queued")
        loop.call_soon(loop.stop)
        loop.run_forever()
        assert ran == ["queued"]
    finally:
        loop.close()


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


def test_warnings_stay_quiet_for_a_well_closed_loop():
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        loop = EventLoop()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()
        del loop
        gc.collect()


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


def test_callbacks_run_in_their_context_and_timers_cancel():
    loop = evloop.aio.new_event_loop()
    var = contextvars.ContextVar("var", default="outside")
    seen = []
    try:
        context = contextvars.copy_context()
        context.run(var.set, "inside")
        loop.call_soon(lambda: seen.append(var.get()), context=context)
        dropped = loop.call_later(0.01, seen.append, "cancelled")
        dropped.cancel()
        loop.call_later(0.02, seen.append, "timer")
        loop.call_later(0.03, loop.stop)
        loop.run_forever()
        assert seen == ["inside", "timer"]
        assert dropped.cancelled()
    finally:
        loop.close()
    assert loop.is_closed()


@pytest.mark.parametrize("new_loop", [evloop.aio.new_event_loop, asyncio.SelectorEventLoop])
def test_callbacks_queued_before_the_loop_runs_go_ahead_of_its_first_poll(new_loop):
    # asyncio's order, which programs rely on: a task started before run_until_complete
    # takes its first step before a datagram already waiting is handed to a protocol.
    loop = new_loop()
    a, b = socket.socketpair()
    a.setblocking(False)
    order = []
    try:
        loop.add_reader(a, lambda: order.append(("reader", a.recv(10))))
        b.send(b"x")  # readable before the loop first polls
        loop.call_soon(order.append, "queued")
        loop.call_soon(loop.stop)
        loop.run_forever()
        assert order == ["queued", ("reader", b"x")]
    finally:
        a.close(), b.close(), loop.close()


def test_a_raising_callback_reaches_the_exception_handler_and_the_loop_goes_on():
    loop = evloop.aio.new_event_loop()
    reports = []
    loop.set_exception_handler(lambda lp, context: reports.append((lp, context)))
    try:
        loop.call_soon(lambda: 1 / 0)
        loop.run_until_complete(asyncio.sleep(0.01))
        assert len(reports) == 1
        reported_loop, context = reports[0]
        assert reported_loop is loop
        assert isinstance(context["exception"], ZeroDivisionError)
        assert context["message"].startswith("Exception in callback")
    finally:
        loop.close()


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


# -- instruments and statistics -----------------------------------------------------------------

class TurnCounter(Instrument):
    def __init__(self):
        self.turns = 0
        self.callbacks = []

    def after_turn(self, seconds):
        self.turns += 1

    def after_callback(self, handle, seconds):
        self.callbacks.append(handle)


def test_an_instrument_sees_the_loops_turns_and_callbacks_until_it_is_removed(loop):
    counter = TurnCounter()
    loop.add_instrument(counter)
    handle = loop.call_soon(int)
    loop.run_until_complete(asyncio.sleep(0))
    turns = counter.turns
    assert turns >= 1 and handle in counter.callbacks
    loop.remove_instrument(counter)
    loop.run_until_complete(asyncio.sleep(0))
    assert counter.turns == turns
    with pytest.raises(KeyError):
        loop.remove_instrument(counter)


def test_statistics_count_what_the_loop_holds(loop):
    a, b = socket.socketpair()
    try:
        before = loop.statistics()
        timer = loop.call_later(60, print)
        loop.add_reader(a, print)
        loop.add_writer(a, print)
        loop.call_soon(print)
        held = loop.statistics()
        timer.cancel()
        loop.remove_reader(a)
        loop.remove_writer(a)
        after = loop.statistics()
    finally:
        a.close(), b.close()
    assert (held.timers, held.readers, held.writers, held.ready) == (
        before.timers + 1, before.readers + 1, before.writers + 1, before.ready + 1)
    assert held.descriptors == before.descriptors + 1
    assert (after.timers, after.readers, after.writers, after.descriptors) == (
        before.timers, before.readers, before.writers, before.descriptors)


def first_turn_order(new_loop):
    """What runs first: the first step of a task the program's first step made, or a
    timer that first step set, already due?"""
    order = []

    async def main():
        loop = asyncio.get_running_loop()

        async def child():
            order.append("the child's first step")

        asyncio.ensure_future(child())
        loop.call_at(loop.time(), order.append, "the timer")
        await asyncio.sleep(0.01)

    loop = new_loop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    return order


def test_a_task_made_in_the_first_step_runs_before_a_timer_that_step_set():
    """asyncio's order (CPython's test_waitfor relies on it: a wait_for whose timeout
    fired before the task it waits for had started cancelled it unstarted)."""
    on_asyncio = first_turn_order(asyncio.SelectorEventLoop)
    assert on_asyncio == ["the child's first step", "the timer"]
    assert first_turn_order(evloop.aio.new_event_loop) == on_asyncio


def test_call_later_and_call_at_refuse_none_in_3_11_s_words(loop):
    with pytest.raises(TypeError, match="^delay must not be None$"):
        loop.call_later(None, int)
    with pytest.raises(TypeError, match="^when cannot be None$"):
        loop.call_at(None, int)


def test_a_timer_due_at_once_waits_for_the_next_turn_as_on_asyncio_s_loop():
    def story(loop):
        log = []

        def callback():
            loop.call_at(0, log.append, "timer")
            loop.call_soon(log.append, "soon")

        async def main():
            loop.call_soon(callback)
            for _ in range(5):
                await asyncio.sleep(0)
        try:
            loop.run_until_complete(main())
        finally:
            loop.close()
        return log
    assert story(EventLoop()) == story(asyncio.SelectorEventLoop()) == ["soon", "timer"]
