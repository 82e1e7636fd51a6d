"""The connection's state machine: its states, and every transition between them.

A connection is always in exactly one of eight states, and it changes state
only through `Connection._transition(event)`, which looks the pair (state,
event) up in TRANSITIONS below.  A pair missing from the table is a bug and
raises, so an impossible sequence (EOF after CLOSED, say) is caught where it
happens instead of corrupting a buffer later.  docs/02-anatomy.md draws this
table as a diagram, and a test checks the two agree.

States and transitions
----------------------
::

    PROXY_HEADER  (--proxy-protocol) reading the proxy's header; the handler waits
    HANDSHAKING   (TLS) the TLS handshake; the handler waits
    OPEN          reading and writing
    PAUSED        output above high water: not reading
    INPUT_CLOSED  the peer sent EOF: flushing the last replies
    CLOSING       we decided to close: not reading, flushing the replies due
    LINGERING     FIN sent: discarding input until the peer's EOF
    CLOSED        socket closed, handler told

    PROXY_HEADER --header-------> OPEN
    PROXY_HEADER --start_tls----> HANDSHAKING
    PROXY_HEADER --close--------> CLOSED
    HANDSHAKING  --handshake_done-> OPEN
    HANDSHAKING  --close--------> CLOSED
    OPEN         --output_high--> PAUSED
    PAUSED       --output_low---> OPEN
    OPEN         --peer_eof-----> INPUT_CLOSED
    OPEN, PAUSED --close--------> CLOSING
    INPUT_CLOSED --flushed------> CLOSED
    CLOSING      --flushed------> LINGERING
    LINGERING    --peer_eof-----> CLOSED
    LINGERING    --timeout------> CLOSED
    any but CLOSED --abort------> CLOSED

`close` in INPUT_CLOSED, CLOSING or LINGERING changes nothing: the
connection is closing already.  A connection starts in OPEN, or in
PROXY_HEADER behind a proxy, or in HANDSHAKING over TLS (which follows the
PROXY header when there is one): nothing is due to anyone yet in those two,
so closing is closing.  The handler hears `connection_made` on reaching OPEN,
`pause_writing()` on output_high and `resume_writing()` on output_low.
`_transition` is the one place the state changes; a pair missing from
TRANSITIONS is a bug and raises.
"""

from __future__ import annotations

import enum


class State(enum.Enum):
    PROXY_HEADER = "proxy_header"
    HANDSHAKING = "handshaking"
    OPEN = "open"
    PAUSED = "paused"
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


PROXY_HEADER = State.PROXY_HEADER
HANDSHAKING = State.HANDSHAKING
OPEN = State.OPEN
PAUSED = State.PAUSED
INPUT_CLOSED = State.INPUT_CLOSED
CLOSING = State.CLOSING
LINGERING = State.LINGERING
CLOSED = State.CLOSED

TRANSITIONS: dict[tuple[State, str], State] = {
    (PROXY_HEADER, "header"): OPEN,
    (PROXY_HEADER, "start_tls"): HANDSHAKING,
    (PROXY_HEADER, "close"): CLOSED,
    (HANDSHAKING, "handshake_done"): OPEN,
    (HANDSHAKING, "close"): CLOSED,
    (OPEN, "output_high"): PAUSED,
    (PAUSED, "output_low"): OPEN,
    (OPEN, "peer_eof"): INPUT_CLOSED,
    (OPEN, "close"): CLOSING,
    (PAUSED, "close"): CLOSING,
    (INPUT_CLOSED, "close"): INPUT_CLOSED,
    (INPUT_CLOSED, "flushed"): CLOSED,
    (CLOSING, "close"): CLOSING,
    (CLOSING, "flushed"): LINGERING,
    (LINGERING, "close"): LINGERING,
    (LINGERING, "peer_eof"): CLOSED,
    (LINGERING, "timeout"): CLOSED,
}
TRANSITIONS.update({(state, "abort"): CLOSED for state in State if state is not CLOSED})

FLUSHING_STATES = frozenset({INPUT_CLOSED, CLOSING})


def mermaid() -> str:
    """The transitions as a Mermaid state diagram (docs/02-anatomy.md shows it)."""
    lines = ["stateDiagram-v2", "    [*] --> OPEN : accepted",
             "    [*] --> PROXY_HEADER : accepted, --proxy-protocol",
             "    [*] --> HANDSHAKING : accepted, TLS"]
    for (state, event), new in TRANSITIONS.items():
        if state is not new:
            lines.append(f"    {state.name} --> {new.name} : {event}")
    lines.append("    CLOSED --> [*]")
    return "\n".join(lines)


if __name__ == "__main__":
    print(mermaid())
