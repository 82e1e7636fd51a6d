"""Answer to 02-max-output: close a client whose output buffer passes 1 MiB.

bench/nonblocking.py queues whatever a client does not read, so a client
that sends and never reads makes the server's memory grow without end.
The answer is four lines: a subclass whose send() checks the buffer after
queueing, as evloop's --max-output does.

By hand: `python3 docs/answers/02-max-output.py` serves on port 12000 (run
it from the clone's folder with PYTHONPATH=., for bench).
"""

from bench import common
from bench import nonblocking

MAX_OUTPUT = 2**20  # 1 MiB


class CappedServer(nonblocking.Server):
    """bench.nonblocking's loop, closing a client that has more than MAX_OUTPUT queued."""

    def send(self, peer, data):
        super().send(peer, data)
        if len(peer.bytes_to_send) > MAX_OUTPUT:
            self.close(peer)  # a slow reader: drop it rather than hold its replies for ever


if __name__ == "__main__":
    options = common.parse_args("nonblocking")
    CappedServer(options).run(common.listen(options))
