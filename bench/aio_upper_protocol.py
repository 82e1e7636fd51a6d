"""The labs' uppercase server, in their length-prefixed messages, as an asyncio Protocol (chapter 6).

    python3 -m evloop.aio bench/aio_upper_protocol.py    # on evloop.aio
    python3 bench/aio_upper_protocol.py                  # on asyncio's own loop

The same service as bench/aio_upper_streams.py, written as callbacks: the
loop calls `data_received` with whatever one recv() returned, so the
protocol keeps what has come in a buffer and answers each whole message
it finds there.  `transport.write()` sends at once what the kernel takes
and queues the rest.  The port is --port, else $EVLOOP_PORT, else 12000;
Ctrl-C ends it with exit 0.
"""

import argparse
import asyncio
import os


class UpperProtocol(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.received = b""  # bytes of a message not yet whole

    def data_received(self, data):
        self.received += data
        while len(self.received) >= 3:
            header = self.received[:3]
            if not header.isdigit():
                self.transport.close()  # not the labs' format: hang up
                return
            end = 3 + int(header)
            if len(self.received) < end:
                return  # the rest of this message has not come yet
            self.transport.write(header + self.received[3:end].upper())
            self.received = self.received[end:]

    def eof_received(self):
        return False  # the client is done: close our side too


async def main(port):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(UpperProtocol, "127.0.0.1", port)
    host, port = server.sockets[0].getsockname()[:2]
    print(f"aio_upper_protocol: serving uppercase lenprefix on {host}:{port} (tcp)", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="the labs' uppercase server as an asyncio Protocol")
    parser.add_argument("--port", type=int, default=int(os.environ.get("EVLOOP_PORT", "12000")))
    try:
        asyncio.run(main(parser.parse_args().port))
    except KeyboardInterrupt:
        pass
