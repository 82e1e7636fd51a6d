"""Chapter 7, exercise 1: two workers, and proof that both serve.

The exercise: write a handler that answers every message with the id of
the process serving it (`os.getpid()`), serve it with
`python3 -m evloop.serve --handler 07-two-workers:WhichWorker --workers 2`
(run from docs/answers/, or with it on PYTHONPATH), and open clients until
two different pids have answered.

Done when: two distinct pids answer, both children of the supervisor (the
process you started), and neither is the supervisor itself, which only
keeps the listener and its workers.

Run it: python3 docs/answers/07-two-workers.py
"""

import os

import _kit
import evloop

TRIES = 20  # rounds of 10 connections at once


class WhichWorker(evloop.Handler):
    """The solution: which process am I?"""

    def data_received(self, data):
        return f"{os.getpid()}\n".encode()


def parent_of(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("PPid:")).split()[1])


def main():
    pids = set()
    with _kit.process("--handler", "07-two-workers:WhichWorker", "--workers", "2") as (server, port):
        for _ in range(TRIES):
            # Ten at once, held open together: the kernel wakes both workers for the
            # shared listener, and whichever accept()s first gets the client.
            clients = [_kit.connect(port) for _ in range(10)]
            for sock in clients:
                sock.sendall(b"?")
            for sock in clients:
                pids.add(int(sock.recv(64).decode()))
                sock.close()
            if len(pids) >= 2:
                break
        parents = {pid: parent_of(pid) for pid in pids}
    _kit.check(len(pids) == 2, f"{TRIES * 10} clients were served by {sorted(pids)} only")
    _kit.check(server.pid not in pids, "the supervisor served a client itself")
    _kit.check(all(parent == server.pid for parent in parents.values()),
               f"not the supervisor's children: {parents} (supervisor {server.pid})")
    _kit.ok(f"workers {' and '.join(map(str, sorted(pids)))}, children of supervisor "
            f"{server.pid}, both served")


if __name__ == "__main__":
    main()
