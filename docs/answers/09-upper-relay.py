"""Answer to 09-upper-relay: a relay that shouts.

The chapter's relay, with the backend's side uppercasing on the way.  What
makes a relay correct is kept: each side pauses the other's reading when it
cannot write (`backpressure_stops_reading = False`,
`pause_writing`/`resume_writing`), and a half-close passes both ways
(`write_eof`, `eof_received` answering True).

By hand:

    python3 -m evloop.serve --handler echo --port 12001
    PYTHONPATH=docs/answers python3 -m evloop.serve --handler 09-upper-relay:ShoutingRelay --backend-port 12001
"""

import evloop


class ShoutingRelay(evloop.Handler):
    """The client's side: every byte to the backend."""

    options = {"backend_port": evloop.Option("the backend's port", type=int)}
    backpressure_stops_reading = False  # each side is paused by the other

    def __init__(self, max_message=65536, backend_port=None):
        super().__init__(max_message)
        self.backend_port = backend_port

    def connection_made(self, context):
        super().connection_made(context)
        self.backend = context.connect(("127.0.0.1", self.backend_port), Shouter(context))

    def data_received(self, data):
        self.backend.push(data)
        return b""

    def eof_received(self):
        self.backend.write_eof()  # the client's half-close becomes the backend's
        return True  # and the backend's answer still flows back

    def pause_writing(self):
        self.backend.pause_reading()

    def resume_writing(self):
        self.backend.resume_reading()

    def connection_lost(self, exc):
        self.backend.close()


class Shouter(evloop.Handler):
    """The backend's side: what it answers goes to the client, uppercased."""

    backpressure_stops_reading = False

    def __init__(self, client):
        super().__init__()
        self.client = client

    def data_received(self, data):
        self.client.push(data.upper())
        return b""

    def eof_received(self):
        self.client.write_eof()
        return True

    def pause_writing(self):
        self.client.pause_reading()

    def resume_writing(self):
        self.client.resume_reading()

    def connection_lost(self, exc):
        self.client.close()
