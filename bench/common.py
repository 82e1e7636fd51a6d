"""What every concurrency-model variant shares, so that each file shows only its model.

The protocol is evloop's own handler classes, loaded by name through the
public API (`evloop.load_handler`); the blocking loop `serve_blocking` feeds
a handler from a blocking socket, as the labs' servers do, and is reused by
the pooled and socketserver variants (bench/iterative.py and bench/threads.py
write the same loop out, so that the labs' socket calls are on their page).
A handler is given a context in `connection_made` (evloop.Context): `SimpleContext` is
the one these servers give, with `push` as each model sends and the work
of `offload` done inline.  `announce` prints the startup line the runner
reads.
"""

import argparse
import os
import socket
import ssl
import sys
import threading
import time

import evloop

RECV_SIZE = 65536
MAX_CONNECTIONS = 120_000  # what a model may be asked to hold: the massive sweep's 100,000
DEFAULT_PORT = 12000  # evloop's, or $EVLOOP_PORT, as the runner and docs expect


def offload_inline(fn, args, then, error):
    """`context.offload` with no pool, for the bench's own contexts: evloop's
    evloop.handlers.context.offload_inline, written again because bench/ uses only
    evloop's public API."""
    try:
        result = fn(*args)
    except Exception as exc:
        if error is None:
            raise
        return error(exc)
    return then(result)


class SimpleContext:
    """evloop.Context for the bench's own servers: push sends now, close and
    abort mark the connection as ending (the server acts after the reply),
    offloaded work runs inline, and timers come from `call_later` if the
    model has a loop (asyncio's), or a thread's timer otherwise."""

    def __init__(self, peer, push, call_later=None):
        self.peer = peer
        self.push = push
        self.closing = False
        self._call_later = call_later

    def close(self):
        self.closing = True

    def abort(self):
        self.closing = True

    def is_closing(self):
        return self.closing

    def call_later(self, delay, callback, *args):
        if self._call_later is not None:
            return self._call_later(delay, callback, *args)
        timer = threading.Timer(delay, callback, args)
        timer.daemon = True
        timer.start()
        return timer

    def time(self):
        return time.monotonic()

    def call_every(self, interval, callback, *args):
        raise NotImplementedError("call_every is evloop's own: the bench's servers serve the "
                                  "built-in handlers, which set no periodic timer")

    def offload(self, fn, *args, then, error=None):
        return offload_inline(fn, args, then, error)  # a thread is its own pool here

    def write_eof(self):
        self.closing = True  # a thread's handler is done when its socket is

    def pause_reading(self):
        """A thread reads when its handler is done: reading waits for it anyway."""

    def resume_reading(self):
        """See pause_reading."""

    def set_idle_timeout(self, seconds):
        """These servers have no idle timeout."""

    def connect(self, address, handler, **options):
        raise NotImplementedError("this model serves one blocking socket per client: relay "
                                  "with evloop, asyncio or uvloop")

    server = None
    peer_subject = None


def default_port():
    text = os.environ.get("EVLOOP_PORT", "")
    return int(text) if text.isdigit() else DEFAULT_PORT


def parse_args(model, argv=None):
    parser = argparse.ArgumentParser(description=f"evloop's handlers served by: {model}")
    parser.add_argument("--handler", default="echo")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port())
    parser.add_argument("--backlog", type=int, default=4096)
    parser.add_argument("--workers", type=int, default=32, help="pool size, where there is a pool")
    parser.add_argument("--work-ms", type=float, help="slow handler: work per line")
    parser.add_argument("--work", choices=["cpu", "sleep"], help="slow handler: cpu or sleep")
    parser.add_argument("--upstream", help="relay handler: the backend, HOST:PORT or unix:PATH "
                                           "(asyncio, uvloop; bench.nonblocking relays byte for "
                                           "byte to HOST:PORT)")
    parser.add_argument("--tls-cert", help="serve TLS with this PEM certificate (asyncio, uvloop)")
    parser.add_argument("--tls-key", help="its PEM private key")
    parser.add_argument("--unix", metavar="PATH",
                        help="serve on a Unix stream socket instead (asyncio, uvloop)")
    parser.add_argument("--trace", action="store_true",
                        help="print each step of the loop to stderr (bench.nonblocking)")
    options = parser.parse_args(argv)
    options.model = model
    handler = evloop.load_handler(options.handler)
    given = {"work_ms": options.work_ms, "work": options.work, "upstream": options.upstream}
    handler_options = {name: option.check(name, given[name])
                       for name, option in handler.options.items() if given.get(name) is not None}
    options.factory = handler.factory(**handler_options)
    options.handler_class = handler
    evloop.raise_fd_limit(MAX_CONNECTIONS)  # past the hard limit as root, for the massive sweep
    return options


def listen(options):
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((options.host, options.port))
    sock.listen(options.backlog)
    announce(options, sock.getsockname())
    return sock


def announce(options, address, kind="tcp"):
    where, kind = ((f"unix:{address}", "unix") if isinstance(address, str)
                   else (f"{address[0]}:{address[1]}", kind))
    print(f"{options.model}: serving {options.handler} on {where} ({kind}), "
          f"model {options.model}", flush=True)


def serve_blocking(sock, address, factory):
    """One client, start to end, on a blocking socket: the labs' server loop."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    lock = threading.Lock()  # push() may come from another client's thread (chat)

    def push(data):
        with lock:
            sock.sendall(data)

    handler = factory()
    context = SimpleContext(f"{address[0]}:{address[1]}", push)
    try:
        greeting = handler.connection_made(context)
        if greeting:
            push(greeting)
        while not context.closing:
            data = sock.recv(RECV_SIZE)
            reply = handler.data_received(data) if data else handler.eof_received()
            if reply:
                push(reply)
            if not data:
                break
    except (evloop.ProtocolError, ConnectionError, OSError):
        pass  # a protocol error or a vanished client ends this client only
    finally:
        handler.connection_lost(None)
        sock.close()


def use_uvloop(model_module):
    """Run asyncio on uvloop from here on: the `bench` extra.  Without it, exit with
    the note the runner shows (it skips the model beforehand)."""
    try:
        import uvloop
    except ImportError:
        sys.exit(f"bench.{model_module}: uvloop is not installed (pip install '.[bench]')")
    import asyncio
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def run(main):
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)


def tls_context(options):
    """The server's SSLContext for --tls-cert/--tls-key, or None: the same
    settings as evloop's (TLS 1.2 or newer, the default ciphers)."""
    if not options.tls_cert:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(options.tls_cert, options.tls_key)
    return context


class DatagramAnswers:
    """A handler's answer to each datagram, as evloop gives it: one handler for all
    when its class keeps no state (`shared_over_udp`), else a fresh one each; a
    ProtocolError answers its reply.  Call it with (data, push)."""

    def __init__(self, options):
        self.factory = options.factory
        self.shared = options.factory() if options.handler_class.shared_over_udp else None

    def __call__(self, data, push):
        handler = self.shared or self.factory()
        try:
            return handler.datagram_received(data, SimpleContext("udp", push))
        except evloop.ProtocolError as err:
            return err.reply


def bind_udp(options):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((options.host, options.port))
    announce(options, sock.getsockname(), "udp")
    return sock
