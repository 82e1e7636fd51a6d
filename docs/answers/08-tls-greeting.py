"""Answer to 08-tls-greeting: mutual TLS, and a greeting by the client's certificate.

`tls_config` asks for TLS with the server's certificate and key, and for a
client certificate signed by the lab's CA (`tls_ca`): mutual TLS, so every
client must show one.  `Greeting` greets each client by the subject of the
certificate it showed (`context.peer_subject`), and answers its lines in
capitals.  Make the certificates with trustme (the test extra) or with the
`openssl req` line of chapter 8, then:

    python3 docs/answers/08-tls-greeting.py server.pem server.key ca.pem
"""

import sys

import evloop


def tls_config(cert, key, ca):
    """The server's Config for mutual TLS: its certificate and key, and the clients' CA."""
    return evloop.Config(port=12000, tls_cert=cert, tls_key=key, tls_ca=ca)


class Greeting(evloop.LineHandler):
    """Greet the client by its certificate; answer its lines in capitals."""

    def connection_made(self, context):
        super().connection_made(context)
        return f"hello, {context.peer_subject}\n".encode()

    def line_received(self, line):
        return line.upper() + b"\n"


if __name__ == "__main__":
    evloop.run(Greeting, tls_config(*sys.argv[1:4]))
