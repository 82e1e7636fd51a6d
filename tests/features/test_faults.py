"""Nothing a handler author writes can stop the server: each bug, on a real
server over real sockets, costs its own connection (or datagram) only, while
a second client on the same server goes on being served."""

import socket

import pytest

from tests.conftest import recv_exactly
from tests.conftest import recv_until_eof

BUGS = {
    "ReturnsStr": "ReturnsStr.data_received returned str, not bytes",
    "ReturnsEmptyStr": "ReturnsEmptyStr.data_received returned str, not bytes",
    "ReturnsInt": "ReturnsInt.data_received returned int, not bytes",
    "ReturnsList": "ReturnsList.data_received returned list, not bytes",
    "Raises": "handler Raises raised in data_received",
    "PushesStr": "handler PushesStr raised in data_received",
    "TimerRaises": "handler TimerRaises raised in a call_later callback",
    "TimerPushesStr": "handler TimerPushesStr raised in a call_later callback",
    "EofRaises": "handler EofRaises raised in eof_received",
}


def read_to_the_end(sock):
    """What the server sent before closing; a reset counts as closed."""
    try:
        return recv_until_eof(sock)
    except ConnectionResetError:
        return b""


def served(sock, payload):
    sock.sendall(payload)
    return recv_exactly(sock, len(payload)) == payload


def check_one_traceback(server, message):
    code, err = server.stop()
    assert code == 0, err
    assert err.count("Traceback") == 1, err
    assert message in err, err
    return err


@pytest.mark.parametrize("name", sorted(BUGS))
def test_a_handler_bug_costs_only_its_connection(serve, name):
    server = serve("--handler", f"userhandlers.buggy:{name}", "--log-level", "warning")
    with server.connect() as good:
        assert served(good, b"before")
        with server.connect() as bad:
            assert served(bad, b"fine at first")
            bad.sendall(b"bug")
            if name == "EofRaises":
                bad.shutdown(socket.SHUT_WR)
            assert read_to_the_end(bad) == b""
        assert served(good, b"after")  # the same server, the same connection
        with server.connect() as late:
            assert served(late, b"a newcomer too")
    check_one_traceback(server, BUGS[name])


def test_a_raising_connection_lost_is_logged_and_nothing_else(serve):
    server = serve("--handler", "userhandlers.buggy:LostRaises", "--log-level", "warning")
    with server.connect() as good:
        with server.connect() as bad:
            bad.sendall(b"bug")  # it closes itself; connection_lost then raises
            assert read_to_the_end(bad) == b""
        assert served(good, b"still here")
    check_one_traceback(server, "handler LostRaises raised in connection_lost")


@pytest.mark.parametrize("name, message", [
    ("BrokenConstructor", "handler BrokenConstructor() raised; closing this client"),
    ("BrokenGreeting", "handler BrokenGreeting raised in connection_made"),
])
def test_a_handler_that_fails_to_start_costs_only_that_client(serve, name, message):
    server = serve("--handler", f"userhandlers.buggy:{name}", "--log-level", "warning")
    with server.connect() as good:  # the first handler is built fine
        assert served(good, b"first")
        with server.connect() as bad:  # the second is not
            assert read_to_the_end(bad) == b""
        assert served(good, b"still first")
        with server.connect() as third:
            assert served(third, b"third")
    check_one_traceback(server, message)


@pytest.mark.parametrize("name, message", [
    ("ReturnsStr", "udp 127.0.0.1:"),
    ("BrokenConstructor", "handler BrokenConstructor() (its constructor) raised"),
])
def test_a_handler_bug_over_udp_costs_only_its_datagram(serve, name, message):
    server = serve("--handler", f"userhandlers.buggy:{name}", "--udp", "--log-level", "warning")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(5)
        udp.sendto(b"first", server.address)
        assert udp.recvfrom(100)[0] == b"first"
        udp.sendto(b"bug", server.address)  # dropped: ReturnsStr's bug, or the 2nd handler
        udp.sendto(b"third", server.address)
        assert udp.recvfrom(100)[0] == b"third"
        if name == "ReturnsStr":  # (the constructor's 4th instance would fail, by design)
            with server.connect() as tcp:
                assert served(tcp, b"tcp too")
    err = check_one_traceback(server, message)
    assert "datagram dropped" in err


def test_a_handler_timer_ticks_then_closes_the_connection(serve):
    server = serve("--handler", "userhandlers.buggy:Heartbeat")
    with server.connect() as sock:
        assert read_to_the_end(sock) == b"hello\ntick\ntick\ntick\n"
    code, err = server.stop()
    assert code == 0 and "Traceback" not in err


def test_a_line_handler_returning_str_is_named_by_its_line_received(serve):
    server = serve("--handler", "userhandlers.buggy:LineReturnsStr", "--log-level", "warning")
    with server.connect() as good:
        assert served(good, b"before\n")
        with server.connect() as bad:
            assert served(bad, b"fine at first\n")
            bad.sendall(b"bug\n")
            assert read_to_the_end(bad) == b""
        assert served(good, b"after\n")
    err = check_one_traceback(server, "LineReturnsStr.line_received returned str, not bytes")
    assert "sequence item" not in err  # not the join's words from inside evloop
