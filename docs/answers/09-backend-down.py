"""Answer to 09-backend-down: a backend that refuses, a backend that never answers.

The handler opens its backend's connection with
`context.connect(address, handler, timeout=0.5)`; when that connection
cannot be made, the backend's handler hears only `connection_lost(exc)`,
and `exc` says how the connect ended: ConnectionRefusedError (the kernel
answered the SYN with RST) or TimeoutError (no answer within the timeout).
It tells the client in one line, then closes it.

By hand, against a port where nothing listens:

    PYTHONPATH=docs/answers python3 -m evloop.serve --handler 09-backend-down:Gateway --backend-port 12001
    printf 'anyone there?\n' | python3 -m evloop.client
"""

import evloop

TIMEOUT = 0.5


class Gateway(evloop.LineHandler):
    """Pass lines to the backend; say so if it cannot be reached."""

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
