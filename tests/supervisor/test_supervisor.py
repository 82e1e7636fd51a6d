"""`--workers N`: a supervisor that replaces, reloads, scales and stops its workers.

Some tests drive the supervisor through DRIVER, which sets its constants
(a shorter backoff) or injects a fault before it runs."""

import _bisect
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import urllib.error
import urllib.request

import pytest

from tests.conftest import SELECTORS
from tests.conftest import children
from tests.conftest import cli_env
from tests.conftest import live_children
from tests.conftest import messages_until
from tests.conftest import notify_socket
from tests.conftest import recv_exactly
from tests.conftest import recv_until_eof
from tests.conftest import wait_for

# `python -m evloop.serve`, with the supervisor's module changed by `patch` first.
DRIVER = """
import sys
import evloop.supervisor.supervisor as supervisor
{patch}
from evloop.cli.serve import main
sys.exit(main(sys.argv[1:]))
"""


def driven(*args, patch=""):
    return [sys.executable, "-c", DRIVER.format(patch=patch), "--port", "0", *args]


def slow_start(supervised, flag, starts=True):
    """Two workers that wait after their fork while `flag` exists, and 1 s to be ready."""
    return supervised("--workers", "2", "--handler", "userhandlers.slowstart:SlowStart",
                      "--worker-start-timeout", "1", env={"EVLOOP_TEST_SLOW": str(flag)},
                      starts=starts)


def ask_pid(server):
    with server.connect() as sock:
        sock.sendall(b"?")
        return int(sock.makefile().readline())


def test_workers_share_the_listener_and_all_serve(serve):
    server = serve("--workers", "2", "--handler", "userhandlers.whoami:WhoAmI")
    assert f"selector {SELECTORS[0]}, 2 workers (shared listener)" in server.line  # "auto"
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
    patch = "supervisor.BACKOFF_MAX = 0.4\nsupervisor.QUICK_DEATH = 0.5"
    server = supervised(argv=driven("--workers", "2", "--handler", "userhandlers.dies:DiesAtStart",
                                    patch=patch), env={"EVLOOP_TEST_DIE": str(flag)})
    flag.write_text("")  # from now on, a worker dies as it starts
    os.kill(children(server.pid)[0], signal.SIGKILL)
    server.wait_log(r"replacing it in 0\.4s", count=2, timeout=20)  # 0.2, 0.4, then no more
    log = server.log()
    assert "replacing it in 0.2s" in log and "0.8s" not in log, log
    assert log.count(") started") <= 8, log  # 2 + the victim's replacements: no fork storm
    flag.unlink()
    server.wait_log(r"worker \d \(pid \d+\) serving", timeout=20)
    assert server.ask() == b"005hello"
    # One that served longer than QUICK_DEATH is no crash loop: replaced at once.
    replacement = re.findall(r"worker \d \(pid (\d+)\) serving", server.log())[-1]
    time.sleep(0.6)  # pacing: it serves longer than QUICK_DEATH (0.5 s)
    os.kill(int(replacement), signal.SIGKILL)
    server.wait_log(rf"\(pid {replacement}\) exited while serving \(killed by SIGKILL\); "
                    r"replacing it\n")
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
    # Each new worker of the refused reload ends with the same line, the one whose
    # error refused it as the other.
    # (the other, if still starting then, is killed)
    server.wait_log(r"worker \d \(pid \d+\) of the refused reload ended \((exit code \d|killed "
                    r"by SIGKILL)\)", count=2)
    assert "retired" not in server.log(), server.log()
    write_version(tmp_path, "v3")  # and the next reload, once fixed, goes through
    server.proc.send_signal(signal.SIGHUP)
    server.wait_log(r"reload: 2 new worker\(s\) serving")
    assert wait_for(lambda: not set(live_children(server.pid)) & old)
    assert ask_version(server) == b"v3\n"
    assert server.stop()[0] == 0


