"""evloop.aio's pipe transports: connect_read_pipe and connect_write_pipe over os.pipe().

Each test runs once per selector class, since a write end learns that its reader
has gone from the kernel's readiness report (an error or hang-up event)."""

import asyncio
import os

import pytest

from evloop.aio import EventLoop

pytestmark = pytest.mark.timeout(30)


def run(main, selector):
    loop = EventLoop(selector)
    try:
        return loop.run_until_complete(main)
    finally:
        loop.close()


class Recorder(asyncio.Protocol):
    """Records the callbacks in order; `lost` is done at connection_lost."""

    def __init__(self):
        self.events = []
        self.data = bytearray()
        self.lost = asyncio.get_running_loop().create_future()
        self.more = asyncio.Event()

    def connection_made(self, transport):
        self.events.append("made")

    def data_received(self, data):
        if self.events[-1] != "data":
            self.events.append("data")
        self.data += data
        self.more.set()

    def eof_received(self):
        self.events.append("eof")

    def pause_writing(self):
        self.events.append("pause")

    def resume_writing(self):
        self.events.append("resume")

    def connection_lost(self, exc):
        self.events.append("lost")
        self.lost.set_result(exc)


def pipe_files():
    r, w = os.pipe()
    return os.fdopen(r, "rb", buffering=0), os.fdopen(w, "wb", buffering=0)


def test_a_read_pipe_delivers_data_then_eof_then_lost(selector):
    async def main():
        loop = asyncio.get_running_loop()
        assert type(loop) is EventLoop
        reading, writing = pipe_files()
        transport, protocol = await loop.connect_read_pipe(Recorder, reading)
        assert transport.get_extra_info("pipe") is reading
        assert transport.is_reading()
        writing.write(b"hello ")
        writing.write(b"pipe")
        while len(protocol.data) < 10:
            protocol.more.clear()
            await asyncio.wait_for(protocol.more.wait(), 5)
        writing.close()
        assert await asyncio.wait_for(protocol.lost, 5) is None
        return bytes(protocol.data), protocol.events, reading.closed
    data, events, closed = run(main(), selector)
    assert data == b"hello pipe"
    assert events == ["made", "data", "eof", "lost"]
    assert closed


def test_pause_reading_stops_the_watch_until_resumed(selector):
    async def main():
        loop = asyncio.get_running_loop()
        reading, writing = pipe_files()
        transport, protocol = await loop.connect_read_pipe(Recorder, reading)
        transport.pause_reading()
        assert not transport.is_reading()
        writing.write(b"waiting")
        for _ in range(5):  # turns of the loop in which the pipe is readable
            await asyncio.sleep(0)
        held = bytes(protocol.data)
        transport.resume_reading()
        await asyncio.wait_for(protocol.more.wait(), 5)
        writing.close()
        await asyncio.wait_for(protocol.lost, 5)
        return held, bytes(protocol.data)
    assert run(main(), selector) == (b"", b"waiting")


def test_a_write_pipe_writes_and_close_ends_it(selector):
    async def main():
        loop = asyncio.get_running_loop()
        reading, writing = pipe_files()
        transport, protocol = await loop.connect_write_pipe(Recorder, writing)
        assert transport.can_write_eof()
        transport.write(b"to the ")
        transport.writelines([b"reader", b"\n"])
        transport.close()
        assert transport.is_closing()
        assert await asyncio.wait_for(protocol.lost, 5) is None
        got = reading.read(100)
        reading.close()
        return got, protocol.events, writing.closed
    assert run(main(), selector) == (b"to the reader\n", ["made", "lost"], True)


