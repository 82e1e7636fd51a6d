"""evloop.connection.dialing: from an address to a connected socket without blocking the
loop, on loopback: every address tried in turn, one deadline, and exactly one of the
two callbacks, once, with the standard error naming the address."""

import errno
import socket
from concurrent.futures import Future

import pytest

from evloop.connection.dialing import Dialer
from evloop.connection.dialing import numeric_targets
from evloop.connection.dialing import rotated
from evloop.loop.base import BaseLoop

pytestmark = pytest.mark.timeout(30)


class Dial:
    """One Dialer on `loop`, its outcomes recorded; names resolve through `answers`
    (host -> getaddrinfo's list, or an OSError), or the real getaddrinfo."""

    def __init__(self, loop, address, timeout=5.0, answers=None):
        self.loop = loop
        self.outcomes = []
        self.lookups = []
        self.answers = answers
        self.dialer = Dialer(loop, address, timeout, self.resolve,
                             lambda sock: self.outcomes.append(("connected", sock)),
                             lambda exc: self.outcomes.append(("failed", exc)))

    def resolve(self, host, port, then):
        self.lookups.append((host, port))
        future = Future()
        try:
            if self.answers is None:
                future.set_result(socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM))
            elif isinstance(self.answers.get(host), OSError):
                raise self.answers[host]
            else:
                future.set_result(self.answers.get(host, []))
        except OSError as exc:
            future.set_exception(exc)
        self.loop.call_soon(then, future)  # the answer comes back in a later turn

    def run(self, seconds=10.0):
        self.dialer.start()
        deadline = self.loop.time() + seconds
        while not self.outcomes:
            assert self.loop.time() < deadline, "no outcome in time"
            self.loop.run_once(timeout=0.01)
        for _ in range(5):  # a second callback would come in the next turns
            self.loop.run_once()
        (outcome,) = self.outcomes
        return outcome


@pytest.fixture
def loop(selector):
    loop = BaseLoop(selector)
    yield loop
    loop.close()


@pytest.fixture
def listener():
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield sock


