"""Chapter 8, exercise 3: read /metrics, and make the figures move.

The exercise: serve lenprefix with a metrics port
(`Config(metrics_port=0)`, `--metrics-port`), do three things to it whose
traces you can predict: two clients that each send two messages and leave,
one that sends a bad header.  Then fetch `GET /metrics` with urllib and
write `parse(text)`, which turns Prometheus's text format into a dict from
`name{labels}` to a number.

Done when: the parsed figures say 3 connections accepted, 1 protocol error,
5 messages received, 2 connections closed by the peer's EOF and 1 by the
protocol error, and each of these agrees with `server.stats()`.  Why 5: the
framework does not know lenprefix's framing, so to it a message received is
one `data_received` call (chapter 8): two per well-behaved client, which
waits for each echo before its next send, and one for the bad header.

Run it: python3 docs/answers/08-metrics.py
"""

import time
import urllib.request

import _kit
import evloop


def parse(text):
    """The solution: {'name{labels}': value} from the text format; comments skipped."""
    figures = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        figures[name] = float(value)
    return figures


def scrape(server):
    host, port = server.metrics_address[:2]
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10) as response:
        return parse(response.read().decode())


def main():
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
        deadline = time.monotonic() + 5  # the last close is the loop's to count, after our EOF
        figures = scrape(server)
        while figures.get('evloop_connections_open{direction="in"}', 1) and time.monotonic() < deadline:
            time.sleep(0.02)
            figures = scrape(server)
        stats = server.stats()
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
        _kit.check(got == wanted == from_stats,
                   f"{name}: /metrics says {got}, stats() {from_stats}, expected {wanted}")
        print(f"{name} {got:g}")
    _kit.ok("/metrics counts what the clients did, as server.stats() does")


if __name__ == "__main__":
    main()
