"""The bounds that keep one client from hurting the others, and their defaults.

Every bound is finite by default, because a server is trusted for what it
does when clients misbehave:

* `high_water` / `low_water` (256 KiB / 64 KiB): output backpressure, as in
  asyncio's flow control.  A client that sends and never reads stops being
  read once its pending replies pass high water, and is read again when they
  drain to low water.
* `max_output` (8 MiB): the hard bound on one client's pending output, for
  bytes that backpressure cannot slow down (other clients' chat lines), as
  Redis's `client-output-buffer-limit` does for pub/sub clients.
* `idle_timeout` (300 s): a connection that completes no message for this
  long is closed, whether it sends nothing or dribbles a byte at a time
  (nginx's client timeouts).
* `MAX_PENDING_WORK` (64): a client whose offloaded calls (--offload) in
  flight pass this stops being read until they drop to RESUME_PENDING_WORK,
  so a client that pipelines faster than the pool works cannot queue
  unbounded work.
* `handshake_timeout` (10 s): what must happen before a connection's
  handler starts (its PROXY header, its TLS handshake) must be done within
  this, one deadline from the accept;
* `max_connections` (10,000) and `drain_timeout` (5 s) are the server's;
  `max_message` (64 KiB) is the handlers' own bound, and its default lives
  with them (evloop.handlers.base.DEFAULT_MAX_MESSAGE).

evloop.settings.config.Config holds the values a server uses, checks them
when it is built, and takes its defaults from here (and that one from the
handlers).
"""

from __future__ import annotations

KIB = 1024
MIB = 1024 * 1024

DEFAULT_HIGH_WATER = 256 * KIB
DEFAULT_LOW_WATER = 64 * KIB
DEFAULT_MAX_OUTPUT = 8 * MIB
DEFAULT_IDLE_TIMEOUT = 300.0
DEFAULT_MAX_CONNECTIONS = 10000
# Descriptors besides the clients': listeners, the selector, the waker's pair, metrics
# scrapes, logs.  The server asks for max_connections + this (sockets.raise_fd_limit).
FD_HEADROOM = 64
DEFAULT_DRAIN_TIMEOUT = 5.0
# A loop silent this long is stuck: its worker is killed and replaced (gunicorn's --timeout).
DEFAULT_WORKER_TIMEOUT = 30.0
# A worker that does not listen this long after its fork is stuck starting (an import
# that hangs); one told to stop that has not ended this long after is killed
# (gunicorn's --graceful-timeout).
DEFAULT_WORKER_START_TIMEOUT = 30.0
DEFAULT_GRACEFUL_TIMEOUT = 30.0
DEFAULT_HANDSHAKE_TIMEOUT = 10.0
MAX_PENDING_WORK = 64
RESUME_PENDING_WORK = 16
DEFAULT_BACKLOG = 128
DEFAULT_PORT = 12000  # Kurose and Ross's serverPort
MAX_WORKERS = 256
MAX_OFFLOAD_WORKERS = 1024
