"""`--workers N`: a supervisor that replaces, reloads, scales and stops its workers."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from tests.conftest import ROOT
from tests.conftest import STARTUP
from tests.conftest import cli_env
from tests.conftest import recv_exactly
from tests.conftest import wait_for
from evloop.supervisor import workers
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
        except FileNotFoundError:
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


def ask_pid(server):
    with server.connect() as sock:
        sock.sendall(b"?")
        return int(sock.makefile().readline())


def test_workers_share_the_listener_and_all_serve(serve):
    server = serve("--workers", "2", "--handler", "userhandlers.whoami:WhoAmI")
    assert "2 workers (shared listener)" in server.line and server.selector.startswith("epoll")
    pids = set(children(server.pid))
    assert len(pids) == 2
    answered = {ask_pid(server) for _ in range(60)}
    assert answered == pids  # both workers accept from the one queue
    code, err = server.stop(signal.SIGTERM)
    assert code == 0, err
    assert "Traceback" not in err and "all workers stopped" in err
    assert not any(os.path.exists(f"/proc/{pid}") for pid in pids)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_drains_every_worker(serve, sig):
    server = serve("--workers", "2", "--handler", "lenprefix")
    clients = [server.connect() for _ in range(6)]
    for sock in clients:
        sock.sendall(b"005hello")
        assert recv_exactly(sock, 8) == b"005hello"
    server.proc.send_signal(sig)
    for sock in clients:
        assert sock.recv(10) == b""  # orderly FIN after the drain
        sock.close()
    code, err = server.stop()
    assert code == 0 and "Traceback" not in err
    assert err.count("stopping: draining") == 2


def test_a_dead_worker_is_replaced_and_the_others_are_not_touched(supervised):
    server = supervised("--workers", "2", "--handler", "lenprefix")
    victim, survivor = children(server.pid)
    os.kill(victim, signal.SIGKILL)
    server.wait_log(rf"worker \d \(pid {victim}\) exited while serving \(killed by SIGKILL\); "
                    r"replacing it")
    assert wait_for(lambda: len(live_children(server.pid)) == 2)
    now = set(live_children(server.pid))
    assert survivor in now and victim not in now
    for _ in range(20):
        assert server.ask() == b"005hello"
    code, log = server.stop()
    assert code == 0 and "Traceback" not in log, log


def test_a_worker_that_keeps_dying_is_restarted_with_a_backoff(supervised, tmp_path):
    flag = tmp_path / "die"
    server = supervised("--workers", "2", "--handler", "userhandlers.dies:DiesAtStart",
                        env={"EVLOOP_TEST_DIE": str(flag)})
    flag.write_text("")  # from now on, a worker dies as it starts
    os.kill(children(server.pid)[0], signal.SIGKILL)
    server.wait_log(r"replacing it in 0\.8s", timeout=20)  # 0.2, 0.4, 0.8: doubling
    starts = server.log().count(") started")
    assert starts <= 8, server.log()  # 2 + the victim's replacements: no fork storm
    flag.unlink()
    server.wait_log(r"worker \d \(pid \d+\) serving", timeout=20)
    assert server.ask() == b"005hello"
    code, log = server.stop()
    assert code == 0, log


def write_version(folder, version, broken=False):
    path = folder / "versioned.py"
    before = path.stat().st_mtime if path.exists() else time.time()
    path.write_text(
        "import evloop\n\n\n"
        "class Version(evloop.Handler):\n"
        "    def data_received(self, data):\n"
        f"        return b'{version}\\n'\n" + ("    def (:\n" if broken else ""))
    # Python trusts a cached .pyc whose source has the same size and mtime in whole
    # seconds: an edit as fast as a test's would not be seen (CI once served v1 after v2).
    os.utime(path, (before + 2, before + 2))


def ask_version(server):
    with socket.create_connection(server.address, timeout=10) as sock:
        sock.sendall(b"?")
        return sock.makefile("rb").readline()


def test_sighup_reloads_the_handlers_code_without_a_gap(supervised, tmp_path):
    write_version(tmp_path, "v1")
    server = supervised("--workers", "2", "--handler", "versioned:Version",
                        env={"PYTHONPATH": f"{tmp_path}{os.pathsep}{cli_env()['PYTHONPATH']}"})
    old = set(children(server.pid))
    assert ask_version(server) == b"v1\n"
    write_version(tmp_path, "v2")
    server.proc.send_signal(signal.SIGHUP)
    server.wait_log(r"reload: 2 new worker\(s\) serving")
    # The old ones are told to stop accepting as the new ones are all up; a client may
    # still reach an old one until it has.
    assert wait_for(lambda: not set(live_children(server.pid)) & old)
    assert {ask_version(server) for _ in range(20)} == {b"v2\n"}
    assert server.log().count("retired (exit code 0)") == 2
    code, log = server.stop()
    assert code == 0 and "Traceback" not in log, log


def test_a_reload_that_cannot_load_the_handler_is_refused(supervised, tmp_path):
    write_version(tmp_path, "v1")
    server = supervised("--workers", "2", "--handler", "versioned:Version",
                        env={"PYTHONPATH": f"{tmp_path}{os.pathsep}{cli_env()['PYTHONPATH']}"})
    old = set(children(server.pid))
    write_version(tmp_path, "v2", broken=True)
    server.proc.send_signal(signal.SIGHUP)
    server.wait_log(r"reload refused: cannot load handler 'versioned:Version': syntax error in "
                    r".*versioned\.py, line 7.*; the old workers go on serving")
    assert {ask_version(server) for _ in range(20)} == {b"v1\n"}
    assert wait_for(lambda: set(live_children(server.pid)) == old)
    log = server.log()
    assert log.count("reload refused") == 1 and "Traceback" not in log, log
    write_version(tmp_path, "v3")  # and the next reload, once fixed, goes through
    server.proc.send_signal(signal.SIGHUP)
    server.wait_log(r"reload: 2 new worker\(s\) serving")
    assert wait_for(lambda: not set(live_children(server.pid)) & old)
    assert ask_version(server) == b"v3\n"
    assert server.stop()[0] == 0


def test_a_stop_while_new_workers_start_stops_them_too(supervised, tmp_path):
    flag = tmp_path / "slow"
    (tmp_path / "slowstart.py").write_text(
        "import os, time\n"
        "from evloop.handlers.lenprefix import LenPrefixHandler\n"
        f"if os.path.exists({str(flag)!r}):\n"
        "    time.sleep(2)  # a slow import: the new workers ignore signals meanwhile\n"
        "class Slow(LenPrefixHandler):\n"
        "    pass\n")
    server = supervised("--workers", "2", "--handler", "slowstart:Slow",
                        env={"PYTHONPATH": f"{tmp_path}{os.pathsep}{cli_env()['PYTHONPATH']}"})
    flag.write_text("")
    server.proc.send_signal(signal.SIGHUP)
    server.wait_log(r"reload: starting 2 new worker")
    time.sleep(0.3)
    code, log = server.stop(timeout=20)  # not a hang: each new worker is told again
    assert code == 0 and "Traceback" not in log, log
    assert log.count(") stopped (exit code 0)") == 4, log


# -- deadlines, and failures before a worker is ready --------------------------------

# A supervisor with a 1 s ready deadline, as `python -m evloop.serve` otherwise.
DRIVER = """
import sys
import evloop.supervisor.supervisor as supervisor
supervisor.READY_TIMEOUT = 1.0
{patch}
from evloop.cli.serve import main
sys.exit(main(sys.argv[1:]))
"""


def driven(*args, patch=""):
    return [sys.executable, "-c", DRIVER.format(patch=patch), "--port", "0", *args]


def slow_start(supervised, flag, starts=True):
    """Two workers that wait after their fork while `flag` exists."""
    return supervised(argv=driven("--workers", "2", "--handler", "userhandlers.slowstart:SlowStart"),
                      env={"EVLOOP_TEST_SLOW": str(flag)}, starts=starts)


def test_first_workers_not_ready_in_time_stop_the_server_with_exit_1(supervised, tmp_path):
    flag = tmp_path / "slow"
    flag.write_text("")
    server = slow_start(supervised, flag, starts=False)
    server.wait_log(r"workers not ready after 1s; stopping")
    flag.unlink()  # they start, and are told again to stop as they say ready
    code, log = server.proc.wait(30), server.log()
    assert code == 1, log
    assert log.count(") stopped (exit code 0)") == 2 and "Traceback" not in log, log
    assert server.proc.stdout.read() == ""  # no startup line: it never served


def test_a_replacement_not_ready_in_time_is_killed(supervised, tmp_path):
    flag = tmp_path / "slow"
    server = slow_start(supervised, flag)
    victim, survivor = children(server.pid)
    flag.write_text("")
    os.kill(victim, signal.SIGKILL)
    server.wait_log(r"worker \d \(pid \d+\) not ready after 1s; killing it")
    killed = re.search(r"\(pid (\d+)\) not ready after 1s", server.log()).group(1)
    server.wait_log(rf"\(pid {killed}\) exited while serving \(killed by SIGKILL\); replacing it")
    assert server.ask() == b"005hello"  # the survivor serves meanwhile
    flag.unlink()
    server.wait_log(r"worker \d \(pid \d+\) serving")
    assert survivor in live_children(server.pid)
    code, log = server.stop()
    assert code == 0 and "Traceback" not in log, log
    killed = re.findall(r"\(pid (\d+)\) not ready after 1s; killing it", log)
    assert len(killed) == len(set(killed)), log  # once each: the deadline is a one-shot timer


def test_a_reload_not_ready_in_time_is_refused_and_the_old_workers_serve_on(supervised, tmp_path):
    flag = tmp_path / "slow"
    server = slow_start(supervised, flag)
    old = set(children(server.pid))
    flag.write_text("")
    server.proc.send_signal(signal.SIGHUP)
    server.wait_log(r"reload refused: new workers not ready after 1s; the old workers go on "
                    r"serving")
    # The new workers were told to go while starting: that must not reach the supervisor.
    assert server.ask() == b"005hello" and server.proc.poll() is None
    assert old <= set(live_children(server.pid))
    flag.unlink()  # they start, are told again, and retire without having served
    server.wait_log(r"retired \(exit code 0\)", count=2)
    assert set(live_children(server.pid)) == old
    assert server.ask() == b"005hello"
    code, log = server.stop()
    assert code == 0 and "Traceback" not in log and "second stop request" not in log, log
    assert log.count(") stopped (exit code 0)") == 2, log


def test_a_worker_that_dies_before_it_is_ready_stops_the_server_with_its_code(supervised,
                                                                                tmp_path):
    flag = tmp_path / "die"
    flag.write_text("")
    server = supervised("--workers", "2", "--handler", "userhandlers.dies:DiesAtStart",
                        env={"EVLOOP_TEST_DIE": str(flag)}, starts=False)
    code, log = server.proc.wait(30), server.log()
    assert code == 3, log
    assert re.search(r"worker \d \(pid \d+\) exit code 3 before it was ready; stopping", log), log
    assert "all workers stopped" in log and "Traceback" not in log, log


def test_a_failed_fork_is_tried_again(supervised):
    patch = """
