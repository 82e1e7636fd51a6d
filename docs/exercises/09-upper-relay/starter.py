"""Exercise 09-upper-relay: a relay that shouts.

Chapter 9 (docs/09-reaching-out.md, "Exercises").
Difficulty: ★★★ hard.  Time: about 45 minutes.  Do 09-backend-down first.

The task: below is a relay that only half works: it moves bytes both ways,
and nothing else.  Make the backend's answers reach the client in capitals,
and make the relay correct, as the chapter's is: each side pauses the
other's reading when it cannot write (flow control: what do
`pause_writing` and `resume_writing` tell a handler, and
`backpressure_stops_reading`?), and a half-close passes both ways (a
client's EOF becomes the backend's, while the backend's answer still flows
back; and the other way round).

Done when, in front of an echo backend, a line comes back in capitals, and
4 MiB sent at once then half-closed come back whole, uppercased, in order,
then EOF; and a second client is served too.

Try it:  python3 -m evloop.serve --handler echo --port 12001
         PYTHONPATH=docs/exercises/09-upper-relay python3 -m evloop.serve --handler starter:ShoutingRelay --backend-port 12001
         printf 'through my own relay\n' | python3 -m evloop.client
Grade it:  python3 -m docs.grade 09-upper-relay docs/exercises/09-upper-relay/starter.py
"""

import evloop


class ShoutingRelay(evloop.Handler):
    """The client's side: every byte to the backend on 127.0.0.1:BACKEND_PORT."""

    options = {"backend_port": evloop.Option("the backend's port", type=int)}

    def __init__(self, max_message=65536, backend_port=None):
        super().__init__(max_message)
        self.backend_port = backend_port

    def connection_made(self, context):
        super().connection_made(context)
        self.backend = context.connect(("127.0.0.1", self.backend_port), Shouter(context))

    def data_received(self, data):
        self.backend.push(data)
        return b""  # bytes moved: not idle

    def connection_lost(self, exc):
        self.backend.close()

    # Your code here: the half-close, and flow control.


class Shouter(evloop.Handler):
    """The backend's side: what it answers goes to the client."""

    def __init__(self, client):
        super().__init__()
        self.client = client

    def data_received(self, data):
        self.client.push(data)  # Your code here: in capitals
        return b""

    def connection_lost(self, exc):
        self.client.close()

    # Your code here: the half-close, and flow control.
