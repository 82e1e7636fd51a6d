"""An echo server on asyncio streams, for any asyncio loop (chapter 6).

    python3 bench/aio_echo.py                          # on asyncio's own loop
    python3 -m evloop.aio --trace bench/aio_echo.py    # on evloop.aio, narrated

The port is --port, else $EVLOOP_PORT, else 12000, as for every server
here; the startup line says where it listens.  Ctrl-C ends it with exit 0.
"""

import argparse
import asyncio
import os


async def echo(reader, writer):
    while True:
        data = await reader.read(65536)
        if not data:  # the client closed its side
            break
        writer.write(data)
        await writer.drain()  # wait while the transport's buffer is over its high-water mark
    writer.close()
    await writer.wait_closed()


async def main(port):
    server = await asyncio.start_server(echo, "127.0.0.1", port)
    host, port = server.sockets[0].getsockname()[:2]
    print(f"aio_echo: serving echo on {host}:{port} (tcp)", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="an echo server on asyncio streams")
    parser.add_argument("--port", type=int, default=int(os.environ.get("EVLOOP_PORT", "12000")))
    try:
        asyncio.run(main(parser.parse_args().port))
    except KeyboardInterrupt:
        pass
