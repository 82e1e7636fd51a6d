"""TLS for evloop.aio: asyncio's SSLProtocol over evloop's stream transport.

The TLS state machine (handshake, records, shutdown, their timeouts) is the
standard library's `asyncio.sslproto.SSLProtocol`, a BufferedProtocol that
sits between the socket's transport and the program's protocol, as it does
under BaseEventLoop and, in uvloop's own copy, under uvloop.  What is
evloop's is the transport below it.  evloop's own handler API does TLS
differently (evloop.connection.tls: an SSLObject over memory BIOs inside the
connection); here the asyncio one is used because asyncio programs and
CPython's tests expect its exact behaviour, errors and extra info.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
import ssl
from asyncio import sslproto
from typing import Any

from evloop.aio.stream import SocketTransport

TAKES_SHUTDOWN_TIMEOUT = "ssl_shutdown_timeout" in inspect.signature(
    sslproto.SSLProtocol).parameters  # Python 3.11+


def tls_protocol(loop: Any, protocol: asyncio.BaseProtocol, context: ssl.SSLContext,
                 waiter: asyncio.Future[Any] | None, server_side: bool,
                 server_hostname: str | None, handshake_timeout: float | None,
                 shutdown_timeout: float | None, **more: Any) -> sslproto.SSLProtocol:
    """An SSLProtocol for `protocol`, with the timeouts this Python takes."""
    if TAKES_SHUTDOWN_TIMEOUT:
        more["ssl_shutdown_timeout"] = shutdown_timeout
    more["ssl_handshake_timeout"] = handshake_timeout
    return sslproto.SSLProtocol(loop, protocol, context, waiter,  # type: ignore[arg-type]
                                server_side, server_hostname, **more)


def tls_transport(loop: Any, sock: socket.socket, protocol: asyncio.BaseProtocol,
                  context: ssl.SSLContext, waiter: asyncio.Future[Any] | None,
                  server_side: bool, server_hostname: str | None, extra: dict[str, Any],
                  server: Any, handshake_timeout: float | None,
                  shutdown_timeout: float | None) -> asyncio.Transport:
    """TLS over a new SocketTransport on `sock`; returns the program's transport."""
    tls = tls_protocol(loop, protocol, context, waiter, server_side, server_hostname,
                       handshake_timeout, shutdown_timeout)
    SocketTransport(loop, sock, tls, extra=extra, server=server)
    return tls._app_transport
