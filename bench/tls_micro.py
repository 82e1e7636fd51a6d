"""Microbenchmark: a TLS server's way to a message, SSLSocket against MemoryBIO.

    python3 -m bench.tls_micro [--messages 20000] [--size 100] [--rounds 5]

One connection over a socketpair, TLS 1.3, a blocking client and a
non-blocking server in the same thread.  Per message the client writes a
request and reads the echo; the server takes the request and echoes it in
one of two ways:

* sslsocket: the SSL object of an `SSLSocket` reads and writes the socket
  itself: one C call to read, one to write (what evloop.connection.tls does);
* memorybio: an `SSLObject` between two `MemoryBIO`s (asyncio's and
  uvloop's way, sans-IO): `os.read` the record, feed it to the incoming BIO,
  read the plaintext, write the echo, take the record from the outgoing BIO,
  `os.write` it.

The client's work is the same for both, so the difference between the two
figures is the server's.  The ways alternate, --rounds times; medians.
"""

import argparse
import os
import socket
import ssl
import statistics
import sys
import time

from bench.models import TLS_PEM


def contexts():
    if not os.path.exists(TLS_PEM):
        sys.exit(f"bench.tls_micro: {TLS_PEM} is missing (scripts/build-c makes it with openssl)")
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(TLS_PEM)
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    return server, client


class SSLSocketWay:
    def __init__(self, context, sock):
        self.tls = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        self.obj = self.tls._sslobj if hasattr(self.tls, "_sslobj") else None

    def handshake_step(self):
        self.tls.do_handshake()

    def echo(self, size):
        obj = self.obj
        data = obj.read(size)
        obj.write(data)


class MemoryBIOWay:
    def __init__(self, context, sock):
        self.sock, self.fd = sock, sock.fileno()
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = context.wrap_bio(self.incoming, self.outgoing, server_side=True)

    def handshake_step(self):
        try:
            self.incoming.write(os.read(self.fd, 65536))
        except BlockingIOError:
            pass
        try:
            self.obj.do_handshake()
        finally:
            pending = self.outgoing.read()
            if pending:
                os.write(self.fd, pending)

    def echo(self, size):
        self.incoming.write(os.read(self.fd, 65536))
        data = self.obj.read(size)
        self.obj.write(data)
        os.write(self.fd, self.outgoing.read())


def connected(way_class, server_context, client_context):
    a, b = socket.socketpair()
    a.setblocking(False)
    server = way_class(server_context, a)
    client = client_context.wrap_socket(b, do_handshake_on_connect=False)  # b is now client's
    client.setblocking(False)
    for _ in range(100):  # both sides step the handshake until both are done
        done = 0
        for step in (client.do_handshake, server.handshake_step):
            try:
                step()
                done += 1
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                pass
        if done == 2:
            break
    client.setblocking(True)
    return server, client, (getattr(server, "tls", a), client)


def per_message_ns(way_class, messages, size, server_context, client_context):
    server, client, sockets = connected(way_class, server_context, client_context)
    request = b"x" * size
    try:
        client.sendall(request)  # one exchange first, to take in the session tickets
        drain(server, size)
        client.recv(size)
        start = time.perf_counter()
        for _ in range(messages):
            client.sendall(request)
            server.echo(size)
            reply = client.recv(size)
        elapsed = time.perf_counter() - start
        assert reply == request
    finally:
        for sock in sockets:
            sock.close()
    return elapsed / messages * 1e9


def drain(server, size):
    for _ in range(10):
        try:
            return server.echo(size)
        except ssl.SSLWantReadError:
            time.sleep(0.001)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args(argv)
    server_context, client_context = contexts()
    ways = {"sslsocket": SSLSocketWay, "memorybio": MemoryBIOWay}
    results = {name: [] for name in ways}
    for _ in range(options.rounds):
        for name, way in ways.items():
            results[name].append(per_message_ns(way, options.messages, options.size,
                                                server_context, client_context))
    print(f"TLS 1.3 echo of {options.size} B over a socketpair, {options.messages:,} messages, "
          f"{options.rounds} alternated rounds; ns per round trip (client + server)")
    for name, values in results.items():
        print(f"{name:10} {statistics.median(values):8,.0f}   rounds: "
              + " ".join(f"{v:,.0f}" for v in values))
    return 0


if __name__ == "__main__":
    sys.exit(main())
