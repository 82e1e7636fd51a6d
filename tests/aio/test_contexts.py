"""Context variables in the callbacks evloop.aio makes, against asyncio's own
loop on the running Python.

asyncio runs a transport's protocol callbacks in a copy of the context that was
current where the loop call was made: ``connection_made``, ``data_received`` and
``eof_received`` in the one ``create_server``, ``create_connection``,
``connect_read_pipe`` or ``subprocess_exec`` ran in; ``pause_writing`` in the
writer's; ``resume_reading``'s reads in the resumer's; ``connection_lost`` in the
closer's.  Each scenario below sets a different value before each of those calls,
runs once on ``asyncio.SelectorEventLoop`` and once on evloop.aio, and records
which values every callback saw.  The two records must be equal: the test is
differential, so it follows whichever Python runs it.
"""

import asyncio
import contextvars
import os
import socket
import ssl
import sys

import pytest

from evloop.aio import EventLoop


cvar: contextvars.ContextVar[str] = contextvars.ContextVar("cvar", default="outer")




class Recorder:
    def __init__(self):
        self.seen = {}
        self.waiters = {}

    def note(self, name):
        self.seen.setdefault(name, [])
        value = cvar.get()
        if value not in self.seen[name]:
            self.seen[name].append(value)
        for fut in self.waiters.pop(name, []):
            if not fut.done():
                fut.set_result(None)

    async def wait(self, name):
        if name in self.seen:
            return
        fut = asyncio.get_running_loop().create_future()
        self.waiters.setdefault(name, []).append(fut)
        await asyncio.wait_for(fut, 5)

    async def wait_any(self, *names):
        """The first of `names` to happen (before 3.11, a TLS peer's close_notify
        reached connection_lost without eof_received)."""
        waits = [asyncio.ensure_future(self.wait(name)) for name in names]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    def clear(self, name):
        self.seen.pop(name, None)


class Proto(asyncio.Protocol):
    def __init__(self, rec, keep_open=False):
        self.rec = rec
        self.keep_open = keep_open
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        self.rec.note("connection_made")

    def data_received(self, data):
        self.rec.note("data_received")

    def eof_received(self):
        self.rec.note("eof_received")
        return self.keep_open

    def pause_writing(self):
        self.rec.note("pause_writing")

    def resume_writing(self):
        self.rec.note("resume_writing")

    def connection_lost(self, exc):
        self.rec.note("connection_lost")


class Buffered(Proto, asyncio.BufferedProtocol):
    def get_buffer(self, hint):
        self.rec.note("get_buffer")
        return bytearray(65536)

    def buffer_updated(self, n):
        self.rec.note("data_received")


def unwrap(sock):
    """The client's TLS close: its close_notify, then the server's (before 3.11 asyncio's
    server may close without one, which the client sees as an unexpected EOF)."""
    try:
        sock.unwrap()
    except (ssl.SSLError, OSError):
        pass


def in_context(value, fn, *args):
    cvar.set(value)
    return fn(*args)


