"""A completion loop: echo over io_uring in pure Python (ctypes and mmap, no liburing).

Every other model in bench/ waits for *readiness*.  epoll says "fd 7 can be
read", the loop calls recv(), and the bytes leave the kernel then.  io_uring
turns this around.  The program asks ahead of time, "receive on fd 7 into one
of these buffers", and the kernel answers later with a *completion*: "done, 212
bytes, in buffer 31".  The request is the wait and the work in one, and the
answer brings the result, where epoll's answer was an invitation to go and
fetch it.

One turn of each loop, side by side:

    readiness (bare_epoll.py)             completion (this file)
    epoll_wait()          system call     io_uring_enter(submit what is
    for each ready fd:                        queued, wait for one
        recv()            system call         completion)         system call
        send()            system call     for each completion in the CQ ring:
                                              read (user_data, res, flags)
                                              write the next request into
                                              the SQ ring        (memory only)

A readiness loop makes a system call per operation and one to wait.  A
completion loop makes one per turn, however many operations the turn holds,
because requests and answers travel through two rings of memory shared with
the kernel: the submission queue (SQ), which this process fills and the kernel
drains, and the completion queue (CQ), which the kernel fills and this process
drains.  Each ring has a head, moved by its consumer, and a tail, moved by its
producer; the entries between them are the ones in transit.  A request's
`user_data` comes back untouched in its completion: it is how the program
knows what finished (here: which connection, and whether accept, recv or send).

Three kernel features keep the turn that short:

- Multishot requests.  One accept request keeps accepting, and one recv request
  per connection keeps receiving, each posting a completion per event with
  IORING_CQE_F_MORE set while it stays armed.  Without them every completion
  would need a new request.  A completion without F_MORE is the request's last,
  and the loop decides whether to arm it again.
- A provided-buffer ring.  A recv armed long in advance cannot name its buffer,
  since no one knows when data will come or for which connection.  So the
  program lends the kernel a ring of buffers (IORING_REGISTER_PBUF_RING); the
  kernel takes one per completion and names it in the top 16 bits of the CQE's
  flags, and the program gives it back by writing it at the ring's tail.
- IORING_SETUP_DEFER_TASKRUN, with SINGLE_ISSUER (which it requires).  The
  kernel then finishes completions only while this process waits in
  io_uring_enter with GETEVENTS, never between two lines of Python: the rings
  change only inside the turn's one system call, and each turn reaps one
  consistent batch.  Kernels before 6.1 refuse the flags (EINVAL) and the ring
  is made without them; everything still works, with the kernel finishing
  completions whenever it likes.

What the completion model asks of the program in return is ownership.  A
buffer named in a request is the kernel's until that request's completion
comes back.  The echo sends straight out of the buffer the bytes arrived in,
and only when that send completes does the buffer go back to the ring: the
bytes are never copied into Python.  Ordering is the program's too: if one send
is cut short, a second one already in flight may go out before the rest of the
first.  So each connection has at most one send in flight and a queue of
received buffers behind it, and a partial send resubmits its rest before
anything behind it.  When every buffer is held (by clients that do not read
their echo), the kernel ends a multishot recv with ENOBUFS, and that
connection waits, unarmed, until an eighth of the buffers are back: the
model's only backpressure.  A client that never reads can so stall everyone, as a blocking
send stalls bare_epoll.py.

Like the C reference (bench/c/echo_epoll.c) it serves only echo, bytes back as
they come, and calls no handler: other handlers are refused in one line (exit
2).  Where the kernel refuses io_uring, or a feature this needs, the model says
what and why in one line and exits 1, as a model whose module is missing does;
`refusal()` gives bench.models the same reason beforehand, so that the runner
notes the skip.
"""

import collections
import ctypes
import errno
import functools
import itertools
import mmap
import os
import platform
import socket
import sys

from bench import common

SQ_ENTRIES = 1024  # the CQ gets twice as many
BUFFER_COUNT = 512  # a power of two, as the buffer ring wants
BUFFER_SIZE = 16384
BUFFER_GROUP = 0

# (io_uring_setup, io_uring_enter, io_uring_register).  They came after the
# architectures agreed to number new calls alike, but some add an offset (alpha,
# mips): machines not in the table are refused, not guessed at.
SYSCALLS = {"x86_64": (425, 426, 427), "aarch64": (425, 426, 427)}
DISABLED_SYSCTL = "/proc/sys/kernel/io_uring_disabled"

SETUP_SINGLE_ISSUER = 1 << 12
SETUP_DEFER_TASKRUN = 1 << 13
FEAT_SINGLE_MMAP = 1 << 0
OFF_SQ_RING = 0  # mmap offsets that say which part of the ring to map
OFF_SQES = 0x10000000
ENTER_GETEVENTS = 1 << 0
REGISTER_PBUF_RING = 22

