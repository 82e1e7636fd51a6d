"""Chapter 3, exercise 1 (code): close a client whose output buffer passes 1 MiB.

The exercise: bench/nonblocking.py queues whatever a client does not read, so
a client that sends and never reads makes the server's memory grow without
end.  Make it close such a client as soon as its output buffer holds more
than 1 MiB, as evloop's --max-output does.

The answer is four lines: a subclass of bench.nonblocking.Server whose
send() checks the buffer after queueing.  Done when: a client that sends
16 MiB and reads nothing is disconnected, the server's buffer for it never
held much more than 1 MiB plus one read, and a client that reads its echo
as it goes is served every byte of 4 MiB (it never has 1 MiB waiting).

Run it: python3 docs/answers/03-max-output.py
"""

import socket
import threading

import _kit

from bench import common
from bench import nonblocking

MAX_OUTPUT = 2**20  # 1 MiB


class CappedServer(nonblocking.Server):
    """bench.nonblocking's loop, closing a client that has more than MAX_OUTPUT queued."""

    largest = 0  # the most bytes one client had queued, for the check below

    def send(self, peer, data):
        super().send(peer, data)
        self.largest = max(self.largest, len(peer.bytes_to_send))
        if len(peer.bytes_to_send) > MAX_OUTPUT:
            self.close(peer)  # a slow reader: drop it rather than hold its replies for ever


def never_reads(port):
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


def reads_as_it_goes(port):
    """Send 4 MiB in 64 KiB pieces, reading each echo before the next: all of it back?"""
    with _kit.connect(port) as sock:
        for n in range(64):
            piece = bytes([n]) * 65536
            sock.sendall(piece)
            if _kit.recv_exactly(sock, len(piece)) != piece:
                return False
    return True


def main():
    options = common.parse_args("nonblocking", ["--port", "0"])
    listener = socket.create_server(("127.0.0.1", 0))
    server = CappedServer(options)
    threading.Thread(target=server.run, args=(listener,), daemon=True).start()
    port = listener.getsockname()[1]
    _kit.check(never_reads(port), "a client that never reads was not disconnected")
    _kit.check(server.largest <= MAX_OUTPUT + common.RECV_SIZE,
               f"the buffer reached {server.largest} B, far past the cap")
    _kit.check(reads_as_it_goes(port), "a client that reads as it goes lost some of its echo")
    _kit.ok(f"the slow reader was closed at {server.largest} B queued; the reader that keeps up got 4 MiB")


if __name__ == "__main__":
    main()
