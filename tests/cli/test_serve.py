"""End to end: the server as a user starts it, driven like the labs' clients."""

import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import ROOT
from tests.conftest import cli_env
from tests.conftest import recv_exactly
from tests.conftest import recv_until_eof


def test_startup_line_names_handler_selector_and_address(serve):
    server = serve("--handler", "lenprefix")
    assert server.handler == "lenprefix"
    assert server.host == "127.0.0.1" and server.port > 0
    assert server.selector == "epoll"
    assert server.protocols == "tcp"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_cleanly_with_exit_0(serve, sig):
    server = serve("--handler", "echo")
    code, err = server.stop(sig)
    assert code == 0
    assert "Traceback" not in err
    assert "stopped" in err


LATE_SIGNAL = """
import os, signal, sys, threading
import evloop
from evloop.cli import serve
if sys.argv[1] == "thread":  # e.g. an --offload pool thread: it may take the signal
    threading.Thread(target=threading.Event().wait, args=(30,), daemon=True).start()
close = evloop.Loop.close
def close_then_signal(loop, *args, **kwargs):  # the worst moment: the loop has just let go
    close(loop, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGTERM)
evloop.Loop.close = close_then_signal
def run(handler, config):  # evloop.run, stopped by the first SIGTERM it gets
    server = evloop.Server(handler, config)
    server.loop.call_later(0.05, os.kill, os.getpid(), signal.SIGTERM)
    server.serve_forever()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    return 0
serve.run = run
assert serve.main(["--port", "0"]) == 0
print("survived")
"""


@pytest.mark.parametrize("threads", ["main", "thread"])
def test_a_late_signal_while_the_loop_closes_does_not_kill_the_server(threads):
    # A --workers parent forwards a second SIGTERM; one landing just as a
    # worker's loop closed made it exit 143 instead of 0.  With a second
    # thread alive (--offload thread), the kernel may hand the signal to it.
    result = subprocess.run([sys.executable, "-c", LATE_SIGNAL, threads], capture_output=True,
                            text=True, timeout=30, cwd=ROOT, env=cli_env())
    assert (result.returncode, result.stdout) == (0, "survived\n"), result.stderr


def test_lab_echo_client(serve):
    server = serve("--handler", "echo")
    with server.connect() as sock:
        sock.sendall(b"Hello, world")
        assert recv_exactly(sock, 12) == b"Hello, world"


def test_kurose_ross_uppercase_tcp_and_udp(serve):
    server = serve("--handler", "uppercase", "--udp")
    assert server.protocols == "tcp+udp"
    with server.connect() as sock:
        sock.send(b"hello from the lab")  # one send(), no newline
        assert sock.recv(1024) == b"HELLO FROM THE LAB"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(5)
        udp.sendto(b"a datagram", server.address)
        reply, source = udp.recvfrom(2048)
        assert reply == b"A DATAGRAM" and source == server.address


def test_lenprefix_udp_per_datagram(serve):
    server = serve("--handler", "lenprefix", "--udp")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(5)
        udp.sendto(b"016Hello!! Server!!", server.address)
        assert udp.recvfrom(2048)[0] == b"016Hello!! Server!!"
        udp.sendto(b"009trunc", server.address)  # a protocol error: no reply
        udp.sendto(b"002ok", server.address)
        assert udp.recvfrom(2048)[0] == b"002ok"
    server.stop()
    assert "protocol error" in server.stderr


def test_lenprefix_split_and_pipelined(serve):
    server = serve("--handler", "lenprefix")
    messages = [b"016Hello!! Server!!", b"000", b"003abc", b"999" + b"q" * 999]
    stream = b"".join(messages)
    with server.connect() as sock:
        for i in range(0, len(stream), 7):  # split everywhere
            sock.sendall(stream[i:i + 7])
            time.sleep(0.001)  # pacing: each piece its own segment
        assert recv_exactly(sock, len(stream)) == stream
        sock.sendall(stream * 20)  # many in one recv
        assert recv_exactly(sock, len(stream) * 20) == stream * 20


def test_bad_header_closes_only_that_connection(serve):
    server = serve("--handler", "lenprefix")
    with server.connect() as good, server.connect() as bad:
        bad.sendall(b"003abcHELLO")
        assert recv_until_eof(bad) == b"003abc"
        good.sendall(b"002ok")
        assert recv_exactly(good, 5) == b"002ok"
    code, err = server.stop()
    assert code == 0 and "Traceback" not in err
    assert "protocol error: bad length header b'HEL'" in err
    assert "127.0.0.1:" in err


