/*
 * loadgen: an epoll load generator that is never the bottleneck.
 *
 * A Python load generator on a 2-core machine is as slow as the server it
 * measures, and then every model looks the same.  This one keeps N
 * connections busy with DEPTH messages in flight each, and checks every byte
 * of every reply against the message it answers (replies of echo, uppercase
 * and lenprefix servers are the request itself: payloads are uppercase
 * letters).
 *
 * Message k on connection c: a framing header, then SIZE payload bytes cut
 * from a 26-letter cycle starting at (c*7 + k*13) % 26, so a reply sent to
 * the wrong connection or out of order does not match.
 *
 * Phases: connect every connection (at most 256 connects pending at once),
 * then send for WARMUP seconds uncounted, then DURATION seconds counted.
 * Latency (from the moment a message is queued to its last reply byte) goes
 * to a log-linear histogram: values below 16 us exactly, above that 16
 * sub-buckets per power of two.  bench/histogram.py reads the buckets and
 * computes the percentiles; the bucket function here is its twin.
 *
 * Output: one JSON object on stdout; "loadgen: measuring" and "loadgen: done"
 * on stderr when the measured window opens and closes.
 *
 * Usage: loadgen --port P [--host 127.0.0.1] [--connections N] [--size S]
 *        [--depth D] [--duration SEC] [--warmup SEC] [--framing raw|lenprefix|line]
 *        [--idle N] [--tls 1] [--sources K]
 *        loadgen --unix PATH [...]: the same over a Unix stream socket
 *        loadgen --udp 1 --port P [...]: CONNECTIONS UDP clients instead, each with
 *        one datagram in flight; one not answered within UDP_TIMEOUT is counted
 *        in "lost_datagrams" and sent again
 *        loadgen --churn 1 --port P [...]: CONNECTIONS clients, each connecting,
 *        sending one message, reading the reply and closing, over and over
 *
 * --sources K spreads the connections over the source addresses 127.0.0.2 to
 * 127.0.0.K+1, round robin, for more connections to one server than the
 * ephemeral port range allows from one address (28,232 ports here): 100,000
 * connections need 4.  The port is picked at connect() (IP_BIND_ADDRESS_NO_PORT),
 * and the server must be on 127.0.0.0/8 too.  The descriptor limit is raised to
 * what the connections need, past the hard limit where root may.
 *
 * Built with -DWITH_TLS (and -lssl -lcrypto: scripts/build-c makes it
 * bench/build/loadgen_tls where OpenSSL's headers are installed), --tls 1
 * speaks TLS: each connection's handshake is driven non-blocking in the
 * connect phase, then SSL_write/SSL_read replace send/recv, with partial
 * writes enabled so that SSL_write behaves as send does.  The server's
 * certificate is not checked: this is load, not trust.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#ifdef WITH_TLS
#include <openssl/err.h>
#include <openssl/ssl.h>
static SSL_CTX *tls_ctx;
#endif
static int tls;
static int nsources;  /* --sources: 0, the kernel's choice of source address */

#define NBUCKETS (64 * 16)
#define MAX_PENDING_CONNECTS 256

enum { RAW, LENPREFIX, LINE };
enum { CONNECTING, HANDSHAKING, RUNNING, IDLE, DEAD };

struct conn {
    int fd, state, id;
#ifdef WITH_TLS
    SSL *ssl;
#endif
    uint64_t sent, done;         /* messages queued, replies completed */
    size_t out_len, out_off;     /* pending output */
    size_t in_off;               /* bytes of the current reply received */
    unsigned char *out, *expect;
    double *queued_at;           /* ring of DEPTH send times */
};

static int size = 100, depth = 1, framing = RAW, nconn = 100, nidle = 0, port = 0;
static double duration = 2.0, warmup = 0.5;
static const char *host = "127.0.0.1";
static const char *unix_path = NULL; /* --unix: connect to this stream socket instead */
static size_t msglen, outcap;
#define MAX_SIZE (1 << 20) /* the largest message: 100 KiB and more fit */
static unsigned char pattern[26 * 2 + MAX_SIZE + 8];
static uint64_t hist[NBUCKETS];
static uint64_t messages, bytes, errors, failed, lost, lost_datagrams;
static int udp, churn;
static int measuring, running = 1;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int bucket(uint64_t us) {
    if (us < 16) return (int)us;
    int e = 63 - __builtin_clzll(us);
    int idx = (e - 3) * 16 + (int)((us >> (e - 4)) & 15);
    return idx < NBUCKETS ? idx : NBUCKETS - 1;
}

