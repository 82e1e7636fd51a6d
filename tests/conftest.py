"""Shared fixtures: selector classes, free ports, and servers run as subprocesses."""

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from evloop.loop.backends import available_backends

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STARTUP = re.compile(r"serving (\S+) on (\S+):(\d+) \((\S+)\), selector (\S+)")
SELECTORS = [name for name in available_backends() if name != "auto"]


@pytest.fixture(params=SELECTORS)
def selector(request):
    """Each test using this runs once per selector class the platform has."""
    return request.param


def cli_env():
    """The environment for evloop subprocesses: the repo and tests/ importable."""
    env = dict(os.environ)
    paths = [ROOT, os.path.join(ROOT, "tests"), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    # Under scripts/test each subprocess records coverage; one run elsewhere
    # (cwd=tmp_path) must still write its data where scripts/test combines it.
    if "COVERAGE_PROCESS_START" in env and "COVERAGE_FILE" not in env:
        env["COVERAGE_FILE"] = os.path.join(ROOT, ".coverage")
    return env


class ServerProcess:
    """`python -m evloop.serve` on a free port, stopped when the test ends."""

    def __init__(self, *args, module="evloop.serve", port="0", preexec_fn=None):
        env = cli_env()
        self.args = [sys.executable, "-m", module, "--port", port, *args]
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, env=env, cwd=ROOT, text=True,
                                     preexec_fn=preexec_fn)
        self.line = self.proc.stdout.readline()
        match = STARTUP.search(self.line)
        if not match:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=10)
            raise AssertionError(f"server did not start: {self.line!r} {err}")
        self.handler, self.host, port, self.protocols, self.selector = match.groups()
        self.port = int(port)
        self.address = ("127.0.0.1", self.port)
        self.stderr = None
        self._stderr_lines = None  # once wait_stderr() reads it as it comes
        self._stderr_reader = None

    @property
    def pid(self):
        return self.proc.pid

    def connect(self, timeout=10.0):
        sock = socket.create_connection(self.address, timeout=timeout)
        return sock

    def wait_stderr(self, pattern, timeout=20.0):
        """Wait until a line of the server's stderr matches `pattern` (a regex); the
        line.  The lines read so far stay part of what stop() returns."""
        if self._stderr_reader is None:
            self._stderr_lines = []
            self._stderr_reader = threading.Thread(target=self._read_stderr, daemon=True)
            self._stderr_reader.start()

        def found():
            return next((line for line in list(self._stderr_lines) if re.search(pattern, line)),
                        None)
        wait_for(lambda: found() is not None, timeout=timeout)
        line = found()
        assert line is not None, f"no {pattern!r} in the server's stderr:\n{''.join(self._stderr_lines)}"
        return line

    def _read_stderr(self):
        for line in self.proc.stderr:
            self._stderr_lines.append(line)

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        """Signal the server, wait for it, return (exit code, stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        if self._stderr_reader is not None:  # stderr is read by wait_stderr's thread
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self._stderr_reader.join(10)
            self.proc.stdout.close()
            err = "".join(self._stderr_lines)
        else:
            try:
                _, err = self.proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                _, err = self.proc.communicate()
        self.stderr = err
        return self.proc.returncode, err

    def rss_kib(self):
        return proc_status(self.pid, "VmRSS")

    def cpu_seconds(self):
        """User + system CPU seconds of the server so far, from /proc."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks


METRICS_URL = re.compile(r"metrics at (http://\S+/metrics)")
SAMPLE = re.compile(r"^(\w+)(?:\{(.*)\})? (\S+)$")


def scrape(server):
    """The metrics page of a server started with --metrics-port (its URL is in the
    startup line)."""
    url = METRICS_URL.search(server.line)
    assert url, f"no metrics URL in {server.line!r}"
    with urllib.request.urlopen(url.group(1), timeout=10) as response:
        return response.read().decode()


def metric(page, name, **labels):
    """The sum of the samples called `name` on a metrics page whose labels include
    `labels` (0 if there is none)."""
    total = 0.0
    for line in page.splitlines():
        match = SAMPLE.match(line)
        if match and match.group(1) == name:
            found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
            if all(found.get(key) == value for key, value in labels.items()):
                total += float(match.group(3))
    return total


