"""Chapter 8, exercise 1: TLS with certificates of your own, and a greeting by name.

The exercise: make a certificate authority for the lab, a server
certificate for 127.0.0.1 and a client certificate for `alice`, all signed
by it (here with trustme, a package of the test extra, in place of the
`openssl req` line of chapter 8).  Serve a handler that greets each client
by the name its certificate gives (`context.peer_subject`), with
`Config(tls_cert=..., tls_key=..., tls_ca=...)`: mutual TLS, so every client
must show a certificate signed by the lab's CA.

Done when: a client that trusts the CA and shows alice's certificate is
greeted with a subject naming `CN=alice`; a client that does not trust the CA refuses the
server's certificate; a client with no certificate of its own is refused by
the server.

Run it: python3 docs/answers/08-tls-greeting.py
"""

import os
import socket
import ssl
import tempfile

import _kit
import evloop

try:
    import trustme
except ImportError:
    trustme = None


class Greeting(evloop.LineHandler):
    """The solution: greet the client by its certificate."""

    def connection_made(self, context):
        super().connection_made(context)
        return f"hello, {context.peer_subject}\n".encode()

    def line_received(self, line):
        return line.upper() + b"\n"


def client(port, cafile=None, cert=None):
    """A TLS client; the line it read, or the SSL error that stopped it."""
    context = ssl.create_default_context(cafile=cafile)
    if cert is not None:
        context.load_cert_chain(cert)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        try:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
                sock.sendall(b"over tls\n")
                data = b""
                while data.count(b"\n") < 2:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                return data.decode()
        except (ssl.SSLError, ConnectionResetError) as exc:
            return exc


def main():
    if trustme is None:
        _kit.skip("trustme is not installed (pip install trustme, or the test extra)")
    ca = trustme.CA(organization_name="Lab")
    server_cert = ca.issue_cert("127.0.0.1", "localhost")
    alice = ca.issue_cert("alice@lab.example", common_name="alice")
    with tempfile.TemporaryDirectory() as folder:
        paths = {name: os.path.join(folder, name + ".pem") for name in ("server", "ca", "alice")}
        server_cert.private_key_and_cert_chain_pem.write_to_path(paths["server"])
        ca.cert_pem.write_to_path(paths["ca"])
        alice.private_key_and_cert_chain_pem.write_to_path(paths["alice"])
        with _kit.served(Greeting, tls_cert=paths["server"], tls_key=paths["server"],
                         tls_ca=paths["ca"]) as server:
            port = server.address[1]
            trusted = client(port, cafile=paths["ca"], cert=paths["alice"])
            untrusting = client(port, cert=paths["alice"])  # the system's CAs only
            anonymous = client(port, cafile=paths["ca"])
    _kit.check(isinstance(trusted, str) and trusted.startswith("hello, ")
               and "CN=alice" in trusted.splitlines()[0].split(","),
               f"alice was not greeted by name: {trusted!r}")
    _kit.check(trusted.endswith("OVER TLS\n"), f"alice's line was not answered: {trusted!r}")
    _kit.check(isinstance(untrusting, ssl.SSLCertVerificationError),
               f"a client that does not trust the lab's CA got {untrusting!r}")
    _kit.check(not (isinstance(anonymous, str) and "hello" in anonymous),
               f"a client with no certificate was greeted: {anonymous!r}")
    print(f"alice:            {trusted.splitlines()[0]}")
    print(f"untrusting:       {type(untrusting).__name__}")
    print(f"no certificate:   {anonymous!r}")
    _kit.ok("mutual TLS: alice greeted by her certificate, the others refused")


if __name__ == "__main__":
    main()
