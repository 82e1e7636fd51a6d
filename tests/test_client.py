"""The interactive client, driven through a pipe as a script would."""

import io
import socket
import subprocess
import sys

import pytest

from conftest import ROOT
from conftest import cli_env
from evloop import client


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
    assert proc.returncode == 0
    assert "no reply within 0.2s" in proc.stderr


def test_server_closing_mid_reply_is_an_error(serve):
    server = serve("--handler", "lenprefix")
    out = io.StringIO()
    code = client.main(["--handler", "lenprefix", "--framing", "raw", "--port", str(server.port)],
                       stream=io.StringIO("bad\n"))
    assert code == 1 and out.getvalue() == ""


def test_frame():
    assert client.frame("lenprefix", "héllo") == b"006h\xc3\xa9llo"
    assert client.frame("line", "x") == b"x\n"
    assert client.frame("raw", "x") == b"x"
