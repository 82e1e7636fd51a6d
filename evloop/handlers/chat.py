"""chat: a line-based chat room, the labs' "simple client-server chat".

Wire format: UTF-8 text lines ending in b"\\n" (a b"\\r" before it is
dropped, so telnet and netcat both work; see LineHandler).  Each line a
client sends goes to every *other* client as `NAME: line`.  A client's name
is its "host:port" until it sends `/nick NAME`.  `/who` lists who is here,
`/quit` leaves.  Lines from the server itself start with "* ": the welcome,
joins, leaves and renames.

The handler is still sans-IO: the room holds the handlers, and delivering a
line to another client goes through that client's context (`push`).
Whoever runs the handler decides what `push` does (queue on a socket, or
`sendall` in a thread).

A member who stops reading is told apart by backpressure: its connection
calls `pause_writing()` once its unsent lines pass high water, and from
then on the room skips it instead of queueing more for it, counting what it
missed; `resume_writing()` tells it how many lines it lost.  A broadcast
may still disconnect a member (over --max-output, or an error), but its
`connection_lost` comes after the broadcast, so the room is never changed
while it is being walked.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from evloop.handlers.base import DEFAULT_MAX_MESSAGE
from evloop.handlers.base import Handler
from evloop.handlers.context import Context
from evloop.handlers.context import Reply
from evloop.handlers.lines import LineHandler

MAX_NAME = 32


class ChatRoom:
    """The clients present, in the order they joined."""

    def __init__(self) -> None:
        self.members: dict[ChatHandler, None] = {}

    def join(self, member: ChatHandler) -> None:
        self.broadcast(member, f"* {member.name} joined\n".encode())
        self.members[member] = None

    def leave(self, member: ChatHandler) -> None:
        if self.members.pop(member, "absent") is None:
            self.broadcast(member, f"* {member.name} left\n".encode())

    def broadcast(self, sender: ChatHandler, line: bytes) -> None:
        for member in self.members:
            if member is not sender:
                member.deliver(line)


class ChatHandler(LineHandler):
    """One chat client: run commands, broadcast the other lines."""

    supports_udp = False
    busy_message = b"* server full, try again later\n"

    def __init__(self, room: ChatRoom | None = None,
                 max_message: int = DEFAULT_MAX_MESSAGE) -> None:
        super().__init__(max_message=max_message)
        self.room = room if room is not None else ChatRoom()
        self.name = "?"
        self.paused = False  # not reading: lines for it are dropped, and counted
        self.missed = 0

    @classmethod
    def factory(cls, max_message: int = DEFAULT_MAX_MESSAGE,
                **options: Any) -> Callable[[], Handler]:
        return functools.partial(cls, room=ChatRoom(), max_message=max_message)

    def connection_made(self, context: Context) -> Reply:
        super().connection_made(context)
        self.name = context.peer
        others = len(self.room.members)
        self.room.join(self)
        return (f"* welcome {self.name}; {others} other(s) here. "
                f"Commands: /nick NAME, /who, /quit\n").encode()

    def line_received(self, line: bytes) -> Reply:
        """Act on one line; return the reply for this client (maybe b"")."""
        if line == b"/quit":
            self.context.close()
            return b"* bye\n"
        if line == b"/who":
            names = ", ".join(member.name for member in self.room.members)
            return f"* here: {names}\n".encode()
        if line.startswith(b"/nick"):
            return self.rename(line[5:].strip().decode("utf-8", "replace"))
        self.room.broadcast(self, self.name.encode() + b": " + line + b"\n")
        return b""

    def rename(self, name: str) -> bytes:
        if not name or len(name) > MAX_NAME or not name.isprintable() or " " in name:
            return f"* a name is 1 to {MAX_NAME} printable characters without spaces\n".encode()
        old, self.name = self.name, name
        self.room.broadcast(self, f"* {old} is now {name}\n".encode())
        return f"* you are now {name}\n".encode()

    def deliver(self, line: bytes) -> None:
        """A line from the room: sent, or counted as missed while paused."""
        if self.paused:
            self.missed += 1
        else:
            self.context.push(line)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self.missed:
            missed, self.missed = self.missed, 0
            self.context.push(f"* you missed {missed} line(s) while not reading\n".encode())

    def connection_lost(self, exc: Exception | None) -> None:
        self.room.leave(self)
