"""evloop.aio's error reports (evloop/aio/errors.py): the default exception
handler's words, and a handler that fails."""

import asyncio
import contextvars
import gc
import logging
import sys

import pytest


pytestmark = pytest.mark.timeout(30)


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


request = contextvars.ContextVar("request", default="none")


def test_a_program_s_handler_runs_in_the_context_of_the_failed_task_from_3_12(loop):
    seen = []
    loop.set_exception_handler(lambda loop_, context: seen.append(request.get()))

    async def fails():
        request.set("the request")
        raise ValueError("never retrieved")

    async def main():
        task = asyncio.ensure_future(fails())
        await asyncio.sleep(0.01)
        return task
    task = loop.run_until_complete(main())
    del task  # "Task exception was never retrieved", reported as it is collected
    gc.collect()
    loop.run_until_complete(asyncio.sleep(0))
    # asyncio 3.12+ runs the handler in the task's context; 3.10 and 3.11 in the caller's.
    assert seen == (["the request"] if sys.version_info >= (3, 12) else ["none"])


def test_in_debug_mode_the_default_handler_says_where_the_running_handle_was_made(loop, caplog):
    loop.set_debug(True)

    def reports():
        loop.call_exception_handler({"message": "reported from a callback"})

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        loop.call_soon(reports)
        loop.run_until_complete(asyncio.sleep(0))
    (record,) = caplog.records
    assert "handle_traceback: Handle created at (most recent call last):" in record.getMessage()
    assert "test_in_debug_mode_the_default_handler" in record.getMessage()
