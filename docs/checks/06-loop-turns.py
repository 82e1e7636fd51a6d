"""06-loop-turns (a measurement): loop turns per round trip, on asyncio's loop and on evloop.aio.

The student's `CountingSelector` (a selector that counts its select() calls
in `calls`) and `TurnCounter` (an evloop instrument that counts its
`after_turn` calls in `turns`) count the turns while one asyncio program, an
echo server and a client in the same program, trades 200 small messages.
Judged on the shape, which is a count, not a time: both loops take about
four turns a round trip (the ready queue runs in the turn after the readers
that filled it), the same on both; and `TURNS_IF_SAME_TURN`, the student's
answer for a loop that ran its ready queue in the same turn as its readers,
is two.
"""

import asyncio

from docs.checks import _kit

TITLE = "Count the turns"
CHAPTER = "06-callbacks-to-coroutines.md"
LEVEL = 2
MINUTES = 40
MEASUREMENT = True

ROUNDS = 200


async def echo(reader, writer):  # type: ignore[no-untyped-def]
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


async def ping_pong(turns) -> int:  # type: ignore[no-untyped-def]
    """ROUNDS round trips through an echo server of the same program; the turns they took."""
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
    before = turns()
    for number in range(ROUNDS):
        message = f"{number:04}".encode()
        writer.write(message)
        _kit.check(await reader.readexactly(4) == message, f"round trip {number} came back wrong")
    taken = turns() - before
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()
    return int(taken)


def grade(student: _kit.Student) -> str:
    import evloop.aio
    counting_selector = student.need("CountingSelector")
    turn_counter = student.need("TurnCounter")
    selector = counting_selector()
    loop = asyncio.SelectorEventLoop(selector)
    try:
        on_asyncio = loop.run_until_complete(ping_pong(lambda: selector.calls))
    finally:
        loop.close()
    aio_loop = evloop.aio.new_event_loop()
    counter = turn_counter()
    aio_loop.add_instrument(counter)
    try:
        on_aio = aio_loop.run_until_complete(ping_pong(lambda: counter.turns))
    finally:
        aio_loop.close()
    counts = {"asyncio's loop": on_asyncio / ROUNDS, "evloop.aio": on_aio / ROUNDS}
    for name, per_trip in counts.items():
        print(f"{name:<15} {per_trip * ROUNDS:.0f} turns for {ROUNDS} round trips, "
              f"{per_trip:.1f} a round trip")
        _kit.expect(3.0 <= per_trip <= 5.0, f"{name}: {per_trip:.1f} turns a round trip counted; "
                                            f"each loop takes about 4: is every turn counted once?")
    _kit.expect(abs(counts["asyncio's loop"] - counts["evloop.aio"]) <= 0.5,
                f"the two loops differ: {counts}; they turn in the same order")
    same_turn = student.need("TURNS_IF_SAME_TURN")
    _kit.expect(same_turn == 2, f"TURNS_IF_SAME_TURN is {same_turn!r}: with the ready queue run "
                                f"in the turn its readers filled it, how many turns are left?")
    return f"{on_asyncio / ROUNDS:.1f} turns a round trip on asyncio's loop, " \
           f"{on_aio / ROUNDS:.1f} on evloop.aio"
