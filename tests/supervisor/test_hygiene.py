"""evloop.supervisor.hygiene: the user a server serves as, its pid file, and a
worker's death with its supervisor; with real processes."""

import os
import pwd
import signal
import socket
import subprocess
import sys
import textwrap

import pytest

from evloop.supervisor import hygiene
from tests.conftest import ROOT
from tests.conftest import ServerProcess
from tests.conftest import children
from tests.conftest import cli_env
from tests.conftest import live_children
from tests.conftest import wait_for

pytestmark = pytest.mark.timeout(60)


def alive(pid):
    """Running, not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def uid_of(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("Uid:")).split()[1])
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="changing user needs root; this "
                               "test runs as uid %d" % os.geteuid())


def test_no_user_and_no_group_is_nothing_to_do():
    assert hygiene.lookup(None, None) is None
    hygiene.become(None)  # a no-op


def test_names_that_do_not_exist_are_one_line_naming_the_field():
    with pytest.raises(ValueError, match=r"^user \('no-such-user-here'\) is not a user on this "
                                         r"machine$"):
        hygiene.lookup("no-such-user-here", None)
    with pytest.raises(ValueError, match=r"^group \('no-such-group-here'\) is not a group"):
        hygiene.lookup(None, "no-such-group-here")


def test_a_user_is_found_by_name_or_number_with_its_group():
    me = pwd.getpwuid(os.geteuid())
    by_name = hygiene.lookup(me.pw_name, None)
    assert by_name == hygiene.Identity(me.pw_uid, me.pw_gid, me.pw_name)
    assert hygiene.lookup(str(me.pw_uid), None) == by_name


def test_only_root_may_change_user(monkeypatch):
    nobody = pwd.getpwnam("nobody")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(ValueError, match=r"can be changed by root only; this process runs as "
                                         r"uid 1000"):
        hygiene.lookup("nobody", None)
    assert nobody.pw_uid != 1000


def test_a_pid_file_is_written_whole_and_removed_only_while_it_is_ours(tmp_path):
    path = tmp_path / "evloop.pid"
    pid_file = hygiene.PidFile(str(path))
    pid_file.write()
    assert path.read_text() == f"{os.getpid()}\n" and os.listdir(tmp_path) == ["evloop.pid"]
    pid_file.remove()
    assert not path.exists()
    pid_file.write()
    path.write_text("4242\n")  # a newer server took the path over
    pid_file.remove()
    assert path.read_text() == "4242\n"
    with pytest.raises(OSError):
        hygiene.PidFile(str(tmp_path / "missing" / "evloop.pid")).write()
    assert os.listdir(tmp_path) == ["evloop.pid"]  # no temporary file left behind
    hygiene.PidFile(None).write()  # none asked for


ORPHAN = textwrap.dedent("""
    import os, sys, time
    from evloop.supervisor import hygiene
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        hygiene.die_with_parent(parent)
        print(os.getpid(), flush=True)
        time.sleep(60)
        os._exit(0)
    time.sleep(60)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_worker_dies_with_its_parent_however_the_parent_dies():
    parent = subprocess.Popen([sys.executable, "-c", ORPHAN], stdout=subprocess.PIPE, text=True,
                              env=cli_env(), cwd=ROOT)
    with parent:
        child = int(parent.stdout.readline())
        assert alive(child)
        parent.kill()  # SIGKILL: it has no chance to tell anyone
        parent.wait()
        assert wait_for(lambda: not alive(child))


def test_pid_file_names_the_process_to_signal_and_goes_at_exit(tmp_path, serve):
    path = tmp_path / "run" / "evloop.pid"
    path.parent.mkdir()
    server = serve("--handler", "lenprefix", "--pid-file", str(path))
    assert path.read_text() == f"{server.pid}\n"
    assert server.stop()[0] == 0 and not path.exists()


def test_pid_file_names_the_supervisor(tmp_path, supervised):
    path = tmp_path / "evloop.pid"
    server = supervised("--workers", "2", "--handler", "lenprefix", "--pid-file", str(path))
    assert path.read_text() == f"{server.pid}\n"
    code, log = server.stop()
    assert code == 0 and not path.exists(), log


def test_a_pid_file_that_cannot_be_written_is_one_line_and_exit_2(tmp_path):
    result = subprocess.run([sys.executable, "-m", "evloop.serve", "--port", "0", "--pid-file",
                             str(tmp_path / "missing" / "evloop.pid")], capture_output=True,
                            text=True, env=cli_env(), cwd=ROOT, timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"evloop.serve: error: --pid-file ({tmp_path}/missing/evloop.pid): cannot "
        f"write it: No such file or directory"], result.stderr


def free_low_port():
    """A port below 1024 that 127.0.0.1 has free (only root may bind it)."""
    for port in range(900, 1000):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    pytest.skip("no free port between 900 and 999 on 127.0.0.1")


@ROOT_ONLY
def test_a_single_server_binds_a_low_port_as_root_then_serves_as_the_user(serve):
    nobody = pwd.getpwnam("nobody")
    server = ServerProcess("--handler", "lenprefix", "--user", "nobody",
                           port=str(free_low_port()))
    try:
        assert uid_of(server.pid) == nobody.pw_uid
        with server.connect() as sock:
            sock.sendall(b"002hi")
            assert sock.recv(10) == b"002hi"
    finally:
        code, err = server.stop()
    assert code == 0, err


@ROOT_ONLY
def test_workers_serve_as_the_user_and_the_supervisor_keeps_root(supervised):
    nobody = pwd.getpwnam("nobody")
    server = supervised("--workers", "2", "--handler", "lenprefix", "--user", "nobody")
    workers = children(server.pid)
    assert uid_of(server.pid) == 0
    assert [uid_of(pid) for pid in workers] == [nobody.pw_uid] * 2
    assert server.ask() == b"005hello"
    os.kill(workers[0], signal.SIGKILL)  # a replacement gives up root too
    server.wait_log(r"worker \d \(pid \d+\) serving")  # its replacement
    replacement = set(live_children(server.pid)) - set(workers)
    assert len(replacement) == 1 and uid_of(replacement.pop()) == nobody.pw_uid
    code, log = server.stop()
    assert code == 0, log


def test_a_supervisor_killed_outright_takes_its_workers_and_frees_the_port(supervised):
    server = supervised("--workers", "2", "--handler", "userhandlers.hangs:Hangs",
                        "--worker-timeout", "0")
    workers = children(server.pid)
    hung = socket.create_connection(server.address, timeout=10)
    with hung:
        hung.sendall(b"hang")  # one of them is stuck: it could never notice by itself
        os.kill(server.pid, signal.SIGKILL)
        server.proc.wait(10)
        assert wait_for(lambda: not any(alive(pid) for pid in workers))
    with socket.socket() as sock:  # the port is free for the next start
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(server.address)
