"""evloop.supervisor.scrape: every worker's page fetched at once on the supervisor's
loop, a slow or absent one left out in time; the supervisor's own figures; the
handler that answers once every worker has.  Real supervised workers:
tests/supervisor/test_supervisor.py."""

import socket

import pytest

from evloop.loop.base import BaseLoop
from evloop.server.metrics_endpoint import MetricsEndpoint
from evloop.supervisor import scrape
from evloop.supervisor.scrape import ScrapeHandler
from evloop.supervisor.scrape import Tally
from evloop.supervisor.scrape import gather
from evloop.testing import FakeContext
from tests.conftest import run_until

parser = pytest.importorskip("prometheus_client.parser")
pytestmark = pytest.mark.timeout(30)


def test_every_page_is_gathered_and_a_silent_or_absent_worker_is_none(monkeypatch):
    monkeypatch.setattr(scrape, "FETCH_TIMEOUT", 0.5)
    loop = BaseLoop()
    answering = MetricsEndpoint(loop, "127.0.0.1", 0, lambda: "# HELP x X.\n# TYPE x gauge\nx 1\n")
    answering.start()
    silent = socket.create_server(("127.0.0.1", 0))  # listens, never accepts: a stuck worker
    with socket.create_server(("127.0.0.1", 0)) as closed:
        absent = closed.getsockname()  # nobody there any more
    got = []
    try:
        gather(loop, {0: answering.address, 1: silent.getsockname(), 2: absent}, got.append)
        run_until(loop, lambda: got, seconds=10)
    finally:
        answering.close()
        silent.close()
        loop.close()
    assert got == [{0: "# HELP x X.\n# TYPE x gauge\nx 1\n", 1: None, 2: None}]


def test_no_slot_is_an_empty_gathering_at_once():
    got = []
    gather(None, {}, got.append)
    assert got == [{}]


def test_the_supervisor_s_figures_parse_and_say_each_count():
    tally = Tally()
    tally.started, tally.replaced = 5, 2
    tally.killed["hung"] += 1
    tally.reloads["done"] += 1
    page = tally.render(["serving", "serving", "retiring"])
    found = {(s.name, tuple(sorted(s.labels.items()))): s.value
             for family in parser.text_string_to_metric_families(page) for s in family.samples}
    assert found == {
        ("evloop_supervisor_workers", (("state", "retiring"),)): 1,
        ("evloop_supervisor_workers", (("state", "serving"),)): 2,
        ("evloop_supervisor_workers_started_total", ()): 5,
        ("evloop_supervisor_workers_replaced_total", ()): 2,
        ("evloop_supervisor_workers_killed_total", (("reason", "hung"),)): 1,
        ("evloop_supervisor_reloads_total", (("result", "done"),)): 1,
        ("evloop_supervisor_reloads_total", (("result", "refused"),)): 0}


def scrape_handler():
    asked = []
    handler = ScrapeHandler(asked.append, lambda: "draining")
    context = FakeContext()
    context.open(handler)
    return handler, context, asked


@pytest.mark.parametrize("method", [b"GET", b"HEAD"])
def test_metrics_are_answered_once_every_worker_has(method):
    handler, context, asked = scrape_handler()
    assert context.feed(method + b" /metrics HTTP/1.1\r\nHost: x\r\n\r\n") == b""
    assert len(asked) == 1 and context.sent == [] and not context.closed  # not yet
    asked[0]("x 1\n")
    assert context.closed and len(context.pushed) == 1
    head, _, body = context.pushed[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"Content-Length: 4" in head
    assert body == (b"x 1\n" if method == b"GET" else b"")


def test_a_client_gone_before_the_answer_is_sent_nothing():
    handler, context, asked = scrape_handler()
    context.feed(b"GET /metrics HTTP/1.0\r\n\r\n")
    context.lose()
    asked[0]("x 1\n")
    assert context.pushed == []


def test_readyz_and_the_rest_are_answered_as_any_metrics_endpoint_answers():
    handler, context, asked = scrape_handler()
    reply = context.feed(b"GET /readyz HTTP/1.1\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 503 ") and reply.endswith(b"draining\n")
    assert asked == [] and context.closed
    handler, context, asked = scrape_handler()
    assert context.feed(b"GET /nothing HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 404 ")
