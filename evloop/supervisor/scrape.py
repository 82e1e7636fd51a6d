"""One scrape for the whole server: the supervisor's metrics port.

With `--workers N --metrics-port P`, P is the supervisor's.  Each worker
serves its own page, as a single server does, on a listener of its slot
that the supervisor binds on 127.0.0.1 at a free port and keeps, so that a
replacement serves where its predecessor did.  A scrape of P asks every
slot at once (`gather`), waits at most FETCH_TIMEOUT for each, and answers
one page (evloop.metrics.merge): every worker's samples under its
`worker` label, then the supervisor's own figures (`Tally`): workers
started, replaced, killed and why, reloads done and refused, and the
workers in each state.  A worker that does not answer in time (stuck in
a handler, or starting) is left out, with `evloop_worker_up` 0.

`/healthz` and `/readyz` on P are the supervisor's: its loop answers the
first, and the second says `ready` while the workers serve and no stop has
begun (`starting`, `draining` otherwise).  The supervisor's loop never
waits for a worker: each fetch is a non-blocking socket on that loop.
"""

from __future__ import annotations

import collections
import functools
import socket
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

from evloop.loop.base import BaseLoop
from evloop.metrics.merge import merge
from evloop.metrics.prometheus import MetricsHandler
from evloop.metrics.prometheus import page_response
from evloop.server.listening import MetricsSlots
from evloop.server.metrics_endpoint import MetricsEndpoint

FETCH_TIMEOUT = 1.0  # a worker slower than this to answer is left out of the page
REQUEST = b"GET /metrics HTTP/1.0\r\n\r\n"
Pages = dict[int, "str | None"]


class Fetch:
    """One worker's page, on the supervisor's loop: connect, ask, read to EOF."""

    def __init__(self, loop: BaseLoop, address: Any, done: Callable[[str | None], None]) -> None:
        self.loop = loop
        self.done: Callable[[str | None], None] | None = done
        self.received = bytearray()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.timer = loop.call_later(FETCH_TIMEOUT, self.finish, None)
        try:
            self.sock.connect(address)
        except BlockingIOError:
            pass
        except OSError:
            loop.call_soon(self.finish, None)
            return
        loop.add_writer(self.sock, self.ask)

    def ask(self) -> None:
        self.loop.remove_writer(self.sock)
        try:
            self.sock.send(REQUEST)  # a few bytes to an empty socket: all of them
        except OSError:
            return self.finish(None)
        self.loop.add_reader(self.sock, self.read)

    def read(self) -> None:
        try:
            chunk = self.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            return self.finish(None)
        if chunk:
            self.received += chunk
            return
        head, _, body = bytes(self.received).partition(b"\r\n\r\n")
        ok = head.startswith(b"HTTP/1.1 200 ")
        self.finish(body.decode("utf-8", errors="replace") if ok else None)

    def finish(self, page: str | None) -> None:
        if self.done is None:
            return
        done, self.done = self.done, None
        self.timer.cancel()
        self.loop.remove_reader(self.sock)
        self.loop.remove_writer(self.sock)
        self.sock.close()
        done(page)


def gather(loop: BaseLoop, addresses: dict[int, Any], done: Callable[[Pages], None]) -> None:
    """Fetch every slot's page at once; `done(pages)` once each has answered or timed out."""
    pages: Pages = {}

    def one(index: int, page: str | None) -> None:
        pages[index] = page
        if len(pages) == len(addresses):
            done(pages)

    if not addresses:
        return done(pages)
    for index, address in addresses.items():
        Fetch(loop, address, functools.partial(one, index))


class Tally:
    """The supervisor's own counts, for its part of the page."""

    def __init__(self) -> None:
        self.started = 0
        self.replaced = 0
        self.killed: collections.Counter[str] = collections.Counter()
        self.reloads: collections.Counter[str] = collections.Counter(done=0, refused=0)

    def render(self, states: Iterable[str]) -> str:
        lines: list[str] = []

        def family(name: str, kind: str, help: str, samples: list[tuple[str, int]]) -> None:
            lines.extend([f"# HELP {name} {help}", f"# TYPE {name} {kind}"])
            lines.extend(f"{name}{labels} {value}" for labels, value in samples)

        now = collections.Counter(states)
        family("evloop_supervisor_workers", "gauge", "Workers now, by state.",
               [(f'{{state="{state}"}}', n) for state, n in sorted(now.items())])
        family("evloop_supervisor_workers_started_total", "counter", "Workers forked.",
               [("", self.started)])
        family("evloop_supervisor_workers_replaced_total", "counter",
               "Workers that ended while serving, and were replaced.", [("", self.replaced)])
        family("evloop_supervisor_workers_killed_total", "counter",
               "Workers killed, by reason: hung (--worker-timeout), not_ready "
               "(--worker-start-timeout), overdue (--graceful-timeout), refused (a reload's).",
               [(f'{{reason="{reason}"}}', n) for reason, n in sorted(self.killed.items())])
        family("evloop_supervisor_reloads_total", "counter", "Reloads, by result.",
               [(f'{{result="{result}"}}', n) for result, n in sorted(self.reloads.items())])
        return "\n".join(lines) + "\n"


class Scrapes:
    """The supervisor's metrics port on its loop: `collect` for each scrape, `tally`
    for the supervisor's counts, `close()` at its end.  Nothing without a listener."""

    def __init__(self, loop: BaseLoop, listener: socket.socket | None, slots: MetricsSlots,
                 tally: Tally, wanted: Callable[[], int], states: Callable[[], Iterable[str]],
                 readiness: Callable[[], str]) -> None:
        self.loop = loop
        self.slots = slots
        self.tally = tally
        self.wanted = wanted
        self.states = states
        self.endpoint: MetricsEndpoint | None = None
        if listener is not None:
            self.endpoint = MetricsEndpoint(loop, "", 0, lambda: "", readiness,
                                            lambda: ScrapeHandler(self.collect, readiness))
            self.endpoint.start(listener)

    def collect(self, deliver: Callable[[str], None]) -> None:
        addresses = {index: sock.getsockname() for index, sock in self.slots.socks.items()
                     if index < self.wanted()}  # a slot SIGTTOU gave up is not asked
        gather(self.loop, addresses, lambda pages: deliver(
            merge(pages) + self.tally.render(self.states())))

    def close(self) -> None:
        if self.endpoint is not None:
            self.endpoint.close()
            self.endpoint = None


class ScrapeHandler(MetricsHandler):
    """The supervisor's metrics port: /metrics gathered from every worker, then
    answered; /healthz and /readyz as any metrics endpoint answers them."""

    def __init__(self, collect: Callable[[Callable[[str], None]], None],
                 readiness: Callable[[], str]) -> None:
        super().__init__(lambda: "", readiness)
        self.collect = collect
        self.gone = False

    def metrics(self, head: bool) -> bytes | None:
        self.collect(functools.partial(self.deliver, head=head))
        return None  # answered once every worker has

    def deliver(self, page: str, head: bool) -> None:
        if not self.gone:
            self.context.push(page_response(page, head))
            self.context.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.gone = True
