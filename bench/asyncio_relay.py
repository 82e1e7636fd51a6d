"""The textbook asyncio relay: two Protocols back to back, each pausing the other's
reading (uvloop_relay runs this very code on libuv's loop).

This is what an asyncio user writes, not evloop's handler adapter: the client's
side opens the backend's with `create_connection`, and until it is up the
client is not read.  Flow control is asyncio's: a side whose transport's
buffer passes high water hears `pause_writing()` and pauses the *other*
side's reading.  A half-close passes through (`write_eof`, `eof_received`
returning True).
"""

import asyncio

from bench import common


class Side(asyncio.Protocol):
    """One end; `other` is the Side at the other end once both exist."""

    other = None
    transport = None

    def data_received(self, data):
        self.other.transport.write(data)

    def eof_received(self):
        if self.other.transport.can_write_eof():
            self.other.transport.write_eof()
        return True  # the other direction may still be talking

    def pause_writing(self):
        self.other.transport.pause_reading()

    def resume_writing(self):
        self.other.transport.resume_reading()

    def connection_lost(self, exc):
        if self.other is not None and self.other.transport is not None:
            self.other.transport.close()


class ClientSide(Side):
    def __init__(self, upstream):
        self.upstream = upstream
        self.early = []  # read before the backend was up (uvloop may read one chunk)

    def connection_made(self, transport):
        self.transport = transport
        transport.pause_reading()  # until the backend is up
        asyncio.get_running_loop().create_task(self.open_backend())

    def data_received(self, data):
        if self.other is None:
            self.early.append(data)
        else:
            self.other.transport.write(data)

    async def open_backend(self):
        backend = BackendSide(self)
        try:
            await asyncio.get_running_loop().create_connection(lambda: backend, *self.upstream)
        except OSError:
            self.transport.close()
            return
        self.other = backend
        for data in self.early:
            backend.transport.write(data)
        self.early.clear()
        if not self.transport.is_closing():
            self.transport.resume_reading()


class BackendSide(Side):
    def __init__(self, client):
        self.other = client

    def connection_made(self, transport):
        self.transport = transport


async def serve(options):
    host, port = options.upstream.rsplit(":", 1)
    upstream = (host, int(port))
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: ClientSide(upstream), options.host, options.port,
                                      backlog=options.backlog)
    common.announce(options, server.sockets[0].getsockname())
    await server.serve_forever()


def main():
    asyncio.run(serve(common.parse_args("asyncio-relay")))


if __name__ == "__main__":
    common.run(main)
