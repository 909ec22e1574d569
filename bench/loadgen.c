/* bench/loadgen.c - a TCP echo load generator (plain epoll, one thread).
 *
 *   loadgen --addr HOST:PORT [--name WORKLOAD] [--conns N] [--inflight P]
 *           [--size S] [--duration T | --requests R] [--warmup W]
 *           [--short] [--idle M] [--srcs K] [--server-pid PID]
 *
 * Ping-pong (default): N connections, each keeps P requests of S bytes in
 * flight; a request is done when its S bytes have come back.  Prints
 *   WORKLOAD req_per_s X / p50_us / p99_us [/ server_cpu_us_per_req]
 * --short: N clients each loop "connect, send S bytes, read S back, close";
 * prints conn_per_s and p50_us / p99_us of one whole connection.
 * --idle M: first open M connections (each echoes S bytes once, so the
 * server has accepted and served it), let them sit for 1 s, report
 * conns and bytes_per_conn (growth of the server's RSS / M; needs
 * --server-pid), then run ping-pong on the first N of them.
 *
 * Every echoed byte is checked: each connection's byte stream is a fixed
 * function of (connection, offset), so a lost, duplicated or reordered
 * byte fails the run (exit 1, no figures).  Connections use source
 * addresses 127.0.0.1 .. 127.0.0.K (--srcs, default 1) so that many
 * connections to one address do not run out of ephemeral ports.
 *
 * Why plain epoll and not acto: the generator must cost the same whatever
 * server it drives (acto, the raw peers), and one thread pinned to a core
 * is the least it can cost.  Server CPU comes from /proc/PID/stat
 * (utime + stime over the measured interval, all threads).
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
#include <time.h>
#include <unistd.h>

#define HIST_US 1000000         /* latency histogram: 1 µs buckets up to 1 s */
#define MAX_CONNECTING 256      /* connects in flight while opening connections */

typedef struct conn {
    int fd;
    unsigned id;
    int connected, want_out;
    uint64_t tx_off, rx_off;    /* stream offsets: bytes queued / bytes checked */
    uint64_t sent_reqs, done_reqs;
    size_t out_len, out_pos;    /* unsent bytes in out[] */
    uint8_t *out;
    uint64_t *t_sent;           /* send time of request k at [k % inflight] */
    uint64_t t_open;            /* --short: when this connection started */
} conn_t;

static struct {
    const char *name;
    struct sockaddr_in dst;
    unsigned conns, inflight, srcs, idle;
    size_t size;
    double duration, warmup;
    uint64_t requests;
    int short_mode;
    long server_pid;
} opt = { .name = "echo", .conns = 50, .inflight = 1, .srcs = 1, .size = 64,
          .duration = 10, .warmup = 1 };

static int ep;
static conn_t *conns;
static unsigned nconns;
static uint32_t *hist;
static uint64_t hist_over, measured, opened;
static int measuring;
static int stopping;   /* no new requests, no new connections */
static int idle_phase; /* --idle: opening the idle connections */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "loadgen: FAILED: %s: %s\n", what, errno ? strerror(errno) : "");
    exit(1);
}

/* The byte at offset off of connection id's stream (both directions). */
static inline uint8_t pattern(unsigned id, uint64_t off)
{
    return (uint8_t)(off + (off >> 8) * 7 + (off >> 16) * 13 + id * 29u);
}

static void record(uint64_t ns)
{
    if (!measuring)
        return;
    uint64_t us = ns / 1000;
    if (us < HIST_US)
        hist[us]++;
    else
        hist_over++;
    measured++;
}

static double percentile(double q)
{
    uint64_t total = measured, need = (uint64_t)((double)total * q + 0.5), seen = 0;
    if (need == 0)
        need = 1;
    for (unsigned i = 0; i < HIST_US; i++)
        if ((seen += hist[i]) >= need)
            return i;
    return HIST_US;   /* in the overflow bucket: report the cap */
}

