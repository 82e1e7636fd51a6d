"""Chapter 9, exercise 1: a relay that shouts.

The exercise: change chapter 9's relay so that what the backend answers
reaches the client in capitals.  The client's handler opens the backend's
with `context.connect`, each side pushes what it reads to the other, and
the backend's side uppercases on the way.  Keep what makes a relay correct:
each side pauses the other's reading when it cannot write
(`backpressure_stops_reading = False`, `pause_writing`/`resume_writing`),
and a half-close passes both ways (`write_eof`, `eof_received` answering True).

Done when: through the relay to an echo backend, a line comes back
uppercased; 4 MiB sent at once, then a half-close, come back uppercased,
whole, in order, followed by EOF; and the relay answers a second client too.

Run it: python3 docs/answers/09-upper-relay.py
"""

import hashlib
import socket
import threading

import _kit
import evloop


class ShoutingRelay(evloop.Handler):
    """The solution: the client's side."""

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


def main():
    payload = bytes(97 + i % 26 for i in range(4 << 20))  # 4 MiB of a..z
    with _kit.served(evloop.load_handler("echo")) as backend:
        with _kit.served(ShoutingRelay,
                         handler_options={"backend_port": backend.address[1]}) as relay:
            port = relay.address[1]
            with _kit.connect(port) as sock:
                sock.sendall(b"through my own relay\n")
                _kit.check(_kit.recv_exactly(sock, 21) == b"THROUGH MY OWN RELAY\n",
                           "the line did not come back uppercased")
            with _kit.connect(port) as sock:
                def send_all():
                    sock.sendall(payload)
                    sock.shutdown(socket.SHUT_WR)

                sender = threading.Thread(target=send_all)
                sender.start()
                received = _kit.recv_until_eof(sock)  # reads while the sender sends
                sender.join(timeout=10)
            _kit.check(len(received) == len(payload),
                       f"{len(received)} bytes came back of {len(payload)}")
            _kit.check(hashlib.sha256(received).digest() == hashlib.sha256(payload.upper()).digest(),
                       "the 4 MiB came back changed, or not uppercased")
            with _kit.connect(port) as sock:
                sock.sendall(b"again\n")
                _kit.check(_kit.recv_exactly(sock, 6) == b"AGAIN\n", "a second client was not served")
    _kit.ok("the relay uppercases the backend's answers, keeps 4 MiB whole, and passes EOF on")


if __name__ == "__main__":
    main()