OP_ACCEPT = 13
OP_SEND = 26
OP_RECV = 27
IOSQE_BUFFER_SELECT = 1 << 5
ACCEPT_MULTISHOT = 1 << 0  # in the SQE's ioprio, for accept
RECV_MULTISHOT = 1 << 1  # in the SQE's ioprio, for recv
CQE_F_BUFFER = 1 << 0
CQE_F_MORE = 1 << 1
CQE_BUFFER_SHIFT = 16

# What finished, in the low bits of user_data; the connection's number is above them.
ACCEPT, RECV, SEND = 1, 2, 3
KIND_BITS = 2
U32 = 0xFFFFFFFF

u8, u16, u32, u64 = ctypes.c_uint8, ctypes.c_uint16, ctypes.c_uint32, ctypes.c_uint64


class SqringOffsets(ctypes.Structure):
    _fields_ = [("head", u32), ("tail", u32), ("ring_mask", u32), ("ring_entries", u32),
                ("flags", u32), ("dropped", u32), ("array", u32), ("resv1", u32),
                ("user_addr", u64)]


class CqringOffsets(ctypes.Structure):
    _fields_ = [("head", u32), ("tail", u32), ("ring_mask", u32), ("ring_entries", u32),
                ("overflow", u32), ("cqes", u32), ("flags", u32), ("resv1", u32),
                ("user_addr", u64)]


class Params(ctypes.Structure):
    """struct io_uring_params: flags in, then sizes, features and ring offsets out."""
    _fields_ = [("sq_entries", u32), ("cq_entries", u32), ("flags", u32),
                ("sq_thread_cpu", u32), ("sq_thread_idle", u32), ("features", u32),
                ("wq_fd", u32), ("resv", u32 * 3),
                ("sq_off", SqringOffsets), ("cq_off", CqringOffsets)]


class Sqe(ctypes.Structure):
    """struct io_uring_sqe, its unions named for the member used here: `off` is
    addr2, `op_flags` is msg_flags or accept_flags, `buf_group` is buf_index."""
    _fields_ = [("opcode", u8), ("flags", u8), ("ioprio", u16), ("fd", ctypes.c_int32),
                ("off", u64), ("addr", u64), ("len", u32), ("op_flags", u32),
                ("user_data", u64), ("buf_group", u16), ("personality", u16),
                ("file_index", u32), ("addr3", u64), ("pad", u64)]


class Cqe(ctypes.Structure):
    """struct io_uring_cqe: what finished, its result (or -errno), and flags."""
    _fields_ = [("user_data", u64), ("res", ctypes.c_int32), ("flags", u32)]


class Buf(ctypes.Structure):
    """struct io_uring_buf, one entry of a provided-buffer ring."""
    _fields_ = [("addr", u64), ("len", u32), ("bid", u16), ("resv", u16)]


class BufReg(ctypes.Structure):
    """struct io_uring_buf_reg, the argument of IORING_REGISTER_PBUF_RING."""
    _fields_ = [("ring_addr", u64), ("ring_entries", u32), ("bgid", u16), ("pad", u16),
                ("resv", u64 * 3)]


BUF_RING_TAIL = 14  # the ring's tail overlays bufs[0].resv, so entries never write `resv`
PRIVATE = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS  # memory of this process alone, as liburing maps it


# -- the three system calls ----------------------------------------------------------

LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.syscall.restype = ctypes.c_long
libc_syscall = LIBC.syscall


class Refused(Exception):
    """This machine will not give the model what it needs; str() is the one-line why."""


def syscall(which, *args):
    """One of io_uring's system calls by name: its result, or OSError."""
    numbers = SYSCALLS.get(platform.machine())
    if numbers is None:
        raise Refused(f"io_uring's system call numbers are known here for "
                      f"{' and '.join(SYSCALLS)} only, not {platform.machine()}")
    number = numbers[("setup", "enter", "register").index(which)]
    # syscall(2) is variadic and reads whole words: pass every integer as one.
    words = [ctypes.c_long(arg) if isinstance(arg, int) else arg for arg in args]
    result = libc_syscall(ctypes.c_long(number), *words)
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result


def error_name(err):
    return errno.errorcode.get(err.errno, str(err.errno))


