"""Exercise 06-loop-turns: count the turns (a measurement).

Chapter 6 (docs/06-callbacks-to-coroutines.md, "Exercises").
Difficulty: ★★☆ medium.  Time: about 40 minutes.

The task: count the turns of two event loops running the same asyncio
program, an echo server and a client in one program trading 200 small
messages.  Each loop is counted by its own hook:

* asyncio's `SelectorEventLoop(selector)` takes the selector it uses, and
  calls its `select()` once a turn: write `CountingSelector`, a
  `selectors.DefaultSelector` that counts those calls in `self.calls`;
* `evloop.aio`'s loop takes instruments (`loop.add_instrument(instrument)`),
  whose `after_turn(seconds)` it calls at the end of each turn: write
  `TurnCounter`, an `evloop.loop.instruments.Instrument` that counts them
  in `self.turns`.

Then explain the count from what one turn does, and set
`TURNS_IF_SAME_TURN` to the turns a round trip would take if the ready queue
ran in the same turn as the readers, as in evloop's own `Loop`.

Done when the grader, running the program on both loops with your counters,
finds the same count on both, about four turns a round trip, and your
TURNS_IF_SAME_TURN is right.  Report the counts.

Grade it:  python3 -m docs.grade 06-loop-turns docs/exercises/06-loop-turns/starter.py
"""

import selectors

from evloop.loop.instruments import Instrument

TURNS_IF_SAME_TURN = None  # Your answer here, once you have explained the count


class CountingSelector(selectors.DefaultSelector):
    """asyncio's selector, counting its select() calls: one per turn of asyncio's loop."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    # Your code here: count, then select as the selector would.


class TurnCounter(Instrument):
    """Counts the turns of an evloop loop."""

    def __init__(self):
        self.turns = 0

    # Your code here: which method does the loop call once a turn?
