"""01-uppercase-handler: the labs' uppercase server as a handler, with an idle client by."""

from docs.checks import _kit

TITLE = "The uppercase server, as a handler"
CHAPTER = "01-from-the-labs.md"
LEVEL = 1
MINUTES = 15


def lab_client(port: int, sentence: str) -> str:
    """The Kurose and Ross client: one send(), no newline, then read the reply."""
    with _kit.connect(port, timeout=5) as sock:
        sock.send(sentence.encode())
        sock.shutdown(1)  # SHUT_WR: "that was all"
        return _kit.recv_until_eof(sock).decode()


def grade(student: _kit.Student) -> str:
    handler = student.need("Uppercase")
    with _kit.served(handler) as server:
        port = server.address[1]
        with _kit.connect(port, timeout=5) as idle:  # a client that says nothing
            reply = lab_client(port, "hello, world")
            _kit.check(reply == "HELLO, WORLD", f"the lab client got {reply!r}, not 'HELLO, WORLD'")
            reply = lab_client(port, "café au lait")
            _kit.expect(reply == "CAFé AU LAIT",
                        f"UTF-8 text came back as {reply!r}: uppercase the bytes, as bytes.upper() does")
            idle.send(b"late but served")
            _kit.expect(_kit.recv_exactly(idle, 15) == b"LATE BUT SERVED",
                        "the idle client was not answered once it spoke")
    return "the lab client is answered in capitals while another client sits idle"
