"""`python3 -m evloop.client`: the labs' client, done right.

Reads lines from the keyboard (or from a pipe, for scripts), sends each in
the handler's framing, and prints the reply.  Unlike the lab clients it
never assumes that one `recv()` returns one whole reply.

Framings, chosen from `--handler` (a built-in name) unless `--framing` says
otherwise, which it must for a handler of your own:

* raw (echo, uppercase): the line as typed, no newline, sent with one
  `sendall()` as in Kurose and Ross.  A raw reply has no end marker, so the
  client reads until the server pauses: at least as many bytes as it sent
  (or `--timeout`), then until nothing more comes for QUIET seconds.
* lenprefix: `str(n).zfill(3)` then the payload; the reply is one frame.
* line (chat, slow, your own line protocols): the line plus b"\\n".  Lines
  from the server are printed as they arrive, because chat lines come from
  others: one `selectors` loop watches the keyboard and the socket, a small
  event loop of its own.  The client ends when the server closes (after
  `/quit`, say) or, once the input ends, when the server has answered.

With `--udp`, each line is one datagram and each reply one datagram; a
reply that never comes is reported, and the exit code is 1.
"""

from __future__ import annotations

import argparse
import io
import os
import selectors
import socket
import ssl
import sys
from collections.abc import Iterator
from typing import Any
from typing import TextIO

from evloop.cli.framing import ClientError
from evloop.cli.framing import frame
from evloop.cli.framing import read_reply
from evloop.cli.options import Parser
from evloop.cli.options import default_port
from evloop.cli.options import parse_port
from evloop.cli.options import parse_seconds
from evloop.handlers.lenprefix import HEADER_SIZE
from evloop.settings.limits import DEFAULT_PORT

COMMAND = "evloop.client"
FRAMINGS = {"echo": "raw", "uppercase": "raw", "lenprefix": "lenprefix", "chat": "line",
            "slow": "line"}
def show(data: bytes) -> None:
    print(data.decode("utf-8", "replace"), flush=True)


def lines_from(stream: TextIO, prompt: bool) -> Iterator[str]:
    while True:
        if prompt:
            print("> ", end="", flush=True)
        line = stream.readline()
        if not line:
            return
        yield line.rstrip("\r\n")


def requests_from(stream: TextIO, framing: str, prompt: bool) -> Iterator[bytes]:
    """Each typed line, framed; a line that cannot be framed is reported and skipped."""
    for line in lines_from(stream, prompt):
        try:
            yield frame(framing, line)
        except ClientError as exc:
            print(f"{COMMAND}: {exc}", file=sys.stderr)


def run_tcp(sock: socket.socket, framing: str, stream: TextIO, prompt: bool,
            timeout: float | None) -> int:
    if framing == "line":
        return run_line_mode(sock, stream, timeout)
    for request in requests_from(stream, framing, prompt):
        if not request:
            continue  # an empty raw line has no reply to wait for
        sock.sendall(request)
        show(read_reply(sock, framing, request, timeout))
    return 0


def input_fd(stream: TextIO) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None


def run_line_mode(sock: socket.socket, stream: TextIO, timeout: float | None) -> int:
    """Send what is typed while printing what arrives, until the server closes."""
    fd = input_fd(stream)
    sent = received = False  # a server that closes having answered nothing is an error
    if fd is None:  # a stream in memory (tests): send it all, then read to the end
        for line in lines_from(stream, False):
            sock.sendall(frame("line", line))
            sent = True
        end_of_input(sock)
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ)
        if fd is not None:
            selector.register(fd, selectors.EVENT_READ)
        typing = fd is not None
        pending = b""
        while True:
            ready = selector.select(None if typing else timeout)
            if not ready:
                return 0  # the input is over and the server said nothing for --timeout
            for key, _ in ready:
                if key.fileobj is sock:
                    data = sock.recv(65536)
                    if not data:
                        if sent and not received:
                            raise ClientError("the server closed the connection without "
                                              "answering")
                        return 0  # the server closed: /quit, or our EOF answered
                    received = True
                    sys.stdout.write(data.decode("utf-8", "replace"))
                    sys.stdout.flush()
                    continue
                assert fd is not None
                data = os.read(fd, 65536)
                if data:
                    *lines, pending = (pending + data).split(b"\n")
                    sock.sendall(b"".join(line.rstrip(b"\r") + b"\n" for line in lines))
                    sent = sent or bool(lines)
                else:  # the input ended: its last partial line, then our FIN
                    selector.unregister(fd)
                    typing = False
                    if pending:
                        sock.sendall(pending.rstrip(b"\r") + b"\n")
                        sent = True
                    end_of_input(sock)


def end_of_input(sock: socket.socket) -> None:
    """No more lines: FIN, and the server answers with its last replies and EOF."""
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def run_udp(sock: socket.socket, address: Any, framing: str, stream: TextIO, prompt: bool,
            timeout: float) -> int:
    lost = 0
    for request in requests_from(stream, framing, prompt):
        sock.sendto(request, address)
        try:
            reply, _ = sock.recvfrom(65535)
        except socket.timeout:
            print(f"{COMMAND}: no reply within {timeout:g}s (UDP may lose datagrams)",
                  file=sys.stderr)
            lost += 1
            continue
        if framing == "lenprefix":
            reply = reply[HEADER_SIZE:]
        elif framing == "line":
            reply = reply.removesuffix(b"\n")  # print() ends the line
        show(reply)
    return 1 if lost else 0


