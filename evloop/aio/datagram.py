"""Datagrams: asyncio's DatagramTransport and create_datagram_endpoint.

A datagram socket has no stream and no end: every recvfrom() is one whole
message with its sender's address, every sendto() one whole message, and
nothing says "the peer has gone".  So the transport is the shared base
(evloop.aio.transports) with a different read and write path:

* reading: one recvfrom() per wake-up, handed to the protocol's
  datagram_received(data, addr); a protocol that raises is reported to the
  loop's exception handler and the endpoint goes on, as under asyncio (one
  bad datagram must not cost a server its socket);
* writing: `sendto()` tries at once, as the stream transport does; on
  EAGAIN the datagram is queued whole, with its address, in a deque, and
  the socket is watched for writable until the queue drains.  The buffer
  size counts the queued bytes, so pause_writing and resume_writing come
  through the base as for a stream;
* errors: an OSError from recvfrom or sendto is not the end of anything.
  A connected UDP socket whose peer's port is closed gets ICMP "port
  unreachable", and the kernel turns it into ECONNREFUSED on the next call;
  asyncio hands such errors to protocol.error_received(exc) and keeps the
  endpoint open, and so does this transport.  Only an error that is not an
  OSError takes the one error path (`_fatal_error`);
* connected mode (`remote_addr`): the socket is connect()ed, `send()` is
  used, and `sendto()` with another address raises ValueError.

`create_datagram_endpoint` (evloop.aio.loop) has asyncio's argument rules
and messages, which are here (`endpoint_socket`: `address_pairs` for
families, AF_UNIX paths and their stale socket files, `open_datagram` for
the socket).  Python 3.13 sends empty datagrams and counts each queued
one with an 8-byte header; this transport does what the running Python does.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import socket
import stat
import sys
import warnings
from asyncio import constants
from typing import Any

from evloop.aio.connecting import resolve
from evloop.aio.transports import SocketTransportBase
from evloop.aio.transports import set_result_unless_cancelled
from evloop.connection.read_sizes import DATAGRAM_READ

log = logging.getLogger("asyncio")
SENDS_EMPTY = sys.version_info >= (3, 13)
HEADER_SIZE = 8 if SENDS_EMPTY else 0  # what Python 3.13 counts per queued datagram
UNSET = object()  # create_datagram_endpoint's reuse_address, not given
TAKES_REUSE_ADDRESS = sys.version_info < (3, 11)  # the keyword is gone from 3.11


class DatagramTransport(SocketTransportBase, asyncio.Transport, asyncio.DatagramTransport):
    """A datagram socket, for a DatagramProtocol; `address` is the peer in connected mode.

    Also an asyncio.Transport, as asyncio's own datagram transport is (programs
    and CPython's tests check it), though only sendto() sends."""

    def __init__(self, loop: Any, sock: socket.socket, protocol: asyncio.BaseProtocol,
                 address: Any = None, waiter: asyncio.Future[Any] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        self._address = address
        self._buffer_size = 0
        super().__init__(loop, sock, protocol, extra)
        self._buffer = collections.deque()
        # A UDP datagram is 64 KiB at most, and a 64 KiB read stays under glibc's
        # mmap threshold, which asyncio's 256 KiB (max_size) passes on every read
        # (evloop.connection.read_sizes says why that costs); a Unix datagram may
        # be larger.
        self._recv_size = min(self.max_size, DATAGRAM_READ) \
            if sock.family in (socket.AF_INET, socket.AF_INET6) else self.max_size
        loop.call_soon(protocol.connection_made, self)
        loop.call_soon(self._start_reading)
        if waiter is not None:
            loop.call_soon(set_result_unless_cancelled, waiter, None)

    def get_write_buffer_size(self) -> int:
        return self._buffer_size

    def _read(self) -> None:
        if self._conn_lost:
            return
        try:
            data, addr = self._sock.recvfrom(self._recv_size)  # type: ignore[union-attr]
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._protocol.error_received(exc)
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal read error on datagram transport")
            return
        try:
            self._protocol.datagram_received(data, addr)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._loop.call_exception_handler({
                "message": "protocol.datagram_received() call failed", "exception": exc,
                "transport": self, "protocol": self._protocol})

    def sendto(self, data: bytes | bytearray | memoryview, addr: Any = None) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, "
                            f"not {type(data).__name__!r}")
        if not data and not SENDS_EMPTY:
            return
        if self._address:
            if addr not in (None, self._address):
                raise ValueError(f"Invalid address: must be None or {self._address}")
            addr = self._address
        if self._conn_lost:
            if self._conn_lost >= constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                log.warning("socket.send() raised exception.")
            self._conn_lost += 1
            return
        if not self._buffer:
            if self._sent_now(data, addr) is not False:
                return  # sent, or failed and reported
            self._watch_writes(self._write_ready)
        self._buffer.append((bytes(data), addr))  # a copy: the caller may reuse its buffer
        self._buffer_size += len(data) + HEADER_SIZE
        self._maybe_pause_protocol()

    def _send(self, data: Any, addr: Any) -> None:
        # No address: a connected socket (a Unix socketpair's peer has the name "").
        if addr is None or self._extra["peername"]:
            self._sock.send(data)  # type: ignore[union-attr]
        else:
            self._sock.sendto(data, addr)  # type: ignore[union-attr]

    def _sent_now(self, data: Any, addr: Any) -> bool | None:
        """Send one datagram: True if sent, False if the kernel is full (try later),
        None if it failed, reported (error_received, or the one error path)."""
        try:
            self._send(data, addr)
            return True
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as exc:
            self._protocol.error_received(exc)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal write error on datagram transport")
        return None

    def _write_ready(self) -> None:
        while self._buffer:
            data, addr = self._buffer.popleft()
            self._buffer_size -= len(data) + HEADER_SIZE
            sent = self._sent_now(data, addr)
            if sent is None:
                return
            if not sent:
                self._buffer.appendleft((data, addr))  # the kernel is full: later
                self._buffer_size += len(data) + HEADER_SIZE
                break
        self._maybe_resume_protocol()  # the protocol may queue more here
        if not self._buffer:
            self._evloop.remove_writer(self._fd)
            if self._closing:
                self._call_soon_lost(None)

    def _force_close(self, exc: BaseException | None) -> None:
        self._buffer_size = 0
        super()._force_close(exc)