async def stream_scenario(loop, rec, certs, tmpdir, kind, family, use_ssl, close_how):
    """A server made in 'create_server'; a client made by a thread; reading
    paused in 'pause' and resumed in 'resume'; a task 'writer' fills the
    buffer; then the client's EOF (or a close in 'closing')."""
    cvar.set("create_server")
    path = os.path.join(tmpdir, "s")
    server_ctx = client_ctx = None
    if use_ssl:
        server_ctx, client_ctx = certs
    protos = []

    def factory():
        rec.note("factory")
        p = (Buffered if kind == "buffered" else Proto)(rec, keep_open=False)
        protos.append(p)
        return p

    if family == "tcp":
        srv = await loop.create_server(factory, "127.0.0.1", 0, ssl=server_ctx)
        addr = srv.sockets[0].getsockname()
        fam = socket.AF_INET
    else:
        srv = await loop.create_unix_server(factory, path, ssl=server_ctx)
        addr = path
        fam = socket.AF_UNIX
    cvar.set("client")

    def connect():
        s = socket.socket(fam)
        s.connect(addr)
        if use_ssl:
            s = client_ctx.wrap_socket(s, server_hostname="127.0.0.1")
        return s

    s = await loop.run_in_executor(None, connect)
    await rec.wait("connection_made")
    p = protos[0]
    await loop.run_in_executor(None, s.sendall, b"one")
    await rec.wait("data_received")
    rec.clear("data_received")
    # pause in one context, resume in another
    loop.call_soon(in_context, "pause", p.transport.pause_reading)
    await asyncio.sleep(0.01)
    await loop.run_in_executor(None, s.sendall, b"two")
    await asyncio.sleep(0.05)
    loop.call_soon(in_context, "resume", p.transport.resume_reading)
    await rec.wait("data_received")

    async def writer():
        cvar.set("writer")
        p.transport.set_write_buffer_limits(high=256, low=128)
        total = 0
        while not p.transport.get_write_buffer_size() and total < 64 << 20:
            p.transport.write(b"q" * 65536)
            total += 65536
        return total

    total = await loop.create_task(writer())
    await rec.wait("pause_writing")

    def drain():
        got = 0
        s.settimeout(5)
        while got < total:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            got += len(chunk)
        return got

    await loop.run_in_executor(None, drain)
    await rec.wait("resume_writing")
    if close_how == "eof":
        if use_ssl:
            await loop.run_in_executor(None, unwrap, s)
        else:
            s.shutdown(socket.SHUT_WR)
        await rec.wait_any("eof_received", "connection_lost")
    else:
        loop.call_soon(in_context, "closing", p.transport.close)
        if use_ssl:
            # A TLS transport is lost once the peer answers its close_notify.
            await loop.run_in_executor(None, unwrap, s)
    await rec.wait("connection_lost")
    s.close()
    srv.close()
    await srv.wait_closed()


async def client_scenario(loop, rec, certs, tmpdir, use_ssl, use_sock):
    cvar.set("create_connection")
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen()
    addr = ls.getsockname()
    server_ctx = client_ctx = None
    if use_ssl:
        server_ctx, client_ctx = certs

    def accept():
        c, _ = ls.accept()
        if use_ssl:
            c = server_ctx.wrap_socket(c, server_side=True)
        return c

    acc = loop.run_in_executor(None, accept)
    p = Proto(rec)
    kw = {}
    if use_sock:
        cs = socket.socket()
        cs.connect(addr)
        kw["sock"] = cs
        if use_ssl:
            kw["server_hostname"] = "127.0.0.1"
    else:
        kw["host"], kw["port"] = addr
    await loop.create_connection(lambda: p, ssl=client_ctx, **kw)
    s = await acc
    await rec.wait("connection_made")
    await loop.run_in_executor(None, s.sendall, b"data")
    await rec.wait("data_received")
    if use_ssl:
        await loop.run_in_executor(None, unwrap, s)
    else:
        s.shutdown(socket.SHUT_WR)
    await rec.wait_any("eof_received", "connection_lost")
    s.close()
    ls.close()
    await rec.wait("connection_lost")


async def datagram_scenario(loop, rec, certs, tmpdir, close_how):
    cvar.set("create_datagram_endpoint")

    class D(asyncio.DatagramProtocol):
        def connection_made(self, t):
            self.t = t
            rec.note("connection_made")

        def datagram_received(self, data, addr):
            rec.note("datagram_received")

        def error_received(self, exc):
            rec.note("error_received")

        def connection_lost(self, exc):
            rec.note("connection_lost")

    p = D()
    t, _ = await loop.create_datagram_endpoint(lambda: p, local_addr=("127.0.0.1", 0))
    await rec.wait("connection_made")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"x", t.get_extra_info("sockname"))
    await rec.wait("datagram_received")
    # a connected datagram endpoint's refusal: error_received
    dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dead.bind(("127.0.0.1", 0))
    dead_addr = dead.getsockname()
    dead.close()
    cvar.set("connect")
    t2, p2 = await loop.create_datagram_endpoint(lambda: p, remote_addr=dead_addr)
    cvar.set("sender")
    t2.sendto(b"x")
    await asyncio.sleep(0.05)
    t2.sendto(b"x")
    await rec.wait("error_received")
    if close_how == "closing":
        loop.call_soon(in_context, "closing", t.close)
    else:
        t.close()
    t2.close()
    await asyncio.sleep(0.05)
    s.close()


