"""Count the user-space instructions a server spends per message, with callgrind.

    python -m bench.instructions [--models evloop-epoll,uvloop-protocol] [--tree NAME=DIR]
                                 [--handler echo] [--connections 100] [--messages 20000]
    python -m bench.instructions --models evloop-relay,uvloop-relay [--relay --tree NAME=DIR]
    python -m bench.instructions --models evloop-epoll,aio-protocol,asyncio-protocol,uvloop-protocol
                                 --connections 1,100
    python -m bench.instructions --models evloop-epoll,bare-epoll,uvloop-protocol --churn
                                 --messages 2000

Several connection counts (`--connections 1,100`) are counted on one server
each, one after the other, and printed as a column each, every model also
as a ratio to the first: with evloop-epoll first and aio-protocol beside
it, that ratio is what the asyncio layer (evloop.aio, and the Protocol
that adapts the same handler) costs over evloop's own handler API.

A relay model (bench.models) relays to the C echo server, started here
outside valgrind, so its count is the relay's alone.

With `--churn` each message has a connection of its own, opened, echoed once
and closed, one after the other: the count is per connection, from accept to
close.

Throughput on a shared machine moves by 10% from one run to the next, which
hides any change worth less than that.  An instruction count does not move:
valgrind's callgrind counts every instruction the server executes in user
space, and the same code, fed the same messages, gives the same count within
about 1% whatever else the machine is doing.  So this is how evloop's hot
path was tuned, change by change; `bench.runner` then checks, side by side,
that the saving shows in messages per second.

What it does not count is the kernel: the recv(), the send() and the
loopback delivery, which are most of a message's cost (see the README's
performance section).  Under valgrind a server runs some 50 times slower,
so every client is ready at every wake-up; the count is the per-message work
with the loop's per-wake-up work spread thin.

`--by-function N --python PYTHON` says where the instructions go: the N Python
functions with the most instructions per message, each counted with what it
calls.  The server runs under PYTHON (3.12 or later, for its `-X perf`
trampolines, which give every Python function a native frame of its own
that callgrind counts and /tmp/perf-PID.map names); models that need only
the standard library (evloop's, the bench variants) run under any Python.

For each model: start the server under callgrind, warm it up with 20 round
trips per connection, zero the counters (`callgrind_control -z`), run the
measured round trips, dump the counters (`callgrind_control -d`), stop the
server, and divide.  The client is plain Python outside valgrind: N
connections, each sending its next message when the last reply is complete,
every reply checked.
"""

import argparse
import glob
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from bench.models import BUILD
from bench.models import BY_NAME
from bench.models import evloop_tree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# CPython's garbage collection, left out of every count: whether a collection
# falls inside the measured window depends on what the process allocated before
# (its start-up, its command line), not on the code counted.  One did in one of two
# counts of the same tree, started two ways: 1.7 million instructions, 841 a message
# over 2,000 messages.  callgrind stops counting on entering these and starts again
# on leaving them (3.11 to 3.13 name it gc_collect_main, 3.10 collect).
GARBAGE_COLLECTION = ("gc_collect_main", "collect")


def message(handler, size):
    payload = bytes(65 + i % 26 for i in range(size))
    if handler == "lenprefix":
        return str(size).zfill(3).encode() + payload
    return payload.upper() if handler == "uppercase" else payload


