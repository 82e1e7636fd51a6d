"""bench/coroutines.py, chapter 6's Future, Task and coroutine-per-client echo on evloop.Loop.

The toy on its own (no sockets): a Task sends each Future's result in, and
reports a coroutine that raises through the loop's one error path.  The
server as a process: many clients at once, a big echo beside a small one,
clients that leave, a handler bug that costs only its own client.  And the
chapter itself: each of its Python excerpts is in bench/coroutines.py,
bench/aio_echo.py or another bench/aio_*.py program it runs, word for word,
and its interpreter sessions print what they show (doctest), so the page
cannot drift from the code.
"""

import doctest
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading

import pytest

import evloop
from bench import coroutines
from tests.conftest import ROOT
from tests.conftest import cli_env
from tests.conftest import recv_exactly
from tests.conftest import recv_until_eof

pytestmark = pytest.mark.timeout(60)

CHAPTER = os.path.join(ROOT, "docs", "06-callbacks-to-coroutines.md")
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
STARTUP = re.compile(r"coroutines: serving (\S+) on 127\.0\.0\.1:(\d+) \(tcp\), model coroutines")


def chapter_blocks(language):
    with open(CHAPTER) as f:
        return [body for lang, body in FENCE.findall(f.read()) if lang == language]


def source(name):
    with open(os.path.join(ROOT, "bench", name)) as f:
        return f.read()


# -- the page and the code ------------------------------------------------------------

def test_every_excerpt_in_the_chapter_is_in_the_code_word_for_word():
    excerpts = [body for body in chapter_blocks("python") if not re.match(r"# \w+\.py\n", body)]
    toy, streams = source("coroutines.py"), source("aio_echo.py")
    # and the asyncio programs of the chapter's later sections (tested in tests/bench/test_aio_*.py)
    others = [source(name) for name in ("aio_coordination.py", "aio_upper_streams.py",
                                         "aio_upper_protocol.py")]
    missing = [body for body in excerpts if body not in toy and body not in streams
               and not any(body in other for other in others)]
    assert not missing, f"excerpts not found in bench/coroutines.py, bench/aio_*.py: {missing}"
    assert sum(body in toy for body in excerpts) >= 6  # Future, Task, readable, the coroutines
    assert any(body in streams for body in excerpts)


def test_an_excerpt_changed_by_one_character_is_caught():
    toy = source("coroutines.py")
    excerpt = next(body for body in chapter_blocks("python") if "class Task" in body)
    assert excerpt in toy
    assert excerpt.replace("self.coro.send(result)", "self.coro.send(None)") not in toy


def test_the_chapters_interpreter_sessions_print_what_they_show():
    sessions = chapter_blocks("pycon")
    assert len(sessions) >= 3
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for number, text in enumerate(sessions):
        test = parser.get_doctest(text, {}, f"pycon block {number + 1}", CHAPTER, 0)
        assert test.examples, text
        runner.run(test)
    assert runner.failures == 0, f"{runner.failures} example(s) of the chapter print otherwise"


# -- the toy, without sockets ---------------------------------------------------------

def test_a_task_sends_each_futures_result_into_its_coroutine():
    loop = evloop.Loop()
    first, second = coroutines.Future(), coroutines.Future()
    seen = []

    async def waits_twice():
        seen.append(await first)
        seen.append(await second)

    try:
        coroutines.Task(loop, waits_twice())
        assert seen == [] and first.callbacks and not second.callbacks
        first.set_result("one")
        assert seen == ["one"] and second.callbacks
        loop.call_later(0.01, second.set_result, "two")
        while len(seen) < 2:
            loop.run_once(1.0)
        assert seen == ["one", "two"]
    finally:
        loop.close()


def test_a_task_that_raises_is_reported_and_the_others_go_on():
    loop = evloop.Loop()
    reported = []
    loop.set_exception_handler(lambda _, context: reported.append(context))
    future = coroutines.Future()
    results = []

    async def fails():
        await future
        raise ValueError("a bug")

    async def works():
        results.append(await future)

    try:
        coroutines.Task(loop, fails())
        coroutines.Task(loop, works())
        future.set_result(42)
        assert results == [42]
        assert [context["message"] for context in reported] == ["task fails() raised"]
        assert isinstance(reported[0]["exception"], ValueError)
    finally:
        loop.close()


