/* pingpong: what the kernel charges for read()/write() against recv()/send().
 *
 * One process, one loopback TCP connection, 100-byte messages bounced
 * between its two ends: write, read, write back, read back.  No event loop,
 * no second process, so the difference between the two runs is the system
 * calls' own path (read()/write() go through the file layer first).
 *
 * Usage: pingpong read|recv [ROUNDS]
 * Prints: "<way> <ns> ns per receive and send".  Run by bench/micro_io.py.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 2 || (strcmp(argv[1], "read") && strcmp(argv[1], "recv"))) {
        fprintf(stderr, "usage: pingpong read|recv [ROUNDS]\n");
        return 2;
    }
    int socket_calls = !strcmp(argv[1], "recv");
    long rounds = argc > 2 ? atol(argv[2]) : 300000;
    if (rounds < 1 || rounds > 100000000) {
        fprintf(stderr, "pingpong: ROUNDS must be 1 to 100000000\n");
        return 2;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int one = 1, lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 1) < 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &len) < 0) {
        perror("pingpong: listen");
        return 1;
    }
    int a = socket(AF_INET, SOCK_STREAM, 0);
    if (a < 0 || connect(a, (struct sockaddr *)&sa, sizeof sa) < 0) {
        perror("pingpong: connect");
        return 1;
    }
    int b = accept(lfd, NULL, NULL);
    if (b < 0) {
        perror("pingpong: accept");
        return 1;
    }
    setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char buf[512];
    memset(buf, 'a', sizeof buf);
    double start = now();
    for (long i = 0; i < rounds; i++) {
        ssize_t n;
        if (socket_calls) {
            n = send(a, buf, 100, 0);
            n = n == 100 ? recv(b, buf, sizeof buf, 0) : -1;
            n = n == 100 ? send(b, buf, 100, 0) : -1;
            n = n == 100 ? recv(a, buf, sizeof buf, 0) : -1;
        } else {
            n = write(a, buf, 100);
            n = n == 100 ? read(b, buf, sizeof buf) : -1;
            n = n == 100 ? write(b, buf, 100) : -1;
            n = n == 100 ? read(a, buf, sizeof buf) : -1;
        }
        if (n != 100) { /* loopback hands over 100 bytes whole; anything else is a fault */
            fprintf(stderr, "pingpong: short or failed call in round %ld\n", i);
            return 1;
        }
    }
    double elapsed = now() - start;
    printf("%s %.1f ns per receive and send\n", socket_calls ? "recv/send" : "read/write",
           elapsed / rounds / 2 * 1e9);
    return 0;
}