/* utime + stime of a process in µs (all threads), from /proc/PID/stat. */
static double proc_cpu_us(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        die("read server /proc/PID/stat");
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');   /* the command name may hold spaces */
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        die("parse server /proc/PID/stat");
    return (double)(ut + st) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

static double proc_rss_bytes(long pid)
{
    char path[64];
    unsigned long size, res;
    snprintf(path, sizeof path, "/proc/%ld/statm", pid);
    FILE *f = fopen(path, "r");
    if (!f || fscanf(f, "%lu %lu", &size, &res) != 2)
        die("read server /proc/PID/statm");
    fclose(f);
    return (double)res * (double)sysconf(_SC_PAGESIZE);
}

static void ep_set(conn_t *c, int op, uint32_t ev)
{
    struct epoll_event e = { .events = ev, .data.ptr = c };
    if (epoll_ctl(ep, op, c->fd, &e) != 0)
        die("epoll_ctl");
}

/* Start a non-blocking connect from 127.0.0.(1 + id % srcs). */
static void conn_open(conn_t *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        die("socket");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (opt.srcs > 1) {
        struct sockaddr_in src = { .sin_family = AF_INET };
        src.sin_addr.s_addr = htonl(0x7f000001u + c->id % opt.srcs);
        /* Pick the port at connect time, per 4-tuple, not per source address. */
        setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(c->fd, (struct sockaddr *)&src, sizeof src) != 0)
            die("bind source address");
    }
    c->connected = 0;
    c->out_len = c->out_pos = 0;
    c->tx_off = c->rx_off = c->sent_reqs = c->done_reqs = 0;
    c->t_open = now_ns();
    if (connect(c->fd, (struct sockaddr *)&opt.dst, sizeof opt.dst) != 0 && errno != EINPROGRESS)
        die("connect");
    c->want_out = 1;
    ep_set(c, EPOLL_CTL_ADD, EPOLLIN | EPOLLOUT);
    opened++;
}

static void conn_close(conn_t *c)
{
    close(c->fd);   /* also removes it from the epoll set */
    c->fd = -1;
}

static void flush_out(conn_t *c)
{
    while (c->out_pos < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_pos, c->out_len - c->out_pos, MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0)
            die("send");
        c->out_pos += (size_t)n;
    }
    if (c->out_pos == c->out_len)
        c->out_pos = c->out_len = 0;
    int want = c->out_len > 0;
    if (want != c->want_out) {
        c->want_out = want;
        ep_set(c, EPOLL_CTL_MOD, EPOLLIN | (want ? EPOLLOUT : 0));
    }
}

/* Queue one request (S pattern bytes) and note when it left. */
static void queue_request(conn_t *c, uint64_t t)
{
    if (c->out_pos > 0) {   /* compact so out[] never needs more than P*S */
        memmove(c->out, c->out + c->out_pos, c->out_len - c->out_pos);
        c->out_len -= c->out_pos;
        c->out_pos = 0;
    }
    for (size_t i = 0; i < opt.size; i++)
        c->out[c->out_len++] = pattern(c->id, c->tx_off++);
    c->t_sent[c->sent_reqs++ % opt.inflight] = t;
}

static int active(const conn_t *c)
{
    return c->id < opt.conns;
}

static void on_connected(conn_t *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        errno = err;
        die("connect (asynchronous)");
    }
    c->connected = 1;
    uint64_t t = now_ns();
    unsigned n = idle_phase || opt.short_mode ? 1 : opt.inflight;
    for (unsigned i = 0; i < n; i++)
        queue_request(c, t);
    flush_out(c);
}


/* Check received bytes against the pattern; complete requests. */
static void on_bytes(conn_t *c, const uint8_t *p, size_t n, uint64_t t)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != pattern(c->id, c->rx_off + i)) {
            fprintf(stderr, "loadgen: FAILED: conn %u: wrong byte at offset %llu\n", c->id,
                    (unsigned long long)(c->rx_off + i));
            exit(1);
        }
    c->rx_off += n;
    if (c->rx_off > c->tx_off) {
        fprintf(stderr, "loadgen: FAILED: conn %u: more bytes back than sent\n", c->id);
        exit(1);
    }
    while (c->rx_off >= (c->done_reqs + 1) * opt.size) {
        uint64_t k = c->done_reqs++;
        if (opt.short_mode) {
            record(t - c->t_open);
            conn_close(c);
            if (!stopping)
                conn_open(c);
            return;
        }
        record(t - c->t_sent[k % opt.inflight]);
        /* While idle connections are opened each echoes once, then sits. */
        if (!stopping && !(opt.idle && (idle_phase || !active(c))))
            queue_request(c, t);
    }
    flush_out(c);
}

