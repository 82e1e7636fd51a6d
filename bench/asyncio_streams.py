"""asyncio streams: a coroutine per client, written like the blocking loop, with await."""

import asyncio

import evloop
from bench import common


async def serve_client(reader, writer, factory):
    handler = factory()
    host, port = writer.get_extra_info("peername")[:2]
    context = common.SimpleContext(f"{host}:{port}", writer.write,
                                   asyncio.get_running_loop().call_later)
    greeting = handler.connection_made(context)
    try:
        if greeting:
            writer.write(greeting)
        while not context.closing:
            data = await reader.read(common.RECV_SIZE)
            reply = handler.data_received(data) if data else handler.eof_received()
            if reply:
                writer.write(reply)
                await writer.drain()
            if not data:
                break
    except (evloop.ProtocolError, ConnectionError):
        pass
    finally:
        handler.connection_lost(None)
        writer.close()


async def serve(options):
    server = await asyncio.start_server(
        lambda r, w: serve_client(r, w, options.factory), options.host, options.port,
        backlog=options.backlog)
    common.announce(options, server.sockets[0].getsockname())
    await server.serve_forever()


def main():
    asyncio.run(serve(common.parse_args("asyncio-streams")))


if __name__ == "__main__":
    common.run(main)
