"""Chapter 2, exercise 2: a chat room of your own, with /nick.

The exercise: the labs' "simple client-server chat", written on
evloop.LineHandler.  Each line a client sends goes to every *other* client
as `NAME: line`; a client is named by its address until it sends
`/nick NAME`, which is announced to the others (`* OLD is now NAME`) and
refused if someone has that name already (`* NAME is taken`).

The room belongs to the server, not to one connection: it is made in the
class method `server_started(server)` and kept in `server.shared`, and each
connection finds it through `self.context.server.shared`.  Lines to others go
through *their* contexts (`push`): a handler never touches a socket.

Done when: two clients talk, each sees the other's lines under its chosen
name and never its own, a rename is announced, a taken name is refused.

Run it: python3 docs/answers/02-chat-nick.py
"""

import _kit
import evloop


class Chat(evloop.LineHandler):
    """The solution."""

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


def read_line(sock, buffered):
    while b"\n" not in buffered[0]:
        chunk = sock.recv(4096)
        if not chunk:
            _kit.fail(f"EOF while waiting for a line (had {bytes(buffered[0])!r})")
        buffered[0] += chunk
    line, _, rest = buffered[0].partition(b"\n")
    buffered[0] = rest
    return line.decode()


def main():
    with _kit.served(Chat) as server:
        port = server.address[1]
        with _kit.connect(port) as a, _kit.connect(port) as b:
            abuf, bbuf = [b""], [b""]
            _kit.check(read_line(a, abuf).startswith("* welcome"), "no welcome line for a")
            _kit.check(read_line(b, bbuf).startswith("* welcome"), "no welcome line for b")
            a.sendall(b"/nick ann\n")
            _kit.check(read_line(a, abuf) == "* you are ann", "ann's rename not confirmed")
            renamed = read_line(b, bbuf)
            _kit.check(renamed.startswith("* ") and renamed.endswith(" is now ann"),
                       f"the rename was not announced to the other client: {renamed!r}")
            b.sendall(b"/nick ann\n")
            _kit.check(read_line(b, bbuf) == "* ann is taken", "a taken name was not refused")
            b.sendall(b"/nick bob\n")
            _kit.check(read_line(b, bbuf) == "* you are bob", "bob's rename not confirmed")
            _kit.check(read_line(a, abuf).endswith(" is now bob"), "bob's rename not announced")
            a.sendall(b"hello, room\n")
            _kit.check(read_line(b, bbuf) == "ann: hello, room", "bob did not get ann's line")
            b.sendall(b"hi ann\n")
            _kit.check(read_line(a, abuf) == "bob: hi ann", "ann did not get bob's line")
            # ann must not have had her own line echoed: the next thing she reads is bob's.
            _kit.check(abuf == [b""], f"ann got more than bob's line: {abuf[0]!r}")
            b.close()
            _kit.check(read_line(a, abuf) == "* bob left", "bob's leaving was not announced")
    _kit.ok("two clients chat under their /nick names; renames announced, a taken name refused")


if __name__ == "__main__":
    main()