def ping_pong(port, connections, rounds, handler, size, timeout=600):
    """`rounds` round trips on each of `connections` connections; raises on a wrong reply."""
    request = message(handler, size)
    expected = request.upper() if handler == "uppercase" else request
    poller = select.epoll()
    clients = {}
    try:
        for _ in range(connections):
            sock = socket.create_connection(("127.0.0.1", port), timeout=60)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            clients[sock.fileno()] = [sock, rounds, bytearray()]
            poller.register(sock.fileno(), select.EPOLLIN)
            sock.sendall(request)
        deadline = time.monotonic() + timeout
        left = connections
        while left:
            if time.monotonic() > deadline:
                raise RuntimeError("the server stopped answering")
            for fd, _ in poller.poll(1.0):
                client = clients[fd]
                data = client[0].recv(65536)
                if not data:
                    raise RuntimeError("the server closed a connection")
                client[2] += data
                if len(client[2]) < len(expected):
                    continue
                if client[2] != expected:
                    raise RuntimeError(f"wrong reply: {bytes(client[2][:40])!r}")
                client[2].clear()
                client[1] -= 1
                if client[1]:
                    client[0].sendall(request)
                else:
                    left -= 1
                    poller.unregister(fd)
    finally:
        for client in clients.values():
            client[0].close()
        poller.close()


def churn(port, connections, handler, size, timeout=60):
    """`connections` connections one after the other, each: connect, one round trip, close."""
    request = message(handler, size)
    expected = request.upper() if handler == "uppercase" else request
    for _ in range(connections):
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(request)
            reply = bytearray()
            while len(reply) < len(expected):
                data = sock.recv(65536)
                if not data:
                    raise RuntimeError("the server closed a connection before its reply")
                reply += data
            if reply != expected:
                raise RuntimeError(f"wrong reply: {bytes(reply[:40])!r}")


def count(model, options, workdir, upstream=""):
    """Instructions per message of `model` at each of options.connections, in order:
    one server, zeroed before and dumped after each count's measured round trips."""
    out = os.path.join(workdir, f"{model.name}.%p")
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
            *(f"--toggle-collect={name}" for name in GARBAGE_COLLECTION),
            "--collect-atstart=yes"]  # after the toggles, which would make it "no"
    command = model.command(options.handler, upstream=upstream)
    if options.by_function:  # another Python, whose trampolines name each function
        argv += ["--smc-check=all"]  # the trampolines are code written at run time
        command[0:1] = [options.python, "-S", "-X", "perf"]
    elif command[0] == sys.executable and not model.needs_module:
        # Standard library only (evloop, the bench variants): without `site`, which in a
        # venv imports what its .pth files name (coverage's, under scripts/test), a
        # server starts under valgrind in 12 s instead of 22.  What is counted comes after.
        command.insert(1, "-S")
    argv += command
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, text=True, start_new_session=True, cwd=ROOT)
    try:
        line = proc.stdout.readline()
        found = re.search(r" on \S+:(\d+) ", line)
        if not found:
            raise RuntimeError(f"{model.name} did not start under valgrind: {line.strip()!r}")
        port = int(found.group(1))
        messages = []
        if options.churn:  # one count: a connection per message
            churn(port, 200, options.handler, options.size)
            control(proc.pid, "-z")
            churn(port, options.messages, options.handler, options.size)
            time.sleep(1.0)  # the last connection's close, read and finished by the server
            control(proc.pid, "-d")
            messages.append(options.messages)
        else:  # a count per connection count, one after the other
            for connections in options.connections:
                ping_pong(port, connections, 20, options.handler, options.size)
                control(proc.pid, "-z")
                rounds = max(1, options.messages // connections)
                ping_pong(port, connections, rounds, options.handler, options.size)
                control(proc.pid, "-d")
                messages.append(rounds * connections)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if options.by_function:
        options.functions[model.name] = by_function(
            workdir, model.name, proc.pid, messages[0], options.by_function)
    per_message = []
    for n, measured in enumerate(messages, start=1):  # callgrind numbers its dumps from 1
        dumps = sorted(glob.glob(os.path.join(workdir, f"{model.name}.*.{n}")))
        if not dumps:
            raise RuntimeError(f"callgrind wrote no dump for {model.name}")
        with open(dumps[-1]) as f:
            totals = [int(line.split()[1]) for line in f if line.startswith("summary:")]
        per_message.append(totals[0] / measured)
    return per_message


def by_function(workdir, name, pid, messages, top):
    """[(instructions per message, Python function)] of the first count's dump: the `top`
    functions by instructions spent in them and in what they call."""
    names = {}
    try:
        with open(f"/tmp/perf-{pid}.map") as f:  # "ADDRESS SIZE py::NAME:FILE", -X perf's
            for line in f:
                address, _, symbol = line.rstrip("\n").split(" ", 2)
                names[int(address, 16)] = symbol.removeprefix("py::")
        os.unlink(f"/tmp/perf-{pid}.map")
    except OSError as error:
        raise RuntimeError(f"no perf map from {name} (is --python 3.12 or later?): {error}")
    dump = sorted(glob.glob(os.path.join(workdir, f"{name}.*.1")))[-1]
    annotated = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", dump],
                               capture_output=True, text=True, check=True, timeout=300).stdout
    found = {}
    for line in annotated.splitlines():
        match = re.match(r"\s*([\d,]+) \(.*\)\s+\?\?\?:0x([0-9a-f]+)", line)
        if match and int(match.group(2), 16) in names:
            symbol = names[int(match.group(2), 16)].replace(ROOT + os.sep, "")
            found[symbol] = found.get(symbol, 0) + int(match.group(1).replace(",", ""))
    ranked = sorted(((count / messages, symbol) for symbol, count in found.items()),
                    reverse=True)
    return ranked[:top]


