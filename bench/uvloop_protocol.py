"""uvloop with a Protocol: asyncio_protocol's very code on libuv's loop."""

import asyncio

from bench import common
from bench.asyncio_protocol import serve


def main():
    common.use_uvloop("uvloop_protocol")
    asyncio.run(serve(common.parse_args("uvloop-protocol")))


if __name__ == "__main__":
    common.run(main)
