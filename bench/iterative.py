"""Iterative: one client at a time, as the labs' first server; the rest wait in the backlog.

The socket calls are the labs' own: socket, bind, listen, then accept one
client and recv / sendall until it closes.  The protocol is an evloop
handler (bench.common), so every model here speaks the same one.
"""

import socket

import evloop
from bench import common


def main():
    options = common.parse_args("iterative")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # rebind at once after a restart
    listener.bind((options.host, options.port))
    listener.listen(options.backlog)  # clients not yet accepted wait here
    common.announce(options, listener.getsockname())
    while True:
        sock, address = listener.accept()  # blocks until a client connects
        serve(sock, address, options.factory)


def serve(sock, address, factory):
    """One client, start to end: recv, give the bytes to the handler, send its reply."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # a reply leaves at once
    handler = factory()
    context = common.SimpleContext(f"{address[0]}:{address[1]}", sock.sendall)
    try:
        greeting = handler.connection_made(context)
        if greeting:
            sock.sendall(greeting)
        while not context.closing:
            data = sock.recv(common.RECV_SIZE)  # blocks until bytes arrive; b"": the client closed
            reply = handler.data_received(data) if data else handler.eof_received()
            if reply:
                sock.sendall(reply)  # blocks until the kernel has taken every byte
            if not data:
                break
    except (evloop.ProtocolError, OSError):  # a bad message or a reset ends this client only
        pass
    finally:
        handler.connection_lost(None)
        sock.close()


if __name__ == "__main__":
    common.run(main)