import errno
import os
supervisor.BACKOFF_MAX = 0.5
real_fork, forks = os.fork, []
def fork():
    forks.append(1)
    if len(forks) == 2:
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")
    return real_fork()
os.fork = fork
"""
    server = supervised(argv=driven("--workers", "2", "--handler", "lenprefix", patch=patch))
    assert "2 workers (shared listener)" in server.line
    assert "cannot start worker 1: fork: Resource temporarily unavailable; trying again in 0.5s" \
        in server.log()
    assert len(live_children(server.pid)) == 2
    assert server.ask() == b"005hello"
    code, log = server.stop()
    assert code == 0 and log.count(") started") == 2 and "Traceback" not in log, log


def test_a_failure_in_the_supervisor_stops_the_workers_with_exit_1(supervised):
    patch = """
def scale(self, step):
    raise RuntimeError("injected")
supervisor.Supervisor.scale = scale
"""
    server = supervised(argv=driven("--workers", "2", "--handler", "lenprefix", patch=patch))
    workers_before = set(children(server.pid))
    server.proc.send_signal(signal.SIGTTIN)  # its callback raises
    code, log = server.proc.wait(30), server.log()
    assert code == 1, log
    assert "RuntimeError: injected" in log and "the supervisor failed; stopping the workers" in log
    assert log.count(") stopped (exit code 0)") == 2 and "all workers stopped" in log, log
    assert not any(os.path.exists(f"/proc/{pid}") for pid in workers_before)


@pytest.mark.timeout(120)
def test_five_reloads_under_connection_churn_lose_nothing(supervised):
    server = supervised("--workers", "2", "--handler", "lenprefix")
    done = threading.Event()
    served, failed = [0], []

    def churn(n):
        for i in range(100_000):  # bounded, and stopped by `done` long before
            if done.is_set():
                return
            message = f"{n:02d}{i:06d}".encode()
            try:
                with socket.create_connection(server.address, timeout=10) as sock:
                    sock.sendall(b"%03d" % len(message) + message)
                    reply = recv_exactly(sock, 3 + len(message))
                if reply[3:] != message:
                    failed.append(f"wrong reply {reply!r}")
                served[0] += 1
            except OSError as exc:
                failed.append(repr(exc))

    threads = [threading.Thread(target=churn, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    try:
        for reload in range(1, 6):
            time.sleep(0.3)
            server.proc.send_signal(signal.SIGHUP)
            server.wait_log(r"reload: 2 new worker\(s\) serving", count=reload, timeout=30)
        time.sleep(0.3)
    finally:
        done.set()
        for thread in threads:
            thread.join(30)
    assert failed == [], failed[:5]
    assert served[0] > 100
    code, log = server.stop()
    assert code == 0 and "Traceback" not in log and "refused" not in log, log


def test_sigttin_and_sigttou_add_and_remove_a_worker(supervised):
    server = supervised("--workers", "2", "--handler", "lenprefix")
    server.proc.send_signal(signal.SIGTTIN)
    server.wait_log(r"SIGTTIN: 3 workers now")
    assert wait_for(lambda: len(live_children(server.pid)) == 3)
    for _ in range(3):
        server.proc.send_signal(signal.SIGTTOU)
        time.sleep(0.3)
    server.wait_log(r"SIGTTOU: one worker is the least; ignored")
    assert wait_for(lambda: len(live_children(server.pid)) == 1)
    assert server.ask() == b"005hello"
    assert server.stop()[0] == 0


def test_metrics_follow_a_replaced_worker(supervised):
    server = supervised("--workers", "2", "--handler", "lenprefix", "--metrics-port", "0")
    server.wait_log(r"worker 1: metrics at", timeout=20)
    ports = dict(re.findall(r"worker (\d): metrics at http://127\.0\.0\.1:(\d+)/metrics",
                            server.log()))
    assert set(ports) == {"0", "1"}
    pages = {}
    for index, port in ports.items():  # a scrape finds each worker at its slot's port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            pages[index] = response.read().decode()
    assert all("evloop_connections_accepted_total" in page for page in pages.values())
    victim = children(server.pid)[0]
    os.kill(victim, signal.SIGKILL)
    server.wait_log(r"replacing it")
    assert wait_for(lambda: len(live_children(server.pid)) == 2)
    server.wait_log(r"worker \d: metrics at", count=3)
    again = dict(re.findall(r"worker (\d): metrics at http://127\.0\.0\.1:(\d+)/metrics",
                            server.log()))
    assert again == ports  # the replacement serves on its predecessor's port
    for port in ports.values():
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            assert response.status == 200
    server.proc.send_signal(signal.SIGHUP)  # and the new workers of a reload serve there too
    server.wait_log(r"reload: 2 new worker\(s\) serving")
    server.wait_log(r"worker \d: metrics at", count=5)
    assert set(re.findall(r"worker \d: metrics at http://127\.0\.0\.1:(\d+)/metrics",
                          server.log())) == set(ports.values())
    assert wait_for(lambda: server.log().count(") retired") == 2)
    for port in ports.values():
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            assert response.status == 200
    assert server.stop()[0] == 0


def test_workers_serve_udp_too(serve):
    server = serve("--workers", "2", "--udp", "--handler", "uppercase")
    assert "(tcp+udp)" in server.line
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(b"hi there", server.address)
        assert sock.recvfrom(100)[0] == b"HI THERE"
    assert server.stop()[0] == 0


def run_serve(*args):
    return subprocess.run([sys.executable, "-m", "evloop.serve", *args], capture_output=True,
                          text=True, timeout=30, env=cli_env(), cwd=ROOT, stdin=subprocess.DEVNULL)


def test_workers_on_a_taken_port_fail_in_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = run_serve("--workers", "2", "--port", str(taken.getsockname()[1]))
    assert result.returncode == 2
    assert "address already in use" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("count", ["0", "-1", "999"])
def test_bad_worker_counts_are_refused(count):
    result = run_serve("--workers", count, "--port", "0")
    assert result.returncode == 2 and f"--workers ({count}) must be between 1 and 256" in result.stderr


def test_a_single_server_ignores_sighup_with_a_log_line(supervised):
    server = supervised("--handler", "lenprefix")
    server.proc.send_signal(signal.SIGHUP)
    server.wait_log("SIGHUP: reloading needs a supervisor")
    assert server.ask() == b"005hello"
    assert server.stop()[0] == 0


def test_exit_codes_of_workers():
    assert workers.exit_code(0) == 0
    assert workers.exit_code(3 << 8) == 3
    assert workers.exit_code(signal.SIGKILL) == 128 + signal.SIGKILL
    assert workers.describe_status(signal.SIGKILL) == "killed by SIGKILL"
    assert workers.describe_status(3 << 8) == "exit code 3"


# -- handed down: --fd, systemd's socket activation and readiness ------------------------

def test_fd_serves_an_inherited_listener(supervised):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        fd = listener.fileno()
        server = supervised(argv=[sys.executable, "-m", "evloop.serve", "--handler", "lenprefix",
                                  "--fd", str(fd), "--workers", "2"], pass_fds=(fd,))
        assert server.port == listener.getsockname()[1]
    assert server.ask() == b"005hello"
    assert server.stop()[0] == 0


def test_fd_serves_an_inherited_unix_listener_and_leaves_its_file(tmp_path):
    path = tmp_path / "given.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(path))
        listener.listen(16)
        fd = listener.fileno()
        proc = subprocess.Popen([sys.executable, "-m", "evloop.serve", "--handler", "lenprefix",
                                 "--fd", str(fd)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, env=cli_env(), cwd=ROOT, text=True,
                                pass_fds=(fd,))
    try:
        line = proc.stdout.readline()
        assert f"on unix:{path} (unix)" in line, line
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(str(path))
            sock.sendall(b"005hello")
            assert recv_exactly(sock, 8) == b"005hello"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 0 and "Traceback" not in err, err
        assert path.exists()  # not evloop's file to remove: whoever made it owns it
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_fd_that_is_not_a_listener_is_one_line():
    with socket.socket() as not_listening:
        fd = not_listening.fileno()
        result = subprocess.run([sys.executable, "-m", "evloop.serve", "--fd", str(fd)],
                                capture_output=True, text=True, timeout=30, env=cli_env(),
                                cwd=ROOT, stdin=subprocess.DEVNULL, pass_fds=(fd,))
    assert result.returncode == 2
    assert result.stderr.strip().endswith(f"--fd socket {fd}: a stream socket that does not listen")
    assert len(result.stderr.strip().splitlines()) == 1


def notify_socket(tmp_path):
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


def try_connect(port):
    try:
        return socket.create_connection(("127.0.0.1", port), timeout=10)
    except ConnectionRefusedError:
        return None


SYSTEMD_SOCKET_ACTIVATE = shutil.which("systemd-socket-activate")


@pytest.mark.skipif(SYSTEMD_SOCKET_ACTIVATE is None,
                    reason="systemd-socket-activate is not installed (Debian's systemd package; "
                           ".ci/run installs it)")
def test_systemd_socket_activation_and_readiness(supervised, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    notify, path = notify_socket(tmp_path)
    first = []

    def first_client():  # it waits in the accept queue of the socket systemd made
        assert wait_for(lambda: first.append(try_connect(port)) or first[-1] is not None)
        first[-1].sendall(b"005first")

    with notify:
        server = supervised(argv=[SYSTEMD_SOCKET_ACTIVATE, "-l", f"127.0.0.1:{port}",
                                  "--fdname", "evloop", "-E", "NOTIFY_SOCKET", "-E",
                                  "PYTHONPATH", sys.executable, "-m", "evloop.serve",
                                  "--handler", "lenprefix", "--workers", "2"],
                            env={"NOTIFY_SOCKET": path}, before_line=first_client)
        assert server.port == port and "inherited listener" in server.line
        with first[-1]:
            assert recv_exactly(first[-1], 8) == b"005first"  # the first client is served
        seen = messages_until(notify, "READY=1")
        assert any(line.startswith("STATUS=2 workers serving") for m in seen for line in m.split("\n"))
        assert server.ask() == b"005hello"
        server.proc.send_signal(signal.SIGHUP)
        assert any("MONOTONIC_USEC=" in m for m in messages_until(notify, "RELOADING=1"))
        messages_until(notify, "READY=1")
        server.proc.send_signal(signal.SIGTERM)
        messages_until(notify, "STOPPING=1")
        assert server.proc.wait(30) == 0
    assert "Traceback" not in server.log()


def test_a_single_server_tells_notify_socket_it_is_ready(supervised, tmp_path):
    notify, path = notify_socket(tmp_path)
    with notify:
        server = supervised("--handler", "lenprefix", env={"NOTIFY_SOCKET": path})
        assert any("STATUS=0 connections open" in m for m in messages_until(notify, "READY=1"))
        with socket.create_connection(server.address, timeout=10):
            assert "STATUS=1 connections open" in notify.recv(4096).decode()
        server.proc.send_signal(signal.SIGTERM)
        messages_until(notify, "STOPPING=1")
        assert server.proc.wait(30) == 0
