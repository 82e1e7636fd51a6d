"""evloop.diagrams.kernel: the accept queue and one connection's buffers, filled on
loopback and read back from the kernel.  The figures differ from machine to machine;
their shape is checked, in a new run and in the picture docs/01-from-the-labs.md shows:
Linux queues one connection more than the backlog and drops the next SYNs, and every
byte send() took waits in the sender's send buffer or the receiver's receive buffer."""

import os
import re
import select
import socket
import sys

import pytest

from evloop.diagrams import kernel
from evloop.diagrams import pages
from tests.conftest import ROOT

CHAPTER = os.path.join(ROOT, "docs", "01-from-the-labs.md")
pytestmark = pytest.mark.skipif(not (sys.platform.startswith("linux")
                                     and os.path.exists("/proc/net/tcp")),
                                reason="the queues are read through Linux's ioctls and /proc")


@pytest.fixture(scope="module")
def measured():
    return kernel.measure()


def chapter_picture():
    with open(CHAPTER) as f:
        return pages.shown(f.read(), "kernel")


def figures(picture):
    """The figures a picture shows, read back from its labels."""
    def one(pattern):
        return int(re.search(pattern, picture).group(1).replace(",", ""))

    def each(pattern):
        return [tuple(int(n.replace(",", "")) for n in found) if isinstance(found, tuple)
                else int(found.replace(",", "")) for found in re.findall(pattern, picture)]
    return {"clients": one(r"(\d+) clients:<br/>connect\(\)"),
            "backlog": one(r"listen\((\d+)\)"),
            "queue": one(r"accept queue: (\d+) connections"),
            "handshakes": one(r'"(\d+) handshakes"'),
            "waiting": one(r"(\d+) clients in SYN-SENT"),
            "sent": each(r"send\(\) took ([\d,]+) B"),
            "send": each(r"send buffer:<br/>([\d,]+) B queued<br/>SO_SNDBUF ([\d,]+)"),
            "receive": each(r"receive buffer:<br/>([\d,]+) B queued<br/>SO_RCVBUF ([\d,]+)")}


def check_shape(found, backlog):
    assert found["backlog"] == backlog
    assert found["queue"] == found["handshakes"] == backlog + 1  # Linux: one more than asked
    assert found["waiting"] == kernel.DROPPED
    assert found["clients"] == found["queue"] + found["waiting"]
    assert len(found["sent"]) == len(found["send"]) == len(found["receive"]) == 2
    for sent, (send_queued, sndbuf), (receive_queued, rcvbuf) in zip(
            found["sent"], found["send"], found["receive"]):
        assert sent == send_queued + receive_queued  # loopback: nothing on the wire
        assert 0 < receive_queued <= rcvbuf and 0 < send_queued <= sndbuf


@pytest.mark.timeout(60)
def test_a_run_fills_the_queues_and_its_figures_have_their_shape(measured):
    assert measured.connected == measured.queue_length == kernel.BACKLOG + 1
    assert measured.waiting == kernel.DROPPED
    assert [(d.sender, d.receiver) for d in measured.directions] == [
        ("client", "server"), ("server", "client")]
    check_shape(figures(pages.fenced(*kernel.mermaid(measured))), kernel.BACKLOG)


@pytest.mark.timeout(60)
def test_the_chapter_shows_what_a_new_run_draws_but_for_the_figures(measured):
    shown = chapter_picture()
    assert kernel.shape(shown) == kernel.shape(pages.fenced(*kernel.mermaid(measured))), (
        "docs/01-from-the-labs.md's kernel picture is out of date: "
        "run scripts/draw-pictures kernel --update")


def test_the_chapter_s_figures_have_the_shape_of_a_run():
    check_shape(figures(chapter_picture()), kernel.BACKLOG)


def test_the_queues_are_read_from_the_kernel():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        with socket.create_connection(listener.getsockname()) as client:
            server, _ = listener.accept()
            with server:
                client.sendall(b"12345")
                while kernel.queued(server)[1] < 5:  # on its way through loopback
                    select.select([server], [], [], 5)
                assert kernel.queued(server) == (0, 5)
    with pytest.raises(LookupError):
        kernel.listen_queue(0)
    assert kernel.shape("took 4,243,968 B, listen(4)") == "took N B, listen(N)"
