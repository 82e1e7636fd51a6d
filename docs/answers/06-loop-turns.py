"""Answer to 06-loop-turns (a measurement): count the turns of two loops.

Each loop is counted by its own hook.  asyncio's SelectorEventLoop takes the
selector it should use, so a selector that counts its select() calls counts
its turns.  evloop.aio's loop turns one evloop Loop, and takes instruments
for it (`loop.add_instrument`): an instrument's `after_turn` is called once
at the end of each turn (evloop/loop/instruments.py).

Why four turns a round trip: asyncio's turn waits, then runs what was queued
before the wait, then the readers the wait found, then the timers due; what
they schedule (the Task's wake-up, when data_received resolves the future
`reader.read()` awaits) waits for the next turn.  So a round trip takes the
server's read, the server task's reply, the client's read, the client task's
next message.  evloop.aio turns its Loop in the same order.  A loop that ran
its ready queue in the same turn as its readers (evloop's own Loop, libuv's,
so uvloop's) would run each wake-up in the turn its bytes arrived: two turns
a round trip, and a different order that a program can see.  A run printed:

    asyncio's loop  800 turns for 200 round trips, 4.0 a round trip
    evloop.aio      800 turns for 200 round trips, 4.0 a round trip
"""

import selectors

from evloop.loop.instruments import Instrument

TURNS_IF_SAME_TURN = 2  # the readers' wake-ups run in their own turn: server's, client's


class CountingSelector(selectors.DefaultSelector):
    """asyncio's selector, counting its select() calls: one per turn of asyncio's loop."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def select(self, timeout=None):
        self.calls += 1
        return super().select(timeout)


class TurnCounter(Instrument):
    """Counts the turns of an evloop loop: the loop calls after_turn once a turn."""

    def __init__(self):
        self.turns = 0

    def after_turn(self, seconds):
        self.turns += 1
