"""Config: every setting in one frozen object, checked when it is built."""

import dataclasses
import logging
import socket
import time

import pytest

from evloop import Config
from evloop import Server
from evloop.handlers.echo import EchoHandler


def test_defaults_are_a_safe_loopback_server():
    """Loopback only, one process, nothing extra listening; the bounds' defaults are
    evloop.settings.limits' (tests/settings/test_limits.py)."""
    config = Config()
    assert config.host == "127.0.0.1" and config.metrics_port is None
    assert config.workers == 1 and config.offload == "none" and not config.udp
    assert not config.tls and not config.proxy_protocol


@pytest.mark.parametrize("values, message", [
    # Every bound is checked against the others, not only on its own.
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


def test_ints_are_fine_where_seconds_are_floats(caplog):
    """A server given whole seconds times out an idle client and drains as with floats."""
    server = Server(EchoHandler, Config(port=0, idle_timeout=1, drain_timeout=2))
    server.start()
    client = socket.create_connection(server.address[:2], timeout=5)
    client.setblocking(False)
    start = time.monotonic()
    try:
        ended = None
        while ended is None and time.monotonic() - start < 10:
            server.loop.run_once(timeout=0.05)
            try:
                ended = client.recv(10)
            except BlockingIOError:
                pass
        assert ended == b"" and time.monotonic() - start >= 0.9  # closed by the idle timeout
        client.close()
        with caplog.at_level(logging.INFO, logger="evloop"):
            server.shutdown()
            server.loop.run()  # returns once drained
        assert "(--drain-timeout 2s)" in caplog.text
    finally:
        client.close()
        server.close()


def test_where_names_the_listening_address():
    assert Config(port=80).where == "127.0.0.1:80"
    assert Config(host="::1", port=80).where == "[::1]:80"
    assert Config(unix="/run/evloop.sock").where == "unix:/run/evloop.sock"


def test_proxy_allow_is_this_machine_unless_told():
    networks = Config().proxy_networks
    assert Config().proxy_allow == ("127.0.0.0/8", "::1") and str(networks) == "127.0.0.0/8, ::1"
    for host in ("127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"):  # the last: dual stack
        assert host in networks, host
    for host in ("10.0.0.1", "192.0.2.7", "::2", "::ffff:10.0.0.1", "", "unix:/run/x.sock"):
        assert host not in networks, host


def test_proxy_allow_takes_networks_and_addresses_of_both_families():
    config = Config(proxy_protocol=True, proxy_allow=("10.0.0.0/8", "192.0.2.7", "fd00::/8"))
    networks = config.proxy_networks
    assert config.proxy_networks is networks  # parsed once, not per connection
    assert all(host in networks for host in ("10.1.2.3", "192.0.2.7", "fd12::1", "::ffff:10.0.0.9"))
    assert not any(host in networks for host in ("127.0.0.1", "192.0.2.8", "::1"))
    assert dataclasses.replace(config, port=0).proxy_networks.texts == config.proxy_allow


@pytest.mark.parametrize("values, message", [
    ({"proxy_allow": ("10.0.0.300/8",)},
     "proxy_allow ('10.0.0.300/8') must be networks such as 10.0.0.0/8 or ::1: "
     "'10.0.0.300/8' does not appear to be an IPv4 or IPv6 network"),
    ({"proxy_allow": ("10.0.0.1/8",)},
     "proxy_allow ('10.0.0.1/8') must be networks such as 10.0.0.0/8 or ::1: 10.0.0.1/8 is "
     "an address in 10.0.0.0/8, not a network: write 10.0.0.0/8 or 10.0.0.1"),
    ({"proxy_allow": ("::1", 5)}, "proxy_allow (5) must be networks such as 10.0.0.0/8 or ::1: "
                                  "not text but int"),
    ({"proxy_allow": ()}, "proxy_allow must name at least one network"),
    ({"proxy_allow": "10.0.0.0/8"}, "proxy_allow must be tuple, not str ('10.0.0.0/8')"),
    ({"proxy_allow": ("10.0.0.0/8",), "proxy_protocol": False},
     "proxy_allow (10.0.0.0/8) needs proxy_protocol"),
])
def test_a_bad_proxy_allow_is_one_line_naming_the_value(values, message):
    with pytest.raises(ValueError) as caught:
        Config(**{"proxy_protocol": True, **values})
    assert message in str(caught.value) and "\n" not in str(caught.value)
