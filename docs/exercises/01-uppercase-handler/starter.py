"""Exercise 01-uppercase-handler: the uppercase server, as a handler.

Chapter 1 (docs/01-from-the-labs.md, "Exercises").
Difficulty: ★☆☆ easy.  Time: about 15 minutes.

The task: write Kurose and Ross's uppercase server (receive a sentence,
send it back in capitals) as an evloop handler: a class `Uppercase`, a
subclass of `evloop.Handler`, with one method and no socket.  Serve it and
see that a client who connects and says nothing no longer holds up the
lab's own client (one send(), no newline, one recv()).

Done when: the lab client gets `HELLO, WORLD` back while a silent client is
connected, UTF-8 text such as `café au lait` comes back as `CAFé AU LAIT`,
and the silent client is answered once it speaks.

Try it:  python3 docs/exercises/01-uppercase-handler/starter.py   (serves on port 12000)
Grade it:  python3 -m docs.grade 01-uppercase-handler docs/exercises/01-uppercase-handler/starter.py
"""

import evloop


class Uppercase(evloop.Handler):
    """Bytes in, the same bytes in capitals out."""

    def data_received(self, data):
        # Your code here: what should go back to the client?
        raise NotImplementedError("Uppercase.data_received")


if __name__ == "__main__":
    evloop.run(Uppercase, evloop.Config(port=12000))
