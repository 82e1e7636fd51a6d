"""Chapter 9, exercise 2: a backend that refuses, a backend that never answers.

The exercise: write a handler that opens a connection to its backend with
`context.connect(address, handler, timeout=0.5)` and, when that connection
cannot be made, tells its client why in one line (`* backend refused` or
`* backend timed out`) and closes.  The backend's handler hears only
`connection_lost(exc)` then, and `exc` says how the connect ended.

Two loopback backends that fail, and nothing else (never a remote address):

* refused: a port on 127.0.0.1 where nothing listens, so the kernel answers
  the SYN with RST (ECONNREFUSED);
* timed out: a socket that listens with a backlog of 0 and never accepts,
  with its one queue slot already taken, so the kernel drops further SYNs
  and the connect waits until the timeout.

Done when: the client of each gets the right line, then EOF, and the
timeout took about the timeout asked for (printed, not judged).

Run it: python3 docs/answers/09-backend-down.py
"""

import socket
import time

import _kit
import evloop

TIMEOUT = 0.5


class Gateway(evloop.LineHandler):
    """The solution: pass lines to the backend; say so if it cannot be reached."""

    options = {"backend_port": evloop.Option("the backend's port", type=int)}

    def __init__(self, max_message=65536, backend_port=None):
        super().__init__(max_message)
        self.backend_port = backend_port

    def connection_made(self, context):
        super().connection_made(context)
        self.backend = context.connect(("127.0.0.1", self.backend_port), Backend(context),
                                       timeout=TIMEOUT)

    def line_received(self, line):
        self.backend.push(line + b"\n")  # queued until the backend is up
        return b""


class Backend(evloop.Handler):
    def __init__(self, client):
        super().__init__()
        self.client = client
        self.up = False

    def connection_made(self, context):
        super().connection_made(context)
        self.up = True

    def data_received(self, data):
        self.client.push(data)
        return b""

    def connection_lost(self, exc):
        if not self.up:  # the connect itself failed: say how
            if isinstance(exc, ConnectionRefusedError):
                self.client.push(b"* backend refused\n")
            elif isinstance(exc, TimeoutError):
                self.client.push(b"* backend timed out\n")
            else:
                self.client.push(f"* backend unreachable: {exc}\n".encode())
        self.client.close()


def through_gateway(backend_port):
    with _kit.served(Gateway, handler_options={"backend_port": backend_port}) as server:
        with _kit.connect(server.address[1]) as sock:
            started = time.perf_counter()
            sock.sendall(b"anyone there?\n")
            answer = _kit.recv_until_eof(sock).decode()
            return answer, time.perf_counter() - started


def main():
    with socket.socket() as closed:  # a free port, then nobody on it
        closed.bind(("127.0.0.1", 0))
        refused_port = closed.getsockname()[1]
    answer, _ = through_gateway(refused_port)
    _kit.check(answer == "* backend refused\n", f"refused backend: the client got {answer!r}")

    with socket.socket() as full, socket.socket() as queued:
        full.bind(("127.0.0.1", 0))
        full.listen(0)  # never accepted: the queue has one slot...
        queued.connect(full.getsockname())  # ...and this takes it
        answer, waited = through_gateway(full.getsockname()[1])
    _kit.check(answer == "* backend timed out\n", f"silent backend: the client got {answer!r}")
    print(f"the silent backend's connect gave up after {waited:.2f} s (timeout {TIMEOUT} s)")
    _kit.ok("a refused and a silent backend each end in one line to the client, then EOF")


if __name__ == "__main__":
    main()
