"""Exercise 06-toy-cancel: cancellation for the toy.

Chapter 6 (docs/06-callbacks-to-coroutines.md, "Exercises").
Difficulty: ★★★ hard.  Time: about 60 minutes.  Do 06-toy-timeout first.

The task: give the toy's Task (bench/coroutines.py) a `cancel()`, as
asyncio's has.  It throws an exception (`Cancelled` below, asyncio's
CancelledError) into the coroutine at its `await`, so that the coroutine's
`except` and `finally` clauses run; and the Future it waited on must
neither wake it later nor leave its reader on a socket the coroutine
closes.  So the Task must remember the Future it waits on, and a Future
must know how to undo what waiting on it set up (`Future.undo` below).
Then give each client of the echo server one second, with
`loop.call_later(DEADLINE, task.cancel)` (already in `serve`).

The grader runs `Task(loop, serve(loop, listener))`.  Done when a quick
client is echoed, a silent one is told `* too slow, bye` and closed when its
second is up, a client after it is served, and the loop holds no reader but
the listener's and its waker's.

Try it:  PYTHONPATH=. python3 docs/exercises/06-toy-cancel/starter.py   (port 12000)
Grade it:  python3 -m docs.grade 06-toy-cancel docs/exercises/06-toy-cancel/starter.py
"""

import socket

import evloop
from bench import coroutines

DEADLINE = 1.0  # seconds a client has to finish


class Cancelled(Exception):
    """Thrown into a coroutine by Task.cancel()."""


class Future(coroutines.Future):
    """The toy's Future, with a cancel() that undoes what waiting on it set up."""

    def __init__(self, undo=None):
        super().__init__()
        self.undo = undo

    def cancel(self):
        raise NotImplementedError("Future.cancel: wake nobody, and undo")


class Task(coroutines.Task):
    """The toy's Task; yours to give a cancel()."""

    def cancel(self):
        # Your code here.  Hints: step() sends into the coroutine; `throw` is its twin.
        # Which Future is the task waiting on? Remember it in step().
        raise NotImplementedError("Task.cancel")


def readable(loop, sock):
    fd = sock.fileno()
    future = Future(undo=lambda: loop.remove_reader(fd))

    def ready():
        loop.remove_reader(fd)
        future.set_result(None)

    loop.add_reader(fd, ready)
    return future


async def echo(loop, sock):
    try:
        while True:
            await readable(loop, sock)
            data = sock.recv(65536)
            if not data:
                return
            await coroutines.send_all(loop, sock, bytearray(data))
    except Cancelled:
        sock.send(b"* too slow, bye\n")  # a short line: the socket's buffer is empty
        raise
    finally:
        sock.close()


async def serve(loop, listener):
    while True:
        await readable(loop, listener)
        sock, _ = listener.accept()
        sock.setblocking(False)
        task = Task(loop, echo(loop, sock))
        loop.call_later(DEADLINE, task.cancel)


if __name__ == "__main__":
    loop = evloop.Loop()
    listener = socket.create_server(("127.0.0.1", 12000))
    listener.setblocking(False)
    Task(loop, serve(loop, listener))
    loop.run()
