"""The connection's state machine: its states, events, transitions, and what each state does.

The rule, as h11's: everything that decides how a connection moves lives
here, as data.  A connection is always in one of eleven states, and it
changes state only in `Connection._transition(event)`, which asks
`next_state` for the pair (state, event) and then performs the new
state's entry actions, in order, from `ON_ENTRY`.  An event is a member of
`Event`, so a misspelled one fails mypy, and a pair missing from
TRANSITIONS raises where it happens instead of corrupting a buffer later.
`python3 -m evloop.states` draws the table (evloop.diagrams); docs/04 shows
it, and a test holds the two together.

    CONNECTING    (outbound) the name lookup and the connect() in flight
    PROXY_HEADER  (--proxy-protocol) reading the proxy's header
    HANDSHAKING   (TLS) the TLS handshake
    OPEN          reading and writing: the handler runs
    INPUT_ONLY    the handler sent its EOF: the replies due drain, then FIN
    FIN_SENT      our FIN is sent: reading on until the peer's EOF
    OUTPUT_ONLY   the peer sent EOF and the handler kept the connection: writing only
    INPUT_CLOSED  the peer sent EOF: the last replies drain, then it closes
    CLOSING       we decided to close: not reading, the replies due drain
    LINGERING     our FIN is sent: the peer's input is dropped until its EOF
    CLOSED        the socket is closed and the handler told

A connection starts in OPEN, PROXY_HEADER, HANDSHAKING or CONNECTING, as it
was made (`ENTRIES`).  `close` in a state already closing changes nothing;
`close` before open drops the connection.  Two facts are not states,
because they come and go in several states: whether reading is paused (by
backpressure, or the handler's `pause_reading()`) and whether the output is
above high water.  They are fields of the connection, read with the state
where the connection chooses what the loop watches.
"""

from __future__ import annotations

import enum


class State(enum.Enum):
    CONNECTING = "connecting"
    PROXY_HEADER = "proxy_header"
    HANDSHAKING = "handshaking"
    OPEN = "open"
    INPUT_ONLY = "input_only"
    FIN_SENT = "fin_sent"
    OUTPUT_ONLY = "output_only"
    INPUT_CLOSED = "input_closed"
    CLOSING = "closing"
    LINGERING = "lingering"
    CLOSED = "closed"

    def __repr__(self) -> str:
        return self.name

    # A state is a key of the tables below, looked up a few times per
    # connection; the members are singletons, so identity's hash serves
    # (Enum's own __hash__ hashes the name, in Python code).
    __hash__ = object.__hash__


class Event(enum.Enum):
    """What can happen to a connection; each names edges of TRANSITIONS."""

    CONNECTED = "connected"            # outbound: connect() succeeded
    HEADER = "header"                  # the PROXY header is whole
    START_TLS = "start_tls"            # the TLS handshake begins
    HANDSHAKE_DONE = "handshake_done"
    PEER_EOF = "peer_eof"              # the peer's EOF; the handler lets it close
    PEER_EOF_KEPT = "peer_eof_kept"    # ...and the handler keeps it (eof_received -> True)
    WRITE_EOF = "write_eof"            # the handler's own EOF
    CLOSE = "close"
    FLUSHED = "flushed"                # the output (and offloaded work) drained
    TIMEOUT = "timeout"                # LINGERING waited long enough for the peer's EOF
    ABORT = "abort"

    def __repr__(self) -> str:
        return self.name

    __hash__ = object.__hash__


class Action(enum.Enum):
    """What a connection does on entering a state (`ON_ENTRY`)."""

    WATCH = "watch"          # have the loop watch what the state reads and writes
    START = "start"          # the handler starts (connection_made), then what it asked before
    SEND_FIN = "send_fin"    # our FIN (after close_notify, over TLS)
    LINGER = "linger"        # hand the socket to a Lingerer (evloop.connection.lingering)
    RELEASE = "release"      # close the socket, tell the owner and the handler

    __hash__ = object.__hash__  # a key of ENTRY_ACTIONS, looked up on every entry


class Reader(enum.Enum):
    """Which reader the loop holds for a state (`READERS`)."""

    REPLYING = "replying"          # data_received's answer is sent
    NOT_REPLYING = "not_replying"  # after our EOF: no answer may go

    __hash__ = object.__hash__


CONNECTING = State.CONNECTING
PROXY_HEADER = State.PROXY_HEADER
HANDSHAKING = State.HANDSHAKING
OPEN = State.OPEN
INPUT_ONLY = State.INPUT_ONLY
FIN_SENT = State.FIN_SENT
OUTPUT_ONLY = State.OUTPUT_ONLY
INPUT_CLOSED = State.INPUT_CLOSED
CLOSING = State.CLOSING
LINGERING = State.LINGERING
CLOSED = State.CLOSED

