"""The interactive client, driven through a pipe as a script would."""

import io
import socket
import subprocess
import sys

import pytest

from evloop.cli import client
from tests.conftest import ROOT
from tests.conftest import cli_env
from tests.conftest import running


def run_client(*args, stdin=""):
    return subprocess.run([sys.executable, "-m", "evloop.client", *args], input=stdin,
                          capture_output=True, text=True, cwd=ROOT, timeout=30, env=cli_env())


@pytest.mark.parametrize("handler, lines, expected", [
    ("echo", "Hello, world\nsecond line\n", "Hello, world\nsecond line\n"),
    ("uppercase", "hello there\n", "HELLO THERE\n"),
    ("lenprefix", "Hello!! Server!!\n\nthird\n", "Hello!! Server!!\n\nthird\n"),
])
def test_piped_lines_get_replies(serve, handler, lines, expected):
    server = serve("--handler", handler)
    proc = run_client("--handler", handler, "--port", str(server.port), stdin=lines)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == expected


@pytest.mark.parametrize("handler", ["uppercase", "lenprefix"])
def test_udp(serve, handler):
    server = serve("--handler", handler, "--udp")
    proc = run_client("--handler", handler, "--udp", "--port", str(server.port), stdin="udp line\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ("UDP LINE\n" if handler == "uppercase" else "udp line\n")


def test_chat_line_mode(serve):
    server = serve("--handler", "chat")
    with server.connect() as listener:
        listener.recv(1024)  # welcome
        proc = run_client("--handler", "chat", "--port", str(server.port), stdin="hi there\n/quit\n")
        assert proc.returncode == 0, proc.stderr
        assert "welcome" in proc.stdout and "* bye" in proc.stdout
        seen = b""
        while b"hi there" not in seen:
            seen += listener.recv(1024)
        assert b": hi there\n" in seen


def test_connection_refused_is_explained():
    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = run_client("--port", str(port), stdin="x\n")
    assert proc.returncode == 1
    assert "connection refused: no server is listening on 127.0.0.1:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_too_long_lenprefix_line_is_skipped(serve):
    server = serve("--handler", "lenprefix")
    proc = run_client("--handler", "lenprefix", "--port", str(server.port),
                      stdin="x" * 1000 + "\nok\n")
    assert proc.returncode == 0
    assert "at most 999 bytes" in proc.stderr and proc.stdout == "ok\n"


def test_udp_timeout_is_reported():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        proc = run_client("--udp", "--timeout", "0.2", "--port", str(port), stdin="lost\n")
    assert proc.returncode == 1  # was 0: a reply that never came is a failure
    assert "no reply within 0.2s" in proc.stderr


def test_server_closing_mid_reply_is_an_error(serve):
    server = serve("--handler", "lenprefix")
    out = io.StringIO()
    code = client.main(["--handler", "lenprefix", "--framing", "raw", "--port", str(server.port)],
                       stream=io.StringIO("bad\n"))
    assert code == 1 and out.getvalue() == ""


def test_a_mistyped_handler_is_an_error_not_raw_framing(serve):
    proc = run_client("--handler", "lenprefx", "--port", "1", stdin="x\n")
    assert proc.returncode == 2
    assert proc.stderr == ("evloop.client: error: unknown handler 'lenprefx'; the client knows "
                           "echo, uppercase, lenprefix, chat, slow; for a handler of your own, "
                           "say --framing raw, lenprefix or line\n")


def test_a_raw_reply_longer_than_the_request_is_read_whole(serve):
    server = serve("--handler", "userhandlers.reverse:Doubler")
    proc = run_client("--handler", "Doubler", "--framing", "raw", "--port", str(server.port),
                      stdin="ab\ncd\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ab ab\ncd cd\n"  # a raw reply ends at a pause, not at the request's length


def chat_client(port):
    return running([sys.executable, "-m", "evloop.client", "--handler", "chat", "--port", str(port)])


def test_the_chat_client_exits_after_quit_while_its_input_is_still_open(serve):
    server = serve("--handler", "chat")
    with chat_client(server.port) as proc:
        proc.stdin.write("/quit\n")
        proc.stdin.flush()  # and the input stays open, as a terminal's does
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert out.rstrip().endswith("* bye") and "Broken pipe" not in err


def test_the_chat_client_ends_when_the_server_closes(serve):
    server = serve("--handler", "chat")
    with chat_client(server.port) as proc:
        assert "welcome" in proc.stdout.readline()
        server.stop()
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "Traceback" not in err


def test_slow_over_udp_prints_no_extra_blank_line(serve):
    server = serve("--handler", "slow", "--udp", "--work-ms", "0")
    proc = run_client("--handler", "slow", "--udp", "--port", str(server.port), stdin="one\ntwo\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "one\ntwo\n"


def test_version():
    proc = run_client("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("python3 -m evloop.client 0.")


def test_line_framing_is_an_error_when_the_server_closes_without_answering(serve):
    server = serve("--handler", "lenprefix")  # a line is not a length prefix: it closes, silent
    proc = run_client("--framing", "line", "--port", str(server.port), stdin="hello there\n")
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr == ("evloop.client: error: the server closed the connection without "
                           "answering\n")
