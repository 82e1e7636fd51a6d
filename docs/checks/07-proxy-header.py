"""07-proxy-header: play HAProxy, with a PROXY protocol v2 header built by hand.

The student's `proxy_v2(source, destination)` builds the binary header
HAProxy's `send-proxy-v2` sends for a TCP connection over IPv4 or IPv6, and
`WhoIsIt`, a line handler, answers each line with `you are PEER`.  Judged:
the headers are byte for byte what the spec says (the first wrong byte is
named); served with `proxy_protocol=True`, `WhoIsIt` names the client the
student's header claims, for IPv4 and IPv6, whether the header comes whole
or a byte at a time; and a client that sends no header is refused.
"""

import time

from docs.checks import _kit

TITLE = "Who is the client? Play HAProxy"
CHAPTER = "07-beyond-one-process.md"
LEVEL = 2
MINUTES = 40

FIELDS = [(12, "the 12-byte signature"), (13, "the version and command byte"),
          (14, "the family and transport byte"), (16, "the 2-byte length"),
          (10**6, "the addresses and ports")]


def first_difference(got: bytes, wanted: bytes) -> str:
    at = next((i for i, (a, b) in enumerate(zip(got, wanted)) if a != b), min(len(got), len(wanted)))
    field = next(name for end, name in FIELDS if at < end)
    if at == len(got) or at == len(wanted):
        return f"{len(got)} bytes where the header has {len(wanted)}"
    return f"byte {at} ({field}) is {got[at]:#04x}, the spec says {wanted[at]:#04x}"


def ask(port: int, header: bytes, byte_at_a_time: bool = False) -> str:
    with _kit.connect(port, timeout=5) as sock:
        if byte_at_a_time:
            for i in range(len(header)):
                sock.sendall(header[i:i + 1])
                time.sleep(0.001)
        else:
            sock.sendall(header)
        sock.sendall(b"who?\n")
        return _kit.recv_until_eof_or_line(sock)


def grade(student: _kit.Student) -> str:
    from evloop.connection.proxy_protocol import encode_v2
    proxy_v2 = student.need("proxy_v2")
    handler = student.need("WhoIsIt")
    cases = [(("192.0.2.7", 51000), ("127.0.0.1", 12000)),
             (("2001:db8::7", 51000), ("::1", 443))]
    for source, destination in cases:
        got, wanted = proxy_v2(source, destination), encode_v2(source, destination)
        _kit.check(isinstance(got, (bytes, bytearray)), f"proxy_v2 returned {type(got).__name__}, "
                                                        f"not bytes")
        _kit.check(got == wanted, f"proxy_v2({source}, {destination}): "
                                  f"{first_difference(bytes(got), wanted)}")
    with _kit.served(handler, proxy_protocol=True) as server:
        port = server.address[1]
        said = ask(port, proxy_v2(("192.0.2.7", 51000), ("127.0.0.1", port)))
        _kit.expect(said == "you are 192.0.2.7:51000",
                    f"behind the v2 header for 192.0.2.7:51000, WhoIsIt said {said!r}")
        said = ask(port, proxy_v2(("192.0.2.8", 52000), ("127.0.0.1", port)), byte_at_a_time=True)
        _kit.expect(said == "you are 192.0.2.8:52000",
                    f"behind a header sent a byte at a time, WhoIsIt said {said!r}")
        said = ask(port, proxy_v2(("2001:db8::7", 51000), ("::1", port)))
        _kit.expect("2001:db8::7" in said and "51000" in said,
                    f"behind the v2 header for [2001:db8::7]:51000, WhoIsIt said {said!r}")
        said = ask(port, b"")
        _kit.expect(said == "", f"a client with no header was answered {said!r}: it should be "
                                f"refused (that is the server's rule; is proxy_protocol on?)")
    return "the v2 headers are the spec's, and the server believes them"
