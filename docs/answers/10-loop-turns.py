"""Chapter 10, exercise 3 (a measurement): loop turns per round trip, evloop.aio and asyncio.

The exercise: run one asyncio program, unchanged, on asyncio's own loop
and on evloop.aio, and count the loop's turns (one wait in the selector
each) while a client and an echo server, both in the program, trade 200
small messages.  Explain the count from what a turn does, and say what it
would be if the ready queue ran in the same turn as the readers.

How the turns are counted, each loop by its own hook: asyncio's
SelectorEventLoop takes the selector it should use, so a selector that
counts its select() calls counts its turns; evloop.aio's loop turns one
evloop Loop, and takes instruments for it (`loop.add_instrument`): an
instrument's `after_turn` is called once at the end of each turn
(evloop/loop/instruments.py).

What to expect, and why: asyncio's turn waits, then runs what was queued
before the wait, then the readers the wait found, then the timers due;
what they schedule (the Task's wake-up, when data_received resolves the
future `reader.read()` awaits) waits for the next turn.  So a round trip
takes four: the server's read, the server task's reply, the client's
read, the client task's next message.  evloop.aio turns its Loop in the
same order, so it counts the same.  A loop that ran its ready queue in
the same turn as its readers (evloop's own Loop, libuv's, so uvloop's)
would run each wake-up in the turn its bytes arrived: two turns a round
trip, and a different order that a program can see.

Done when: both loops finished every round trip, and each one's turns per
round trip are printed.  The counts are reported, not judged; a run here
(Python 3.11) printed:

    asyncio's loop: 800 turns for 200 round trips, 4.0 a round trip
    evloop.aio:     800 turns for 200 round trips, 4.0 a round trip

Run it: python3 docs/answers/10-loop-turns.py
"""

import asyncio
import selectors

import _kit
import evloop.aio
from evloop.loop.instruments import Instrument

ROUNDS = 200


async def echo(reader, writer):
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


async def ping_pong(turns):
    """ROUNDS round trips through an echo server of the same program; the turns they took."""
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
    before = turns()
    for number in range(ROUNDS):
        message = f"{number:04}".encode()
        writer.write(message)
        if await reader.readexactly(4) != message:
            _kit.fail(f"round trip {number} came back wrong")
    taken = turns() - before
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()
    return taken


class TurnCounter(Instrument):
    """Counts the turns of an evloop loop: the loop calls after_turn once a turn."""

    def __init__(self, turns):
        self.turns = turns

    def after_turn(self, seconds):
        self.turns[0] += 1


class CountingSelector(selectors.DefaultSelector):
    """asyncio's selector, counting its select() calls: one per turn of asyncio's loop."""

    calls = 0

    def select(self, timeout=None):
        self.calls += 1
        return super().select(timeout)


def on_asyncio():
    selector = CountingSelector()
    loop = asyncio.SelectorEventLoop(selector)
    try:
        return loop.run_until_complete(ping_pong(lambda: selector.calls))
    finally:
        loop.close()


def on_evloop_aio():
    loop = evloop.aio.new_event_loop()
    turns = [0]
    loop.add_instrument(TurnCounter(turns))
    try:
        return loop.run_until_complete(ping_pong(lambda: turns[0]))
    finally:
        loop.close()


def main():
    counts = {"asyncio's loop:": on_asyncio(), "evloop.aio:": on_evloop_aio()}
    for name, turns in counts.items():
        print(f"{name:15} {turns} turns for {ROUNDS} round trips, {turns / ROUNDS:.1f} a round trip")
    _kit.check(all(turns >= ROUNDS for turns in counts.values()),
               f"fewer turns than round trips cannot be: {counts}")
    _kit.ok("both loops ran every round trip; their turns are above")


if __name__ == "__main__":
    main()
