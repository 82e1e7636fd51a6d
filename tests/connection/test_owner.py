"""evloop.connection.owner: every owner of connections gives a connection what it asks
for, and the protocol names all a connection asks: a server, a bare loop's owner and the
metrics endpoint, checked member by member, and what a connection calls on its owner
read from the source."""

import ast
import inspect
import os

import pytest

from evloop import Config
from evloop.connection.outbound import LoopOwner
from evloop.connection.owner import Owner
from evloop.handlers.echo import EchoHandler
from evloop.loop.base import BaseLoop
from evloop.server.metrics_endpoint import MetricsEndpoint
from evloop.server.server import Server
from tests.conftest import ROOT

MEMBERS = {name for name in vars(Owner) if not name.startswith("_")}


def owners(loop):
    return {"Server": Server(EchoHandler, Config(port=0), loop=loop),
            "LoopOwner": LoopOwner(loop),
            "MetricsEndpoint": MetricsEndpoint(loop, "127.0.0.1", 0, lambda: "")}


def test_the_protocol_names_the_four_things_of_the_essay():
    assert MEMBERS == {"offloader", "server_context", "connect", "connection_closed"}


def test_what_a_connection_asks_of_its_owner_is_in_the_protocol():
    """Every `owner.X` that evloop.connection reads, on a connection's owner."""
    asked = set()
    folder = os.path.join(ROOT, "evloop", "connection")
    for name in os.listdir(folder):
        if not name.endswith(".py") or name == "handler_timers.py":  # its owner is a HandlerTimers
            continue
        with open(os.path.join(folder, name)) as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
                    and node.value.attr == "owner"
                    and isinstance(node.value.value, (ast.Name, ast.Attribute))
                    and ast.unparse(node.value.value) in ("self", "self.connection",
                                                            "connection")):
                asked.add(node.attr)
    assert asked and asked <= MEMBERS, asked - MEMBERS


@pytest.mark.parametrize("kind", ["Server", "LoopOwner", "MetricsEndpoint"])
def test_each_owner_has_every_member_in_its_shape(kind):
    loop = BaseLoop()
    try:
        owner = owners(loop)[kind]
        for name in MEMBERS:
            assert hasattr(owner, name), (kind, name)
        # connect() takes what a context's connect() passes on, by keyword
        inspect.signature(owner.connect).bind(("127.0.0.1", 9), EchoHandler(), tls=None,
                                              server_hostname=None, timeout=1.0)
        inspect.signature(owner.connection_closed).bind(object())
        assert owner.offloader is None  # no --offload: inline
    finally:
        loop.close()


def test_who_has_a_server_context():
    loop = BaseLoop()
    try:
        found = owners(loop)
        assert found["Server"].server_context is not None
        assert found["LoopOwner"].server_context is None
        assert found["MetricsEndpoint"].server_context is None
    finally:
        loop.close()


def test_a_loop_owner_tracks_its_connections_until_closed():
    loop = BaseLoop()
    owner = LoopOwner(loop)
    marker = object()
    owner.connections.add(marker)
    owner.connection_closed(marker)
    owner.connection_closed(marker)  # told twice: harmless
    assert owner.connections == set()
    loop.close()


def test_a_metrics_scrape_opens_nothing():
    loop = BaseLoop()
    try:
        with pytest.raises(RuntimeError, match="a metrics scrape opens no connection"):
            owners(loop)["MetricsEndpoint"].connect(("127.0.0.1", 9), EchoHandler())
    finally:
        loop.close()
