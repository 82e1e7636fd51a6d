"""A relay of a user's own, written against the documented handler API only
(README, docs/09-reaching-out.md): what the 16 MiB test serves."""

import evloop


class Relay(evloop.Handler):
    """Every byte to the backend on port BACKEND_PORT and back."""

    options = {"backend_port": evloop.Option("the backend's port on 127.0.0.1", type=int)}
    backpressure_stops_reading = False  # each side is paused by the other, not by itself

    def __init__(self, max_message=65536, backend_port=None):
        super().__init__(max_message)
        self.backend_port = backend_port

    def connection_made(self, context):
        super().connection_made(context)
        self.backend = context.connect(("127.0.0.1", self.backend_port), Backend(context))

    def data_received(self, data):
        self.backend.push(data)
        return b""

    def eof_received(self):
        self.backend.write_eof()
        return True  # keep writing the backend's answer

    def pause_writing(self):
        self.backend.pause_reading()

    def resume_writing(self):
        self.backend.resume_reading()

    def connection_lost(self, exc):
        self.backend.close()


class Backend(evloop.Handler):
    backpressure_stops_reading = False

    def __init__(self, client):
        super().__init__()
        self.client = client

    def data_received(self, data):
        self.client.push(data)
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
