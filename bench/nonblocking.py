"""A non-blocking event loop by hand: the step between bare_select.py and evloop.

Every socket is non-blocking (O_NONBLOCK): a call that would wait raises
BlockingIOError (errno EAGAIN) at once instead, and the loop goes on with
the other sockets.  accept() and recv() are called until BlockingIOError;
recv() returning b"" means the peer closed its side.  send() returns how
many bytes the kernel took: the rest waits in the socket's output buffer
(a bytearray), and EVENT_WRITE is watched only while that buffer holds
bytes, since a socket with room to send is writable nearly all the time.
With --upstream HOST:PORT each client is relayed, byte for byte, to a new
connection: connect_ex() returns EINPROGRESS, the loop waits for writable,
and SO_ERROR says how the handshake ended.  What evloop adds: backpressure,
a cap on the output buffer, timeouts, half-close, a shutdown that drains.
"""

import errno
import functools
import os
import selectors
import socket
import sys
import time

import evloop
from bench import common

READ = selectors.EVENT_READ
WRITE = selectors.EVENT_WRITE


class Peer:
    """One connected socket: its handler (or relay partner) and the bytes it still owes."""

    def __init__(self, sock, label, connecting=False):
        self.sock, self.label, self.connecting = sock, label, connecting
        self.handler = self.context = self.partner = None
        self.bytes_to_send = bytearray()
        self.closing = False  # close once bytes_to_send is empty
        self.events = 0  # what the selector watches for it; 0 once closed


def names(mask):
    return ("R" if mask & READ else "") + ("W" if mask & WRITE else "")


