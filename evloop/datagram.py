"""UDP: one datagram in, one datagram out, on the same loop as TCP.

A datagram is a whole conversation: there is no connection, no stream to
split, no EOF to wait for.  Each datagram gets a fresh handler, which is fed
the datagram and then end-of-input (`Handler.datagram_received`), and the
reply goes back to the sender's address in one datagram.  So lenprefix works
per datagram, and a datagram holding half a message is a protocol error.

UDP may drop datagrams, and so may we: a reply the kernel will not take
right now (a full send buffer) is dropped and logged at debug, never queued,
because a UDP client must cope with loss anyway and a queue would be
unbounded.  Handlers that need a connection (chat) say `supports_udp = False`
and the server refuses to start them over UDP.
"""

import logging

from evloop.handlers.base import ProtocolError

log = logging.getLogger("evloop")

# The largest UDP payload over IPv4 is 65,507 bytes; read the maximum.
MAX_DATAGRAM = 65535
# Datagrams handled per wake-up before giving the TCP clients their turn.
DATAGRAMS_PER_EVENT = 64


class DatagramEndpoint:
    """A bound UDP socket answering each datagram through a fresh handler."""

    def __init__(self, loop, sock, handler_factory):
        self.loop = loop
        self.sock = sock
        self.handler_factory = handler_factory

    def start(self):
        self.loop.add_reader(self.sock, self.on_readable)

    def on_readable(self):
        for _ in range(DATAGRAMS_PER_EVENT):
            try:
                data, address = self.sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ECONNREFUSED from an earlier ICMP error
                log.debug("udp recvfrom: %s", exc.strerror or exc)
                continue
            reply = self.answer(data, address)
            if reply:
                self.send(reply, address)

    def answer(self, data, address):
        try:
            return self.handler_factory().datagram_received(data)
        except ProtocolError as err:
            log.info("udp %s:%s: protocol error: %s", address[0], address[1], err.reason)
            return err.reply
        except Exception:
            log.exception("udp %s:%s: handler raised; datagram dropped", address[0], address[1])
            return None

    def send(self, reply, address):
        try:
            self.sock.sendto(reply, address)
        except OSError as exc:
            log.debug("udp %s:%s: reply of %d bytes dropped: %s",
                      address[0], address[1], len(reply), exc.strerror or exc)

    def close(self):
        self.loop.remove_reader(self.sock)
        self.sock.close()
