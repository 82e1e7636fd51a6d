"""The labs' uppercase server, in their length-prefixed messages, on asyncio streams (chapter 6).

    python3 -m evloop.aio bench/aio_upper_streams.py    # on evloop.aio
    python3 bench/aio_upper_streams.py                  # on asyncio's own loop

A message is three ASCII digits, `str(n).zfill(3)`, then n bytes of payload
(LABS.md's recv_all exercise); the reply is the payload in capitals, framed
the same way.  `reader.readexactly(n)` is the labs' recv_all(sock, n): it
waits until n bytes have come, however the client's sends were cut, and
raises IncompleteReadError when the client closes first.  The twin with a
Protocol and its callbacks is bench/aio_upper_protocol.py.  The port is
--port, else $EVLOOP_PORT, else 12000; Ctrl-C ends it with exit 0.
"""

import argparse
import asyncio
import os


async def serve_client(reader, writer):
    try:
        while True:
            header = await reader.readexactly(3)  # the labs' recv_all(sock, 3)
            if not header.isdigit():
                break  # not the labs' format: hang up
            payload = await reader.readexactly(int(header))
            writer.write(header + payload.upper())  # same length, same header
            await writer.drain()  # wait while the client is slow to read
    except (asyncio.IncompleteReadError, ConnectionError):
        pass  # the client left, between messages or within one
    finally:
        writer.close()


async def main(port):
    server = await asyncio.start_server(serve_client, "127.0.0.1", port)
    host, port = server.sockets[0].getsockname()[:2]
    print(f"aio_upper_streams: serving uppercase lenprefix on {host}:{port} (tcp)", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="the labs' uppercase server on asyncio streams")
    parser.add_argument("--port", type=int, default=int(os.environ.get("EVLOOP_PORT", "12000")))
    try:
        asyncio.run(main(parser.parse_args().port))
    except KeyboardInterrupt:
        pass
