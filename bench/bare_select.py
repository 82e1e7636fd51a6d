"""A bare select() loop: the whole idea of an event loop in forty lines.

One thread asks the kernel which sockets are ready, then serves exactly
those.  An idle client costs nothing but a slot in the list.  Its bug:
replies are sent with a blocking sendall(), so one client that sends but
stops reading freezes every client (bench/nonblocking.py fixes it with an
output buffer per socket).  It also lacks backpressure, timeouts and
half-close, and select() stops at 1,024 fds.
"""

import select

import evloop
from bench import common


def main():
    options = common.parse_args("bare-select")
    listener = common.listen(options)
    handlers = {}  # socket -> (its handler, its context)
    while True:
        readable, _, _ = select.select([listener, *handlers], [], [])
        for sock in readable:
            if sock is listener:
                client, address = listener.accept()
                handler = options.factory()
                context = common.SimpleContext(f"{address[0]}:{address[1]}", client.sendall)
                handlers[client] = handler, context
                greeting = handler.connection_made(context)
                if greeting:
                    client.sendall(greeting)
                continue
            handler, context = handlers[sock]
            try:
                data = sock.recv(common.RECV_SIZE)
                reply = handler.data_received(data) if data else None
                if reply:
                    sock.sendall(reply)  # BUG: blocks while this client reads nothing: all wait
            except (evloop.ProtocolError, OSError):  # a bad message or a reset: drop this client
                data = b""
            if not data or context.closing:
                del handlers[sock]
                handler.connection_lost(None)
                sock.close()


if __name__ == "__main__":
    common.run(main)
