"""Exercise labs-chat-nick: a chat room with /nick.

Appendix A (docs/appendix-labs.md, "Exercises").
Difficulty: ★★☆ medium.  Time: about 40 minutes.

The task: the labs' chat, on `evloop.LineHandler`, as `Chat`.

* Each client is greeted with a line starting `* welcome` and named by its
  address (`context.peer`) until it renames itself.
* Each line a client sends goes to every *other* client as `NAME: line`,
  never back to its sender.
* `/nick NAME` renames: the sender is told `* you are NAME`, the others
  `* OLD is now NAME`; a name someone has already is refused with
  `* NAME is taken`.
* When a client leaves, the others are told `* NAME left`.

The room belongs to the server, not to one connection: make it in the
class method `server_started(server)`, keep it in `server.shared`, and find
it from a connection through `self.context.server.shared`.  Lines to others
go through *their* contexts (`push`): a handler never touches a socket.

Done when two clients talk under their chosen names and never see their
own lines, a rename is announced, a taken name is refused, and a leaving
client is announced.

Try it:  python3 docs/exercises/labs-chat-nick/starter.py   (port 12000), and
         `nc 127.0.0.1 12000` in two terminals
Grade it:  python3 -m docs.grade labs-chat-nick docs/exercises/labs-chat-nick/starter.py
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
        raise NotImplementedError("Chat.line_received: /nick, or a line for the others")

    # Your code here: the others should hear when a client leaves (connection_lost).


if __name__ == "__main__":
    evloop.run(Chat, evloop.Config(port=12000))
