"""The floor for relays: a featureless epoll relay, no buffers, no flow control, no
half-close, no error handling past closing both ends.

It does what any relay must and nothing more: accept, connect to the backend
(blocking: it is on loopback, and before the measured window), and move each
read to the other socket.  What evloop's relay spends beyond this is the cost
of its features.  Not a server to use: a peer that stops reading stalls it.
"""

import os
import select
import socket

from bench import common

READ = 65536


def main():
    options = common.parse_args("bare-relay")
    host, port = options.upstream.rsplit(":", 1)
    listener = common.listen(options)
    listener.setblocking(False)
    epoll = select.epoll()
    epoll.register(listener.fileno(), select.EPOLLIN)
    pairs, sockets = {}, {}  # fd -> the other end's fd; fd -> socket
    while True:
        for fd, _ in epoll.poll():
            if fd == listener.fileno():
                client, _ = listener.accept()
                backend = socket.create_connection((host, int(port)))
                for sock in (client, backend):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    sockets[sock.fileno()] = sock
                    epoll.register(sock.fileno(), select.EPOLLIN)
                pairs[client.fileno()], pairs[backend.fileno()] = backend.fileno(), client.fileno()
                continue
            if fd not in pairs:
                continue  # its other end closed it earlier in this turn
            try:
                data = os.read(fd, READ)
                if data:
                    sockets[pairs[fd]].sendall(data)  # blocking: the floor has no buffers
                    continue
            except OSError:
                pass
            for end in (fd, pairs.pop(fd)):
                pairs.pop(end, None)
                epoll.unregister(end)
                sockets.pop(end).close()


if __name__ == "__main__":
    common.run(main)
