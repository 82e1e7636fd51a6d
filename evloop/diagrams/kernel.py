"""The kernel's side of TCP, measured on loopback: the accept queue, and a socket's two buffers.

Every server in the course rests on queues the kernel keeps, which no
Python object shows.  `measure()` fills them on 127.0.0.1 and reads them:

* the accept queue: a listener with `listen(BACKLOG)` that never accepts,
  and clients that connect one after another.  The kernel completes each
  handshake and queues the connection until the queue is full; after that
  it drops a client's SYN, and the client, in SYN-SENT, tries again later.
  A client is counted as queued if it is connected within `WAIT` seconds
  (a handshake on loopback takes microseconds; a dropped SYN is sent again
  only after a second).  The queue's length is read back from the kernel
  too: /proc/net/tcp's rx_queue column, for a listening socket;
* the buffers: one accepted connection where each side sends without
  ever reading, until `send()` raises BlockingIOError.  What it took waits
  in the sender's send buffer (SIOCOUTQ: sent, not yet acknowledged) and
  the receiver's receive buffer (FIONREAD: arrived, not yet read); on
  loopback nothing is on the wire, so the two add up to what `send()`
  took.  SO_SNDBUF and SO_RCVBUF are the sockets' limits, as the kernel
  reports them (with its bookkeeping: the bytes fit in less).

`mermaid()` draws both, labelled with the figures, as two flowcharts.
Linux only (the ioctls and /proc); the figures differ from machine to
machine, the shape does not, and a test checks the chapter's picture
against a new run (`scripts/draw-pictures kernel`).
"""

from __future__ import annotations

import fcntl
import re
import select
import socket
import termios
import time
from dataclasses import dataclass

BACKLOG = 4
DROPPED = 2       # clients connected after the queue is full
WAIT = 1.0        # seconds a queued client's handshake may take, at most
SETTLE = 5.0      # seconds the buffers may take to reach a steady state, at most
CHUNK = 65536
SIOCOUTQ = termios.TIOCOUTQ  # on a socket: bytes in the send queue
SIOCINQ = termios.FIONREAD   # on a socket: bytes in the receive queue


@dataclass(frozen=True)
class Direction:
    """One way through a connection: what `send()` took, and where it waits."""

    sender: str
    receiver: str
    sent: int           # what send() took before BlockingIOError
    send_queued: int    # in the sender's send buffer (SIOCOUTQ)
    receive_queued: int  # in the receiver's receive buffer (FIONREAD)
    sndbuf: int         # the sender's SO_SNDBUF
    rcvbuf: int         # the receiver's SO_RCVBUF


@dataclass(frozen=True)
class Measures:
    backlog: int
    connected: int      # clients whose handshake the kernel completed: in the queue
    waiting: int        # clients whose SYN it dropped (SYN-SENT)
    queue_length: int   # the listener's accept queue, as /proc/net/tcp says
    directions: tuple[Direction, ...]


def queued(sock: socket.socket) -> tuple[int, int]:
    """(bytes in the send queue, bytes in the receive queue) of a connected socket."""
    out = fcntl.ioctl(sock.fileno(), SIOCOUTQ, b"\0\0\0\0")
    inq = fcntl.ioctl(sock.fileno(), SIOCINQ, b"\0\0\0\0")
    return int.from_bytes(out, "little"), int.from_bytes(inq, "little")


