"""evloop.settings.limits: the bounds are used where the essay says, and agree with each
other; no test here restates a figure."""

import os

import pytest

from evloop import Config
from evloop import Server
from evloop.cli.options import default_port
from evloop.handlers.echo import EchoHandler
from evloop.server.metrics_endpoint import MAX_SCRAPES
from evloop.settings import limits
from evloop.supervisor import run as running


def test_configs_defaults_are_the_limits():
    config = Config()
    assert (config.high_water, config.low_water, config.max_output) == (
        limits.DEFAULT_HIGH_WATER, limits.DEFAULT_LOW_WATER, limits.DEFAULT_MAX_OUTPUT)
    assert (config.idle_timeout, config.drain_timeout, config.handshake_timeout) == (
        limits.DEFAULT_IDLE_TIMEOUT, limits.DEFAULT_DRAIN_TIMEOUT,
        limits.DEFAULT_HANDSHAKE_TIMEOUT)
    assert (config.max_connections, config.backlog, config.port) == (
        limits.DEFAULT_MAX_CONNECTIONS, limits.DEFAULT_BACKLOG, limits.DEFAULT_PORT)


def test_the_command_lines_default_port_is_the_limits(monkeypatch):
    monkeypatch.delenv("EVLOOP_PORT", raising=False)
    assert default_port() == limits.DEFAULT_PORT


def test_the_water_marks_and_bounds_are_in_order():
    # Config refuses them otherwise: building one with the defaults is the check.
    Config(high_water=limits.DEFAULT_HIGH_WATER, low_water=limits.DEFAULT_LOW_WATER,
           max_output=limits.DEFAULT_MAX_OUTPUT)
    assert 0 < limits.DEFAULT_LOW_WATER < limits.DEFAULT_HIGH_WATER < limits.DEFAULT_MAX_OUTPUT
    assert 0 < limits.RESUME_PENDING_WORK < limits.MAX_PENDING_WORK  # reading resumes below the pause
    assert 0 < limits.DEFAULT_IDLE_TIMEOUT < float("inf")  # every bound is finite by default


@pytest.mark.parametrize("field, bound, needs", [
    ("workers", limits.MAX_WORKERS, {}),
    ("offload_workers", limits.MAX_OFFLOAD_WORKERS, {"offload": "thread"}),
])
def test_the_process_bounds_are_where_config_draws_its_line(field, bound, needs):
    Config(**needs, **{field: bound})
    with pytest.raises(ValueError, match=f"{field} \\({bound + 1}\\) must be between 1 and {bound}"):
        Config(**needs, **{field: bound + 1})


class Stop(Exception):
    pass


def test_run_asks_for_max_connections_plus_the_headroom(monkeypatch):
    asked = []

    def raise_fd_limit(wanted=None):
        asked.append(wanted)
        raise Stop  # the rest of run() is not this test's business

    monkeypatch.setattr(running, "raise_fd_limit", raise_fd_limit)
    with pytest.raises(Stop):
        running.run("echo", Config(port=0, max_connections=500))
    assert asked == [500 + limits.FD_HEADROOM]


def open_fds():
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc")
def test_the_headroom_holds_what_a_server_opens_besides_its_clients():
    """Listeners, the selector, the waker's pair and MAX_SCRAPES metrics scrapes."""
    before = open_fds()
    server = Server(EchoHandler, Config(port=0, udp=True, metrics_port=0))
    try:
        server.start()
        own = open_fds() - before
    finally:
        server.close()
    assert own >= 5  # at least: the selector, the waker's two ends, TCP and UDP listeners
    assert own + MAX_SCRAPES <= limits.FD_HEADROOM
