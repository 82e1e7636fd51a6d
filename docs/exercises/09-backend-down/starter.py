"""Exercise 09-backend-down: when the backend is not there.

Chapter 9 (docs/09-reaching-out.md, "Exercises").
Difficulty: ★★☆ medium.  Time: about 40 minutes.

The task: `Gateway` passes its client's lines to a backend on
127.0.0.1:BACKEND_PORT and the backend's answers back.  Make it connect
with a timeout of 0.5 s (`context.connect(address, handler, timeout=...)`)
and, when the connection cannot be made, tell its client why in one line,
`* backend refused` or `* backend timed out`, then close.  When a connect
fails, the backend's handler hears only `connection_lost(exc)`: what is
`exc` then, in each case?

The grader tries two loopback backends (never another machine): a port
where nothing listens, and a socket that listens with a backlog of 0, its
one queue slot taken, so the kernel drops the SYN.  Done when each client
gets the right line, then EOF, and through a working echo backend a line
comes back.

Try it:  PYTHONPATH=docs/exercises/09-backend-down python3 -m evloop.serve --handler starter:Gateway --backend-port 12001
         printf 'anyone there?\n' | python3 -m evloop.client
Grade it:  python3 -m docs.grade 09-backend-down docs/exercises/09-backend-down/starter.py
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
        self.backend = context.connect(("127.0.0.1", self.backend_port), Backend(context))

    def line_received(self, line):
        self.backend.push(line + b"\n")  # queued until the backend is up
        return b""


class Backend(evloop.Handler):
    """The backend's side: its answers go to the client."""

    def __init__(self, client):
        super().__init__()
        self.client = client

    def data_received(self, data):
        self.client.push(data)
        return b""

    def connection_lost(self, exc):
        # Your code here: did the connect itself fail? How? Tell the client.
        self.client.close()
