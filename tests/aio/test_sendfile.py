"""Sending a file (evloop/aio/sendfile.py): loop.sendfile by the kernel or by
writing, loop.sock_sendfile by the kernel or by reading, and their rules."""

import asyncio
import io
import socket
import ssl

import pytest

from tests.aio.kit import Tracker
from tests.aio.kit import connected
from tests.aio.kit import read_until_eof
from tests.aio.kit import run

pytestmark = pytest.mark.timeout(30)


def test_sendfile_sends_a_file_natively_with_offset_and_count(content):
    path, data = content

    async def main():
        loop = asyncio.get_running_loop()
        transport, protocol, peer = await connected(Tracker, tcp=True)
        # Small kernel buffers, so that the file cannot leave in one os.sendfile() call.
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        with peer, open(path, "rb") as file:
            transport.write(b"head:")  # buffered bytes go first
            sending = asyncio.ensure_future(loop.sendfile(transport, file, 100, len(data)))
            await asyncio.sleep(0)
            with pytest.raises(RuntimeError, match="sendfile is in progress"):
                transport.write(b"meanwhile")
            reading = asyncio.ensure_future(read_until_eof(peer))
            sent = await sending
            position = file.tell()
            assert transport.is_reading()  # resumed after
            transport.write(b":tail")
            transport.close()
            got = await reading
            await protocol.lost
        return sent, position, got
    sent, position, got = run(main())
    assert sent == len(data) - 100 and position == len(data)
    assert got == b"head:" + data[100:] + b":tail"


def test_sendfile_argument_rules(content, tmp_path):
    path, _ = content

    async def main():
        loop = asyncio.get_running_loop()
        transport, protocol, peer = await connected(Tracker, tcp=True)
        with peer, open(path, "rb") as file:
            for kwargs, match in [({"count": 0}, "count must be a positive integer"),
                                  ({"offset": -1}, "offset must be a non-negative integer")]:
                with pytest.raises(ValueError, match=match):
                    await loop.sendfile(transport, file, **kwargs)
            with open(tmp_path / "text", "w") as text:
                with pytest.raises(ValueError, match="binary mode"):
                    await loop.sendfile(transport, text)
            with pytest.raises(asyncio.SendfileNotAvailableError):
                await loop.sendfile(transport, io.BytesIO(b"in memory"), fallback=False)
            # Not a file the kernel can send: read and written, in order.
            sent = await loop.sendfile(transport, io.BytesIO(b"0123456789"), 2, 5)
            transport.close()
            with pytest.raises(RuntimeError, match="Transport is closing"):
                await loop.sendfile(transport, file)
            got = await read_until_eof(peer)
            await protocol.lost
        return sent, got
    assert run(main()) == (5, b"23456")


def test_sendfile_falls_back_to_writing_over_tls(certs, content):
    server_context, client_context = certs
    path, data = content

    async def main():
        loop = asyncio.get_running_loop()
        received = []

        async def collect(reader, writer):
            received.append(await reader.read())
            writer.close()
            await writer.wait_closed()
        server = await asyncio.start_server(collect, "127.0.0.1", 0, ssl=server_context)
        async with server:
            transport, protocol = await loop.create_connection(
                Tracker, *server.sockets[0].getsockname(), ssl=client_context,
                server_hostname="127.0.0.1")
            with open(path, "rb") as file:
                with pytest.raises(RuntimeError, match="fallback is disabled"):
                    await loop.sendfile(transport, file, fallback=False)
                sent = await loop.sendfile(transport, file, 10)
                position = file.tell()
            transport.close()
            await protocol.lost
            while not received:
                await asyncio.sleep(0.01)
        return sent, position, received[0]
    sent, position, got = run(main())
    assert sent == len(data) - 10 and position == len(data) and got == data[10:]


def test_sock_sendfile_with_offset_and_count_and_by_reading(content):
    path, data = content

    async def main():
        loop = asyncio.get_running_loop()
        ours, peer = socket.socketpair()
        with ours, peer:
            ours.setblocking(False)
            peer.setblocking(False)
            reading = asyncio.ensure_future(loop.sock_recv(peer, 1))
            with open(path, "rb") as file:
                native = asyncio.ensure_future(loop.sock_sendfile(ours, file, 7, 2 * 1024 * 1024))
                chunks = [await reading]
                while sum(map(len, chunks)) < 2 * 1024 * 1024:
                    chunks.append(await loop.sock_recv(peer, 256 * 1024))
                sent = await native
                position = file.tell()
            by_reading = await loop.sock_sendfile(ours, io.BytesIO(b"abcdef"), 1, 3)
            tail = await loop.sock_recv(peer, 10)
            with pytest.raises(asyncio.SendfileNotAvailableError):
                await loop.sock_sendfile(ours, io.BytesIO(b"x"), fallback=False)
            with pytest.raises(ValueError, match="count must be"):
                await loop.sock_sendfile(ours, io.BytesIO(b"x"), count=-1)
            with pytest.raises(ValueError, match="offset must be"):
                await loop.sock_sendfile(ours, io.BytesIO(b"x"), offset=-1)
        with socket.socket(type=socket.SOCK_DGRAM) as udp:
            with pytest.raises(ValueError, match="only SOCK_STREAM"):
                await loop.sock_sendfile(udp, io.BytesIO(b"x"))
        return sent, position, b"".join(chunks), by_reading, tail
    sent, position, got, by_reading, tail = run(main())
    assert sent == 2 * 1024 * 1024 and position == 7 + sent
    assert got == data[7:7 + sent]
    assert by_reading == 3 and tail == b"bcd"


def test_start_tls_and_sendfile_refuse_a_datagram_transport(tmp_path):
    async def main():
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                           local_addr=("127.0.0.1", 0))
        try:
            with pytest.raises(TypeError, match="is not supported by start_tls"):
                await loop.start_tls(transport, asyncio.Protocol(), ssl.create_default_context())
            with open(tmp_path / "f", "wb+") as file:
                with pytest.raises(RuntimeError, match="sendfile is not supported"):
                    await loop.sendfile(transport, file)
        finally:
            transport.close()
    run(main())
