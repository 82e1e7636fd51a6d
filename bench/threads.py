"""Thread per client, as the labs' multithreaded server.

The iterative server's socket calls, with one change: each accepted client
is served in a thread of its own, so a client blocked in recv() blocks only
its thread.  `diff bench/iterative.py bench/threads.py` is the whole lesson.
"""

import socket
import threading

import evloop
from bench import common


def main(model="threads"):
    options = common.parse_args(model)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # rebind at once after a restart
    listener.bind((options.host, options.port))
    listener.listen(options.backlog)  # clients not yet accepted wait here
    common.announce(options, listener.getsockname())
    while True:
        sock, address = listener.accept()  # blocks until a client connects
        threading.Thread(target=serve, args=(sock, address, options.factory), daemon=True).start()


def serve(sock, address, factory):
    """One client, start to end, in its own thread: recv, give the bytes to the handler, send."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # a reply leaves at once
    lock = threading.Lock()  # another client's thread may send here too (the chat handler)

    def sendall(data):
        with lock:
            sock.sendall(data)

    handler = factory()
    context = common.SimpleContext(f"{address[0]}:{address[1]}", sendall)
    try:
        greeting = handler.connection_made(context)
        if greeting:
            sendall(greeting)
        while not context.closing:
            data = sock.recv(common.RECV_SIZE)  # blocks this thread only
            reply = handler.data_received(data) if data else handler.eof_received()
            if reply:
                sendall(reply)  # blocks this thread until the kernel has taken every byte
            if not data:
                break
    except (evloop.ProtocolError, OSError):  # a bad message or a reset ends this client only
        pass
    finally:
        handler.connection_lost(None)
        sock.close()


if __name__ == "__main__":
    common.run(main)
