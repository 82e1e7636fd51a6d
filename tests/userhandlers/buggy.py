"""Handlers with one ordinary bug each, triggered by the input b"bug" (or, for
constructors, on every second instance), so one server can serve a good
client and a bad one side by side.  Each bug must cost only its connection."""

import itertools

from evloop import Handler
from evloop import LineHandler


class Echo(Handler):
    def data_received(self, data):
        if data == b"bug":
            return self.bug(data)
        return data

    def bug(self, data):
        raise NotImplementedError


class ReturnsStr(Echo):
    def bug(self, data):
        return data.decode()  # a str, not bytes: the commonest student mistake


class ReturnsEmptyStr(Echo):
    def bug(self, data):
        return ""  # false, and still not bytes


class ReturnsInt(Echo):
    def bug(self, data):
        return len(data)


class ReturnsList(Echo):
    def bug(self, data):
        return [data]


class Raises(Echo):
    def bug(self, data):
        return {}["no such key"]


class PushesStr(Echo):
    def bug(self, data):
        self.context.push("pushed a str")
        return b""


class TimerRaises(Echo):
    def bug(self, data):
        self.context.call_later(0.01, lambda: 1 / 0)
        return b""


class TimerPushesStr(Echo):
    def bug(self, data):
        self.context.call_later(0.01, self.context.push, "a str from a timer")
        return b""


class EofRaises(Echo):
    def bug(self, data):
        self.broken = True
        return b""

    def eof_received(self):
        if getattr(self, "broken", False):
            raise RuntimeError("eof bug")
        return None


class LostRaises(Echo):
    def bug(self, data):
        self.broken = True
        self.context.close()
        return b""

    def connection_lost(self, exc):
        if getattr(self, "broken", False):
            raise RuntimeError("connection_lost bug")


_constructed = itertools.count()


class BrokenConstructor(Handler):
    def __init__(self, max_message=65536):
        super().__init__(max_message)
        if next(_constructed) % 2:
            raise RuntimeError("constructor bug")

    def data_received(self, data):
        return data


_made = itertools.count()


class BrokenGreeting(Handler):
    def connection_made(self, context):
        super().connection_made(context)
        if next(_made) % 2:
            raise RuntimeError("connection_made bug")
        return None

    def data_received(self, data):
        return data


class Heartbeat(Handler):
    """Sends b"tick\\n" every 50 ms, three times, then closes: a handler's own timer."""

    def connection_made(self, context):
        super().connection_made(context)
        self.ticks = 0
        context.call_later(0.05, self.tick)
        return b"hello\n"

    def tick(self):
        self.ticks += 1
        self.context.push(b"tick\n")
        if self.ticks == 3:
            self.context.close()
        else:
            self.context.call_later(0.05, self.tick)

    def data_received(self, data):
        return data


class LineReturnsStr(LineHandler):
    """A LineHandler whose line_received returns a str for the line b"bug"."""

    def line_received(self, line):
        return line.decode() + "\n" if line == b"bug" else line + b"\n"
