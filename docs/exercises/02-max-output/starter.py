"""Exercise 02-max-output: cap the output buffer.

Chapter 2 (docs/02-non-blocking.md, "Exercises").
Difficulty: ★★☆ medium.  Time: about 30 minutes.

The task: bench/nonblocking.py queues whatever a client does not read
(`peer.bytes_to_send`), so a client that sends and never reads makes the
server's memory grow without end.  Make `CappedServer`, a subclass of its
`Server`, close such a client as soon as its output buffer holds more than
1 MiB, as evloop's `--max-output` does.

Done when: a client that sends 16 MiB and reads nothing is disconnected
with about 1 MiB queued (not much more, not much less), and a client that
reads its echo as it goes still gets all of its 4 MiB.

Try it:  PYTHONPATH=. python3 docs/exercises/02-max-output/starter.py   (serves on port 12000)
Grade it:  python3 -m docs.grade 02-max-output docs/exercises/02-max-output/starter.py
"""

from bench import common
from bench import nonblocking

MAX_OUTPUT = 2**20  # 1 MiB


class CappedServer(nonblocking.Server):
    """bench.nonblocking's loop, closing a client that has more than MAX_OUTPUT queued."""

    def send(self, peer, data):
        super().send(peer, data)
        # Your code here: how many bytes wait for this peer now, and what then?


if __name__ == "__main__":
    options = common.parse_args("nonblocking")
    CappedServer(options).run(common.listen(options))
