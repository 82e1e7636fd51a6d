"""evloop.supervisor.signals: the one table of what each signal does, for a
single server and a supervisor, with real processes; and a signal sent to the
whole process group (Ctrl-\\ in a terminal) stops the server, not its workers."""

import logging
import os
import signal

import pytest

from evloop.supervisor import signals
from tests.conftest import children
from tests.conftest import recv_exactly
from tests.conftest import wait_for

pytestmark = pytest.mark.timeout(60)


def test_the_table_names_a_reason_for_every_ignored_signal(caplog):
    assert signal.SIGQUIT in signals.STOP and signal.SIGHUP not in signals.STOP
    with caplog.at_level(logging.WARNING, logger="evloop"):
        for signum in signals.IGNORED:
            signals.say_ignored(signum)
    assert [r.getMessage() for r in caplog.records] == [
        "SIGUSR1: logs go to stderr, and no log file is open to reopen; ignored",
        "SIGUSR2: no binary upgrade here: SIGHUP reloads the handler's code; ignored"]
    # Every signal taken is left to the supervisor by its workers.
    assert set(signals.STOP) | set(signals.IGNORED) | {signal.SIGHUP} == \
        set(signals.SUPERVISOR_DECIDES)


def ask(server):
    with server.connect() as sock:
        sock.sendall(b"005hello")
        return recv_exactly(sock, 8)


def test_a_single_server_names_usr1_and_usr2_serves_on_and_stops_on_sigquit(serve):
    server = serve("--handler", "lenprefix")
    for name in ("SIGUSR1", "SIGUSR2"):
        server.proc.send_signal(getattr(signal, name))
        server.wait_stderr(rf"{name}: .*; ignored")
        assert ask(server) == b"005hello" and server.proc.poll() is None
    code, err = server.stop(signal.SIGQUIT)
    assert code == 0 and "stopping: draining" in err and "Traceback" not in err, err


def test_a_supervisor_names_usr1_and_usr2_and_sigquit_drains_every_worker(supervised):
    server = supervised("--workers", "2", "--handler", "lenprefix")
    workers = set(children(server.pid))
    for name in ("SIGUSR1", "SIGUSR2"):
        server.proc.send_signal(getattr(signal, name))
        server.wait_log(rf"{name}: .*; ignored")
    assert server.ask() == b"005hello" and set(children(server.pid)) == workers
    code, log = server.stop(signal.SIGQUIT)
    assert code == 0 and log.count("stopping: draining") == 2, log
    assert log.count(") stopped (exit code 0)") == 2 and "Traceback" not in log, log


@pytest.mark.parametrize("name", ["SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGINT"])
def test_a_signal_to_the_whole_process_group_is_the_supervisor_s_to_decide(supervised, name):
    server = supervised("--workers", "2", "--handler", "lenprefix")
    workers = set(children(server.pid))
    os.killpg(server.pid, getattr(signal, name))  # as a terminal sends Ctrl-\ or Ctrl-C
    if name in ("SIGUSR1", "SIGUSR2"):  # said once, by the supervisor; no worker died of it
        server.wait_log(rf"{name}: .*; ignored")
        assert server.ask() == b"005hello"
        assert wait_for(lambda: set(children(server.pid)) == workers)
        assert server.log().count(f"{name}:") == 1, server.log()
        code, log = server.stop()
    else:
        code, log = server.proc.wait(30), server.log()
    assert code == 0 and log.count(") stopped (exit code 0)") == 2, log
    assert "core dumped" not in log and "Traceback" not in log, log


def test_sighup_to_the_whole_process_group_is_one_reload_and_leaves_every_slot_filled(
        supervised):
    server = supervised("--workers", "2", "--handler", "lenprefix")
    old = set(children(server.pid))
    os.killpg(server.pid, signal.SIGHUP)  # a terminal that hangs up sends it to every process
    server.wait_log(r"reload: 2 new worker\(s\) serving")
    assert wait_for(lambda: len(set(children(server.pid)) - old) == 2 and
                    not set(children(server.pid)) & old)
    assert server.ask() == b"005hello"
    code, log = server.stop()
    assert code == 0 and "refused" not in log and "Traceback" not in log, log
