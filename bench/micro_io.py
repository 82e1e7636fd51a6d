"""Microbenchmark: what reading and writing a socket costs, by which call.

    python -m bench.micro_io [--rounds 100000] [--repeats 5]

evloop's connections read with `os.read(fd, n)` and write with
`os.write(fd, data)`, not with the socket's `recv()` and `send()`.  The two
pairs reach the kernel by different system calls: read()/write() pass
through the file layer before the socket code, recvfrom()/sendto() go to
the socket code directly.  Which is cheaper depends on which side you look
at, so this measures both sides:

* Python: a 100-byte message bounced over one loopback TCP connection,
  client end to server end and back, with `os.read`/`os.write` against
  the socket methods, the two ways alternated `--repeats` times;
* C (bench/build/pingpong, built by scripts/build-c): the same bounce with
  read()/write() against recv()/send(), which shows the kernel's side alone.

Each figure is the median, in ns per receive and send.  The README's
performance section quotes them.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time

from bench.models import BUILD

PINGPONG = os.path.join(BUILD, "pingpong")
MESSAGE = b"a" * 100


def connected_pair():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    for sock in (client, server):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)  # as evloop's are; loopback has each message there at once
    return client, server


def by_os(client, server, rounds):
    read, write, cfd, sfd = os.read, os.write, client.fileno(), server.fileno()
    for _ in range(rounds):
        write(cfd, MESSAGE)
        write(sfd, read(sfd, 479))
        if len(read(cfd, 479)) != len(MESSAGE):
            raise RuntimeError("loopback split a 100-byte message")


def by_socket(client, server, rounds):
    for _ in range(rounds):
        client.send(MESSAGE)
        server.send(server.recv(479))
        if len(client.recv(479)) != len(MESSAGE):
            raise RuntimeError("loopback split a 100-byte message")


def alternated(ways, repeats, measure):
    """{name: median of measure(way)}, the ways taken in turn `repeats` times."""
    times = {name: [] for name in ways}
    for _ in range(repeats):
        for name, way in ways.items():
            times[name].append(measure(way))
    return {name: statistics.median(values) for name, values in times.items()}


def python_figures(rounds, repeats):
    client, server = connected_pair()

    def measure(way):
        start = time.perf_counter()
        way(client, server, rounds)
        return (time.perf_counter() - start) / rounds / 2 * 1e9

    try:
        return alternated({"os.read/os.write": by_os, "sock.recv/sock.send": by_socket},
                          repeats, measure)
    finally:
        client.close()
        server.close()


def c_figures(rounds, repeats):
    """{way: median ns}, or None when the C program is not built."""
    if not os.access(PINGPONG, os.X_OK):
        return None

    def measure(way):
        out = subprocess.run([PINGPONG, way, str(rounds)], capture_output=True, text=True,
                             timeout=600, check=True, stdin=subprocess.DEVNULL).stdout
        return float(out.split()[1])

    return alternated({"read/write": "read", "recv/send": "recv"}, repeats, measure)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100000, help="messages bounced per run")
    parser.add_argument("--repeats", type=int, default=5, help="runs per way, alternated")
    options = parser.parse_args(argv)
    if not 1 <= options.rounds <= 10_000_000 or not 1 <= options.repeats <= 100:
        parser.error("--rounds must be 1 to 10,000,000 and --repeats 1 to 100")
    print(f"100-byte messages over loopback TCP; ns per receive and send, "
          f"median of {options.repeats} runs of {options.rounds:,}")
    for name, ns in python_figures(options.rounds, options.repeats).items():
        print(f"  Python {name:22} {ns:8.0f}")
    figures = c_figures(options.rounds, options.repeats)
    if figures is None:
        print("  C: bench/build/pingpong not built (scripts/build-c)")
        return 0
    for name, ns in figures.items():
        print(f"  C      {name:22} {ns:8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
