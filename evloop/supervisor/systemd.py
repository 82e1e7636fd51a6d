"""Telling a supervisor how the server is: sd_notify(3)'s datagram protocol.

A service manager that starts evloop (systemd with `Type=notify`) wants to
know when it is up, not merely that the process exists: until then the
units after it wait, and a client activated on its sockets waits in the
accept queue.  The protocol is one Unix datagram per message to the path
in `NOTIFY_SOCKET` (a leading "@" names an abstract socket), each a few
`KEY=value` lines:

* `READY=1` once every worker listens;
* `RELOADING=1` when a reload begins (with `MONOTONIC_USEC`, which
  `Type=notify-reload` asks for), then `READY=1` when it is done, or, if it
  is refused, only a `STATUS=` that says why: the reload never completes,
  and systemd reports it failed once `TimeoutStartSec=` has passed;
* `STOPPING=1` when a stop begins;
* `STATUS=...`, a line that `systemctl status` shows: here the workers and
  the connections open;
* `WATCHDOG=1` every half of `WATCHDOG_USEC` (systemd's `WatchdogSec=`),
  only while the loop turns and every worker's heartbeat is fresh
  (evloop.supervisor.watchdog): silence makes systemd restart the service.

No library: a datagram socket and `sendto`.  Without `NOTIFY_SOCKET` every
call is a no-op, and a failed send is logged once, never raised: telling
is a courtesy, serving is the job.
"""

from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger("evloop")

SEND_TIMEOUT = 1.0


class Notifier:
    """`notify(READY=1, STATUS="...")` to the service manager, if there is one."""

    def __init__(self, path: str | None = None) -> None:
        path = os.environ.get("NOTIFY_SOCKET") if path is None else path
        if path and path.startswith("@"):
            path = "\0" + path[1:]  # an abstract socket's name
        self.path = path or None
        self.sock: socket.socket | None = None
        self.warned = False
        self.last_status = ""

    def notify(self, **fields: object) -> None:
        if self.path is None:
            return
        message = "\n".join(f"{key}={value}" for key, value in fields.items()).encode()
        try:
            if self.sock is None:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self.sock.settimeout(SEND_TIMEOUT)  # a full queue is waited for, briefly
            self.sock.sendto(message, self.path)
        except OSError as exc:
            if not self.warned:  # once: the next notice is tried all the same
                self.warned = True
                log.warning("NOTIFY_SOCKET %s: %s; notices may be missing",
                            self.path.replace("\0", "@"), exc.strerror or exc)

    def watchdog_interval(self) -> float | None:
        """How often to send WATCHDOG=1 (half of WATCHDOG_USEC), or None if not asked."""
        usec, pid = os.environ.get("WATCHDOG_USEC", ""), os.environ.get("WATCHDOG_PID", "")
        if self.path is None or not usec.isdigit() or int(usec) == 0:
            return None
        if pid and pid != str(os.getpid()):  # meant for another process (the one before us)
            return None
        return int(usec) / 2e6

    def alive(self) -> None:
        self.notify(WATCHDOG=1)

    def ready(self, status: str) -> None:
        self.last_status = status
        self.notify(READY=1, STATUS=status)

    def refused(self, reason: str, status: str) -> None:
        """A reload that failed: STATUS= says so, and no READY=1 follows RELOADING=1,
        so `systemctl reload` reports a failure, not a success."""
        self.last_status = f"reload refused: {reason}; {status}"
        self.notify(STATUS=self.last_status)

    def reloading(self) -> None:
        self.notify(RELOADING=1, MONOTONIC_USEC=time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)

    def stopping(self) -> None:
        self.notify(STOPPING=1)

    def status(self, status: str) -> None:
        """STATUS=, only when it changed: a status line each second would be noise."""
        if status != self.last_status:
            self.last_status = status
            self.notify(STATUS=status)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
