"""Coroutines from scratch: a Future, a Task, and a coroutine per client, on evloop.Loop.

Chapter 6 builds this file a piece at a time, as the crawler chapter of
"500 Lines or Less" builds its own (A. Jesse Jiryu Davis and Guido van
Rossum, "A Web Crawler With asyncio Coroutines"):

* a Future is a result that is not there yet, and the callbacks to call
  when it comes;
* a coroutine runs until it awaits a Future, and is suspended there:
  `await future` hands the Future itself to whoever drives the coroutine;
* a Task drives one coroutine: it asks the Future the coroutine waits on
  to call it back, and when it does, sends the result in and runs the
  coroutine to its next await.  That is all "resuming" means;
* evloop's Loop resolves the Futures: a socket that is readable or
  writable calls a reader or writer (`add_reader`, `add_writer`), which
  sets a Future's result.

The protocol is an evloop handler (bench.common), as in every model here.
What a handler pushes outside a reply leaves with its next reply, so this
toy serves chat only to clients that speak.  A Task that raises is
reported through the loop's one error path, and the other clients go on.
What asyncio's Task does that this one does not is the chapter's last part.
"""

import signal

import evloop
from bench import common


class Future:
    """A result that is not there yet, and the callbacks to call when it comes."""

    def __init__(self):
        self.result = None
        self.callbacks = []

    def add_done_callback(self, callback):
        self.callbacks.append(callback)

    def set_result(self, result):
        self.result = result
        for callback in self.callbacks:
            callback(self)

    def __await__(self):
        return (yield self)  # to the Task, which sends the result back in

    __iter__ = __await__  # so that a generator may `yield from` a Future too


class Task:
    """Drives one coroutine: a step now, and one each time its Future is resolved."""

    def __init__(self, loop, coro):
        self.loop = loop
        self.coro = coro
        self.step(None)

    def step(self, result):
        try:
            future = self.coro.send(result)  # run to the next await
        except StopIteration:
            return  # the coroutine returned: the task is done
        except Exception as exc:  # it raised: report it, and the loop goes on
            self.loop.call_exception_handler(
                {"message": f"task {self.coro.__name__}() raised", "exception": exc})
            return
        future.add_done_callback(self.wakeup)

    def wakeup(self, future):
        self.step(future.result)


def readable(loop, sock):
    """A Future resolved when `sock` can be read (or accepted from) without blocking."""
    future = Future()

    def ready():
        loop.remove_reader(sock.fileno())
        future.set_result(None)

    loop.add_reader(sock.fileno(), ready)
    return future


def writable(loop, sock):
    """A Future resolved when `sock` has room to send."""
    future = Future()

    def ready():
        loop.remove_writer(sock.fileno())
        future.set_result(None)

    loop.add_writer(sock.fileno(), ready)
    return future


async def accept(loop, listener):
    await readable(loop, listener)
    sock, address = listener.accept()
    sock.setblocking(False)
    return sock, address


async def recv(loop, sock):
    await readable(loop, sock)
    return sock.recv(common.RECV_SIZE)


async def send_all(loop, sock, buffer):
    """Send and empty `buffer`: what the kernel takes now, the rest when there is room."""
    while buffer:
        try:
            del buffer[:sock.send(buffer)]
        except BlockingIOError:  # the socket's output buffer is full
            await writable(loop, sock)


async def serve(loop, listener, factory):
    while True:
        sock, address = await accept(loop, listener)
        Task(loop, handle(loop, sock, address, factory))


async def handle(loop, sock, address, factory):
    """One client, start to end: the labs' blocking loop, with `await` where it waited."""
    handler = factory()
    to_send = bytearray()  # the handler's replies, and what it pushes
    context = common.SimpleContext(f"{address[0]}:{address[1]}", to_send.extend, loop.call_later)
    try:
        to_send += handler.connection_made(context) or b""
        while not context.closing:
            await send_all(loop, sock, to_send)
            data = await recv(loop, sock)
            to_send += (handler.data_received(data) if data else handler.eof_received()) or b""
            if not data:
                break
        await send_all(loop, sock, to_send)
    except (evloop.ProtocolError, OSError):
        pass  # a bad message or a vanished client ends this client only
    finally:
        handler.connection_lost(None)
        sock.close()


def main():
    options = common.parse_args("coroutines")
    loop = evloop.Loop()
    listener = common.listen(options)  # prints the startup line
    listener.setblocking(False)
    Task(loop, serve(loop, listener, options.factory))
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, lambda signum: loop.stop())
    loop.run()
    loop.close()


if __name__ == "__main__":
    common.run(main)
