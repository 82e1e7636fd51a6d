"""Exercise 08-unix-stale: a Unix socket server, after a crash.

Chapter 8 (docs/08-serving-for-real.md, "Exercises").
Difficulty: ★★☆ medium.  Time: about 30 minutes.

A server that dies leaves its socket file behind, and the next server's
bind() on that path fails.  The task, in two parts:

* write `remove_if_stale(path)`, what a server does before it binds: if
  nothing is at the path, nothing; if a socket file is there and a connect
  to it is refused (nobody listens), remove it; if a server answers on it,
  or the file is not a socket at all (`os.stat`, `stat.S_ISSOCK`), raise
  FileExistsError and leave the file alone;
* write `WhoAmI`, a line handler that answers each line with `you are PEER`
  and a newline, PEER being `self.context.peer`, and serve it on a Unix
  socket with mode 600 (`evloop.Config(unix=PATH, unix_mode=0o600)`).

Done when a stale socket file is removed, a live server's file and a
regular file are refused and kept, and WhoAmI's answer names your own
process's pid and uid; the socket file has mode 600 while the server runs
and is gone after a clean stop.

Try it:  python3 docs/exercises/08-unix-stale/starter.py /tmp/whoami.sock
         python3 -c "import socket; s = socket.socket(socket.AF_UNIX); s.connect('/tmp/whoami.sock'); s.sendall(b'who?\\n'); print(s.recv(100))"
Grade it:  python3 -m docs.grade 08-unix-stale docs/exercises/08-unix-stale/starter.py
"""

import sys

import evloop


def remove_if_stale(path):
    """Make `path` free for bind(): remove a dead server's socket file; raise
    FileExistsError for a live server's, or for a file that is not a socket."""
    raise NotImplementedError("remove_if_stale")


class WhoAmI(evloop.LineHandler):
    """Each line is answered with who is at the other end."""

    def line_received(self, line):
        raise NotImplementedError("WhoAmI.line_received")


if __name__ == "__main__":
    remove_if_stale(sys.argv[1])
    evloop.run(WhoAmI, evloop.Config(unix=sys.argv[1], unix_mode=0o600))
