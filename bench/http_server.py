"""uvicorn or aiohttp serving hello world (bench.http_apps) on a chosen asyncio loop.

    python3 -m bench.http_server --server uvicorn|aiohttp --loop asyncio|aio|uvloop --port P

Only the loop changes between the runs of one server, and it is chosen
the way each server's users choose it: uvicorn's `loop` setting (the
`--loop` of its command line: `asyncio`, `uvloop`, or a factory named
`module:callable`, here `evloop.aio:new_event_loop`), with its httptools
parser; aiohttp's `web.run_app(..., loop=...)` with a loop made by the
loop's own `new_event_loop`.  Access logs are off on both: a log line
per request would weigh on a hello world.

The listening socket is made here (port 0 lets the kernel pick one) and
handed to the server, which then says where it listens as every model
of the bench does, once it accepts: `MODEL: serving hello on HOST:PORT
(http)`.  The port is --port, else $EVLOOP_PORT, else 12000.  Ctrl-C
ends either server with exit 0; SIGTERM, which the runner sends, after a
graceful shutdown.  By hand, with the runner's load:

    python3 -m bench.http_server --server uvicorn --loop aio &
    wrk -t1 -c100 -d5s http://127.0.0.1:12000/
"""

import argparse
import socket
import sys

from bench import common
from bench.http_apps import aiohttp_hello
from bench.http_apps import asgi_hello

LOOPS = ("asyncio", "aio", "uvloop")
UVICORN_LOOPS = {"asyncio": "asyncio", "aio": "evloop.aio:new_event_loop", "uvloop": "uvloop"}


def new_loop(name):
    """A new event loop of the named kind, made as its users make one."""
    if name == "aio":
        import evloop.aio
        return evloop.aio.new_event_loop()
    if name == "uvloop":
        import uvloop
        return uvloop.new_event_loop()
    import asyncio
    return asyncio.new_event_loop()  # asyncio's own: a SelectorEventLoop on Linux


def serve_uvicorn(options, sock):
    import uvicorn

    class AnnouncingServer(uvicorn.Server):
        """uvicorn's server, saying where it listens once it accepts."""

        async def startup(self, sockets=None):
            await super().startup(sockets=sockets)
            if self.started:
                common.announce(options, sock.getsockname(), "http")

    config = uvicorn.Config(asgi_hello, loop=UVICORN_LOOPS[options.loop], http="httptools",
                            lifespan="on", access_log=False, log_level="warning",
                            backlog=options.backlog)
    AnnouncingServer(config).run(sockets=[sock])


def serve_aiohttp(options, sock):
    from aiohttp import web
    web.run_app(aiohttp_hello(), sock=sock, loop=new_loop(options.loop), access_log=None,
                backlog=options.backlog, shutdown_timeout=5,
                print=lambda *_: common.announce(options, sock.getsockname(), "http"))


def listen(options):
    # IPPROTO_TCP, not socket()'s 0: asyncio sets TCP_NODELAY only on sockets whose proto
    # says TCP, and the accepted ones inherit it.  With 0, uvicorn on asyncio's loop waited
    # out Nagle and delayed ACKs: 40 ms a request, 2,200 requests/s instead of 32,000.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((options.host, options.port))
    sock.listen(options.backlog)
    return sock


def missing_module(options):
    """The module this run needs and cannot import, or None."""
    import importlib.util
    wanted = {"uvicorn": ["uvicorn", "httptools"], "aiohttp": ["aiohttp"]}[options.server]
    wanted += ["uvloop"] if options.loop == "uvloop" else []
    return next((name for name in wanted if importlib.util.find_spec(name) is None), None)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=["uvicorn", "aiohttp"], required=True)
    parser.add_argument("--loop", choices=LOOPS, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=common.default_port())
    parser.add_argument("--backlog", type=int, default=4096)
    options = parser.parse_args(argv)
    options.model, options.handler = f"{options.server}-{options.loop}", "hello"
    missing = missing_module(options)
    if missing:
        sys.exit(f"bench.http_server: {missing} is not installed (pip install '.[bench]')")
    sock = listen(options)
    (serve_uvicorn if options.server == "uvicorn" else serve_aiohttp)(options, sock)


if __name__ == "__main__":
    common.run(main)
