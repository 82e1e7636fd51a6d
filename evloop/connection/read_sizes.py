"""How much a connection's next read asks for: small, large once one fills, small again.

A read asks the kernel for at most N bytes, and Python first makes a bytes
object of N bytes, then shrinks it to what arrived.  Where that object
comes from decides what the read costs, so the size is chosen for the
allocator, not only for the traffic:

* SMALL_READ: 479 bytes, which with a bytes object's 33-byte header is
  512, the largest block Python's own small-object allocator (pymalloc)
  serves.  A message that fits costs no malloc() at all, and most
  messages of a request-reply protocol fit;
* LARGE_READ: 126 KiB, the most glibc's heap serves.  From 128 KiB (the
  bytes header included) malloc() maps fresh pages with mmap(), and the
  shrink to the bytes read unmaps them again, on every read: asyncio's
  256 KiB reads pay that;
* the rule: a read that fills its buffer means more is waiting, so the
  next read asks for LARGE_READ; after SMALL_READS_TO_SHRINK large reads
  in a row that got no more than SMALL_READ, reads are small again.  Not
  after one: a large message can cross loopback as one full segment and a
  small tail, and its tail alone must not make the next message cost two
  reads.

evloop's connections (evloop.connection.connection) and evloop.aio's
transports size their reads this way.  Each keeps its own `read_size` and
count of small reads, stores LARGE_READ itself when a read fills (one
store, on the path every large message takes), and calls
`after_large_read` only for a large read that can change either: one that
got no more than SMALL_READ, or one after such reads.  A large read that
got more, after none, leaves both as they are, and it is the common one.
What these sizes save, measured: bench/results/README.md, "Large messages".
"""

from __future__ import annotations

__all__ = ["DATAGRAM_READ", "LARGE_READ", "SMALL_READ", "SMALL_READS_TO_SHRINK", "after_large_read"]

SMALL_READ = 479  # + the bytes object's 33-byte header = 512, pymalloc's largest block
LARGE_READ = 126 * 1024  # under glibc's 128 KiB mmap threshold, bytes header included
SMALL_READS_TO_SHRINK = 4
# One read takes any UDP datagram: 65,535 is more than the largest UDP payload
# (65,507 bytes over IPv4, 65,527 over IPv6 without jumbograms).
DATAGRAM_READ = 65535


def after_large_read(got: int, small_reads: int, large: int = LARGE_READ) -> tuple[int, int]:
    """After a read of `large` bytes that got `got`: (the next read's size, the
    small reads in a row so far).  SMALL_READ again once they are SMALL_READS_TO_SHRINK."""
    small_reads = small_reads + 1 if got <= SMALL_READ else 0
    if small_reads >= SMALL_READS_TO_SHRINK:
        return SMALL_READ, 0
    return large, small_reads