async def pipe_scenario(loop, rec, certs, tmpdir):
    cvar.set("subprocess_exec")

    class P(asyncio.SubprocessProtocol):
        def connection_made(self, t):
            rec.note("connection_made")

        def pipe_data_received(self, fd, data):
            rec.note("pipe_data_received")

        def pipe_connection_lost(self, fd, exc):
            rec.note("pipe_connection_lost")

        def process_exited(self):
            rec.note("process_exited")

        def connection_lost(self, exc):
            rec.note("connection_lost")

    t, p = await loop.subprocess_exec(P, sys.executable, "-c",
                                      "import sys; sys.stdout.write(sys.stdin.read())")
    await rec.wait("connection_made")
    cvar.set("writer")
    t.get_pipe_transport(0).write(b"data")
    t.get_pipe_transport(0).write_eof()
    await rec.wait("pipe_data_received")
    await rec.wait("process_exited")
    await asyncio.sleep(0.1)
    t.close()
    await asyncio.sleep(0.05)


async def read_pipe_scenario(loop, rec, certs, tmpdir):
    cvar.set("connect_read_pipe")
    r, w = os.pipe()
    p = Proto(rec)
    t, _ = await loop.connect_read_pipe(lambda: p, os.fdopen(r, "rb", 0))
    await rec.wait("connection_made")
    os.write(w, b"x")
    await rec.wait("data_received")
    os.close(w)
    await rec.wait("connection_lost")
    cvar.set("connect_write_pipe")
    r, w = os.pipe()
    p2 = Proto(Recorder())
    rec2 = p2.rec
    t2, _ = await loop.connect_write_pipe(lambda: p2, os.fdopen(w, "wb", 0))
    await rec2.wait("connection_made")
    cvar.set("writer")
    t2.set_write_buffer_limits(high=256)
    while not t2.get_write_buffer_size():
        t2.write(b"y" * 65536)
    await rec2.wait("pause_writing")
    got = 0
    for _ in range(10000):
        if not t2.get_write_buffer_size() and got:
            break
        try:
            got += len(os.read(r, 1 << 20))
        except BlockingIOError:
            pass
        await asyncio.sleep(0.001)
    await rec2.wait("resume_writing")
    os.close(r)
    cvar.set("closer")
    t2.close()
    await rec2.wait("connection_lost")
    for k, v in rec2.seen.items():
        rec.seen["write_pipe." + k] = v


async def write_close_scenario(loop, rec, certs, tmpdir, close_in_task):
    cvar.set("create_server")
    protos = []

    def factory():
        p = Proto(rec)
        protos.append(p)
        return p

    srv = await loop.create_server(factory, "127.0.0.1", 0)
    addr = srv.sockets[0].getsockname()
    s = await loop.run_in_executor(None, socket.create_connection, addr)
    await rec.wait("connection_made")
    p = protos[0]

    async def task():
        cvar.set("w1")
        p.transport.write(b"x" * 100)
        cvar.set("w2")
        p.transport.write(b"y" * 100)
        if close_in_task:
            cvar.set("c1")
            p.transport.close()

    await loop.create_task(task())
    if not close_in_task:
        cvar.set("c2")
        p.transport.close()
    await rec.wait("connection_lost")
    s.close()
    srv.close()
    await srv.wait_closed()



