"""08-metrics: /metrics parsed, its counts matched against what the clients did.

The grader serves lenprefix with a metrics port, has two clients each send
two messages (waiting for each echo) and leave, and one send a bad header,
fetches `GET /metrics`, and gives the text to the student's `parse(text)`,
which turns Prometheus's text format into a dict from `name{labels}` to a
number.  Judged: the parsed figures say 3 accepted, 1 protocol error, 5
messages received, 2 closed by the peer's EOF and 1 by the protocol error,
as `server.stats()` does.
"""

import urllib.request
from typing import Any

from docs.checks import _kit

TITLE = "Make /metrics move"
CHAPTER = "08-serving-for-real.md"
LEVEL = 2
MINUTES = 30


def scrape(server: Any) -> str:
    host, port = server.metrics_address[:2]
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10) as response:
        return str(response.read().decode())


def grade(student: _kit.Student) -> str:
    import evloop
    parse = student.need("parse")
    with _kit.served(evloop.load_handler("lenprefix"), metrics_port=0) as server:
        port = server.address[1]
        for _ in range(2):
            with _kit.connect(port) as sock:
                for message in (b"005hello", b"003bye"):  # two sends, each answered
                    sock.sendall(message)
                    _kit.check(_kit.recv_exactly(sock, len(message)) == message, "no echo")
                sock.shutdown(1)
                _kit.recv_until_eof(sock)
        with _kit.connect(port) as sock:
            sock.sendall(b"not a header")
            _kit.recv_until_eof(sock)
        # The last close is the loop's to count, after our EOF: wait for it.
        _kit.wait_for(lambda: server.stats().connections_open == 0)
        text = scrape(server)
        stats = server.stats()
    figures = parse(text)
    _kit.check(isinstance(figures, dict), f"parse returned {type(figures).__name__}, not a dict")
    expected = {
        "evloop_connections_accepted_total": (3, stats.connections_accepted),
        "evloop_protocol_errors_total": (1, stats.protocol_errors),
        'evloop_received_messages_total{transport="tcp",direction="in"}':
            (5, stats.stream.messages_received),
        'evloop_connections_closed_total{direction="in",reason="peer_eof"}':
            (2, stats.connections_closed["peer_eof"]),
        'evloop_connections_closed_total{direction="in",reason="protocol_error"}':
            (1, stats.connections_closed["protocol_error"]),
    }
    for name, (wanted, from_stats) in expected.items():
        got = figures.get(name)
        _kit.expect(got == wanted == from_stats,
                    f"{name}: parse gave {got!r}, stats() says {from_stats}, expected {wanted}")
    return f"parsed {len(figures)} figures; the five that count what the clients did are right"