def proc_status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


@pytest.fixture
def serve():
    """Start servers with `serve(*args)`; every one is stopped at teardown."""
    started = []

    def start(*args, **kwargs):
        server = ServerProcess(*args, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.stderr is None:  # not stopped by the test: killed if need be, and reaped
            server.stop(signal.SIGKILL)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    """PEM files from a test CA (trustme): "ca", "server" (127.0.0.1 and localhost,
    key and chain), "alice" (a client certificate: CN=alice, O=Lab), by name."""
    trustme = pytest.importorskip("trustme")
    where = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(where / "ca.pem"))
    ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(
        str(where / "server.pem"))
    alice = ca.issue_cert("alice@example.org", common_name="alice", organization_name="Lab")
    alice.private_key_and_cert_chain_pem.write_to_path(str(where / "alice.pem"))
    return {name: str(where / f"{name}.pem") for name in ("ca", "server", "alice")}


def recv_exactly(sock, size):
    chunks = []
    while size:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            raise EOFError(f"EOF with {size} bytes still expected")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def recv_until_eof(sock):
    chunks = []
    while True:
        chunk = sock.recv(1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def wait_for(predicate, timeout=10.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@contextlib.contextmanager
def running(argv):
    """A subprocess with pipes for all three streams, killed if the test leaves it running."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=cli_env())
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


# -- supervised servers: `--workers`, their children, their log, NOTIFY_SOCKET ----------

def children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def live_children(pid):
    """The children that are not zombies."""
    found = []
    for child in children(pid):
        try:
            with open(f"/proc/{child}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    found.append(child)
        except (FileNotFoundError, ProcessLookupError):  # gone between the listing and the read
            pass
    return found


class Supervised:
    """`evloop.serve --workers` (or any command) with its log in a file, read as it grows;
    the whole process group is killed at the end."""

    def __init__(self, tmp_path, *args, argv=None, env=None, pass_fds=(), before_line=None,
                 starts=True):
        self.log_path = tmp_path / f"server-{time.monotonic_ns()}.log"
        self.log_file = open(self.log_path, "w")
        environ = cli_env()
        environ.update(env or {})
        command = argv or [sys.executable, "-m", "evloop.serve", "--port", "0", *args]
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self.log_file,
                                     stdin=subprocess.DEVNULL, env=environ, cwd=ROOT, text=True,
                                     start_new_session=True, pass_fds=pass_fds)
        if before_line is not None:
            before_line()  # systemd-socket-activate starts the server at the first client
        if not starts:  # a test of a start that fails: no startup line is awaited
            return
        self.line = self.proc.stdout.readline()
        match = STARTUP.search(self.line)
        if not match:
            self.kill()
            raise AssertionError(f"server did not start: {self.line!r} {self.log()}")
        self.port = int(match.group(3))
        self.address = (match.group(2), self.port)

    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        return self.log_path.read_text()

    def wait_log(self, pattern, count=1, timeout=30):
        found = wait_for(lambda: len(re.findall(pattern, self.log())) >= count, timeout=timeout)
        assert found, f"no {count} x {pattern!r} in the log:\n{self.log()[-3000:]}"

    def ask(self, request=b"005hello", size=8):
        with socket.create_connection(self.address, timeout=10) as sock:
            sock.sendall(request)
            return recv_exactly(sock, size)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        finally:
            self.kill()
        return code, self.log()

    def kill(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.proc.stdout.close()
        self.log_file.close()


@pytest.fixture
def supervised(tmp_path):
    started = []

    def start(*args, **kwargs):
        server = Supervised(tmp_path, *args, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()


def notify_socket(tmp_path):
    """A service manager's end of NOTIFY_SOCKET: (the bound socket, its path)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify")
    sock.bind(path)
    sock.settimeout(20)
    return sock, path


def messages_until(sock, wanted):
    """Datagrams from the server until one holds `wanted`."""
    seen = []
    while True:
        message = sock.recv(4096).decode()
        seen.append(message)
        if wanted in message.split("\n"):
            return seen


def run_until(loop, predicate, seconds=10.0):
    """Turn `loop`, never blocking more than 10 ms a turn, until `predicate()`
    holds; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "not reached in time"
        loop.run_once(timeout=0.01)
