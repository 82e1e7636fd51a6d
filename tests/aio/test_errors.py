"""evloop.aio's error reports (evloop/aio/errors.py): the default exception
handler's words, and a handler that fails."""

import logging

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
