"""labs-chat-nick: a chat room on LineHandler with /nick, its room in server.shared.

Two clients of the student's `Chat`.  Judged: each is welcomed; a /nick is
confirmed to its sender and announced to the other; a taken name is
refused; each line reaches the other client as `NAME: line` and never its
sender; a client that leaves is announced.
"""

import socket

from docs.checks import _kit

TITLE = "A chat room with /nick"
CHAPTER = "appendix-labs.md"
LEVEL = 2
MINUTES = 40


class Reader:
    """Lines from one client's socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buffered = sock, b""

    def line(self) -> str:
        while b"\n" not in self.buffered:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise _kit.Failed(f"EOF while waiting for a line (had {self.buffered!r})")
            self.buffered += chunk
        line, _, self.buffered = self.buffered.partition(b"\n")
        return line.decode()


def grade(student: _kit.Student) -> str:
    handler = student.need("Chat")
    with _kit.served(handler) as server:
        port = server.address[1]
        with _kit.connect(port, timeout=5) as a, _kit.connect(port, timeout=5) as b:
            ann, bob = Reader(a), Reader(b)
            _kit.check(ann.line().startswith("* welcome"), "no `* welcome` line for the first client")
            _kit.check(bob.line().startswith("* welcome"), "no `* welcome` line for the second client")
            a.sendall(b"/nick ann\n")
            said = ann.line()
            _kit.check(said == "* you are ann", f"/nick ann was answered {said!r}, not '* you are ann'")
            said = bob.line()
            _kit.check(said.startswith("* ") and said.endswith(" is now ann"),
                       f"the rename was announced to the other client as {said!r}")
            b.sendall(b"/nick ann\n")
            said = bob.line()
            _kit.check(said == "* ann is taken", f"a taken name was answered {said!r}")
            b.sendall(b"/nick bob\n")
            _kit.check(bob.line() == "* you are bob", "bob's rename was not confirmed")
            _kit.check(ann.line().endswith(" is now bob"), "bob's rename was not announced to ann")
            a.sendall(b"hello, room\n")
            said = bob.line()
            _kit.check(said == "ann: hello, room", f"bob got {said!r}, not 'ann: hello, room'")
            b.sendall(b"hi ann\n")
            said = ann.line()
            _kit.check(said == "bob: hi ann", f"ann got {said!r}, not 'bob: hi ann': "
                                              f"was her own line sent back to her?")
            _kit.expect(ann.buffered == b"", f"ann got more than bob's line: {ann.buffered!r}")
            b.close()
            said = ann.line()
            _kit.expect(said == "* bob left", f"bob's leaving was announced as {said!r}")
    return "two clients chat under their /nick names; renames announced, a taken name refused"
