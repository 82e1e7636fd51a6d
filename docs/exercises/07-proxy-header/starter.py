"""Exercise 07-proxy-header: who is the client? Play HAProxy.

Chapter 7 (docs/07-beyond-one-process.md, "Exercises").
Difficulty: ★★☆ medium.  Time: about 40 minutes.

The chapter played HAProxy by hand with a version-1 header, a line of text.
HAProxy's `send-proxy-v2` sends version 2, which is binary.  The task:

* write `proxy_v2(source, destination)`, the v2 header of a TCP connection
  from `source` to `destination` (each a (host, port) pair, IPv4 or IPv6):
  the 12-byte signature below; one byte for the version (2, high nibble)
  and command (1, PROXY, low nibble); one byte for the family (1 IPv4, 2
  IPv6, high nibble) and transport (1, stream, low nibble); the length of
  what follows, two bytes, network order; then the source address, the
  destination address (packed: see the `ipaddress` module), the source port
  and the destination port (two bytes each, network order);
* write `WhoIsIt`, a line handler that answers each line with
  `you are PEER` and a newline, PEER being `self.context.peer`.

Done when your headers are byte for byte the spec's, for IPv4 and IPv6, and
a server with `proxy_protocol=True` (`--proxy-protocol`) names the client
your header claims, whether the header comes whole or a byte at a time.

Try it:  python3 docs/exercises/07-proxy-header/starter.py   (port 12000, proxy_protocol on)
Grade it:  python3 -m docs.grade 07-proxy-header docs/exercises/07-proxy-header/starter.py
"""

import evloop

SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def proxy_v2(source, destination):
    """The v2 header for a TCP connection from `source` to `destination`, (host, port) each."""
    raise NotImplementedError("proxy_v2")


class WhoIsIt(evloop.LineHandler):
    """Each line is answered with the peer the server believes in."""

    def line_received(self, line):
        raise NotImplementedError("WhoIsIt.line_received")


if __name__ == "__main__":
    evloop.run(WhoIsIt, evloop.Config(port=12000, proxy_protocol=True))
