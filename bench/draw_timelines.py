"""The slow-handler demo, recorded three ways and drawn: what chapter 5 shows.

Three clients each send one line to the slow handler (300 ms of sleep per
line), 50 ms apart, on loopback:

* `inline`: evloop runs the handler in the loop: the loop is held for each
  line in turn, and the second and third client wait for the first;
* `offload`: evloop with `--offload thread`: the work goes to a pool, the
  loop sleeps in the selector meanwhile, and the three overlap;
* `threads`: bench.threads (recorded by bench.timelines): a thread per
  client, each blocked in its own work.

For each, the trace file (`NAME.json`), its page (`NAME.html`, from
`python3 -m evloop.trace view`) and, when Debian's chromium is installed, a
screenshot (`NAME.png`) go into the folder given (default: docs/images):

    python3 -m bench.draw_timelines [FOLDER]
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLOW = ["--handler", "slow", "--work-ms", "300", "--work", "sleep", "--port", "0"]
RUNS = {
    "inline": ["-m", "evloop.serve", *SLOW, "--trace-file", "{trace}"],
    "offload": ["-m", "evloop.serve", *SLOW, "--offload", "thread", "--trace-file", "{trace}"],
    "threads": ["-m", "bench.timelines", "--trace-file", "{trace}", *SLOW],
}
CLIENTS = 3
APART = 0.05  # seconds between the clients' lines


def start(argv):
    server = subprocess.Popen([sys.executable, *argv], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=HERE)
    line = server.stdout.readline()
    port = int(line.split(" on ")[1].split()[0].rsplit(":", 1)[1])
    return server, port


def drive(port):
    """The clients: one line each, APART seconds apart; every echo read back."""
    clients = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(CLIENTS)]
    for number, client in enumerate(clients):
        client.sendall(f"client {number + 1}\n".encode())
        time.sleep(APART)
    for number, client in enumerate(clients):
        want = f"client {number + 1}\n".encode()
        got = b""
        while len(got) < len(want):
            chunk = client.recv(100)
            if not chunk:
                raise SystemExit(f"draw_timelines: client {number + 1} lost its connection")
            got += chunk
        client.close()
    time.sleep(0.1)  # let the server see the closes


def screenshot(page, png):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("draw_timelines: chromium is not installed; no screenshot", file=sys.stderr)
        return
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                        f"--user-data-dir={profile}", "--hide-scrollbars",
                        "--window-size=1400,760", f"--screenshot={png}",
                        "file://" + os.path.abspath(page)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120,
                       check=True)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    folder = os.path.abspath(argv[0]) if argv else os.path.join(HERE, "docs", "images")
    os.makedirs(folder, exist_ok=True)
    for name, template in RUNS.items():
        # Relative to the repository when inside it: the file records its command.
        trace = os.path.relpath(os.path.join(folder, f"timeline-{name}.json"), HERE)
        if trace.startswith(".."):
            trace = os.path.join(folder, f"timeline-{name}.json")
        server, port = start([part.replace("{trace}", trace) for part in template])
        try:
            drive(port)
        finally:
            server.send_signal(signal.SIGTERM)
            server.communicate(timeout=30)
        page = os.path.join(HERE, trace[:-len(".json")] + ".html")
        subprocess.run([sys.executable, "-m", "evloop.trace", "view", trace, "-o", page],
                       check=True, cwd=HERE)
        screenshot(page, page[:-len(".html")] + ".png")
        print(f"draw_timelines: {name}: {trace}, {page}")


if __name__ == "__main__":
    main()
