"""Chapter 7, exercise 2: SIGHUP picks up a changed handler, and drops nobody.

The exercise: serve a handler of your own with `--workers 2`, keep one
client connected, change the handler's source (its answer goes from `v1` to
`v2`), and send the supervisor SIGHUP.  New workers import the code afresh;
the old ones stop accepting and serve the connections they hold until those
close (or `--reload-grace` runs out).

Done when: after SIGHUP a new client is answered `v2`, and the client that
was connected before the reload is still answered `v1` on its connection.

The handler's module is written to a scratch folder (it is the file you
would edit), with its modification time moved forward so that Python's
cached bytecode of the old version is not used.

Run it: python3 docs/answers/07-reload.py
"""

import os
import signal
import tempfile
import time

import _kit

SOURCE = '''\
import evloop


class Versioned(evloop.Handler):
    def data_received(self, data):
        return b"{version}\\n"
'''


def write_handler(folder, version, ahead=0):
    path = os.path.join(folder, "versioned.py")
    with open(path, "w") as f:
        f.write(SOURCE.format(version=version))
    now = time.time() + ahead
    os.utime(path, (now, now))  # a newer mtime than the .pyc of the version before


def ask(sock):
    sock.sendall(b"?")
    return sock.recv(64).decode().strip()


def main():
    with tempfile.TemporaryDirectory() as folder:
        write_handler(folder, "v1")
        with _kit.process("--handler", "versioned:Versioned", "--workers", "2",
                          "--reload-grace", "20", paths=[folder]) as (server, port):
            with _kit.connect(port) as old:
                _kit.check(ask(old) == "v1", "the first version does not answer v1")
                write_handler(folder, "v2", ahead=10)
                server.send_signal(signal.SIGHUP)
                answer, deadline = None, time.monotonic() + 10
                while answer != "v2" and time.monotonic() < deadline:
                    with _kit.connect(port) as new:
                        answer = ask(new)
                    time.sleep(0.05)
                _kit.check(answer == "v2", f"after SIGHUP new clients still get {answer!r}")
                _kit.check(ask(old) == "v1",
                           "the client connected before the reload lost its old worker")
    _kit.ok("after SIGHUP new clients get v2 while the client from before still gets v1")


if __name__ == "__main__":
    main()
