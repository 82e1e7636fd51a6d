"""The connection's state machine: its states, its events, and every transition.

A connection is always in exactly one of ten states, and it changes state
only through `Connection._transition(event)`, which looks the pair (state,
event) up in TRANSITIONS below.  Events are the members of `Event`, so a
misspelled one fails mypy, and a pair missing from the table is a bug that
raises where it happens instead of corrupting a buffer later.
`python3 -m evloop.states` prints this table as a Mermaid diagram (the one
docs/05-anatomy.md shows, and a test checks the two agree); with `--svg`
it draws it as a picture, with `--dot` as Graphviz source
(evloop.diagrams.state_diagram).

States and transitions
----------------------
::

    CONNECTING    (outbound) the name lookup and the connect() in flight
    PROXY_HEADER  (--proxy-protocol) reading the proxy's header; the handler waits
    HANDSHAKING   (TLS) the TLS handshake; the handler waits
    OPEN          reading and writing
    INPUT_ONLY    the handler sent its EOF (write_eof): reading until the peer's
    OUTPUT_ONLY   the peer sent EOF and the handler kept the connection: writing only
    INPUT_CLOSED  the peer sent EOF: flushing the last replies, then closed
    CLOSING       we decided to close: not reading, flushing the replies due
    LINGERING     FIN sent: discarding input until the peer's EOF
    CLOSED        socket closed, handler told

    CONNECTING   --connected------> OPEN
    CONNECTING   --start_tls------> HANDSHAKING
    CONNECTING   --close----------> CLOSED
    PROXY_HEADER --header---------> OPEN
    PROXY_HEADER --start_tls------> HANDSHAKING
    PROXY_HEADER --close----------> CLOSED
    HANDSHAKING  --handshake_done-> OPEN
    HANDSHAKING  --close----------> CLOSED
    OPEN         --peer_eof-------> INPUT_CLOSED
    OPEN         --peer_eof_kept--> OUTPUT_ONLY
    OPEN         --write_eof------> INPUT_ONLY
    OPEN         --close----------> CLOSING
    INPUT_ONLY   --flushed--------> INPUT_ONLY
    INPUT_ONLY   --peer_eof-------> INPUT_CLOSED
    INPUT_ONLY   --peer_eof_kept--> INPUT_CLOSED
    INPUT_ONLY   --close----------> CLOSING
    OUTPUT_ONLY  --write_eof------> INPUT_CLOSED
    OUTPUT_ONLY  --close----------> INPUT_CLOSED
    INPUT_CLOSED --flushed--------> CLOSED
    CLOSING      --flushed--------> LINGERING
    LINGERING    --peer_eof-------> CLOSED
    LINGERING    --timeout--------> CLOSED
    any but CLOSED --abort--------> CLOSED

What a state does on entry is the connection's (evloop.connection): OPEN
starts the handler (`connection_made`); INPUT_ONLY sends FIN once the
output has drained, which is what its `flushed` means; INPUT_CLOSED and
CLOSING wait for the output to drain; LINGERING sends FIN; CLOSED closes
the socket and tells the handler `connection_lost`.

A connection starts in OPEN, or in PROXY_HEADER behind a proxy, or in
HANDSHAKING over TLS (after the PROXY header when there is one), or, when it
was opened from here (`context.connect`), in CONNECTING.  `close` in a
state that is closing already changes nothing.  `close` before the
connection opened drops it, with nothing due to anyone, except that an
outbound connection's own handler may ask for it early: the connection
then remembers to close once it is open and its queued bytes are sent.

Two facts are not states, because they come and go in several states:
whether reading is paused (by backpressure, or by the handler's
`pause_reading()`), and whether the output is above high water.  They are
named fields of the connection, and its one `_update_interest` reads them
with the state.
"""

from __future__ import annotations

import enum


class State(enum.Enum):
    CONNECTING = "connecting"
    PROXY_HEADER = "proxy_header"
    HANDSHAKING = "handshaking"
    OPEN = "open"
    INPUT_ONLY = "input_only"
    OUTPUT_ONLY = "output_only"
    INPUT_CLOSED = "input_closed"
    CLOSING = "closing"
    LINGERING = "lingering"
    CLOSED = "closed"

    def __repr__(self) -> str:
        return self.name

    # A state is a key of TRANSITIONS and READERS, looked up a few times per
    # connection.  Enum's own __hash__ is Python code (hash of the name); the
    # members are singletons compared by identity, so identity's hash serves.
    __hash__ = object.__hash__


class Event(enum.Enum):
    """What can happen to a connection; each names an edge of TRANSITIONS."""

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


CONNECTING = State.CONNECTING
PROXY_HEADER = State.PROXY_HEADER
HANDSHAKING = State.HANDSHAKING
OPEN = State.OPEN
INPUT_ONLY = State.INPUT_ONLY
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
    (INPUT_ONLY, Event.FLUSHED): INPUT_ONLY,
    (INPUT_ONLY, Event.PEER_EOF): INPUT_CLOSED,
    (INPUT_ONLY, Event.PEER_EOF_KEPT): INPUT_CLOSED,
    (INPUT_ONLY, Event.CLOSE): CLOSING,
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

#: The states whose output is still to be flushed before the next step.
FLUSHING_STATES = frozenset({INPUT_ONLY, INPUT_CLOSED, CLOSING})
#: The states in which the handler has not started and no byte may be sent yet.
BEFORE_OPEN = frozenset({CONNECTING, PROXY_HEADER, HANDSHAKING})
#: Open: the handler's to end (close, write_eof).
LIVE_STATES = frozenset({OPEN, INPUT_ONLY, OUTPUT_ONLY})
#: The states in which output is sent (or queued, before open).
WRITABLE_STATES = frozenset({CONNECTING, HANDSHAKING, OPEN, OUTPUT_ONLY, INPUT_CLOSED, CLOSING})


#: Where a connection starts, and why (for the diagrams: the connection picks
#: its first state itself, from how it was made).
ENTRIES: tuple[tuple[State, str], ...] = (
    (OPEN, "accepted"),
    (PROXY_HEADER, "accepted, --proxy-protocol"),
    (HANDSHAKING, "accepted, TLS"),
    (CONNECTING, "context.connect()"),
)
#: Where a connection ends.
FINAL = CLOSED


def mermaid() -> str:
    """The transitions as a Mermaid state diagram (docs/05-anatomy.md shows it)."""
    lines = ["stateDiagram-v2"]
    lines += [f"    [*] --> {state.name} : {why}" for state, why in ENTRIES]
    for (state, event), new in TRANSITIONS.items():
        if state is not new:
            lines.append(f"    {state.name} --> {new.name} : {event.value}")
    lines.append(f"    {FINAL.name} --> [*]")
    return "\n".join(lines)
