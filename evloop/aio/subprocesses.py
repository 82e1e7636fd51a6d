"""Subprocesses: asyncio's subprocess transport, and waiting for a child without SIGCHLD.

A child process, to an event loop, is up to three pipes and an exit status.
The pipes are this loop's pipe transports (evloop.aio.pipes); `spawn` makes
the transport for subprocess_exec and subprocess_shell (evloop.aio.loop).  What joins
them into one SubprocessTransport is asyncio's own BaseSubprocessTransport
(asyncio.base_subprocess), which asks the loop only for public calls
(connect_read_pipe, connect_write_pipe, call_soon, create_task,
create_future, get_debug); its `_start` is this module's, subprocess.Popen
with the pipes, as asyncio's unix_events has it.

The exit status is the hard part.  asyncio has long learned of its
children's deaths through SIGCHLD and "child watchers" (one per process,
tied to the main thread; deprecated from Python 3.12).  This loop's
`ChildWatcher` asks the kernel about each child instead:

* on Linux 5.3+, os.pidfd_open(pid) gives a descriptor that turns readable
  when the child exits; the loop watches it as it watches a socket, and in
  its reader os.waitpid(pid, 0) returns at once with the status;
* elsewhere, or where pidfd_open is refused, one thread per child blocks in
  os.waitpid(pid, 0) and hands the status to the loop with
  call_soon_threadsafe, as asyncio's ThreadedChildWatcher does.

No signal handler is installed, so a loop in any thread can run children,
and a program's own SIGCHLD handling is left alone.  The status reaches the
transport as asyncio's watcher on the running Python hands it over, so the
pipes' last bytes come first and process_exited sees the same context
variables (`EXIT_HOPS`): from a waiter thread (asyncio's only way up to
3.11), two turns later in the thread's empty context; from 3.12, from a
pidfd, one turn later in the context where the child was started.  A
child reaped elsewhere first (Popen.poll(), which send_signal calls) left
its status in its Popen, which is used; else 255, as asyncio reports.

The argument rules are asyncio's: text mode, line buffering and shell=
are the loop's business, not the caller's, and are refused with asyncio's
ValueErrors.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import os
import subprocess
import sys
import threading
from asyncio import base_subprocess
from typing import Any

__all__ = ["ChildWatcher", "SubprocessTransport", "check_popen_arguments", "exit_code", "spawn"]

log = logging.getLogger("asyncio")
PIPE = subprocess.PIPE
# Turns from a pidfd's report of an exit to process_exited (the module's essay).
EXIT_HOPS = 2 if sys.version_info < (3, 12) else 1
# asyncio's waiter threads' names: "waitpid-0", "waitpid-1"... ("asyncio-waitpid-0" from 3.11).
WAITER_NAME = "waitpid-{}" if sys.version_info < (3, 11) else "asyncio-waitpid-{}"
_waiters = itertools.count(0)


class SubprocessTransport(base_subprocess.BaseSubprocessTransport):
    """asyncio's subprocess transport, started with subprocess.Popen."""

    def _start(self, args: Any, shell: bool, stdin: Any, stdout: Any, stderr: Any,
               bufsize: int, **kwargs: Any) -> None:
        # subprocess.Popen looked up at each call: tests replace it with a mock
        self._proc = subprocess.Popen(args, shell=shell, stdin=stdin, stdout=stdout,
                                      stderr=stderr, universal_newlines=False,
                                      bufsize=bufsize, **kwargs)


def exit_code(pid: int, proc: subprocess.Popen[Any] | None) -> int:
    """Reap `pid` (it has exited, or will) and return its returncode, -N for signal N."""
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        if proc is not None and proc.returncode is not None:
            return proc.returncode  # Popen.poll() reaped it and kept the status
        log.warning("child process pid %d exit status already read: "
                    " will report returncode 255", pid)
        return 255
    return os.waitstatus_to_exitcode(status)


