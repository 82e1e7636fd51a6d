"""chat: a line-based chat room, the labs' "simple client-server chat".

Wire format: UTF-8 text lines ending in b"\\n" (a b"\\r" before it is
dropped, so telnet and netcat both work).  Each line a client sends goes to
every *other* client as `NAME: line`.  A client's name is its "host:port"
until it sends `/nick NAME`.  `/who` lists who is here, `/quit` leaves.
Lines from the server itself start with "* ": the welcome, joins, leaves
and renames.

The handler is still sans-IO: the room holds the handlers, and delivering a
line to another client goes through the `push` callable that each
connection gave its handler in `connection_made`.  Whoever runs the handler
decides what `push` does (queue on a socket, or `sendall` in a thread).

A line longer than `max_message` bytes is a protocol error.
"""

import functools

from evloop.handlers.base import DEFAULT_MAX_MESSAGE
from evloop.handlers.base import Handler
from evloop.handlers.base import ProtocolError

MAX_NAME = 32


class ChatRoom:
    """The clients present, in the order they joined."""

    def __init__(self):
        self.members = {}

    def join(self, member):
        self.broadcast(member, f"* {member.name} joined\n".encode())
        self.members[member] = None

    def leave(self, member):
        if self.members.pop(member, "absent") is None:
            self.broadcast(member, f"* {member.name} left\n".encode())

    def broadcast(self, sender, line):
        # A copy: pushing may disconnect a slow member, which leaves the room.
        for member in list(self.members):
            if member is not sender:
                member.push(line)


class ChatHandler(Handler):
    """One chat client: split lines, run commands, broadcast the rest."""

    supports_udp = False
    busy_message = b"* server full, try again later\n"

    def __init__(self, room=None, max_message=DEFAULT_MAX_MESSAGE):
        super().__init__(max_message=max_message)
        self.room = room if room is not None else ChatRoom()
        self.name = "?"
        self.push = None
        self.partial = b""

    @classmethod
    def factory(cls, max_message=DEFAULT_MAX_MESSAGE):
        return functools.partial(cls, room=ChatRoom(), max_message=max_message)

    def connection_made(self, peer, push):
        self.name = peer
        self.push = push
        others = len(self.room.members)
        self.room.join(self)
        return (f"* welcome {peer}; {others} other(s) here. "
                f"Commands: /nick NAME, /who, /quit\n").encode()

    def data_received(self, data):
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        replies = []
        for line in lines:
            if self.wants_close:
                break
            self.check_length(line, replies)
            replies.append(self.line_received(line.rstrip(b"\r")))
        self.check_length(self.partial, replies)
        return b"".join(replies) if lines else None

    def check_length(self, line, replies):
        if len(line) > self.max_message:
            raise ProtocolError(f"line longer than --max-message {self.max_message} bytes",
                                reply=b"".join(replies))

    def line_received(self, line):
        """Act on one line; return the reply for this client (maybe b"")."""
        if line == b"/quit":
            self.wants_close = True
            return b"* bye\n"
        if line == b"/who":
            names = ", ".join(member.name for member in self.room.members)
            return f"* here: {names}\n".encode()
        if line.startswith(b"/nick"):
            return self.rename(line[5:].strip().decode("utf-8", "replace"))
        self.room.broadcast(self, self.name.encode() + b": " + line + b"\n")
        return b""

    def rename(self, name):
        if not name or len(name) > MAX_NAME or not name.isprintable() or " " in name:
            return f"* a name is 1 to {MAX_NAME} printable characters without spaces\n".encode()
        old, self.name = self.name, name
        self.room.broadcast(self, f"* {old} is now {name}\n".encode())
        return f"* you are now {name}\n".encode()

    def connection_lost(self):
        self.room.leave(self)
