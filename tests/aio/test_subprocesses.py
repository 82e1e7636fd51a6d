"""evloop.aio's subprocesses: asyncio.create_subprocess_exec and _shell on its loop.

Children are this Python (`python -c`) or /bin/sh; each test waits for every child
it starts.  The exits are seen through a pidfd where the kernel has them, and
through a waitpid() thread where it does not (forced here by hiding os.pidfd_open)."""

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

import evloop.aio
from evloop.aio import EventLoop
from tests.conftest import cli_env

pytestmark = pytest.mark.timeout(60)

UPPER = "import sys; sys.stdout.write(sys.stdin.read().upper())"
SLEEPER = "import sys, time; print('up', flush=True); time.sleep(30)"


@pytest.fixture(params=["pidfd", "thread"])
def waiting(request, monkeypatch):
    """Each test using this runs with pidfds, and with the waitpid() thread instead."""
    if request.param == "pidfd":
        if not hasattr(os, "pidfd_open"):
            pytest.skip("os.pidfd_open is Linux 5.3+ only")
    else:
        monkeypatch.delattr(os, "pidfd_open", raising=False)
    return request.param


async def python(*code_and_args, **kwargs):
    return await asyncio.create_subprocess_exec(sys.executable, "-c", *code_and_args, **kwargs)


def test_a_child_echoes_stdin_through_communicate(waiting):
    async def main():
        assert type(asyncio.get_running_loop()) is EventLoop
        proc = await python(UPPER, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(b"shout this"), 30)
        return out, err, proc.returncode
    assert evloop.aio.run(main()) == (b"SHOUT THIS", b"", 0)


def test_streams_of_a_child_line_by_line(waiting):
    async def main():
        proc = await python("import sys\nfor line in sys.stdin: print(len(line.strip()), "
                            "flush=True)", stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        answers = []
        for word in (b"a", b"four", b"eleven char"):
            proc.stdin.write(word + b"\n")
            await proc.stdin.drain()
            answers.append(await asyncio.wait_for(proc.stdout.readline(), 30))
        proc.stdin.close()
        return answers, await asyncio.wait_for(proc.wait(), 30)
    assert evloop.aio.run(main()) == ([b"1\n", b"4\n", b"11\n"], 0)


def test_kill_terminate_and_send_signal(waiting):
    async def started():
        proc = await python(SLEEPER, stdout=subprocess.PIPE)
        assert await asyncio.wait_for(proc.stdout.readline(), 30) == b"up\n"
        return proc

    async def main():
        codes = []
        for stop in ("kill", "terminate", "send_signal"):
            proc = await started()
            if stop == "send_signal":
                proc.send_signal(signal.SIGUSR1)
            else:
                getattr(proc, stop)()
            codes.append(await asyncio.wait_for(proc.wait(), 30))
        return codes
    assert evloop.aio.run(main()) == [-signal.SIGKILL, -signal.SIGTERM, -signal.SIGUSR1]


def test_a_shell_command_s_exit_status(waiting):
    async def main():
        proc = await asyncio.create_subprocess_shell("exit 3")
        shell_code = await asyncio.wait_for(proc.wait(), 30)
        proc = await asyncio.create_subprocess_shell("echo $((6 * 7))", stdout=subprocess.PIPE)
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
        return shell_code, out, proc.returncode
    assert evloop.aio.run(main()) == (3, b"42\n", 0)


def test_a_subprocess_protocol_hears_pipes_then_exit_then_lost(waiting):
    class Recorder(asyncio.SubprocessProtocol):
        def __init__(self):
            self.events = []
            self.lost = asyncio.get_running_loop().create_future()

        def pipe_data_received(self, fd, data):
            self.events.append((fd, data))

        def pipe_connection_lost(self, fd, exc):
            self.events.append((fd, "closed"))

        def process_exited(self):
            self.events.append("exited")

        def connection_lost(self, exc):
            self.lost.set_result(exc)

    async def main():
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.subprocess_exec(
            Recorder, sys.executable, "-c", "print('out')", stdin=None)
        await asyncio.wait_for(protocol.lost, 30)
        code = transport.get_returncode()
        transport.close()
        return protocol.events, code
    events, code = evloop.aio.run(main())
    assert code == 0
    closed = events.index((1, "closed"))
    data = [event for event in events if isinstance(event, tuple) and event[1] != "closed"]
    assert b"".join(chunk for _, chunk in data) == b"out\n"
    assert all(events.index(event) < closed for event in data)
    assert sorted(set(events) - set(data), key=str) == sorted(
        [(1, "closed"), (2, "closed"), "exited"], key=str)


def test_a_loop_in_another_thread_runs_children():
    results = []

    def in_thread():
        async def main():
            proc = await python("print('from a thread')", stdout=subprocess.PIPE)
            out, _ = await asyncio.wait_for(proc.communicate(), 30)
            return out, proc.returncode
        results.append(evloop.aio.run(main()))

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join(50)
    assert results == [(b"from a thread\n", 0)]


def test_bad_arguments_get_asyncio_s_errors():
    async def main():
        loop = asyncio.get_running_loop()
        protocol = asyncio.SubprocessProtocol
        for kwargs, message in (({"universal_newlines": True}, "universal_newlines must be False"),
                                ({"shell": True}, "shell must be False"),
                                ({"bufsize": 1}, "bufsize must be 0"),
                                ({"text": True}, "text must be False"),
                                ({"encoding": "utf-8"}, "encoding must be None"),
                                ({"errors": "strict"}, "errors must be None")):
            with pytest.raises(ValueError, match=message):
                await loop.subprocess_exec(protocol, sys.executable, "-c", "pass", **kwargs)
        with pytest.raises(ValueError, match="shell must be True"):
            await loop.subprocess_shell(protocol, "exit 0", shell=False)
        with pytest.raises(ValueError, match="cmd must be a string"):
            await loop.subprocess_shell(protocol, ["exit", "0"])
        with pytest.raises(ValueError, match="text must be False"):
            await asyncio.create_subprocess_shell("exit 0", text=True)
        with pytest.raises(FileNotFoundError):
            await asyncio.create_subprocess_exec("/nonexistent/evloop-test-program")
    evloop.aio.run(main())


PROGRAM = textwrap.dedent("""\
    import asyncio
    import signal
    import sys

    import evloop.aio

    TIMERS = 1000


    async def main():
        loop = asyncio.get_running_loop()
        assert type(loop) is evloop.aio.EventLoop
        stopped = loop.create_future()
        loop.add_signal_handler(signal.SIGTERM, stopped.set_result, "SIGTERM")
        fired = []
        all_fired = loop.create_future()

        def fire(n):
            fired.append(n)
            if len(fired) == TIMERS:
                all_fired.set_result(None)

        for n in range(TIMERS):
            loop.call_later((n % 100) / 1000, fire, n)
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "import sys; print(sum(map(int, sys.stdin.read().split())))",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        out, _ = await child.communicate(" ".join(map(str, range(TIMERS))).encode())
        await asyncio.wait_for(all_fired, 30)
        await asyncio.sleep(0.01)  # asyncio.sleep cancels its own timer after it ran
        pending = loop.statistics().timers
        print(f"timers {len(fired)} {len(set(fired))}, {pending} pending")
        print(f"child {child.returncode} {out.decode().strip()}")
        sleeper = await asyncio.create_subprocess_exec(sys.executable, "-c",
                                                       "import time; time.sleep(60)")
        print("ready", flush=True)
        print(f"stopped by {await stopped}")
        sleeper.terminate()
        print(f"sleeper {await sleeper.wait()}")


    evloop.aio.run(main())
""")


@pytest.mark.timeout(90)
def test_a_program_with_timers_a_subprocess_and_sigterm(tmp_path):
    script = tmp_path / "timers_child_sigterm.py"
    script.write_text(PROGRAM)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=cli_env())
    try:
        lines = []
        for _ in range(3):
            lines.append(proc.stdout.readline())
            if lines[-1] in ("", "ready\n"):
                break
        assert lines[-1] == "ready\n", (lines, proc.poll())
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert lines[:2] == ["timers 1000 1000, 0 pending\n", f"child 0 {sum(range(1000))}\n"]
    assert out.splitlines() == ["stopped by SIGTERM", f"sleeper {-signal.SIGTERM}"]
    assert err == ""


