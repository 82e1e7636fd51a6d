"""Chapter 4, exercise 2: the FD_SETSIZE wall, met and survived.

The exercise, in two parts.  First hit the wall yourself: open sockets until
one gets descriptor 1024 or more, and give it to `select.select()`.  Then show
that evloop on `--selector select` meets the same wall without crashing: it
refuses the clients whose descriptor would be 1024 or more, says so in its
log, and goes on serving the others, and a client that arrives once
descriptors below 1024 are free again is served.

Done when: select() rejected descriptor >= 1024 (Python raises ValueError
rather than write past the fd_set, as C would); the server refused some of
1,100 clients, logged the FD_SETSIZE limit, served the first clients
throughout, and served a newcomer after 100 early clients left.

Needs a soft RLIMIT_NOFILE of 1,200 or more (raised here within the hard
limit); a machine whose hard limit is lower skips it, with exit code 77.

Run it: python3 docs/answers/04-fd-setsize.py
"""

import resource
import select
import socket
import time

import _kit

CLIENTS = 1100
NEEDED = 1200  # the clients, plus what the test itself holds open


def raise_soft_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < NEEDED:
        _kit.skip(f"RLIMIT_NOFILE's hard limit is {hard} here, and the wall is at 1024: "
                  f"{NEEDED} descriptors are needed")
    if soft != resource.RLIM_INFINITY and soft < NEEDED:
        resource.setrlimit(resource.RLIMIT_NOFILE, (NEEDED, hard))


def select_rejects_fd_1024():
    """Part 1: the wall itself."""
    held = []
    try:
        while not held or held[-1].fileno() < 1024:
            held.append(socket.socket())
        high = held[-1]
        try:
            select.select([high], [], [], 0)
        except ValueError as exc:
            print(f"select.select() on fd {high.fileno()}: ValueError: {exc}")
            return
        _kit.fail(f"select.select() accepted fd {high.fileno()}")
    finally:
        for sock in held:
            sock.close()


def served(sock):
    """Does the echo server still answer on this connection?"""
    try:
        sock.sendall(b"ping")
        return _kit.recv_exactly(sock, 4) == b"ping"
    except (OSError, EOFError):
        return False


def main():
    raise_soft_limit()
    select_rejects_fd_1024()
    with _kit.process("--handler", "echo", "--selector", "select", "--log-level", "warning",
                      "--idle-timeout", "0") as (server, port):
        clients = [_kit.connect(port, timeout=5) for _ in range(CLIENTS)]
        try:
            answered = [served(sock) for sock in clients]
            refused = answered.count(False)
            _kit.check(all(answered[:10]), "the first clients were not served")
            _kit.check(refused > 0, f"all {CLIENTS} clients were served on select(): no wall?")
            for sock in clients[:100]:  # 100 early clients leave: descriptors below 1024 free up
                sock.close()
            newcomer = None
            for _ in range(50):  # the server closes them as it reads their EOF: try a few times
                newcomer = _kit.connect(port, timeout=5)
                if served(newcomer):
                    break
                newcomer.close()
                newcomer = None
                time.sleep(0.05)
            _kit.check(newcomer is not None, "a newcomer was not served after 100 clients left")
            newcomer.close()
        finally:
            for sock in clients:
                sock.close()
    _, log = server.communicate(timeout=15)
    _kit.check(server.returncode == 0, f"the server exited {server.returncode}: {log[-500:]}")
    _kit.check("FD_SETSIZE=1024" in log, f"the server's log does not name the limit: {log[-500:]}")
    print(f"of {CLIENTS} clients, {CLIENTS - refused} served and {refused} refused by "
          f"the select() server")
    _kit.ok("select() rejects fd 1024; evloop refused the clients past it and kept serving")


if __name__ == "__main__":
    main()
