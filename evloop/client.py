"""`python -m evloop.client`: the labs' client, done right.

Reads lines from the keyboard (or from a pipe, for scripts), sends each in
the handler's framing, and prints the reply.  Unlike the lab clients it
never assumes that one `recv()` returns one whole reply: it reads until the
reply is complete, or says that none came in time.

Framings, chosen from `--handler` unless `--framing` says otherwise:

* raw (echo, uppercase): the line as typed, no newline, sent with one
  `sendall()` as in Kurose and Ross; the reply is as long as the request.
* lenprefix: `str(n).zfill(3)` then the payload; the reply is one frame.
* line (chat, slow): the line plus b"\\n"; everything the server sends is printed
  as it arrives, by a reader thread, because chat lines come from others.

With `--udp`, each line is one datagram and each reply one datagram.
"""

import argparse
import socket
import sys
import threading

from evloop.handlers.lenprefix import HEADER_SIZE
from evloop.handlers.lenprefix import MAX_PAYLOAD
from evloop.handlers.lenprefix import encode
from evloop.serve import DEFAULT_PORT
from evloop.serve import default_port
from evloop.serve import parse_port
from evloop.serve import parse_seconds

FRAMINGS = {"echo": "raw", "uppercase": "raw", "lenprefix": "lenprefix", "chat": "line",
            "slow": "line"}


class ClientError(Exception):
    """A failure to report in one line."""


def frame(framing, line):
    """The bytes to send for one typed line."""
    payload = line.encode("utf-8")
    if framing == "lenprefix":
        if len(payload) > MAX_PAYLOAD:
            raise ClientError(f"a lenprefix message is at most {MAX_PAYLOAD} bytes; "
                              f"this line is {len(payload)}")
        return encode(payload)
    if framing == "line":
        return payload + b"\n"
    return payload


def recv_exactly(sock, size):
    """Read exactly `size` bytes (the labs' recv_all); ClientError on EOF."""
    chunks = []
    while size:
        chunk = sock.recv(min(size, 65536))
        if not chunk:
            raise ClientError("the server closed the connection")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_reply(sock, framing, request):
    """Read one reply to `request` and return the text to show."""
    if framing == "lenprefix":
        header = recv_exactly(sock, HEADER_SIZE)
        if not header.isdigit():
            raise ClientError(f"the server sent a bad header {header!r}")
        return recv_exactly(sock, int(header))
    return recv_exactly(sock, len(request))


def show(data):
    print(data.decode("utf-8", "replace"), flush=True)


def lines_from(stream, prompt):
    while True:
        if prompt:
            print("> ", end="", flush=True)
        line = stream.readline()
        if not line:
            return
        yield line.rstrip("\r\n")


def run_tcp(sock, framing, stream, prompt):
    if framing == "line":
        return run_line_mode(sock, stream, prompt)
    for line in lines_from(stream, prompt):
        try:
            request = frame(framing, line)
        except ClientError as exc:
            print(f"evloop.client: {exc}", file=sys.stderr)
            continue
        if not request:
            continue  # an empty raw line has no reply to wait for
        sock.sendall(request)
        show(read_reply(sock, framing, request))


def run_line_mode(sock, stream, prompt):
    """Chat: print whatever arrives while sending what is typed."""
    reader = threading.Thread(target=print_incoming, args=(sock,), daemon=True)
    reader.start()
    for line in lines_from(stream, False):
        sock.sendall(frame("line", line))
    try:
        sock.shutdown(socket.SHUT_WR)  # no more lines; the server answers with EOF
    except OSError:
        pass
    reader.join()


def print_incoming(sock):
    sock.settimeout(None)
    while True:
        try:
            data = sock.recv(65536)
        except OSError:
            return
        if not data:
            return
        sys.stdout.write(data.decode("utf-8", "replace"))
        sys.stdout.flush()


def run_udp(sock, address, framing, stream, prompt, timeout):
    for line in lines_from(stream, prompt):
        try:
            request = frame(framing, line)
        except ClientError as exc:
            print(f"evloop.client: {exc}", file=sys.stderr)
            continue
        sock.sendto(request, address)
        try:
            reply, _ = sock.recvfrom(65535)
        except socket.timeout:
            print(f"evloop.client: no reply within {timeout:g}s (UDP may lose datagrams)",
                  file=sys.stderr)
            continue
        show(reply[HEADER_SIZE:] if framing == "lenprefix" else reply)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m evloop.client",
        description="Send typed (or piped) lines to an evloop server and print the replies.")
    parser.add_argument("--handler", default="echo",
                        help="the server's handler; picks the framing (default: echo)")
    parser.add_argument("--framing", choices=["raw", "lenprefix", "line"],
                        help="override the framing the handler implies")
    parser.add_argument("--host", default="127.0.0.1", help="server address (default: 127.0.0.1)")
    parser.add_argument("--port", type=parse_port, default=default_port(),
                        help=f"server port (default: {DEFAULT_PORT}, or $EVLOOP_PORT)")
    parser.add_argument("--udp", action="store_true", help="one datagram per line")
    parser.add_argument("--timeout", type=parse_seconds, default=5.0,
                        help="seconds to wait for a reply (default: 5)")
    return parser


def main(argv=None, stream=None):
    options = build_parser().parse_args(argv)
    stream = stream or sys.stdin
    framing = options.framing or FRAMINGS.get(options.handler, "raw")
    prompt = stream.isatty()
    where = f"{options.host}:{options.port}"
    try:
        if options.udp:
            address = socket.getaddrinfo(options.host, options.port, type=socket.SOCK_DGRAM)[0]
            with socket.socket(address[0], socket.SOCK_DGRAM) as sock:
                sock.settimeout(options.timeout or None)
                run_udp(sock, address[4], framing, stream, prompt, options.timeout)
        else:
            with socket.create_connection((options.host, options.port),
                                          timeout=options.timeout or None) as sock:
                run_tcp(sock, framing, stream, prompt)
    except ConnectionRefusedError:
        print(f"evloop.client: error: connection refused: no server is listening on {where}",
              file=sys.stderr)
        return 1
    except socket.timeout:
        print(f"evloop.client: error: no reply from {where} within {options.timeout:g}s",
              file=sys.stderr)
        return 1
    except (ClientError, OSError) as exc:
        print(f"evloop.client: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
