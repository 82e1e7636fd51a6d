"""The PROXY protocol: who the client really was, told by the proxy in front.

Behind a TCP load balancer (HAProxy, in `mode tcp`), every connection a
server accepts comes from the balancer, so the server would log, limit and
answer the balancer's address.  With the PROXY protocol (HAProxy's
`send-proxy` / `send-proxy-v2`), the balancer opens each connection with one
header naming the original client and destination, then relays the bytes.

Two versions, told apart by their first bytes:

* v1, text: `PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\\r\\n`, at most 107
  bytes with its CRLF; `TCP4`, `TCP6`, or `UNKNOWN` (then the rest of the
  line is ignored and the real endpoints stand);
* v2, binary: the 12-byte signature `\\r\\n\\r\\n\\0\\r\\nQUIT\\n`, a version
  and command byte (0x20 LOCAL, 0x21 PROXY), a family and transport byte
  (0x11 TCP over IPv4, 0x21 over IPv6), a 2-byte length, then the addresses
  and optional TLVs, which are skipped.  LOCAL is what HAProxy's health
  checks send: the connection is the proxy's own, its endpoints are real.

The spec's rule is to never guess: with the PROXY protocol on, a connection
that does not begin with a valid header is closed, and without it a header
is just data.  So `parse_header(data)` answers one of three ways, for any
bytes whatever:

* a `ProxyHeader`, whose `length` says how many bytes it took (what follows
  is the client's first data);
* None: not enough bytes yet, and nothing wrong so far;
* `ProtocolError`, with the reason, as soon as the bytes prove the header
  invalid (never later than byte 107 for v1, or 16 plus the announced
  length for v2).

It is a pure function of the bytes received so far, with no I/O, so
tests/connection/test_proxy_protocol.py feeds it arbitrary bytes, split
anywhere (hypothesis).  Taking the header off a socket is the connection's
handshakes' (evloop.connection.handshakes.ProxyHeaderReader), and so is the
rule that comes before it: a header is believed only from a peer that
`--proxy-allow` names, as any client could otherwise send one.
"""

from __future__ import annotations

import dataclasses
import ipaddress

from evloop.handlers.base import ProtocolError

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_PREFIX = b"PROXY "
V1_MAX = 107  # the longest v1 line, CRLF included (the spec's figure)
V2_FIXED = 16  # signature, version/command, family/transport, length
V2_COMMANDS = {0x0: "LOCAL", 0x1: "PROXY"}
# (family, transport) -> name and the size of its address block
V2_ADDRESSES = {(0x1, 0x1): ("TCP4", 12), (0x2, 0x1): ("TCP6", 36)}
V2_FAMILIES = {0x0: "UNSPEC", 0x1: "INET", 0x2: "INET6", 0x3: "UNIX"}
V2_TRANSPORTS = {0x0: "UNSPEC", 0x1: "STREAM", 0x2: "DGRAM"}


@dataclasses.dataclass(frozen=True)
class ProxyHeader:
    """A parsed header; `source` is None when the real endpoints stand (LOCAL, UNKNOWN)."""

    version: int
    command: str  # "PROXY" or "LOCAL"
    family: str  # "TCP4", "TCP6", "UNKNOWN", or v2's family and transport
    source: tuple[str, int] | None
    destination: tuple[str, int] | None
    length: int  # bytes the header took


def parse_header(data: bytes | bytearray) -> ProxyHeader | None:
    """The PROXY header at the start of `data`, None if more bytes are needed,
    or ProtocolError naming what is wrong."""
    data = bytes(data)
    if data[:len(V2_SIGNATURE)] == V2_SIGNATURE[:len(data)]:
        return _parse_v2(data) if data else None
    if data[:len(V1_PREFIX)] == V1_PREFIX[:len(data)]:
        return _parse_v1(data)
    raise ProtocolError(f"no PROXY protocol header: the connection began with {data[:16]!r}")


