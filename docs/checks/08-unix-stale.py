"""08-unix-stale: a Unix socket server that comes back after a crash, and knows who called.

The student's `remove_if_stale(path)` does what a server must before it
binds a Unix socket path: nothing if the path is free; remove a socket file
that nobody answers on (left by a server that died); and refuse, with
FileExistsError, a path that is not a socket or on which a live server
listens.  `WhoAmI` answers each line with `you are PEER`.  Judged: the four
cases of the path; and, served on a Unix socket with mode 600, WhoAmI names
this very process by pid and uid, the file has mode 600 while the server
runs and is gone after a clean stop.
"""

import os
import socket
import stat
import tempfile
from typing import Callable

from docs.checks import _kit

TITLE = "A Unix socket server, after a crash"
CHAPTER = "08-serving-for-real.md"
LEVEL = 2
MINUTES = 30


def refuses(remove_if_stale: Callable[[str], object], path: str) -> bool:
    try:
        remove_if_stale(path)
    except FileExistsError:
        return True
    return False


def grade(student: _kit.Student) -> str:
    remove_if_stale = student.need("remove_if_stale")
    handler = student.need("WhoAmI")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "app.sock")
        remove_if_stale(path)  # nothing there: nothing to do, no error
        dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        dead.bind(path)
        dead.listen()
        dead.close()  # a server that died: its file stays, nobody answers on it
        _kit.check(os.path.exists(path), "the grader could not leave a stale socket file")
        _kit.expect(not refuses(remove_if_stale, path) and not os.path.exists(path),
                    "a stale socket file (nobody listening) was not removed")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as live:
            live.bind(path)
            live.listen()
            _kit.expect(refuses(remove_if_stale, path) and os.path.exists(path),
                        "a live server's socket file was not refused with FileExistsError, "
                        "or was removed")
        os.unlink(path)
        with open(path, "w") as f:
            f.write("not a socket")
        _kit.expect(refuses(remove_if_stale, path) and os.path.exists(path),
                    "a regular file at the path was not refused with FileExistsError, or was removed")
        os.unlink(path)
        with _kit.served(handler, unix=path, unix_mode=0o600):
            mode = stat.S_IMODE(os.stat(path).st_mode)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(5)
                sock.connect(path)
                sock.sendall(b"who?\n")
                answer = _kit.recv_until_eof_or_line(sock)
        left_behind = os.path.exists(path)
    _kit.expect(f"pid={os.getpid()}" in answer and f"uid={os.getuid()}" in answer,
                f"WhoAmI's answer does not name this process (pid {os.getpid()}): {answer!r}")
    _kit.expect(mode == 0o600, f"the socket file's mode was {mode:o}, not 600")
    _kit.expect(not left_behind, "the socket file was left behind after a clean stop")
    return f"stale files removed, live ones and others refused; WhoAmI said {answer!r}"