def check_popen_arguments(shell_wanted: bool, universal_newlines: Any, shell: Any,
                          bufsize: Any, text: Any, encoding: Any, errors: Any) -> None:
    """asyncio's rules, in asyncio's order: bytes, unbuffered, and the loop's shell=."""
    if universal_newlines:
        raise ValueError("universal_newlines must be False")
    if shell_wanted and not shell:
        raise ValueError("shell must be True")
    if not shell_wanted and shell:
        raise ValueError("shell must be False")
    if bufsize != 0:
        raise ValueError("bufsize must be 0")
    if text:
        raise ValueError("text must be False")
    if encoding is not None:
        raise ValueError("encoding must be None")
    if errors is not None:
        raise ValueError("errors must be None")


class ChildWatcher:
    """The children of one loop, each watched until it exits (see the module's essay)."""

    def __init__(self, loop: Any) -> None:
        self.loop = loop
        self.pidfds: dict[int, SubprocessTransport] = {}  # watched, their child alive

    def watch(self, transport: SubprocessTransport) -> None:
        pid = transport.get_pid()
        assert pid is not None  # Popen succeeded
        pidfd_open = getattr(os, "pidfd_open", None)  # Linux 5.3+ only
        try:
            pidfd = -1 if pidfd_open is None else pidfd_open(pid)
        except OSError:  # ENOSYS on older kernels, EPERM under some sandboxes
            pidfd = -1
        if pidfd < 0:
            threading.Thread(target=self._wait_in_thread, args=(pid, transport),
                             name=WAITER_NAME.format(next(_waiters)), daemon=True).start()
            return
        self.pidfds[pidfd] = transport
        self.loop.add_reader(pidfd, self._child_exited, pidfd, pid, transport)

    def _child_exited(self, pidfd: int, pid: int, transport: SubprocessTransport) -> None:
        """The pidfd's reader: the child has exited, so waitpid() will not block."""
        self.loop.remove_reader(pidfd)
        del self.pidfds[pidfd]
        os.close(pidfd)
        returncode = exit_code(pid, transport._proc)
        if EXIT_HOPS == 1:
            self.loop.call_soon(transport._process_exited, returncode)
        else:  # as from asyncio's waiter thread, in its empty context
            self.loop.call_soon(self.loop.call_soon, transport._process_exited, returncode,
                                context=contextvars.Context())

    def _wait_in_thread(self, pid: int, transport: SubprocessTransport) -> None:
        """Without pidfds: block in waitpid() in a thread of its own."""
        returncode = exit_code(pid, transport._proc)
        try:  # two turns on every Python, as from asyncio's ThreadedChildWatcher
            self.loop.call_soon_threadsafe(self.loop.call_soon, transport._process_exited,
                                           returncode)
        except RuntimeError:  # the loop was closed first: nobody is left to tell
            log.warning("Loop %r that handles pid %r is closed", self.loop, pid)

    def close(self) -> None:
        # Children still running are reaped by subprocess's own clean-up (Popen.__del__).
        pidfds, self.pidfds = self.pidfds, {}
        for pidfd in pidfds:
            os.close(pidfd)


async def spawn(loop: Any, children: ChildWatcher, protocol: Any, args: Any, shell: bool,
                stdin: Any, stdout: Any, stderr: Any, bufsize: int, extra: Any = None,
                **kwargs: Any) -> SubprocessTransport:
    """A started child's transport, once its pipes are connected."""
    waiter = loop.create_future()
    transport = SubprocessTransport(loop, protocol, args, shell, stdin, stdout, stderr,
                                    bufsize, waiter=waiter, extra=extra, **kwargs)
    children.watch(transport)
    # Not transports.wait_made: as asyncio's unix_events, SystemExit and
    # KeyboardInterrupt pass, and a child whose pipes failed is reaped.
    try:
        await waiter
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException:  # cancelled, or a pipe failed: no child left behind
        transport.close()
        await transport._wait()
        raise
    return transport
