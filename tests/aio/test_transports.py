"""What evloop.aio's transports share (evloop/aio/transports.py): the read
ladder and its sizes, reading paused, flow control, closing and the one error
path, shown on the stream transport.

Each test holds the transport to what asyncio's own selector transport does
(CPython's asyncio/selector_events.py).  The far end of each connection is a
plain socket driven with the loop's sock_* calls.  Loopback and socketpairs only;
every transport made is closed before its test ends."""

import asyncio
import socket

import pytest

import evloop.aio
from evloop.aio.transports import wait_made
from evloop.connection.read_sizes import LARGE_READ
from evloop.connection.read_sizes import SMALL_READ
from evloop.connection.read_sizes import SMALL_READS_TO_SHRINK
from tests.aio.kit import Recorder
from tests.aio.kit import connected
from tests.aio.kit import fill_until_buffered
from tests.aio.kit import handler_log
from tests.aio.kit import read_until_eof
from tests.aio.kit import run
from tests.aio.kit import small_buffers
from tests.aio.kit import system_calls
from tests.aio.kit import upper

pytestmark = pytest.mark.timeout(30)


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


def test_a_protocol_that_raises_costs_its_connection_only():
    class Broken(asyncio.Protocol):
        def data_received(self, data):
            raise RuntimeError("handler bug")

    async def main():
        loop = asyncio.get_running_loop()
        reports = []
        loop.set_exception_handler(lambda lp, context: reports.append(context))
        broken = await loop.create_server(Broken, "127.0.0.1", 0)
        fine = await asyncio.start_server(upper, "127.0.0.1", 0)
        r1, w1 = await asyncio.open_connection(*broken.sockets[0].getsockname())
        w1.write(b"boom")
        assert await asyncio.wait_for(r1.read(), 5) == b""  # that one is closed
        r2, w2 = await asyncio.open_connection(*fine.sockets[0].getsockname())
        w2.write(b"ok")
        assert await r2.readexactly(2) == b"OK"  # the loop serves on
        assert [c["message"] for c in reports] == [
            "Fatal error: protocol.data_received() call failed."]
        for w in (w1, w2):
            w.close()
        for s in (broken, fine):
            s.close()
    evloop.aio.run(main())


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


# -- wait_made: every call that makes a transport waits for it this way ---------------------

class Closes:
    def __init__(self):
        self.closed = 0

    def close(self):
        self.closed += 1


def test_wait_made_closes_the_transport_when_connection_made_fails_or_the_caller_gives_up():
    async def main():
        loop = asyncio.get_running_loop()
        outcomes = []
        for ending in ("made", "failed", "cancelled"):
            transport, waiter = Closes(), loop.create_future()
            waiting = asyncio.ensure_future(wait_made(transport, waiter))
            await asyncio.sleep(0)
            if ending == "made":
                waiter.set_result(None)
            elif ending == "failed":
                waiter.set_exception(ConnectionResetError())
            else:
                waiting.cancel()
            (result,) = await asyncio.gather(waiting, return_exceptions=True)
            outcomes.append((ending, type(result).__name__, transport.closed))
        return outcomes
    assert run(main()) == [("made", "NoneType", 0), ("failed", "ConnectionResetError", 1),
                           ("cancelled", "CancelledError", 1)]
