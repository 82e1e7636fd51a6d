"""TLS: the same handlers over an encrypted connection, the handshake in the loop.

`--tls-cert FILE --tls-key FILE` serve every TCP handler over TLS 1.2 or
newer with the standard library's `ssl`; `--tls-ca FILE` also asks each
client for a certificate and verifies it against that CA (mutual TLS), and
the handler's context names the client's certificate (`peer_subject`).

A TLS connection is a `Connection` with one more state and two other system
calls:

* HANDSHAKING (after PROXY_HEADER, if any): the loop holds
  `_tls_handshake` as its reader, and as its writer only while OpenSSL
  waits to write.  Each call runs `do_handshake()` on the non-blocking
  socket as far as the bytes allow; `SSLWantReadError` means "wait for
  readable", `SSLWantWriteError` "wait for writable".  Nothing blocks, and
  `--handshake-timeout` (10 s) bounds a client that dribbles its hello.  A
  failure (bytes that are not a ClientHello, a certificate the CA did not
  sign, a reset) is one log line naming the peer and the reason.
* OPEN: the hot path is the plain one; only `sys_read` and `sys_write`,
  which are `os.read`/`os.write` for plain TCP, become the SSL object's
  `read` and `write`, with "want read/write" turned into BlockingIOError,
  which the hot path already treats as "try later".  CPython does not enable
  OpenSSL's partial writes, so a write sends all of a buffer or, would it
  block, none of it, and OpenSSL allows the retry to pass the output buffer
  with more bytes after the same ones (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER).
  A record may hold more plaintext than one read asks for; OpenSSL then
  keeps the rest, which epoll cannot see, so a read that fills its buffer
  asks `pending()` and, if need be, reads again in the same turn's queue.
* closing: `close_notify` is sent before the FIN (`SSL_shutdown`, once:
  the peer's close_notify is not awaited, as the spec allows), then input
  is drained as for TCP.

SSLSocket or MemoryBIO?  An SSLObject over two MemoryBIOs keeps OpenSSL off
the socket (sans-IO, as asyncio and uvloop do it), at the price of Python
calls to move every record between the socket and the BIOs.  The SSL
object of an `SSLSocket` reads and writes the socket itself: one C call per
message each way.  `python3 -m bench.tls_micro` measured a 100-byte echo on
one connection at 24,552 ns per round trip this way and 25,586 ns the
MemoryBIO way (medians of 5 alternated rounds; docs/06-performance.md).
evloop calls the SSL object of the socket directly
(`_sslobj`, CPython's name for it); if a future CPython renames it, the
public `SSLSocket.recv`/`send` serve instead.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
from collections.abc import Callable
from typing import Any

from evloop.config import Config
from evloop.connection import Connection
from evloop.handlers.base import Handler
from evloop.loop import Loop
from evloop.metrics import Counters
from evloop.offload import Offloader
from evloop.states import HANDSHAKING
from evloop.states import OPEN
from evloop.states import PROXY_HEADER

log = logging.getLogger("evloop")

WOULD_BLOCK = (ssl.SSLWantReadError, ssl.SSLWantWriteError)
ENDED = (ssl.SSLZeroReturnError, ssl.SSLEOFError)  # close_notify, or EOF without one


def make_context(config: Config) -> ssl.SSLContext:
    """The server's SSLContext from config.tls_cert, tls_key and tls_ca;
    ValueError, naming the field, if a file will not load."""
    assert config.tls_cert is not None and config.tls_key is not None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(config.tls_cert, config.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"tls_cert ({config.tls_cert}) and tls_key ({config.tls_key}) do not "
                         f"load: {_reason(exc)}") from None
    if config.tls_ca is not None:
        try:
            context.load_verify_locations(config.tls_ca)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"tls_ca ({config.tls_ca}) does not load: {_reason(exc)}") from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return exc.reason.replace("_", " ").lower()
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


class TLSConnection(Connection):
    """A Connection over TLS: the handshake first, then the SSL object's read and write."""

    __slots__ = ("tls_context", "tls_writing")

    def __init__(self, loop: Loop, sock: socket.socket, peer: str, handler: Handler,
                 config: Config, on_closed: Callable[[Connection], object],
                 offloader: Offloader | None = None, counters: Counters | None = None,
                 tls_context: ssl.SSLContext | None = None) -> None:
        super().__init__(loop, sock, peer, handler, config, on_closed, offloader, counters)
        assert tls_context is not None
        self.tls_context = tls_context
        self.tls_writing = False  # is the handshake waiting for writable?
        if self.state is OPEN:
            self.state = HANDSHAKING
            self.prelude = bytearray()  # the handler has not started: nothing is due to it

    def start(self) -> None:
        if self.state is HANDSHAKING:
            self._wrap()
        super().start()  # the reader for the state; --handshake-timeout for both steps

    def _after_header(self) -> None:
        """After the PROXY header (which is never encrypted), the handshake."""
        self._wrap()
        self._transition("start_tls")
        self._tls_handshake()  # the ClientHello may be there already

    def _wrap(self) -> None:
        self.sock = self.tls_context.wrap_socket(self.sock, server_side=True,
                                                 do_handshake_on_connect=False)

    def _tls_handshake(self) -> None:
        """The reader (and, while OpenSSL waits to write, the writer) in HANDSHAKING."""
        assert isinstance(self.sock, ssl.SSLSocket)
        try:
            self.sock.do_handshake()
        except ssl.SSLWantReadError:
            return self._handshake_wants_writable(False)
        except ssl.SSLWantWriteError:
            return self._handshake_wants_writable(True)
        except ssl.SSLError as exc:
            return self._handshake_failed(_reason(exc))
        except OSError as exc:
            self.error = exc
            return self._handshake_failed(exc.strerror or str(exc))
        self._handshake_wants_writable(False)
        self.counters.tls_handshakes += 1
        self._use_tls_io()
        self._transition("handshake_done")
        self._open()

    def _handshake_wants_writable(self, wanted: bool) -> None:
        if wanted != self.tls_writing:
            if wanted:
                self.loop.add_writer(self.fd, self._tls_handshake)
            else:
                self.loop.remove_writer(self.fd)
            self.tls_writing = wanted

    def _handshake_failed(self, reason: str, why: str = "tls_failed") -> None:
        self._handshake_wants_writable(False)
        self.counters.tls_failures += 1
        self.abort(f"TLS handshake failed: {reason}", level=logging.INFO, why=why)

    def _on_handshake_timer(self) -> None:
        if self.state is PROXY_HEADER:
            return super()._on_handshake_timer()
        self.timer = None
        self._handshake_failed(f"not done within {self.config.handshake_timeout:g}s "
                               f"(--handshake-timeout)", "handshake_timeout")

    def _release(self, eof_read: bool = False) -> None:
        self._handshake_wants_writable(False)
        super()._release(eof_read)

    def _use_tls_io(self) -> None:
        """OPEN from here: the hot path reads and writes through the SSL object."""
        sock = self.sock
        assert isinstance(sock, ssl.SSLSocket)
        sslobj: Any = getattr(sock, "_sslobj", None)
        if sslobj is None:  # not CPython's layout: the public methods serve
            sslobj = sock
            read, write = sock.recv, sock.send
        else:
            read, write = sslobj.read, sslobj.write

        def tls_read(fd: int, size: int) -> bytes:
            try:
                data: bytes = read(size)
            except WOULD_BLOCK:
                raise BlockingIOError from None
            except ENDED:
                return b""
            if len(data) == size and sslobj.pending():
                self.loop.call_soon(self._read_pending)  # plaintext epoll cannot see
            return data

        def tls_write(fd: int, data: Any) -> int:
            try:
                sent: int = write(data)
            except WOULD_BLOCK:
                raise BlockingIOError from None
            return sent

        self._set_io(tls_read, tls_write)

    def _read_pending(self) -> None:
        if self.state is OPEN:
            self.on_readable()

    def _send_fin(self) -> None:
        """close_notify first, once, without waiting for the peer's; then FIN as for TCP."""
        if isinstance(self.sock, ssl.SSLSocket) and self.state is not HANDSHAKING:
            try:
                self.sock.unwrap()
            except (ssl.SSLError, OSError, ValueError):
                pass  # sent as far as it would go; the peer's answer is not awaited
            self._set_io(os.read, os.write)  # what is left to read is discarded
        super()._send_fin()

    @property
    def peer_subject(self) -> str | None:
        """The client certificate's subject, with --tls-ca: "CN=alice,O=Lab"."""
        if not isinstance(self.sock, ssl.SSLSocket):
            return None
        try:
            cert = self.sock.getpeercert()
        except (ValueError, OSError):
            return None
        if not cert:
            return None
        names = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU",
                 "countryName": "C", "localityName": "L", "emailAddress": "emailAddress"}
        subject: Any = cert.get("subject", ())
        return ",".join(f"{names.get(key, key)}={value}" for rdn in subject for key, value in rdn)


TLSConnection.readers = {**Connection.readers, HANDSHAKING: TLSConnection._tls_handshake}
