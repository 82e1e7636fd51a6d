"""uvloop with a DatagramProtocol: asyncio_datagram's very code on libuv's loop."""

import asyncio

from bench import common
from bench.asyncio_datagram import serve


def main():
    common.use_uvloop("uvloop_datagram")
    asyncio.run(serve(common.parse_args("uvloop-udp")))


if __name__ == "__main__":
    common.run(main)
