"""Exercise 08-tls-greeting: greet the client by its certificate.

Chapter 8 (docs/08-serving-for-real.md, "Exercises").
Difficulty: ★★★ hard.  Time: about 45 minutes.

The task: serve over mutual TLS, every client showing a certificate signed
by the lab's own CA, and greet each client by the name in its certificate.

* `tls_config(cert, key, ca)` returns the server's `evloop.Config`: its
  certificate and private key (`tls_cert`, `tls_key`), and the CA whose
  signature a client's certificate must carry (`tls_ca`);
* `Greeting`, a line handler, greets each client as it connects with
  `hello, SUBJECT` and a newline (`context.peer_subject`), and answers each
  line in capitals.

Make a CA, a server certificate for 127.0.0.1 and a client certificate for
`alice` to try it (the chapter's `openssl req` line, or trustme from the
test extra).  Done when alice, trusting the CA, is greeted by a subject
with `CN=alice` and her line comes back in capitals; a client that does not
trust the CA refuses the server; a client with no certificate is not
greeted.  Without trustme the grader skips, and says so.

Try it:  python3 docs/exercises/08-tls-greeting/starter.py server.pem server.key ca.pem
Grade it:  python3 -m docs.grade 08-tls-greeting docs/exercises/08-tls-greeting/starter.py
"""

import sys

import evloop


def tls_config(cert, key, ca):
    """The server's Config for mutual TLS: its certificate and key, and the clients' CA."""
    return evloop.Config(port=12000)  # Your code here: TLS, and client certificates


class Greeting(evloop.LineHandler):
    """Greet the client by its certificate; answer its lines in capitals."""

    def connection_made(self, context):
        super().connection_made(context)
        # Your code here: what the connection says first.

    def line_received(self, line):
        raise NotImplementedError("Greeting.line_received")


if __name__ == "__main__":
    evloop.run(Greeting, tls_config(*sys.argv[1:4]))
