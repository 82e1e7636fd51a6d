"""evloop.handlers.upstreams with no sockets: a relay's backends balanced and health-checked
on a fake server context, its clock moved by hand.  Served, with real backends:
tests/features/test_relay.py."""

import logging

import pytest

from evloop.handlers.relay import RelayHandler
from evloop.handlers.relay import parse_upstreams
from evloop.testing import FakeServerContext

pytestmark = pytest.mark.timeout(10)
A, B = ("127.0.0.1", 9001), ("127.0.0.1", 9002)


def relay_server(**options):
    server = FakeServerContext(RelayHandler, upstream="127.0.0.1:9001,127.0.0.1:9002",
                               check_interval="1", **options)
    server.start()
    return server


def latest(server, address):
    return [d for d in server.connects if d.address == address][-1]


def backend_of_a_new_client(server):
    _, client = server.client()
    dialled, = client.connects
    return dialled.address


def test_clients_go_round_robin_over_the_backends_up():
    server = relay_server()
    latest(server, A).open(), latest(server, B).open()  # the start-up checks pass
    assert [backend_of_a_new_client(server) for _ in range(3)] == [[A, B], [B, A], [A, B]]
    first = relay_server(balance="first")
    assert [backend_of_a_new_client(first) for _ in range(2)] == [[A, B], [A, B]]


def test_a_backend_down_at_start_up_is_tried_last_until_it_passes_rise_checks(caplog):
    server = relay_server()
    with caplog.at_level(logging.INFO, logger="evloop"):
        latest(server, A).refuse()
        latest(server, B).open()
    assert caplog.messages == ["relay: upstream 127.0.0.1:9001 does not answer at start-up "
                               "(Connection refused); down until 2 check(s) pass; 1 of 2 up"]
    assert backend_of_a_new_client(server) == [B, A]  # the one up first, the other still tried
    caplog.clear()
    for beat in range(2):  # --check-rise 2
        server.clock.advance(1.0)
        latest(server, A).open()
        latest(server, B).open()
    assert caplog.messages == ["relay: upstream 127.0.0.1:9001 is up: 2 check(s) passed; "
                               "2 of 2 up"]
    assert sorted(map(tuple, [backend_of_a_new_client(server)[0] for _ in range(2)])) == [A, B]


def test_a_backend_up_goes_down_after_fall_failed_checks_in_a_row(caplog):
    server = relay_server(check_fall="2")
    latest(server, A).open(), latest(server, B).open()
    with caplog.at_level(logging.INFO, logger="evloop"):
        server.clock.advance(1.0)
        latest(server, A).refuse(), latest(server, B).open()
        server.clock.advance(1.0)
        latest(server, A).open(), latest(server, B).open()  # a pass breaks the streak
        for _ in range(2):
            server.clock.advance(1.0)
            latest(server, A).refuse(), latest(server, B).open()
    assert caplog.messages == ["relay: upstream 127.0.0.1:9001 is down: 2 check(s) failed, "
                               "the last: Connection refused; 1 of 2 up"]
    assert [backend_of_a_new_client(server) for _ in range(2)] == [[B, A], [B, A]]


def test_a_check_still_in_flight_is_not_doubled_and_checks_stop_with_the_server():
    server = relay_server()
    assert len(server.connects) == 2
    server.clock.advance(3.0)  # the start-up checks never answered: no new ones
    assert len(server.connects) == 2
    latest(server, A).open(), latest(server, B).open()
    server.clock.advance(1.0)
    assert len(server.connects) == 4
    server.stop()
    assert server.clock.pending() == []


def test_one_backend_is_checked_once_at_start_up_only():
    server = FakeServerContext(RelayHandler, upstream="127.0.0.1:9001")
    server.start()
    assert len(server.connects) == 1 and server.clock.pending() == []
    _, client = server.client()
    assert client.connects[0].address == A  # one address, not a list


@pytest.mark.parametrize("text, backends", [
    ("127.0.0.1:9001", (A,)),
    ("127.0.0.1:9001,127.0.0.1:9002", (A, B)),
    ("127.0.0.1:9001, unix:/run/b.sock", (A, "/run/b.sock")),
    (("127.0.0.1", 9001), (A,)),
    ([A, B], (A, B)),
])
def test_upstream_takes_one_backend_or_several(text, backends):
    assert parse_upstreams(text) == backends


@pytest.mark.parametrize("text, message", [
    ("", "no backend given"), (",", "no backend given"), ([A, A], "a backend is given twice"),
    ("127.0.0.1:9001,127.0.0.1:9001", "a backend is given twice"),
    ("127.0.0.1:9001,nowhere", "'nowhere' is not HOST:PORT"),
])
def test_upstream_refuses_what_is_not_a_list_of_backends(text, message):
    with pytest.raises(ValueError, match=message):
        parse_upstreams(text)


@pytest.mark.parametrize("several", ["127.0.0.1:9001,127.0.0.2:9001",
                                     "unix:/run/a.sock,127.0.0.1:9001"])
def test_tls_to_several_hosts_needs_the_name_their_certificates_carry(several):
    with pytest.raises(ValueError, match="TLS to several hosts needs upstream_server_name"):
        RelayHandler.factory(upstream=parse_upstreams(several), upstream_tls="on")
    handler = RelayHandler.factory(upstream=parse_upstreams(several), upstream_tls="on",
                                   upstream_server_name="backend.internal")()
    assert handler.server_hostname == "backend.internal"


def test_a_check_the_server_s_stop_ended_is_no_failure(caplog):
    server = relay_server()
    with caplog.at_level(logging.INFO, logger="evloop"):
        latest(server, A).refuse(None)  # what a stop does to a check still dialling
        latest(server, B).refuse(ConnectionAbortedError("the server is stopping"))
    assert caplog.messages == []
    assert backend_of_a_new_client(server) == [A, B]  # both still up


def test_the_start_up_check_waits_as_long_as_a_client_would():
    server = relay_server(connect_timeout="7")
    assert {d.options["timeout"] for d in server.connects} == {7.0}
    latest(server, A).open(), latest(server, B).open()
    server.clock.advance(1.0)  # then within a round: the interval, 1 s
    assert {d.options["timeout"] for d in server.connects[2:]} == {1.0}
