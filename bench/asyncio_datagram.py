"""asyncio with a DatagramProtocol (uvloop_datagram reuses it)."""

import asyncio

from bench import common


class HandlerDatagramProtocol(asyncio.DatagramProtocol):
    def __init__(self, answer):
        self.answer = answer

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, address):
        reply = self.answer(data, lambda more: self.transport.sendto(more, address))
        if reply:
            self.transport.sendto(reply, address)


async def serve(options):
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: HandlerDatagramProtocol(common.DatagramAnswers(options)),
        local_addr=(options.host, options.port))
    common.announce(options, transport.get_extra_info("sockname"), "udp")
    await asyncio.Event().wait()  # until stopped


def main():
    asyncio.run(serve(common.parse_args("asyncio-udp")))


if __name__ == "__main__":
    common.run(main)
