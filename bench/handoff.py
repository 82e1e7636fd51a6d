"""What a reload costs queued clients: SO_REUSEPORT versus one shared socket.

Pre-forked workers can share a TCP port in two ways.  With SO_REUSEPORT each
worker listens on a socket of its own and the kernel hashes each connection
to one of them; the handshake completes in the kernel, so the connection waits
in *that* socket's accept queue.  A worker that closes its listener (as at a
reload) resets all it had queued, unless net.ipv4.tcp_migrate_req is 1 (Linux
5.14+), which moves them to another listener of the group.  With one socket
inherited across fork, all workers' fds name one socket and one queue: closing
one fd drops a reference, nothing more.

On loopback, this queues N clients, closes listener (or fd copy) #1 unaccepted,
accepts all from #2, and has each client send b"x" and await the echo: served
if it comes, reset on ECONNRESET, EPIPE or EOF, stuck if neither does in time.
queued_1 is what waited on #1 at the close, from /proc/net/tcp (a listener's
rx_queue is its accept-queue length).  tcp_migrate_req is set to 0, then 1,
only if writable (root), and its first value is always written back.

    python3 -m bench.handoff [--clients 200] [--rounds 3]
"""

import argparse
import os
import resource
import signal
import socket
import statistics
import struct
import sys
import time

HOST = "127.0.0.1"
TIMEOUT = 5.0  # every blocking call gives up after this, so a round always ends
MIGRATE = "/proc/sys/net/ipv4/tcp_migrate_req"
ROW = "{:<6} {:<10} {:<12} {:>7} {:>8} {:>6} {:>5} {:>5}"


def listener(port, reuseport, backlog):
    sock = socket.socket()
    sock.settimeout(TIMEOUT)
    if reuseport:  # must be set on every socket of the group, before bind()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((HOST, port))
    sock.listen(backlog)
    return sock


def wait_queued(first, second, count):
    """Wait until every handshake sits in an accept queue; return #1's share."""
    # connect() returns once the SYN-ACK is in; the final ACK that moves the
    # connection into a queue may still be in the loopback softirq.
    inode_1 = os.fstat(first.fileno()).st_ino
    inodes = {inode_1, os.fstat(second.fileno()).st_ino}  # one inode for a dup()
    deadline = time.monotonic() + TIMEOUT
    while True:
        with open("/proc/net/tcp") as f:
            rows = [line.split() for line in f.readlines()[1:]]
        # For a socket in TCP_LISTEN (st 0A), rx_queue is its accept queue.
        queues = {int(r[9]): int(r[4].split(":")[1], 16) for r in rows if r[3] == "0A"}
        if sum(queues.get(i, 0) for i in inodes) >= count or time.monotonic() > deadline:
            return queues.get(inode_1, 0)
        time.sleep(0.01)


def accept_all(sock, accepted):
    # Migration happens inside close(), so the queue is complete by now; an
    # idle spell this long means it is drained.
    sock.settimeout(0.2)
    while True:
        try:
            conn, _ = sock.accept()
        except socket.timeout:
            return
        conn.settimeout(TIMEOUT)
        accepted.append(conn)


def echo_all(clients, accepted):
    """Each client sends b"x" and waits for the echo: (served, reset, stuck)."""
    by_port = {conn.getpeername()[1]: conn for conn in accepted}
    served = reset = stuck = 0
    for port, client in clients:
        server_side = by_port.get(port)
        try:
            client.sendall(b"x")
            if server_side is None:
                # Nobody holds the other end, so only a reset (already sent
                # at the close) can arrive: no need to wait long for it.
                client.settimeout(0.05)
            else:
                server_side.sendall(server_side.recv(1))
            reply = client.recv(1)
        except (ConnectionResetError, BrokenPipeError):
            reset += 1
        except socket.timeout:
            stuck += 1
        else:  # b"" is the EOF of a closed connection
            served, reset = served + (reply == b"x"), reset + (reply != b"x")
    return served, reset, stuck


def run_round(method, count):
    """Queue count clients, close #1, serve from #2: (queued_1, served, reset, stuck)."""
    backlog = max(1024, count)  # room for all, or SYNs would be dropped instead
    first = listener(0, method == "reuseport", backlog)
    port = first.getsockname()[1]
    clients, accepted, listeners = [], [], [first]
    try:
        if method == "reuseport":
            second = listener(port, True, backlog)
        else:
            second = first.dup()  # what fork inheritance gives the second worker
        listeners.append(second)
        for _ in range(count):
            client = socket.create_connection((HOST, port), timeout=TIMEOUT)
            # The local port is read now: a reset socket may no longer say it.
            clients.append((client.getsockname()[1], client))
        queued_1 = wait_queued(first, second, count)
        first.close()
        accept_all(second, accepted)
        return (queued_1, *echo_all(clients, accepted))
    finally:
        # Closing with a zero linger sends RST and leaves no TIME-WAIT behind:
        # a run of 4,000 clients would otherwise park 24,000 of them.
        for sock in [c for _, c in clients] + accepted:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        for sock in listeners:
            sock.close()


def migrate_req(value=None):
    """Write tcp_migrate_req if given a value; return it, or None if absent."""
    if value is not None:
        with open(MIGRATE, "w") as f:
            f.write(value)
    try:
        with open(MIGRATE) as f:
            return f.read().strip()
    except FileNotFoundError:
        return None  # kernel older than 5.14


def raise_fd_limit(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if 0 <= soft < needed:  # RLIM_INFINITY is -1
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def at_most(high):
    def parse(text):
        if not 1 <= int(text) <= high:
            raise argparse.ArgumentTypeError(f"{text} is not in 1..{high}")
        return int(text)
    return parse


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=at_most(4000), default=200,
                        help="clients per round, 1..4000 (under net.core.somaxconn)")
    parser.add_argument("--rounds", type=at_most(100), default=3, help="1..100")
    args = parser.parse_args()
    raise_fd_limit(2 * args.clients + 64)  # each client's end, its accepted end
    # A plain kill must still reach the finally that restores the sysctl.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    original = migrate_req()
    values, writable = [original or "absent"], False
    if original is not None:
        try:
            migrate_req(original)  # the only sure test of writability
            values, writable = ["0", "1"], True
        except OSError:
            print(f"{MIGRATE} is not writable: measuring only its value, {original}")
    configs = [("reuseport", v) for v in values] + [("shared", original or "absent")]
    results = {config: [] for config in configs}
    print(ROW.format("round", "method", "migrate_req", "clients",
                     "queued_1", "served", "reset", "stuck"))
    try:
        for round_no in range(1, args.rounds + 1):
            for method, value in configs:
                if writable:  # shared runs at the original value
                    migrate_req(value)
                row = run_round(method, args.clients)
                results[method, value].append(row)
                print(ROW.format(round_no, method, value, args.clients, *row), flush=True)
    finally:
        if writable:
            migrate_req(original)
    print(f"\nmedian of {args.rounds} rounds (tcp_migrate_req is now {migrate_req()}):")
    for (method, value), rows in results.items():
        medians = [statistics.median(column) for column in zip(*rows)]
        print(ROW.format("-", method, value, args.clients, *(f"{m:g}" for m in medians)))


if __name__ == "__main__":
    main()