static size_t make_msg(unsigned char *buf, int c, uint64_t k) {
    size_t n = 0;
    if (framing == LENPREFIX) n = (size_t)sprintf((char *)buf, "%03d", size);
    memcpy(buf + n, pattern + (c * 7 + k * 13) % 26, size);
    n += size;
    if (framing == LINE) buf[n++] = '\n';
    return n;
}

static void queue_msg(struct conn *c, double t) {
    if (c->out_off == c->out_len) c->out_off = c->out_len = 0;
    if (c->out_len + msglen > outcap) { /* compact */
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    make_msg(c->out + c->out_len, c->id, c->sent);
    c->out_len += msglen;
    c->queued_at[c->sent % depth] = t;
    c->sent++;
}

/* send() and recv(), or their TLS twins: -1 with errno EAGAIN when they would block. */
static ssize_t out_bytes(struct conn *c, const void *data, size_t len) {
#ifdef WITH_TLS
    if (c->ssl) {
        int n = SSL_write(c->ssl, data, (int)len);
        if (n > 0) return n;
        int e = SSL_get_error(c->ssl, n);
        errno = (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) ? EAGAIN : EPIPE;
        return -1;
    }
#endif
    return send(c->fd, data, len, MSG_NOSIGNAL);
}

static ssize_t in_bytes(struct conn *c, void *buf, size_t len) {
#ifdef WITH_TLS
    if (c->ssl) {
        int n = SSL_read(c->ssl, buf, (int)len);
        if (n > 0) return n;
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_ZERO_RETURN) return 0;
        errno = (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) ? EAGAIN : ECONNRESET;
        return -1;
    }
#endif
    return recv(c->fd, buf, len, 0);
}

static void kill_conn(int ep, struct conn *c, uint64_t *counter) {
    if (c->state == DEAD) return;
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
#ifdef WITH_TLS
    if (c->ssl) { SSL_free(c->ssl); c->ssl = NULL; }
#endif
    close(c->fd);
    c->state = DEAD;
    (*counter)++;
}

static void want(int ep, struct conn *c, uint32_t events) {
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void flush_out(int ep, struct conn *c) {
    while (c->out_off < c->out_len) {
        ssize_t n = out_bytes(c, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0) {
            if (errno == EAGAIN) { want(ep, c, EPOLLIN | EPOLLOUT); return; }
            kill_conn(ep, c, &lost);
            return;
        }
        c->out_off += (size_t)n;
    }
    want(ep, c, EPOLLIN);
}

static void on_input(int ep, struct conn *c, unsigned char *buf, size_t bufsize) {
    ssize_t n = in_bytes(c, buf, bufsize);
    if (n <= 0) {
        if (n < 0 && errno == EAGAIN) return;
        kill_conn(ep, c, &lost);
        return;
    }
    if (c->state != RUNNING) { kill_conn(ep, c, &errors); return; } /* idle got data */
#ifdef WITH_TLS
    /* A TLS record may hold more than one read takes: drain what OpenSSL kept. */
    while (c->ssl && (size_t)n < bufsize && SSL_pending(c->ssl) > 0) {
        ssize_t more = in_bytes(c, buf + n, bufsize - (size_t)n);
        if (more <= 0) break;
        n += more;
    }
#endif
    size_t pos = 0, got = (size_t)n;
    double t = now();
    while (pos < got) {
        if (c->in_off == 0) make_msg(c->expect, c->id, c->done);
        size_t take = msglen - c->in_off;
        if (take > got - pos) take = got - pos;
        if (memcmp(buf + pos, c->expect + c->in_off, take) != 0) {
            kill_conn(ep, c, &errors);
            return;
        }
        pos += take;
        c->in_off += take;
        if (c->in_off == msglen) {
            c->in_off = 0;
            if (measuring) {
                double lat = (t - c->queued_at[c->done % depth]) * 1e6;
                hist[bucket((uint64_t)lat)]++;
                messages++;
                bytes += msglen;
            }
            c->done++;
            if (running) queue_msg(c, t);
        }
    }
    if (c->out_off < c->out_len) flush_out(ep, c);
}

static int start_connect(int ep, struct conn *c, struct sockaddr *sa, socklen_t salen) {
    c->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) return -1;
    int one = 1;
    if (sa->sa_family == AF_INET) setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (nsources) {
        struct sockaddr_in src = {.sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(c->id % nsources))};
        setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(c->fd, (struct sockaddr *)&src, sizeof src) < 0) {
            close(c->fd);
            return -1;
        }
    }
    /* A Unix socket connects at once, or says EAGAIN when the backlog is full. */
    if (connect(c->fd, sa, salen) < 0 && errno != EINPROGRESS) {
        close(c->fd);
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    c->state = CONNECTING;
    return 0;
}

