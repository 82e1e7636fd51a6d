/*
 * echo_epoll: the "physical limit" row of the benchmark.
 *
 * The least a server can do per message: one epoll_wait, one recv, one send.
 * Level-triggered epoll, reads of up to 256 KiB (asyncio's size: a 100 KiB
 * message is one recv() when it has all arrived), output queued only when
 * send() takes less than asked.  It serves echo; since a lenprefix reply is
 * byte for byte its request, it also stands in for lenprefix.
 *
 * Usage: echo_epoll --port P [--host 127.0.0.1] [--udp 1]
 *
 * With --udp 1 it is the UDP reference instead: a blocking recvfrom/sendto loop,
 * the least a UDP server can do per datagram (an event loop has nothing to add
 * to one socket that is always ready).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

struct client { int fd; size_t len, off; char *pending; };

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static void drop(int ep, struct client *c) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->pending);
    free(c);
}

static void set_events(int ep, struct client *c, unsigned events) {
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static int send_all_or_queue(int ep, struct client *c, const char *data, size_t len) {
    ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN) return -1;
    if (n < 0) n = 0;
    if ((size_t)n < len) {
        c->pending = realloc(c->pending, len - (size_t)n);
        memcpy(c->pending, data + n, len - (size_t)n);
        c->len = len - (size_t)n;
        c->off = 0;
        set_events(ep, c, EPOLLOUT); /* stop reading until the backlog drains */
    }
    return 0;
}

/* Bind `fd` to host:port (and listen, for TCP), then print the startup line
 * the runner reads its port from.  -1 if the address cannot be had. */
static int bind_and_announce(int fd, const char *host, int port, int tcp) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &sa.sin_addr);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || (tcp && listen(fd, 4096) < 0)) {
        perror("echo_epoll: bind");
        return -1;
    }
    socklen_t salen = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &salen);
    printf("echo_epoll: serving echo on %s:%d (%s), model %s\n", host, ntohs(sa.sin_port),
           tcp ? "tcp" : "udp", tcp ? "c-epoll" : "c-udp");
    fflush(stdout);
    return 0;
}

static int serve_udp(const char *host, int port) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (bind_and_announce(fd, host, port, 0) < 0) return 2;
    static char buf[65536];
    for (;;) { /* SIGTERM's default action ends it */
        struct sockaddr_in peer;
        socklen_t peerlen = sizeof peer;
        ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&peer, &peerlen);
        if (n >= 0) sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&peer, peerlen);
    }
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1";
    int port = 0, udp = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--host")) host = argv[i + 1];
        else if (!strcmp(argv[i], "--udp")) udp = atoi(argv[i + 1]);
    }
    if (udp) return serve_udp(host, port);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind_and_announce(lfd, host, port, 1) < 0) return 2;
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL}, events[512];
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    static char buf[262144];
    while (!stop) {
        int n = epoll_wait(ep, events, 512, -1);
        for (int i = 0; i < n; i++) {
            struct client *c = events[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    c = calloc(1, sizeof *c);
                    c->fd = fd;
                    struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
                }
                continue;
            }
            if (c->len) { /* draining a partial write */
                ssize_t w = send(c->fd, c->pending + c->off, c->len - c->off, MSG_NOSIGNAL);
                if (w < 0 && errno != EAGAIN) { drop(ep, c); continue; }
                if (w > 0) c->off += (size_t)w;
                if (c->off == c->len) { c->len = c->off = 0; set_events(ep, c, EPOLLIN); }
                continue;
            }
            ssize_t r = recv(c->fd, buf, sizeof buf, 0);
            if (r == 0 || (r < 0 && errno != EAGAIN)) { drop(ep, c); continue; }
            if (r > 0 && send_all_or_queue(ep, c, buf, (size_t)r) < 0) drop(ep, c);
        }
    }
    return 0;
}
