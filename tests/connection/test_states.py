"""evloop.connection.states: the table as data, with no connection: every pair it
lacks is refused, every state is reachable and can end, and each state's entry
actions and reader agree with what the state is for."""

import pytest

from evloop.connection import states
from evloop.connection.states import Action
from evloop.connection.states import BEFORE_OPEN
from evloop.connection.states import CLOSED
from evloop.connection.states import ENTRIES
from evloop.connection.states import EOF_SENT_STATES
from evloop.connection.states import Event
from evloop.connection.states import IllegalTransition
from evloop.connection.states import LIVE_STATES
from evloop.connection.states import ON_ENTRY
from evloop.connection.states import OPEN
from evloop.connection.states import READERS
from evloop.connection.states import SENDING_STATES
from evloop.connection.states import State
from evloop.connection.states import TRANSITIONS
from evloop.connection.states import WRITABLE_STATES
from evloop.connection.states import next_state


def test_every_pair_missing_from_the_table_is_refused():
    refused = 0
    for state in State:
        for event in Event:
            if (state, event) in TRANSITIONS:
                assert next_state(state, event) is TRANSITIONS[state, event]
            else:
                with pytest.raises(IllegalTransition, match=f"from {state!r} on {event!r}"):
                    next_state(state, event)
                refused += 1
    assert refused > 0
    with pytest.raises(IllegalTransition):
        next_state(CLOSED, Event.ABORT)  # closed is final: not even abort leaves it


def test_every_state_is_reached_from_an_entry_and_reaches_closed():
    reached = {state for state, _ in ENTRIES}
    while True:
        more = {new for (state, _), new in TRANSITIONS.items() if state in reached} - reached
        if not more:
            break
        reached |= more
    assert reached == set(State)
    for state in State:
        seen, frontier = {state}, {state}
        while frontier:
            frontier = {new for (old, _), new in TRANSITIONS.items() if old in frontier} - seen
            seen |= frontier
        assert CLOSED in seen, state


def test_entry_actions_agree_with_the_states():
    assert set(ON_ENTRY) == set(State)
    for state in BEFORE_OPEN:
        assert ON_ENTRY[state] == ()  # the handshakes own the socket before open
    assert ON_ENTRY[OPEN][-1] is Action.START and ON_ENTRY[CLOSED] == (Action.RELEASE,)
    for state, actions in ON_ENTRY.items():
        assert (Action.LINGER in actions) == (state is State.LINGERING)
        if state not in BEFORE_OPEN and state is not CLOSED:
            assert Action.WATCH in actions, state


def test_the_sets_say_what_each_state_allows():
    # A state that reads, sends or takes writes is one a connection can be open in.
    assert set(READERS) <= LIVE_STATES
    assert not WRITABLE_STATES & EOF_SENT_STATES  # after our EOF nothing more is written
    assert SENDING_STATES.isdisjoint(BEFORE_OPEN)  # before open, output only waits
    assert EOF_SENT_STATES <= LIVE_STATES  # write_eof leaves reading to the handler


def test_the_mermaid_diagram_draws_every_edge_but_the_self_loops():
    lines = states.mermaid().splitlines()
    edges = {line.strip() for line in lines if "-->" in line and "[*]" not in line}
    expected = {f"{old.name} --> {new.name} : {event.value}"
                for (old, event), new in TRANSITIONS.items() if old is not new}
    assert edges == expected
