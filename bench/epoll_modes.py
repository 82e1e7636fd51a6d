"""Level-triggered against edge-triggered epoll, shown on one socket pair (chapter 3).

    python3 bench/epoll_modes.py

The peer writes 10 bytes; the reader reads 4 and asks epoll again.
Level-triggered (EPOLLIN) reports the reader as long as bytes wait in its
receive buffer, so the next poll reports it again.  Edge-triggered
(EPOLLIN | EPOLLET) reports a change: new bytes arriving.  The 6 bytes left
behind are no new event, so the next poll is silent until the peer writes
again, and a reader that stopped early would wait for them forever.  So an
edge-triggered reader reads until recv() raises BlockingIOError (EAGAIN).

Every poll has a timeout of 0: it answers at once, and the output is the same
on every run.  Linux only (epoll).
"""

import select
import socket

WRITTEN = b"0123456789"
READ_SIZE = 4


def poll_once(epoll, reader):
    """What one epoll_wait() with a timeout of 0 says about the reader."""
    events = dict(epoll.poll(0))
    return "reader ready" if events.get(reader.fileno(), 0) & select.EPOLLIN else "nothing"


def read_until_eagain(reader):
    """Read everything that waits: the edge-triggered reader's duty."""
    data = b""
    while True:
        try:
            chunk = reader.recv(READ_SIZE)
        except BlockingIOError:  # EAGAIN: the buffer is empty, the next edge will come
            return data
        data += chunk


def show(title, mask):
    print(title)
    reader, peer = socket.socketpair()
    reader.setblocking(False)
    with reader, peer, select.epoll() as epoll:
        epoll.register(reader.fileno(), mask)
        peer.send(WRITTEN)
        print(f"  peer sends {len(WRITTEN)} bytes")
        print(f"  poll: {poll_once(epoll, reader)}")
        got = reader.recv(READ_SIZE)
        print(f"  recv({READ_SIZE}) reads {len(got)} bytes; {len(WRITTEN) - len(got)} wait")
        print(f"  poll: {poll_once(epoll, reader)}")
        peer.send(b"!")
        print("  peer sends 1 byte")
        print(f"  poll: {poll_once(epoll, reader)}")
        print(f"  read until EAGAIN: {len(read_until_eagain(reader))} bytes")
        print(f"  poll: {poll_once(epoll, reader)}")


def main():
    show("level-triggered (EPOLLIN)", select.EPOLLIN)
    show("edge-triggered (EPOLLIN | EPOLLET)", select.EPOLLIN | select.EPOLLET)


if __name__ == "__main__":
    main()