async def endpoint_socket(loop: Any, sock: socket.socket | None, local_addr: Any,
                          remote_addr: Any, *, family: int, proto: int, flags: int,
                          reuse_address: Any, reuse_port: bool | None,
                          allow_broadcast: bool | None) -> tuple[socket.socket, Any]:
    """create_datagram_endpoint's socket, by asyncio's rules: (the socket, the peer's
    address in connected mode, else None)."""
    if reuse_address is not UNSET:
        if not TAKES_REUSE_ADDRESS:
            raise TypeError("create_datagram_endpoint() got an unexpected keyword argument "
                            "'reuse_address'")
        refuse_reuse_address(reuse_address)
    if sock is not None:
        check_given_socket(sock, local_addr=local_addr, remote_addr=remote_addr,
                           family=family, proto=proto, flags=flags, reuse_port=reuse_port,
                           allow_broadcast=allow_broadcast)
        return sock, None
    pairs = await address_pairs(loop, local_addr, remote_addr, family, proto, flags)
    return await open_datagram(loop, pairs, local_addr, remote_addr, reuse_port,
                               allow_broadcast)


def refuse_reuse_address(reuse_address: Any) -> None:
    """reuse_address=True is refused, as uvloop does: on UDP, it would let another process
    take the port's datagrams.  False is deprecated (asyncio's warning)."""
    if reuse_address:
        raise ValueError("Passing `reuse_address=True` is no longer supported, as the "
                         "usage of SO_REUSEPORT in UDP poses a significant security "
                         "concern.")
    warnings.warn("The *reuse_address* parameter has been deprecated as of 3.5.10 "
                  "and is scheduled for removal in 3.11.", DeprecationWarning, stacklevel=4)