static void on_event(conn_t *c, uint32_t ev)
{
    static uint8_t buf[1 << 16];
    if (c->fd < 0)
        return;
    if (!c->connected) {
        if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        on_connected(c);
        return;
    }
    if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        for (;;) {
            ssize_t n = recv(c->fd, buf, sizeof buf, 0);
            if (n > 0) {
                on_bytes(c, buf, (size_t)n, now_ns());
                if (c->fd < 0 || (size_t)n < sizeof buf)
                    return;
                continue;
            }
            if (n < 0 && errno == EAGAIN)
                break;
            if (n == 0)
                errno = 0;
            fprintf(stderr, "loadgen: conn %u: ", c->id);
            die(n == 0 ? "the server closed the connection" : "recv");
        }
    }
    if (ev & EPOLLOUT)
        flush_out(c);
}

static void poll_once(int timeout_ms)
{
    struct epoll_event evs[512];
    int n = epoll_wait(ep, evs, 512, timeout_ms);
    if (n < 0 && errno != EINTR)
        die("epoll_wait");
    for (int i = 0; i < n; i++)
        on_event(evs[i].data.ptr, evs[i].events);
}

/* Requests still owed to the connections: all done means quiet. */
static uint64_t outstanding(void)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < nconns; i++)
        if (conns[i].fd >= 0)
            n += conns[i].sent_reqs - conns[i].done_reqs + !conns[i].connected;
    return n;
}

static void alloc_conns(unsigned n)
{
    conns = calloc(n, sizeof *conns);
    if (!conns)
        die("calloc");
    for (unsigned i = 0; i < n; i++) {
        conns[i].id = i;
        conns[i].fd = -1;
        conns[i].out = malloc(opt.size * opt.inflight);
        conns[i].t_sent = calloc(opt.inflight, sizeof(uint64_t));
        if (!conns[i].out || !conns[i].t_sent)
            die("malloc");
    }
    nconns = n;
}

/* Open connections [0, n) with at most MAX_CONNECTING handshakes in flight
 * (the listener's backlog is small) and wait until all are up. */
static void open_all(unsigned n)
{
    unsigned next = 0;
    for (;;) {
        unsigned pending = 0;
        for (unsigned i = 0; i < next; i++)
            pending += conns[i].fd >= 0 && !conns[i].connected;
        if (next == n && (pending == 0 || opt.short_mode))
            return;   /* --short: connections come and go from now on */
        while (next < n && pending < MAX_CONNECTING) {
            conn_open(&conns[next++]);
            pending++;
        }
        poll_once(100);
    }
}

static void raise_nofile(unsigned need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)need + 16) {
        fprintf(stderr, "loadgen: FAILED: %u connections need more descriptors than "
                        "RLIMIT_NOFILE allows (%llu)\n", need, (unsigned long long)rl.rlim_cur);
        exit(1);
    }
}

static int usage(void)
{
    fprintf(stderr, "usage: loadgen --addr HOST:PORT [--name W] [--conns N] [--inflight P]"
                    " [--size S] [--duration T | --requests R] [--warmup W] [--short]"
                    " [--idle M] [--srcs K] [--server-pid PID]\n");
    return 2;
}

static int parse_addr(const char *s)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof host)
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
    long port = strtol(colon + 1, NULL, 10);
    opt.dst.sin_family = AF_INET;
    opt.dst.sin_port = htons((uint16_t)port);
    return port > 0 && port < 65536 && inet_pton(AF_INET, host, &opt.dst.sin_addr) == 1 ? 0 : -1;
}

static int parse_args(int argc, char **argv)
{
    int have_addr = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--short") == 0) {
            opt.short_mode = 1;
            continue;
        }
        if (!v)
            return -1;
        i++;
        if (strcmp(a, "--addr") == 0) {
            if (parse_addr(v) != 0)
                return -1;
            have_addr = 1;
        } else if (strcmp(a, "--name") == 0) opt.name = v;
        else if (strcmp(a, "--conns") == 0) opt.conns = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--inflight") == 0) opt.inflight = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--size") == 0) opt.size = strtoul(v, NULL, 10);
        else if (strcmp(a, "--duration") == 0) opt.duration = atof(v);
        else if (strcmp(a, "--requests") == 0) opt.requests = strtoull(v, NULL, 10);
        else if (strcmp(a, "--warmup") == 0) opt.warmup = atof(v);
        else if (strcmp(a, "--idle") == 0) opt.idle = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--srcs") == 0) opt.srcs = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--server-pid") == 0) opt.server_pid = strtol(v, NULL, 10);
        else return -1;
    }
    if (!have_addr || opt.conns == 0 || opt.inflight == 0 || opt.size == 0 ||
        opt.srcs == 0 || opt.srcs > 254 || opt.duration <= 0 || opt.warmup < 0 ||
        (opt.idle && (opt.idle < opt.conns || opt.short_mode)) ||
        (opt.short_mode && opt.inflight != 1))
        return -1;
    return 0;
}