static void parse(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--port")) port = atoi(v);
        else if (!strcmp(k, "--unix")) unix_path = v;
        else if (!strcmp(k, "--host")) host = v;
        else if (!strcmp(k, "--connections")) nconn = atoi(v);
        else if (!strcmp(k, "--size")) size = atoi(v);
        else if (!strcmp(k, "--depth")) depth = atoi(v);
        else if (!strcmp(k, "--duration")) duration = atof(v);
        else if (!strcmp(k, "--warmup")) warmup = atof(v);
        else if (!strcmp(k, "--idle")) nidle = atoi(v);
        else if (!strcmp(k, "--tls")) tls = atoi(v);
        else if (!strcmp(k, "--udp")) udp = atoi(v);
        else if (!strcmp(k, "--churn")) churn = atoi(v);
        else if (!strcmp(k, "--sources")) nsources = atoi(v);
        else if (!strcmp(k, "--framing"))
            framing = !strcmp(v, "lenprefix") ? LENPREFIX : !strcmp(v, "line") ? LINE : RAW;
        else { fprintf(stderr, "loadgen: unknown option %s\n", k); exit(2); }
    }
#ifndef WITH_TLS
    if (tls) { fprintf(stderr, "loadgen: built without TLS (see loadgen_tls)\n"); exit(2); }
#endif
    if (churn && (udp || tls || depth != 1 || nidle)) {
        fprintf(stderr, "loadgen: --churn is plain TCP (or --unix), one message per connection\n");
        exit(2);
    }
    if (udp && (unix_path || tls || depth != 1)) {
        fprintf(stderr, "loadgen: --udp is over IP, without TLS, one datagram in flight per client\n");
        exit(2);
    }
    if (nsources && (unix_path || udp || churn || nsources < 0 || nsources > 250)) {
        fprintf(stderr, "loadgen: --sources is 1-250 source addresses, for TCP over 127.0.0.0/8\n");
        exit(2);
    }
    if ((!port && !unix_path) || size < 0 || size > MAX_SIZE || depth < 1 || nconn < 0 || nidle < 0 ||
        (framing == LENPREFIX && size > 999)) {
        fprintf(stderr, "loadgen: bad options (need --port or --unix; size 0-1048576, 0-999 for lenprefix)\n");
        exit(2);
    }
}

/* The one JSON object on stdout (bench/runner.py reads it). */
static void report(int connected, int active, double elapsed) {
    printf("{\"loadgen\": \"c-epoll\", \"connections\": %d, \"idle\": %d, \"connected\": %d, "
           "\"size\": %d, \"depth\": %d, \"framing\": \"%s\", \"duration\": %.3f, "
           "\"messages\": %llu, \"bytes\": %llu, \"msgs_per_s\": %.1f, \"mb_per_s\": %.3f, "
           "\"errors\": %llu, \"failed_connections\": %llu, \"lost_connections\": %llu, \"lost_datagrams\": %llu, "
           "\"active_connections\": %d, \"histogram\": {",
           nconn, nidle, connected, size, depth,
           framing == RAW ? "raw" : framing == LENPREFIX ? "lenprefix" : "line", elapsed,
           (unsigned long long)messages, (unsigned long long)bytes, messages / elapsed,
           bytes / elapsed / 1e6, (unsigned long long)errors, (unsigned long long)failed,
           (unsigned long long)lost, (unsigned long long)lost_datagrams, active);
    int first = 1;
    for (int i = 0; i < NBUCKETS; i++)
        if (hist[i]) { printf("%s\"%d\": %llu", first ? "" : ", ", i, (unsigned long long)hist[i]); first = 0; }
    printf("}}\n");
}

