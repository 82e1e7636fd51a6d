"""asyncio with a Protocol: callbacks on asyncio's own selector loop (uvloop_protocol reuses it).

The same evloop handler classes, adapted to asyncio's callbacks, which have
the same grammar (made, received*, eof?, lost).  The adapter gives each
handler the whole `evloop.Context` on an asyncio transport (push, close,
write_eof, pause_reading, call_later, connect, ...), so that tests run the
very same handlers (the relay among them) on both loops and compare what a
client sees, as uvloop's tests run one class on two loops.
"""

import asyncio
import ssl

from bench import common
import evloop


class AsyncioContext:
    """evloop.Context on an asyncio transport; before an outbound connection
    is up, pushes and the asked ending wait, as under evloop."""

    server = None
    peer_subject = None

    def __init__(self, protocol, peer="?"):
        self.protocol = protocol
        self.peer = peer
        self.transport = None
        self.pending = []  # pushed before the transport exists
        self.ending = None  # "eof" or "close", asked before it exists
        self.closing = False  # close() asked: done after the current call

    def attach(self, transport):
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "unix"
        for data in self.pending:
            transport.write(data)
        self.pending.clear()

    def push(self, data):
        if self.transport is None:
            self.pending.append(bytes(data))
        elif not self.transport.is_closing():
            self.transport.write(data)

    def close(self):
        self.closing = True
        if self.transport is None:
            self.ending = "close"
        elif not self.protocol.in_call:
            self.transport.close()

    def abort(self):
        self.closing = True
        if self.transport is not None:
            self.transport.abort()

    def is_closing(self):
        return self.closing or (self.transport is not None and self.transport.is_closing())

    def write_eof(self):
        if self.transport is None:
            self.ending = self.ending or "eof"
        elif self.transport.can_write_eof():
            self.transport.write_eof()
        else:
            self.close()

    def pause_reading(self):
        self.protocol.paused_by_handler = True
        self.protocol.update_reading()

    def resume_reading(self):
        self.protocol.paused_by_handler = False
        self.protocol.update_reading()

    def set_idle_timeout(self, seconds):
        """asyncio has no idle timeout of its own: nothing to change."""

    def call_later(self, delay, callback, *args):
        return asyncio.get_running_loop().call_later(delay, callback, *args)

    def time(self):
        return asyncio.get_running_loop().time()

    def call_every(self, interval, callback, *args):
        raise NotImplementedError("call_every is evloop's own: the bench's servers serve the "
                                  "built-in handlers, which set no periodic timer")

    def offload(self, fn, *args, then, error=None):
        return common.offload_inline(fn, args, then, error)

    def connect(self, address, handler, *, tls=None, server_hostname=None, timeout=10.0):
        protocol = HandlerProtocol(handler)
        asyncio.get_running_loop().create_task(protocol.dial(address, tls, timeout))
        return protocol.context


class HandlerProtocol(asyncio.Protocol):
    """Adapts an evloop handler to asyncio's callbacks: the same grammar."""

    def __init__(self, handler):
        self.handler = handler
        self.context = AsyncioContext(self)
        self.in_call = False
        self.paused_by_handler = False
        self.paused_by_output = False
        self.made = False

    async def dial(self, address, tls, timeout):
        loop = asyncio.get_running_loop()
        context = tls if isinstance(tls, ssl.SSLContext) else (
            ssl.create_default_context(cafile=tls if isinstance(tls, str) else None)
            if tls else None)
        try:
            if isinstance(address, str):
                coro = loop.create_unix_connection(lambda: self, address, ssl=context)
            else:
                coro = loop.create_connection(lambda: self, *address, ssl=context)
            await asyncio.wait_for(coro, timeout)
        except (OSError, asyncio.TimeoutError) as exc:
            if not self.made:
                self.handler.connection_lost(exc)

    def connection_made(self, transport):
        self.made = True
        self.context.attach(transport)
        self.call(self.handler.connection_made, self.context)
        ending, self.context.ending = self.context.ending, None
        if ending == "eof":
            self.context.write_eof()
        elif ending == "close":
            self.context.close()

    def call(self, method, *args):
        """A handler call whose answer is sent; close() asked in it comes after."""
        self.in_call = True
        try:
            reply = method(*args)
        except evloop.ProtocolError as err:
            reply, self.context.closing = err.reply, True
        finally:
            self.in_call = False
        if reply and reply is not True:
            self.context.push(reply)
        if self.context.closing and self.context.transport is not None:
            self.context.transport.close()
        return reply

    def data_received(self, data):
        self.call(self.handler.data_received, data)

    def eof_received(self):
        return self.call(self.handler.eof_received) is True  # True: keep it open

    def pause_writing(self):
        self.handler.pause_writing()
        self.paused_by_output = self.handler.backpressure_stops_reading
        self.update_reading()

    def resume_writing(self):
        self.paused_by_output = False
        self.update_reading()
        self.handler.resume_writing()

    def update_reading(self):
        transport = self.context.transport
        if transport is None or transport.is_closing():
            return
        if self.paused_by_handler or self.paused_by_output:
            transport.pause_reading()
        else:
            transport.resume_reading()

    def connection_lost(self, exc):
        self.handler.connection_lost(exc)


async def serve(options):
    loop = asyncio.get_running_loop()
    if options.unix:
        server = await loop.create_unix_server(lambda: HandlerProtocol(options.factory()),
                                               options.unix, backlog=options.backlog)
    else:
        server = await loop.create_server(lambda: HandlerProtocol(options.factory()),
                                          options.host, options.port, backlog=options.backlog,
                                          ssl=common.tls_context(options))
    common.announce(options, server.sockets[0].getsockname())
    await server.serve_forever()


def main():
    asyncio.run(serve(common.parse_args("asyncio-protocol")))


if __name__ == "__main__":
    common.run(main)