static void report(const char *metric, double v, int decimals)
{
    printf("%s %s %.*f\n", opt.name, metric, decimals, v);
}

int main(int argc, char **argv)
{
    if (parse_args(argc, argv) != 0)
        return usage();
    unsigned total = opt.idle ? opt.idle : opt.conns;
    raise_nofile(total);
    hist = calloc(HIST_US, sizeof *hist);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (!hist || ep < 0)
        die("setup");
    alloc_conns(total);

    if (opt.idle) {
        if (!opt.server_pid)
            return usage();
        double rss0 = proc_rss_bytes(opt.server_pid);
        idle_phase = 1;
        open_all(opt.idle);
        while (outstanding() > 0)   /* each has been served once */
            poll_once(100);
        idle_phase = 0;
        struct timespec settle = { 1, 0 };
        nanosleep(&settle, NULL);
        double rss1 = proc_rss_bytes(opt.server_pid);
        report("conns", opt.idle, 0);
        report("bytes_per_conn", (rss1 - rss0) / opt.idle, 0);
        /* Wake the active ones: each gets its P requests. */
        uint64_t t = now_ns();
        for (unsigned i = 0; i < opt.conns; i++) {
            for (unsigned k = 0; k < opt.inflight; k++)
                queue_request(&conns[i], t);
            flush_out(&conns[i]);
        }
    } else {
        open_all(opt.conns);
    }

    /* Warm up, then measure for the duration (or the request count). */
    uint64_t t0 = now_ns(), warm_end = t0 + (uint64_t)(opt.warmup * 1e9), t_start = 0;
    uint64_t deadline = 0;
    double cpu0 = 0;
    measuring = 0;
    for (;;) {
        poll_once(10);
        uint64_t t = now_ns();
        if (!measuring && t >= warm_end) {
            measuring = 1;
            t_start = t;
            deadline = t + (uint64_t)(opt.duration * 1e9);
            if (opt.server_pid)
                cpu0 = proc_cpu_us(opt.server_pid);
        }
        if (measuring && (opt.requests ? measured >= opt.requests : t >= deadline))
            break;
    }
    uint64_t elapsed = now_ns() - t_start, count = measured;
    double cpu = opt.server_pid ? proc_cpu_us(opt.server_pid) - cpu0 : 0;
    measuring = 0;
    stopping = 1;
    /* Drain: every request sent must come back intact before we report. */
    uint64_t drain_end = now_ns() + 10000000000ull;
    while (outstanding() > 0 && now_ns() < drain_end)
        poll_once(10);
    if (outstanding() > 0 && !opt.short_mode) {
        fprintf(stderr, "loadgen: FAILED: %llu requests never came back\n",
                (unsigned long long)outstanding());
        return 1;
    }
    if (count == 0) {
        fprintf(stderr, "loadgen: FAILED: no request completed\n");
        return 1;
    }
    double secs = (double)elapsed / 1e9;
    report(opt.short_mode ? "conn_per_s" : "req_per_s", (double)count / secs, 0);
    report("p50_us", percentile(0.50), 0);
    report("p99_us", percentile(0.99), 0);
    if (opt.server_pid)
        report(opt.short_mode ? "server_cpu_us_per_conn" : "server_cpu_us_per_req",
               cpu / (double)count, 2);
    fprintf(stderr, "loadgen: %s: %llu %s in %.2f s, %llu over %d ms\n", opt.name,
            (unsigned long long)count, opt.short_mode ? "connections" : "requests", secs,
            (unsigned long long)hist_over, HIST_US / 1000);
    for (unsigned i = 0; i < nconns; i++)
        if (conns[i].fd >= 0)
            conn_close(&conns[i]);
    return 0;
}