async def start_tls_scenario(loop, rec, certs, tmpdir):
    """A plain connection upgraded by start_tls in 'start_tls', then closed in 'closing'."""
    cvar.set("create_server")
    server_ctx, client_ctx = certs
    protos = []

    def factory():
        protos.append(Proto(rec))
        return protos[-1]

    srv = await loop.create_server(factory, "127.0.0.1", 0)
    addr = srv.sockets[0].getsockname()

    def client():
        with socket.create_connection(addr, timeout=5) as plain:
            plain.sendall(b"go")
            plain.recv(2)  # the server's go-ahead
            tls = client_ctx.wrap_socket(plain, server_hostname="127.0.0.1")
            tls.sendall(b"over tls")
            try:
                while tls.recv(100):
                    pass
            except (ssl.SSLError, OSError):
                pass
            unwrap(tls)

    done = loop.run_in_executor(None, client)
    await rec.wait("data_received")
    rec.clear("data_received")
    transport = protos[0].transport
    transport.write(b"ok")
    cvar.set("start_tls")
    tls = await loop.start_tls(transport, protos[0], server_ctx, server_side=True)
    await rec.wait("data_received")
    loop.call_soon(in_context, "closing", tls.close)
    await rec.wait("connection_lost")
    await done
    srv.close()
    await srv.wait_closed()


SCENARIOS = {
    "write-close-in-task": (write_close_scenario, True),
    "write-close-later": (write_close_scenario, False),
    "datagram-closing": (datagram_scenario, "closing"),
    "datagram-direct": (datagram_scenario, "direct"),
    "subprocess": (pipe_scenario,),
    "pipes": (read_pipe_scenario,),
    "start-tls": (start_tls_scenario,),
}
for _kind in ("protocol", "buffered"):
    for _family in ("tcp", "unix"):
        for _tls in (False, True):
            for _close in ("eof", "closing"):
                _name = f"server-{_kind}-{_family}-{'tls' if _tls else 'plain'}-{_close}"
                SCENARIOS[_name] = (stream_scenario, _kind, _family, _tls, _close)
for _tls in (False, True):
    for _sock in (False, True):
        _name = f"client-{'tls' if _tls else 'plain'}-{'sock' if _sock else 'addr'}"
        SCENARIOS[_name] = (client_scenario, _tls, _sock)


def record(loop, name, certs, tmpdir):
    scenario, *args = SCENARIOS[name]
    rec = Recorder()
    try:
        loop.run_until_complete(asyncio.wait_for(scenario(loop, rec, certs, tmpdir, *args), 20))
    except Exception as exc:
        rec.seen["ERROR"] = [repr(exc)]
    finally:
        loop.close()
    return rec.seen


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_callbacks_see_the_context_asyncio_s_loop_gives_them(name, certs, tmp_path):
    (tmp_path / "asyncio").mkdir()
    (tmp_path / "evloop").mkdir()
    expected = record(asyncio.SelectorEventLoop(), name, certs, str(tmp_path / "asyncio"))
    assert "ERROR" not in expected, expected
    # Not "outer" everywhere: the scenario does reach the contexts it sets.
    assert expected["connection_made"] != ["outer"], expected
    got = record(EventLoop(), name, certs, str(tmp_path / "evloop"))
    assert got == expected


def test_a_server_s_connections_are_served_in_the_context_create_server_ran_in(certs, tmp_path):
    """The first scenario spelled out, so that a failure reads without the table."""
    seen = record(EventLoop(), "server-protocol-tcp-plain-eof", certs, str(tmp_path))
    assert seen["factory"] == ["create_server"]
    assert seen["connection_made"] == ["create_server"]
    assert seen["data_received"] == ["resume"]  # the first was cleared
    assert seen["pause_writing"] == ["writer"]
    assert seen["eof_received"] == ["resume"]  # reads since run in the resumer's
