"""evloop.aio with streams: asyncio_streams's very code on evloop's asyncio loop."""

import asyncio

import evloop.aio
from bench import common
from bench.asyncio_streams import serve


def main():
    evloop.aio.install()  # only the loop changes
    asyncio.run(serve(common.parse_args("aio-streams")))


if __name__ == "__main__":
    common.run(main)