def _parse_v1(data: bytes) -> ProxyHeader | None:
    end = data.find(b"\r\n", 0, V1_MAX)
    if end < 0:
        if len(data) >= V1_MAX or b"\n" in data:
            raise ProtocolError(f"PROXY v1 header without CRLF in its first {V1_MAX} bytes")
        return None
    try:
        line = data[:end].decode("ascii")
    except UnicodeDecodeError:
        raise ProtocolError("PROXY v1 header with bytes that are not ASCII") from None
    parts = line.split(" ")
    if parts[1:2] == ["UNKNOWN"]:
        return ProxyHeader(1, "PROXY", "UNKNOWN", None, None, end + 2)
    if len(parts) != 6 or parts[1] not in ("TCP4", "TCP6"):
        raise ProtocolError(f"bad PROXY v1 header {line!r}: expected "
                            f"PROXY TCP4|TCP6 SOURCE DESTINATION SPORT DPORT, or PROXY UNKNOWN")
    version = 4 if parts[1] == "TCP4" else 6
    source = (_v1_address(parts[2], version), _v1_port(parts[4]))
    destination = (_v1_address(parts[3], version), _v1_port(parts[5]))
    return ProxyHeader(1, "PROXY", parts[1], source, destination, end + 2)


def _v1_address(text: str, version: int) -> str:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise ProtocolError(f"bad PROXY v1 address {text!r}") from None
    if address.version != version:
        raise ProtocolError(f"bad PROXY v1 address {text!r} for TCP{version}")
    return str(address)


def _v1_port(text: str) -> int:
    if not text.isdigit() or not text.isascii() or (text.startswith("0") and text != "0") \
            or int(text) > 65535:
        raise ProtocolError(f"bad PROXY v1 port {text!r}")
    return int(text)


def _parse_v2(data: bytes) -> ProxyHeader | None:
    if len(data) > 12:  # each byte is checked as soon as it is there
        version, command = data[12] >> 4, data[12] & 0xF
        if version != 2:
            raise ProtocolError(f"PROXY v2 header of version {version}, not 2")
        if command not in V2_COMMANDS:
            raise ProtocolError(f"PROXY v2 header with unknown command {command:#x}")
    if len(data) > 13:
        family, transport = data[13] >> 4, data[13] & 0xF
        if family not in V2_FAMILIES or transport not in V2_TRANSPORTS:
            raise ProtocolError(f"PROXY v2 header with unknown family/transport {data[13]:#04x}")
    if len(data) < V2_FIXED:
        return None
    total = V2_FIXED + int.from_bytes(data[14:16], "big")
    if len(data) < total:
        return None
    command, family, transport = data[12] & 0xF, data[13] >> 4, data[13] & 0xF
    name, size = V2_ADDRESSES.get((family, transport), (None, 0))
    if V2_COMMANDS[command] == "LOCAL" or name is None:
        label = name or f"{V2_FAMILIES[family]}/{V2_TRANSPORTS[transport]}"
        return ProxyHeader(2, V2_COMMANDS[command], label, None, None, total)
    if total - V2_FIXED < size:
        raise ProtocolError(f"PROXY v2 {name} header of {total - V2_FIXED} address bytes, "
                            f"fewer than the {size} it needs")
    ip_size = (size - 4) // 2  # two addresses, then two 2-byte ports
    block = data[V2_FIXED:V2_FIXED + size]
    ports = block[2 * ip_size:]
    source = (str(ipaddress.ip_address(block[:ip_size])), int.from_bytes(ports[:2], "big"))
    destination = (str(ipaddress.ip_address(block[ip_size:2 * ip_size])),
                   int.from_bytes(ports[2:], "big"))
    return ProxyHeader(2, "PROXY", name, source, destination, total)


def encode_v1(source: tuple[str, int], destination: tuple[str, int]) -> bytes:
    """A v1 header for a TCP connection (for clients and tests)."""
    family = "TCP6" if ":" in source[0] else "TCP4"
    return (f"PROXY {family} {source[0]} {destination[0]} {source[1]} {destination[1]}\r\n"
            .encode("ascii"))


def encode_v2(source: tuple[str, int] | None, destination: tuple[str, int] | None,
              tlvs: bytes = b"") -> bytes:
    """A v2 header: PROXY for TCP between the two addresses, or LOCAL without them."""
    if source is None or destination is None:
        return V2_SIGNATURE + bytes([0x20, 0x00]) + len(tlvs).to_bytes(2, "big") + tlvs
    ip_source, ip_destination = (ipaddress.ip_address(source[0]),
                                 ipaddress.ip_address(destination[0]))
    block = (ip_source.packed + ip_destination.packed + source[1].to_bytes(2, "big")
             + destination[1].to_bytes(2, "big") + tlvs)
    family = 0x11 if ip_source.version == 4 else 0x21
    return V2_SIGNATURE + bytes([0x21, family]) + len(block).to_bytes(2, "big") + block
