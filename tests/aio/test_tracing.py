"""evloop.aio's narration (evloop/aio/tracing.py): a plain EventLoop with two
instruments, telling its waits, each queued callback, its listeners, and each
transport's system calls.

`python3 -m evloop.aio --trace` end to end is tests/cli/test_aio.py; here the
traced loop runs in the test's own process, its lines read from stderr."""

import asyncio
import logging
import os
import re
import socket

import pytest

from evloop.aio import EventLoop
from evloop.aio.tracing import listening_address
from evloop.aio.tracing import traced_loop
from evloop.trace.steps import Steps
from tests.aio.kit import upper

pytestmark = pytest.mark.timeout(30)
LINE = re.compile(r"^trace: +\d+\.\d{3} ms  (.+?): (.*)$")


async def one_exchange():
    """A streams server and a client trading one message on loopback."""
    server = await asyncio.start_server(upper, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname())
    writer.write(b"hello")
    got = await reader.readexactly(5)
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()
    return got


def narrated(err):
    """(lane, text) for each line of the narration; every line must be one."""
    said = []
    for line in err.splitlines():
        match = LINE.match(line)
        assert match, f"not a trace line: {line!r}"
        said.append(match.groups())
    return said


def test_a_traced_loop_names_its_listener_and_transports_and_their_system_calls(capsys):
    loop = traced_loop(Steps(True, None))
    try:
        assert type(loop) is EventLoop  # traced by its instruments, not by a subclass
        assert loop.run_until_complete(one_exchange()) == b"HELLO"
    finally:
        loop.close()
    said = narrated(capsys.readouterr().err)
    listener = next(lane for lane, text in said if text == "listening")
    assert re.fullmatch(r"fd \d+ listener 127\.0\.0\.1:\d+", listener)
    accepted = next(lane for lane, text in said
                    if text == "accepted, a SocketTransport for StreamReaderProtocol")
    connected = next(lane for lane, text in said
                     if text == "connected, a SocketTransport for StreamReaderProtocol")
    for step in [(connected, "send 5 B, all sent"), (accepted, "recv 5 B"),
                 (accepted, "send 5 B, all sent"), (connected, "recv 5 B")]:
        assert step in said, step
    assert ("loop", "runs callback StreamReaderProtocol.connection_made") in said
    assert any(lane == "loop" and re.fullmatch(r"runs task 'Task-\d+' one_exchange\(\): step", text)
               for lane, text in said)
    assert any(lane == "loop" and text.startswith("woke after ") and f"{listener} R" in text
               for lane, text in said)


def test_debug_mode_and_the_narration_both_run(capsys, caplog):
    loop = traced_loop(Steps(True, None))
    try:
        loop.set_debug(True)
        loop.slow_callback_duration = 0.0  # every callback is slow
        with caplog.at_level(logging.WARNING, logger="asyncio"):
            loop.call_soon(sorted, [])
            loop.call_soon(loop.stop)
            loop.run_forever()
    finally:
        loop.close()
    said = narrated(capsys.readouterr().err)
    assert ("loop", "runs callback sorted") in said
    assert any(r.getMessage().startswith("Executing <Handle sorted(") for r in caplog.records)


def test_an_untraced_loop_says_nothing(capsys):
    loop = EventLoop()
    try:
        assert loop.run_until_complete(one_exchange()) == b"HELLO"
    finally:
        loop.close()
    assert capsys.readouterr().err == ""


def test_listening_address_knows_a_listener_from_other_descriptors():
    reading, writing = os.pipe()
    with socket.create_server(("127.0.0.1", 0)) as listener, \
            socket.create_connection(listener.getsockname()) as client:
        try:
            assert listening_address(listener.fileno()) == listener.getsockname()
            assert listening_address(client.fileno()) is None
            assert listening_address(reading) is None
            # Only its own copies of the descriptors were closed.
            assert client.send(b"x") == 1 and os.write(writing, b"x") == 1
        finally:
            os.close(reading), os.close(writing)
