"""Answer to 06-toy-timeout: a receive with a deadline, for the toy coroutines.

Two things may wake the coroutine: the socket becoming readable, or the
deadline's timer.  Whichever comes first resolves one Future, and undoes the
other: the timer is cancelled, or the reader removed.  Forgetting either
leaves something behind: a timer that fires later and resolves the Future a
second time (waking a coroutine that has moved on), or a reader on a socket
the coroutine closes, whose descriptor number the next client may be given.

Serve it by hand: `PYTHONPATH=. python3 docs/answers/06-toy-timeout.py`
(port 12000): an echo that gives each read one second.
"""

import socket

import evloop
from bench import coroutines


async def recv_within(loop, sock, seconds):
    """What `sock` gives (b"" at EOF), or None if nothing came within `seconds`."""
    fd = sock.fileno()
    future = coroutines.Future()

    def readable():
        loop.remove_reader(fd)
        timer.cancel()
        future.set_result(True)

    def too_late():
        loop.remove_reader(fd)
        future.set_result(False)

    loop.add_reader(fd, readable)
    timer = loop.call_later(seconds, too_late)
    if await future:
        return sock.recv(65536)
    return None


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
