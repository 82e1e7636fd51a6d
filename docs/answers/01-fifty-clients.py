"""Chapter 1, exercise 2 (a measurement): 50 clients against three models.

The exercise: start 50 clients at once against the iterative server, the
thread-per-client server and evloop (`bench/iterative.py`, `bench/threads.py`,
`python3 -m evloop.serve`), each client sending 5 length-prefixed messages
with 10 ms of "thinking" between them, as a person at a keyboard would, and
time how long until the last client is done.

Done when: every client got every reply right, from every model, and the
three times are printed side by side.  Which is faster is what you report,
not what this checks: the times depend on the machine.  What to expect: the
iterative server serves one client at a time, so its time is about the sum
of every client's (50 x 5 x 10 ms = 2.5 s); the other two overlap them.

A run here printed:

    iterative    50 clients in 2.606 s
    threads      50 clients in 0.063 s
    evloop       50 clients in 0.063 s
    iterative / evloop: 41.6x; threads / evloop: 1.0x

Run it: python3 docs/answers/01-fifty-clients.py
"""

import threading
import time

import _kit

CLIENTS = 50
MESSAGES = 5
THINK = 0.010  # seconds between a reply and the next message


def frame(payload):
    return str(len(payload)).zfill(3).encode() + payload  # the labs' length prefix


def one_client(port, n, wrong):
    try:
        with _kit.connect(port, timeout=20) as sock:
            for k in range(MESSAGES):
                payload = f"client {n} message {k}".encode()
                sock.sendall(frame(payload))
                if _kit.recv_exactly(sock, 3 + len(payload)) != frame(payload):
                    wrong.append(n)
                time.sleep(THINK)
    except OSError as exc:
        wrong.append(f"client {n}: {exc}")


def fifty_clients(port):
    """Start every client at once; the seconds until the last is done, and what went wrong."""
    wrong = []
    threads = [threading.Thread(target=one_client, args=(port, n, wrong)) for n in range(CLIENTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return time.perf_counter() - started, wrong


def main():
    models = [("iterative", "bench.iterative"), ("threads", "bench.threads"),
              ("evloop", "evloop.serve")]
    seconds = {}
    for name, module in models:
        with _kit.process("--handler", "lenprefix", module=module) as (_, port):
            seconds[name], wrong = fifty_clients(port)
        _kit.check(not wrong, f"{name}: wrong or failed replies: {wrong[:5]}")
        print(f"{name:<12} {CLIENTS} clients in {seconds[name]:.3f} s")
    _kit.check(all(s > 0 for s in seconds.values()), f"no sane times: {seconds}")
    print(f"iterative / evloop: {seconds['iterative'] / seconds['evloop']:.1f}x; "
          f"threads / evloop: {seconds['threads'] / seconds['evloop']:.1f}x")
    _kit.ok(f"{CLIENTS} clients x {MESSAGES} messages served right by all three models")


if __name__ == "__main__":
    main()
