"""The README's handlers and the course's gateway, each tested as a handler author would
test theirs: with evloop.testing, from the code the docs show (so the docs cannot show
code these tests do not run)."""

import types

import pytest

from evloop.testing import FakeContext
from tests.docs.test_docs import blocks

pytestmark = pytest.mark.timeout(10)


def module_from_docs(document, name):
    """The `# NAME.py` block of `document`, as a module; a block that serves at import
    (`evloop.run(...)`) is taken up to that line."""
    code = next(body for language, body in blocks(document)
                if language == "python" and body.startswith(f"# {name}.py\n"))
    code = code.split("\nevloop.run(")[0]
    module = types.ModuleType(name)
    exec(compile(code, f"{document}:{name}.py", "exec"), module.__dict__)
    return module


def test_the_readme_s_reverse_answers_each_line_reversed_however_it_is_split():
    Reverse = module_from_docs("README.md", "myproto").Reverse
    context = FakeContext()
    context.open(Reverse())
    assert context.feed(b"hel") is None  # no line yet
    assert context.feed(b"lo\nevent loop\n") == b"olleh\npool tneve\n"
    context.feed_eof()
    assert context.closed and context.take() == b"olleh\npool tneve\n"


def test_the_readme_s_shout_answers_in_capitals():
    Shout = module_from_docs("README.md", "shout").Shout
    context = FakeContext()
    context.open(Shout())
    assert context.feed(b"quiet please\n") == b"QUIET PLEASE\n"


def test_the_gateway_hands_connect_its_backends_and_closes_its_client_when_none_answers():
    """The failover itself is connect()'s (tests/connection/test_outbound.py), and the
    docs tests serve this gateway with its first backend down."""
    gateway = module_from_docs("docs/09-reaching-out.md", "gateway")
    handler = gateway.Gateway(backends=gateway.addresses("127.0.0.1:9100,127.0.0.1:12001"))
    client = FakeContext()
    client.open(handler)
    backend, = client.connects
    assert backend.address == [("127.0.0.1", 9100), ("127.0.0.1", 12001)]
    assert backend.options["round_robin"] and backend.options["timeout"] == 2.0
    client.feed(b"hello")
    backend.open()  # whichever answered
    assert backend.context.take() == b"hello"
    backend.context.feed(b"hello back")
    assert client.take() == b"hello back"
    client.lose()
    assert backend.context.closed
    client = FakeContext()
    client.open(gateway.Gateway(backends=[("127.0.0.1", 9100)]))
    client.connects[0].refuse()  # every backend failed: one connection_lost
    assert client.closed
