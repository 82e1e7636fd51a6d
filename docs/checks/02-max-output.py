"""02-max-output: bench.nonblocking closes a client whose output buffer passes 1 MiB.

The student's `CappedServer` (a bench.nonblocking.Server) is run with a
probe around it that records how much a client had queued when it was
closed.  Judged: a client that sends 16 MiB and reads nothing is cut off,
with not much more than 1 MiB queued; a client that reads its echo as it
goes gets all of its 4 MiB.
"""

import socket
import threading

from docs.checks import _kit

TITLE = "Cap the output buffer"
CHAPTER = "02-non-blocking.md"
LEVEL = 2
MINUTES = 30

MAX_OUTPUT = 2**20


def never_reads(port: int) -> bool:
    """Send up to 16 MiB without reading; True if the server then cut the connection."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the echo piles up at the server
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    try:
        for _ in range(256):
            sock.sendall(b"x" * 65536)
        while sock.recv(65536):  # what was sent before the close, then EOF
            pass
        return True
    except ConnectionError:  # reset, or broken pipe: the server closed us
        return True
    except TimeoutError:  # 5 s and still open: the server kept us
        return False
    finally:
        sock.close()


def reads_as_it_goes(port: int) -> bool:
    """Send 4 MiB in 64 KiB pieces, reading each echo before the next: all of it back?"""
    with _kit.connect(port) as sock:
        for n in range(64):
            piece = bytes([n]) * 65536
            sock.sendall(piece)
            if _kit.recv_exactly(sock, len(piece)) != piece:
                return False
    return True


def grade(student: _kit.Student) -> str:
    from bench import common
    capped = student.need("CappedServer")
    queued_at_close = []

    class Probe(capped):  # type: ignore[misc, valid-type]
        def close(self, peer):  # type: ignore[no-untyped-def]
            if peer.events:
                queued_at_close.append(len(peer.bytes_to_send))
            super().close(peer)

    options = common.parse_args("nonblocking", ["--port", "0"])
    listener = socket.create_server(("127.0.0.1", 0))
    server = Probe(options)
    threading.Thread(target=server.run, args=(listener,), daemon=True).start()
    port = listener.getsockname()[1]
    _kit.check(never_reads(port), "a client that sent 16 MiB and read nothing was still "
                                  "connected 5 s later: it was never closed")
    largest = max(queued_at_close, default=0)
    _kit.expect(largest <= MAX_OUTPUT + common.RECV_SIZE,
                f"the slow client was closed with {largest} B queued, far past the 1 MiB cap")
    _kit.expect(largest >= MAX_OUTPUT // 2,
                f"the slow client was closed with only {largest} B queued: close it past 1 MiB, "
                f"not before")
    _kit.expect(reads_as_it_goes(port), "a client that reads as it goes lost some of its echo")
    return f"the slow reader was closed with {largest} B queued; the reader that keeps up got 4 MiB"
