"""What each signal does to an evloop server: one table, for the supervisor
and the single server alike.

=========  ===================================  =================================
signal     --workers N (the supervisor)         one process (--workers 1)
=========  ===================================  =================================
SIGTERM    stop: close the listener, drain      stop: close the listener, drain
SIGINT     the same (Ctrl-C)                    the same
SIGQUIT    the same (nginx's graceful stop)     the same
second     the workers reset what they hold     reset every connection
SIGHUP     reload the code and the TLS files    re-read the TLS files, if any
SIGTTIN    one worker more                      (not handled)
SIGTTOU    one worker fewer                     (not handled)
SIGUSR1    ignored, with one line               ignored, with one line
SIGUSR2    ignored, with one line               ignored, with one line
=========  ===================================  =================================

nginx and gunicorn reopen their log files on SIGUSR1; evloop writes its log
to stderr and opens no file, so there is nothing to reopen.  They start a
new binary on SIGUSR2; a reload (SIGHUP) is evloop's way to new code.  Left
at their default action, either would kill the process with no drain, so
they are taken and named instead.  Past `--graceful-timeout` a stop kills
what is left (evloop.supervisor.children).

A worker ignores every one of these that its supervisor decides (Ctrl-C and
Ctrl-\\ reach the whole process group); it takes SIGTERM (drain) and SIGHUP
(retire) from its server once it listens.
"""

from __future__ import annotations

import logging
import signal

log = logging.getLogger("evloop")

STOP: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
IGNORED: dict[int, str] = {
    signal.SIGUSR1: "logs go to stderr, and no log file is open to reopen",
    signal.SIGUSR2: "no binary upgrade here: SIGHUP reloads the handler's code",
}
# What a worker leaves to its supervisor until its server takes its own.
SUPERVISOR_DECIDES: tuple[int, ...] = (*STOP, signal.SIGHUP, *IGNORED)


def say_ignored(signum: int) -> None:
    """The one line for a signal that evloop takes only to name and ignore."""
    log.warning("%s: %s; ignored", signal.Signals(signum).name, IGNORED[signum])
