"""Replies to every chunk with the serving process's pid: which --workers worker answered."""

import os

from evloop.handlers import Handler


class WhoAmI(Handler):
    def data_received(self, data):
        return f"{os.getpid()}\n".encode()
