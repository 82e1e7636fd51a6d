"""evloop.metrics.stats: what Server.stats() returns is one moment's figures, frozen
values that later counts do not change, and that compare by value."""

import dataclasses

import pytest

from evloop.metrics.counters import Counters
from evloop.metrics.counters import TurnHistogram
from evloop.metrics.counters import make_stats
from evloop.metrics.stats import Histogram
from evloop.metrics.stats import Outbound
from evloop.metrics.stats import Traffic


class Live:
    """An open connection as Counters.traffic reads it: no socket, its two counts."""

    sock = None

    def __init__(self, reads, replies):
        self.reads, self.replies = reads, replies


def snapshot(counters, datagram=None, turns=None, outbound=None, live=()):
    return make_stats(counters, datagram, live, transport="tcp", handler="Echo",
                      connections_open=len(live), timers_pending=0, turns=turns,
                      outbound=outbound)


def test_a_snapshot_does_not_change_when_the_counts_go_on():
    counters = Counters()
    counters.accepted = 2
    counters.closed["peer_eof"] = 1
    counters.refused["full"] = 1
    turns = TurnHistogram((0.001,))
    turns.after_turn(0.0005)
    stats = snapshot(counters, turns=turns)
    counters.accepted += 5
    counters.closed["peer_eof"] += 5
    counters.refused["full"] += 5
    turns.after_turn(2.0)
    assert stats.connections_accepted == 2
    assert stats.connections_closed["peer_eof"] == 1 and stats.connections_refused["full"] == 1
    assert stats.turn_seconds == Histogram(((0.001, 1), (float("inf"), 1)), 0.0005, 1)


def test_its_parts_are_frozen():
    stats = snapshot(Counters())
    for value, field in ((stats, "handler"), (stats.stream, "bytes_sent"),
                         (stats.outbound, "open")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, field, 1)


def test_snapshots_of_the_same_counts_are_equal():
    counters = Counters()
    counters.messages_received = 3
    assert snapshot(counters) == snapshot(counters)
    counters.messages_received += 1
    assert snapshot(counters) != snapshot(Counters())


def test_what_is_not_there_is_none_or_nothing():
    stats = snapshot(Counters())
    assert stats.datagram is None  # no UDP
    assert stats.turn_seconds is None  # no metrics served, no turns timed
    assert stats.outbound == Outbound(0, 0, dict.fromkeys(stats.outbound.failed, 0),
                                      dict.fromkeys(stats.outbound.closed, 0), Traffic())
    assert Traffic() == Traffic(0, 0, 0, 0)


def test_the_stream_adds_the_connections_still_open():
    counters = Counters()
    counters.messages_received, counters.messages_sent = 10, 9
    stats = snapshot(counters, live=[Live(2, 1), Live(3, 3)])
    assert (stats.stream.messages_received, stats.stream.messages_sent) == (15, 13)
    assert stats.connections_open == 2
