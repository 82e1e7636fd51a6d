"""Answer to 03-fd-setsize: the FD_SETSIZE wall, met by hand and measured on evloop.

Part 1 opens sockets until select() refuses one: Python raises ValueError
rather than write past the fd_set, as C would, from descriptor 1024 on.
Part 2 connects clients to `python3 -m evloop.serve --handler echo
--selector select` and asks each to echo a ping: the server refuses the
clients whose descriptor would be 1024 or more, logs the limit, and goes on
serving the others.  Raise the soft descriptor limit first (`ulimit -n
1200`); the grader does.
"""

import select
import socket
import sys


def first_fd_select_rejects():
    """Open sockets until select() raises ValueError; that socket's descriptor number."""
    held = []
    try:
        while True:
            sock = socket.socket()
            held.append(sock)
            try:
                select.select([sock], [], [], 0)
            except ValueError:
                return sock.fileno()
    finally:
        for sock in held:
            sock.close()


def pings(sock):
    """Does the echo server answer on this connection?"""
    try:
        sock.sendall(b"ping")
        data = b""
        while len(data) < 4:
            chunk = sock.recv(4 - len(data))
            if not chunk:
                return False
            data += chunk
        return data == b"ping"
    except OSError:
        return False


def survey(port, clients):
    """Connect `clients` clients at once; (their sockets, whether each was served)."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(clients)]
    return socks, [pings(sock) for sock in socks]


if __name__ == "__main__":
    print(f"select() refuses descriptor {first_fd_select_rejects()}")
    socks, served = survey(int(sys.argv[1]), 1100)
    print(f"{served.count(True)} served, {served.count(False)} refused")