def row(name, per_message, first):
    """One model's line: its count (the line `name count` for one connection count), or
    for several a column each, and then its ratios to the first model counted."""
    if len(per_message) == 1:
        return f"{name:20} {per_message[0]:8,.0f}"
    line = f"{name:20} " + " ".join(f"{value:10,.0f}" for value in per_message)
    if first is not None:
        ratios = ", ".join(f"{mine / theirs:.2f}x" for mine, theirs in zip(per_message, first[1]))
        line += f"   {ratios} {first[0]}"
    return line


def control(pid, flag):
    # callgrind_control finds the process by pid; the server's pid is valgrind's own.
    subprocess.run(["callgrind_control", flag, str(pid)], check=True, capture_output=True, timeout=60)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="evloop-epoll",
                        help="comma-separated models of bench.models (default: evloop-epoll)")
    parser.add_argument("--tree", action="append", default=[], metavar="NAME=DIR",
                        help="also count evloop from the source tree DIR (repeatable)")
    parser.add_argument("--handler", default="echo", choices=["echo", "uppercase", "lenprefix"])
    parser.add_argument("--relay", action="store_true",
                        help="the trees of --tree serve the relay handler, to the C echo server")
    parser.add_argument("--connections", default=None,
                        help="connections, or several, comma-separated (1,100): a column each "
                             "(default: 100)")
    parser.add_argument("--churn", action="store_true",
                        help="a connection per message, one after the other: per connection")
    parser.add_argument("--messages", type=int, default=20000, help="measured round trips in all")
    parser.add_argument("--size", type=int, default=100, help="payload bytes per message")
    parser.add_argument("--by-function", type=int, default=0, metavar="N",
                        help="also list the N Python functions that spend the most, with "
                             "what they call (needs --python, 3.12 or later)")
    parser.add_argument("--python", default=None,
                        help="the Python that runs the servers for --by-function")
    options = parser.parse_args(argv)
    models = []
    for name in filter(None, options.models.split(",")):
        if name not in BY_NAME:
            parser.error(f"unknown model {name}; choose from {', '.join(BY_NAME)}")
        models.append(BY_NAME[name])
    for spec in options.tree:
        name, _, tree = spec.partition("=")
        if not tree or not os.path.isdir(os.path.join(tree, "evloop")):
            parser.error(f"--tree wants NAME=DIR, DIR holding an evloop package: {spec!r}")
        # With --relay, the tree's relay handler, to the same backend.
        models.append(evloop_tree(name, os.path.abspath(tree), relay=options.relay))
    if not models:
        parser.error("nothing to count")
    if options.handler == "lenprefix" and not 0 <= options.size <= 999:
        parser.error("lenprefix payloads are 0 to 999 bytes")
    if options.churn and (options.connections is not None or options.relay
                          or any(model.relay for model in models)):
        parser.error("--churn opens one connection at a time, straight to the server: "
                     "not with --connections, --relay or a relay model")
    try:
        options.connections = [int(text) for text in (
            "100" if options.connections is None else options.connections).split(",")]
    except ValueError:
        parser.error(f"--connections wants numbers, comma-separated: {options.connections!r}")
    if min(options.connections) < 1 or options.messages < 1 or options.size < 1:
        parser.error("--connections, --messages and --size must be positive")
    if options.by_function:
        if options.by_function < 0 or not options.python:
            parser.error("--by-function N wants N above 0 and --python (3.12 or later)")
        try:
            version = subprocess.run([options.python, "-c", "import sys; print(sys.version_info "
                                      ">= (3, 12))"], capture_output=True, text=True, timeout=60)
        except OSError as error:
            parser.error(f"--python {options.python}: cannot run it ({error.strerror})")
        if version.returncode != 0:
            said = version.stderr.strip().splitlines() or [f"exit {version.returncode}"]
            parser.error(f"--python {options.python}: cannot run it ({said[0]})")
        if version.stdout.strip() != "True":
            parser.error(f"--python {options.python} is not Python 3.12 or later, which "
                         f"-X perf needs")
        needing = [model.name for model in models if model.needs_module]
        if needing:
            parser.error(f"--by-function runs servers under --python, without this venv's "
                         f"modules, which {', '.join(needing)} need")
        if len(options.connections) > 1:
            parser.error("--by-function lists one count: one connection count")
    elif options.python:
        parser.error("--python is for --by-function")
    options.models = models
    options.functions = {}
    return options