def check_given_socket(sock: socket.socket, **options: Any) -> None:
    """A socket handed to create_datagram_endpoint: a datagram one, and no options with it."""
    if sys.version_info >= (3, 13):  # any socket but a stream one, in 3.13's words
        if sock.type == socket.SOCK_STREAM:
            raise ValueError(f"A datagram socket was expected, got {sock!r}")
    elif sock.type != socket.SOCK_DGRAM:
        raise ValueError(f"A UDP Socket was expected, got {sock!r}")
    if any(options.values()):
        problems = ", ".join(f"{k}={v}" for k, v in options.items() if v)
        raise ValueError(f"socket modifier keyword arguments can not be used "
                         f"when sock is specified. ({problems})")
    sock.setblocking(False)


def check_unix_paths(local_addr: Any, remote_addr: Any) -> None:
    """AF_UNIX endpoints take paths; a stale socket file at `local_addr` goes, as asyncio does
    (and as create_unix_server does, which lets an OSError raise: evloop.aio.connecting)."""
    for addr in (local_addr, remote_addr):
        if addr is not None and not isinstance(addr, str):
            raise TypeError("string is expected")
    if local_addr and local_addr[0] not in (0, "\x00"):  # not Linux's abstract namespace
        try:
            if stat.S_ISSOCK(os.stat(local_addr).st_mode):
                os.remove(local_addr)
        except FileNotFoundError:
            pass
        except OSError as err:  # a directory may let us create sockets only
            log.error("Unable to check or remove stale UNIX socket %r: %r", local_addr, err)


def set_reuse_port(sock: socket.socket) -> None:
    if not hasattr(socket, "SO_REUSEPORT"):
        raise ValueError("reuse_port not supported by socket module")
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    except OSError:
        raise ValueError("reuse_port not supported by socket module, "
                         "SO_REUSEPORT defined but not implemented.") from None


async def address_pairs(loop: Any, local_addr: Any, remote_addr: Any, family: int,
                        proto: int, flags: int) -> list[tuple[tuple[int, int], list[Any]]]:
    """[((family, proto), [local address, remote address])]: asyncio's candidates."""
    if not (local_addr or remote_addr):
        if family == 0:
            raise ValueError("unexpected address family")
        return [((family, proto), [None, None])]
    if family == getattr(socket, "AF_UNIX", None):
        check_unix_paths(local_addr, remote_addr)
        return [((family, proto), [local_addr, remote_addr])]
    by_family: dict[tuple[int, int], list[Any]] = {}  # in getaddrinfo's order
    for index, addr in ((0, local_addr), (1, remote_addr)):
        if addr is None:
            continue
        if not (isinstance(addr, tuple) and len(addr) == 2):
            raise TypeError("2-tuple is expected")
        infos = await resolve(loop, addr, family=family, type=socket.SOCK_DGRAM,
                              proto=proto, flags=flags)
        for family_, _, proto_, _, address in infos:
            by_family.setdefault((family_, proto_), [None, None])[index] = address
    # Each address given must have a candidate in the pair's family.
    pairs = [(key, pair) for key, pair in by_family.items()
             if not ((local_addr and pair[0] is None) or (remote_addr and pair[1] is None))]
    if not pairs:
        raise ValueError("can not get address information")
    return pairs


async def open_datagram(loop: Any, pairs: list[tuple[tuple[int, int], list[Any]]],
                        local_addr: Any, remote_addr: Any, reuse_port: bool | None,
                        allow_broadcast: bool | None) -> tuple[socket.socket, Any]:
    """The first pair that binds and connects: (socket, the peer's address or None)."""
    exceptions: list[OSError] = []
    for (family, proto), (local_address, remote_address) in pairs:
        sock = None
        try:
            sock = socket.socket(family=family, type=socket.SOCK_DGRAM, proto=proto)
            if reuse_port:
                set_reuse_port(sock)
            if allow_broadcast:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            sock.setblocking(False)
            if local_addr:
                sock.bind(local_address)
            if remote_addr:
                if not allow_broadcast:  # a broadcast endpoint sends with sendto()
                    await loop.sock_connect(sock, remote_address)
                return sock, remote_address
            return sock, None
        except OSError as exc:
            if sock is not None:
                sock.close()
            exceptions.append(exc)
        except BaseException:
            if sock is not None:
                sock.close()
            raise
    raise exceptions[0]  # every pair failed: asyncio raises the first error
