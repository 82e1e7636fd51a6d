"""Answer to 01-fifty-clients (a measurement): time 50 clients at once against one server.

`time_clients(port)` starts the clients at once, each sending length-prefixed
messages with some thinking between them, checks every reply, and returns
the seconds until the last is done.  The grader runs it against
`bench.iterative`, `bench.threads` and `evloop.serve`.  A run on a 2-core
machine printed:

    iterative  50 clients in 2.606 s
    threads    50 clients in 0.063 s
    evloop     50 clients in 0.063 s

The iterative server serves one client at a time, so its time is about the
sum of every client's (50 x 5 x 10 ms = 2.5 s); the other two overlap them.

By hand: start `python3 -m evloop.serve --handler lenprefix`, then
`python3 docs/answers/01-fifty-clients.py 12000`.
"""

import socket
import sys
import threading
import time


def frame(payload):
    return str(len(payload)).zfill(3).encode() + payload  # the labs' length prefix


def recv_exactly(sock, size):
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError(f"EOF with {size - len(data)} bytes still expected")
        data += chunk
    return data


def one_client(port, n, messages, think, wrong):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
            for k in range(messages):
                message = frame(f"client {n} message {k}".encode())
                sock.sendall(message)
                if recv_exactly(sock, len(message)) != message:
                    wrong.append(f"client {n}: a wrong reply")
                time.sleep(think)
    except (OSError, EOFError) as exc:
        wrong.append(f"client {n}: {exc}")


def time_clients(port, clients=50, messages=5, think=0.010):
    """Start every client at once; the seconds until the last is done."""
    wrong = []
    threads = [threading.Thread(target=one_client, args=(port, n, messages, think, wrong))
               for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if wrong:
        raise AssertionError(f"{len(wrong)} clients failed, the first: {wrong[0]}")
    return time.perf_counter() - started


if __name__ == "__main__":
    print(f"{time_clients(int(sys.argv[1])):.3f} s")
