"""A user's own handler, loaded with --handler userhandlers.reverse:ReverseLines."""

from evloop.handlers import Handler


class ReverseLines(Handler):
    """Reverse each chunk; b"crash" raises to test handler-crash isolation."""

    def data_received(self, data):
        if data.strip() == b"crash":
            raise ValueError("user handler bug")
        return data[::-1]


class NotAHandler:
    pass


class Doubler(Handler):
    """Answers each chunk twice over: a raw reply longer than its request."""

    def data_received(self, data):
        return data + b" " + data
