"""Exercise 06-toy-timeout: a receive with a deadline.

Chapter 6 (docs/06-callbacks-to-coroutines.md, "Exercises").
Difficulty: ★★☆ medium.  Time: about 30 minutes.

The step between `sleep()` and cancellation.  The task: write
`recv_within(loop, sock, seconds)` for the toy (bench/coroutines.py): it
returns what `sock.recv()` gives (b"" at EOF) if the socket becomes
readable within `seconds`, and None if it does not.  Two things may wake
the coroutine, a reader (`loop.add_reader`) and a timer (`loop.call_later`,
which returns a Timer with `cancel()`); whichever comes first resolves one
Future, and the other must be undone.  A timer left behind fires later and
resolves the Future a second time; a reader left behind watches a socket
the coroutine is about to close.

The grader serves an echo, `echo` below, that gives each read one second.
Done when a quick client is echoed, and after it leaves the loop holds no
timer and only two readers (the listener's and its own waker's); a silent
client is told `* too slow, bye` after about a second; a client after it is
echoed; and at the end nothing is left behind.

Try it:  PYTHONPATH=. python3 docs/exercises/06-toy-timeout/starter.py   (port 12000)
Grade it:  python3 -m docs.grade 06-toy-timeout docs/exercises/06-toy-timeout/starter.py
"""

import socket

import evloop
from bench import coroutines


async def recv_within(loop, sock, seconds):
    """What `sock` gives (b"" at EOF), or None if nothing came within `seconds`."""
    future = coroutines.Future()
    # Your code here: a reader and a timer, each resolving `future` and undoing the other.
    raise NotImplementedError("recv_within")
    await future


async def echo(loop, sock):
    try:
        while (data := await recv_within(loop, sock, 1.0)) is not None:
            if not data:
                return
            await coroutines.send_all(loop, sock, bytearray(data))
        sock.send(b"* too slow, bye\n")
    finally:
        sock.close()


async def serve(loop, listener):
    while True:
        sock, _ = await coroutines.accept(loop, listener)
        coroutines.Task(loop, echo(loop, sock))


if __name__ == "__main__":
    loop = evloop.Loop()
    listener = socket.create_server(("127.0.0.1", 12000))
    listener.setblocking(False)
    coroutines.Task(loop, serve(loop, listener))
    loop.run()
