"""TLS in evloop.aio (evloop/aio/tls.py): asyncio's SSLProtocol over the stream
transport, on a new connection and under a running one (start_tls)."""

import asyncio
import socket

import pytest

from tests.aio.kit import Echo
from tests.aio.kit import Tracker
from tests.aio.kit import run

pytestmark = pytest.mark.timeout(30)


def test_create_connection_with_tls_and_a_connected_socket(certs):
    server_context, client_context = certs

    async def echoed(loop, **how):
        """Send b"secret" over a new TLS connection; what came back, and its cipher."""
        transport, protocol = await loop.create_connection(
            Tracker, ssl=client_context, server_hostname="127.0.0.1", **how)
        transport.write(b"secret")
        while len(protocol.data) < 6:
            await asyncio.sleep(0.01)
        cipher = transport.get_extra_info("cipher")
        transport.close()
        await protocol.lost
        return bytes(protocol.data), cipher

    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Echo, "127.0.0.1", 0, ssl=server_context)
        async with server:
            address = server.sockets[0].getsockname()
            by_address = await echoed(loop, host=address[0], port=address[1])
            by_socket = await echoed(loop, sock=socket.create_connection(address))
        return by_address, by_socket
    by_address, by_socket = run(main())
    for data, cipher in (by_address, by_socket):
        assert data == b"SECRET"  # the server's Echo answers in capitals
        assert cipher[1] == "TLSv1.3"


def test_start_tls_upgrades_a_plain_connection(certs):
    server_context, client_context = certs

    async def main():
        loop = asyncio.get_running_loop()
        upgraded = loop.create_future()

        class StartsTls(asyncio.Protocol):
            def connection_made(self, transport):
                self.transport = transport

            def data_received(self, data):
                assert data == b"STARTTLS"
                upgraded.set_result(asyncio.ensure_future(loop.start_tls(
                    self.transport, self, server_context, server_side=True)))

        server = await loop.create_server(StartsTls, "127.0.0.1", 0)
        async with server:
            transport, protocol = await loop.create_connection(
                Tracker, *server.sockets[0].getsockname())
            transport.write(b"STARTTLS")
            server_side = await upgraded
            tls = await loop.start_tls(transport, protocol, client_context,
                                       server_hostname="127.0.0.1")
            server_tls = await server_side
            server_tls.write(b"over tls")
            while len(protocol.data) < 8:
                await asyncio.sleep(0.01)
            version = tls.get_extra_info("ssl_object").version()
            with pytest.raises(TypeError, match="sslcontext is expected"):
                await loop.start_tls(tls, protocol, object())
            tls.close()
            server_tls.close()
            await protocol.lost
        return bytes(protocol.data), version
    data, version = run(main())
    assert data == b"over tls" and version.startswith("TLS")