def test_a_write_pipe_pauses_when_full_and_resumes_as_the_reader_drains(selector):
    async def main():
        loop = asyncio.get_running_loop()
        reading, writing = pipe_files()
        os.set_blocking(reading.fileno(), False)
        transport, protocol = await loop.connect_write_pipe(Recorder, writing)
        block = b"p" * 65536
        for _ in range(4):  # a Linux pipe holds 64 KiB: the rest is queued
            transport.write(block)
        queued = transport.get_write_buffer_size()
        assert queued > 0 and protocol.events == ["made", "pause"]
        received = 0
        for _ in range(1000):
            try:
                received += len(reading.read(65536) or b"")
            except BlockingIOError:
                pass
            if received == len(block) * 4:
                break
            await asyncio.sleep(0.005)
        transport.close()
        await asyncio.wait_for(protocol.lost, 5)
        reading.close()
        return received, transport.get_write_buffer_size(), protocol.events
    received, left, events = run(main(), selector)
    assert received == 4 * 65536
    assert left == 0
    assert events == ["made", "pause", "resume", "lost"]


def test_a_write_pipe_sees_its_reader_close(selector):
    async def main():
        loop = asyncio.get_running_loop()
        reading, writing = pipe_files()
        transport, protocol = await loop.connect_write_pipe(Recorder, writing)
        reading.close()  # nothing is written: the kernel's report alone tells the transport
        assert await asyncio.wait_for(protocol.lost, 5) is None
        return protocol.events
    assert run(main(), selector) == ["made", "lost"]


def test_a_reader_that_closes_with_bytes_queued_is_a_broken_pipe(selector):
    async def main():
        loop = asyncio.get_running_loop()
        reading, writing = pipe_files()
        transport, protocol = await loop.connect_write_pipe(Recorder, writing)
        transport.write(b"q" * 200_000)  # more than the pipe holds
        assert transport.get_write_buffer_size() > 0
        reading.close()
        exc = await asyncio.wait_for(protocol.lost, 5)
        return exc, transport.get_write_buffer_size()
    exc, left = run(main(), selector)
    assert isinstance(exc, BrokenPipeError)
    assert left == 0


def test_write_eof_and_abort(selector):
    async def main():
        loop = asyncio.get_running_loop()
        reading, writing = pipe_files()
        transport, protocol = await loop.connect_write_pipe(Recorder, writing)
        transport.write(b"last")
        transport.write_eof()
        transport.write(b"ignored")  # after the end: counted, not written
        await asyncio.wait_for(protocol.lost, 5)
        assert reading.read() == b"last"  # then EOF: the write end is closed
        reading.close()
        reading, writing = pipe_files()
        transport, protocol = await loop.connect_write_pipe(Recorder, writing)
        transport.write(b"a" * 200_000)
        transport.abort()
        assert transport.get_write_buffer_size() == 0
        assert await asyncio.wait_for(protocol.lost, 5) is None
        reading.close()
    run(main(), selector)


def test_a_regular_file_is_refused(tmp_path, selector):
    async def main():
        loop = asyncio.get_running_loop()
        with open(tmp_path / "plain", "wb+") as file:
            with pytest.raises(ValueError, match="Pipe transport is for pipes/sockets only."):
                await loop.connect_read_pipe(asyncio.Protocol, file)
            with pytest.raises(ValueError, match="Pipe transport is only for pipes, sockets "
                                                 "and character devices"):
                await loop.connect_write_pipe(asyncio.Protocol, file)
    run(main(), selector)


def test_asyncio_streams_read_a_pipe(selector):
    async def main():
        loop = asyncio.get_running_loop()
        reading, writing = pipe_files()
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), reading)
        writing.write(b"first line\nsecond line\n")
        writing.close()
        lines = [await reader.readline(), await reader.readline(), await reader.readline()]
        transport.close()
        return lines
    assert run(main(), selector) == [b"first line\n", b"second line\n", b""]


def test_a_write_pipe_closed_before_its_first_turn_leaves_no_watch(selector):
    async def main():
        loop = asyncio.get_running_loop()
        watched = loop.statistics().descriptors
        reading, writing = pipe_files()
        connecting = asyncio.ensure_future(loop.connect_write_pipe(Recorder, writing))
        await asyncio.sleep(0)  # the transport is made; its watches are queued
        connecting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await connecting
        for _ in range(5):  # turns for its queued watch and its connection_lost to run
            await asyncio.sleep(0)
        reading.close()
        return watched, loop.statistics().descriptors, writing.closed
    watched, after, closed = run(main(), selector)
    assert after == watched
    assert closed
