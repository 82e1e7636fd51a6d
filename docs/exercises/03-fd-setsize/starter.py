"""Exercise 03-fd-setsize: the FD_SETSIZE wall.

Chapter 3 (docs/03-select-poll-epoll.md, "Exercises").
Difficulty: ★★★ hard.  Time: about 45 minutes.

The task, in two parts.  First hit the wall yourself: write
`first_fd_select_rejects()`, which opens sockets until `select.select()`
refuses one (how does Python refuse?), closes them all, and returns the
descriptor number of the one refused.  Then meet the wall from outside:
write `survey(port, clients)`, which connects `clients` clients to an echo
server, keeps them all open, asks each to echo `ping`, and returns the list
of sockets and a list of booleans, True where the server echoed.  A refused
client is closed by the server: its recv() gives b"" or raises.

The grader raises the soft descriptor limit to 1,200, runs
`python3 -m evloop.serve --handler echo --selector select`, surveys 1,100
clients, then closes 100 early ones and connects a newcomer.  Done when the
wall is at descriptor 1024, the first clients were served and some were
refused, the server logged `FD_SETSIZE=1024`, and the newcomer was served.
Where the hard limit is below 1,200 the grader skips, and says so.

Try it:  ulimit -n 1200; python3 -m evloop.serve --handler echo --selector select
         and, in another terminal after the same ulimit,
         python3 docs/exercises/03-fd-setsize/starter.py 12000
Grade it:  python3 -m docs.grade 03-fd-setsize docs/exercises/03-fd-setsize/starter.py
"""

import socket
import sys


def first_fd_select_rejects():
    """Open sockets until select() refuses one; that socket's descriptor number."""
    raise NotImplementedError("first_fd_select_rejects")


def survey(port, clients):
    """Connect `clients` clients at once; (their sockets, whether each was served)."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(clients)]
    served = []
    # Your code here: does each client get its ping echoed?
    return socks, served


if __name__ == "__main__":
    print(f"select() refuses descriptor {first_fd_select_rejects()}")
    socks, served = survey(int(sys.argv[1]), 1100)
    print(f"{served.count(True)} served, {served.count(False)} refused")
