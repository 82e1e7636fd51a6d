"""Chapter 10, exercise 2: cancellation for the chapter's toy Task.

The exercise: give bench/coroutines.py's Task a `cancel()`, as asyncio's
has.  It throws an exception (`Cancelled` here, asyncio's CancelledError)
into the coroutine where it waits, so that the coroutine's `except` and
`finally` clauses run; and the Future it waited on must neither wake it
later nor leave its reader installed on a socket the coroutine closes.
(That last part is the trap: evloop's Loop would still hold a reader for
the closed descriptor, and the next socket given the same number would
never be watched.)  Then give each client of an echo server one second to
finish, with `loop.call_later(DEADLINE, task.cancel)`.

Done when: a quick client gets its echo; a client that says nothing is
told `* too slow, bye` and closed when its second is up; a client after it
(most likely on the same descriptor number) is echoed; and the loop holds
no reader but the listener's and its own waker's.

Run it: python3 docs/answers/10-toy-cancel.py
"""

import socket
import threading
import time

import _kit
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
    """The solution: the toy's Task, remembering the Future it waits on."""

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


def in_loop(loop, fn):
    """fn() run in the loop's thread, its result brought back here."""
    done, box = threading.Event(), []
    loop.call_soon_threadsafe(lambda: (box.append(fn()), done.set()))
    done.wait(10)
    return box[0]


def main():
    loop = evloop.Loop()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    Task(loop, serve(loop, listener))
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        port = listener.getsockname()[1]
        with _kit.connect(port) as quick:
            quick.sendall(b"quick")
            quick_echo = _kit.recv_exactly(quick, 5)
        with _kit.connect(port) as silent:
            told = _kit.recv_until_eof(silent)  # nothing sent: wait for the deadline
        with _kit.connect(port) as after:
            after.sendall(b"after")
            after_echo = _kit.recv_exactly(after, 5)
        readers = in_loop(loop, lambda: loop.statistics().readers)
        for _ in range(250):  # the "after" client's task may not have seen its EOF yet
            if readers <= 2:
                break
            time.sleep(0.02)
            readers = in_loop(loop, lambda: loop.statistics().readers)
    except socket.timeout:
        _kit.fail("a client waited 10 s for its reply: was its socket ever watched?")
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        listener.close()
    _kit.check(quick_echo == b"quick", f"the quick client got {quick_echo!r}")
    _kit.check(told == b"* too slow, bye\n", f"the silent client got {told!r}")
    _kit.check(after_echo == b"after", f"the client after it got {after_echo!r}")
    _kit.check(readers == 2, f"{readers} readers left, not the listener's and the waker's")
    _kit.ok("echoed, cancelled at the deadline with a goodbye, and served again after")


if __name__ == "__main__":
    main()
