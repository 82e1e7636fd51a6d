"""uvloop with streams: asyncio_streams's very code on libuv's loop."""

import asyncio

from bench import common
from bench.asyncio_streams import serve


def main():
    common.use_uvloop("uvloop_streams")
    asyncio.run(serve(common.parse_args("uvloop-streams")))


if __name__ == "__main__":
    common.run(main)
