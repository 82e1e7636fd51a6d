"""evloop.aio's public face (evloop/aio/__init__.py): run(), new_event_loop(), the
policy and install(), as a program meets them first.

CPython's own asyncio suites run against the loop in tests/features/test_conformance.py."""

import asyncio
import sys
import warnings

import pytest

import evloop.aio
from evloop.aio import EventLoop
from tests.aio.kit import upper

pytestmark = pytest.mark.timeout(30)


def test_a_streams_server_and_client_run_on_it():
    async def main():
        loop = asyncio.get_running_loop()
        assert type(loop) is EventLoop
        server = await asyncio.start_server(upper, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"hello")
        await writer.drain()
        got = await reader.readexactly(5)
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        return got
    assert evloop.aio.run(main()) == b"HELLO"


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.Runner is Python 3.11's")
def test_asyncio_runner_takes_it_as_its_loop_factory():
    async def which():
        return type(asyncio.get_running_loop())
    with asyncio.Runner(loop_factory=evloop.aio.new_event_loop) as runner:
        assert runner.run(which()) is EventLoop


def test_the_policy_makes_its_loops():
    policy = evloop.aio.EventLoopPolicy()
    loop = policy.new_event_loop()
    try:
        assert isinstance(loop, EventLoop)
    finally:
        loop.close()


def test_install_makes_asyncio_s_new_event_loop_an_evloop_one():
    import evloop.aio
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        before = asyncio.get_event_loop_policy()
        try:
            evloop.aio.install()
            loop = asyncio.new_event_loop()
            try:
                assert type(loop) is EventLoop
            finally:
                loop.close()
        finally:
            asyncio.set_event_loop_policy(before)


def test_run_reports_a_task_that_raised_while_it_was_cancelled_at_shutdown():
    """asyncio.run cancels the tasks main() left, and reports one that raised
    instead of ending (every Python: 3.10 in run(), 3.11+ in Runner)."""
    def story(run):
        reported = []

        async def stubborn():
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                raise ValueError("would not be cancelled") from None

        async def main():
            asyncio.get_running_loop().set_exception_handler(
                lambda loop, context: reported.append((context["message"],
                                                       repr(context["exception"]))))
            asyncio.ensure_future(stubborn())
            await asyncio.sleep(0)
        run(main())
        return reported
    expected = story(asyncio.run)
    assert expected == [("unhandled exception during asyncio.run() shutdown",
                         "ValueError('would not be cancelled')")]
    assert story(evloop.aio.run) == expected
