"""evloop.handlers.context: offload_inline, what offload does without a pool, and the
contexts every runner hands a handler, each with every power the protocols name."""

import pytest

from evloop.handlers.context import Context
from evloop.handlers.context import ServerContext
from evloop.handlers.context import offload_inline
from evloop.loop.base import BaseLoop
from evloop.server.server_context import ServerWideContext
from evloop.server.udp import DatagramContext
from evloop.testing import FakeContext


def members(protocol):
    return {name for name in vars(protocol) if not name.startswith("_")}


def test_offload_inline_answers_with_then_or_error():
    assert offload_inline(int, ("42",), lambda n: n + 1, None) == 43
    assert offload_inline(int, ("x",), lambda n: n, lambda exc: type(exc).__name__) == "ValueError"


def test_without_an_error_callback_the_exception_is_the_callers():
    with pytest.raises(ValueError):
        offload_inline(int, ("x",), lambda n: n, None)


def test_an_error_callback_gets_exceptions_only():
    def leave():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        offload_inline(leave, (), lambda result: result, lambda exc: b"caught")


@pytest.mark.parametrize("context_class", [FakeContext, DatagramContext])
def test_every_context_has_every_power(context_class):
    """evloop.testing's fake and a datagram's context (a connection's:
    tests/connection/test_context.py)."""
    missing = {name for name in members(Context) if not hasattr(context_class, name)
               and name not in getattr(context_class, "__slots__", ())}
    if context_class is FakeContext:  # its powers are methods; only its data is per instance
        missing -= {"peer", "peer_subject", "server"} & set(vars(FakeContext()))
    assert not missing, missing


def test_the_server_wide_context_has_every_power():
    loop = BaseLoop()
    try:
        server = ServerWideContext(loop, "Echo", set(), lambda *args, **kwargs: None, None)
        assert members(ServerContext) <= set(dir(server)), members(ServerContext) - set(dir(server))
    finally:
        loop.close()