def free_port():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def full_backlog():
    """A listener whose accept queue is full: the kernel drops the next SYNs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fill = []
    for _ in range(3):
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(listener.getsockname())
        fill.append(sock)
    return listener, fill


def test_a_numeric_address_connects_without_a_lookup(loop, listener):
    dial = Dial(loop, listener.getsockname())
    what, sock = dial.run()
    with sock:
        assert what == "connected" and dial.lookups == []
        assert sock.getpeername() == listener.getsockname() and not sock.getblocking()
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)  # small messages leave at once
        stats = loop.statistics()
        assert stats.writers == 0 and stats.timers == 0  # no watch, no deadline left


def test_a_refused_connect_is_connection_refused_naming_the_address(loop):
    port = free_port()
    what, exc = Dial(loop, ("127.0.0.1", port)).run()
    assert what == "failed" and isinstance(exc, ConnectionRefusedError)
    assert f"connect to 127.0.0.1:{port}" in str(exc)


def test_a_connect_that_gets_no_answer_times_out(loop):
    listener, fill = full_backlog()
    try:
        what, exc = Dial(loop, listener.getsockname(), timeout=0.3).run()
        assert what == "failed"
        assert isinstance(exc, TimeoutError) and "timed out after 0.3s" in str(exc)
        assert loop.statistics().writers == 0  # the attempt in flight was given up
    finally:
        for sock in fill:
            sock.close()
        listener.close()


def test_every_address_of_a_name_is_tried_in_turn(loop, listener):
    port = listener.getsockname()[1]
    nobody = ("127.0.0.1", free_port())
    infos = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", nobody),
             (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
    dial = Dial(loop, ("backend.test", port), answers={"backend.test": infos})
    what, sock = dial.run()
    with sock:
        assert what == "connected" and sock.getpeername() == ("127.0.0.1", port)
    assert dial.lookups == [("backend.test", port)]


def test_the_addresses_are_tried_in_the_order_the_lookup_gave(loop, listener):
    with socket.create_server(("127.0.0.1", 0)) as second:
        infos = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", sock.getsockname())
                 for sock in (listener, second)]
        what, sock = Dial(loop, ("backend.test", 80), answers={"backend.test": infos}).run()
        with sock:
            assert sock.getpeername() == listener.getsockname()


def test_the_last_error_is_told_when_no_address_answers(loop):
    ports = [free_port(), free_port()]
    infos = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", p)) for p in ports]
    what, exc = Dial(loop, ("backend.test", 80), answers={"backend.test": infos}).run()
    assert what == "failed" and isinstance(exc, ConnectionRefusedError)
    assert "connect to backend.test:80" in str(exc)
    what, exc = Dial(loop, ("empty.test", 80), answers={"empty.test": []}).run()
    assert exc.errno == errno.EADDRNOTAVAIL and "empty.test:80: no address to try" in str(exc)


def test_a_name_that_does_not_resolve(loop):
    what, exc = Dial(loop, ("no-such-host.invalid", 80)).run()
    assert what == "failed" and isinstance(exc, socket.gaierror)
    assert "cannot resolve no-such-host.invalid:80" in str(exc)
    lookup_error = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    what, exc = Dial(loop, ("nobody.test", 80), answers={"nobody.test": lookup_error}).run()
    assert isinstance(exc, socket.gaierror) and exc.errno == socket.EAI_NONAME
    assert str(exc) == f"[Errno {socket.EAI_NONAME}] cannot resolve nobody.test:80: Name or service not known"


def test_an_unreachable_network_is_told_with_its_errno(loop, monkeypatch):
    """ENETUNREACH cannot be had on loopback: the connect call is made to answer it."""
    monkeypatch.setattr(socket.socket, "connect_ex", lambda sock, address: errno.ENETUNREACH)
    what, exc = Dial(loop, ("127.0.0.1", 9)).run()
    assert what == "failed" and exc.errno == errno.ENETUNREACH
    assert "connect to 127.0.0.1:9" in str(exc)


def test_a_unix_socket_path(loop, tmp_path):
    path = str(tmp_path / "backend.sock")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(path)
        server.listen(1)
        what, sock = Dial(loop, path).run()
        with sock:
            assert what == "connected" and sock.family == socket.AF_UNIX
            assert sock.getpeername() == path
    what, exc = Dial(loop, str(tmp_path / "nobody.sock")).run()
    assert what == "failed" and isinstance(exc, FileNotFoundError)
    assert f"connect to unix:{tmp_path}/nobody.sock" in str(exc)


def test_a_unix_listener_with_a_full_backlog_says_so(loop, tmp_path):
    path = str(tmp_path / "busy.sock")
    fill = []
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(path)
        server.listen(0)
        for _ in range(10):  # until the kernel refuses one more
            sock = socket.socket(socket.AF_UNIX)
            sock.setblocking(False)
            fill.append(sock)
            if sock.connect_ex(path) == errno.EAGAIN:
                break
        else:
            pytest.skip("this kernel queued 10 connects on a backlog of 0")
        try:
            what, exc = Dial(loop, path).run()
        finally:
            for sock in fill:
                sock.close()
    assert what == "failed" and exc.errno == errno.EAGAIN
    assert "the server's listen() backlog is full" in str(exc)


def test_cancel_calls_back_nobody_and_lets_go_of_everything(loop):
    listener, fill = full_backlog()
    try:
        dial = Dial(loop, listener.getsockname(), timeout=5)
        dial.dialer.start()
        assert loop.statistics().writers == 0  # it begins in the loop's next step
        loop.run_once(0)
        assert loop.statistics().writers == 1 and loop.statistics().timers == 1
        dial.dialer.cancel()
        assert loop.statistics().writers == 0 and loop.statistics().timers == 0
        for _ in range(5):
            loop.run_once()
        assert dial.outcomes == []
    finally:
        for sock in fill:
            sock.close()
        listener.close()


def test_a_lookup_that_answers_after_a_cancel_is_dropped(loop, listener):
    infos = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", listener.getsockname())]
    dial = Dial(loop, ("backend.test", 80), answers={"backend.test": infos})
    dial.dialer.start()  # the answer is queued for the next turn
    dial.dialer.cancel()
    for _ in range(5):
        loop.run_once()
    assert dial.outcomes == [] and loop.statistics().writers == 0


@pytest.mark.parametrize("address, targets", [
    (("127.0.0.1", 80), [(socket.AF_INET, ("127.0.0.1", 80))]),
    (("::1", 80), [(socket.AF_INET6, ("::1", 80, 0, 0))]),
    (("[::1]", 80), [(socket.AF_INET6, ("::1", 80, 0, 0))]),  # as written in HOST:PORT
    ("/run/x.sock", [(socket.AF_UNIX, "/run/x.sock")]),
    (("localhost", 80), None),  # a name: it needs a lookup
])
def test_numeric_targets_need_no_lookup(address, targets):
    assert numeric_targets(address) == targets


# -- several addresses ------------------------------------------------------------------

def test_several_addresses_are_tried_in_order_until_one_answers(loop, listener):
    down = ("127.0.0.1", free_port())
    dial = Dial(loop, [down, ("backend.test", 1), listener.getsockname()],
                answers={"backend.test": socket.gaierror(socket.EAI_NONAME, "Name or service not known")})
    what, sock = dial.run()
    with sock:
        assert what == "connected" and sock.getpeername() == listener.getsockname()
    assert dial.dialer.address == listener.getsockname()  # the one that answered
    assert [type(exc) for exc in dial.dialer.errors] == [ConnectionRefusedError, socket.gaierror]


def test_each_address_has_its_own_timeout(loop, listener):
    blackhole, fill = full_backlog()
    try:
        dial = Dial(loop, [blackhole.getsockname(), listener.getsockname()], timeout=0.3)
        what, sock = dial.run()
        with sock:  # the first timed out: the second still had its whole 0.3 s
            assert what == "connected" and sock.getpeername() == listener.getsockname()
    finally:
        for sock in fill:
            sock.close()
        blackhole.close()


def test_when_every_address_fails_one_error_names_each_attempt(loop):
    first, second = free_port(), free_port()
    dial = Dial(loop, [("127.0.0.1", first), ("127.0.0.1", second)])
    what, exc = dial.run()  # run() checks that the failure is told once
    assert what == "failed" and isinstance(exc, ConnectionRefusedError)
    assert exc.errno == errno.ECONNREFUSED
    assert str(exc) == (f"[Errno 111] connect to 127.0.0.1:{first}: Connection refused; "
                        f"connect to 127.0.0.1:{second}: Connection refused")
    stats = loop.statistics()
    assert stats.writers == 0 and stats.timers == 0


def test_an_empty_list_is_refused():
    with pytest.raises(ValueError, match="connect\\(\\) needs an address, not an empty list"):
        Dialer(None, [], 1.0, None, print, print)


def test_rotated_starts_one_further_along_each_call():
    backends = [("127.0.0.1", 9001), ("127.0.0.1", 9002), ("127.0.0.1", 9003)]
    firsts = [rotated(backends)[0][1] for _ in range(4)]
    start = firsts[0] - 9001  # the place is the process's: another test may have moved it
    assert firsts == [9001 + (start + n) % 3 for n in range(4)]
    assert sorted(rotated(backends)) == backends  # every one, each once
    assert rotated([("127.0.0.1", 9009)]) == [("127.0.0.1", 9009)]


def test_a_dialer_cancelled_before_its_first_step_never_begins(loop, listener):
    dial = Dial(loop, listener.getsockname())
    dial.dialer.start()
    dial.dialer.cancel()
    for _ in range(3):
        loop.run_once(0)
    stats = loop.statistics()
    assert dial.outcomes == [] and stats.writers == 0 and stats.timers == 0
