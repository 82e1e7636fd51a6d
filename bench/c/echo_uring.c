/*
 * echo_uring: the C echo reference again, on io_uring instead of epoll.
 *
 * echo_epoll asks the kernel which sockets are ready, then makes a recv and a
 * send call for each.  Here the kernel holds standing requests and reports what
 * they did; one io_uring_submit_and_wait a turn hands over the turn's sends and
 * collects the completions, however many connections they concern.
 *
 * - One multishot accept stands on the listening socket, one multishot recv on
 *   each connection: a completion per arrival, nothing to re-arm.
 * - The recv names no buffer: the kernel takes one from a ring of provided
 *   buffers when data arrives, so idle connections pin no memory.
 * - Echo sends straight from those buffers, without a copy.  A connection keeps
 *   the buffers it received, in order, and has at most one send in flight, so
 *   replies cannot overtake one another; a turn sends all it holds in one send
 *   (sendmsg over several buffers), and what a partial send left goes next turn.
 *   A buffer returns to the ring once its last byte is sent.
 * - A connection holding more than HOLD_LIMIT unsent bytes (a client that sends
 *   and does not read) has its recv cancelled until all is sent: echo_epoll's
 *   bound, and it keeps one slow reader from emptying the shared ring.  What the
 *   recv took before the cancel landed (at most the socket's receive queue) is
 *   held too; the ring's size bounds them all.  A recv that finds the ring empty
 *   ends, and is re-armed when buffers come back.
 * - IORING_SETUP_SINGLE_ISSUER|DEFER_TASKRUN (Linux 6.1) let the kernel run
 *   completion work only when this one thread waits; kernels that refuse the
 *   flags get the ring without them.
 *
 * Usage: echo_uring --port P [--host 127.0.0.1]
 * Where the kernel refuses io_uring (older than 6.0, or disabled by the
 * kernel.io_uring_disabled sysctl or a seccomp filter), it says so in one line
 * on stderr and exits 1.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

enum {
    SQ_ENTRIES = 4096,
    CQ_ENTRIES = 16384,  /* multishot requests post many completions per submission */
    /* A buffer is held from its arrival to the end of its echo, across all
     * connections at once: enough for thousands of busy connections.  The ring
     * wants a power of two. */
    BUF_COUNT = 4096,
    BUF_SIZE = 16384,
    BUF_GROUP = 0,
    SEND_IOVS = 16,          /* SEND_IOVS * BUF_SIZE: echo_epoll's 256 KiB read */
    HOLD_LIMIT = 262144,     /* unsent bytes past which a connection stops reading */
};

/* A completion's user_data: the connection's address, with the request's kind
 * in the low bits its alignment leaves free. */
enum { OP_ACCEPT, OP_RECV, OP_SEND, OP_CANCEL, OP_SIGNAL, OP_MASK = 7 };

struct conn {
    int fd;
    int head, tail;       /* buffers received and not all sent, linked by next_buf */
    size_t head_sent;     /* bytes of the head buffer already sent */
    size_t unsent;        /* bytes held, in all of them */
    unsigned recv_armed : 1, send_busy : 1, cancel_busy : 1, eof : 1, broken : 1, shut : 1,
        queued : 1;
    struct conn *next;    /* on the `dirty` or the `starved` list */
    struct iovec iov[SEND_IOVS];
    struct msghdr msg;    /* the kernel reads these until the send completes */
} __attribute__((aligned(8)));

static struct io_uring ring;
static struct io_uring_buf_ring *bufring;
static char *buffers;
static int next_buf[BUF_COUNT];
static unsigned buf_len[BUF_COUNT];
static int bufs_out;        /* taken by the kernel, not yet given back */
static int bufs_returned;   /* given back this turn, published at its end */
static struct conn *dirty;  /* connections something happened to this turn */
static struct conn *starved; /* recv ended for want of a buffer; re-armed when some return */
static int lfd, accept_armed, accept_waits_for_fd;
static int signals, stop;

static void __attribute__((noreturn)) refuse(const char *what, int err) {
    fprintf(stderr, "echo_uring: the kernel refuses io_uring (%s: %s)\n", what, strerror(-err));
    exit(1);
}

static uint64_t tag(struct conn *c, int op) { return (uint64_t)(uintptr_t)c | (uint64_t)op; }