def listen_queue(port: int) -> int:
    """The accept queue's length of the IPv4 listener on `port`, from /proc/net/tcp."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, state, queues = fields[1], fields[3], fields[4]
            if state == "0A" and int(local.split(":")[1], 16) == port:  # 0A: LISTEN
                return int(queues.split(":")[1], 16)
    raise LookupError(f"no listener on port {port} in /proc/net/tcp")


def connect_until_full(address: tuple[str, int], dropped: int) -> tuple[list[socket.socket], int]:
    """Connect clients one at a time until `dropped` of them are not let in.
    Returns the clients (the connected ones first) and how many got in."""
    clients: list[socket.socket] = []
    connected = 0
    while len(clients) - connected < dropped:
        client = socket.socket()
        client.setblocking(False)
        client.connect_ex(address)
        clients.append(client)
        if connected == len(clients) - 1:  # none refused yet: wait for this one
            _, writable, _ = select.select([], [client], [], WAIT)
            connected += bool(writable)
    return clients, connected


def fill(sender: socket.socket, receiver: socket.socket, names: tuple[str, str]) -> Direction:
    """Send from `sender` until the kernel takes no more; the receiver never reads."""
    sent, deadline = 0, time.monotonic() + SETTLE
    while True:
        try:
            while True:
                sent += sender.send(b"x" * CHUNK)
        except BlockingIOError:
            pass
        # Until the acknowledgements are in, a byte may count in both queues.
        while queued(sender)[0] + queued(receiver)[1] != sent and time.monotonic() < deadline:
            time.sleep(0.001)
        try:
            sent += sender.send(b"x" * CHUNK)  # room freed meanwhile: fill it, and look again
        except BlockingIOError:
            break
        if time.monotonic() > deadline:
            break
    return Direction(names[0], names[1], sent, queued(sender)[0], queued(receiver)[1],
                     sender.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF),
                     receiver.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))


def measure(backlog: int = BACKLOG, dropped: int = DROPPED) -> Measures:
    """Fill the accept queue and one connection's buffers on loopback, and read them."""
    listener = socket.socket()
    clients: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(backlog)
        clients, connected = connect_until_full(listener.getsockname(), dropped)
        waiting = len(clients) - connected
        length = listen_queue(listener.getsockname()[1])
        server, _ = listener.accept()  # the first client's connection
        clients.append(server)  # to be closed with them
        server.setblocking(False)
        directions = (fill(clients[0], server, ("client", "server")),
                      fill(server, clients[0], ("server", "client")))
        return Measures(backlog, connected, waiting, length, directions)
    finally:
        for sock in clients:
            sock.close()
        listener.close()


def number(n: int) -> str:
    return f"{n:,}"


def mermaid(m: Measures) -> tuple[str, str]:
    """The accept queue, then the buffers of one connection, as two Mermaid flowcharts."""
    total = m.connected + m.waiting
    accept = ["flowchart LR",
              f'    clients["{total} clients:<br/>connect(), one after another"]',
              f'    subgraph listener ["the listening socket: listen({m.backlog})"]',
              f'        queue[("accept queue: {m.queue_length} connections,<br/>'
              'handshake done, not accepted")]',
              "    end",
              f'    syn["{m.waiting} clients in SYN-SENT:<br/>'
              'their SYN dropped, sent again later"]',
              '    server["the server"]',
              f'    clients -->|"{m.connected} handshakes"| queue',
              '    clients -.->|"the queue is full"| syn',
              '    queue -->|"accept(): the oldest"| server']
    buffers = ["flowchart LR"]
    for n, d in enumerate(m.directions):
        buffers += [f'    subgraph d{n} ["{d.sender} to {d.receiver}: '
                    f'send() took {number(d.sent)} B, then nothing more"]',
                    "        direction LR",
                    f'        w{n}["{d.sender}:<br/>send()"]',
                    f'        o{n}[("{d.sender}\'s send buffer:<br/>{number(d.send_queued)} B '
                    f'queued<br/>SO_SNDBUF {number(d.sndbuf)}")]',
                    f'        i{n}[("{d.receiver}\'s receive buffer:<br/>'
                    f'{number(d.receive_queued)} B queued<br/>SO_RCVBUF {number(d.rcvbuf)}")]',
                    f'        r{n}["{d.receiver}:<br/>recv(), never called"]',
                    f'        w{n} -->|"fills"| o{n}',
                    f'        o{n} -->|"as the window allows"| i{n}',
                    f'        i{n} -.->|"would drain"| r{n}',
                    "    end"]
    return "\n".join(accept), "\n".join(buffers)


def shape(picture: str) -> str:
    """The picture with its figures replaced by N: what a new run must draw the same."""
    return re.sub(r"\d[\d,]*", "N", picture)
