"""uvloop with a DatagramProtocol: asyncio_datagram's very code on libuv's loop."""

import asyncio
import sys

from bench import common
from bench.asyncio_datagram import serve


def main():
    try:
        import uvloop  # the `bench` extra; the runner skips this model with a note without it
    except ImportError:
        sys.exit("bench.uvloop_datagram: uvloop is not installed (pip install '.[bench]')")
    options = common.parse_args("uvloop-udp")
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(serve(options))


if __name__ == "__main__":
    common.run(main)
