"""evloop.server.accepting: one accept helper for every listener, which pauses instead of
spinning when descriptors run out; the metrics endpoint uses it too."""

import subprocess
import sys
import textwrap

import pytest

from tests.conftest import ROOT
from tests.conftest import cli_env

pytestmark = pytest.mark.timeout(60)

# A server with metrics, a scrape waiting in the metrics listener's backlog, every
# descriptor taken, and the loop run for 0.5 s: how many turns did it make?
TURNS_WITHOUT_DESCRIPTORS = textwrap.dedent("""
    import logging, resource, socket, sys, time
    import evloop
    from evloop.handlers.echo import EchoHandler

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (128, hard))
    server = evloop.Server(EchoHandler, evloop.Config(port=0, metrics_port=0))
    server.start()
    scrape = socket.create_connection(server.metrics_address)  # waits to be accepted
    client = socket.create_connection(server.address)  # and one for the server's listener
    hold = []
    try:
        while True:
            hold.append(socket.socket())
    except OSError:
        pass  # EMFILE: not one descriptor left
    loop = server.loop
    turns = 0
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        loop.run_once(timeout=0.5)
        turns += 1
    for sock in hold:
        sock.close()
    # Descriptors again: both listeners accept by themselves within a second.
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and (not server.connections or
                                           not server.metrics.scrapes):
        loop.run_once(timeout=0.01)
    print(turns, len(server.connections), len(server.metrics.scrapes))
""")


def test_out_of_descriptors_a_waiting_scrape_does_not_spin_the_loop():
    run = subprocess.run([sys.executable, "-c", TURNS_WITHOUT_DESCRIPTORS], capture_output=True,
                         text=True, timeout=30, cwd=ROOT, env=cli_env(),
                         stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr
    turns, accepted, scrapes = map(int, run.stdout.split())
    assert turns < 100, f"{turns} loop turns in 0.5 s with a scrape waiting"
    assert accepted == 1 and scrapes == 1  # both resumed once descriptors came back
    assert "metrics: out of file descriptors" in run.stderr
    assert run.stderr.count("out of file descriptors") == 2  # one line each, per episode


class FakeListener:
    """What Acceptor uses of a listening socket, failing as told."""

    family, type, proto = 2, 1, 6

    def __init__(self, errors):
        self.errors = list(errors)

    def fileno(self):
        return 99

    def _accept(self):
        raise self.errors.pop(0) if self.errors else BlockingIOError()


class FakeLoop:
    def __init__(self):
        self.readers, self.timers = {}, []

    def add_reader(self, fileobj, callback):
        self.readers[fileobj] = callback

    def remove_reader(self, fileobj):
        self.readers.pop(fileobj, None)

    def call_later(self, delay, callback, *args):
        self.timers.append((delay, callback, args))

        class Handle:
            def cancel(self):
                pass
        return Handle()

    def fire_last_timer(self):
        _, callback, args = self.timers[-1]
        callback(*args)


def test_the_pause_doubles_up_to_a_second_and_other_errors_skip_a_client(caplog):
    import errno

    from evloop.server.accepting import Acceptor
    loop = FakeLoop()
    listener = FakeListener([OSError(errno.ECONNABORTED, "aborted")]
                            + [OSError(errno.EMFILE, "Too many open files")] * 7)
    limited = []
    acceptor = Acceptor(loop, listener, lambda sock, address: None,
                        on_fd_limit=lambda: limited.append(1))
    acceptor.start()
    for _ in range(7):
        acceptor.on_acceptable()
        assert not acceptor.accepting and listener not in loop.readers
        loop.fire_last_timer()  # the pause is over: accepting again
        assert acceptor.accepting and loop.readers
    assert [delay for delay, _, _ in loop.timers] == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert len(limited) == 7
    assert caplog.text.count("out of file descriptors") == 1  # one line per episode
