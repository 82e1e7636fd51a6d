"""`--metrics-port`: the server's figures as Prometheus text, at GET /metrics.

Prometheus (and anything that reads its text format: Grafana Agent,
VictoriaMetrics, `curl`) pulls a page of lines like::

    # HELP evloop_connections_open Connections open now.
    # TYPE evloop_connections_open gauge
    evloop_connections_open 12

`render(stats)` writes that page from `Server.stats()` (evloop.metrics.stats),
in the text format, version 0.0.4: counters end in `_total`, a label value
is quoted and escaped, a histogram has cumulative `_bucket{le=...}` lines,
then `_sum` and `_count`.

A scrape is an ordinary evloop connection with a sans-IO handler,
`MetricsHandler`: it reads one HTTP/1.x request head (at most MAX_REQUEST
bytes), answers it, and closes, as an HTTP/1.0 server does.  Anything else
(a request that is not HTTP, too long, another path or method) gets its
HTTP error and the one log line of a protocol error.  The listener, its
address and its limits are the server's (evloop.server.metrics_endpoint).

Two more paths answer a load balancer or an orchestrator.  GET /healthz
says `ok`: the answer is written by the server's own loop, so getting one
at all proves that the loop turns, and it renders nothing.  GET /readyz
says whether the server takes new clients: 200 `ready`, or 503 with the
word `readiness()` gives instead (`starting`, `retiring`, `draining`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from evloop.handlers.base import Handler
from evloop.handlers.base import ProtocolError
from evloop.handlers.context import Reply
from evloop.metrics.stats import Stats

log = logging.getLogger("evloop")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MAX_REQUEST = 8192  # bytes of request line and headers
READY = "ready"  # the one word of readiness() that /readyz answers with 200


# -- the text format -------------------------------------------------------------

def render(stats: Stats) -> str:
    """The Prometheus text (format 0.0.4) of `stats`."""
    lines: list[str] = []

    def family(name: str, kind: str, help: str, samples: list[tuple[str, dict[str, str], Any]]
               ) -> None:
        lines.append(f"# HELP {name} {help}")
        lines.append(f"# TYPE {name} {kind}")
        for suffix, labels, value in samples:
            lines.append(f"{name}{suffix}{_labels(labels)} {_number(value)}")

    def one(name: str, kind: str, help: str, value: Any, **labels: str) -> None:
        family(name, kind, help, [("", labels, value)])

    out = stats.outbound
    streams = [(stats.transport, "in", stats.stream)]
    if stats.datagram is not None:
        streams.append(("udp", "in", stats.datagram))
    streams.append(("tcp", "out", out.traffic))
    one("evloop_info", "gauge", "The server: its handler and stream transport.", 1,
        handler=stats.handler, transport=stats.transport)
    family("evloop_connections_open", "gauge",
           "Connections open now: accepted (in), or opened by handlers (out).",
           [("", {"direction": "in"}, stats.connections_open),
            ("", {"direction": "out"}, out.open)])
    one("evloop_connections_accepted_total", "counter", "Connections accepted.",
        stats.connections_accepted)
    one("evloop_connects_total", "counter", "Outbound connections begun by handlers.",
        out.attempted)
    family("evloop_connect_failures_total", "counter",
           "Outbound connections that could not be opened, by reason.",
           [("", {"reason": reason}, n) for reason, n in out.failed.items()])
    family("evloop_connections_refused_total", "counter",
           "Clients turned away at accept, by reason.",
           [("", {"reason": reason}, n) for reason, n in stats.connections_refused.items()])
    family("evloop_connections_closed_total", "counter",
           "Connections ended, by direction and the first reason given.",
           [("", {"direction": direction, "reason": reason}, n)
            for direction, closed in (("in", stats.connections_closed), ("out", out.closed))
            for reason, n in closed.items()])
    for name, field, help in (
            ("evloop_received_bytes_total", "bytes_received", "Bytes read from peers."),
            ("evloop_sent_bytes_total", "bytes_sent", "Bytes written to peers."),
            ("evloop_received_messages_total", "messages_received",
             "Reads handed to handlers (a datagram, over UDP)."),
            ("evloop_sent_messages_total", "messages_sent",
             "Replies and pushes sent (a datagram, over UDP).")):
        family(name, "counter", help,
               [("", {"transport": transport, "direction": direction}, getattr(traffic, field))
                for transport, direction, traffic in streams])
    for name, value, help in (
            ("evloop_protocol_errors_total", stats.protocol_errors,
             "Handlers' ProtocolErrors: bad input from clients."),
            ("evloop_handler_crashes_total", stats.handler_crashes,
             "Handler calls that raised or answered something that is not bytes."),
            ("evloop_backpressure_pauses_total", stats.backpressure_pauses,
             "Times a connection stopped being read because its client did not read."),
            ("evloop_tls_handshakes_total", stats.tls_handshakes, "TLS handshakes completed."),
            ("evloop_tls_handshake_failures_total", stats.tls_failures,
             "TLS handshakes that failed or timed out."),
            ("evloop_proxy_headers_rejected_total", stats.proxy_rejected,
             "Connections closed for a missing or bad PROXY protocol header, or for a peer "
             "not allowed to send one.")):
        one(name, "counter", help, value)
    one("evloop_timers_pending", "gauge", "Timers waiting on the loop's heap.",
        stats.timers_pending)
    if stats.turn_seconds is not None:
        turns = stats.turn_seconds
        family("evloop_loop_turn_seconds", "histogram",
               "How long each turn of the loop ran its callbacks.",
               [*(("_bucket", {"le": _number(bound)}, n) for bound, n in turns.buckets),
                ("_sum", {}, turns.sum), ("_count", {}, turns.count)])
    return "\n".join(lines) + "\n"


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    escaped = (f'{key}="{_escape(value)}"' for key, value in labels.items())
    return "{" + ",".join(escaped) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value == float("inf"):
        return "+Inf"
    return repr(value) if isinstance(value, float) else str(int(value))


# -- the HTTP side ---------------------------------------------------------------

def http_response(status: str, body: bytes, content_type: str = "text/plain; charset=utf-8",
                  extra: str = "", head: bool = False) -> bytes:
    """One HTTP/1.1 response that closes the connection."""
    header = (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
              f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n")
    return header.encode("ascii") + (b"" if head else body)


def page_response(page: str, head: bool = False) -> bytes:
    """A metrics page as the answer to GET /metrics (or HEAD: the head alone)."""
    return http_response("200 OK", page.encode("utf-8"), CONTENT_TYPE, head=head)


def always_ready() -> str:
    """The readiness of an endpoint whose owner gives none: it answers, so it is ready."""
    return READY


class MetricsHandler(Handler):
    """Answer one HTTP request, GET or HEAD: /metrics with `render()`'s page,
    /healthz with `ok`, /readyz with `readiness()`'s word (200 if READY, else 503)."""

    supports_udp = False

    def __init__(self, render: Callable[[], str],
                 readiness: Callable[[], str] = always_ready) -> None:
        super().__init__(MAX_REQUEST)
        self.render = render
        self.readiness = readiness
        self.request: bytearray | None = bytearray()  # None once answered

    def data_received(self, data: bytes) -> Reply:
        if self.request is None:
            return b""  # answered already: the rest is ignored until the close
        self.request += data
        end = self.request.find(b"\r\n\r\n")
        if end < 0:
            end = self.request.find(b"\n\n")  # a hand-typed request (nc) may use bare LFs
        if end < 0:
            if len(self.request) > MAX_REQUEST:
                raise ProtocolError(f"HTTP request head longer than {MAX_REQUEST} bytes",
                                    reply=http_response("431 Request Header Fields Too Large",
                                                        b"request head too long\n"))
            return None
        head = bytes(self.request[:end])
        self.request = None
        reply = self.answer(head.split(b"\n", 1)[0].rstrip(b"\r"))
        if reply is None:
            return b""  # answered later, by a subclass that pushes it and closes
        self.context.close()
        return reply

    def answer(self, request_line: bytes) -> bytes | None:
        parts = request_line.split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            raise ProtocolError(f"not an HTTP/1.x request line: {request_line[:80]!r}",
                                reply=http_response("400 Bad Request", b"expected an HTTP/1.x "
                                                    b"request: GET /metrics HTTP/1.1\n"))
        method, target = parts[0], parts[1].split(b"?", 1)[0]
        if method not in (b"GET", b"HEAD"):
            return http_response("405 Method Not Allowed", b"only GET and HEAD\n",
                                 extra="Allow: GET, HEAD\r\n")
        head = method == b"HEAD"
        if target == b"/metrics":
            return self.metrics(head)
        if target == b"/healthz":  # answered by the loop: that it answers is the health
            return http_response("200 OK", b"ok\n", head=head)
        if target == b"/readyz":
            word = self.readiness()
            status = "200 OK" if word == READY else "503 Service Unavailable"
            return http_response(status, f"{word}\n".encode("utf-8"), head=head)
        return http_response("404 Not Found", b"served here: /metrics, /healthz, /readyz\n",
                             head=head)

    def metrics(self, head: bool) -> bytes | None:
        """The answer to /metrics: `render()`'s page.  A subclass that gathers its
        page from elsewhere returns None and pushes it later (evloop.supervisor.scrape)."""
        return page_response(self.render(), head)
