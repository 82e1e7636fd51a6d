"""evloop.server.listening: sockets bound here, passed by number, or activated by systemd."""

import os
import socket

import pytest

from evloop.server import listening
from evloop.settings.config import Config


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


def test_where_names_the_listening_address():
    assert listening.where(Config(port=80)) == "127.0.0.1:80"
    assert listening.where(Config(host="::1", port=80)) == "[::1]:80"
    assert listening.where(Config(unix="/run/evloop.sock")) == "unix:/run/evloop.sock"