def test_a_generator_drives_the_same_task_with_yield_from():
    loop = evloop.Loop()
    future = coroutines.Future()
    seen = []

    def old_style():
        seen.append((yield from future))

    try:
        coroutines.Task(loop, old_style())
        future.set_result("via yield from")
        assert seen == ["via yield from"]
    finally:
        loop.close()


# -- the server -----------------------------------------------------------------------

class Toy:
    """`python3 -m bench.coroutines --port 0 ARGS...`, stopped with SIGINT."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.coroutines", "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True, cwd=ROOT, env=cli_env())
        line = self.proc.stdout.readline()
        match = STARTUP.search(line)
        if not match:
            self.proc.kill()
            raise AssertionError(f"bench.coroutines did not start: {line!r} {self.proc.communicate()[1]}")
        self.port = int(match.group(2))

    def connect(self):
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return self.proc.returncode, err


@pytest.fixture
def toy(request):
    servers = []

    def start(*args):
        servers.append(Toy(*args))
        return servers[-1]

    yield start
    for server in servers:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.communicate()


def test_many_clients_at_once_each_get_their_own_echo(toy):
    server = toy()
    clients = [server.connect() for _ in range(20)]  # all connected before any speaks
    try:
        for number, sock in reversed(list(enumerate(clients))):
            sock.sendall(f"client {number}".encode())
        for number, sock in enumerate(clients):
            expected = f"client {number}".encode()
            assert recv_exactly(sock, len(expected)) == expected
    finally:
        for sock in clients:
            sock.close()
    assert server.stop() == (0, "")


def test_a_big_echo_does_not_hold_up_a_small_one(toy):
    server = toy()
    big = os.urandom(4 << 20)
    with server.connect() as slow, server.connect() as quick:
        # The big client sends 4 MiB and reads nothing yet: its echo fills the
        # socket buffers, so the server waits in send_all (writable) for it.
        sender = threading.Thread(target=slow.sendall, args=(big,), daemon=True)
        sender.start()
        quick.sendall(b"me first")
        assert recv_exactly(quick, 8) == b"me first"
        assert recv_exactly(slow, len(big)) == big
        sender.join(timeout=10)
    assert server.stop() == (0, "")


def test_clients_that_leave_cost_only_themselves(toy):
    server = toy()
    with server.connect() as stays:
        with server.connect() as polite:
            polite.sendall(b"bye")
            polite.shutdown(socket.SHUT_WR)
            assert recv_until_eof(polite) == b"bye"  # the echo, then the server's FIN
        with server.connect() as never_reads:
            never_reads.sendall(b"unread echo")
        rude = server.connect()
        rude.sendall(b"reset")
        rude.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        rude.close()  # RST instead of FIN
        stays.sendall(b"still here")
        assert recv_exactly(stays, 10) == b"still here"
    with server.connect() as later:
        later.sendall(b"and later")
        assert recv_exactly(later, 9) == b"and later"
    assert server.stop() == (0, "")


def test_a_handler_bug_is_reported_and_the_server_goes_on(toy):
    server = toy("--handler", "userhandlers.buggy:Raises")
    with server.connect() as before:
        before.sendall(b"one")
        assert recv_exactly(before, 3) == b"one"
        with server.connect() as buggy:
            buggy.sendall(b"bug")
            assert recv_until_eof(buggy) == b""  # its task ended, its socket closed
        before.sendall(b"two")
        assert recv_exactly(before, 3) == b"two"
    with server.connect() as after:
        after.sendall(b"three")
        assert recv_exactly(after, 5) == b"three"
    code, err = server.stop()
    assert code == 0
    assert err.count("task handle() raised") == 1, err
    assert "KeyError: 'no such key'" in err, err


def test_it_serves_any_handler_by_name_and_a_protocol_error_ends_its_client(toy):
    server = toy("--handler", "lenprefix")
    with server.connect() as sock:
        sock.sendall(b"005hel")
        sock.sendall(b"lo003abc")
        assert recv_exactly(sock, 14) == b"005hello003abc"  # whole frames, however they came
        sock.sendall(b"not a header")
        assert recv_until_eof(sock) == b""
    assert server.stop() == (0, "")