def child_story(loop_factory, rounds=5):
    """The orders in which a SubprocessProtocol heard of `rounds` children that
    write a byte and exit, and the names of the threads that waited for them."""
    class Story(asyncio.SubprocessProtocol):
        def __init__(self, events, done):
            self.events, self.done = events, done

        def pipe_data_received(self, fd, data):
            self.events.append(f"data{fd}")

        def pipe_connection_lost(self, fd, exc):
            self.events.append(f"lost{fd}")

        def process_exited(self):
            self.events.append("exited")

        def connection_lost(self, exc):
            self.events.append("connection_lost")
            self.done.set_result(None)

    async def main():
        loop = asyncio.get_running_loop()
        orders, waiters = set(), set()
        for _ in range(rounds):
            events, done = [], loop.create_future()
            transport, _ = await loop.subprocess_exec(
                lambda: Story(events, done), sys.executable, "-c",
                "import sys, time; sys.stdout.write('x'); sys.stdout.flush(); time.sleep(0.1)",
                stdin=None, stderr=None)
            waiters |= {thread.name.rstrip("0123456789") for thread in threading.enumerate()
                        if "waitpid" in thread.name}
            await asyncio.wait_for(done, 30)
            transport.close()
            orders.add(",".join(events))
        return orders, waiters
    loop = loop_factory()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


@pytest.mark.skipif(sys.version_info >= (3, 14), reason="asyncio's child watchers are gone")
def test_a_child_s_callbacks_and_waiter_thread_are_asyncio_s(waiting):
    """The exit reaches the transport as it does on asyncio's loop of this Python
    (two turns before 3.12 or from a waiter thread, one from a pidfd from 3.12),
    so with pidfds the order is asyncio's every time; without them, a thread
    waits, named as asyncio names it."""
    orders, waiters = child_story(EventLoop)
    if waiting == "pidfd":  # asyncio's loop, beside (it cannot be run without pidfds here)
        assert orders == {"data1,lost1,exited,connection_lost"}
        assert child_story(asyncio.SelectorEventLoop)[0] == orders
    else:
        # A waiter thread races the pipe's EOF, on asyncio's loop as here: the exit
        # is told after the pipe's data, and before connection_lost.
        assert {order.replace("lost1,exited", "exited,lost1") for order in orders} <= {
            "data1,exited,lost1,connection_lost"}
        assert waiters == {"waitpid-" if sys.version_info < (3, 11) else "asyncio-waitpid-"}
