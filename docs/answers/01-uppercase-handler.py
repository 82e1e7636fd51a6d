"""Chapter 1, exercise 1: the labs' uppercase server, as an evloop handler.

The exercise: write Kurose and Ross's TCPServer (receive a sentence,
send it back in capitals) as a sans-IO handler, serve it with evloop, and
show that a client who connects and says nothing no longer blocks the next.

Done when: the lab's own client (one `send()`, no newline, one `recv(1024)`)
gets its sentence back uppercased, while another client sits connected and
silent.

Run it: python3 docs/answers/01-uppercase-handler.py
"""

import _kit
import evloop


class Uppercase(evloop.Handler):
    """The solution.  No socket here: bytes in, bytes out."""

    def data_received(self, data):
        # The lab's server did `sock.recv(1024).decode().upper()` and hoped one recv()
        # was one sentence.  Here each chunk is answered as it comes, so a sentence split
        # over two recv()s still comes back whole, in two pieces, in order.
        return data.upper()


def lab_client(port, sentence):
    """The Kurose and Ross client: one send(), no newline, then read the reply."""
    with _kit.connect(port) as sock:
        sock.send(sentence.encode())
        sock.shutdown(1)  # SHUT_WR: "that was all"; the lab client just closes later
        return _kit.recv_until_eof(sock).decode()


def main():
    with _kit.served(Uppercase) as server:
        port = server.address[1]
        # A student who connected and went for coffee: it sends nothing.  Under the
        # iterative server of chapter 1 the next client would wait behind it.
        with _kit.connect(port) as idle:
            reply = lab_client(port, "hello, world")
            _kit.check(reply == "HELLO, WORLD",
                       f"the lab client got {reply!r}, not 'HELLO, WORLD'")
            # Bytes outside ASCII pass unchanged (bytes.upper() leaves them), so UTF-8 text survives.
            reply = lab_client(port, "café au lait")
            _kit.check(reply == "CAFé AU LAIT", f"UTF-8 text came back as {reply!r}")
            idle.send(b"late but served")
            _kit.check(_kit.recv_exactly(idle, 15) == b"LATE BUT SERVED",
                       "the idle client was not served once it spoke")
    _kit.ok("the uppercase handler answers the lab client while another client sits idle")


if __name__ == "__main__":
    main()