/* Phase marks on stderr let the runner read the server's CPU time exactly
 * over the measured window, without the connect phase or the warm-up. */
static void mark(const char *what) { fprintf(stderr, "loadgen: %s\n", what); fflush(stderr); }


/* The measured window, the same in every mode: WARMUP seconds uncounted from
 * `start`, then DURATION counted.  "loadgen: measuring" marks its opening,
 * "loadgen: done" its close; the report covers what it counted. */
static double measure_from, stop_at;

static void window_open(double start) {
    measure_from = start + warmup;
    stop_at = measure_from + duration;
    measuring = warmup <= 0;
    if (measuring) mark("measuring");
}

/* Sets *t to now; 0 once the window has closed. */
static int window_tick(double *t) {
    *t = now();
    if (*t >= stop_at) return 0;
    if (!measuring && *t >= measure_from) { measuring = 1; mark("measuring"); }
    return 1;
}

/* Closed at `t`: the report, with `active` the first `n` connections that got a reply. */
static int window_close(double t, int connected, const struct conn *conns, int n) {
    mark("done");
    double elapsed = t - measure_from;
    if (elapsed > duration) elapsed = duration;
    int active = 0;
    for (int i = 0; i < n; i++) active += conns[i].done > 0;
    report(connected, active, elapsed);
    return 0;
}

/* --udp 1: each client a UDP socket connect()ed to the server, one datagram in
 * flight.  The reply must be the datagram itself.  A reply to the datagram sent
 * before (one that was resent meanwhile) is late, not wrong, and is ignored. */
#define UDP_TIMEOUT 0.2
static int run_udp(struct sockaddr *sa, socklen_t salen, int ep, unsigned char *buf) {
    struct conn *conns = calloc((size_t)nconn, sizeof *conns);
    unsigned char *previous = malloc(msglen + 1);
    double *sent_at = calloc((size_t)nconn, sizeof(double));
    struct epoll_event events[512];
    int connected = 0;
    double t = now();
    for (int i = 0; i < nconn; i++) {
        struct conn *c = &conns[i];
        c->id = i;
        c->fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        if (c->fd < 0 || connect(c->fd, sa, salen) < 0) { c->state = DEAD; failed++; continue; }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
        c->state = RUNNING;
        c->expect = malloc(msglen + 1);
        make_msg(c->expect, c->id, c->sent);
        send(c->fd, c->expect, msglen, 0);
        sent_at[i] = t;
        connected++;
    }
    double next_check = t;
    window_open(t);
    while (window_tick(&t)) {
        int n = epoll_wait(ep, events, 512, 10);
        t = now();
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            ssize_t r = recv(c->fd, buf, 1 << 20, 0);
            if (r < 0) continue; /* EAGAIN, or ECONNREFUSED from an ICMP error: resent later */
            if ((size_t)r == msglen && !memcmp(buf, c->expect, msglen)) {
                if (measuring) {
                    messages++;
                    bytes += (uint64_t)r;
                    hist[bucket((uint64_t)((t - sent_at[c->id]) * 1e6))]++;
                }
                c->done++;
                c->sent++;
                make_msg(c->expect, c->id, c->sent);
                send(c->fd, c->expect, msglen, 0);
                sent_at[c->id] = t;
            } else {
                make_msg(previous, c->id, c->sent - 1);
                if (!(c->sent && (size_t)r == msglen && !memcmp(buf, previous, msglen))) errors++;
            }
        }
        if (t >= next_check) { /* resend what was lost */
            for (int i = 0; i < nconn; i++) {
                struct conn *c = &conns[i];
                if (c->state != RUNNING || t - sent_at[i] < UDP_TIMEOUT) continue;
                if (measuring) lost_datagrams++;
                send(c->fd, c->expect, msglen, 0);
                sent_at[i] = t;
            }
            next_check = t + UDP_TIMEOUT / 4;
        }
    }
    return window_close(t, connected, conns, nconn);
}


