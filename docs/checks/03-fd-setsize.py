"""03-fd-setsize: the FD_SETSIZE wall, met by hand and survived by evloop.

The student's `first_fd_select_rejects()` opens sockets until select()
refuses one, and returns that descriptor's number; `survey(port, clients)`
connects that many clients to an echo server and returns the sockets and,
for each, whether the server echoed a ping.  The grader raises the soft
descriptor limit, runs `evloop.serve --selector select`, and judges: the
wall is at 1024; the first clients were served, some were refused; the
server logged FD_SETSIZE; and once 100 early clients left, a newcomer was
served.  Skipped where the hard limit cannot reach 1,200 descriptors.
"""

import resource
import socket
import time

from docs.checks import _kit

TITLE = "The FD_SETSIZE wall"
CHAPTER = "03-select-poll-epoll.md"
LEVEL = 3
MINUTES = 45

CLIENTS = 1100
NEEDED = 1200  # the clients, plus what the grader itself holds open


def raise_soft_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < NEEDED:
        _kit.skip(f"RLIMIT_NOFILE's hard limit is {hard} here, and the wall is at 1024: "
                  f"{NEEDED} descriptors are needed")
    if soft != resource.RLIM_INFINITY and soft < NEEDED:
        resource.setrlimit(resource.RLIMIT_NOFILE, (NEEDED, hard))


def pings(sock: socket.socket) -> bool:
    try:
        sock.sendall(b"ping")
        return _kit.recv_exactly(sock, 4) == b"ping"
    except (OSError, _kit.Failed):
        return False


def grade(student: _kit.Student) -> str:
    first_fd_select_rejects = student.need("first_fd_select_rejects")
    survey = student.need("survey")
    raise_soft_limit()
    wall = first_fd_select_rejects()
    _kit.check(wall == 1024, f"first_fd_select_rejects() returned {wall!r}: select() refuses "
                             f"descriptor 1024 (FD_SETSIZE) and above, and nothing below")
    with _kit.process("--handler", "echo", "--selector", "select", "--log-level", "warning",
                      "--idle-timeout", "0") as (server, port):
        clients, answered = survey(port, CLIENTS)
        try:
            _kit.check(len(clients) == len(answered) == CLIENTS,
                       f"survey({CLIENTS}) gave {len(clients)} sockets and {len(answered)} answers")
            refused = answered.count(False)
            _kit.check(all(answered[:10]), "survey says the first clients were not served")
            _kit.check(refused > 0, f"survey says all {CLIENTS} clients were served on select()")
            for sock in clients[:100]:  # 100 early clients leave: descriptors below 1024 free up
                sock.close()
            newcomer_served = False
            for _ in range(50):  # the server closes them as it reads their EOF: try a few times
                with _kit.connect(port, timeout=5) as newcomer:
                    newcomer_served = pings(newcomer)
                if newcomer_served:
                    break
                time.sleep(0.05)
            _kit.expect(newcomer_served, "a newcomer was not served after 100 clients left")
        finally:
            for sock in clients:
                sock.close()
    _, log = server.communicate(timeout=15)
    _kit.expect("FD_SETSIZE=1024" in log, "the server's log does not name the FD_SETSIZE limit")
    return f"select() refuses fd 1024; of {CLIENTS} clients {CLIENTS - refused} were served, " \
           f"{refused} refused, and a newcomer was served later"