class Server:
    """The loop.  Call run(listener); the exercises of chapter 2 override send() and say()."""

    def __init__(self, options):
        self.options, self.started = options, time.monotonic()
        self.selector = selectors.DefaultSelector()  # epoll on Linux: chapter 3 compares them

    def say(self, label, text):
        if self.options.trace:
            ms = (time.monotonic() - self.started) * 1000
            print(f"trace: {ms:9.3f} ms  {label}: {text}", file=sys.stderr, flush=True)

    def run(self, listener):
        listener.setblocking(False)
        self.selector.register(listener, READ)  # key.data None: the listener
        while True:
            ready = self.selector.select()
            self.say("loop", f"wake-up: {len(ready)} ready: "
                     + ", ".join(f"fd {key.fd} {names(mask)}" for key, mask in ready))
            for key, mask in ready:
                peer = key.data
                if peer is None:
                    self.accept_pending(listener)
                    continue
                if mask & READ and peer.events & READ:  # re-checked: it may have closed meanwhile
                    self.on_readable(peer)
                if mask & WRITE and peer.events & WRITE:
                    self.on_writable(peer)

    def accept_pending(self, listener):
        while True:
            try:
                sock, address = listener.accept()
            except BlockingIOError:
                return self.say(f"fd {listener.fileno()} listener", "accept: EAGAIN, none waiting")
            except OSError as exc:  # EMFILE, ECONNABORTED: retried at the next wake-up, at once
                return self.say(f"fd {listener.fileno()} listener", f"accept: {exc}")
            sock.setblocking(False)  # accept() gives a blocking socket, whatever the listener is
            where = f"{address[0]}:{address[1]}"
            client = Peer(sock, f"fd {sock.fileno()} {where}")
            self.say(client.label, "accepted")
            if self.options.upstream:
                self.dial(client)
                continue
            client.handler = self.options.factory()
            client.context = common.SimpleContext(where, functools.partial(self.send, client))
            self.watch(client)
            self.answer(client, client.handler.connection_made, client.context)

    def dial(self, client):
        host, _, port = self.options.upstream.rpartition(":")
        sock = socket.socket()
        sock.setblocking(False)
        code = sock.connect_ex((host, int(port)))  # returns at once: the handshake goes on
        up = Peer(sock, f"fd {sock.fileno()} out {host}:{port}", code == errno.EINPROGRESS)
        client.partner, up.partner = up, client
        self.say(up.label, f"connect_ex -> {errno.errorcode.get(code, 'connected')}")
        self.watch(client)
        self.watch(up)
        if code not in (0, errno.EINPROGRESS):  # refused at once: it happens on loopback
            self.connect_failed(up, code)

    def connect_failed(self, up, code):
        print(f"nonblocking: {up.label}: {os.strerror(code)}: closing {up.partner.label}",
              file=sys.stderr, flush=True)
        self.close(up.partner)
        self.close(up)

    def on_readable(self, peer):
        while peer.events & READ:
            try:
                data = peer.sock.recv(common.RECV_SIZE)
            except BlockingIOError:
                return self.say(peer.label, "recv: EAGAIN, nothing more for now")
            except OSError as exc:  # a reset: this client only
                self.say(peer.label, f"recv: {exc}")
                return self.close(peer)
            self.say(peer.label, f"recv {len(data)} B" if data else "recv 0 B (EOF: peer closed)")
            if peer.partner is not None:
                self.send(peer.partner, data)
            elif data:
                self.answer(peer, peer.handler.data_received, data)
            else:
                self.answer(peer, peer.handler.eof_received)
            if not data:
                return self.close_when_sent(peer)

    def answer(self, peer, call, *args):
        """Run one handler method, send what it returns, close if it asked to."""
        try:
            reply = call(*args)
        except evloop.ProtocolError as err:  # a bad message: the replies due before it, then close
            reply, peer.context.closing = err.reply, True
        if not isinstance(reply, (bytes, bytearray, memoryview)):
            reply = b""  # None, or eof_received's True
        self.say(peer.label, f"handler {call.__name__}() -> {len(reply)} B reply")
        self.send(peer, reply)
        if peer.context.closing:
            self.close_when_sent(peer)

    def send(self, peer, data):
        """Queue `data` after what already waits; if nothing did, try send() at once."""
        if not data or not peer.events:  # events 0: closed, nobody will read it
            return
        peer.bytes_to_send += data
        if len(peer.bytes_to_send) == len(data) and not peer.connecting:
            self.on_writable(peer)

    def on_writable(self, peer):
        if peer.connecting:  # the handshake ended, one way or the other: SO_ERROR says which
            code = peer.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            what = os.strerror(code) if code else "connected"
            self.say(peer.label, f"writable, SO_ERROR {code}: {what}")
            if code:
                return self.connect_failed(peer, code)
            peer.connecting = False
            if not peer.bytes_to_send:
                return self.watch(peer)
        try:
            sent = peer.sock.send(peer.bytes_to_send)
        except BlockingIOError:
            sent = 0  # the kernel's send buffer is full
        except OSError as exc:  # the peer reset: this client only
            self.say(peer.label, f"send: {exc}")
            return self.close(peer)
        del peer.bytes_to_send[:sent]
        left = len(peer.bytes_to_send)
        self.say(peer.label, f"send {sent} B, " + (f"{left} B left queued" if left else "all sent"))
        if peer.closing and not left:
            return self.close(peer)
        self.watch(peer)

    def watch(self, peer):
        """Read unless connecting or closing; write while bytes wait, or to see a connect end."""
        events = (0 if peer.connecting or peer.closing else READ) | (
            WRITE if peer.bytes_to_send or peer.connecting else 0)
        if events != peer.events:
            if peer.events:
                self.selector.modify(peer.sock, events, peer)
            else:
                self.selector.register(peer.sock, events, peer)
            peer.events = events
            self.say(peer.label, f"watching {names(events)}")

    def close_when_sent(self, peer):
        peer.closing = True
        if not peer.events:
            return  # closed already
        if peer.bytes_to_send or peer.connecting:
            return self.watch(peer)
        self.close(peer)

    def close(self, peer):
        if not peer.events:
            return  # closed already
        self.selector.unregister(peer.sock)
        peer.events = 0
        peer.sock.close()
        self.say(peer.label, "closed")
        if peer.handler is not None:
            peer.handler.connection_lost(None)
        if peer.partner is not None:  # a relay's two ends close together, each once flushed
            self.close_when_sent(peer.partner)


def main():
    options = common.parse_args("nonblocking")
    Server(options).run(common.listen(options))


if __name__ == "__main__":
    common.run(main)
