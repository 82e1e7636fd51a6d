"""09-upper-relay: the chapter's relay, uppercasing the backend's answers, still correct.

The student's `ShoutingRelay` (taking the option `backend_port`) is served
in front of an echo backend.  Judged: a line comes back uppercased; 4 MiB
sent at once (read as it comes back), then a half-close, come back whole,
uppercased, in order, then EOF; and the relay answers a second client too.
"""

import hashlib
import socket
import threading

from docs.checks import _kit

TITLE = "A relay that shouts"
CHAPTER = "09-reaching-out.md"
LEVEL = 3
MINUTES = 45


def grade(student: _kit.Student) -> str:
    import evloop
    relay_class = student.need("ShoutingRelay")
    payload = bytes(97 + i % 26 for i in range(4 << 20))  # 4 MiB of a..z
    with _kit.served(evloop.load_handler("echo")) as backend:
        with _kit.served(relay_class, handler_options={"backend_port": backend.address[1]}) as relay:
            port = relay.address[1]
            with _kit.connect(port, timeout=5) as sock:
                sock.sendall(b"through my own relay\n")
                line = _kit.recv_exactly(sock, 21)
                _kit.check(line == b"THROUGH MY OWN RELAY\n", f"a line came back as {line!r}")
            with _kit.connect(port, timeout=10) as sock:
                def send_all() -> None:
                    try:
                        sock.sendall(payload)
                        sock.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass  # the relay closed on us: the check below says so

                sender = threading.Thread(target=send_all)
                sender.start()
                try:
                    received = _kit.recv_until_eof(sock)  # reads while the sender sends
                except socket.timeout:
                    raise _kit.Failed("4 MiB through the relay stalled for 10 s: is each side "
                                      "paused and resumed by the other?") from None
                sender.join(timeout=10)
            _kit.expect(len(received) == len(payload),
                        f"{len(received)} bytes came back of {len(payload)} sent, then a half-close: "
                        f"is the half-close passed on, and the answer still let through?")
            _kit.expect(hashlib.sha256(received).digest() == hashlib.sha256(payload.upper()).digest()
                        or len(received) != len(payload),
                        "the 4 MiB came back changed, or not uppercased")
            with _kit.connect(port, timeout=5) as sock:
                sock.sendall(b"again\n")
                _kit.expect(_kit.recv_exactly(sock, 6) == b"AGAIN\n", "a second client was not served")
    return "the relay uppercases the backend's answers, keeps 4 MiB whole, and passes EOF on"
