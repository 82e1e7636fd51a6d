"""A handler that hangs its loop on "hang" (a `while True`), and says its worker's pid
on "pid": what the watchdog tests serve."""

import os

import evloop


class Hangs(evloop.Handler):
    def data_received(self, data):
        if data.startswith(b"hang"):
            while True:  # a handler bug: the loop never turns again
                pass
        if data.startswith(b"pid"):
            return b"%d\n" % os.getpid()
        return data
