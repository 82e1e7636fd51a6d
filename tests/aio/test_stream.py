"""evloop.aio's stream transport (evloop/aio/stream.py, evloop/aio/transports.py).

Each test holds the transport to what asyncio's own selector transport does
(CPython's asyncio/selector_events.py, _SelectorSocketTransport), and to the
Transport documentation: the one error path, flow control, closing, EOF.
The far end of each connection is a plain socket driven with the loop's
sock_* calls, so that the bytes on the wire can be counted.  Loopback and
socketpairs only; every transport made is closed before its test ends."""

import asyncio
import logging
import os
import socket

import pytest

from evloop.aio import EventLoop
from evloop.connection.read_sizes import LARGE_READ
from evloop.connection.read_sizes import SMALL_READ
from evloop.connection.read_sizes import SMALL_READS_TO_SHRINK

pytestmark = pytest.mark.timeout(30)
MiB = 1024 * 1024


def run(main, debug=False):
    loop = EventLoop()
    loop.set_debug(debug)
    try:
        return loop.run_until_complete(asyncio.wait_for(main, 20))
    finally:
        loop.close()


class Recorder(asyncio.Protocol):
    """Keeps the callbacks it is given, in order, with futures to wait on."""

    def __init__(self, keep_open=False):
        loop = asyncio.get_running_loop()
        self.keep_open = keep_open
        self.events = []
        self.data = bytearray()
        self.got_data = asyncio.Event()
        self.eof = loop.create_future()
        self.lost = loop.create_future()
        self.paused = loop.create_future()
        self.resumed = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport
        self.events.append("made")

    def data_received(self, data):
        self.events.append("data")
        self.data += data
        self.got_data.set()

    def eof_received(self):
        self.events.append("eof")
        self.eof.set_result(None)
        return self.keep_open

    def pause_writing(self):
        self.events.append("pause")
        self.paused.set_result(self.transport.get_write_buffer_size())

    def resume_writing(self):
        self.events.append("resume")
        self.resumed.set_result(self.transport.get_write_buffer_size())

    def connection_lost(self, exc):
        self.events.append("lost")
        self.lost.set_result(exc)


def handler_log(loop):
    """Make the loop's exception handler keep every context it is given."""
    contexts = []
    loop.set_exception_handler(lambda _, context: contexts.append(context))
    return contexts


async def connected(protocol_factory=Recorder, tcp=False):
    """(transport, protocol, peer): the transport on one end, a plain socket on the other."""
    loop = asyncio.get_running_loop()
    if tcp:
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            peer = socket.create_connection(listener.getsockname())
            ours, _ = listener.accept()
    else:
        ours, peer = socket.socketpair()
    peer.setblocking(False)
    transport, protocol = await loop.connect_accepted_socket(protocol_factory, ours)
    return transport, protocol, peer


async def read_until_eof(peer):
    loop = asyncio.get_running_loop()
    got = bytearray()
    while chunk := await loop.sock_recv(peer, 256 * 1024):
        got += chunk
    return bytes(got)


async def fill_until_buffered(transport, peer, block=64 * 1024, limit=64 * MiB):
    """Write until the kernel's buffers are full and the transport holds bytes.

    A write goes out at the turn's end, so each waits a turn (sleep(0)) before
    the buffer tells what the kernel did not take."""
    sent = 0
    while True:
        transport.write(b"x" * block)
        sent += block
        await asyncio.sleep(0)
        if transport.get_write_buffer_size():
            return sent
        assert sent < limit, "the socket never filled"


def small_buffers(ours_and_peer):
    for sock, option in zip(ours_and_peer, (socket.SO_SNDBUF, socket.SO_RCVBUF)):
        sock.setsockopt(socket.SOL_SOCKET, option, 4096)


# -- the one error path: a protocol that raises ends its transport, nothing more ------------

