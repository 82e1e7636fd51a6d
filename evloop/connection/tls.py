"""TLS: the same handlers over an encrypted connection, the handshake in the loop.

`--tls-cert FILE --tls-key FILE` serve every TCP handler over TLS 1.2 or
newer with the standard library's `ssl`; `--tls-ca FILE` also asks each
client for a certificate and verifies it against that CA (mutual TLS), and
the handler's context names the client's certificate (`peer_subject`).
`context.connect(..., tls=True)` is the same, as the client.

A connection's TLS is a part it holds, a `TLSSession`, and one more state:

* HANDSHAKING (after the PROXY header, if any, or after connecting out):
  each step runs `do_handshake()` on the non-blocking socket as far as the
  bytes allow; the loop holds the step as the connection's reader, and as
  its writer only while OpenSSL wants to write (`wants_write`).  Nothing
  blocks, and `--handshake-timeout` bounds a peer that dribbles its hello.
  A failure (bytes that are not a TLS record, a certificate the CA did not
  sign, a reset) is `TLSFailure`, whose reason is one line.
* OPEN: the hot path is the plain one; only its two system calls, which are
  `os.read`/`os.write` for plain TCP, become the SSL object's `read` and
  `write` (`io()`), with "want read/write" turned into BlockingIOError,
  which the hot path already treats as "try later".  CPython does not enable
  OpenSSL's partial writes, so a write sends all of a buffer or, would it
  block, none of it, and OpenSSL allows the retry to pass the output buffer
  with more bytes after the same ones (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER).
  A record may hold more plaintext than one read asks for; OpenSSL then
  keeps the rest, which epoll cannot see, so a read that fills its buffer
  asks `pending()` and, if need be, reads again in the same turn's queue.
* half-close and closing: `close_notify()` sends TLS's own end of output
  (SSL_shutdown, once), before the TCP FIN.  The peer's close_notify is not
  awaited, as the spec allows, and reading goes on after it: TLS 1.3 keeps
  the other direction open, as TCP does, so `write_eof()` works over TLS.

An `SSLSocket`, not an SSLObject over two MemoryBIOs (asyncio's and
uvloop's way): its SSL object reads and writes the socket itself, one C
call per message each way, where BIOs need Python calls to move every
record (bench/results/README.md, "TLS").  evloop calls that object
directly (`_sslobj`, CPython's name for it); if a future CPython renames
it, the public `SSLSocket.recv` and `send` serve instead.
"""

from __future__ import annotations

import functools
import socket
import ssl
from collections.abc import Callable
from typing import Any
from typing import Union

from evloop.settings.config import Config

WOULD_BLOCK = (ssl.SSLWantReadError, ssl.SSLWantWriteError)
ENDED = (ssl.SSLZeroReturnError, ssl.SSLEOFError)  # close_notify, or EOF without one

#: What `context.connect(tls=...)` takes: True (the system's CAs), a CA file, a context.
ClientTLS = Union[bool, str, ssl.SSLContext, None]
IO = tuple[Callable[[int, int], bytes], Callable[[int, Any], int]]


