"""The client's framings: how a typed line is sent, and how its reply is read.

* raw: the line as typed, no newline.  A raw reply has no end marker, so it
  is read until the server pauses: at least as many bytes as were sent (or
  the timeout), then until nothing more comes for QUIET seconds.
* lenprefix: `str(n).zfill(3)` then the payload; the reply is one frame,
  read exactly (the labs' recv_all).
* line: the line plus b"\\n" (the line mode itself is evloop.cli.client's).
"""

from __future__ import annotations

import socket

from evloop.handlers.lenprefix import HEADER_SIZE
from evloop.handlers.lenprefix import MAX_PAYLOAD
from evloop.handlers.lenprefix import encode

QUIET = 0.1  # seconds of silence that end a raw reply


class ClientError(Exception):
    """A failure to report in one line."""


def frame(framing: str, line: str) -> bytes:
    """The bytes to send for one typed line."""
    payload = line.encode("utf-8")
    if framing == "lenprefix":
        if len(payload) > MAX_PAYLOAD:
            raise ClientError(f"a lenprefix message is at most {MAX_PAYLOAD} bytes; "
                              f"this line is {len(payload)}")
        return encode(payload)
    if framing == "line":
        return payload + b"\n"
    return payload


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    """Read exactly `size` bytes (the labs' recv_all); ClientError on EOF."""
    chunks = []
    while size:
        chunk = sock.recv(min(size, 65536))
        if not chunk:
            raise ClientError("the server closed the connection")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def recv_until_pause(sock: socket.socket, expected: int, timeout: float | None) -> bytes:
    """A raw reply: `expected` bytes or what came within `timeout`, then more
    until the server is QUIET.  ClientError if it closed before any byte."""
    chunks: list[bytes] = []
    got = 0
    while True:
        sock.settimeout(timeout if got < expected else QUIET)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            if not got:
                raise
            break
        if not chunk:
            if not got:
                raise ClientError("the server closed the connection")
            break
        chunks.append(chunk)
        got += len(chunk)
    sock.settimeout(timeout)
    return b"".join(chunks)


def read_reply(sock: socket.socket, framing: str, request: bytes, timeout: float | None) -> bytes:
    """Read one reply to `request`."""
    if framing == "lenprefix":
        header = recv_exactly(sock, HEADER_SIZE)
        if not header.isdigit():
            raise ClientError(f"the server sent a bad header {header!r}")
        return recv_exactly(sock, int(header))
    return recv_until_pause(sock, len(request), timeout)