/* end_turn never asks for more entries than are left, so this cannot fail. */
static struct io_uring_sqe *sqe_for(struct conn *c, int op) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    io_uring_sqe_set_data64(sqe, tag(c, op));
    return sqe;
}

static void mark_dirty(struct conn *c) {
    if (c->queued) return;
    c->queued = 1;
    c->next = dirty;
    dirty = c;
}

/* -- the buffer ring ------------------------------------------------------------------- */

static void return_buf(int bid) {
    io_uring_buf_ring_add(bufring, buffers + (size_t)bid * BUF_SIZE, BUF_SIZE, (unsigned short)bid,
                          io_uring_buf_ring_mask(BUF_COUNT), bufs_returned++);
    bufs_out--;
}

static void publish_returned(void) {
    if (bufs_returned) io_uring_buf_ring_advance(bufring, bufs_returned);
    bufs_returned = 0;
}

static void setup_buffers(void) {
    bufring = mmap(NULL, BUF_COUNT * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
                   MAP_ANONYMOUS | MAP_PRIVATE, -1, 0); /* the kernel wants it page-aligned */
    buffers = mmap(NULL, (size_t)BUF_COUNT * BUF_SIZE, PROT_READ | PROT_WRITE,
                   MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (bufring == MAP_FAILED || buffers == MAP_FAILED) {
        perror("echo_uring: mmap");
        exit(2);
    }
    struct io_uring_buf_reg reg = {.ring_addr = (uintptr_t)bufring, .ring_entries = BUF_COUNT,
                                   .bgid = BUF_GROUP};
    int ret = io_uring_register_buf_ring(&ring, &reg, 0);
    if (ret < 0) refuse("a provided buffer ring", ret);
    io_uring_buf_ring_init(bufring);
    bufs_out = BUF_COUNT;
    for (int bid = 0; bid < BUF_COUNT; bid++) return_buf(bid);
    publish_returned();
}

/* -- requests ---------------------------------------------------------------------------- */

/* SIGTERM and SIGINT are blocked and read from a signalfd the ring polls: a signal is
 * one more completion, and none can slip in between the check of `stop` and the wait. */
static void watch_signals(void) {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signals = signalfd(-1, &mask, SFD_CLOEXEC);
    io_uring_prep_poll_add(sqe_for(NULL, OP_SIGNAL), signals, POLLIN);
}

static void arm_accept(void) {
    io_uring_prep_multishot_accept(sqe_for(NULL, OP_ACCEPT), lfd, NULL, NULL, 0);
    accept_armed = 1;
}

static void arm_recv(struct conn *c) {
    struct io_uring_sqe *sqe = sqe_for(c, OP_RECV);
    io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BUF_GROUP;
    c->recv_armed = 1;
}

static void cancel_recv(struct conn *c) {
    io_uring_prep_cancel64(sqe_for(c, OP_CANCEL), tag(c, OP_RECV), 0);
    c->cancel_busy = 1;
}

/* One send of everything held (up to SEND_IOVS buffers), from where the last stopped. */
static void send_held(struct conn *c) {
    int n = 0;
    size_t skip = c->head_sent;
    for (int bid = c->head; bid >= 0 && n < SEND_IOVS; bid = next_buf[bid], skip = 0) {
        c->iov[n].iov_base = buffers + (size_t)bid * BUF_SIZE + skip;
        c->iov[n].iov_len = buf_len[bid] - skip;
        n++;
    }
    struct io_uring_sqe *sqe = sqe_for(c, OP_SEND);
    if (n == 1) {
        io_uring_prep_send(sqe, c->fd, c->iov[0].iov_base, c->iov[0].iov_len, MSG_NOSIGNAL);
    } else {
        c->msg = (struct msghdr){.msg_iov = c->iov, .msg_iovlen = (size_t)n};
        io_uring_prep_sendmsg(sqe, c->fd, &c->msg, MSG_NOSIGNAL);
    }
    c->send_busy = 1;
}

static void drop_head(struct conn *c) {
    int bid = c->head;
    c->head = next_buf[bid];
    if (c->head < 0) c->tail = -1;
    c->head_sent = 0;
    return_buf(bid);
}

/* -- completions: each only records what happened; settle() acts on it ------------------- */

static void on_accepted(int res, unsigned flags) {
    if (!(flags & IORING_CQE_F_MORE)) accept_armed = 0;
    if (res == -EMFILE || res == -ENFILE) accept_waits_for_fd = 1; /* re-armed, it would spin */
    if (res < 0) return;
    int one = 1;
    setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(res);
        return;
    }
    *c = (struct conn){.fd = res, .head = -1, .tail = -1};
    mark_dirty(c); /* settle() arms its recv */
}