class TLSFailure(Exception):
    """A handshake that cannot succeed; `reason` is one line for the log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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
                         f"load: {reason_of(exc)}") from None
    if config.tls_ca is not None:
        try:
            context.load_verify_locations(config.tls_ca)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"tls_ca ({config.tls_ca}) does not load: {reason_of(exc)}") from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


class TLSFiles:
    """The server's context, as new connections get it: re-read at a reload.

    A certificate is renewed on disk (certbot, an operator) while clients are
    connected.  `reread()` loads the files again into a new context, or raises
    ValueError naming the file that does not load, and the context in use
    stays; `settle(kept)` keeps the new one, or goes back to the one before
    (a reload refused for another reason).  A connection keeps the context it
    was accepted with, so only new connections see a new certificate."""

    def __init__(self, config: Config, context: ssl.SSLContext | None) -> None:
        self.config = config
        self.context = context
        self.before: ssl.SSLContext | None = None

    def reread(self) -> None:
        if self.config.tls:
            fresh = make_context(self.config)  # ValueError: nothing changes
            self.before, self.context = self.context, fresh

    def settle(self, kept: bool) -> None:
        if not kept and self.before is not None:
            self.context = self.before
        self.before = None


def client_context(tls: ClientTLS) -> ssl.SSLContext | None:
    """What `connect(tls=...)` means: None or False, no TLS; True, the system's
    CAs with the host name checked; a path, that CA file instead; or a context
    of the caller's.  ValueError if a CA file will not load."""
    if tls is None or tls is False:
        return None
    if isinstance(tls, ssl.SSLContext):
        return tls
    if tls is True:
        return _default_client_context(None)
    if isinstance(tls, str):
        return _default_client_context(tls)
    raise ValueError(f"tls must be True, a CA file's path or an ssl.SSLContext, not {tls!r}")


@functools.lru_cache(maxsize=16)
def _default_client_context(cafile: str | None) -> ssl.SSLContext:
    # Loading the system's CAs takes milliseconds: once per CA file, not per connection.
    try:
        context = ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"tls: the CA file {cafile} does not load: {reason_of(exc)}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def reason_of(exc: BaseException) -> str:
    """An ssl or socket error as one short line."""
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return exc.reason.replace("_", " ").lower()
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


class TLSSession:
    """One connection's TLS.  The connection calls `wrap(sock)` once, `step()`
    until it returns True, then `io()`; `close_notify()` at its end of output."""

    __slots__ = ("context", "server_side", "server_hostname", "sock", "wants_write",
                 "notified")

    def __init__(self, context: ssl.SSLContext, server_side: bool,
                 server_hostname: str | None = None) -> None:
        self.context = context
        self.server_side = server_side
        self.server_hostname = server_hostname
        self.sock: ssl.SSLSocket | None = None
        self.wants_write = False  # does the handshake wait for writable?
        self.notified = False  # close_notify sent

    def wrap(self, sock: socket.socket) -> ssl.SSLSocket:
        """The SSL socket over `sock` (which it takes over); ValueError for a bad hostname."""
        self.sock = self.context.wrap_socket(sock, server_side=self.server_side,
                                             server_hostname=self.server_hostname,
                                             do_handshake_on_connect=False)
        return self.sock

    def step(self) -> bool:
        """Advance the handshake: True once done, False while it waits; TLSFailure."""
        assert self.sock is not None
        try:
            self.sock.do_handshake()
        except ssl.SSLWantReadError:
            self.wants_write = False
            return False
        except ssl.SSLWantWriteError:
            self.wants_write = True
            return False
        except (ssl.SSLError, OSError) as exc:
            self.wants_write = False
            raise TLSFailure(reason_of(exc)) from exc
        self.wants_write = False
        return True

    def io(self, read_pending: Callable[[], object]) -> IO:
        """The hot path's read(fd, size) and write(fd, data) through the SSL object;
        `read_pending()` is queued when OpenSSL holds plaintext epoll cannot see."""
        sock = self.sock
        assert sock is not None
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
                read_pending()
            return data

        def tls_write(fd: int, data: Any) -> int:
            try:
                sent: int = write(data)
            except WOULD_BLOCK:
                raise BlockingIOError from None
            return sent

        return tls_read, tls_write

    def close_notify(self) -> None:
        """TLS's end of output, once; the peer's answer is not awaited."""
        if self.notified or self.sock is None:
            return
        self.notified = True
        sslobj: Any = getattr(self.sock, "_sslobj", None)
        try:
            if sslobj is not None:
                sslobj.shutdown()
        except (ssl.SSLError, OSError, ValueError):
            pass  # sent as far as it would go (SSLWantReadError: the peer's is not here)

    def peer_subject(self) -> str | None:
        """The peer certificate's subject: "CN=alice,O=Lab"; None without one."""
        if self.sock is None:
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
