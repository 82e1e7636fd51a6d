"""evloop.aio's stream transport (evloop/aio/stream.py): a connected stream socket
for a Protocol or a BufferedProtocol.

Each test holds the transport to what asyncio's own selector transport does
(CPython's asyncio/selector_events.py, _SelectorSocketTransport), and to the
Transport documentation: its read paths, when its writes leave, EOF, extra
info.  The far end of each connection is a plain socket driven with the loop's
sock_* calls, so that the bytes on the wire can be counted.  Loopback and
socketpairs only; every transport made is closed before its test ends."""

import asyncio
import logging
import socket

import pytest

from evloop.aio import EventLoop
from tests.aio.kit import Recorder
from tests.aio.kit import connected
from tests.aio.kit import count_sends
from tests.aio.kit import fill_until_buffered
from tests.aio.kit import handler_log
from tests.aio.kit import read_until_eof
from tests.aio.kit import run

pytestmark = pytest.mark.timeout(30)


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


def test_a_timers_writes_leave_together_at_the_turns_end():
    async def main():
        loop = asyncio.get_running_loop()
        transport, protocol, peer = await connected()
        with peer:
            sends = count_sends(transport)
            during = loop.create_future()

            def timer():
                transport.write(b"tick;")
                transport.write(b"tock")
                during.set_result(list(sends))
            loop.call_later(0.001, timer)
            sent_during = await during
            after_turn = list(sends)
            got = await loop.sock_recv(peer, 100)
            transport.close()
            await protocol.lost
        return sent_during, after_turn, got
    sent_during, after_turn, got = run(main())
    assert sent_during == [] and after_turn == [b"tick;tock"] and got == b"tick;tock"


class Relay(Recorder):
    """Writes what it is given to another transport, from data_received itself."""

    def data_received(self, data):
        super().data_received(data)
        self.other.write(data)
        self.sent_then = list(self.other_sends)


def test_a_relays_write_from_data_received_leaves_at_once():
    async def main():
        loop = asyncio.get_running_loop()
        into, relay, peer_in = await connected(Relay)
        out, protocol, peer_out = await connected()
        with peer_in, peer_out:
            relay.other, relay.other_sends = out, count_sends(out)
            await loop.sock_sendall(peer_in, b"relayed")
            await relay.got_data.wait()
            got = await loop.sock_recv(peer_out, 100)
            for transport, recorder in ((into, relay), (out, protocol)):
                transport.close()
                await recorder.lost
        return relay.sent_then, got
    sent_then, got = run(main())
    assert sent_then == [b"relayed"] and got == b"relayed"


def test_a_write_from_a_callback_before_the_loop_runs_leaves_in_the_first_turn():
    loop = EventLoop()
    try:
        transport, protocol, peer = loop.run_until_complete(connected())
        with peer:
            sends = count_sends(transport)
            loop.call_soon(transport.write, b"early")
            sent_then = []
            # Queued after the write, run in the next turn: the write has left by then.
            loop.call_soon(lambda: loop.call_soon(sent_then.extend, sends))
            loop.run_until_complete(asyncio.sleep(0))
            got = loop.run_until_complete(loop.sock_recv(peer, 100))
            transport.close()
            loop.run_until_complete(protocol.lost)
    finally:
        loop.close()
    assert sent_then == [b"early"] and got == b"early"


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
