"""What the checks share: the verdict, the student's file, and the plumbing of a run.

A check module (docs/checks/NAME.py) grades one exercise.  Its `grade(student)`
runs the student's code, judges it with `check` (a failure that ends the
grading: what follows depends on it) and `expect` (a failure that is noted,
and the grading goes on), and returns a one-line summary when all is well.
`skip` says that this machine cannot run the exercise (a descriptor limit, a
missing package).  The plumbing here starts servers on 127.0.0.1 and a free
port and stops them at the end, so that a check reads as its exercise.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import types
from typing import Any
from typing import Callable
from typing import Iterator

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STARTUP = re.compile(r"serving \S+ on (\S+):(\d+) ")


class Failed(Exception):
    """A check that failed; its message is the one-line reason."""


class Skipped(Exception):
    """This machine cannot run the exercise; the message says why."""


class Verdict:
    """The failures noted so far by `expect`, for the grader to print."""

    def __init__(self) -> None:
        self.failures: list[str] = []


VERDICT = Verdict()


def check(condition: object, reason: str) -> None:
    """Fail now, with `reason`, unless `condition` holds."""
    if not condition:
        raise Failed(reason)


def expect(condition: object, reason: str) -> bool:
    """Note a failure with `reason` unless `condition` holds, and go on."""
    if not condition:
        VERDICT.failures.append(reason)
    return bool(condition)


def skip(reason: str) -> None:
    raise Skipped(reason)


class Student:
    """The file being graded, imported as a module (its `__main__` block does not run)."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self.name = os.path.basename(path)
        self.module = self._load()

    def _load(self) -> types.ModuleType:
        for folder in (ROOT, os.path.dirname(self.path)):  # evloop, bench, and the file's neighbours
            if folder not in sys.path:
                sys.path.insert(0, folder)
        spec = importlib.util.spec_from_file_location("student_solution", self.path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # so that pickling and dataclasses find it
        try:
            spec.loader.exec_module(module)
        except SyntaxError as exc:
            raise Failed(f"{self.name} does not compile: {exc.msg} (line {exc.lineno})") from None
        except Exception as exc:
            raise Failed(f"{self.name} raised {type(exc).__name__} when imported: {exc}") from None
        return module

    def need(self, name: str) -> Any:
        """What the exercise asks the file to define, or a failure saying it is missing."""
        if not hasattr(self.module, name):
            raise Failed(f"{self.name} defines no `{name}`, which the exercise asks for")
        return getattr(self.module, name)


@contextlib.contextmanager
def served(handler: type, **settings: Any) -> Iterator[Any]:
    """`handler` served by evloop.Server on 127.0.0.1 and a free port, in a thread."""
    import evloop
    server = evloop.Server(handler, evloop.Config(port=0, **settings))
    with served_server(server):
        yield server


@contextlib.contextmanager
def served_server(server: Any) -> Iterator[Any]:
    """An evloop.Server, started and run by its loop in a thread; drained at the end."""
    server.start()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        # The loop is not thread-safe: ask it, from its own thread, to drain and stop.
        server.loop.call_soon_threadsafe(server.shutdown)
        thread.join(timeout=10)


def child_env(*paths: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("COVERAGE_PROCESS_START", None)
    env["PYTHONPATH"] = os.pathsep.join([*paths, ROOT, env.get("PYTHONPATH", "")])
    return env


@contextlib.contextmanager
def process(*argv: str, module: str = "evloop.serve", paths: tuple[str, ...] = (),
            timeout: float = 15.0) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """`python3 -m MODULE --port 0 ARGV...`, until its startup line; yields (process, port)."""
    proc = subprocess.Popen([sys.executable, "-m", module, "--port", "0", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, cwd=ROOT, env=child_env(*paths))
    try:
        timer = threading.Timer(timeout, proc.kill)  # a server that never says it serves
        timer.start()
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        timer.cancel()
        match = STARTUP.search(line)
        if not match:
            proc.kill()
            tail = proc.stderr.read()[-300:].strip().splitlines()
            raise Failed(f"{module} {' '.join(argv)} did not start: {tail[-1] if tail else line!r}")
        yield proc, int(match.group(2))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def toy_server(per_client: Callable[[Any, socket.socket], Any]) -> Iterator[tuple[Any, int]]:
    """Chapter 6's toy (bench/coroutines.py) serving on 127.0.0.1 and a free port: a
    Task per client runs `per_client(loop, sock)`, on an evloop Loop in a thread.
    Yields (the loop, the port); stops the loop and closes the listener after."""
    import evloop
    from bench import coroutines

    async def serve(loop, listener):  # type: ignore[no-untyped-def]
        while True:
            sock, _ = await coroutines.accept(loop, listener)
            coroutines.Task(loop, per_client(loop, sock))

    loop = evloop.Loop()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    coroutines.Task(loop, serve(loop, listener))
    stop = in_thread(loop)
    try:
        yield loop, listener.getsockname()[1]
    finally:
        stop()
        listener.close()


def in_thread(loop: Any) -> Callable[[], None]:
    """Run an evloop Loop in a thread; the function returned stops it and waits."""
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()

    def stop() -> None:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
    return stop


def in_loop(loop: Any, fn: Callable[[], Any]) -> Any:
    """fn() run in the loop's thread, its result brought back here."""
    done, box = threading.Event(), []

    def run() -> None:
        box.append(fn())
        done.set()
    loop.call_soon_threadsafe(run)
    check(done.wait(10), "the loop did not run a callback within 10 s: is it stuck?")
    return box[0]


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            raise Failed(f"the server closed the connection with {size} bytes still expected")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def recv_until_eof(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    while True:
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionResetError:
            chunk = b""  # closed with our bytes unread: a reset, also a close
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def wait_for(condition: Callable[[], object], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return bool(condition())


def rss_kib(pid: int) -> int:
    """A process's resident set size, in KiB, from /proc."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise KeyError("VmRSS")


def recv_until_eof_or_line(sock: socket.socket) -> str:
    """The first line the server sends, without its newline, or what came before EOF."""
    data = b""
    while b"\n" not in data:
        try:
            chunk = sock.recv(4096)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            break
        data += chunk
    return data.partition(b"\n")[0].decode("utf-8", "replace")
