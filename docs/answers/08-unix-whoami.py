"""Chapter 8, exercise 2: a Unix socket server that knows who called.

The exercise: serve a handler on a Unix stream socket
(`Config(unix=PATH, unix_mode=0o600)`, `--unix PATH --unix-mode 600`) that
answers each line with who is at the other end (`context.peer`).  A Unix
client has no address; the kernel tells the server the client's process
and user (SO_PEERCRED), and evloop names the peer by them.

Done when: the answer names this very process's pid and uid, the socket
file exists with mode 600 (only its owner may connect) while the server
runs, and it is gone once the server has stopped.

Run it: python3 docs/answers/08-unix-whoami.py
"""

import os
import socket
import stat
import tempfile

import _kit
import evloop


class WhoAmI(evloop.LineHandler):
    """The solution."""

    def line_received(self, line):
        return f"you are {self.context.peer}\n".encode()


def main():
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "whoami.sock")
        with _kit.served(WhoAmI, unix=path, unix_mode=0o600):
            mode = stat.S_IMODE(os.stat(path).st_mode)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(10)
                sock.connect(path)
                sock.sendall(b"who?\n")
                answer = sock.recv(256).decode().strip()
        left_behind = os.path.exists(path)
    _kit.check(f"pid={os.getpid()}" in answer and f"uid={os.getuid()}" in answer,
               f"the answer does not name this process (pid {os.getpid()}): {answer!r}")
    _kit.check(mode == 0o600, f"the socket file's mode is {mode:o}, not 600")
    _kit.check(not left_behind, "the socket file was left behind after a clean stop")
    print(answer)
    _kit.ok("over a Unix socket, the server names its client by pid and uid")


if __name__ == "__main__":
    main()
