"""evloop.metrics.prometheus: the Prometheus text, proven by prometheus_client's own parser,
and the sans-IO HTTP handler fed whole and byte by byte, with its /healthz and /readyz.
The listener that serves them (--metrics-port): tests/server/test_metrics_endpoint.py."""


import pytest

from evloop import ProtocolError
from evloop.metrics.counters import CLOSE_REASONS
from evloop.metrics.counters import REFUSAL_REASONS
from evloop.metrics.prometheus import CONTENT_TYPE
from evloop.metrics.prometheus import MetricsHandler
from evloop.metrics.prometheus import render
from evloop.metrics.stats import Histogram
from evloop.metrics.stats import Stats
from evloop.metrics.stats import Traffic
from evloop.testing import FakeContext

parser = pytest.importorskip("prometheus_client.parser")
pytestmark = pytest.mark.timeout(60)


def families(text):
    return {family.name: family for family in parser.text_string_to_metric_families(text)}


def sample(found, name, **labels):
    for family in found.values():
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    raise KeyError((name, labels))


def example_stats(**changes):
    values = dict(
        transport="tcp", handler='Odd "name" \\ with\nnewline', connections_open=2,
        connections_accepted=9, connections_refused=dict.fromkeys(REFUSAL_REASONS, 1),
        connections_closed=dict.fromkeys(CLOSE_REASONS, 0) | {"peer_eof": 7},
        stream=Traffic(100, 200, 3, 4), datagram=Traffic(5, 6, 7, 8), protocol_errors=1,
        handler_crashes=2, backpressure_pauses=3, tls_handshakes=4, tls_failures=5,
        proxy_rejected=6, timers_pending=11,
        turn_seconds=Histogram(((0.001, 5), (0.01, 6), (float("inf"), 7)), 0.5, 7))
    values.update(changes)
    return Stats(**values)


def test_the_page_parses_and_says_every_figure():
    found = families(render(example_stats()))
    assert sample(found, "evloop_info", handler='Odd "name" \\ with\nnewline') == 1
    assert sample(found, "evloop_connections_open") == 2
    assert sample(found, "evloop_connections_accepted_total") == 9
    assert sample(found, "evloop_connections_refused_total", reason="fd_limit") == 1
    assert sample(found, "evloop_connections_closed_total", reason="peer_eof") == 7
    assert sample(found, "evloop_received_bytes_total", transport="tcp") == 100
    assert sample(found, "evloop_sent_messages_total", transport="udp") == 8
    for name, value in (("evloop_protocol_errors_total", 1), ("evloop_handler_crashes_total", 2),
                        ("evloop_backpressure_pauses_total", 3),
                        ("evloop_tls_handshakes_total", 4),
                        ("evloop_tls_handshake_failures_total", 5),
                        ("evloop_proxy_headers_rejected_total", 6),
                        ("evloop_timers_pending", 11)):
        assert sample(found, name) == value, name
    assert found["evloop_loop_turn_seconds"].type == "histogram"
    assert sample(found, "evloop_loop_turn_seconds_bucket", le="0.001") == 5
    assert sample(found, "evloop_loop_turn_seconds_bucket", le="+Inf") == 7
    assert sample(found, "evloop_loop_turn_seconds_count") == 7
    assert found["evloop_connections_accepted"].type == "counter"


def test_without_udp_or_turns_those_lines_are_absent():
    text = render(example_stats(datagram=None, turn_seconds=None))
    assert 'transport="udp"' not in text and "turn_seconds" not in text
    families(text)


def answer(*pieces, readiness="ready"):
    """Feed `pieces` to a MetricsHandler; the one answer, and whether it closed."""
    context = FakeContext()
    context.open(MetricsHandler(lambda: "up 1\n", lambda: readiness))
    for piece in pieces:
        if context.state != "open":
            break  # it answered and closed: a server reads nothing more
        context.feed(piece)
    return context.take(), context.closed