/* A buffer the kernel filled joins the end of the connection's list. */
static void hold(struct conn *c, int bid, int len) {
    bufs_out++;
    if (len <= 0) {
        return_buf(bid);
        return;
    }
    buf_len[bid] = (unsigned)len;
    next_buf[bid] = -1;
    if (c->tail >= 0) next_buf[c->tail] = bid;
    else c->head = bid;
    c->tail = bid;
    c->unsent += (size_t)len;
}

static void on_received(struct conn *c, int res, unsigned flags) {
    if (flags & IORING_CQE_F_BUFFER) hold(c, (int)(flags >> IORING_CQE_BUFFER_SHIFT), res);
    if (!(flags & IORING_CQE_F_MORE)) { /* the recv has ended: why? */
        c->recv_armed = 0;
        if (res == 0) c->eof = 1;
        else if (res < 0 && res != -ENOBUFS && res != -ECANCELED) c->broken = 1;
    }
    mark_dirty(c);
}

static void on_sent(struct conn *c, int res) {
    c->send_busy = 0;
    mark_dirty(c);
    if (res < 0) {
        c->broken = 1;
        return;
    }
    size_t sent = (size_t)res;
    c->unsent -= sent;
    while (sent) {
        size_t left = buf_len[c->head] - c->head_sent;
        if (sent < left) {
            c->head_sent += sent;
            break;
        }
        sent -= left;
        drop_head(c);
    }
}

static void on_completion(struct io_uring_cqe *cqe) {
    struct conn *c = (struct conn *)(uintptr_t)(cqe->user_data & ~(uint64_t)OP_MASK);
    switch (cqe->user_data & OP_MASK) {
    case OP_ACCEPT: on_accepted(cqe->res, cqe->flags); break;
    case OP_RECV: on_received(c, cqe->res, cqe->flags); break;
    case OP_SEND: on_sent(c, cqe->res); break;
    case OP_CANCEL: c->cancel_busy = 0; mark_dirty(c); break; /* a miss is retried by settle() */
    case OP_SIGNAL: stop = 1; break;
    }
}

/* -- the one place a connection's state becomes requests ---------------------------------- */

static int can_close(struct conn *c) {
    return (c->broken || (c->eof && !c->unsent)) && !c->recv_armed && !c->send_busy &&
           !c->cancel_busy;
}

/* Needs at most two submission entries: a send, then a cancel or (with nothing
 * held, so no send) a recv. */
static void settle(struct conn *c) {
    c->queued = 0;
    if (c->broken) {
        if (!c->send_busy) {
            while (c->head >= 0) drop_head(c);
            c->unsent = 0;
        }
        if ((c->recv_armed || c->send_busy) && !c->shut) { /* they end with 0 or an error */
            shutdown(c->fd, SHUT_RDWR);
            c->shut = 1;
        }
    } else if (c->unsent && !c->send_busy) {
        send_held(c);
    }
    if (c->unsent > HOLD_LIMIT && c->recv_armed && !c->cancel_busy && !c->broken) cancel_recv(c);
    if (!c->recv_armed && !c->eof && !c->broken && !c->unsent) {
        if (bufs_out < BUF_COUNT) {
            arm_recv(c);
        } else {
            c->next = starved;
            starved = c;
        }
    }
    if (can_close(c)) {
        close(c->fd);
        free(c);
        accept_waits_for_fd = 0;
    }
}

/* What every turn ends with, before the next submit: settle what happened, re-arm
 * what waited for buffers, publish the buffers given back.  Connections left
 * over for want of submission entries stay dirty for the next turn. */
