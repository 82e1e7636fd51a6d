"""What every concurrency-model variant shares, so that each file shows only its model.

The protocol is evloop's own handler classes, loaded by name; the blocking
loop `serve_blocking` feeds a handler from a blocking socket, as the labs'
servers do, and is reused by the iterative, threaded, pooled and
socketserver variants.  `announce` prints the startup line the runner reads.
"""

import argparse
import socket
import sys
import threading

from evloop.handlers import ProtocolError
from evloop.handlers import load_handler
from evloop.handlers import make_factory
from evloop.serve import default_port
from evloop.serve import raise_fd_limit

RECV_SIZE = 65536


def parse_args(model, argv=None):
    parser = argparse.ArgumentParser(description=f"evloop's handlers served by: {model}")
    parser.add_argument("--handler", default="echo")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port())
    parser.add_argument("--backlog", type=int, default=4096)
    parser.add_argument("--workers", type=int, default=32, help="pool size, where there is a pool")
    parser.add_argument("--work-ms", type=float, help="slow handler: work per line")
    parser.add_argument("--work", choices=["cpu", "sleep"], help="slow handler: cpu or sleep")
    options = parser.parse_args(argv)
    options.model = model
    options.factory = make_factory(load_handler(options.handler), work_ms=options.work_ms,
                                   work=options.work)
    raise_fd_limit()
    return options


def listen(options):
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((options.host, options.port))
    sock.listen(options.backlog)
    announce(options, sock.getsockname())
    return sock


def announce(options, address):
    print(f"{options.model}: serving {options.handler} on {address[0]}:{address[1]} (tcp), "
          f"model {options.model}", flush=True)


def serve_blocking(sock, address, factory):
    """One client, start to end, on a blocking socket: the labs' server loop."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    lock = threading.Lock()  # push() may come from another client's thread (chat)

    def push(data):
        with lock:
            sock.sendall(data)

    handler = factory()
    try:
        greeting = handler.connection_made(f"{address[0]}:{address[1]}", push)
        if greeting:
            push(greeting)
        while not handler.wants_close:
            data = sock.recv(RECV_SIZE)
            reply = handler.data_received(data) if data else handler.eof_received()
            if reply:
                push(reply)
            if not data:
                break
    except (ProtocolError, ConnectionError, OSError):
        pass  # a protocol error or a vanished client ends this client only
    finally:
        handler.connection_lost()
        sock.close()


def run(main):
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
