"""A server process's own affairs: the user it runs as, its pid file, and a
worker's death with its supervisor.

* `--user` and `--group`.  Binding a port below 1024 needs root; serving
  does not.  As in nginx and gunicorn, the process that binds keeps its
  user, and what serves gives it up: each worker, just after its fork
  (`become`), or a single server once its sockets are bound.  The
  supervisor stays root because it binds the metrics ports of new workers,
  writes and removes the pid file, and re-reads the files a reload needs.
  Names are looked up once, at start (`lookup`): a user that does not
  exist, or a change of user without root, is one line and exit code 2.
* `--pid-file PATH` holds the pid of the process a service manager or an
  operator signals (the supervisor, or the single server): written whole
  or not at all (a temporary file renamed into place), and removed at exit
  only if it still names this process.
* A worker dies with its supervisor (`die_with_parent`): Linux's
  PR_SET_PDEATHSIG, through ctypes, has the kernel send it SIGKILL when
  the supervisor ends, however it ends, so no orphan, hung or not, keeps
  the port.  Set after the change of user, which clears it.  Where prctl is
  missing, the worker's once-a-second look at its parent remains.
"""

from __future__ import annotations

import ctypes
import dataclasses
import grp
import logging
import os
import pwd
import signal
import sys

log = logging.getLogger("evloop")

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@dataclasses.dataclass(frozen=True)
class Identity:
    """Whom to become: numeric ids, looked up once."""

    uid: int | None
    gid: int | None
    name: str | None  # the user's name, for its supplementary groups


def lookup(user: str | None, group: str | None) -> Identity | None:
    """`--user`/`--group` as ids; None if neither is set.  ValueError names the field."""
    if user is None and group is None:
        return None
    uid = gid = None
    name = None
    if user is not None:
        try:
            entry = pwd.getpwnam(user) if not user.isdigit() else pwd.getpwuid(int(user))
        except KeyError:
            raise ValueError(f"user ({user!r}) is not a user on this machine") from None
        uid, gid, name = entry.pw_uid, entry.pw_gid, entry.pw_name
    if group is not None:
        try:
            gid = (grp.getgrnam(group) if not group.isdigit() else grp.getgrgid(int(group))).gr_gid
        except KeyError:
            raise ValueError(f"group ({group!r}) is not a group on this machine") from None
    changes = (uid is not None and uid != os.geteuid()) or (gid is not None and gid != os.getegid())
    if changes and os.geteuid() != 0:
        raise ValueError(f"user and group can be changed by root only; this process runs as "
                         f"uid {os.geteuid()}")
    return Identity(uid, gid, name)


def become(identity: Identity | None) -> None:
    """Give up root for `identity`: the group first, while root may still set it."""
    if identity is None or os.geteuid() != 0:
        return
    if identity.gid is not None:
        os.setgroups([])
        if identity.name is not None:
            os.initgroups(identity.name, identity.gid)
        os.setgid(identity.gid)
    if identity.uid is not None:
        os.setuid(identity.uid)


def die_with_parent(parent: int) -> None:
    """SIGKILL from the kernel when `parent` ends (see the essay); at once if it has."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it ended before the prctl: nobody would tell us
        os._exit(1)


class PidFile:
    """`--pid-file`: this process's pid at `path`, from `write()` to `remove()`."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.pid = 0

    def write(self) -> None:
        """OSError if it cannot be written: found at start, one line."""
        if self.path is None:
            return
        pid = os.getpid()
        temporary = f"{self.path}.{pid}.tmp"
        try:
            with open(temporary, "w") as f:
                f.write(f"{pid}\n")
            os.replace(temporary, self.path)
            self.pid = pid  # ours to remove from now on
        except OSError:
            try:
                os.unlink(temporary)
            except OSError:
                pass
            raise

    def remove(self) -> None:
        if self.path is None or self.pid != os.getpid():  # a forked worker: not its file
            return
        try:
            with open(self.path) as f:
                if f.read().strip() != str(self.pid):
                    return  # a newer server's: it is not ours to remove
            os.unlink(self.path)
        except OSError as exc:
            log.warning("cannot remove the pid file %s: %s", self.path, exc.strerror or exc)
