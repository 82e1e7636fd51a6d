"""Half-closes both ways on the handler API (the differential tests run it on two loops)."""

import evloop


class LastWord(evloop.Handler):
    """Echo; after the peer's EOF, keep writing: a last word, later, then our EOF."""

    def data_received(self, data):
        return data

    def eof_received(self):
        self.context.call_later(0.05, self.finish)
        return True

    def finish(self):
        self.context.push(b"[last word]")
        self.context.write_eof()
