"""Replies to every chunk with the serving process's pid: which --workers worker answered."""

import os

from evloop.handlers import Handler


class WhoAmI(Handler):
    def data_received(self, data):
        return f"{os.getpid()}\n".encode()


class Peer(Handler):
    """Answers every chunk with the peer its context names, then the chunk."""

    def data_received(self, data):
        return self.context.peer.encode() + b" " + data


class Subject(Handler):
    """Answers every chunk with the client certificate's subject (mutual TLS)."""

    def data_received(self, data):
        return f"{self.context.peer_subject}\n".encode()
