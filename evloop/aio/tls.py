"""TLS for evloop.aio: asyncio's SSLProtocol over evloop's stream transport, or put under one.

The TLS state machine (handshake, records, shutdown, their timeouts) is the
standard library's `asyncio.sslproto.SSLProtocol`, a BufferedProtocol that
sits between the socket's transport and the program's protocol, as it does
under BaseEventLoop and, in uvloop's own copy, under uvloop.  What is
evloop's is the transport below it.  evloop's own handler API does TLS
differently (evloop.connection.tls: an SSLObject over memory BIOs inside the
connection); here the asyncio one is used because asyncio programs and
CPython's tests expect its exact behaviour, errors and extra info.

`tls_transport` starts TLS on a new connection (create_connection, a
server's accepted one); `upgrade` is loop.start_tls, which puts it under a
transport already running.
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


async def upgrade(loop: Any, transport: Any, protocol: asyncio.BaseProtocol,
                  context: ssl.SSLContext, server_side: bool, server_hostname: str | None,
                  handshake_timeout: float | None, shutdown_timeout: float | None
                  ) -> asyncio.Transport:
    """loop.start_tls: TLS put under a running transport's protocol.  Reading pauses,
    the protocol is swapped for an SSLProtocol over it, the handshake runs on the
    same socket, and the TLS transport comes back once it is done."""
    if not isinstance(context, ssl.SSLContext):
        raise TypeError(f"sslcontext is expected to be an instance of ssl.SSLContext, "
                        f"got {context!r}")
    if not getattr(transport, "_start_tls_compatible", False):
        raise TypeError(f"transport {transport!r} is not supported by start_tls()")
    waiter = loop.create_future()
    tls = tls_protocol(loop, protocol, context, waiter, server_side, server_hostname,
                       handshake_timeout, shutdown_timeout, call_connection_made=False)
    transport.pause_reading()
    transport.set_protocol(tls)
    made = loop.call_soon(tls.connection_made, transport)
    resumed = loop.call_soon(transport.resume_reading)
    try:
        await waiter
    except BaseException:
        transport.close()
        made.cancel()
        resumed.cancel()
        raise
    return tls._app_transport
