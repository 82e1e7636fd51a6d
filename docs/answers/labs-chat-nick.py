"""Answer to labs-chat-nick: a chat room of your own, with /nick.

The labs' "simple client-server chat", on evloop.LineHandler.  The room
belongs to the server, not to one connection: it is made in the class method
`server_started(server)` and kept in `server.shared`, and each connection
finds it through `self.context.server.shared`.  Lines to others go through
*their* contexts (`push`): a handler never touches a socket.

Serve it by hand: `python3 docs/answers/labs-chat-nick.py` (port 12000), and
talk to it from two terminals with `nc 127.0.0.1 12000`.
"""

import evloop


class Chat(evloop.LineHandler):
    """A chat room: every line to every other client, under its name."""

    @classmethod
    def server_started(cls, server):
        server.shared["room"] = {}  # name -> handler, for the whole server

    def connection_made(self, context):
        super().connection_made(context)
        self.room = context.server.shared["room"]
        self.name = context.peer
        self.room[self.name] = self
        return f"* welcome, {self.name}\n".encode()

    def line_received(self, line):
        text = line.decode("utf-8", "replace")
        if text.startswith("/nick "):
            return self.rename(text[len("/nick "):].strip())
        self.tell_others(f"{self.name}: {text}\n")
        return b""  # a complete message, nothing back to the sender

    def rename(self, new):
        if not new or " " in new:
            return b"* a name is one word\n"
        if new in self.room:
            return f"* {new} is taken\n".encode()
        del self.room[self.name]
        self.tell_others(f"* {self.name} is now {new}\n")
        self.name = new
        self.room[new] = self
        return f"* you are {new}\n".encode()

    def tell_others(self, text):
        for name, member in self.room.items():
            if member is not self:
                member.context.push(text.encode())

    def connection_lost(self, exc):
        if self.room.get(self.name) is self:
            del self.room[self.name]
            self.tell_others(f"* {self.name} left\n")


if __name__ == "__main__":
    evloop.run(Chat, evloop.Config(port=12000))
