"""Answer to 08-unix-stale: clear a stale Unix socket path, and name the client.

A server that dies leaves its socket file behind, and bind() on the path
then fails with EADDRINUSE.  A file at the path may be removed only if it is
a socket and nothing answers a connect on it (ECONNREFUSED: no listener);
a live server's socket, or any other file, is somebody's.  evloop does the
same before it binds (`--unix`).  A Unix client has no address: the kernel
tells the server its process and user (SO_PEERCRED), and evloop names the
peer by them.

Serve it by hand: `python3 docs/answers/08-unix-stale.py /tmp/whoami.sock`.
"""

import errno
import os
import socket
import stat
import sys

import evloop


def remove_if_stale(path):
    """Make `path` free for bind(): remove a dead server's socket file; raise
    FileExistsError for a live server's, or for a file that is not a socket."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise FileExistsError(errno.EEXIST, "the path exists and is not a socket", path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except ConnectionRefusedError:
            os.unlink(path)  # nobody answers: left by a server that died
            return
    raise FileExistsError(errno.EADDRINUSE, "a live server is listening on it", path)


class WhoAmI(evloop.LineHandler):
    """Each line is answered with who is at the other end."""

    def line_received(self, line):
        return f"you are {self.context.peer}\n".encode()


if __name__ == "__main__":
    remove_if_stale(sys.argv[1])
    evloop.run(WhoAmI, evloop.Config(unix=sys.argv[1], unix_mode=0o600))
