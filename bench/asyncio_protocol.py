"""asyncio with a Protocol: callbacks on asyncio's own selector loop (uvloop_protocol reuses it)."""

import asyncio

from bench import common
import evloop


class HandlerProtocol(asyncio.Protocol):
    """Adapts an evloop handler to asyncio's callbacks: the same grammar."""

    def __init__(self, factory):
        self.handler = factory()

    def connection_made(self, transport):
        self.transport = transport
        peer = transport.get_extra_info("peername")
        name = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "unix"
        self.context = common.SimpleContext(name, transport.write,
                                            asyncio.get_running_loop().call_later)
        greeting = self.handler.connection_made(self.context)
        if greeting:
            transport.write(greeting)

    def data_received(self, data):
        try:
            reply = self.handler.data_received(data)
        except evloop.ProtocolError:
            return self.transport.close()
        if reply:
            self.transport.write(reply)
        if self.context.closing:
            self.transport.close()

    def eof_received(self):
        try:
            final = self.handler.eof_received()
        except evloop.ProtocolError:
            final = None
        if final:
            self.transport.write(final)
        return False  # close once the replies are written

    def connection_lost(self, exc):
        self.handler.connection_lost(exc)


async def serve(options):
    loop = asyncio.get_running_loop()
    if options.unix:
        server = await loop.create_unix_server(lambda: HandlerProtocol(options.factory),
                                               options.unix, backlog=options.backlog)
    else:
        server = await loop.create_server(lambda: HandlerProtocol(options.factory),
                                          options.host, options.port, backlog=options.backlog,
                                          ssl=common.tls_context(options))
    common.announce(options, server.sockets[0].getsockname())
    await server.serve_forever()


def main():
    asyncio.run(serve(common.parse_args("asyncio-protocol")))


if __name__ == "__main__":
    common.run(main)
