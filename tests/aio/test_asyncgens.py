"""The async generators a loop follows (evloop/aio/asyncgens.py): closed by
shutdown_asyncgens(), or on the loop when collected unfinished."""

import asyncio
import gc

import pytest


pytestmark = pytest.mark.timeout(30)


def test_shutdown_asyncgens_finalizes_suspended_generators(loop):
    closed = []

    async def counting():
        try:
            yield 1
            yield 2
        finally:
            closed.append("counting")

    async def refuses():
        try:
            yield 1
        finally:
            raise ValueError("cannot close")

    contexts = []
    loop.set_exception_handler(lambda _, context: contexts.append(context))

    async def main():
        kept = [counting(), refuses()]
        for agen in kept:
            await agen.__anext__()
        return kept
    kept = loop.run_until_complete(main())
    assert closed == []
    loop.run_until_complete(loop.shutdown_asyncgens())
    assert closed == ["counting"]
    (context,) = contexts
    assert context["message"].startswith("an error occurred during closing of asynchronous "
                                         "generator")
    assert isinstance(context["exception"], ValueError) and context["asyncgen"] is kept[1]

    async def late():
        gen = counting()
        await gen.__anext__()
        await gen.aclose()
    with pytest.warns(ResourceWarning, match="was scheduled after loop.shutdown_asyncgens"):
        loop.run_until_complete(late())
    loop.run_until_complete(loop.shutdown_asyncgens())  # none left: returns at once


def test_a_generator_collected_while_running_is_closed_on_the_loop(loop):
    closed = asyncio.Event()

    async def gen():
        try:
            yield 1
            yield 2
        finally:
            closed.set()

    async def main():
        agen = gen()
        await agen.__anext__()
        del agen
        gc.collect()  # the finalizer hook schedules aclose() on the loop
        await asyncio.wait_for(closed.wait(), 10)
        return closed.is_set()
    assert loop.run_until_complete(main())
