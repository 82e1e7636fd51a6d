"""Answer to 07-proxy-header: play HAProxy, with a PROXY protocol v2 header.

The v2 header is binary: the 12-byte signature, a byte for the version (2,
high nibble) and the command (1, PROXY), a byte for the family (1 IPv4, 2
IPv6, high nibble) and the transport (1, stream), the length of what
follows, in two bytes, network order, then the source and destination
addresses, packed, and their ports, two bytes each.

Try it: serve WhoIsIt with `python3 docs/answers/07-proxy-header.py` (port
12000, proxy_protocol on), then connect and send a header:

    python3 -c "import socket, sys; sys.path[:0] = ['docs/answers']; m = __import__('07-proxy-header'); s = socket.create_connection(('127.0.0.1', 12000)); s.sendall(m.proxy_v2(('192.0.2.7', 51000), ('127.0.0.1', 12000)) + b'who?\n'); print(s.recv(100))"
"""

import ipaddress

import evloop

SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
PROXY = 0x21  # version 2, command PROXY
TCP4, TCP6 = 0x11, 0x21  # family INET or INET6, transport STREAM


def proxy_v2(source, destination):
    """The v2 header for a TCP connection from `source` to `destination`, (host, port) each."""
    ip_source = ipaddress.ip_address(source[0])
    ip_destination = ipaddress.ip_address(destination[0])
    addresses = (ip_source.packed + ip_destination.packed
                 + source[1].to_bytes(2, "big") + destination[1].to_bytes(2, "big"))
    family = TCP4 if ip_source.version == 4 else TCP6
    return SIGNATURE + bytes([PROXY, family]) + len(addresses).to_bytes(2, "big") + addresses


class WhoIsIt(evloop.LineHandler):
    """Each line is answered with the peer the server believes in."""

    def line_received(self, line):
        return f"you are {self.context.peer}\n".encode()


if __name__ == "__main__":
    evloop.run(WhoIsIt, evloop.Config(port=12000, proxy_protocol=True))
