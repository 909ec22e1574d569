/* bench/peers/raw/fanout_floor.c - the kernel's floor for pubsub-10k-subs:
 * what it costs this machine to send one small message to each of many
 * loopback TCP connections in turn, with no broker at all.
 *
 *   fanout_floor send PORT CONNS MSGS BATCH    (run pinned to one core)
 *   fanout_floor recv PORT CONNS MSGS          (pinned to the other)
 *
 * `send` listens on 127.0.0.1:PORT, accepts CONNS connections (TCP_NODELAY),
 * then sends MSGS messages of 32 bytes (about the size of a 16-byte pub/sub
 * delivery in acto's, NATS's or Redis's framing) round-robin over them with
 * io_uring, BATCH sends per io_uring_enter, and prints
 *   send msgs_per_s N cpu_ns_per_msg N
 * `recv` opens the CONNS connections (source addresses 127.0.0.1..4, as
 * acto-bench-pubsub does), reads with epoll until every byte arrived, and
 * prints the same for its side.  Each message is its own TCP segment, as
 * each delivery is in the benchmark (every subscriber gets one message per
 * round); the sender's CPU per message is therefore the least any broker
 * on one core can spend per delivery here (bench/RESULTS.md "Pub/sub"). */
#include "common.h"

#include <liburing.h>
#include <sys/epoll.h>
#include <time.h>

#define MSG_BYTES 32

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
           (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

static struct sockaddr_in loopback(int port, int host_offset)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)host_offset);
    return a;
}

/* Reap whatever completed; any send that did not take all 32 bytes fails the
 * run (the floor is only meaningful if every byte went out). */
static long reap(struct io_uring *r)
{
    struct io_uring_cqe *c;
    unsigned head, n = 0;
    io_uring_for_each_cqe(r, head, c) {
        if (c->res != MSG_BYTES) {
            fprintf(stderr, "fanout_floor: send returned %d\n", c->res);
            exit(1);
        }
        n++;
    }
    io_uring_cq_advance(r, n);
    return n;
}

static int do_send(int port, int conns, long msgs, int batch)
{
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = loopback(port, 0);
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 4096))
        raw_die("fanout_floor", "listen");
    int *fd = malloc((size_t)conns * sizeof *fd);
    for (int i = 0; i < conns; i++) {
        if ((fd[i] = accept(l, NULL, NULL)) < 0)
            raw_die("fanout_floor", "accept");
        setsockopt(fd[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    struct io_uring r;
    struct io_uring_params p = { .flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN };
    if (io_uring_queue_init_params(4096, &r, &p) < 0) {
        memset(&p, 0, sizeof p);
        if (io_uring_queue_init_params(4096, &r, &p) < 0)
            raw_die("fanout_floor", "io_uring_queue_init");
    }
    static char msg[MSG_BYTES];
    memset(msg, 'x', sizeof msg);
    sleep(1);                         /* the receiver finishes its epoll setup */
    double t0 = now_s(), c0 = cpu_s();
    long inflight = 0;
    for (long m = 0; m < msgs; m++) {
        struct io_uring_sqe *s = io_uring_get_sqe(&r);
        io_uring_prep_send(s, fd[m % conns], msg, sizeof msg, MSG_NOSIGNAL);
        inflight++;
        if ((m + 1) % batch == 0) {
            io_uring_submit_and_get_events(&r);
            inflight -= reap(&r);
        }
    }
    while (inflight > 0) {
        io_uring_submit_and_wait(&r, 1);
        inflight -= reap(&r);
    }
    double dt = now_s() - t0, dc = cpu_s() - c0;
    printf("send msgs_per_s %.0f cpu_ns_per_msg %.0f\n", (double)msgs / dt, dc * 1e9 / (double)msgs);
    sleep(1);                         /* let the receiver read the last bytes */
    return 0;
}

static int do_recv(int port, int conns, long msgs)
{
    int ep = epoll_create1(0);
    struct sockaddr_in to = loopback(port, 0);
    for (int i = 0; i < conns; i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in from = loopback(0, i % 4);
        if (s < 0 || bind(s, (struct sockaddr *)&from, sizeof from) ||
            connect(s, (struct sockaddr *)&to, sizeof to))
            raw_die("fanout_floor", "connect");
        struct epoll_event e = { .events = EPOLLIN, .data.fd = s };
        epoll_ctl(ep, EPOLL_CTL_ADD, s, &e);
    }
    long want = msgs * MSG_BYTES, got = 0;
    static char buf[1 << 16];
    struct epoll_event ev[512];
    double t0 = 0, c0 = 0;
    while (got < want) {
        int n = epoll_wait(ep, ev, 512, 10000);
        if (n <= 0) {
            fprintf(stderr, "fanout_floor: no data for 10 s (%ld of %ld bytes)\n", got, want);
            return 1;
        }
        if (t0 == 0) {
            t0 = now_s();
            c0 = cpu_s();
        }
        for (int i = 0; i < n; i++) {
            ssize_t k = read(ev[i].data.fd, buf, sizeof buf);
            if (k > 0)
                got += k;
        }
    }
    double dt = now_s() - t0, dc = cpu_s() - c0;
    printf("recv msgs_per_s %.0f cpu_ns_per_msg %.0f\n", (double)msgs / dt, dc * 1e9 / (double)msgs);
    return 0;
}

int main(int argc, char **argv)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    bool send = argc == 6 && strcmp(argv[1], "send") == 0;
    bool recv = argc == 5 && strcmp(argv[1], "recv") == 0;
    int port = argc > 2 ? atoi(argv[2]) : 0, conns = argc > 3 ? atoi(argv[3]) : 0;
    long msgs = argc > 4 ? atol(argv[4]) : 0;
    int batch = send ? atoi(argv[5]) : 1;
    if ((!send && !recv) || port <= 0 || conns <= 0 || msgs <= 0 || batch <= 0 || batch > 2048) {
        fprintf(stderr, "usage: fanout_floor send PORT CONNS MSGS BATCH\n"
                        "       fanout_floor recv PORT CONNS MSGS\n");
        return 2;
    }
    return send ? do_send(port, conns, msgs, batch) : do_recv(port, conns, msgs);
}
