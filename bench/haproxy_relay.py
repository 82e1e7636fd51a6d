"""HAProxy as a relay (`mode tcp`, one thread), started the way the runner starts a
model: `--port 0`, `--upstream HOST:PORT`, and a startup line once it listens.

HAProxy is C, event-driven (epoll), and what people put in front of servers in
production: the reference a Python relay is measured against.  `nbthread 1`
keeps it on one core, as every other relay here is.  HAProxy cannot listen on
port 0, so a free port is picked first, its configuration written to a
temporary file, and HAProxy run in the foreground (-db) as this process's
child until SIGTERM, which is passed on.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from bench import common

CONFIG = """\
global
    nbthread 1
    maxconn {maxconn}
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend relay
    bind {host}:{port}
    default_backend upstream
backend upstream
    server backend {upstream}
"""


def maxconn():
    """As many connections as the descriptor limit allows: two descriptors each."""
    import resource
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(100, (min(soft, 2 * common.MAX_CONNECTIONS) - 100) // 2)


def free_port(host):
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def main():
    options = common.parse_args("haproxy-relay")
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not os.access(haproxy, os.X_OK):
        sys.exit("bench.haproxy_relay: haproxy is not installed (apt-get install haproxy)")
    port = options.port or free_port(options.host)
    with tempfile.NamedTemporaryFile("w", suffix=".cfg", prefix="evloop-haproxy-") as config:
        config.write(CONFIG.format(host=options.host, port=port, upstream=options.upstream,
                                   maxconn=maxconn()))
        config.flush()
        proc = subprocess.Popen([haproxy, "-db", "-f", config.name], stdin=subprocess.DEVNULL)
        signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                socket.create_connection((options.host, port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.02)
        else:
            proc.kill()
            sys.exit(f"bench.haproxy_relay: haproxy did not listen on {options.host}:{port}")
        common.announce(options, (options.host, port))
        sys.exit(proc.wait())


if __name__ == "__main__":
    common.run(main)
