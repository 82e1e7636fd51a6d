"""A handler's context without a connection, for protocol tests with no sockets."""

from evloop.handlers.context import offload_inline


class FakeTimer:
    def __init__(self, delay, callback, args):
        self.delay, self.callback, self.args = delay, callback, args
        self.cancelled = False

    def cancel(self):
        self.cancelled = True

    def fire(self):
        if not self.cancelled:
            self.callback(*self.args)


class FakeContext:
    """evloop.Context that records what the handler asked for.

    `offload` runs inline unless `offload_to` is given, a function that
    takes (fn, args, then) and decides when `then` runs.
    """

    def __init__(self, peer="peer:1", offload_to=None, pushed=None):
        self.peer = peer
        self.peer_subject = None
        self.server = None
        self.pushed = [] if pushed is None else pushed
        self.closed = False
        self.aborted = False
        self.eof_sent = False
        self.reading = True
        self.idle_timeout = "default"
        self.timers = []
        self.offload_to = offload_to
        self.connected = []  # (address, handler, context, options) of each connect()
        self.opens = True  # does a connect() open at once (connection_made), or wait?

    def push(self, data):
        self.pushed.append(bytes(data))

    def close(self):
        self.closed = True

    def abort(self):
        self.aborted = True

    def is_closing(self):
        return self.closed or self.aborted

    def call_later(self, delay, callback, *args):
        timer = FakeTimer(delay, callback, args)
        self.timers.append(timer)
        return timer

    def write_eof(self):
        self.eof_sent = True

    def pause_reading(self):
        self.reading = False

    def resume_reading(self):
        self.reading = True

    def set_idle_timeout(self, seconds):
        self.idle_timeout = seconds

    def connect(self, address, handler, *, tls=None, server_hostname=None, timeout=10.0):
        """A connection, recorded, that opens at once (its handler is made) unless
        `opens` is False: then the test makes it, or loses it."""
        context = FakeContext(peer=str(address))
        options = {"tls": tls, "server_hostname": server_hostname, "timeout": timeout}
        self.connected.append((address, handler, context, options))
        if self.opens:
            handler.connection_made(context)
        return context

    def offload(self, fn, *args, then, error=None):
        if self.offload_to is None:
            return offload_inline(fn, args, then, error)
        return self.offload_to(fn, args, then)


def connected(handler, **context_args):
    """`handler` after connection_made with a FakeContext; its greeting is dropped."""
    handler.connection_made(FakeContext(**context_args))
    return handler
