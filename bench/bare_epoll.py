"""A bare epoll loop: the least a pure-Python event loop can do per message.

bare_select.py with the two changes that make a Python loop fast: epoll,
which hands back only the ready descriptors, and os.read()/os.write() on
the descriptor's number.  Per message it makes one read(), one handler call
and one write(), which is what evloop's hot path does too.  What it leaves
out is everything evloop adds: the output buffer and backpressure, idle
timeouts, half-close, a graceful drain, per-connection error isolation
beyond dropping the client, the state machine.

So it is the floor of the benchmark: the gap between this row and evloop's
is what evloop's features cost per message, and no pure-Python server with
those features can be faster than this one.  Its flaw is bare_select's: the
sockets block, so a client that stops reading stalls everyone in write().
"""

import os
import select
import socket

import evloop
from bench import common


def main():
    options = common.parse_args("bare-epoll")
    listener = common.listen(options)
    listener.setblocking(False)  # a client gone before accept() must not hang the loop
    poller = select.epoll()
    poller.register(listener, select.EPOLLIN)
    clients = {}  # fd -> (socket, handler, context)
    read, write = os.read, os.write
    while True:
        for fd, _ in poller.poll(-1, 1024):
            if fd == listener.fileno():
                try:
                    client, address = listener.accept()  # the new socket blocks
                except OSError:
                    continue
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                handler = options.factory()
                context = common.SimpleContext(f"{address[0]}:{address[1]}", client.sendall)
                clients[client.fileno()] = client, handler, context
                poller.register(client, select.EPOLLIN)
                greeting = handler.connection_made(context)
                if greeting:
                    client.sendall(greeting)
                continue
            sock, handler, context = clients[fd]
            try:
                data = read(fd, common.RECV_SIZE)
                reply = handler.data_received(data) if data else None
                if reply:
                    sent = write(fd, reply)
                    if sent < len(reply):  # blocking socket: only a signal cuts it short
                        sock.sendall(memoryview(reply)[sent:])
            except (evloop.ProtocolError, OSError):  # a bad message or a reset: drop this client
                data = b""
            if not data or context.closing:
                poller.unregister(fd)
                del clients[fd]
                handler.connection_lost(None)
                sock.close()


if __name__ == "__main__":
    common.run(main)