class RaisesIn(asyncio.BufferedProtocol):
    """A BufferedProtocol that raises in the named callback (Recorder for the rest)."""

    def __init__(self, where):
        self.where = where
        self.buffer = bytearray(100)
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport):
        self.transport = transport

    def get_buffer(self, sizehint):
        if self.where == "get_buffer":
            raise ZeroDivisionError("in get_buffer")
        if self.where == "empty":
            return bytearray()
        return self.buffer

    def buffer_updated(self, nbytes):
        if self.where == "buffer_updated":
            raise ZeroDivisionError("in buffer_updated")

    def eof_received(self):
        if self.where == "eof_received":
            raise ZeroDivisionError("in eof_received")

    def connection_lost(self, exc):
        self.lost.set_result(exc)


@pytest.mark.parametrize("where, message, error", [
    ("get_buffer", "Fatal error: protocol.get_buffer() call failed.", ZeroDivisionError),
    ("empty", "Fatal error: protocol.get_buffer() call failed.", RuntimeError),
    ("buffer_updated", "Fatal error: protocol.buffer_updated() call failed.", ZeroDivisionError),
    ("eof_received", "Fatal error: protocol.eof_received() call failed.", ZeroDivisionError),
])
def test_a_buffered_protocol_that_raises_ends_its_transport_with_asyncio_s_message(
        where, message, error):
    async def main():
        loop = asyncio.get_running_loop()
        contexts = handler_log(loop)
        transport, protocol, peer = await connected(lambda: RaisesIn(where))
        with peer:
            if where == "eof_received":
                peer.shutdown(socket.SHUT_WR)
            else:
                await loop.sock_sendall(peer, b"hello")
            lost = await protocol.lost
            assert transport.get_extra_info("socket").fileno() == -1  # its socket is closed
        return contexts, lost, transport
    contexts, lost, transport = run(main())
    assert len(contexts) == 1
    context = contexts[0]
    assert context["message"] == message
    assert isinstance(context["exception"], error)
    assert context["transport"] is transport and isinstance(context["protocol"], RaisesIn)
    assert lost is context["exception"]  # connection_lost hears the same error
    assert transport.is_closing()