def why_not_permitted():
    """Why io_uring_setup said EPERM: the sysctl, or else a seccomp filter."""
    try:
        with open(DISABLED_SYSCTL) as sysctl:
            disabled = sysctl.read().strip()
    except OSError:
        disabled = "0"  # no such sysctl before Linux 6.6
    if disabled == "2":
        return "kernel.io_uring_disabled is 2: io_uring is off for every process"
    if disabled == "1":
        return ("kernel.io_uring_disabled is 1: only root and the group in "
                "kernel.io_uring_group may use io_uring")
    return ("a seccomp filter forbids it (Docker's default profile does; run the "
            "container with a profile that allows io_uring)")


def explain_setup_error(err):
    if err.errno == errno.ENOSYS:
        why = "this kernel has no io_uring (built without CONFIG_IO_URING, or older than 5.1)"
    elif err.errno == errno.EPERM:
        why = why_not_permitted()
    elif err.errno == errno.ENOMEM:
        why = "out of memory for the rings (older kernels charge them to RLIMIT_MEMLOCK)"
    else:
        why = err.strerror
    return f"io_uring_setup failed with {error_name(err)}: {why}"


def setup(entries):
    """io_uring_setup as a Linux 6.1+ program asks, or plain where the kernel
    refuses those flags: (ring fd, Params), or Refused."""
    for flags in (SETUP_SINGLE_ISSUER | SETUP_DEFER_TASKRUN, 0):
        params = Params(flags=flags)
        try:
            return syscall("setup", entries, ctypes.pointer(params)), params
        except OSError as err:
            refused = err
            if err.errno != errno.EINVAL:
                break
    raise Refused(explain_setup_error(refused))


@functools.lru_cache(maxsize=None)
def refusal():
    """Why this machine will not run the model, in one line, or None: a tiny ring
    set up once and closed, the answer kept for the life of the process."""
    try:
        fd, _ = setup(2)
    except Refused as why:
        return str(why)
    os.close(fd)
    return None


# -- the rings -----------------------------------------------------------------------

class Ring:
    """One io_uring: the SQ and CQ rings in one mapping, the SQEs in another.

    Call `submit(sqe)` to queue a request, `enter()` once a turn to pass the
    queued requests to the kernel and wait for a completion, then
    `completions()` to take every completion the kernel has posted."""

    def __init__(self, entries):
        self.fd, params = setup(entries)
        self.flags = params.flags  # what the kernel took
        if not params.features & FEAT_SINGLE_MMAP:
            raise Refused("io_uring without IORING_FEAT_SINGLE_MMAP: this kernel is older "
                          "than 5.4, and this model needs 6.0")
        sq, cq = params.sq_off, params.cq_off
        size = max(sq.array + params.sq_entries * 4,
                   cq.cqes + params.cq_entries * ctypes.sizeof(Cqe))
        self.rings = mmap.mmap(self.fd, size, mmap.MAP_SHARED,
                               mmap.PROT_READ | mmap.PROT_WRITE, offset=OFF_SQ_RING)
        self.sqe_memory = mmap.mmap(self.fd, params.sq_entries * ctypes.sizeof(Sqe),
                                    mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE,
                                    offset=OFF_SQES)
        self.sq_head = u32.from_buffer(self.rings, sq.head)
        self.sq_tail = u32.from_buffer(self.rings, sq.tail)
        self.sq_mask = u32.from_buffer(self.rings, sq.ring_mask).value
        self.sq_entries = params.sq_entries
        self.sqes = (Sqe * params.sq_entries).from_buffer(self.sqe_memory)
        # The SQ ring holds indexes into the SQE array; slot i names SQE i, for good.
        slots = (u32 * params.sq_entries).from_buffer(self.rings, sq.array)
        slots[:] = range(params.sq_entries)
        self.cq_head = u32.from_buffer(self.rings, cq.head)
        self.cq_tail = u32.from_buffer(self.rings, cq.tail)
        self.cq_mask = u32.from_buffer(self.rings, cq.ring_mask).value
        self.cqes = (Cqe * params.cq_entries).from_buffer(self.rings, cq.cqes)

    def unsubmitted(self):
        """Requests queued that the kernel has not taken yet (its head says)."""
        return (self.sq_tail.value - self.sq_head.value) & U32

    def submit(self, sqe):
        if self.unsubmitted() == self.sq_entries:  # a turn asked for more than the ring holds
            self.enter(min_complete=0)
        tail = self.sq_tail.value
        self.sqes[tail & self.sq_mask] = sqe
        # The kernel reads the SQ ring only inside io_uring_enter, after this store.
        self.sq_tail.value = (tail + 1) & U32

    def enter(self, min_complete=1):
        """The turn's system call: hand over the queued requests, and wait until at
        least `min_complete` completions are posted."""
        flags = ENTER_GETEVENTS if min_complete else 0
        try:
            syscall("enter", self.fd, self.unsubmitted(), min_complete, flags, None, 0)
        except OSError as err:
            # A signal (Python runs its handler next), or a kernel short of memory
            # for completions: either way, reap what there is and come back.
            if err.errno not in (errno.EINTR, errno.EAGAIN, errno.EBUSY):
                raise

    def completions(self):
        """Every completion posted, as (user_data, res, flags); their slots go back
        to the kernel."""
        head, tail = self.cq_head.value, self.cq_tail.value
        done = []
        while head != tail:
            cqe = self.cqes[head & self.cq_mask]
            done.append((cqe.user_data, cqe.res, cqe.flags))
            head = (head + 1) & U32
        self.cq_head.value = head
        return done


