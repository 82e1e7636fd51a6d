"""Real asyncio programs, unchanged, on evloop.aio: streams, uvicorn, aiohttp, asyncio.Runner.

Each program is what its library's documentation shows, written out to a
scratch directory and run as it would be run: a server in a subprocess
(`python3 -m evloop.aio server.py`, `uvicorn --loop evloop.aio:new_event_loop`),
driven from here by a plain client, then stopped by a signal and checked for
a clean exit.  Each one reports the type of its running loop, so that a test
cannot pass on asyncio's own loop.  Loopback only; every wait has a deadline.
"""

import http.client
import queue
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import evloop.aio
from tests.conftest import cli_env
from tests.conftest import recv_exactly

pytestmark = pytest.mark.timeout(60)

EVLOOP_LOOP = "evloop.aio.loop.EventLoop"


def write(directory, name, source):
    path = directory / name
    path.write_text(textwrap.dedent(source))
    return path


def default_sigint():
    # A job started in the background by a shell ignores SIGINT, and its
    # children inherit that; Python installs its KeyboardInterrupt handler only
    # over the default disposition.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Program:
    """A program run as a subprocess, its output read line by line with deadlines."""

    def __init__(self, argv, cwd):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True, cwd=cwd,
                                     env=cli_env(), preexec_fn=default_sigint)
        self.lines = queue.Queue()
        self.seen = {"stdout": [], "stderr": []}
        self.readers = [threading.Thread(target=self._read, args=(name,), daemon=True)
                        for name in self.seen]
        for reader in self.readers:
            reader.start()

    def _read(self, name):
        for line in getattr(self.proc, name):
            self.seen[name].append(line)
            self.lines.put((name, line))

    def wait_for(self, pattern, timeout=20.0):
        """The first match of `pattern` in a line of either stream."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                _, line = self.lines.get(timeout=max(left, 0.001))
            except queue.Empty:
                self.proc.kill()
                raise AssertionError(f"no line matching {pattern!r} within {timeout} s; "
                                     f"got {self.seen}") from None
            match = re.search(pattern, line)
            if match:
                return match

    def stop(self, sig, timeout=20.0):
        """Signal it, wait for it: (exit code, stdout, stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for reader in self.readers:
            reader.join(timeout=5)
        return self.proc.returncode, "".join(self.seen["stdout"]), "".join(self.seen["stderr"])

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        """Whatever the test did: the program is gone and its pipes are closed."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for reader in self.readers:
            reader.join(timeout=5)
        self.proc.stdout.close()
        self.proc.stderr.close()


# -- asyncio streams: a line-echo server under `python3 -m evloop.aio` -------------------

ECHO_SERVER = """\
    import asyncio
    import signal

    async def echo(reader, writer):
        while line := await reader.readline():
            writer.write(line.upper())
            await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def main():
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        kind = type(loop)
        print(f"serving on {port} with {kind.__module__}.{kind.__qualname__}", flush=True)
        async with server:
            await stop.wait()
        print("stopped", flush=True)

    asyncio.run(main())
"""


def test_a_streams_line_echo_server_serves_several_clients(tmp_path):
    script = write(tmp_path, "echo_server.py", ECHO_SERVER)
    with Program([sys.executable, "-m", "evloop.aio", str(script)], tmp_path) as program:
        match = program.wait_for(r"serving on (\d+) with (\S+)")
        assert match[2] == EVLOOP_LOOP
        port = int(match[1])
        clients = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(5)]
        try:
            for number, client in enumerate(clients):
                client.sendall(f"hello from {number}\n".encode())
            for number, client in enumerate(clients):
                expected = f"HELLO FROM {number}\n".encode()
                assert recv_exactly(client, len(expected)) == expected
            # Many lines in one send: the server's reads split them anywhere, and
            # its writes outrun the client's reading, so drain() must wait.
            lines = b"".join(b"line %d of many\n" % n for n in range(20000))
            sender = threading.Thread(target=clients[0].sendall, args=(lines,))
            sender.start()
            assert recv_exactly(clients[0], len(lines)) == lines.upper()
            sender.join(timeout=10)
            clients[0].shutdown(socket.SHUT_WR)
            assert clients[0].recv(100) == b""  # the server closes after the client's EOF
        finally:
            for client in clients:
                client.close()
        code, out, err = program.stop(signal.SIGTERM)
        assert code == 0, err
        assert out.splitlines()[-1] == "stopped"


# -- uvicorn: an ASGI app, with --loop evloop.aio:new_event_loop --------------------------

ASGI_APP = """\
    import asyncio

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        kind = type(asyncio.get_running_loop())
        answer = f"{kind.__module__}.{kind.__qualname__} {scope['path']} {len(body)}"
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": answer.encode()})
"""


@pytest.mark.parametrize("parser", ["h11", "httptools"])
def test_uvicorn_serves_an_asgi_app_on_it(tmp_path, parser):
    pytest.importorskip("uvicorn", reason="uvicorn is in the test extra: pip install -e '.[test]'")
    if parser == "httptools":
        pytest.importorskip("httptools", reason="httptools is in the test extra")
    write(tmp_path, "app.py", ASGI_APP)
    command = [sys.executable, "-m", "uvicorn", "app:app", "--loop", "evloop.aio:new_event_loop",
               "--http", parser, "--host", "127.0.0.1", "--port", "0"]
    with Program(command, tmp_path) as program:
        port = int(program.wait_for(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")[1])
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            for n in range(3):  # one kept-alive connection
                connection.request("GET", f"/path/{n}")
                response = connection.getresponse()
                assert response.status == 200
                assert response.read().decode() == f"{EVLOOP_LOOP} /path/{n} 0"
            payload = b"x" * 300_000  # more than one read, and more than one receive()
            connection.request("POST", "/upload", body=payload)
            response = connection.getresponse()
            assert response.read().decode() == f"{EVLOOP_LOOP} /upload {len(payload)}"
        finally:
            connection.close()
        for n in range(3):  # a new connection each
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                connection.request("GET", "/")
                assert connection.getresponse().read().decode() == f"{EVLOOP_LOOP} / 0"
            finally:
                connection.close()
        code, _, err = program.stop(signal.SIGINT)
        assert code == 0, err
        assert "Finished server process" in err
        assert "Traceback" not in err and "ERROR" not in err, err


# -- aiohttp: its web server and its client session, in one program ----------------------

AIOHTTP_PROGRAM = """\
    import asyncio

    import aiohttp
    from aiohttp import web

    import evloop.aio

    def loop_name():
        kind = type(asyncio.get_running_loop())
        return f"{kind.__module__}.{kind.__qualname__}"

    async def hello(request):
        return web.Response(text=f"hello {request.match_info['name']} from {loop_name()}")

    async def upper(request):
        return web.Response(body=(await request.read()).upper())

    async def main():
        app = web.Application()
        app.add_routes([web.get("/hello/{name}", hello), web.post("/upper", upper)])
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with aiohttp.ClientSession() as session:
                for name in ("ada", "bob", "cy"):
                    async with session.get(f"http://127.0.0.1:{port}/hello/{name}") as response:
                        print(response.status, await response.text())
                body = b"abc" * 100_000
                async with session.post(f"http://127.0.0.1:{port}/upper", data=body) as response:
                    print(response.status, (await response.read()) == body.upper())
        finally:
            await runner.cleanup()
        print("client on", loop_name())

    evloop.aio.run(main())
"""


def test_aiohttp_server_and_client_session_in_one_program(tmp_path):
    pytest.importorskip("aiohttp", reason="aiohttp is in the test extra: pip install -e '.[test]'")
    script = write(tmp_path, "aiohttp_both.py", AIOHTTP_PROGRAM)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          cwd=tmp_path, env=cli_env(), timeout=45)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"200 hello ada from {EVLOOP_LOOP}", f"200 hello bob from {EVLOOP_LOOP}",
        f"200 hello cy from {EVLOOP_LOOP}", "200 True", f"client on {EVLOOP_LOOP}"]
    assert "Unclosed" not in done.stderr and "Traceback" not in done.stderr, done.stderr


AIOHTTP_RUN_APP = """\
    import asyncio
    import socket

    from aiohttp import web

    async def index(request):
        kind = type(asyncio.get_running_loop())
        return web.Response(text=f"{kind.__module__}.{kind.__qualname__}")

    async def on_cleanup(app):
        print("cleaned up", flush=True)

    app = web.Application()
    app.router.add_get("/", index)
    app.on_cleanup.append(on_cleanup)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print("port", sock.getsockname()[1], flush=True)
    web.run_app(app, sock=sock, print=None)  # its own loop; SIGINT ends it
    print("run_app returned", flush=True)
"""


def test_aiohttp_run_app_under_the_command_stops_on_sigint(tmp_path):
    """web.run_app makes its loop with asyncio.new_event_loop() (the policy), and its
    SIGINT handler raises GracefulExit out of a signal callback, through the loop."""
    pytest.importorskip("aiohttp", reason="aiohttp is in the test extra: pip install -e '.[test]'")
    script = write(tmp_path, "run_app.py", AIOHTTP_RUN_APP)
    with Program([sys.executable, "-m", "evloop.aio", str(script)], tmp_path) as program:
        port = int(program.wait_for(r"^port (\d+)")[1])
        deadline = time.monotonic() + 20
        while True:  # run_app listens a moment after the socket is bound
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                connection.request("GET", "/")
                body = connection.getresponse().read().decode()
                break
            except ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
            finally:
                connection.close()
        assert body == EVLOOP_LOOP
        code, out, err = program.stop(signal.SIGINT)
        assert code == 0, err
        assert out.splitlines()[-2:] == ["cleaned up", "run_app returned"], out


# -- asyncio.Runner, TaskGroup, timeout, to_thread ------------------------------------------

@pytest.mark.skipif(sys.version_info < (3, 11), reason="Runner, TaskGroup and timeout are 3.11's")
def test_runner_with_a_task_group_a_timeout_and_to_thread():
    import asyncio

    async def main():
        finished = []

        async def work(n):
            await asyncio.sleep(0.01 * (3 - n))
            finished.append(n)
            return n * n

        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(work(n), name=f"work {n}") for n in range(3)]
        squares = [task.result() for task in tasks]

        timed_out = False
        try:
            async with asyncio.timeout(0.05):
                await asyncio.sleep(30)
        except TimeoutError:
            timed_out = True

        async def fails():
            await asyncio.sleep(0)
            raise ValueError("one failed")

        sibling = None
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(fails())
                sibling = group.create_task(asyncio.sleep(30))
        except ExceptionGroup as group_error:  # (not except*: the file must parse on 3.10)
            failures = [str(exc) for exc in group_error.exceptions]

        thread = await asyncio.to_thread(lambda: threading.current_thread().name)
        return (type(asyncio.get_running_loop()), squares, finished, timed_out,
                failures, sibling.cancelled(), thread != threading.current_thread().name)

    with asyncio.Runner(loop_factory=evloop.aio.new_event_loop) as runner:
        result = runner.run(main())
        loop = runner.get_loop()
    assert result == (evloop.aio.EventLoop, [0, 1, 4], [2, 1, 0], True, ["one failed"],
                      True, True)
    assert loop.is_closed()


RUNNER_SIGINT = """\
    import asyncio
    import sys

    async def main():
        print("waiting", flush=True)
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            kind = type(asyncio.get_running_loop())
            print(f"cancelled on {kind.__module__}.{kind.__qualname__}", flush=True)
            raise

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(0)
"""


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.run's SIGINT handling is 3.11's")
def test_asyncio_run_cancels_main_on_sigint(tmp_path):
    """asyncio.Runner's SIGINT handler cancels the main task and wakes the loop
    with call_soon_threadsafe from the signal handler."""
    script = write(tmp_path, "sigint.py", RUNNER_SIGINT)
    with Program([sys.executable, "-m", "evloop.aio", str(script)], tmp_path) as program:
        program.wait_for(r"^waiting")
        code, out, err = program.stop(signal.SIGINT)
        assert code == 0, err
        assert out.splitlines() == ["waiting", f"cancelled on {EVLOOP_LOOP}", "interrupted"]

