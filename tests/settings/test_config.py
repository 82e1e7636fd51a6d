"""Config: every setting in one frozen object, checked when it is built."""

import dataclasses

import pytest

from evloop import Config
from evloop.settings.limits import DEFAULT_HIGH_WATER
from evloop.settings.limits import DEFAULT_PORT


def test_defaults_are_a_safe_loopback_server():
    config = Config()
    assert (config.host, config.port) == ("127.0.0.1", DEFAULT_PORT)
    assert config.high_water == DEFAULT_HIGH_WATER and config.low_water < config.high_water
    assert config.max_output > config.high_water and 0 < config.idle_timeout < float("inf")
    assert config.workers == 1 and config.offload == "none" and not config.udp


@pytest.mark.parametrize("values, message", [
    # Limits(high_water=10, low_water=100, max_output=1) was accepted before.
    ({"high_water": 10, "low_water": 100, "max_output": 1},
     "high_water (10) must be greater than low_water (100)"),
    ({"max_output": 1}, "max_output (1) must be greater than high_water (262144)"),
    ({"low_water": -1}, "low_water (-1) must be 0 or more"),
    ({"port": 65536}, "port (65536) must be between 0 and 65535"),
    ({"port": -1}, "port (-1) must be between 0 and 65535"),
    ({"port": "80"}, "port must be int, not str ('80')"),
    ({"port": True}, "port must be int, not bool (True)"),
    ({"backlog": 0}, "backlog (0) must be between 1 and 65535"),
    ({"max_message": 0}, "max_message (0) must be at least 1"),
    ({"idle_timeout": -1}, "idle_timeout (-1) must be 0 or more (0 means never)"),
    ({"idle_timeout": float("nan")}, "idle_timeout (nan) must be 0 or more"),
    ({"drain_timeout": -0.5}, "drain_timeout (-0.5) must be 0 or more"),
    ({"handshake_timeout": 0}, "handshake_timeout (0) must be more than 0"),
    ({"unix": ""}, "unix must be the path of a socket file, not empty"),
    ({"unix": "/tmp/s", "udp": True}, "udp is for IP sockets; unix serves stream sockets only"),
    ({"unix_mode": 0o660}, "unix_mode (660) needs unix, a socket path"),
    ({"unix": "/tmp/s", "unix_mode": 0o1777}, "unix_mode (1777) must be permission bits"),
    ({"proxy_protocol": 1}, "proxy_protocol must be bool, not int (1)"),
    ({"max_connections": 0}, "max_connections (0) must be at least 1"),
    ({"workers": 0}, "workers (0) must be between 1 and 256"),
    ({"offload": "gpu"}, "offload ('gpu') must be one of: none, thread, process"),
    ({"offload_workers": 4}, "offload_workers (4) needs offload 'thread' or 'process'"),
    ({"offload": "thread", "offload_workers": 0}, "offload_workers (0) must be between 1 and 1024"),
    ({"selector": "iocp"}, "selector ('iocp') must be one of: auto"),
    ({"host": ""}, "host must not be empty"),
    ({"udp": "yes"}, "udp must be bool, not str"),
    ({"handler_options": [("work_ms", 1)]}, "handler_options must be Mapping, not list"),
])
def test_a_bad_value_names_the_field_and_the_rule(values, message):
    with pytest.raises(ValueError) as caught:
        Config(**values)
    assert message in str(caught.value)


def test_it_is_frozen_and_replace_checks_again():
    config = Config(port=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.port = 1
    assert dataclasses.replace(config, port=8080).port == 8080
    with pytest.raises(ValueError, match="workers"):
        dataclasses.replace(config, workers=1000)


def test_handler_options_are_a_read_only_copy():
    options = {"work_ms": 5}
    config = Config(handler_options=options)
    options["work_ms"] = 50
    assert config.handler_options["work_ms"] == 5
    with pytest.raises(TypeError):
        config.handler_options["work"] = "sleep"


def test_ints_are_fine_where_seconds_are_floats():
    assert Config(idle_timeout=0, drain_timeout=2).idle_timeout == 0