@pytest.mark.parametrize("split", ["whole", "bytewise"])
def test_get_metrics_whole_or_a_byte_at_a_time(split):
    request = b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\nleftover"
    pieces = [request] if split == "whole" else [request[i:i + 1] for i in range(len(request))]
    reply, closed = answer(*pieces)
    head, body = reply.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200 OK") and body == b"up 1\n" and closed
    assert f"Content-Type: {CONTENT_TYPE}".encode() in head and b"Content-Length: 5" in head


@pytest.mark.parametrize("request_bytes, status", [
    (b"HEAD /metrics HTTP/1.0\r\n\r\n", b"200 OK"),
    (b"HEAD /healthz HTTP/1.0\r\n\r\n", b"200 OK"),
    (b"GET /metrics HTTP/1.0\n\n", b"200 OK"),  # typed by hand
    (b"GET / HTTP/1.1\r\n\r\n", b"404 Not Found"),
    (b"GET /readyz/more HTTP/1.1\r\n\r\n", b"404 Not Found"),
    (b"POST /metrics HTTP/1.1\r\n\r\n", b"405 Method Not Allowed"),
    (b"POST /readyz HTTP/1.1\r\n\r\n", b"405 Method Not Allowed"),
])
def test_other_requests_get_their_http_answer(request_bytes, status):
    reply, closed = answer(request_bytes)
    assert reply.startswith(b"HTTP/1.1 " + status) and closed
    if request_bytes.startswith(b"HEAD"):
        assert reply.endswith(b"\r\n\r\n")  # the head only
    if status.startswith(b"405"):
        assert b"Allow: GET, HEAD" in reply


@pytest.mark.parametrize("split", ["whole", "bytewise"])
def test_healthz_says_ok_without_rendering_the_figures(split):
    def render():
        raise AssertionError("/healthz rendered the metrics page")
    request = b"GET /healthz HTTP/1.0\r\n\r\n"
    pieces = [request] if split == "whole" else [request[i:i + 1] for i in range(len(request))]
    context = FakeContext()
    context.open(MetricsHandler(render))
    for piece in pieces:
        context.feed(piece)
    head, body = context.take().split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200 OK") and body == b"ok\n" and context.closed
    assert b"Content-Type: text/plain" in head and b"Content-Length: 3" in head


@pytest.mark.parametrize("readiness, status", [
    ("ready", b"200 OK"), ("starting", b"503 Service Unavailable"),
    ("retiring", b"503 Service Unavailable"), ("draining", b"503 Service Unavailable"),
])
def test_readyz_is_200_when_ready_else_503_with_the_reason(readiness, status):
    reply, closed = answer(b"GET /readyz HTTP/1.1\r\nHost: a\r\n\r\n", readiness=readiness)
    head, body = reply.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 " + status) and body == readiness.encode() + b"\n"
    assert b"Content-Type: text/plain" in head and closed
    reply, closed = answer(b"HEAD /readyz HTTP/1.0\r\n\r\n", readiness=readiness)
    assert reply.startswith(b"HTTP/1.1 " + status) and reply.endswith(b"\r\n\r\n") and closed


def test_without_a_readiness_given_readyz_says_ready():
    context = FakeContext()
    context.open(MetricsHandler(lambda: ""))
    context.feed(b"GET /readyz HTTP/1.1\r\n\r\n")
    assert context.take().startswith(b"HTTP/1.1 200 OK") and context.closed


@pytest.mark.parametrize("request_bytes, status", [
    (b"\x16\x03\x01 hello\r\n\r\n", b"400"),
    (b"GET /metrics\r\n\r\n", b"400"),  # HTTP/0.9
    (b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 9000, b"431"),
])
def test_what_is_not_http_is_a_protocol_error_with_its_status(request_bytes, status):
    context = FakeContext()
    context.open(MetricsHandler(lambda: ""))
    with pytest.raises(ProtocolError) as caught:
        context.feed(request_bytes)
    assert caught.value.reply.startswith(b"HTTP/1.1 " + status)
