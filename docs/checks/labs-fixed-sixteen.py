"""labs-fixed-sixteen: the lab's fixed 16-byte message, as a sans-IO handler.

The student's `FixedSixteen` handler is served.  Judged: a message sent a
byte at a time comes back whole; two and a half messages in one send come
back as two, and the third once its end arrives; a client that closes in the
middle of a message gets the messages before it, and only it is closed, as
a protocol error (one, in `server.stats()`); the server goes on serving.
"""

import time

from docs.checks import _kit

TITLE = "The fixed 16-byte message, as a handler"
CHAPTER = "appendix-labs.md"
LEVEL = 1
MINUTES = 25

SIZE = 16


def grade(student: _kit.Student) -> str:
    handler = student.need("FixedSixteen")
    one, two, three = b"Hello!! Server!!", b"0123456789abcdef", b"sixteen bytes!!!"
    with _kit.served(handler) as server:
        port = server.address[1]
        with _kit.connect(port, timeout=5) as sock:  # a byte at a time
            for byte in one:
                sock.send(bytes([byte]))
                time.sleep(0.001)
            got = _kit.recv_exactly(sock, SIZE)
            _kit.check(got == one, f"a message sent a byte at a time came back as {got!r}")
        with _kit.connect(port, timeout=5) as sock:  # two and a half messages, then the last half
            sock.sendall(one + two + three[:8])
            got = _kit.recv_exactly(sock, 2 * SIZE)
            _kit.check(got == one + two, f"two and a half messages in one send gave {got!r}")
            sock.sendall(three[8:])
            got = _kit.recv_exactly(sock, SIZE)
            _kit.check(got == three, f"the message finished later came back as {got!r}")
            sock.shutdown(1)
            _kit.expect(_kit.recv_until_eof(sock) == b"", "a clean EOF got more bytes")
        with _kit.connect(port, timeout=5) as sock:  # the peer closes early: recv_all's EOFError
            sock.sendall(two + b"short")
            sock.shutdown(1)
            got = _kit.recv_until_eof(sock)
            _kit.expect(got == two, f"a whole message then a short one gave {got!r}, not the whole one")
        with _kit.connect(port, timeout=5) as sock:  # and the server still serves
            sock.sendall(three)
            _kit.expect(_kit.recv_exactly(sock, SIZE) == three, "the server stopped serving")
        _kit.wait_for(lambda: server.stats().connections_open == 0)
        errors = server.stats().protocol_errors
    _kit.expect(errors == 1, f"the short message should be one protocol error (raise "
                             f"evloop.ProtocolError); stats() counted {errors}")
    return "16-byte messages echoed whole however they arrive; a short one closes only its client"
