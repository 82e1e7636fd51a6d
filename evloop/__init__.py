"""evloop: a hand-written, single-process event-loop server framework.

The layers, bottom up:

* `evloop.loop`: a selector, timers and signals; it calls callables.
* `evloop.connection`: one client's socket, output buffer and state machine.
* `evloop.server` and `evloop.datagram`: listening, accepting, UDP, shutdown.
* `evloop.handlers`: the protocols, sans-IO: bytes in, bytes out.
* `evloop.serve`, `evloop.client`: the command lines.
"""

__version__ = "0.1.0"
