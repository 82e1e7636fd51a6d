"""evloop.server.udp: one handler per datagram, or one for all when the class keeps no state."""

import socket

import pytest

from evloop import Handler
from evloop import Loop
from evloop.handlers.addresses import format_address
from evloop.server.udp import DatagramContext
from evloop.server.udp import DatagramEndpoint

pytestmark = pytest.mark.timeout(30)


class Counting(Handler):
    """Answers each datagram with how many instances exist and how many it answered."""

    made = 0

    def __init__(self, max_message=1000):
        super().__init__(max_message)
        type(self).made += 1
        self.answered = 0

    def datagram_received(self, data, context):
        self.answered += 1
        return f"{type(self).made} {self.answered} {context.peer}".encode()


class Shared(Counting):
    shared_over_udp = True
    made = 0


class BrokenShared(Shared):
    made = 0

    def __init__(self, max_message=1000):
        super().__init__(max_message)
        if type(self).made == 1:
            raise RuntimeError("the first construction fails")


def exchange(handler_class, count):
    loop = Loop()
    loop.set_exception_handler(lambda loop, context: None)
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.setblocking(False)
    endpoint = DatagramEndpoint(loop, server, handler_class, format_address, handler_class.__name__,
                                share=handler_class.shared_over_udp)
    endpoint.start()
    replies = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.bind(("127.0.0.1", 0))
        client.settimeout(0.05)
        for _ in range(count):
            client.sendto(b"hi", server.getsockname())
            for _ in range(20):  # a reply is there after the first turn, or never
                loop.run_once()
                try:
                    replies.append(client.recv(100).decode())
                    break
                except socket.timeout:
                    continue
            else:
                replies.append(None)
        peer = format_address(client.getsockname())
    endpoint.close()
    loop.close()
    return replies, peer


def test_by_default_each_datagram_gets_a_fresh_handler():
    replies, peer = exchange(Counting, 3)
    assert replies == [f"1 1 {peer}", f"2 1 {peer}", f"3 1 {peer}"]


def test_a_stateless_class_answers_every_datagram_with_one_instance():
    replies, peer = exchange(Shared, 3)
    assert replies == [f"1 1 {peer}", f"1 2 {peer}", f"1 3 {peer}"]


def test_a_shared_handler_whose_constructor_fails_costs_that_datagram_only():
    replies, peer = exchange(BrokenShared, 3)
    assert replies[0] is None  # dropped, reported through the exception handler
    assert replies[1:] == [f"2 1 {peer}", f"2 2 {peer}"]


def test_a_datagram_cannot_be_forwarded():
    context = DatagramContext.__new__(DatagramContext)  # no endpoint needed to refuse
    with pytest.raises(TypeError, match="needs a TCP connection"):
        context.forward_to(None)
