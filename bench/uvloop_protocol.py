"""uvloop with a Protocol: asyncio_protocol's very code on libuv's loop."""

import asyncio

from bench import common
from bench.asyncio_protocol import serve


def main():
    import uvloop  # the `bench` extra; the runner skips this model with a note without it
    options = common.parse_args("uvloop-protocol")
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(serve(options))


if __name__ == "__main__":
    common.run(main)
