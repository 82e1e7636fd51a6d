"""evloop.server.sockets: listening sockets (TCP, UDP, Unix, with the rule for a socket
file left behind), the one-line reasons a bind fails, and the descriptor limit."""

import errno
import os
import socket
import stat
import sys
import types

import pytest

from evloop.server import sockets
from evloop.server.sockets import BindError
from evloop.server.sockets import bind_socket
from evloop.server.sockets import bind_unix
from evloop.server.sockets import describe_bind_error
from evloop.server.sockets import file_identity
from evloop.server.sockets import remove_unix
from evloop.server.sockets import unix_peer


def test_a_tcp_socket_is_bound_listening_and_non_blocking():
    sock = bind_socket("127.0.0.1", 0, socket.SOCK_STREAM, backlog=5)
    with sock:
        assert not sock.getblocking() and sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
        assert not sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
        with socket.create_connection(sock.getsockname(), timeout=5):
            pass  # the kernel completes it: listen() was called


def test_reuse_port_lets_a_second_socket_bind_the_same_port():
    first = bind_socket("127.0.0.1", 0, socket.SOCK_STREAM, reuse_port=True)
    with first:
        port = first.getsockname()[1]
        with bind_socket("127.0.0.1", port, socket.SOCK_STREAM, reuse_port=True) as second:
            assert second.getsockname() == first.getsockname()
        with pytest.raises(OSError) as caught:
            bind_socket("127.0.0.1", port, socket.SOCK_STREAM)
        assert caught.value.errno == errno.EADDRINUSE


def test_udp_and_unlistened_sockets_are_only_bound():
    with bind_socket("127.0.0.1", 0, socket.SOCK_DGRAM) as udp:
        assert udp.type == socket.SOCK_DGRAM and not udp.getblocking()
    with bind_socket("127.0.0.1", 0, socket.SOCK_STREAM, listen=False) as sock:
        assert not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)


def test_bind_unix_refuses_what_it_must(tmp_path):
    path = tmp_path / "lib.sock"
    with bind_unix(str(path), mode=0o660) as first:
        with pytest.raises(FileExistsError, match="live server"):
            bind_unix(str(path))
        assert first.family == socket.AF_UNIX
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o660 and not first.getblocking()


def test_a_socket_file_nobody_answers_on_is_replaced(tmp_path):
    path = str(tmp_path / "stale.sock")
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(path)  # bound, never listening, then gone: what a crash leaves
    with bind_unix(path) as sock:
        assert sock.getsockname() == path


def test_a_file_that_is_not_a_socket_is_never_taken(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("mine")
    with pytest.raises(FileExistsError, match="exists and is not a socket"):
        bind_unix(str(path))
    assert path.read_text() == "mine"


def test_only_our_own_socket_file_is_removed(tmp_path):
    path = str(tmp_path / "ours.sock")
    assert file_identity(path) is None
    with bind_unix(path):
        ours = file_identity(path)
    os.rename(path, path + ".old")  # kept, so that its inode cannot be the successor's
    with bind_unix(path):  # a successor's file at the same path
        remove_unix(path, ours)
        assert os.path.exists(path)
        remove_unix(path, file_identity(path))
        assert not os.path.exists(path)
    remove_unix(path, None)  # nothing bound: nothing to remove


def test_a_unix_peer_is_named_by_its_process():
    left, right = socket.socketpair()
    with left, right:
        assert unix_peer(left) == f"unix:pid={os.getpid()},uid={os.getuid()}"


@pytest.mark.parametrize("error, where, line", [
    (OSError(errno.EADDRINUSE, "Address in use"), "127.0.0.1:80",
     "cannot listen on 127.0.0.1:80: address already in use (another server there?)"),
    (OSError(errno.EACCES, "Permission denied"), "0.0.0.0:80",
     "cannot listen on 0.0.0.0:80: permission denied (ports below 1024 need privileges)"),
    (OSError(errno.EACCES, "Permission denied"), "unix:/run/x.sock",
     "cannot listen on unix:/run/x.sock: permission denied (can this user write to that directory?)"),
    (OSError(errno.EADDRNOTAVAIL, "Cannot assign"), "10.9.9.9:80",
     "cannot listen on 10.9.9.9:80: no such address on this machine"),
    (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "nowhere:80",
     "cannot listen on nowhere:80: unknown host (Name or service not known)"),
    (FileExistsError(errno.EEXIST, "the path exists and is not a socket", "/x"), "unix:/x",
     "cannot listen on unix:/x: the path exists and is not a socket"),
    (OSError(errno.EMFILE, "Too many open files"), "127.0.0.1:80",
     "cannot listen on 127.0.0.1:80: Too many open files"),
    (BindError(OSError(errno.EADDRINUSE, "Address in use"), "127.0.0.1:9100"), "127.0.0.1:80",
     "cannot listen on 127.0.0.1:9100: address already in use (another server there?)"),
])
def test_a_failed_bind_is_one_line_saying_why(error, where, line):
    assert describe_bind_error(error, where) == line


class FakeResource(types.SimpleNamespace):
    """resource's three names, with a hard limit only a privileged process may raise."""

    RLIMIT_NOFILE = 7
    RLIM_INFINITY = -1

    def __init__(self, soft, hard, privileged):
        super().__init__(limits=(soft, hard), privileged=privileged)

    def getrlimit(self, which):
        return self.limits

    def setrlimit(self, which, limits):
        if limits[1] > self.limits[1] and not self.privileged:
            raise ValueError("not allowed to raise maximum limit")
        self.limits = limits


@pytest.fixture
def fake(monkeypatch):
    def install(soft, hard, privileged=False):
        resource = FakeResource(soft, hard, privileged)
        monkeypatch.setitem(sys.modules, "resource", resource)
        return resource
    return install


def test_the_soft_limit_rises_to_the_hard_one(fake):
    resource = fake(1024, 4096)
    assert sockets.raise_fd_limit() == 4096 and resource.limits == (4096, 4096)


def test_past_the_hard_limit_where_the_process_may(fake):
    resource = fake(1024, 20000, privileged=True)
    assert sockets.raise_fd_limit(100064) == 100064 and resource.limits == (100064, 100064)


def test_otherwise_the_hard_limit_stands(fake):
    resource = fake(1024, 20000)
    assert sockets.raise_fd_limit(100064) == 20000 and resource.limits == (20000, 20000)


def test_a_wish_below_the_hard_limit_or_an_infinite_one_lowers_nothing(fake):
    resource = fake(1024, 20000, privileged=True)
    assert sockets.raise_fd_limit(5000) == 20000 and resource.limits == (20000, 20000)
    resource = fake(-1, -1, privileged=True)
    assert sockets.raise_fd_limit(100064) == -1 and resource.limits == (-1, -1)
