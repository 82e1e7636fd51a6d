"""The floor under an asyncio Protocol: the least a Python loop can do to run one.

bench.aio_protocol runs an asyncio Protocol (bench.asyncio_protocol's
HandlerProtocol, over evloop's echo handler) on evloop.aio.  This runs the
very same Protocol on a loop with no features at all: one epoll, an accept,
one os.read() per readiness (of common.RECV_SIZE, as bench.bare_epoll reads)
handed to `data_received`, and a transport
whose `write()` is one os.write().  Its only other methods are what the
Protocol calls: `is_closing`, `close` and `get_extra_info`.

What it leaves out is everything an asyncio loop must have: no call_soon
queue, no timers, no Handles, no futures or tasks (so no streams, and no
uvicorn), no write buffer (the sockets block, as bare_epoll's do), no flow
control, no error path beyond dropping the client, no checks of what
write() is given.  So no asyncio loop in Python can run this Protocol
faster: the gap from here to evloop.aio is what evloop.aio's asyncio
features cost per message, and the gap from here to uvloop is what the
interpreter costs where uvloop runs C.  It is the `aio-floor` model of the
aio sweep; bench.bare_epoll is the same floor for evloop's own handler API.
"""

import os
import select
import socket

from bench import common
from bench.asyncio_protocol import HandlerProtocol


class FloorTransport:
    """The part of asyncio.Transport that HandlerProtocol calls, and no more."""

    def __init__(self, sock):
        self.sock = sock
        self.fd = sock.fileno()
        self.closing = False

    def write(self, data):
        sent = os.write(self.fd, data)
        if sent < len(data):  # a blocking socket: only a signal cuts it short
            self.sock.sendall(memoryview(data)[sent:])

    def is_closing(self):
        return self.closing

    def close(self):
        self.closing = True

    def get_extra_info(self, name, default=None):
        return self.sock.getpeername() if name == "peername" else default


def main():
    options = common.parse_args("aio-floor")
    listener = common.listen(options)
    listener.setblocking(False)  # a client gone before accept() must not hang the loop
    poller = select.epoll()
    poller.register(listener, select.EPOLLIN)
    clients = {}  # fd -> (transport, the protocol's data_received)
    read = os.read
    while True:
        for fd, _ in poller.poll(-1, 1024):
            if fd == listener.fileno():
                try:
                    sock, _ = listener.accept()  # the new socket blocks
                except OSError:
                    continue
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                transport, protocol = FloorTransport(sock), HandlerProtocol(options.factory())
                clients[sock.fileno()] = transport, protocol
                poller.register(sock, select.EPOLLIN)
                protocol.connection_made(transport)
                continue
            transport, protocol = clients[fd]
            try:
                data = read(fd, common.RECV_SIZE)
                if data:
                    protocol.data_received(data)
            except OSError:  # a reset: drop this client
                data = b""
            if not data or transport.closing:
                poller.unregister(fd)
                del clients[fd]
                protocol.connection_lost(None)
                transport.sock.close()


if __name__ == "__main__":
    common.run(main)