def main(argv=None):
    options = parse_args(argv)
    missing = [tool for tool in ("valgrind", "callgrind_control") if shutil.which(tool) is None]
    if missing:
        print(f"bench.instructions: needs valgrind's callgrind ({', '.join(missing)} not found; "
              f"apt-get install valgrind)", file=sys.stderr)
        return 2
    counts = options.connections
    if options.churn:
        print(f"{options.handler}, {options.size} B, {options.messages:,} connections one after "
              f"the other, a round trip each; user-space instructions per connection (callgrind)")
    else:
        print(f"{options.handler}, {'/'.join(map(str, counts))} connections, {options.size} B, "
              f"{options.messages:,} round trips; user-space instructions per message (callgrind)")
    if len(counts) > 1 and not options.churn:
        print(f"{'model':20} " + " ".join(f"{f'{n} conn':>10}" for n in counts))
    first = None
    status = 0
    backend = None
    if any(model.relay for model in options.models):  # relays pass it all to the C echo server
        backend = subprocess.Popen([os.path.join(BUILD, "echo_epoll"), "--port", "0"],
                                   stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        upstream = "127.0.0.1:" + re.search(r":(\d+) ", backend.stdout.readline()).group(1)
    with tempfile.TemporaryDirectory() as workdir:
        for model in options.models:
            why = model.unavailable()
            if not why and options.handler not in model.handlers:
                why = f"serves only {', '.join(model.handlers)}"
            if why:
                print(f"{model.name:20} skipped: {why}")
                continue
            try:
                per_message = count(model, options, workdir, upstream if model.relay else "")
            except (RuntimeError, OSError, subprocess.SubprocessError) as error:
                print(f"{model.name:20} failed: {error}")
                status = 1
                continue
            print(row(model.name, per_message, first))
            first = first or (model.name, per_message)
    if backend is not None:
        backend.terminate()
        backend.wait()
    unit = "connection" if options.churn else "message"
    for name, functions in options.functions.items():
        print(f"\n{name}: instructions per {unit} in each Python function and what it calls")
        for spent, symbol in functions:
            print(f"{spent:12,.0f}  {symbol}")
    return status


if __name__ == "__main__":
    sys.exit(main())
