"""Answer to 01-uppercase-handler: the labs' uppercase server, as an evloop handler.

No socket here: bytes in, bytes out.  Serve it by hand with
`python3 docs/answers/01-uppercase-handler.py` (port 12000), or grade it with
`python3 -m docs.grade 01-uppercase-handler docs/answers/01-uppercase-handler.py`.
"""

import evloop


class Uppercase(evloop.Handler):
    """Each chunk of bytes is answered, uppercased, as it comes."""

    def data_received(self, data):
        # The lab's server did `sock.recv(1024).decode().upper()` and hoped one recv()
        # was one sentence.  Here each chunk is answered as it comes, so a sentence split
        # over two recv()s still comes back whole, in two pieces, in order.  Bytes
        # outside ASCII pass unchanged (bytes.upper() leaves them): UTF-8 text survives.
        return data.upper()


if __name__ == "__main__":
    evloop.run(Uppercase, evloop.Config(port=12000))