static void end_turn(void) {
    if (!accept_armed && !accept_waits_for_fd && io_uring_sq_space_left(&ring) >= 1) arm_accept();
    while (dirty && io_uring_sq_space_left(&ring) >= 2) {
        struct conn *c = dirty;
        dirty = c->next;
        settle(c);
    }
    for (int free_bufs = BUF_COUNT - bufs_out;
         starved && free_bufs > 0 && io_uring_sq_space_left(&ring) >= 1; free_bufs--) {
        struct conn *c = starved;
        starved = c->next;
        arm_recv(c);
    }
    publish_returned();
}

/* -- setting up ---------------------------------------------------------------------------- */

/* The flags from the most to the least the kernel may take; only EINVAL (a flag it
 * does not know) moves down the list.  Returns the name of those it took. */
static const char *setup_ring(void) {
    static const struct { unsigned flags; const char *name; } tries[] = {
        {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, "single_issuer+defer_taskrun"},
        {IORING_SETUP_SINGLE_ISSUER, "single_issuer"},
        {0, "no setup flags"},
    };
    int ret = -EINVAL;
    for (size_t i = 0; i < sizeof tries / sizeof tries[0]; i++) {
        struct io_uring_params p = {.flags = tries[i].flags | IORING_SETUP_CQSIZE,
                                    .cq_entries = CQ_ENTRIES};
        ret = io_uring_queue_init_params(SQ_ENTRIES, &ring, &p);
        if (ret == 0) return tries[i].name;
        if (ret != -EINVAL) break;
    }
    refuse("io_uring_setup", ret);
}

/* Kernels before 6.0 take buffer rings but not a multishot recv, and a request
 * they refuse fails only when it runs: ask once, on a socketpair, before serving. */
static void probe_multishot_recv(void) {
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) < 0) {
        perror("echo_uring: socketpair");
        exit(2);
    }
    struct conn probe = {.fd = pair[0], .head = -1, .tail = -1};
    arm_recv(&probe);
    if (write(pair[1], "?", 1) != 1 || shutdown(pair[1], SHUT_WR) < 0) {
        perror("echo_uring: probe");
        exit(2);
    }
    int refused = 0;
    while (probe.recv_armed) { /* a byte, then the end of input, or a refusal */
        struct io_uring_cqe *cqe;
        int ret = io_uring_submit_and_wait(&ring, 1);
        if (ret < 0 && ret != -EINTR) refuse("io_uring_enter", ret);
        if (io_uring_peek_cqe(&ring, &cqe) < 0) continue;
        if (cqe->res < 0 && !refused) refused = cqe->res;
        on_received(&probe, cqe->res, cqe->flags);
        io_uring_cqe_seen(&ring, cqe);
    }
    if (refused) refuse("multishot recv", refused);
    while (probe.head >= 0) drop_head(&probe);
    publish_returned();
    dirty = NULL;
    close(pair[0]);
    close(pair[1]);
}

static int listen_and_announce(const char *host, int port, const char *flags) {
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &sa.sin_addr);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 4096) < 0) {
        perror("echo_uring: bind");
        return -1;
    }
    socklen_t salen = sizeof sa;
    getsockname(lfd, (struct sockaddr *)&sa, &salen);
    printf("echo_uring: serving echo on %s:%d (tcp), model c-uring, io_uring with %s\n", host,
           ntohs(sa.sin_port), flags);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1";
    int port = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--host")) host = argv[i + 1];
        else {
            fprintf(stderr, "echo_uring: unknown option %s (it takes --port and --host)\n", argv[i]);
            return 2;
        }
    }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    const char *flags = setup_ring();
    setup_buffers();
    probe_multishot_recv();
    watch_signals();
    if (listen_and_announce(host, port, flags) < 0) return 2;
    while (!stop) {
        end_turn();
        /* Left-over connections must not wait for a completion that may never come. */
        int ret = io_uring_submit_and_wait(&ring, dirty ? 0 : 1);
        if (ret < 0 && ret != -EINTR && ret != -EBUSY && ret != -EAGAIN) {
            fprintf(stderr, "echo_uring: io_uring_submit_and_wait: %s\n", strerror(-ret));
            return 1;
        }
        unsigned head, seen = 0;
        struct io_uring_cqe *cqe;
        io_uring_for_each_cqe(&ring, head, cqe) {
            on_completion(cqe);
            seen++;
        }
        io_uring_cq_advance(&ring, seen);
    }
    io_uring_queue_exit(&ring);
    return 0;
}