/* --churn 1: each client, over and over: connect, send one message, read the whole
 * reply, close (the labs' first TCPServer.py client, and HTTP/1.0's shape).  A
 * message is then a connection: msgs_per_s is connections per second, and the
 * latency runs from connect() to the last byte of the reply. */
static double *churn_started;

static void churn_connect(int ep, struct conn *c, struct sockaddr *sa, socklen_t salen, double t) {
    c->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    if (sa->sa_family == AF_INET) setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (c->fd < 0 || (connect(c->fd, sa, salen) < 0 && errno != EINPROGRESS)) {
        if (c->fd >= 0) close(c->fd);
        c->state = DEAD;
        failed++;
        return;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    c->state = CONNECTING;
    c->in_off = 0;
    churn_started[c->id] = t;
}

static void churn_next(int ep, struct conn *c, struct sockaddr *sa, socklen_t salen, double t) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->sent++;
    make_msg(c->expect, c->id, c->sent);
    churn_connect(ep, c, sa, salen, t);
}

static int run_churn(struct sockaddr *sa, socklen_t salen, int ep, unsigned char *buf) {
    struct conn *conns = calloc((size_t)nconn, sizeof *conns);
    churn_started = calloc((size_t)nconn, sizeof(double));
    struct epoll_event events[512];
    double t = now();
    for (int i = 0; i < nconn; i++) {
        conns[i].id = i;
        conns[i].expect = malloc(msglen + 1);
        make_msg(conns[i].expect, i, 0);
        churn_connect(ep, &conns[i], sa, salen, t);
    }
    window_open(t);
    while (window_tick(&t)) {
        int n = epoll_wait(ep, events, 512, 50);
        t = now();
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (c->state == CONNECTING) {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err || send(c->fd, c->expect, msglen, MSG_NOSIGNAL) != (ssize_t)msglen) {
                    failed++;
                    churn_next(ep, c, sa, salen, t);
                    continue;
                }
                c->state = RUNNING;
                want(ep, c, EPOLLIN);
                continue;
            }
            ssize_t r = recv(c->fd, buf, 1 << 20, 0);
            if (r < 0 && errno == EAGAIN) continue;
            if (r <= 0) { lost++; churn_next(ep, c, sa, salen, t); continue; }
            if (c->in_off + (size_t)r > msglen || memcmp(buf, c->expect + c->in_off, (size_t)r)) {
                errors++;
                churn_next(ep, c, sa, salen, t);
                continue;
            }
            c->in_off += (size_t)r;
            if (c->in_off < msglen) continue;
            if (measuring) {
                messages++;
                bytes += msglen;
                hist[bucket((uint64_t)((t - churn_started[c->id]) * 1e6))]++;
            }
            c->done++;
            churn_next(ep, c, sa, salen, t);
        }
    }
    return window_close(t, nconn, conns, nconn);
}