def test_a_stop_while_new_workers_start_stops_them_too(supervised, tmp_path):
    flag = tmp_path / "slow"
    server = supervised("--workers", "2", "--handler", "userhandlers.slowstart:SlowStart",
                        env={"EVLOOP_TEST_SLOW": str(flag)})
    flag.write_text("")
    server.proc.send_signal(signal.SIGHUP)
    server.wait_log(r"\) started", count=4)  # the new workers ignore signals while starting
    server.proc.send_signal(signal.SIGTERM)
    server.wait_log(r"stopping: draining", count=2)  # the old ones
    flag.unlink()
    code, log = server.stop(timeout=20)  # not a hang: each new worker is told again
    assert code == 0 and "Traceback" not in log, log
    assert log.count(") stopped (exit code 0)") == 4, log


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
            before = served[0]  # clients come and go around each reload
            assert wait_for(lambda: served[0] >= before + 20 or failed)
            server.proc.send_signal(signal.SIGHUP)
            server.wait_log(r"reload: 2 new worker\(s\) serving", count=reload, timeout=30)
        before = served[0]
        assert wait_for(lambda: served[0] >= before + 20 or failed)
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
    # One at a time: two signals sent before the first is handled would be one.
    for said in (r"SIGTTOU: 2 workers now", r"SIGTTOU: 1 workers now",
                 r"SIGTTOU: one worker is the least; ignored"):
        server.proc.send_signal(signal.SIGTTOU)
        server.wait_log(said)
    assert wait_for(lambda: len(live_children(server.pid)) == 1)
    assert server.ask() == b"005hello"
    assert server.stop()[0] == 0


METRICS = re.compile(r"metrics at (http://\S+)/metrics")


