"""Coroutines working together, on evloop.aio (chapter 6): a queue, gather, a timeout
and cancellation.

    python3 bench/aio_coordination.py queue     # or gather, timeout, cancel

Each example is plain asyncio; `evloop.aio.run(main())` is `asyncio.run(main())`
on evloop.aio, and `--loop asyncio` runs the same on asyncio's own loop, which
prints the same lines.  The sleeps are a tenth of a second apart, so the order
of what is printed is the same on every run.
"""

import argparse
import asyncio

import evloop.aio


async def producer(queue):
    for item in ("a", "b", "c", "d"):
        await queue.put(item)  # waits while the queue is full
        print(f"put {item}")
    await queue.put(None)  # no more


async def consumer(queue):
    while (item := await queue.get()) is not None:
        await asyncio.sleep(0.1)  # the work: slower than the producer
        print(f"    done {item}")


async def queue_example():
    queue = asyncio.Queue(maxsize=2)
    await asyncio.gather(producer(queue), consumer(queue))


async def fetch(name, seconds):
    await asyncio.sleep(seconds)
    print(f"{name} finished after {seconds} s")
    return name.upper()


async def gather_example():
    results = await asyncio.gather(fetch("slow", 0.3), fetch("quick", 0.1), fetch("middle", 0.2))
    print(results)


async def slow_answer():
    try:
        await asyncio.sleep(10)
        return "the answer"
    finally:
        print("slow_answer: finally runs, it was cancelled")


async def timeout_example():
    try:
        print(await asyncio.wait_for(slow_answer(), timeout=0.1))
    except asyncio.TimeoutError:  # the built-in TimeoutError from Python 3.11
        print("no answer within 0.1 s")


async def worker():
    try:
        print("worker: waiting")
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        print("worker: CancelledError at its await; cleaning up")
        raise  # let it go on: the task ends as cancelled
    finally:
        print("worker: finally")


async def cancel_example():
    task = asyncio.create_task(worker())
    await asyncio.sleep(0.1)  # let it start and wait
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        print(f"main: the task was cancelled: {task.cancelled()}")


EXAMPLES = {"queue": queue_example, "gather": gather_example,
            "timeout": timeout_example, "cancel": cancel_example}


def main():
    parser = argparse.ArgumentParser(description="coroutines working together, on evloop.aio")
    parser.add_argument("example", choices=EXAMPLES)
    parser.add_argument("--loop", choices=["evloop.aio", "asyncio"], default="evloop.aio")
    options = parser.parse_args()
    run = evloop.aio.run if options.loop == "evloop.aio" else asyncio.run
    run(EXAMPLES[options.example]())


if __name__ == "__main__":
    main()
