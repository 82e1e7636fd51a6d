"""evloop.server.listening: sockets bound here, passed by number, or activated by systemd."""

import os
import shutil
import signal
import socket
import subprocess
import sys

import pytest

from evloop.server import listening
from evloop.settings.config import Config
from tests.conftest import ROOT
from tests.conftest import cli_env
from tests.conftest import recv_exactly
from tests.conftest import wait_for


def test_listen_fds_reads_the_protocol_and_removes_its_variables():
    environ = {"LISTEN_PID": "4242", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "web:dns", "HOME": "/"}
    assert listening.listen_fds(environ, pid=4242) == [(3, "web"), (4, "dns")]
    assert environ == {"HOME": "/"}  # a child started later must not take them too


def test_listen_fds_meant_for_another_process_are_not_taken():
    environ = {"LISTEN_PID": "1", "LISTEN_FDS": "1"}
    assert listening.listen_fds(environ, pid=4242) == []
    assert environ == {}
    assert listening.listen_fds({}, pid=4242) == []


def test_listen_fds_without_names_are_unknown():
    assert listening.listen_fds({"LISTEN_PID": "7", "LISTEN_FDS": "1"}, pid=7) == [(3, "unknown")]


@pytest.mark.parametrize("count", ["two", "-1"])
def test_a_bad_listen_fds_is_one_line(count):
    with pytest.raises(listening.ListenerError, match="LISTEN_FDS="):
        listening.listen_fds({"LISTEN_PID": "7", "LISTEN_FDS": count}, pid=7)


def duplicate(sock):
    return os.dup(sock.fileno())  # adopt() takes ownership of what it is given


def test_adopt_takes_a_listener_and_a_udp_socket():
    with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        tcp.bind(("127.0.0.1", 0))
        tcp.listen()
        udp.bind(("127.0.0.1", 0))
        found = listening.adopt([(duplicate(tcp), "web"), (duplicate(udp), "")], "systemd")
        try:
            assert found.address == tcp.getsockname() and found.udp is not None
            assert found.origin == "systemd"
            config = found.configure(Config())
            assert config.udp and config.port == tcp.getsockname()[1]
        finally:
            found.close()


def test_adopt_refuses_what_it_cannot_serve():
    with socket.socket() as idle:
        with pytest.raises(listening.ListenerError, match="does not listen"):
            listening.adopt([(duplicate(idle), "")], "--fd")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        with pytest.raises(listening.ListenerError, match="no listening stream socket"):
            listening.adopt([(duplicate(udp), "")], "--fd")
    read, write = os.pipe()
    os.close(write)
    with pytest.raises(listening.ListenerError, match=f"--fd socket {read}: not a socket"):
        listening.adopt([(read, "")], "--fd")
    os.close(read)


def test_adopt_serves_one_stream_listener():
    with socket.socket() as one, socket.socket() as two:
        for sock in (one, two):
            sock.bind(("127.0.0.1", 0))
            sock.listen()
        with pytest.raises(listening.ListenerError, match="a second stream listener"):
            listening.adopt([(duplicate(one), ""), (duplicate(two), "api")], "systemd")


def test_bind_makes_and_removes_a_unix_socket_file(tmp_path):
    path = str(tmp_path / "s.sock")
    found = listening.bind(Config(unix=path))
    assert os.path.exists(path) and found.configure(Config()).unix == path
    found.stream.close()  # as the server does, before the listeners are closed
    found.close()
    assert not os.path.exists(path)



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


def try_connect(port):
    try:
        return socket.create_connection(("127.0.0.1", port), timeout=10)
    except ConnectionRefusedError:
        return None


SYSTEMD_SOCKET_ACTIVATE = shutil.which("systemd-socket-activate")


@pytest.mark.skipif(SYSTEMD_SOCKET_ACTIVATE is None,
                    reason="systemd-socket-activate is not installed (Debian's systemd package; "
                           ".ci/run installs it)")
def test_systemd_socket_activation_serves_the_first_client(supervised):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    first = []

    def first_client():  # it waits in the accept queue of the socket systemd made
        assert wait_for(lambda: first.append(try_connect(port)) or first[-1] is not None)
        first[-1].sendall(b"005first")

    server = supervised(argv=[SYSTEMD_SOCKET_ACTIVATE, "-l", f"127.0.0.1:{port}",
                              "--fdname", "evloop", "-E", "PYTHONPATH", sys.executable, "-m",
                              "evloop.serve", "--handler", "lenprefix", "--workers", "2"],
                        before_line=first_client)
    assert server.port == port and "inherited listener" in server.line
    with first[-1]:
        assert recv_exactly(first[-1], 8) == b"005first"  # the first client is served
    assert server.ask() == b"005hello"
    code, log = server.stop()
    assert code == 0 and "Traceback" not in log, log