class BufferRing:
    """The buffers lent to the kernel for recv: `count` buffers of `size` bytes in
    one mapping, and the ring of entries (Buf) through which they are lent.

    `take(bid)` notes a buffer the kernel filled; `give_back(bid)` returns it."""

    def __init__(self, ring, count, size, group=BUFFER_GROUP):
        self.size, self.mask = size, count - 1
        self.low_water = count // 8  # stalled recvs wait until this many are free
        self.memory = mmap.mmap(-1, count * size, PRIVATE)
        self.base = ctypes.addressof(ctypes.c_char.from_buffer(self.memory))
        # A mapping of its own: the kernel wants the ring page-aligned.
        self.ring_memory = mmap.mmap(-1, count * ctypes.sizeof(Buf), PRIVATE)
        self.entries = (Buf * count).from_buffer(self.ring_memory)
        self.tail = u16.from_buffer(self.ring_memory, BUF_RING_TAIL)
        registration = BufReg(ring_addr=ctypes.addressof(self.entries), ring_entries=count,
                              bgid=group)
        try:
            syscall("register", ring.fd, REGISTER_PBUF_RING, ctypes.byref(registration), 1)
        except OSError as err:
            raise Refused(f"IORING_REGISTER_PBUF_RING failed with {error_name(err)}: "
                          f"provided-buffer rings came in Linux 5.19") from None
        self.held = count  # all ours until given
        for bid in range(count):
            self.give_back(bid)

    def address(self, bid):
        return self.base + bid * self.size

    def free(self):
        """How many buffers the kernel has, as far as its completions have said."""
        return self.mask + 1 - self.held

    def take(self, bid):
        self.held += 1
        return bid

    def give_back(self, bid):
        tail = self.tail.value
        entry = self.entries[tail & self.mask]
        entry.addr, entry.len, entry.bid = self.address(bid), self.size, bid  # never resv
        self.tail.value = (tail + 1) & 0xFFFF
        self.held -= 1


# -- the echo server -----------------------------------------------------------------

class Connection:
    """One client: its socket, and the buffers received and not yet echoed, as
    (bid, length) in arrival order; the first is in flight while `sending`, of
    which `sent` bytes have gone."""

    __slots__ = ("number", "sock", "replies", "sent", "sending", "eof", "closed")

    def __init__(self, number, sock):
        self.number, self.sock = number, sock
        self.replies = collections.deque()
        self.sent = 0
        self.sending = self.eof = self.closed = False


