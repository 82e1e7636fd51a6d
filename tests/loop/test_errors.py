"""evloop.loop.errors: one error path.  A callback that raises is reported once, through
the loop's exception handler (by default: logged, with its traceback), and the loop
goes on; only KeyboardInterrupt and SystemExit leave run()."""

import functools
import logging
import socket

import pytest

from evloop.loop.base import BaseLoop
from evloop.loop.errors import callback_name
from evloop.loop.errors import log_exception


def raiser(message):
    def callback(*args):
        raise ValueError(message)
    return callback


def test_a_raising_timer_is_logged_once_and_the_loop_goes_on(selector, caplog):
    loop = BaseLoop(selector)
    fired = []
    loop.call_later(0.01, raiser("timer"))
    loop.call_soon(raiser("soon"))
    loop.call_later(0.03, lambda: (fired.append("after"), loop.stop()))
    with caplog.at_level(logging.ERROR, logger="evloop"):
        loop.run()  # the rule: a callback that raises does not end run()
    assert fired == ["after"]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.exc_info[1].args[0] for r in errors] == ["soon", "timer"]
    assert all("raised" in r.getMessage() for r in errors)
    loop.close()


def test_a_raising_reader_or_writer_is_reported_and_others_still_run(selector):
    loop = BaseLoop(selector)
    reports = []
    loop.set_exception_handler(lambda lp, context: reports.append(context))
    (a, b), (c, d) = socket.socketpair(), socket.socketpair()
    seen = []
    loop.add_reader(a, raiser("reader"))
    loop.add_writer(a, raiser("writer"))
    loop.add_reader(c, lambda: seen.append(c.recv(10)))
    b.send(b"x")
    d.send(b"y")
    loop.run_once()
    assert seen == [b"y"]
    assert sorted(str(r["exception"]) for r in reports) == ["reader", "writer"]
    assert {r["message"].split(" raised")[0].split(" of ")[0] for r in reports} == {"the reader", "the writer"}
    assert loop.get_exception_handler() is not None
    loop.set_exception_handler(None)
    assert loop.get_exception_handler() is None
    for sock in (a, b, c, d):
        loop.remove_reader(sock)
        loop.remove_writer(sock)
        sock.close()
    loop.close()


def test_a_broken_exception_handler_falls_back_to_logging(caplog):
    loop = BaseLoop()
    loop.set_exception_handler(raiser("handler"))
    loop.call_soon(raiser("callback"))
    with caplog.at_level(logging.ERROR, logger="evloop"):
        loop.run_once()
    messages = [r.getMessage() for r in caplog.records]
    assert any("exception handler raised" in m for m in messages)
    assert any("the callback" in m for m in messages)
    loop.close()


def test_keyboard_interrupt_still_leaves_run():
    loop = BaseLoop()

    def interrupt():
        raise KeyboardInterrupt

    loop.call_soon(interrupt)
    with pytest.raises(KeyboardInterrupt):
        loop.run()
    loop.close()


def test_the_report_names_the_callback_and_carries_it(selector):
    loop = BaseLoop(selector)
    reports = []
    loop.set_exception_handler(lambda lp, context: reports.append((lp, context)))
    broken = raiser("named")
    loop.call_soon(broken)
    loop.run_once()
    (reported_loop, context), = reports
    assert reported_loop is loop and context["callback"] is broken
    assert context["message"] == "the callback raiser.<locals>.callback raised"
    loop.close()


def test_log_exception_logs_the_message_with_the_traceback_once(caplog):
    try:
        raise OSError("disk gone")
    except OSError as exc:
        error = exc
    with caplog.at_level(logging.ERROR, logger="evloop"):
        log_exception({"message": "peer:1: the write failed", "exception": error})
        log_exception({})  # no message, no exception: still one line
    first, second = caplog.records
    assert first.getMessage() == "peer:1: the write failed" and first.exc_info[1] is error
    assert "disk gone" in caplog.text and "Traceback" in caplog.text
    assert second.getMessage() == "a loop callback raised" and not second.exc_info


def test_callback_name_is_the_qualified_name_or_the_repr():
    class Owner:
        def method(self):
            pass

    assert callback_name(Owner().method).endswith("Owner.method")
    assert callback_name(print) == "print"
    partial = functools.partial(print, "x")
    assert callback_name(partial) == repr(partial)  # a partial has no __qualname__
