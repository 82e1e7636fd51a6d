"""Handlers tested without sockets: fake contexts and a clock moved by hand.

A handler test needs no server, no port and no waiting::

    from evloop.testing import FakeContext

    def test_greet_answers_each_name():
        context = FakeContext()
        context.open(Greet())
        assert context.feed(b"ada\\n") == b"hello ada\\n"
        context.clock.advance(30.0)          # what a handler's timers do in 30 s
        assert context.closed                # it said goodbye to an idle client

* `FakeContext` (evloop.testing.contexts): an evloop.Context that records
  what the handler sent, pushed, closed, paused, timed and connected, and
  plays the server's part in the calls (`open`, `feed`, `feed_eof`, `lose`).
* `FakeServerContext` (evloop.testing.server_context): the server-wide
  context of a handler class, for its `server_started` and
  `server_stopping`; `client()` makes a connected handler as the server
  would, options and all.
* `ManualClock` (evloop.testing.clock): `time()` stands still until
  `advance(seconds)`, which runs what falls due, in order.

These are the models: Twisted's `proto_helpers.StringTransport` and
`task.Clock`, and h11's tests, which drive the protocol with bytes and
check the events.  evloop's own handler tests use them (tests/handlers).
"""

from __future__ import annotations

from evloop.testing.clock import ManualClock
from evloop.testing.contexts import Dialled
from evloop.testing.contexts import FakeContext
from evloop.testing.server_context import FakeServerContext

__all__ = ["Dialled", "FakeContext", "FakeServerContext", "ManualClock"]