class EchoServer:
    """The completion loop: `run()` arms the multishot accept, then turns forever."""

    def __init__(self, ring, buffers, listener):
        self.ring, self.buffers, self.listener = ring, buffers, listener
        # number -> Connection, until its socket is closed and no send of it in flight
        self.connections = {}
        self.numbers = itertools.count(1)  # never reused, unlike fd numbers
        self.stalled = collections.deque()  # connections whose recv ended for want of buffers
        self.on_completion = {ACCEPT: self.on_accepted, RECV: self.on_received,
                              SEND: self.on_sent}

    def run(self):
        self.arm_accept()
        while True:
            self.ring.enter(min_complete=1)
            for user_data, result, flags in self.ring.completions():
                kind, number = user_data & ((1 << KIND_BITS) - 1), user_data >> KIND_BITS
                self.on_completion[kind](number, result, flags)
            self.rearm_stalled()

    def arm_accept(self):
        self.ring.submit(Sqe(opcode=OP_ACCEPT, fd=self.listener.fileno(),
                             ioprio=ACCEPT_MULTISHOT, op_flags=socket.SOCK_CLOEXEC,
                             user_data=ACCEPT))

    def arm_recv(self, connection):
        # len 0: each completion fills at most one whole buffer of the group.
        self.ring.submit(Sqe(opcode=OP_RECV, fd=connection.sock.fileno(),
                             flags=IOSQE_BUFFER_SELECT, ioprio=RECV_MULTISHOT,
                             buf_group=BUFFER_GROUP,
                             user_data=connection.number << KIND_BITS | RECV))

    def send_next(self, connection):
        """Send the first queued buffer, from where the last send of it stopped."""
        bid, length = connection.replies[0]
        self.ring.submit(Sqe(opcode=OP_SEND, fd=connection.sock.fileno(),
                             addr=self.buffers.address(bid) + connection.sent,
                             len=length - connection.sent, op_flags=socket.MSG_NOSIGNAL,
                             user_data=connection.number << KIND_BITS | SEND))
        connection.sending = True

    def on_accepted(self, number, result, flags):
        if result == -errno.EINVAL:
            raise Refused("multishot accept (IORING_ACCEPT_MULTISHOT) failed with EINVAL: "
                          "it came in Linux 5.19")
        if not flags & CQE_F_MORE:
            self.arm_accept()  # it ended (after an error, or the kernel's choice): again
        if result < 0:
            return  # ECONNABORTED, EMFILE: that client is lost, the listener goes on
        sock = socket.socket(self.listener.family, socket.SOCK_STREAM, 0, result)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as bare_epoll does
        connection = Connection(next(self.numbers), sock)
        self.connections[connection.number] = connection
        self.arm_recv(connection)

    def on_received(self, number, result, flags):
        bid = self.buffers.take(flags >> CQE_BUFFER_SHIFT) if flags & CQE_F_BUFFER else None
        connection = self.connections.get(number)
        if connection is None or connection.closed:  # the last word of a closed socket
            if bid is not None:
                self.buffers.give_back(bid)
            return
        if result > 0:
            connection.replies.append((bid, result))
            if not connection.sending:
                self.send_next(connection)
        if not flags & CQE_F_MORE:
            self.on_recv_ended(connection, result)

    def on_recv_ended(self, connection, result):
        """The multishot recv is over: `result` says why."""
        if result > 0:
            self.arm_recv(connection)  # ended by the kernel, not by the client: again
        elif result == 0:
            connection.eof = True  # echo what is queued, then close
            if not connection.sending:
                self.close(connection)
        elif result == -errno.ENOBUFS:
            self.stalled.append(connection)
        elif result == -errno.EINVAL:
            raise Refused("multishot recv (IORING_RECV_MULTISHOT with a buffer ring) failed "
                          "with EINVAL: it came in Linux 6.0")
        else:
            self.close(connection)  # ECONNRESET and the like

    def on_sent(self, number, result, flags):
        connection = self.connections[number]  # kept while its send is in flight
        connection.sending = False
        bid, length = connection.replies[0]
        if connection.closed or result <= 0:  # closed meanwhile, or EPIPE, ECONNRESET
            self.close(connection)
            return
        connection.sent += result
        if connection.sent < length:
            self.send_next(connection)  # cut short: the rest goes before anything behind it
            return
        connection.replies.popleft()
        connection.sent = 0
        self.buffers.give_back(bid)
        if connection.replies:
            self.send_next(connection)
        elif connection.eof:
            self.close(connection)

    def close(self, connection):
        """Close the socket and give back its buffers, all but one in flight: that
        one goes back with its send's completion, and the connection is forgotten then."""
        if not connection.closed:
            connection.closed = True
            try:
                # Wakes the armed recv, which ends: the socket is not released while
                # a request still holds it.
                connection.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already reset by the client
            connection.sock.close()
        while len(connection.replies) > connection.sending:
            self.buffers.give_back(connection.replies.pop()[0])
        if not connection.sending:
            del self.connections[connection.number]

    def rearm_stalled(self):
        """Arm again the recvs that ENOBUFS ended, one per buffer the kernel has, once
        it has a good share of them: armed for each buffer that came back, a recv
        would take that one and end again at once."""
        free = self.buffers.free()
        if free < self.buffers.low_water:
            return
        while self.stalled and free > 0:
            connection = self.stalled.popleft()
            if not connection.closed:
                self.arm_recv(connection)
                free -= 1


def main(argv=None):
    options = common.parse_args("uring-python", argv)
    if options.handler != "echo":
        print(f"bench.uring_echo: serves only echo (bytes back as they come), "
              f"not {options.handler}", file=sys.stderr)
        sys.exit(2)
    try:
        ring = Ring(SQ_ENTRIES)  # refused here, before the startup line, as a rule
        buffers = BufferRing(ring, BUFFER_COUNT, BUFFER_SIZE)
        EchoServer(ring, buffers, common.listen(options)).run()
    except Refused as why:
        sys.exit(f"bench.uring_echo: {why}")


if __name__ == "__main__":
    common.run(main)
