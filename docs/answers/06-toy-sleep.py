"""Answer to 06-toy-sleep: sleep() for the chapter's toy coroutines.

`sleep` is a Future that a timer resolves: the Task sleeps on it as on a
socket, and the loop serves others meanwhile.  `slow_echo` serves one
client: `SECONDS WORD` in, WORD back after that long.

Serve it by hand: `PYTHONPATH=. python3 docs/answers/06-toy-sleep.py` (port 12000).
"""

import socket

import evloop
from bench import coroutines


async def sleep(loop, seconds):
    """Suspend the calling coroutine for `seconds`, without stopping the loop."""
    future = coroutines.Future()
    loop.call_later(seconds, future.set_result, None)
    await future


async def slow_echo(loop, sock):
    try:
        seconds, word = (await coroutines.recv(loop, sock)).split()
        await sleep(loop, float(seconds))
        await coroutines.send_all(loop, sock, bytearray(word))
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