def test_several_clients_while_one_sits_idle_mid_message(serve):
    server = serve("--handler", "lenprefix")
    idle = server.connect()
    idle.sendall(b"016Hello")  # half a message, then silence
    results = []

    def client(n):
        with server.connect() as sock:
            payload = f"client {n}".encode()
            frame = str(len(payload)).zfill(3).encode() + payload
            sock.sendall(frame)
            results.append(recv_exactly(sock, len(frame)) == frame)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == [True] * 8
    idle.sendall(b"!! Server!!")
    assert recv_exactly(idle, 19) == b"016Hello!! Server!!"
    idle.close()


def test_chat_between_two_clients(serve):
    server = serve("--handler", "chat")
    with server.connect() as alice, server.connect() as bob:
        greeted = alice.recv(1024)
        assert b"welcome" in greeted
        assert b"welcome" in bob.recv(1024)
        while b"joined" not in greeted:  # it may have come in the same recv() as the welcome
            more = alice.recv(1024)
            assert more, greeted
            greeted += more
        alice.sendall(b"/nick alice\n")
        assert alice.recv(1024) == b"* you are now alice\n"
        assert b"is now alice" in bob.recv(1024)
        alice.sendall(b"hi bob\n")
        assert bob.recv(1024) == b"alice: hi bob\n"
        bob.sendall(b"/quit\n")
        assert recv_until_eof(bob) == b"* bye\n"
        assert b"left" in alice.recv(1024)


def test_port_in_use_is_one_line_and_exit_2(serve):
    first = serve("--handler", "echo")
    proc = subprocess.run([sys.executable, "-m", "evloop.serve", "--port", str(first.port)],
                          capture_output=True, text=True, cwd=ROOT, timeout=30, env=cli_env())
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].endswith("address already in use (another server there?)")
    assert "Traceback" not in proc.stderr


