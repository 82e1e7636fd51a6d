"""evloop.handlers.addresses: what connect() may be given, refused before any socket
is made, and the one way an address is written in a log line."""

import pytest

from evloop.handlers.addresses import check_address
from evloop.handlers.addresses import format_address


@pytest.mark.parametrize("address", [("127.0.0.1", 80), ("localhost", 1), ("::1", 65535),
                                     "/run/backend.sock"])
def test_what_connect_takes_passes_as_it_is(address):
    assert check_address(address) == address


@pytest.mark.parametrize("address, reason", [
    ("", "a Unix socket path must not be empty"),
    (("", 80), "the host must not be empty"),
    (("127.0.0.1", 0), "port 0 is outside 1-65535"),
    (("127.0.0.1", 65536), "port 65536 is outside 1-65535"),
    (("127.0.0.1", "80"), "an address is (host, port) or a Unix socket path, not ('127.0.0.1', '80')"),
    (("127.0.0.1", True), "not ('127.0.0.1', True)"),  # a bool is an int, but not a port
    (("127.0.0.1",), "not ('127.0.0.1',)"),
    (("127.0.0.1", 80, 0, 0), "not ('127.0.0.1', 80, 0, 0)"),
    (["127.0.0.1", 80], "not ['127.0.0.1', 80]"),
    (42, "not 42"),
    (b"/run/x.sock", "not b'/run/x.sock'"),
])
def test_anything_else_is_a_value_error_that_says_what_is_wrong(address, reason):
    with pytest.raises(ValueError) as caught:
        check_address(address)
    assert reason in str(caught.value)


@pytest.mark.parametrize("address, written", [
    (("127.0.0.1", 80), "127.0.0.1:80"),
    (("::1", 80), "[::1]:80"),  # brackets, so the port stands apart
    (("fe80::1%eth0", 22, 0, 2), "[fe80::1%eth0]:22"),  # getsockname's 4-tuple for IPv6
    (("example.com", 443), "example.com:443"),
    ("/run/x.sock", "unix:/run/x.sock"),
    (b"/run/x.sock", "unix:/run/x.sock"),  # what getsockname gives for a Unix socket
    ("", "unix:"),  # an unbound Unix socket's name
])
def test_format_address(address, written):
    assert format_address(address) == written
