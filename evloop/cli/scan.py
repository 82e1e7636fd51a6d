"""`python3 -m evloop.scan HOST PORTS`: a port scanner with many connects in flight.

The labs' scanner tried one port at a time with a blocking `connect()`:
each closed-but-silent port cost its whole timeout while the program did
nothing else (docs/appendix-labs.md tells how long 450 ports took).  The
event loop's answer is the same as for serving many clients: start many
operations, and let the selector say which one finished.

A non-blocking `connect()` returns at once with EINPROGRESS.  The socket
becomes *writable* when the handshake ends, either way; then
`getsockopt(SO_ERROR)` tells how: 0 is open, ECONNREFUSED is closed (the
host answered with RST), and a port that never answers hits the per-port
timeout (a loop timer) and is reported as filtered.  At most `--concurrency`
connects are in flight, so a big range cannot exhaust file descriptors.

Scanning machines you do not own is rude at best and illegal at worst, so
targets outside loopback (127.0.0.0/8, ::1, localhost) are refused unless
`--allow-remote` is given.  `check_target` makes that decision before
anything is resolved or sent, and is what the tests exercise.
"""

from __future__ import annotations

import errno
import functools
import ipaddress
import socket
import sys
import time
from collections.abc import Callable
from typing import Any
from typing import TypeVar

from evloop.cli.options import Parser
from evloop.connection.dialing import Dialer
from evloop.loop.base import BaseLoop

T = TypeVar("T")

MAX_PORT = 65535


class ScanError(ValueError):
    """A bad port list or a refused target: one line for the user."""


def parse_ports(text: str) -> list[int]:
    """ "1-1024,8080" -> a sorted list of distinct ports."""
    ports: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        low, sep, high = part.partition("-")
        try:
            first = int(low)
            last = int(high) if sep else first
        except ValueError:
            raise ScanError(f"bad port or range {part!r}: use forms like 80, 1-1024 or 22,80,8000-8100") from None
        if not (1 <= first <= MAX_PORT and 1 <= last <= MAX_PORT):
            raise ScanError(f"port range {part!r} is outside 1-{MAX_PORT}")
        if first > last:
            raise ScanError(f"port range {part!r} runs backwards")
        ports.update(range(first, last + 1))
    return sorted(ports)


def check_target(host: str, allow_remote: bool = False) -> str:
    """The address to scan, or ScanError.  Nothing is resolved for a refused host."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None and address.is_loopback:
        return str(address)
    if not allow_remote:
        raise ScanError(f"{host} is not a loopback address: scanning other machines needs "
                        f"--allow-remote (and their owner's permission)")
    try:
        return str(socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][4][0])
    except socket.gaierror as exc:
        raise ScanError(f"cannot resolve {host}: {exc.strerror}") from None


class Scanner:
    """Keeps up to `concurrency` non-blocking connects in flight on one loop
    (evloop.connection.dialing.Dialer does each: connect, wait for writable, SO_ERROR)."""

    def __init__(self, address: str, ports: list[int], concurrency: int = 256,
                 timeout: float = 1.0) -> None:
        self.loop = BaseLoop()
        self.address = address
        self.todo = list(reversed(ports))
        self.concurrency = concurrency
        self.timeout = timeout
        self.in_flight = 0
        self.results: dict[int, str] = {}  # port -> "open" | "closed" | "filtered"

    def run(self) -> dict[int, str]:
        self._start_more()
        if self.in_flight:
            self.loop.run()
        self.loop.close()
        return self.results

    def _start_more(self) -> None:
        while self.todo and self.in_flight < self.concurrency:
            port = self.todo.pop()
            self.in_flight += 1
            Dialer(self.loop, (self.address, port), self.timeout, _no_names,
                   functools.partial(self._open, port),
                   functools.partial(self._not_open, port)).start()
        if not self.in_flight and not self.todo:
            self.loop.stop()

    def _open(self, port: int, sock: socket.socket) -> None:
        sock.close()
        self._finish(port, "open")

    def _not_open(self, port: int, exc: OSError) -> None:
        # RST (refused): nothing listens; no answer (a timeout) or anything else: filtered
        self._finish(port, "closed" if isinstance(exc, ConnectionRefusedError) else "filtered")

    def _finish(self, port: int, result: str) -> None:
        self.results[port] = result
        self.in_flight -= 1
        self.loop.call_soon(self._start_more)


def _no_names(host: str, port: int, then: Callable[..., object]) -> None:
    raise AssertionError("check_target gives numeric addresses only")


def scan_sequential(address: str, ports: list[int], timeout: float = 1.0) -> dict[int, str]:
    """The labs' scanner: one blocking connect at a time."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    results: dict[int, str] = {}
    for port in ports:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            code = sock.connect_ex((address, port))
        results[port] = "open" if code == 0 else "closed" if code == errno.ECONNREFUSED else "filtered"
    return results


def timed(fn: Callable[..., T], *args: Any) -> tuple[T, float]:
    start = time.perf_counter()
    results = fn(*args)
    return results, time.perf_counter() - start


def build_parser() -> Parser:
    parser = Parser("evloop.scan",
                    description="Find open TCP ports with many non-blocking connects in flight.")
    parser.add_argument("host", help="127.0.0.1, ::1 or localhost (others need --allow-remote)")
    parser.add_argument("ports", help="ports and ranges, e.g. 1-1024,8080")
    parser.add_argument("--concurrency", type=int, default=256,
                        help="connects in flight at once (default: 256)")
    parser.add_argument("--timeout", type=float, default=1.0,
                        help="seconds to wait for each port (default: 1)")
    parser.add_argument("--sequential", action="store_true",
                        help="scan one port at a time, as the labs' scanner did")
    parser.add_argument("--compare", action="store_true",
                        help="scan both ways and print both times")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a target outside loopback (only machines you may scan)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    options = parser.parse_args(argv)
    if not 1 <= options.concurrency <= 10000:
        parser.error("--concurrency must be between 1 and 10000")
    if not 0 < options.timeout <= 60:
        parser.error("--timeout must be above 0 and at most 60 seconds")
    try:
        ports = parse_ports(options.ports)
        address = check_target(options.host, options.allow_remote)
    except ScanError as exc:
        parser.fail(str(exc))
    if options.sequential:
        results, elapsed = timed(scan_sequential, address, ports, options.timeout)
        how = "one at a time"
    else:
        scanner = Scanner(address, ports, options.concurrency, options.timeout)
        results, elapsed = timed(scanner.run)
        how = f"up to {options.concurrency} at a time"
    open_ports = [port for port in ports if results.get(port) == "open"]
    for port in open_ports:
        print(f"{port}/tcp open")
    print(f"{len(open_ports)} open of {len(ports)} ports on {address}, scanned {how} "
          f"in {elapsed:.3f} s")
    if options.compare:
        sequential, seq_elapsed = timed(scan_sequential, address, ports, options.timeout)
        agree = "same open ports" if [p for p in ports if sequential[p] == "open"] == open_ports \
            else "DIFFERENT open ports"
        print(f"sequential scan of the same ports: {seq_elapsed:.3f} s ({agree}); "
              f"sequential / concurrent time: {seq_elapsed / max(elapsed, 1e-9):.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
