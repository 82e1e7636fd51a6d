"""The handler API: sans-IO protocol objects that turn bytes into replies.

A handler never sees a socket.  The connection that owns it feeds it what
`recv()` returned and sends whatever it answers; the same handler class
therefore runs unchanged under evloop's loop, a thread per client, a
socketserver, or asyncio (see bench/).  This is the h11 idea: protocol code
is a pure function of its input, which makes it easy to test byte by byte.

The grammar of calls, as in asyncio's protocols, is::

    connection_made  data_received*  eof_received?  connection_lost

and every call except the last may answer bytes to send.

The answer of `data_received` carries two facts:

* `None`: no message was completed by this input (a partial message is
  buffered).  Nothing is sent.
* bytes, possibly empty: at least one message was completed; send these.

The difference matters only to `--idle-timeout`, which closes a connection
that completes no message for that long (a slowloris client dribbling one
byte at a time completes none).

To close the connection after the current reply, set `self.wants_close`.  To
reject bad input, raise `ProtocolError(reason, reply=...)`: the connection
sends `reply` (the answers due before the bad input), logs the reason with
the peer's address, and closes.

A handler with slow work in it calls `self.offload(fn, *args, then=...)`
instead of `fn` (see `offload` below and the `slow` handler).

Override `data_received`; optionally `connection_made`, `eof_received`,
`connection_lost`.  The class attributes say what the server may do with it.
"""

import functools

DEFAULT_MAX_MESSAGE = 65536


class ProtocolError(Exception):
    """The peer broke the protocol; `reply` holds the answers due before."""

    def __init__(self, reason, reply=b""):
        super().__init__(reason)
        self.reason = reason
        self.reply = reply


class Handler:
    """Base class for evloop handlers.  Subclass and override `data_received`."""

    #: Can the handler answer a datagram on its own (no connection state)?
    supports_udp = True
    #: Sent to a client refused because the server is full (line protocols).
    busy_message = b""
    #: Set to True to close the connection once the replies are sent.
    wants_close = False

    def __init__(self, max_message=DEFAULT_MAX_MESSAGE):
        self.max_message = max_message
        # Also an instance attribute: the connection reads it after every
        # message, and CPython finds an instance's own attribute faster than
        # a class's (about 80 instructions per message, by callgrind).
        self.wants_close = False

    #: Names of keyword options the server may pass from its command line
    #: (the slow handler takes work_ms and work).
    options = ()

    @classmethod
    def factory(cls, max_message=DEFAULT_MAX_MESSAGE, **options):
        """Return a zero-argument callable making one handler per connection.

        Handlers that share state between connections (chat's room) override
        this to build the shared object once.
        """
        return functools.partial(cls, max_message=max_message, **options)

    def connection_made(self, peer, push):
        """A client connected from `peer` ("host:port").

        `push(data)` sends bytes to this client outside a reply, for example
        when another client's chat line arrives.  Return a greeting or None.
        """
        return None

    def data_received(self, data):
        """Bytes arrived.  Return the reply bytes, or None for "no message yet"."""
        raise NotImplementedError

    def eof_received(self):
        """The peer will send no more.  Return final bytes or None."""
        return None

    def connection_lost(self):
        """The connection is gone; release shared state."""

    def offload(self, fn, *args, then):
        """Run `fn(*args)` away from the event loop, then `then(result)`.

        Under evloop with `--offload thread|process`, the connection replaces
        this method: `fn` runs in a pool, this returns None at once, and
        `then(result)` is called later in the loop's thread; the bytes it
        returns are sent like a reply (None: nothing).  Without a pool (and
        under the bench's threaded servers) the call runs here and now, and
        this returns what `then` returned.  See evloop.offload.
        """
        return then(fn(*args))

    def datagram_received(self, data):
        """Answer one datagram as a whole conversation: data, then end of input."""
        reply = self.data_received(data) or b""
        tail = self.eof_received()
        return reply + tail if tail else reply
