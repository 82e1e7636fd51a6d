"""A handler whose offloaded work raises on b"fail": the error must stay on its connection."""

from evloop.handlers import Handler


def divide(line):
    if line.startswith(b"fail"):
        return 1 / 0
    return line


class FailingWork(Handler):
    def data_received(self, data):
        return self.context.offload(divide, data, then=lambda line: line)
