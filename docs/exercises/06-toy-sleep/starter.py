"""Exercise 06-toy-sleep: sleep() for the toy.

Chapter 6 (docs/06-callbacks-to-coroutines.md, "Exercises").
Difficulty: ★☆☆ easy.  Time: about 20 minutes.

The task: add to the chapter's toy (bench/coroutines.py) a coroutine
`sleep(loop, seconds)` that suspends its caller for that long without
stopping the loop: a Future that a timer (`loop.call_later`) resolves,
awaited as a socket's Future is.  Then write `slow_echo(loop, sock)`, which
serves one client of a "slow echo": it reads `SECONDS WORD`, sleeps that
long, sends WORD back and closes the socket.

The grader accepts clients and starts `coroutines.Task(loop, slow_echo(loop,
sock))` for each.  Done when a client that asked for 1 s and one that asked,
just after, for 0.1 s are both answered, the short one first and long
before the other's second is up: both slept at once, on one thread.

Try it:  PYTHONPATH=. python3 docs/exercises/06-toy-sleep/starter.py   (port 12000), then
         python3 -c "import socket; s = socket.create_connection(('127.0.0.1', 12000)); s.sendall(b'0.5 hi'); print(s.recv(9))"
Grade it:  python3 -m docs.grade 06-toy-sleep docs/exercises/06-toy-sleep/starter.py
"""

import socket

import evloop
from bench import coroutines


async def sleep(loop, seconds):
    """Suspend the calling coroutine for `seconds`, without stopping the loop."""
    raise NotImplementedError("sleep")


async def slow_echo(loop, sock):
    try:
        seconds, word = (await coroutines.recv(loop, sock)).split()
        # Your code here: sleep, then send the word back (coroutines.send_all).
    finally:
        sock.close()


async def serve(loop, listener):
    while True:
        sock, _ = await coroutines.accept(loop, listener)
        coroutines.Task(loop, slow_echo(loop, sock))


if __name__ == "__main__":
    loop = evloop.Loop()
    listener = socket.create_server(("127.0.0.1", 12000))
    listener.setblocking(False)
    coroutines.Task(loop, serve(loop, listener))
    loop.run()
