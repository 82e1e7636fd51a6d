"""uvloop with the textbook relay: asyncio_relay's very code on libuv's loop."""

import asyncio

from bench import common
from bench.asyncio_relay import serve


def main():
    common.use_uvloop("uvloop_relay")
    asyncio.run(serve(common.parse_args("uvloop-relay")))


if __name__ == "__main__":
    common.run(main)