def test_data_received_raising_ends_that_connection_and_the_server_goes_on():
    class Fails(Recorder):
        def data_received(self, data):
            raise ValueError("bad input")

    class Echo(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport

        def data_received(self, data):
            self.transport.write(data.upper())

    async def main():
        loop = asyncio.get_running_loop()
        contexts = handler_log(loop)
        factories = iter([Fails, Echo])
        made = []
        server = await loop.create_server(lambda: made.append(next(factories)()) or made[-1],
                                          "127.0.0.1", 0)
        address = server.sockets[0].getsockname()
        async with server:
            first_reader, first_writer = await asyncio.open_connection(*address)
            first_writer.write(b"boom")
            assert await first_reader.read() == b""  # the server's end closed
            lost = await made[0].lost
            second_reader, second_writer = await asyncio.open_connection(*address)
            second_writer.write(b"still here")
            reply = await second_reader.readexactly(10)
            for writer in (first_writer, second_writer):
                writer.close()
                await writer.wait_closed()
        return contexts, lost, reply
    contexts, lost, reply = run(main())
    assert [c["message"] for c in contexts] == [
        "Fatal error: protocol.data_received() call failed."]
    assert isinstance(lost, ValueError) and lost is contexts[0]["exception"]
    assert reply == b"STILL HERE"


class BufferedRecorder(Recorder, asyncio.BufferedProtocol):
    def get_buffer(self, sizehint):
        self.buffer = bytearray(100)
        return self.buffer

    def buffer_updated(self, nbytes):
        self.data_received(bytes(self.buffer[:nbytes]))


@pytest.mark.parametrize("kind", [Recorder, BufferedRecorder])
def test_a_peer_reset_reaches_connection_lost_and_not_the_exception_handler(kind):
    async def main():
        loop = asyncio.get_running_loop()
        contexts = handler_log(loop)
        transport, protocol, peer = await connected(kind, tcp=True)
        # SO_LINGER 0: close() sends RST instead of FIN, so recv() fails with ECONNRESET.
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        peer.close()
        return contexts, await protocol.lost, protocol.events
    contexts, lost, events = run(main())
    assert isinstance(lost, ConnectionResetError)
    assert contexts == []  # connection errors are not the program's bug: asyncio logs none
    assert events == ["made", "lost"]


def test_a_write_error_with_a_buffer_reaches_connection_lost(caplog):
    async def main():
        loop = asyncio.get_running_loop()
        contexts = handler_log(loop)
        transport, protocol, peer = await connected(tcp=True)
        transport.pause_reading()  # so that the writer, not the reader, meets the reset
        await fill_until_buffered(transport, peer)
        # The peer closes with our bytes unread in its buffer: the kernel answers with RST.
        peer.close()
        lost = await protocol.lost
        return contexts, lost, transport.get_write_buffer_size()
    with caplog.at_level(logging.DEBUG, logger="asyncio"):
        contexts, lost, left = run(main(), debug=True)
    assert isinstance(lost, (ConnectionResetError, BrokenPipeError))
    assert contexts == [] and left == 0
    # In debug mode asyncio logs a connection error at DEBUG, with its traceback.
    logged = [r for r in caplog.records if "Fatal write error on socket transport" in r.message]
    assert logged and logged[0].levelno == logging.DEBUG and logged[0].exc_info


def test_a_write_to_a_closed_peer_with_nothing_buffered_reaches_connection_lost():
    async def main():
        loop = asyncio.get_running_loop()
        contexts = handler_log(loop)
        transport, protocol, peer = await connected()
        transport.pause_reading()
        peer.close()
        transport.write(b"nobody reads this")  # send() fails at once: EPIPE
        lost = await protocol.lost
        transport.abort()  # after the loss: nothing more happens
        await asyncio.sleep(0)
        return contexts, lost, protocol.events
    contexts, lost, events = run(main())
    assert isinstance(lost, BrokenPipeError)
    assert contexts == [] and events == ["made", "lost"]


@pytest.mark.parametrize("where", ["data_received", "get_buffer", "buffer_updated",
                                   "eof_received"])
def test_system_exit_from_a_protocol_leaves_the_loop_and_the_loop_goes_on(where):
    class Exits(asyncio.BufferedProtocol):
        def __init__(self):
            self.lost = asyncio.get_running_loop().create_future()

        def connection_made(self, transport):
            self.transport = transport

        def get_buffer(self, sizehint):
            if where == "get_buffer":
                raise SystemExit(3)
            return bytearray(10)

        def buffer_updated(self, nbytes):
            raise SystemExit(3)

        def eof_received(self):
            raise SystemExit(3)

        def connection_lost(self, exc):
            self.lost.set_result(exc)

    class ExitsPlain(asyncio.Protocol):  # not a BufferedProtocol: data_received
        def __init__(self):
            self.lost = asyncio.get_running_loop().create_future()

        def data_received(self, data):
            raise SystemExit(3)

        def connection_lost(self, exc):
            self.lost.set_result(exc)

    chosen = ExitsPlain if where == "data_received" else Exits
    made = []

    async def main():
        transport, protocol, peer = await connected(chosen)
        made.extend((transport, protocol, peer))
        if where == "eof_received":
            peer.shutdown(socket.SHUT_WR)
        else:
            peer.send(b"hello")
        await asyncio.sleep(10)

    async def cleanup():
        transport, protocol, peer = made
        transport.abort()
        peer.close()
        return await protocol.lost

    loop = EventLoop()
    try:
        task = loop.create_task(main())
        with pytest.raises(SystemExit):
            loop.run_until_complete(task)
        task.cancel()
        # The loop is not broken by it: it runs on, and the transport closes as any other.
        assert loop.run_until_complete(cleanup()) is None
        with pytest.raises(asyncio.CancelledError):
            loop.run_until_complete(task)
    finally:
        loop.close()


# -- writing: its argument rules --------------------------------------------------------------

def test_write_rules_str_after_write_eof_and_empty():
    async def main():
        transport, protocol, peer = await connected()
        with peer:
            with pytest.raises(TypeError, match="bytes-like object, not 'str'"):
                transport.write("text")
            transport.write(b"")  # nothing to send: no error, nothing sent
            transport.writelines([b"one ", bytearray(b"two "), memoryview(b"three")])
            assert transport.can_write_eof()
            transport.write_eof()
            transport.write_eof()  # a second is a no-op
            with pytest.raises(RuntimeError, match="write_eof"):
                transport.write(b"late")
            got = await read_until_eof(peer)
            transport.close()
            await protocol.lost
        return got
    assert run(main()) == b"one two three"


def test_writes_after_the_connection_is_lost_are_dropped_and_logged_after_five(caplog):
    async def main():
        transport, protocol, peer = await connected()
        with peer:
            transport.abort()
            assert await protocol.lost is None
            caplog.clear()
            for _ in range(4):
                transport.write(b"dropped")
            quiet = [r for r in caplog.records if "socket.send() raised exception." in r.message]
            transport.write(b"dropped")
            transport.write(b"dropped")
            await asyncio.sleep(0)
            peer_got = await read_until_eof(peer)
        return quiet, peer_got
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        quiet, peer_got = run(main())
    logged = [r for r in caplog.records if r.message == "socket.send() raised exception."]
    assert quiet == []  # asyncio's threshold: from the fifth lost write on
    assert len(logged) == 2
    assert peer_got == b""


# -- writing: when bytes leave -----------------------------------------------------------------

class SystemCalls:
    """A transport's socket, through `route_system_calls`: records what each os.read()
    asked for and what each os.write() was given, and passes everything else through."""

    def __init__(self, sock):
        self.sock = sock
        self.reads = []
        self.sends = []

    def __getattr__(self, name):
        return getattr(self.sock, name)

    def read(self, fd, size):
        data = os.read(fd, size)
        self.reads.append((size, len(data)))  # what it asked for, what it got
        return data

    def write(self, fd, data):
        self.sends.append(bytes(data))
        return os.write(fd, data)


def system_calls(transport):
    """Route the transport's socket calls through a SystemCalls, and return it."""
    routed = []
    transport.route_system_calls(lambda sock: routed.append(SystemCalls(sock)) or routed[0])
    return routed[0]


def count_sends(transport):
    """The list of what each of the transport's write system calls was given."""
    return system_calls(transport).sends


class Replier(Recorder):
    """Answers each piece of data in two writes, from data_received itself."""

    def data_received(self, data):
        super().data_received(data)
        self.transport.write(b"head:")
        self.transport.write(bytes(data))


def test_a_tasks_writes_leave_together_at_the_turns_end():
    async def main():
        loop = asyncio.get_running_loop()
        transport, protocol, peer = await connected()
        with peer:
            sends = count_sends(transport)
            transport.write(b"headers;")  # from a task: held for the turn's end
            transport.write(b"body")
            held = transport.get_write_buffer_size()
            before = list(sends)
            await asyncio.sleep(0)  # a turn passes
            after_turn = list(sends)
            got = await loop.sock_recv(peer, 100)
            transport.close()
            await protocol.lost
        return held, before, after_turn, got
    held, before, after_turn, got = run(main())
    assert held == len(b"headers;body") and before == []
    assert after_turn == [b"headers;body"]  # two writes, one system call
    assert got == b"headers;body"


def test_writes_from_data_received_leave_at_once_as_asyncios_do():
    async def main():
        loop = asyncio.get_running_loop()
        transport, protocol, peer = await connected(Replier)
        with peer:
            sends = count_sends(transport)
            await loop.sock_sendall(peer, b"ping")
            await protocol.got_data.wait()
            got = b""
            while len(got) < len(b"head:ping"):
                got += await loop.sock_recv(peer, 100)
            transport.close()
            await protocol.lost
        return sends, got
    sends, got = run(main())
    assert sends == [b"head:", b"ping"] and got == b"head:ping"


def test_a_held_write_is_sent_by_abort_close_and_write_eof_and_a_large_one_goes_at_once():
    async def main():
        results = []
        for ending in ("abort", "close", "write_eof"):
            transport, protocol, peer = await connected()
            with peer:
                transport.write(b"last words")
                getattr(transport, ending)()
                results.append((ending, await read_until_eof(peer)))
                transport.abort()
                await protocol.lost
        transport, protocol, peer = await connected()
        with peer:
            sends = count_sends(transport)
            big = b"x" * (transport.get_write_buffer_limits()[1] + 1)
            transport.write(big)  # past the high-water mark: sent now, not held
            sent_at_once = sum(map(len, sends))
            transport.abort()
            await protocol.lost
        return results, sent_at_once
    results, sent_at_once = run(main())
    assert results == [(ending, b"last words") for ending in ("abort", "close", "write_eof")]
    assert sent_at_once > 0


def test_reads_start_small_grow_when_one_fills_and_shrink_after_small_ones():
    async def main():
        loop = asyncio.get_running_loop()
        transport, protocol, peer = await connected()
        with peer:
            calls = system_calls(transport)
            big = bytes(range(256)) * 4096  # 1 MiB
            await loop.sock_sendall(peer, big)
            while len(protocol.data) < len(big):
                protocol.got_data.clear()
                await protocol.got_data.wait()
            for n in range(SMALL_READS_TO_SHRINK + 1):
                protocol.got_data.clear()
                await loop.sock_sendall(peer, b"small %d" % n)
                await protocol.got_data.wait()
            transport.close()
            await protocol.lost
        return calls.reads, bytes(protocol.data[:len(big)]) == big
    reads, whole = run(main())
    assert whole
    asked = [size for size, _ in reads]
    # The first read is small; it fills, so the next asks for LARGE_READ.
    assert reads[0] == (SMALL_READ, SMALL_READ) and asked[1] == LARGE_READ
    # Reads stay large until SMALL_READS_TO_SHRINK large ones in a row got little.
    shrunk = asked.index(SMALL_READ, 1)
    before = reads[:shrunk]
    assert set(asked[1:shrunk]) == {LARGE_READ}
    assert all(got <= SMALL_READ for _, got in before[-SMALL_READS_TO_SHRINK:])
    assert before[-SMALL_READS_TO_SHRINK - 1][1] > SMALL_READ  # no sooner
    assert asked[shrunk:] == [SMALL_READ] * len(asked[shrunk:])


# -- flow control -------------------------------------------------------------------------------

def test_write_buffer_limits_rules():
    async def main():
        transport, protocol, peer = await connected()
        with peer:
            assert transport.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
            with pytest.raises(ValueError, match="high"):
                transport.set_write_buffer_limits(high=1, low=2)
            with pytest.raises(ValueError):
                transport.set_write_buffer_limits(high=-1)
            transport.set_write_buffer_limits(low=100)
            only_low = transport.get_write_buffer_limits()
            transport.set_write_buffer_limits(high=1000)
            only_high = transport.get_write_buffer_limits()
            transport.close()
            await protocol.lost
        return only_low, only_high
    assert run(main()) == ((100, 400), (250, 1000))


def test_pause_and_resume_writing_at_the_water_marks_with_a_slow_reader():
    async def main():
        loop = asyncio.get_running_loop()
        ours, peer = socket.socketpair()
        small_buffers((ours, peer))
        peer.setblocking(False)
        transport, protocol = await loop.connect_accepted_socket(Recorder, ours)
        transport.set_write_buffer_limits(high=32 * 1024, low=8 * 1024)
        payload = bytes(range(256)) * 4096  # 1 MiB the reader does not read yet
        transport.write(payload)
        at_pause = await protocol.paused
        assert not protocol.resumed.done()
        reading = asyncio.ensure_future(read_until_eof(peer))
        at_resume = await protocol.resumed
        transport.close()
        got = await reading
        await protocol.lost
        peer.close()
        return at_pause, at_resume, got, payload, protocol.events
    at_pause, at_resume, got, payload, events = run(main())
    assert at_pause > 32 * 1024
    assert at_resume <= 8 * 1024
    assert got == payload
    assert events == ["made", "pause", "resume", "lost"]


def test_a_flow_control_callback_that_raises_goes_to_the_exception_handler():
    class Fragile(Recorder):
        def pause_writing(self):
            super().pause_writing()
            raise ValueError("pause")

        def resume_writing(self):
            super().resume_writing()
            raise ValueError("resume")

    async def main():
        loop = asyncio.get_running_loop()
        contexts = handler_log(loop)
        transport, protocol, peer = await connected(Fragile)
        transport.set_write_buffer_limits(high=0)
        await fill_until_buffered(transport, peer)
        reading = asyncio.ensure_future(read_until_eof(peer))
        await protocol.resumed
        transport.close()
        await reading
        await protocol.lost
        peer.close()
        return contexts, transport
    contexts, transport = run(main())
    assert [c["message"] for c in contexts] == [
        "protocol.pause_writing() failed", "protocol.resume_writing() failed"]
    assert all(isinstance(c["exception"], ValueError) and c["transport"] is transport
               for c in contexts)


def test_pause_reading_stops_data_received_until_resume_reading():
    async def main():
        loop = asyncio.get_running_loop()
        transport, protocol, peer = await connected()
        # A second connection as a witness: its data arrives in the same poll as the
        # paused one's, so once it is seen the paused one would have been read too.
        witness, witness_protocol, witness_peer = await connected()
        with peer, witness_peer:
            assert transport.is_reading()
            transport.pause_reading()
            transport.pause_reading()  # twice is once
            assert not transport.is_reading()
            await loop.sock_sendall(peer, b"held")
            await loop.sock_sendall(witness_peer, b"seen")
            await witness_protocol.got_data.wait()
            while_paused = bytes(protocol.data)
            transport.resume_reading()
            transport.resume_reading()
            assert transport.is_reading()
            await protocol.got_data.wait()
            for one, its_protocol in ((transport, protocol), (witness, witness_protocol)):
                one.close()
                await its_protocol.lost
            after_close = transport.is_reading()
            transport.pause_reading()  # on a closed transport: nothing, no error
            transport.resume_reading()
        return while_paused, bytes(protocol.data), after_close
    while_paused, after, after_close = run(main())
    assert while_paused == b""
    assert after == b"held"
    assert after_close is False


def test_set_protocol_to_a_buffered_protocol_mid_stream():
    class Buffered(asyncio.BufferedProtocol):
        def __init__(self, lost):
            self.buffer = bytearray(4)  # small: the rest comes in several reads
            self.got = bytearray()
            self.lost = lost
            self.done = asyncio.Event()

        def get_buffer(self, sizehint):
            return self.buffer

        def buffer_updated(self, nbytes):
            self.got += self.buffer[:nbytes]
            if self.got.endswith(b"!"):
                self.done.set()

        def connection_lost(self, exc):
            self.lost.set_result(exc)

    class Switches(Recorder):
        def data_received(self, data):
            super().data_received(data)
            self.transport.set_protocol(self.next)

    async def main():
        loop = asyncio.get_running_loop()
        transport, protocol, peer = await connected(Switches)
        protocol.next = Buffered(protocol.lost)
        with peer:
            await loop.sock_sendall(peer, b"first")
            await protocol.got_data.wait()
            assert transport.get_protocol() is protocol.next
            await loop.sock_sendall(peer, b"then the buffered one!")
            await protocol.next.done.wait()
            transport.close()
            await protocol.lost
        return bytes(protocol.data), bytes(protocol.next.got)
    assert run(main()) == (b"first", b"then the buffered one!")


# -- EOF and closing --------------------------------------------------------------------------

def test_eof_received_returning_true_keeps_the_write_side_open(caplog):
    async def main():
        loop = asyncio.get_running_loop()
        transport, protocol, peer = await connected(lambda: Recorder(keep_open=True))
        with peer:
            await loop.sock_sendall(peer, b"question")
            peer.shutdown(socket.SHUT_WR)
            await protocol.eof
            assert not transport.is_closing()
            transport.write(b"answer after EOF")
            transport.close()
            got = await read_until_eof(peer)
            lost = await protocol.lost
        return got, lost, bytes(protocol.data), protocol.events
    with caplog.at_level(logging.DEBUG, logger="asyncio"):
        got, lost, data, events = run(main(), debug=True)
    assert got == b"answer after EOF"
    assert lost is None and data == b"question"
    assert events == ["made", "data", "eof", "lost"]
    assert any("received EOF" in r.getMessage() for r in caplog.records)  # debug mode says so


def test_eof_received_returning_false_closes_the_transport():
    async def main():
        transport, protocol, peer = await connected()
        with peer:
            peer.shutdown(socket.SHUT_WR)
            lost = await protocol.lost
            got = await read_until_eof(peer)
        return lost, got, transport.is_closing(), protocol.events
    assert run(main()) == (None, b"", True, ["made", "eof", "lost"])


def test_write_eof_with_a_full_buffer_sends_the_fin_after_the_buffer():
    async def main():
        transport, protocol, peer = await connected()
        with peer:
            sent = await fill_until_buffered(transport, peer)
            transport.write_eof()
            assert transport.get_write_buffer_size() > 0  # not yet: the FIN waits
            got = await read_until_eof(peer)  # every byte, then the EOF
            transport.close()
            await protocol.lost
        return len(got), sent
    received, sent = run(main())
    assert received == sent


def test_abort_drops_the_buffer_and_close_waits_for_it():
    async def main():
        aborted, aborted_protocol, aborted_peer = await connected()
        closed, closed_protocol, closed_peer = await connected()
        with aborted_peer, closed_peer:
            aborted_sent = await fill_until_buffered(aborted, aborted_peer)
            dropped = aborted.get_write_buffer_size()
            aborted.abort()
            assert aborted.get_write_buffer_size() == 0
            aborted_lost = await aborted_protocol.lost
            aborted.abort()  # a second abort, after the loss: nothing
            aborted_got = await read_until_eof(aborted_peer)

            closed_sent = await fill_until_buffered(closed, closed_peer)
            closed.close()
            closed.close()  # twice is once
            assert closed.is_closing()
            await asyncio.sleep(0)
            lost_before_drain = closed_protocol.lost.done()
            closed_got = await read_until_eof(closed_peer)
            closed_lost = await closed_protocol.lost
        return (aborted_lost, len(aborted_got), aborted_sent - dropped, lost_before_drain,
                closed_lost, len(closed_got), closed_sent)
    (aborted_lost, aborted_got, aborted_flushed, lost_before_drain,
     closed_lost, closed_got, closed_sent) = run(main())
    assert aborted_lost is None and aborted_got == aborted_flushed  # the buffer never left
    assert not lost_before_drain  # close() waits for the buffer
    assert closed_lost is None and closed_got == closed_sent


def test_get_extra_info_names_the_socket_and_both_ends():
    async def main():
        transport, protocol, peer = await connected(tcp=True)
        with peer:
            info = {key: transport.get_extra_info(key)
                    for key in ("socket", "sockname", "peername")}
            default = transport.get_extra_info("no such key", "default")
            peer_ends = peer.getsockname(), peer.getpeername()
            nodelay = info["socket"].getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            text = repr(transport)
            transport.close()
            await protocol.lost
            closed_text = repr(transport)
        return info, default, peer_ends, text, closed_text, nodelay
    info, default, (peer_name, peer_peer), text, closed_text, nodelay = run(main())
    assert info["peername"] == peer_name and info["sockname"] == peer_peer
    assert info["socket"].family == socket.AF_INET and info["socket"].type == socket.SOCK_STREAM
    assert nodelay  # asyncio sets TCP_NODELAY on every TCP transport
    assert default == "default"
    assert "open" in text and "closed" in closed_text


def test_an_unclosed_transport_warns_when_collected():
    async def main():
        transport, protocol, peer = await connected()
        return transport, peer
    transport, peer = run(main())
    peer.close()
    sock = transport._sock
    with pytest.warns(ResourceWarning, match="unclosed transport"):
        transport.__del__()
    transport._sock = None  # collected later: warned once is enough
    assert sock.fileno() == -1  # the warning closed the socket
