"""The plainest asyncio Protocol echo, on the loop named: asyncio, aio (evloop.aio) or uvloop.

    python3 -m bench.protocol_echo aio

Only the loop changes between the three; the program is asyncio's own.  It
prints `serving on 127.0.0.1:PORT (tcp)` and serves until SIGINT or SIGTERM.
"""

import asyncio
import signal
import sys


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, "127.0.0.1", 0)
    print("serving on 127.0.0.1:%d (tcp)" % server.sockets[0].getsockname()[1], flush=True)
    stopped = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stopped.set_result, None)
    await stopped
    server.close()


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "asyncio"
    if which == "aio":
        import evloop.aio
        evloop.aio.install()
    elif which == "uvloop":
        import uvloop
        uvloop.install()
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