TRANSITIONS: dict[tuple[State, Event], State] = {
    (CONNECTING, Event.CONNECTED): OPEN,
    (CONNECTING, Event.START_TLS): HANDSHAKING,
    (CONNECTING, Event.CLOSE): CLOSED,
    (PROXY_HEADER, Event.HEADER): OPEN,
    (PROXY_HEADER, Event.START_TLS): HANDSHAKING,
    (PROXY_HEADER, Event.CLOSE): CLOSED,
    (HANDSHAKING, Event.HANDSHAKE_DONE): OPEN,
    (HANDSHAKING, Event.CLOSE): CLOSED,
    (OPEN, Event.PEER_EOF): INPUT_CLOSED,
    (OPEN, Event.PEER_EOF_KEPT): OUTPUT_ONLY,
    (OPEN, Event.WRITE_EOF): INPUT_ONLY,
    (OPEN, Event.CLOSE): CLOSING,
    (INPUT_ONLY, Event.FLUSHED): FIN_SENT,
    (INPUT_ONLY, Event.PEER_EOF): INPUT_CLOSED,
    (INPUT_ONLY, Event.PEER_EOF_KEPT): INPUT_CLOSED,
    (INPUT_ONLY, Event.CLOSE): CLOSING,
    (FIN_SENT, Event.PEER_EOF): CLOSED,
    (FIN_SENT, Event.PEER_EOF_KEPT): CLOSED,
    (FIN_SENT, Event.CLOSE): LINGERING,  # nothing can be queued after our EOF
    (OUTPUT_ONLY, Event.WRITE_EOF): INPUT_CLOSED,
    (OUTPUT_ONLY, Event.CLOSE): INPUT_CLOSED,
    (INPUT_CLOSED, Event.CLOSE): INPUT_CLOSED,
    (INPUT_CLOSED, Event.FLUSHED): CLOSED,
    (CLOSING, Event.CLOSE): CLOSING,
    (CLOSING, Event.FLUSHED): LINGERING,
    (LINGERING, Event.CLOSE): LINGERING,
    (LINGERING, Event.PEER_EOF): CLOSED,
    (LINGERING, Event.TIMEOUT): CLOSED,
}
TRANSITIONS.update({(state, Event.ABORT): CLOSED for state in State if state is not CLOSED})

#: What a state does when it is entered, in order.  The states before open do
#: nothing: the handshakes own the socket then.  An action that ends the
#: connection (a failed FIN: the socket is gone) ends the list too.  SEND_FIN
#: sends nothing when the state left is FIN_SENT: our FIN is sent once.
ON_ENTRY: dict[State, tuple[Action, ...]] = {
    CONNECTING: (),
    PROXY_HEADER: (),
    HANDSHAKING: (),
    OPEN: (Action.WATCH, Action.START),
    INPUT_ONLY: (Action.WATCH,),
    FIN_SENT: (Action.SEND_FIN, Action.WATCH),
    OUTPUT_ONLY: (Action.WATCH,),
    INPUT_CLOSED: (Action.WATCH,),
    CLOSING: (Action.WATCH,),
    LINGERING: (Action.SEND_FIN, Action.WATCH, Action.LINGER),
    CLOSED: (Action.RELEASE,),
}
#: The reader the loop holds in each state, once open (before open the
#: handshakes read; after our FIN, in LINGERING, the lingerer).
READERS: dict[State, Reader] = {
    OPEN: Reader.REPLYING,
    INPUT_ONLY: Reader.NOT_REPLYING,
    FIN_SENT: Reader.NOT_REPLYING,
}

#: Before open: the handler has not started, and nothing may be sent yet.
BEFORE_OPEN = frozenset({CONNECTING, PROXY_HEADER, HANDSHAKING})
#: Open: the handler's to end (close, write_eof).
LIVE_STATES = frozenset({OPEN, INPUT_ONLY, FIN_SENT, OUTPUT_ONLY})
#: The handler sent its EOF: nothing more may be written.
EOF_SENT_STATES = frozenset({INPUT_ONLY, FIN_SENT})
#: Output to be flushed before the next step (FLUSHED).
FLUSHING_STATES = frozenset({INPUT_ONLY, INPUT_CLOSED, CLOSING})
#: Output is accepted (queued only, before open).
WRITABLE_STATES = frozenset({CONNECTING, HANDSHAKING, OPEN, OUTPUT_ONLY, INPUT_CLOSED, CLOSING})
#: A late reply (offloaded work) may still go.
REPLYING_STATES = WRITABLE_STATES - BEFORE_OPEN
#: Output queued in `out` is sent (before open it waits).
SENDING_STATES = frozenset({OPEN, INPUT_ONLY, OUTPUT_ONLY, INPUT_CLOSED, CLOSING})
#: The peer's EOF was read on the way here (the metrics' byte count takes it off).
EOF_READ_STATES = frozenset({INPUT_CLOSED, OUTPUT_ONLY})

#: Where a connection starts, and why: the connection picks its first state
#: itself, from how it was made.
ENTRIES: tuple[tuple[State, str], ...] = (
    (OPEN, "accepted"),
    (PROXY_HEADER, "accepted, --proxy-protocol"),
    (HANDSHAKING, "accepted, TLS"),
    (CONNECTING, "context.connect()"),
)
#: Where a connection ends.
FINAL = CLOSED


class IllegalTransition(RuntimeError):
    """An event that the state it happened in has no edge for: a bug, raised where it is."""


def next_state(state: State, event: Event) -> State:
    """The state that `event` leads to from `state`; IllegalTransition if none."""
    try:
        return TRANSITIONS[state, event]
    except KeyError:
        raise IllegalTransition(f"no transition from {state!r} on {event!r}") from None


def mermaid() -> str:
    """The transitions as a Mermaid state diagram (docs/04-anatomy.md shows it)."""
    lines = ["stateDiagram-v2"]
    lines += [f"    [*] --> {state.name} : {why}" for state, why in ENTRIES]
    for (state, event), new in TRANSITIONS.items():
        if state is not new:
            lines.append(f"    {state.name} --> {new.name} : {event.value}")
    lines.append(f"    {FINAL.name} --> [*]")
    return "\n".join(lines)
