"""HTTP load from wrk: what the runner's load generator is for evloop's handlers.

wrk (Debian's package `wrk`) is a C HTTP benchmark: each of its threads runs
an epoll loop over its share of keep-alive connections, and each connection
sends its next request as soon as the last response is complete, as the
runner's own load generator does with echo messages.  So a "message" in the
tables of an HTTP point is a request and its whole response.

What the runner needs from a round, wrk gives through its Lua hook `done`,
which sees the totals and the latency histogram: the script below prints
them as one JSON line, which `run()` finds in wrk's output.  Then:

- requests/s is requests over wrk's own measured time;
- server CPU per request is the server's CPU time from /proc, read just
  before wrk starts and just after it ends (wrk has no warm-up phase and
  no marks: its 100 connects are inside the window, a few ms of a 2 s run);
- a round fails on any socket error or any status other than 2xx or 3xx.
  wrk reads no bodies, so `check_hello()` checks the body once per server,
  before its first round.

On two cores the client competes with the server for CPU: wrk runs one
thread (`-t1`), so it keeps to one core and the server has the other, as
the C load generator leaves it for evloop's handlers.  wrk takes whole
seconds (`-d1s` at the least): a quick run's rounds last one second.
"""

import http.client
import json
import math
import shutil
import subprocess
import tempfile

from bench import processes
from bench import procstat

THREADS = 1  # one core for wrk, one for the server: see above
TIMEOUT_S = 5  # a request slower than this counts as a timeout error
MARK = "wrk-json: "

REPORT_SCRIPT = """\
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{"requests": %.0f, "duration_us": %.0f, "bytes": %.0f, "connect": %.0f, "read": %.0f, '
    .. '"write": %.0f, "status": %.0f, "timeout": %.0f, "p50_us": %.1f, "p90_us": %.1f, '
    .. '"p99_us": %.1f, "p999_us": %.1f}\\n',
    "MARK", summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
end
""".replace("MARK", MARK)


def missing():
    """Why wrk cannot run here, or None."""
    return None if shutil.which("wrk") else "wrk is not installed (apt-get install wrk)"


def seconds(duration):
    """wrk's -d: whole seconds, one at the least."""
    return max(1, math.ceil(duration - 1e-9))


def command(port, connections, duration, script):
    return ["wrk", f"-t{min(THREADS, connections)}", f"-c{connections}",
            f"-d{seconds(duration)}s", f"--timeout={TIMEOUT_S}s", "-s", script,
            f"http://127.0.0.1:{port}/"]


def run(server, connections, duration):
    """One wrk run against `server` (a runner.Server): the runner's result dict."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="evloop-wrk-") as script:
        script.write(REPORT_SCRIPT)
        script.flush()
        argv = command(server.port, connections, duration, script.name)
        limit = seconds(duration) + TIMEOUT_S + 30
        before = procstat.cpu_times(server.proc.pid)
        proc = processes.start(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               stdin=subprocess.DEVNULL)
        try:
            out, err = proc.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            processes.kill_group(proc)
            proc.communicate()
            return {"status": "failed", "reason": f"time limit of {limit:.0f} s exceeded"}
        finally:
            processes.reap(proc)
        after = procstat.cpu_times(server.proc.pid)
    lines = [line[len(MARK):] for line in out.splitlines() if line.startswith(MARK)]
    if proc.returncode != 0 or not lines:
        last = (err.strip() or out.strip()).splitlines()[-1:] or [""]
        return {"status": "failed", "reason": f"wrk exited {proc.returncode}: {last[0]}".strip()}
    totals = json.loads(lines[0])
    result = figures(totals, before, after)
    result.update(judge(totals, connections, server))
    return result


def figures(totals, before, after):
    """The runner's figures from wrk's totals and the server's CPU times around the run."""
    wall = totals["duration_us"] / 1e6
    result = {"loadgen": f"wrk -t{THREADS}", "messages": int(totals["requests"]),
              "msgs_per_s": totals["requests"] / wall if wall else 0.0,
              "mb_per_s": totals["bytes"] / wall / 1e6 if wall else 0.0,
              "p50_us": totals["p50_us"], "p90_us": totals["p90_us"],
              "p99_us": totals["p99_us"], "p999_us": totals["p999_us"],
              "errors": sum(int(totals[key]) for key in ("connect", "read", "write", "timeout")),
              "bad_status": int(totals["status"])}
    if result["messages"] and before is not None and after is not None:
        (user0, system0), (user1, system1) = before, after
        per_request = 1e6 / result["messages"]
        result["cpu_us_per_msg"] = (user1 - user0 + system1 - system0) * per_request
        result["user_us_per_msg"] = (user1 - user0) * per_request
    return result


def judge(totals, connections, server):
    """ok or failed, with the reason."""
    if not server.alive():
        return {"status": "failed", "reason": f"server died: {server.tail()}"}
    errors = {key: int(totals[key]) for key in ("connect", "read", "write", "timeout") if totals[key]}
    if errors:
        said = ", ".join(f"{count} {key}" for key, count in errors.items())
        return {"status": "failed", "reason": f"socket errors under wrk: {said}"}
    if totals["status"]:
        return {"status": "failed", "reason": f"{totals['status']:.0f} responses not 2xx or 3xx"}
    if not totals["requests"]:
        return {"status": "failed", "reason": "no responses"}
    return {"status": "ok"}


def check_hello(port, requests=1, timeout=10):
    """GET / `requests` times on one keep-alive connection: None if every answer was
    200 with the body `hello`, else what was wrong.  Also a warm-up too short for wrk."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        for _ in range(requests):
            connection.request("GET", "/")
            response = connection.getresponse()
            body = response.read()
            if response.status != 200 or body != b"hello":
                return f"GET / answered {response.status} {body[:40]!r}, not 200 b'hello'"
    except (OSError, http.client.HTTPException) as error:
        return f"GET / failed: {error!r}"
    finally:
        connection.close()
    return None