def scrape_whole(server, path="/metrics"):
    """(status, body) of a GET on the supervisor's one metrics port."""
    base = METRICS.search(server.line).group(1)
    try:
        with urllib.request.urlopen(base + path, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


def figures(server):
    """The page as prometheus_client's own parser reads it (the test extra has it)."""
    from prometheus_client.parser import text_string_to_metric_families
    status, page = scrape_whole(server)
    assert status == 200
    return [s for family in text_string_to_metric_families(page) for s in family.samples]


def sample(found, name, **labels):
    values = [s.value for s in found
              if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(values) == 1, (name, labels, values)
    return values[0]


def test_one_scrape_has_every_worker_and_the_supervisor_s_own_figures(supervised):
    server = supervised("--workers", "2", "--handler", "lenprefix", "--metrics-port", "0")
    assert METRICS.search(server.line), server.line
    for _ in range(6):
        assert server.ask() == b"005hello"
    found = figures(server)
    accepted = [sample(found, "evloop_connections_accepted_total", worker=w) for w in "01"]
    assert sum(accepted) == 6  # the kernel shares them out; the page has every one
    assert [sample(found, "evloop_worker_up", worker=w) for w in "01"] == [1, 1]
    assert sample(found, "evloop_supervisor_workers_started_total") == 2
    assert sample(found, "evloop_supervisor_workers", state="serving") == 2
    assert scrape_whole(server, "/readyz") == (200, "ready\n")
    assert scrape_whole(server, "/healthz") == (200, "ok\n")
    victim = children(server.pid)[0]
    os.kill(victim, signal.SIGKILL)
    server.wait_log(r"replacing it")
    server.wait_log(r"worker \d \(pid \d+\) serving")
    found = figures(server)  # the replacement answers at its slot, its counts from zero
    assert [sample(found, "evloop_worker_up", worker=w) for w in "01"] == [1, 1]
    assert sample(found, "evloop_supervisor_workers_started_total") == 3
    assert sample(found, "evloop_supervisor_workers_replaced_total") == 1
    server.proc.send_signal(signal.SIGHUP)
    server.wait_log(r"reload: 2 new worker\(s\) serving")
    found = figures(server)
    assert sample(found, "evloop_supervisor_reloads_total", result="done") == 1
    assert sample(found, "evloop_supervisor_reloads_total", result="refused") == 0
    assert server.stop()[0] == 0


def test_workers_serve_udp_too(serve):
    server = serve("--workers", "2", "--udp", "--handler", "uppercase")
    assert "(tcp+udp)" in server.line
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(b"hi there", server.address)
        assert sock.recvfrom(100)[0] == b"HI THERE"
    assert server.stop()[0] == 0


def test_notify_socket_hears_ready_reloading_and_stopping(supervised, tmp_path):
    notify, path = notify_socket(tmp_path)
    with notify:
        server = supervised("--workers", "2", "--handler", "lenprefix", env={"NOTIFY_SOCKET": path})
        seen = messages_until(notify, "READY=1")
        assert "STATUS=2 workers serving, 0 connections open" in "\n".join(seen).split("\n")
        server.proc.send_signal(signal.SIGHUP)
        assert any("MONOTONIC_USEC=" in m for m in messages_until(notify, "RELOADING=1"))
        messages_until(notify, "READY=1")
        server.proc.send_signal(signal.SIGTERM)
        messages_until(notify, "STOPPING=1")
        assert server.proc.wait(30) == 0
    assert "Traceback" not in server.log()


# -- deadlines, and failures before a worker is ready --------------------------------

def test_first_workers_not_ready_in_time_stop_the_server_with_exit_1(supervised, tmp_path):
    flag = tmp_path / "slow"
    flag.write_text("")
    server = slow_start(supervised, flag, starts=False)
    server.wait_log(r"workers not ready after 1s \(--worker-start-timeout\); stopping")
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
    server.wait_log(r"worker \d \(pid \d+\) not ready after 1s \(--worker-start-timeout\); "
                    r"killing it")
    killed = re.search(r"\(pid (\d+)\) not ready after 1s", server.log()).group(1)
    server.wait_log(rf"\(pid {killed}\) exited while serving \(killed by SIGKILL\); replacing it")
    assert server.ask() == b"005hello"  # the survivor serves meanwhile
    flag.unlink()
    server.wait_log(r"worker \d \(pid \d+\) serving")
    assert survivor in live_children(server.pid)
    code, log = server.stop()
    assert code == 0 and "Traceback" not in log, log
    killed = re.findall(r"\(pid (\d+)\) not ready after 1s \(--worker-start-timeout\); "
                        r"killing it", log)
    assert len(killed) == len(set(killed)), log  # once each: the deadline is a one-shot timer


def test_a_reload_not_ready_in_time_is_refused_and_the_old_workers_serve_on(supervised, tmp_path):
    flag = tmp_path / "slow"
    server = slow_start(supervised, flag)
    old = set(children(server.pid))
    flag.write_text("")
    server.proc.send_signal(signal.SIGHUP)
    server.wait_log(r"reload refused: new workers not ready after 1s \(--worker-start-timeout\); "
                    r"the old workers go on serving")
    # Still starting, they may never listen: they are killed, and nothing is left behind.
    server.wait_log(r"of the refused reload is still starting; killing it", count=2)
    server.wait_log(r"of the refused reload ended \(killed by SIGKILL\)", count=2)
    assert server.ask() == b"005hello" and server.proc.poll() is None
    assert set(live_children(server.pid)) == old
    flag.unlink()
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
import pathlib
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


def test_a_reload_tells_server_stopping_to_retire_and_a_stop_to_shut_down(supervised):
    server = supervised("--workers", "2", "--handler", "userhandlers.clock:Clock",
                        "--tick", "0.05", "--reload-grace", "30")
    with socket.create_connection(server.address, timeout=10) as old_client:
        lines = old_client.makefile("rb")
        assert lines.readline() == b"welcome\n"
        server.proc.send_signal(signal.SIGHUP)
        rest = [line for line in iter(lines.readline, b"")]
        assert rest[-1] == b"reconnect\n" and all(len(line) == 9 for line in rest[:-1]), rest
    # Its client gone, the old worker ends at once, not after --reload-grace.
    server.wait_log(r"retired \(exit code 0\)", count=2)
    with socket.create_connection(server.address, timeout=10) as new_client:
        lines = new_client.makefile("rb")
        assert lines.readline() == b"welcome\n"
        server.proc.send_signal(signal.SIGTERM)
        rest = [line for line in iter(lines.readline, b"")]
        assert rest[-1] == b"bye\n", rest
    code, log = server.stop()
    assert code == 0 and "Traceback" not in log, log


def worker_pid_of(sock):
    sock.sendall(b"pid")
    return int(sock.makefile("rb").readline())


def test_a_hung_worker_is_killed_with_its_stack_logged_and_replaced(supervised):
    server = supervised("--workers", "2", "--handler", "userhandlers.hangs:Hangs",
                        "--worker-timeout", "2")
    # Which worker accepts a client is the kernel's choice: 8 clients may all reach one.
    clients = [socket.create_connection(server.address, timeout=10) for _ in range(8)]
    try:
        by_worker = {}
        for client in clients:
            by_worker.setdefault(worker_pid_of(client), []).append(client)
        hung_pid = next(iter(by_worker))
        by_worker[hung_pid][0].sendall(b"hang")
        # The hung worker accepts no more: a client now reaches the other, and is served.
        during = socket.create_connection(server.address, timeout=10)
        clients.append(during)
        other_pid = worker_pid_of(during)
        assert other_pid != hung_pid
        by_worker.setdefault(other_pid, []).append(during)
        server.wait_log(rf"worker \d \(pid {hung_pid}\) silent for [\d.]+s \(--worker-timeout 2s\)"
                        r": stuck; killing it", timeout=20)
        server.wait_log(rf"\(pid {hung_pid}\) was stuck in \S*hangs\.py:1[23] in data_received, "
                        r"silent for [\d.]+s; its stack:", timeout=20)
        server.wait_log(r"worker \d \(pid \d+\) started", count=3)  # its replacement
        log = server.log()
        assert "most recent call first" in log and "exited while serving (killed by SIGABRT)" in log
        for client in by_worker[other_pid]:  # the other worker's clients saw nothing
            client.sendall(b"still here")
            assert recv_exactly(client, 10) == b"still here"
        for client in by_worker[hung_pid]:  # the hung worker's went with it
            assert recv_until_eof(client) == b""
        assert wait_for(lambda: len(live_children(server.pid)) == 2)
        assert hung_pid not in {pid_of_a_new_client(server) for _ in range(10)}
    finally:
        for client in clients:
            client.close()
    code, log = server.stop()
    assert code == 0, log


def pid_of_a_new_client(server):
    with socket.create_connection(server.address, timeout=10) as sock:
        return worker_pid_of(sock)


def test_systemd_hears_watchdog_1_while_every_worker_beats_and_not_while_one_hangs(
        supervised, tmp_path):
    notify, path = notify_socket(tmp_path)
    with notify:
        server = supervised("--workers", "2", "--handler", "userhandlers.hangs:Hangs",
                            "--worker-timeout", "6",
                            env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"})
        messages_until(notify, "READY=1")

        def watchdog_times(seconds):
            """When WATCHDOG=1 came, over the next `seconds`."""
            times, end = [], time.monotonic() + seconds
            notify.settimeout(0.1)
            while time.monotonic() < end:
                try:
                    if b"WATCHDOG=1" in notify.recv(4096):
                        times.append(time.monotonic())
                except TimeoutError:
                    pass
            return times

        healthy = watchdog_times(3.0)
        assert 4 <= len(healthy) <= 8, healthy  # every 0.5 s: half of WATCHDOG_USEC
        with socket.create_connection(server.address, timeout=10) as client:
            client.sendall(b"hang")
            end = time.monotonic() + 5.0
            hung = watchdog_times(5.0)
            # Its last beat is at most 1 s old as it hangs, and older than 2.5 s is not
            # fresh: from 3.5 s on, nothing, until it is killed at 6 s.
            assert not [t for t in hung if t > end - 1.0], (hung, end)
        server.wait_log(r"was stuck in \S*hangs\.py", timeout=20)
        server.wait_log(r"worker \d \(pid \d+\) started", count=3)
        assert len(watchdog_times(2.0)) >= 2  # the slot refilled: WATCHDOG=1 again
        code, log = server.stop()
    assert code == 0, log


# -- stop and reload are bounded, and leave every slot filled ---------------------------

def hang_one_worker(server):
    """Hang one worker's loop; (its pid, a client of the other worker, the hung client)."""
    hung = socket.create_connection(server.address, timeout=10)
    hung_pid = worker_pid_of(hung)
    hung.sendall(b"hang")
    other = socket.create_connection(server.address, timeout=10)  # the hung one accepts no more
    assert worker_pid_of(other) != hung_pid
    return hung_pid, other, hung


def test_a_stop_with_a_hung_worker_refuses_new_clients_and_ends_within_the_graceful_timeout(
        supervised):
    server = supervised("--workers", "2", "--handler", "userhandlers.hangs:Hangs",
                        "--worker-timeout", "0", "--graceful-timeout", "2", "--metrics-port", "0")
    hung_pid, other, hung = hang_one_worker(server)
    with other, hung:
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        server.wait_log(r"stopping: draining")  # the other worker; the listener is shut already
        assert os.path.exists(f"/proc/{hung_pid}")  # the hung one still holds the listener
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(server.address, timeout=10).close()
        assert scrape_whole(server, "/readyz") == (503, "draining\n")  # for a load balancer
        code = server.proc.wait(30)
        took = time.monotonic() - started
    log = server.log()
    assert re.search(rf"worker \d \(pid {hung_pid}\) still running 2s after the stop "
                     r"\(--graceful-timeout\); killing it", log), log
    assert f"(pid {hung_pid}) stopped (killed by SIGKILL)" in log, log
    assert code == 137 and "all workers stopped" in log, log  # 128 + SIGKILL: a worker was killed
    assert took < 2 + 5, took  # the bound plus a second, with room for a loaded machine
    assert not os.path.exists(f"/proc/{hung_pid}")


def test_a_reload_whose_new_code_hangs_at_import_is_refused_and_leaves_no_process(
        supervised, tmp_path):
    write_version(tmp_path, "v1")
    server = supervised("--workers", "2", "--handler", "versioned:Version",
                        "--worker-start-timeout", "2",
                        env={"PYTHONPATH": f"{tmp_path}{os.pathsep}{cli_env()['PYTHONPATH']}"})
    old = set(children(server.pid))
    source = (tmp_path / "versioned.py").read_text()
    (tmp_path / "versioned.py").write_text("import time\ntime.sleep(60)\n" + source)
    for attempt in (1, 2):  # and a retry leaks nothing either
        server.proc.send_signal(signal.SIGHUP)
        server.wait_log(r"reload refused: new workers not ready after 2s", count=attempt)
        server.wait_log(r"of the refused reload ended \(killed by SIGKILL\)", count=2 * attempt)
        assert set(children(server.pid)) == old  # counted: nothing else is alive, nor a zombie
        assert ask_version(server) == b"v1\n"
    write_version(tmp_path, "v2")
    server.proc.send_signal(signal.SIGHUP)
    server.wait_log(r"reload: 2 new worker\(s\) serving")
    assert wait_for(lambda: ask_version(server) == b"v2\n")
    code, log = server.stop()
    assert code == 0 and "Traceback" not in log, log


def test_a_refused_reload_tells_systemd_why_and_not_ready(supervised, tmp_path):
    notify, path = notify_socket(tmp_path)
    flag = tmp_path / "slow"
    with notify:
        server = supervised("--workers", "2", "--handler", "userhandlers.slowstart:SlowStart",
                            "--worker-start-timeout", "1",
                            env={"EVLOOP_TEST_SLOW": str(flag), "NOTIFY_SOCKET": path})
        messages_until(notify, "READY=1")
        flag.write_text("")
        server.proc.send_signal(signal.SIGHUP)
        messages_until(notify, "RELOADING=1")
        seen = []
        while not any("reload refused" in m for m in seen):
            seen.append(notify.recv(4096).decode())
        assert seen[-1] == ("STATUS=reload refused: new workers not ready after 1s "
                            "(--worker-start-timeout); 2 workers serving, 0 connections open"), seen
        assert not any("READY=1" in m for m in seen), seen
        server.wait_log(r"of the refused reload ended", count=2)
        notify.settimeout(0.5)
        with pytest.raises(TimeoutError):
            while True:  # nothing more but STATUS lines: the reload never completed
                assert b"READY=1" not in notify.recv(4096)
        flag.unlink()
        assert server.stop()[0] == 0


def test_an_old_worker_that_dies_during_a_refused_reload_is_replaced(supervised, tmp_path):
    flag = tmp_path / "slow"
    server = slow_start(supervised, flag)
    victim = children(server.pid)[0]
    flag.write_text("")
    server.proc.send_signal(signal.SIGHUP)
    server.wait_log(r"\) started", count=4)
    os.kill(victim, signal.SIGKILL)
    server.wait_log(rf"\(pid {victim}\) exited during a reload \(killed by SIGKILL\); its slot is "
                    r"the reload's")
    server.wait_log(r"reload refused")
    flag.unlink()  # the slot's new worker starts at once
    server.wait_log(r"worker slot \d is empty; starting a worker in it")
    server.wait_log(r"worker \d \(pid \d+\) serving")
    assert wait_for(lambda: len(live_children(server.pid)) == 2)
    assert victim not in live_children(server.pid)
    assert server.ask() == b"005hello"
    code, log = server.stop()
    assert code == 0 and "Traceback" not in log, log


def test_a_reload_whose_fork_fails_is_refused_and_is_not_retried(supervised):
    patch = """
import errno
import os
import pathlib
real_fork, forks = os.fork, []
def fork():
    forks.append(1)
    if len(forks) == 3:  # the reload's first
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")
    return real_fork()
os.fork = fork
"""
    server = supervised(argv=driven("--workers", "2", "--handler", "lenprefix", patch=patch))
    old = set(children(server.pid))
    server.proc.send_signal(signal.SIGHUP)
    server.wait_log(r"reload refused: a new worker could not be forked")
    server.wait_log(r"of the refused reload ended", count=1)
    assert wait_for(lambda: set(live_children(server.pid)) == old)
    log = server.log()
    assert "cannot start worker 0: fork: Resource temporarily unavailable\n" in log, log
    assert "trying again" not in log and "is empty" not in log, log
    assert server.ask() == b"005hello"
    assert server.stop()[0] == 0


# -- a reload reloads the handler wherever it is installed --------------------------------

VENV_HANDLER = """
import evloop
from vhandler import {ext}


class Version(evloop.Handler):
    def data_received(self, data):
        return b"{version}\\n"
"""


def install_version(site, version, ext):
    package = site / "vhandler"
    package.mkdir(exist_ok=True)
    path = package / "__init__.py"
    before = path.stat().st_mtime if path.exists() else time.time()
    path.write_text(VENV_HANDLER.format(version=version, ext=ext))
    os.utime(path, (before + 2, before + 2))  # as pip would: a new file, a new mtime


def test_a_reload_loads_afresh_a_handler_pip_installed_in_a_venv(supervised, tmp_path):
    if not getattr(_bisect, "__file__", None):
        pytest.skip("this Python has _bisect built in: no C extension file to install")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=60)
    python = venv / "bin" / "python"
    site = pathlib.Path(subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True, timeout=60).stdout.strip())
    install_version(site, "v1", "_bisect")
    # A C extension inside the package: the reload names it, and cannot load it afresh.
    shutil.copy(_bisect.__file__, site / "vhandler" / os.path.basename(_bisect.__file__))
    assert sysconfig.get_config_var("EXT_SUFFIX") in os.path.basename(_bisect.__file__)
    server = supervised(argv=[str(python), "-m", "evloop.serve", "--port", "0", "--workers", "2",
                              "--handler", "vhandler:Version"])
    assert ask_version(server) == b"v1\n"
    install_version(site, "v2", "_bisect")  # pip install -U, into site-packages
    server.proc.send_signal(signal.SIGHUP)
    server.wait_log(r"reload: 2 new worker\(s\) serving")
    assert wait_for(lambda: ask_version(server) == b"v2\n")
    assert {ask_version(server) for _ in range(10)} == {b"v2\n"}
    log = server.log()
    assert log.count("reload: vhandler._bisect cannot be loaded afresh (C extension: the code "
                     "loaded at start stays until a restart)") == 1, log
    code, log = server.stop()
    assert code == 0 and "Traceback" not in log, log


def test_a_reload_s_old_workers_leave_their_slots_pages_to_the_new_ones(supervised):
    server = supervised("--workers", "2", "--handler", "lenprefix", "--metrics-port", "0",
                        "--reload-grace", "30")
    held = [socket.create_connection(server.address, timeout=10) for _ in range(6)]
    try:
        for sock in held:  # the old workers retire holding these clients
            sock.sendall(b"005hello")
            assert recv_exactly(sock, 8) == b"005hello"
        server.proc.send_signal(signal.SIGHUP)
        server.wait_log(r"reload: 2 new worker\(s\) serving")
        server.wait_log(r"retiring: no new connections; serving [1-9]")
        for _ in range(10):  # every page is the new workers', none the old ones'
            found = figures(server)
            assert [sample(found, "evloop_connections_open", worker=w, direction="in")
                    for w in "01"] == [0, 0]
            assert sample(found, "evloop_supervisor_workers", state="retiring") >= 1
            assert scrape_whole(server, "/readyz") == (200, "ready\n")
    finally:
        for sock in held:
            sock.close()
    code, log = server.stop()
    assert code == 0 and "Traceback" not in log, log


def test_a_hung_worker_is_left_out_of_the_scrape_and_counted_once_killed(supervised):
    server = supervised("--workers", "2", "--handler", "userhandlers.hangs:Hangs",
                        "--worker-timeout", "3", "--metrics-port", "0")
    with socket.create_connection(server.address, timeout=10) as client:
        client.sendall(b"hang")
        time.sleep(0.5)  # pacing: its loop is in the handler's while True
        found = figures(server)  # answered in about a second, not stuck with it
        assert sorted(sample(found, "evloop_worker_up", worker=w) for w in "01") == [0, 1]
        server.wait_log(r"was stuck in \S*hangs\.py", timeout=20)
        server.wait_log(r"worker \d \(pid \d+\) serving")  # its replacement
    found = figures(server)
    assert [sample(found, "evloop_worker_up", worker=w) for w in "01"] == [1, 1]
    assert sample(found, "evloop_supervisor_workers_killed_total", reason="hung") == 1
    code, log = server.stop()
    assert code == 0, log
