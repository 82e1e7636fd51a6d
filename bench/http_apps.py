"""Hello world over HTTP, twice: an ASGI app for uvicorn and an aiohttp app.

The HTTP models of the `aio` sweep (bench.http_server) serve one of these
on asyncio's loop, on evloop.aio and on uvloop, and nothing else changes:
the app, the server and its settings are the same on all three, so the
ratio between two of them is what the loop costs.  Each answers every
request with `200 OK` and the five bytes `hello`; what is measured is the
server's HTTP parsing and the loop under it, not the app.

The ASGI app speaks the lifespan protocol too (startup and shutdown, each
answered at once), so uvicorn can run it with `lifespan="on"`, and a
broken app fails at startup instead of at the first request.
"""

BODY = b"hello"
HEADERS = [(b"content-type", b"text/plain"), (b"content-length", str(len(BODY)).encode())]


async def asgi_hello(scope, receive, send):
    """The ASGI app: `hello` for every HTTP request."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


def aiohttp_hello():
    """The aiohttp app: `hello` for GET /."""
    from aiohttp import web  # only the aiohttp model needs it

    async def hello(request):
        return web.Response(body=BODY, content_type="text/plain")

    app = web.Application()
    app.router.add_get("/", hello)
    return app
