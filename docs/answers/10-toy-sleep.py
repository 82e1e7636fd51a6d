"""Chapter 10, exercise 1: `sleep(seconds)` for the chapter's toy coroutines.

The exercise: add to bench/coroutines.py's toy a coroutine `sleep(loop,
seconds)` that suspends its caller for that long without stopping the
loop: a Future that a timer (`loop.call_later`) resolves, awaited as a
socket's Future is.  Then serve, on the toy, a "slow echo": each client
sends `SECONDS WORD`, and gets WORD back after sleeping that long.

Done when: a client that asked for a long sleep and one that asked, just
after, for a short one are both answered right, the short one first, and
the short sleep began before the long one ended (the two clients slept at
the same time, on one thread).

Run it: python3 docs/answers/10-toy-sleep.py
"""

import socket
import threading

import _kit
import evloop
from bench import coroutines


async def sleep(loop, seconds):
    """The solution: a Future resolved by a timer; the Task sleeps on it as on a socket."""
    future = coroutines.Future()
    loop.call_later(seconds, future.set_result, None)
    await future


async def slow_echo(loop, sock, log):
    try:
        seconds, word = (await coroutines.recv(loop, sock)).split()
        log.append(("starts", word.decode()))
        await sleep(loop, float(seconds))
        log.append(("ends", word.decode()))
        await coroutines.send_all(loop, sock, bytearray(word))
    finally:
        sock.close()


async def serve(loop, listener, log):
    while True:
        sock, _ = await coroutines.accept(loop, listener)
        coroutines.Task(loop, slow_echo(loop, sock, log))


def main():
    loop = evloop.Loop()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    log = []
    coroutines.Task(loop, serve(loop, listener, log))
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        port = listener.getsockname()[1]
        with _kit.connect(port) as long_sleeper, _kit.connect(port) as short_sleeper:
            long_sleeper.sendall(b"0.6 tortoise")
            short_sleeper.sendall(b"0.1 hare")
            replies = [_kit.recv_until_eof(short_sleeper), _kit.recv_until_eof(long_sleeper)]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        listener.close()
    _kit.check(replies == [b"hare", b"tortoise"], f"the replies were {replies}")
    # Both sleeps began before either ended (in whichever order the two were read).
    _kit.check(sorted(log[:2]) == [("starts", "hare"), ("starts", "tortoise")]
               and log[2:] == [("ends", "hare"), ("ends", "tortoise")], f"the sleeps went {log}")
    _kit.ok("both echoed; the hare slept while the tortoise did, and woke first")


if __name__ == "__main__":
    main()
