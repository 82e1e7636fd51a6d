"""bench/protocol_echo.py: the plainest asyncio Protocol echo, the same on each loop."""

import signal
import socket
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.conftest import cli_env


@pytest.mark.timeout(60)
@pytest.mark.parametrize("loop", ["asyncio", "aio"])
def test_it_echoes_on_each_loop_and_stops_on_sigterm(loop):
    server = subprocess.Popen([sys.executable, "bench/protocol_echo.py", loop], cwd=ROOT,
                              env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        line = server.stdout.readline()
        port = int(line.rsplit(":", 1)[1].split()[0])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"ping")
            assert sock.recv(10) == b"ping"
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