int main(int argc, char **argv) {
    parse(argc, argv);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rlim_t need = (rlim_t)nconn + (rlim_t)nidle + 64;
    if (rl.rlim_max < need) { /* root may raise the hard limit, up to fs.nr_open */
        struct rlimit more = {.rlim_cur = need, .rlim_max = need};
        if (setrlimit(RLIMIT_NOFILE, &more) == 0) rl = more;
    }
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    for (size_t i = 0; i < sizeof pattern; i++) pattern[i] = 'A' + i % 26;
    msglen = (size_t)size + (framing == LENPREFIX ? 3 : 0) + (framing == LINE ? 1 : 0);
    outcap = msglen * (size_t)depth * 2;
    int total = nconn + nidle;
    struct conn *conns = calloc((size_t)total, sizeof *conns);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct sockaddr *sa = (struct sockaddr *)&sin;
    socklen_t salen = sizeof sin;
    if (unix_path) {
        if (strlen(unix_path) >= sizeof sun.sun_path) { fprintf(stderr, "loadgen: --unix path too long\n"); return 2; }
        strcpy(sun.sun_path, unix_path);
        sa = (struct sockaddr *)&sun;
        salen = sizeof sun;
    } else if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
        fprintf(stderr, "loadgen: bad host\n");
        return 2;
    } else if (nsources && ntohl(sin.sin_addr.s_addr) >> 24 != 127) {
        fprintf(stderr, "loadgen: --sources needs a server on 127.0.0.0/8\n");
        return 2;
    }
    int ep = epoll_create1(0);
    struct epoll_event events[512];
    unsigned char *buf = malloc(1 << 20);
    if (udp) return run_udp(sa, salen, ep, buf);
    if (churn) return run_churn(sa, salen, ep, buf);

#ifdef WITH_TLS
    if (tls) {
        tls_ctx = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);
        SSL_CTX_set_mode(tls_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    }
#endif
    /* Connect phase (and, with --tls, each connection's handshake). */
    int next = 0, pending = 0, connected = 0;
    double deadline = now() + 20.0;
    while ((next < total || pending) && now() < deadline) {
        while (next < total && pending < MAX_PENDING_CONNECTS) {
            struct conn *c = &conns[next];
            c->id = next++;
            if (start_connect(ep, c, sa, salen) < 0) { c->state = DEAD; failed++; continue; }
            pending++;
        }
        int n = epoll_wait(ep, events, 512, 100);
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (c->state == DEAD) continue;
#ifdef WITH_TLS
            if (c->state == RUNNING || c->state == IDLE) {
                /* Done already: what comes now is the server's session tickets
                 * (TLS 1.3), which SSL_read takes in and answers no data for. */
                unsigned char scratch[256];
                in_bytes(c, scratch, sizeof scratch);
                continue;
            }
            if (c->state == HANDSHAKING) {
                int r = SSL_do_handshake(c->ssl);
                if (r == 1) {
                    pending--;
                    connected++;
                    c->state = c->id < nconn ? RUNNING : IDLE;
                    want(ep, c, EPOLLIN);
                    continue;
                }
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_READ) want(ep, c, EPOLLIN);
                else if (e == SSL_ERROR_WANT_WRITE) want(ep, c, EPOLLOUT);
                else { pending--; kill_conn(ep, c, &failed); }
                continue;
            }
#endif
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err) { pending--; kill_conn(ep, c, &failed); continue; }
#ifdef WITH_TLS
            if (tls) { /* still pending until its handshake is done */
                c->ssl = SSL_new(tls_ctx);
                SSL_set_fd(c->ssl, c->fd);
                SSL_set_connect_state(c->ssl);
                c->state = HANDSHAKING;
                want(ep, c, EPOLLOUT);
                continue;
            }
#endif
            pending--;
            connected++;
            c->state = c->id < nconn ? RUNNING : IDLE;
            want(ep, c, EPOLLIN);
        }
    }
    for (int i = 0; i < total; i++)
        if (conns[i].state == CONNECTING || conns[i].state == HANDSHAKING)
            kill_conn(ep, &conns[i], &failed);

    /* Load phase. */
    double start = now(), t = start;
    for (int i = 0; i < nconn; i++) {
        struct conn *c = &conns[i];
        if (c->state != RUNNING) continue;
        c->out = malloc(outcap);
        c->expect = malloc(msglen + 1);
        c->queued_at = calloc((size_t)depth, sizeof(double));
        for (int d = 0; d < depth; d++) queue_msg(c, t);
        flush_out(ep, c);
    }
    window_open(start);
    while (window_tick(&t)) {
        int n = epoll_wait(ep, events, 512, 50);
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (c->state == DEAD) continue;
            if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_input(ep, c, buf, 1 << 20);
            if (c->state != DEAD && (events[i].events & EPOLLOUT)) flush_out(ep, c);
        }
    }
    return window_close(t, connected, conns, nconn);
}
