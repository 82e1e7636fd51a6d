"""evloop.aio with a Protocol: asyncio_protocol's very code on evloop's asyncio loop."""

import asyncio

import evloop.aio
from bench import common
from bench.asyncio_protocol import serve


def main():
    evloop.aio.install()  # only the loop changes
    asyncio.run(serve(common.parse_args("aio-protocol")))


if __name__ == "__main__":
    common.run(main)
