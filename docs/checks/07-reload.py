"""07-reload: SIGHUP serves the changed handler to new clients, and drops nobody.

The student's file defines `VERSION = "v1"` and `Versioned`, a handler that
answers every message with `VERSION PID`.  The grader copies it to a scratch
folder as versioned.py, serves it with `--workers 2`, keeps one client
connected, changes the file's VERSION line to "v2", and sends the
supervisor SIGHUP.  Judged: after the reload a new client is answered v2 by
a new worker, a child of the supervisor; the client from before is still
answered v1, by its old worker.
"""

import os
import re
import shutil
import signal
import socket
import tempfile
import time

from docs.checks import _kit

TITLE = "A reload picks up new code"
CHAPTER = "07-beyond-one-process.md"
LEVEL = 2
MINUTES = 30

VERSION_LINE = re.compile(r'^VERSION = "v1"$', re.M)


def ask(sock: socket.socket) -> list[str]:
    sock.sendall(b"?")
    return _kit.recv_until_eof_or_line(sock).split()


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("PPid:")).split()[1])


def grade(student: _kit.Student) -> str:
    student.need("Versioned")
    _kit.check(student.need("VERSION") == "v1", "VERSION should be \"v1\" to begin with")
    with open(student.path) as f:
        source = f.read()
    _kit.check(len(VERSION_LINE.findall(source)) == 1,
               'the file needs one line `VERSION = "v1"`, for the grader to change')
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "versioned.py")
        shutil.copy(student.path, path)
        with _kit.process("--handler", "versioned:Versioned", "--workers", "2",
                          "--reload-grace", "20", paths=(folder,)) as (server, port):
            with _kit.connect(port, timeout=5) as old:
                before = ask(old)
                _kit.check(len(before) == 2 and before[0] == "v1" and before[1].isdigit(),
                           f"Versioned answered {' '.join(before)!r}, not 'v1 PID'")
                with open(path, "w") as f:
                    f.write(VERSION_LINE.sub('VERSION = "v2"', source))
                later = time.time() + 10
                os.utime(path, (later, later))  # newer than the .pyc of the version before
                server.send_signal(signal.SIGHUP)
                after: list[str] = []
                deadline = time.monotonic() + 10
                while after[:1] != ["v2"] and time.monotonic() < deadline:
                    with _kit.connect(port, timeout=5) as new:
                        after = ask(new)
                    time.sleep(0.05)
                _kit.check(after[:1] == ["v2"], f"after SIGHUP new clients still get {after}")
                _kit.expect(after[1] != before[1], "the new version was served by the old worker")
                _kit.expect(parent_of(int(after[1])) == server.pid,
                            "the new worker is not the supervisor's child")
                again = ask(old)
                _kit.expect(again == before, f"the client from before the reload got {again}, "
                                             f"not {before}: it lost its old worker")
    return f"worker {before[1]} still answers v1 to its client; worker {after[1]} answers v2"