def build_parser() -> Parser:
    parser = Parser(COMMAND, description="Send typed (or piped) lines to an evloop server "
                                         "and print the replies.")
    parser.add_argument("--handler", default="echo",
                        help=f"the server's handler, which picks the framing: "
                             f"{', '.join(FRAMINGS)} (default: echo)")
    parser.add_argument("--framing", choices=["raw", "lenprefix", "line"],
                        help="the framing, for a handler of your own (or to override)")
    parser.add_argument("--host", default="127.0.0.1", help="server address (default: 127.0.0.1)")
    parser.add_argument("--port", type=parse_port, default=default_port(),
                        help=f"server port (default: {DEFAULT_PORT}, or $EVLOOP_PORT)")
    parser.add_argument("--unix", metavar="PATH", help="connect to the server's Unix socket at PATH")
    parser.add_argument("--udp", action="store_true", help="one datagram per line")
    parser.add_argument("--tls", action="store_true",
                        help="speak TLS, checking the server's certificate and name")
    parser.add_argument("--cafile", metavar="FILE",
                        help="with --tls: trust this PEM CA (default: the system's)")
    parser.add_argument("--certfile", metavar="FILE",
                        help="with --tls: present this PEM certificate and key (mutual TLS)")
    parser.add_argument("--insecure", action="store_true",
                        help="with --tls: do not check the server's certificate or name "
                             "(anyone in between could read and change everything)")
    parser.add_argument("--timeout", type=parse_seconds, default=5.0,
                        help="seconds to wait for a reply; 0 = for ever (default: 5)")
    return parser


def connect(options: argparse.Namespace, timeout: float | None) -> socket.socket:
    """A stream socket to the server: TCP, or its Unix socket with --unix; over TLS with --tls."""
    if not options.unix:
        sock = socket.create_connection((options.host, options.port), timeout=timeout)
    else:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(options.unix)
        except BaseException:
            sock.close()
            raise
    if not options.tls:
        return sock
    context = ssl.create_default_context(cafile=options.cafile)
    if options.certfile:
        context.load_cert_chain(options.certfile)
    if options.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        return context.wrap_socket(sock, server_hostname=None if options.unix else options.host)
    except BaseException:
        sock.close()
        raise


def check_combinations(parser: Parser, options: argparse.Namespace) -> None:
    if options.unix and options.udp:
        parser.fail("--udp needs a host and port, not --unix")
    if options.udp and options.tls:
        parser.fail("--tls is for TCP: DTLS is not in the standard library")
    if (options.cafile or options.certfile or options.insecure) and not options.tls:
        parser.fail("--cafile, --certfile and --insecure go with --tls")
    if options.insecure:
        print(f"{COMMAND}: --insecure: the server's certificate and name are not checked, "
              f"so this connection is encrypted but not authenticated", file=sys.stderr)


def choose_framing(parser: Parser, options: argparse.Namespace) -> str:
    if options.framing:
        return str(options.framing)
    if options.handler not in FRAMINGS:
        parser.fail(f"unknown handler {options.handler!r}; the client knows "
                    f"{', '.join(FRAMINGS)}; for a handler of your own, say "
                    f"--framing raw, lenprefix or line")
    return FRAMINGS[options.handler]


def main(argv: list[str] | None = None, stream: TextIO | None = None) -> int:
    parser = build_parser()
    options = parser.parse_args(argv)
    framing = choose_framing(parser, options)
    stream = stream or sys.stdin
    prompt = stream.isatty()
    timeout = options.timeout or None
    where = f"unix:{options.unix}" if options.unix else f"{options.host}:{options.port}"
    check_combinations(parser, options)
    try:
        if options.udp:
            info = socket.getaddrinfo(options.host, options.port, type=socket.SOCK_DGRAM)[0]
            with socket.socket(info[0], socket.SOCK_DGRAM) as sock:
                sock.settimeout(timeout)
                return run_udp(sock, info[4], framing, stream, prompt, options.timeout)
        with connect(options, timeout) as sock:
            return run_tcp(sock, framing, stream, prompt, timeout)
    except KeyboardInterrupt:
        return 130
    except (ClientError, OSError) as exc:
        print(f"{COMMAND}: error: {describe(exc, where, options.timeout)}", file=sys.stderr)
    return 1


def describe(exc: Exception, where: str, timeout: float) -> str:
    """One line for what went wrong."""
    if isinstance(exc, (ConnectionRefusedError, FileNotFoundError)):
        return f"connection refused: no server is listening on {where}"
    if isinstance(exc, socket.timeout):
        return f"no reply from {where} within {timeout:g}s"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"the server's certificate was refused: {exc.verify_message or exc.reason} "
                f"(--cafile names the CA to trust)")
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    return str(exc)


if __name__ == "__main__":
    sys.exit(main())
