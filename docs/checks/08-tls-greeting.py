"""08-tls-greeting: mutual TLS, and a client greeted by its certificate's name.

The grader makes a lab CA, a server certificate for 127.0.0.1 and a client
certificate for alice (with trustme, from the test extra), asks the
student's `tls_config(cert, key, ca)` for the server's Config, and serves
the student's `Greeting` with it.  Judged: a client that trusts the CA and
shows alice's certificate is greeted by a subject naming CN=alice and its
line is answered; a client that does not trust the CA refuses the server;
a client with no certificate is not greeted.  Skipped without trustme.
"""

import dataclasses
import os
import socket
import ssl
import tempfile

from docs.checks import _kit

TITLE = "Greet the client by its certificate"
CHAPTER = "08-serving-for-real.md"
LEVEL = 3
MINUTES = 45


def client(port: int, cafile: str | None = None, cert: str | None = None) -> object:
    """A TLS client; what it read (two lines), or the error that stopped it."""
    context = ssl.create_default_context(cafile=cafile)
    if cert is not None:
        context.load_cert_chain(cert)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
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


def grade(student: _kit.Student) -> str:
    import evloop
    try:
        import trustme
    except ImportError:
        _kit.skip("trustme is not installed (pip install trustme, or the test extra)")
    greeting = student.need("Greeting")
    tls_config = student.need("tls_config")
    ca = trustme.CA(organization_name="Lab")
    server_cert = ca.issue_cert("127.0.0.1", "localhost")
    alice = ca.issue_cert("alice@lab.example", common_name="alice")
    with tempfile.TemporaryDirectory() as folder:
        paths = {name: os.path.join(folder, name + ".pem") for name in ("server", "key", "ca", "alice")}
        server_cert.cert_chain_pems[0].write_to_path(paths["server"])
        server_cert.private_key_pem.write_to_path(paths["key"])
        ca.cert_pem.write_to_path(paths["ca"])
        alice.private_key_and_cert_chain_pem.write_to_path(paths["alice"])
        config = tls_config(paths["server"], paths["key"], paths["ca"])
        _kit.check(isinstance(config, evloop.Config), f"tls_config returned {config!r}, "
                                                      f"not an evloop.Config")
        _kit.check(config.tls_ca == paths["ca"], "tls_config's Config does not ask clients for "
                                                 "a certificate signed by the CA (tls_ca)")
        config = dataclasses.replace(config, host="127.0.0.1", port=0)
        server = evloop.Server(greeting, config)
        with _kit.served_server(server):
            port = server.address[1]
            trusted = client(port, cafile=paths["ca"], cert=paths["alice"])
            untrusting = client(port, cert=paths["alice"])  # the system's CAs only
            anonymous = client(port, cafile=paths["ca"])
    _kit.check(isinstance(trusted, str), f"alice could not talk to the server: {trusted!r}")
    assert isinstance(trusted, str)
    first = trusted.splitlines()[0] if trusted else ""
    _kit.expect(first.startswith("hello, ") and "CN=alice" in first,
                f"alice was greeted {first!r}, not 'hello, SUBJECT' with CN=alice in it")
    _kit.expect(trusted.endswith("OVER TLS\n"), f"alice's line was not answered in capitals: "
                                                f"{trusted!r}")
    _kit.expect(isinstance(untrusting, ssl.SSLCertVerificationError),
                f"a client that does not trust the lab's CA got {untrusting!r}")
    _kit.expect(not (isinstance(anonymous, str) and "hello" in anonymous),
                f"a client with no certificate was greeted: {anonymous!r}")
    return f"alice was greeted {first!r}; the others were refused"
