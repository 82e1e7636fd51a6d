"""evloop.metrics.merge: the workers' pages as one, each sample under its worker's
label, each family once and whole; a worker that did not answer is up 0."""

from evloop.metrics.merge import labelled
from evloop.metrics.merge import merge
from evloop.metrics.prometheus import render
from tests.metrics.test_prometheus import example_stats
from tests.metrics.test_prometheus import families
from tests.metrics.test_prometheus import sample

PAGE = """# HELP evloop_connections_accepted_total Connections accepted.
# TYPE evloop_connections_accepted_total counter
evloop_connections_accepted_total {accepted}
# HELP evloop_loop_turn_seconds How long each turn ran.
# TYPE evloop_loop_turn_seconds histogram
evloop_loop_turn_seconds_bucket{{le="0.001"}} 3
evloop_loop_turn_seconds_bucket{{le="+Inf"}} 4
evloop_loop_turn_seconds_sum 0.25
evloop_loop_turn_seconds_count 4
"""


def test_a_sample_gets_its_worker_as_its_first_label():
    assert labelled("x_total 3", "1") == 'x_total{worker="1"} 3'
    assert labelled('x_total{reason="eof"} 3', "0") == 'x_total{worker="0",reason="eof"} 3'
    assert labelled("x{} 3", "2") == 'x{worker="2"} 3'


def test_each_family_comes_once_and_whole_with_every_worker_s_samples():
    page = merge({0: PAGE.format(accepted=5), 1: PAGE.format(accepted=7)})
    lines = page.splitlines()
    assert lines.count("# TYPE evloop_connections_accepted_total counter") == 1
    start = lines.index("# TYPE evloop_loop_turn_seconds histogram")
    assert lines[start + 1:start + 9] == [  # the histogram's lines together, worker by worker
        'evloop_loop_turn_seconds_bucket{worker="0",le="0.001"} 3',
        'evloop_loop_turn_seconds_bucket{worker="0",le="+Inf"} 4',
        'evloop_loop_turn_seconds_sum{worker="0"} 0.25',
        'evloop_loop_turn_seconds_count{worker="0"} 4',
        'evloop_loop_turn_seconds_bucket{worker="1",le="0.001"} 3',
        'evloop_loop_turn_seconds_bucket{worker="1",le="+Inf"} 4',
        'evloop_loop_turn_seconds_sum{worker="1"} 0.25',
        'evloop_loop_turn_seconds_count{worker="1"} 4']
    found = families(page)
    assert sample(found, "evloop_connections_accepted_total", worker="0") == 5
    assert sample(found, "evloop_connections_accepted_total", worker="1") == 7
    assert sample(found, "evloop_worker_up", worker="1") == 1


def test_a_worker_that_did_not_answer_is_up_0_and_the_others_are_kept():
    found = families(merge({0: None, 1: PAGE.format(accepted=2)}))
    assert sample(found, "evloop_worker_up", worker="0") == 0
    assert sample(found, "evloop_worker_up", worker="1") == 1
    assert sample(found, "evloop_connections_accepted_total", worker="1") == 2
    assert merge({}).endswith("# TYPE evloop_worker_up gauge\n")


def test_a_real_server_page_merges_and_parses():
    page = render(example_stats())
    merged = merge({0: page, 3: page})
    found = families(merged)
    for name in families(page):
        assert name in found
    assert merged.count("# HELP ") == len(families(page)) + 1
