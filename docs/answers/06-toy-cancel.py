"""Answer to 06-toy-cancel: cancellation for the chapter's toy Task.

`Task.cancel()` throws `Cancelled` (asyncio's CancelledError) into the
coroutine where it waits, so that its `except` and `finally` clauses run;
and the Future it waited on neither wakes it later nor leaves its reader
installed on a socket the coroutine closes.  (That last part is the trap:
evloop's Loop would still hold a reader for the closed descriptor, and the
next socket given the same number would never be watched.)  Each client of
the echo has one second, with `loop.call_later(DEADLINE, task.cancel)`.

Serve it by hand: `PYTHONPATH=. python3 docs/answers/06-toy-cancel.py` (port 12000).
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
        self.callbacks.clear()  # nobody is woken by it any more
        if self.undo is not None:
            self.undo()


class Task(coroutines.Task):
    """The toy's Task, remembering the Future it waits on."""

    def __init__(self, loop, coro):
        self.waiting = None
        super().__init__(loop, coro)

    def step(self, result, error=None):
        self.waiting = None
        try:
            future = self.coro.throw(error) if error else self.coro.send(result)
        except (StopIteration, Cancelled):
            return  # returned, or let the cancellation end it: done either way
        except Exception as exc:
            self.loop.call_exception_handler(
                {"message": f"task {self.coro.__name__}() raised", "exception": exc})
            return
        self.waiting = future
        future.add_done_callback(self.wakeup)

    def cancel(self):
        if self.waiting is None:
            return  # already done
        self.waiting.cancel()
        self.step(None, Cancelled())


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