def run_serve(*args):
    return subprocess.run([sys.executable, "-m", "evloop.serve", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=30, env=cli_env())


def test_unknown_handler_lists_the_builtins():
    proc = run_serve("--handler", "nope")
    assert proc.returncode == 2
    assert "unknown handler 'nope'; built-in handlers: echo, uppercase, lenprefix, chat" in proc.stderr


def test_bad_flag_is_one_line_without_the_usage():
    proc = run_serve("--no-such-flag")
    assert proc.returncode == 2
    assert proc.stderr == "evloop.serve: error: unrecognized arguments: --no-such-flag (see --help)\n"


@pytest.mark.parametrize("args, message", [
    (["--handler", "chat", "--udp"], "cannot run over UDP"),
    (["--low-water", "1M", "--high-water", "64K"],
     "--high-water (65536) must be greater than --low-water (1048576)"),
    (["--high-water", "1K", "--low-water", "64K"],
     "--high-water (1024) must be greater than --low-water (65536)"),
    (["--max-output", "1K"], "--max-output (1024) must be greater than --high-water (262144)"),
    (["--port", "70000"], "outside 0-65535"),
    (["--port", "-1"], "argument --port: port -1 is outside 0-65535"),
    (["--workers", "0"], "--workers (0) must be between 1 and 256"),
    (["--workers", "-1"], "--workers (-1) must be between 1 and 256"),
    (["--workers", "999"], "--workers (999) must be between 1 and 256"),
    (["--max-message", "0"], "--max-message (0) must be at least 1"),
    (["--max-connections", "0"], "--max-connections (0) must be at least 1"),
    (["--backlog", "many"], "argument --backlog: not a whole number: 'many'"),
    (["--high-water", "lots"], "not a size"),
    (["--idle-timeout", "-1"], "a time must be 0 or more seconds"),
    (["--selector", "iocp"], "invalid choice"),
    (["--log-format", "xml"], "argument --log-format: invalid choice: 'xml'"),
    (["--handler", "userhandlers.reverse:Missing"], "module 'userhandlers.reverse' has no 'Missing'"),
    (["--handler", "userhandlers.reverse:NotAHandler"], "it is a class, but not a Handler subclass"),
    (["--handler", "no_such_module:X"], "no module named 'no_such_module'"),
])
def test_bad_options_are_one_line_errors(args, message):
    proc = run_serve(*args)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "usage:" not in proc.stderr


@pytest.mark.parametrize("args, message", [
    (["--proxy-protocol", "--proxy-allow", "10.0.0.0/8,10.0.0.300/8"],
     "--proxy-allow ('10.0.0.300/8') must be networks such as 10.0.0.0/8 or ::1: "
     "'10.0.0.300/8' does not appear to be an IPv4 or IPv6 network"),
    (["--proxy-allow", "10.0.0.0/8"],
     "--proxy-allow (10.0.0.0/8) needs --proxy-protocol: it says who may send a PROXY header"),
    (["--proxy-protocol", "--proxy-allow", "10.0.0.0/8,"],
     "argument --proxy-allow: an empty network in '10.0.0.0/8,' (try 10.0.0.0/8,::1)"),
])
def test_a_bad_proxy_allow_is_one_line_and_exit_2(args, message):
    proc = run_serve("--port", "0", *args)
    assert proc.returncode == 2
    assert proc.stderr.startswith("evloop.serve: error: ") and message in proc.stderr
    assert len(proc.stderr.splitlines()) == 1, proc.stderr


def test_version_and_help_name_the_command():
    proc = run_serve("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("python3 -m evloop.serve 0.")
    assert "usage: python3 -m evloop.serve" in run_serve("--help").stdout
    assert "--work-ms" not in run_serve("--help").stdout
    slow_help = run_serve("--handler", "slow", "--help").stdout
    assert "options of the slow handler" in slow_help and "--work-ms" in slow_help


def test_the_console_script_names_itself(tmp_path):
    """An installed `evloop-serve --help` says evloop-serve, not python -m."""
    script = tmp_path / "evloop-serve"
    script.write_text(f"#!{sys.executable}\nimport sys\nfrom evloop.cli.serve import main\n"
                      f"sys.exit(main())\n")
    script.chmod(0o755)
    proc = subprocess.run([str(script), "--help"], capture_output=True, text=True, cwd=ROOT,
                          timeout=30, env=cli_env())
    assert proc.returncode == 0 and proc.stdout.startswith("usage: evloop-serve")


def test_user_handler_by_module_and_class(serve):
    server = serve("--handler", "userhandlers.reverse:ReverseLines")
    assert server.handler == "ReverseLines"
    with server.connect() as sock, server.connect() as other:
        sock.sendall(b"abc")
        assert sock.recv(10) == b"cba"
        sock.sendall(b"crash")
        assert recv_until_eof(sock) == b""
        other.sendall(b"xyz")
        assert other.recv(10) == b"zyx"
    code, err = server.stop()
    assert code == 0
    assert err.count("Traceback") == 1 and "ValueError: user handler bug" in err


def test_every_selector_serves(serve, selector):
    server = serve("--handler", "echo", "--selector", selector)
    assert server.selector == selector
    with server.connect() as sock:
        sock.sendall(b"ping")
        assert sock.recv(10) == b"ping"


def test_trace_narrates_the_loop(serve):
    server = serve("--handler", "lenprefix", "--trace")
    with server.connect() as sock:
        sock.sendall(b"003abc")
        assert recv_exactly(sock, 6) == b"003abc"
        sock.shutdown(socket.SHUT_WR)
        assert recv_until_eof(sock) == b""
    code, err = server.stop()
    assert code == 0
    for expected in ["loop: woke after", "accepted by fd", "recv 6 B",
                     "handler LenPrefixHandler.data_received(6 B) -> 6 B reply in",
                     "send 6 B, all sent", "OPEN -> INPUT_CLOSED (peer_eof)",
                     "INPUT_CLOSED -> CLOSED (flushed)", "(EOF: the peer closed its side)"]:
        assert expected in err, expected


def test_ipv6_loopback(serve):
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        server = serve("--handler", "echo", "--host", "::1")
    except AssertionError as exc:
        pytest.skip(f"::1 not usable here: {exc}")
    assert server.host == "[::1]"
    with socket.create_connection(("::1", server.port), timeout=5) as sock:
        sock.sendall(b"six")
        assert sock.recv(10) == b"six"


@pytest.mark.parametrize("args, says", [
    (["--handler", "echo", "--upstream", "127.0.0.1:9"],
     "--upstream is an option of the relay handler, not of echo: use --handler relay"),
    (["--upstream=127.0.0.1:9"],
     "--upstream is an option of the relay handler, not of echo: use --handler relay"),
    (["--handler", "chat", "--work-ms", "5"],
     "--work-ms is an option of the slow handler, not of chat: use --handler slow"),
])
def test_another_handler_s_option_says_which_handler_takes_it(args, says):
    proc = run_serve(*args, "--port", "0")
    assert proc.returncode == 2
    assert proc.stderr == f"evloop.serve: error: {says}\n"


@pytest.mark.parametrize("workers", [[], ["--workers", "2"]])
def test_each_log_line_names_its_logger(serve, workers):
    server = serve("--handler", "userhandlers.greeter:Greeter", *workers)
    with server.connect() as client:
        assert recv_exactly(client, 6) == b"hello\n"
    code, err = server.stop()
    tag = r"\[\d\]" if workers else ""
    assert re.search(rf" greeter{tag} WARNING greeting 127\.0\.0\.1:\d+$", err, re.M), err
    assert re.search(rf" evloop{tag} INFO ", err) and " evloop WARNING greeting" not in err, err
    assert code == 0


def test_a_single_server_whose_loop_hangs_dumps_its_stack_and_exits_1(serve):
    server = serve("--handler", "userhandlers.hangs:Hangs", "--worker-timeout", "2")
    with server.connect() as client:
        client.sendall(b"hang")
        code = server.proc.wait(timeout=20)  # for a service manager to restart it
    err = server.proc.stderr.read()
    server.stderr = err
    assert code == 1, err
    assert re.search(r"the loop has not turned for [\d.]+s \(--worker-timeout 2s\): stuck in "
                     r"\S*hangs\.py:1[23] in data_received", err), err
    assert re.search(r'hangs\.py", line 1[23] in data_received', err), err  # every stack


ACCESS = r"peer=127\.0\.0\.1:{} duration=\d+\.\d{{3}}s in={} out={} reason={} worker=-$"


def test_the_access_log_has_a_line_per_connection_with_its_counts_and_its_end(serve):
    server = serve("--handler", "lenprefix", "--access-log", "--idle-timeout", "0.5")
    with server.connect() as client:  # two messages each way, then our EOF
        client.sendall(b"005hello")
        assert recv_exactly(client, 8) == b"005hello"
        client.sendall(b"002ok")
        assert recv_exactly(client, 5) == b"002ok"
        port = client.getsockname()[1]
    server.wait_stderr(ACCESS.format(port, "13B/2", "13B/2", "peer_eof"))
    with server.connect() as client:  # a bad header after a good message
        client.sendall(b"003abcHELLO")
        assert recv_until_eof(client) == b"003abc"
        port = client.getsockname()[1]
    server.wait_stderr(ACCESS.format(port, "11B/1", "6B/1", "protocol_error"))
    with server.connect() as client:  # one message, then silence
        client.sendall(b"002hi")
        assert recv_until_eof(client) == b"002hi"
        port = client.getsockname()[1]
    server.wait_stderr(ACCESS.format(port, "5B/1", "5B/1", "idle_timeout"))
    code, err = server.stop()
    assert code == 0 and len(re.findall(r" evloop\.access INFO peer=", err)) == 3, err


@pytest.mark.parametrize("workers", [[], ["--workers", "2"]])
def test_json_logs_are_one_object_per_line_each_naming_its_worker(serve, workers):
    server = serve("--log-format", "json", "--access-log", *workers)
    with server.connect() as client:
        client.sendall(b"json")
        assert recv_exactly(client, 4) == b"json"
    server.wait_stderr(r'"logger": "evloop\.access"')
    code, err = server.stop()
    entries = [json.loads(line) for line in err.splitlines()]  # every line parses
    assert code == 0 and entries, err
    assert all(set(entry) >= {"time", "level", "logger", "worker", "pid", "message"}
               for entry in entries)
    (access,) = [entry for entry in entries if entry["logger"] == "evloop.access"]
    assert (access["bytes_in"], access["messages_in"], access["bytes_out"],
            access["messages_out"], access["reason"]) == (4, 1, 4, 1, "peer_eof")
    draining = {entry["worker"] for entry in entries if entry["message"].startswith("stopping")}
    if workers:
        assert draining == {0, 1} and access["worker"] in {0, 1}, err
        assert any(entry["worker"] is None and "all workers stopped" in entry["message"]
                   for entry in entries), err  # the supervisor's own
    else:
        assert draining == {None} and access["worker"] is None, err


def test_options_from_the_environment_serve_as_the_flags_would(tmp_path):
    env = cli_env()
    env.update(EVLOOP_HANDLER="lenprefix", EVLOOP_UDP="yes", EVLOOP_PORT="0",
               EVLOOP_IDLE_TIMEOUT="5")
    proc = subprocess.Popen([sys.executable, "-m", "evloop.serve"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    try:
        line = proc.stdout.readline()
        assert "evloop: serving lenprefix on 127.0.0.1:" in line and "(tcp+udp)" in line, line
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0
    env.update(EVLOOP_MAX_MESSAGE="0")
    bad = subprocess.run([sys.executable, "-m", "evloop.serve"], capture_output=True, text=True,
                         cwd=ROOT, env=env, timeout=30)
    assert bad.returncode == 2
    assert bad.stderr == "evloop.serve: error: --max-message (0) must be at least 1\n"
    env.update(EVLOOP_MAX_MESSAGE="huge")
    bad = subprocess.run([sys.executable, "-m", "evloop.serve", "--max-message", "9"],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=30)
    assert bad.returncode == 2  # read even when a flag would win: a typo is not hidden
    assert bad.stderr.startswith("evloop.serve: error: EVLOOP_MAX_MESSAGE='huge': not a size")
