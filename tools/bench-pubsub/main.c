/* tools/bench-pubsub/main.c - acto-bench-pubsub: a pub/sub load generator
 * for acto-broker, NATS and Redis (one tool, so every broker is driven at
 * the same cost).
 *
 * One thread, epoll, non-blocking sockets.  Publishers write many
 * publishes per send(); subscribers read big chunks and cut them into
 * deliveries in place (wire.c); nothing is allocated per message.  Every
 * payload carries (publisher, sequence number, send time): each
 * subscriber counts what it gets from each publisher, so `lost`
 * (expected - received), reordered or duplicated deliveries and corrupt
 * payloads are exact, and latency is send time -> receive time on the
 * same clock.
 *
 * Flow control: a publisher stops while more than --window messages are
 * published but not yet received by the slowest subscriber (by default
 * what fits in 4 MiB of publishes).  Without it one thread that writes
 * faster than it reads would make every broker queue without bound and
 * then disconnect or drop slow consumers; with it the figure is the rate
 * the broker sustains.  The window is the same for every protocol.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_pubsub.h"
#include "net/addr.h"

#define HIST_US 1000000u            /* latency histogram: 1 µs buckets up to 1 s */
#define MAX_CONNECTING 256u         /* connections opened but not yet ready */
#define PUB_OUT_CAP (256u * 1024u)  /* bytes a publisher queues per send() */
#define RBUF_BASE (256u * 1024u)    /* bytes read per recv() */
#define WINDOW_BYTES (4u << 20)     /* default --window, in bytes of publishes */
#define SETUP_TIMEOUT_NS 60000000000ull
#define SETTLE_NS 1000000000ull     /* before reading the broker's RSS */
#define ERRORS_SHOWN 5u
#define MAX_SIZE (64u << 20)

static struct {
    int proto;
    const char *server;
    unsigned pubs, subs, subjects, srcs;
    size_t size;
    uint64_t count, window;
    double rate, duration, timeout;
    long server_pid;
    const char *subject;
} opt = { .proto = WIRE_ACTO, .pubs = 1, .subs = 1, .subjects = 1, .srcs = 1, .size = 16,
          .count = 1000000, .timeout = 5, .subject = "bench" };

typedef struct tmpl {
    uint8_t *bytes;
    size_t len, off;
} tmpl_t;

static int ep = -1;
static acto_addr_t dst;
static conn_t *conns;               /* subscribers [0, subs), then publishers */
static unsigned nconns, n_ready;
static tmpl_t *tmpls;               /* one publish per subject */
static size_t tmpl_max;
static uint8_t *payload_ref;        /* what every payload holds after its stamp */
static uint8_t *rbuf;
static size_t rbuf_cap, carry_max;
static uint32_t *last_seq;          /* [sub * pubs + pub]: highest seq + 1 seen */
static uint32_t *hist;
static uint64_t hist_n, hist_over, lat_max_ns;
static struct {
    uint64_t published, received, reordered, corrupt, disconnects, server_errors;
} st;
static uint64_t t_start, t_last_delivery, t_flushed;
static int running, targets_final, window_off;

/* ---- small helpers ------------------------------------------------------------------- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static _Noreturn void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("acto-bench-pubsub: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void *xalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p)
        die("out of memory (%zu bytes)", n);
    return p;
}

static const char *role_name(const conn_t *c)
{
    return c->role == ROLE_SUB ? "subscriber" : "publisher";
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* ---- the broker process: CPU and memory from /proc ------------------------------------- */

static uint64_t proc_cpu_ns(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        die("cannot read %s: %s", path, strerror(errno));
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');   /* the command name may hold spaces */
    unsigned long ut = 0, stime = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
                     &stime) != 2)
        die("cannot parse %s", path);
    return (uint64_t)((double)(ut + stime) * 1e9 / (double)sysconf(_SC_CLK_TCK));
}

static uint64_t proc_rss_bytes(long pid)
{
    char path[64];
    unsigned long size, res;
    snprintf(path, sizeof path, "/proc/%ld/statm", pid);
    FILE *f = fopen(path, "r");
    if (!f || fscanf(f, "%lu %lu", &size, &res) != 2)
        die("cannot read %s", path);
    fclose(f);
    return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* ---- connections ----------------------------------------------------------------------- */

static void ep_set(conn_t *c, int op, uint32_t ev)
{
    struct epoll_event e = { .events = ev, .data.ptr = c };
    if (epoll_ctl(ep, op, c->fd, &e) != 0)
        die("epoll_ctl: %s", strerror(errno));
}

static void set_want_out(conn_t *c, int want)
{
    if (want != c->want_out) {
        c->want_out = (uint8_t)want;
        ep_set(c, EPOLL_CTL_MOD, EPOLLIN | (want ? EPOLLOUT : 0));
    }
}

/* The server closed c or c failed.  A subscriber lost during the run is
 * counted (its missing messages show up in `lost`); anything else ends the
 * run, since no figure would mean anything. */
static void conn_lost(conn_t *c, const char *why)
{
    if (c->closed)
        return;
    close(c->fd);
    c->closed = 1;
    if (c->role != ROLE_SUB || !running)
        die("%s %u: %s", role_name(c), c->idx, why);
    if (st.disconnects++ < ERRORS_SHOWN)
        fprintf(stderr, "acto-bench-pubsub: subscriber %u: %s\n", c->idx, why);
    if (opt.subjects > 1)
        window_off = 1;     /* its share would hold the window shut for good */
}

void conn_queue(conn_t *c, const void *p, size_t n)
{
    if (n == 0)
        return;
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 256;
        while (cap < c->out_len + n)
            cap *= 2;
        uint8_t *o = realloc(c->out, cap);
        if (!o)
            die("out of memory");
        c->out = o;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
}

static void flush_out(conn_t *c)
{
    if (!c->connected || c->closed)
        return;
    while (c->out_pos < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_pos, c->out_len - c->out_pos, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_pos += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        conn_lost(c, n < 0 ? strerror(errno) : "send failed");
        return;
    }
    if (c->out_pos == c->out_len)
        c->out_pos = c->out_len = 0;
    set_want_out(c, c->out_len > 0);
}

static const char *conn_subject(const conn_t *c, char *buf, size_t len)
{
    if (opt.subjects == 1)
        return opt.subject;
    snprintf(buf, len, "%s.%u", opt.subject, c->idx);
    return buf;
}

/* Start a non-blocking connect (from 127.0.0.(1 + n % srcs) with --srcs). */
static void conn_open(conn_t *c, unsigned n)
{
    c->fd = socket(dst.u.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (opt.srcs > 1) {
        struct sockaddr_in src = { .sin_family = AF_INET };
        src.sin_addr.s_addr = htonl(0x7f000001u + n % opt.srcs);
        /* pick the port per 4-tuple at connect time, not per source address */
        setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(c->fd, (struct sockaddr *)&src, sizeof src) != 0)
            die("bind to a source address: %s", strerror(errno));
    }
    if (connect(c->fd, &dst.u.sa, dst.len) != 0 && errno != EINPROGRESS)
        die("connect to %s: %s", opt.server, strerror(errno));
    c->want_out = 1;
    ep_set(c, EPOLL_CTL_ADD, EPOLLIN | EPOLLOUT);
}

static void on_connected(conn_t *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
        die("connect to %s: %s", opt.server, strerror(err ? err : errno));
    c->connected = 1;
    char subj[300];
    if (wire_greet(opt.proto, c, conn_subject(c, subj, sizeof subj)) != 0)
        die("cannot greet the server");
    flush_out(c);
}

/* Keep the unparsed end of rbuf[0, total) as c's carry. */
static void keep_carry(conn_t *c, size_t used, size_t total)
{
    size_t rest = total - used;
    if (rest > carry_max) {
        conn_lost(c, "a frame from the server is larger than any delivery can be");
        return;
    }
    if (rest > c->carry_cap) {
        free(c->carry);
        c->carry = xalloc(rest);
        c->carry_cap = rest;
    }
    if (rest)
        memcpy(c->carry, rbuf + used, rest);
    c->carry_len = rest;
}

/* Read what c has (bounded, so one busy connection cannot starve others),
 * parsing each chunk behind the carried start of an unfinished frame. */
static void conn_read(conn_t *c)
{
    for (int round = 0; round < 8 && !c->closed; round++) {
        size_t have = c->carry_len;
        if (have)
            memcpy(rbuf, c->carry, have);
        ssize_t n = recv(c->fd, rbuf + have, rbuf_cap - have, 0);
        if (n > 0) {
            size_t total = have + (size_t)n;
            ssize_t used = wire_parse(opt.proto, c, rbuf, total, now_ns());
            if (used < 0) {
                conn_lost(c, "protocol error");
                return;
            }
            keep_carry(c, (size_t)used, total);
            flush_out(c);   /* answers the parser queued (PONG) */
            if ((size_t)n < rbuf_cap - have)
                return;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        conn_lost(c, n == 0 ? "the server closed the connection" : strerror(errno));
    }
}

static void on_event(conn_t *c, uint32_t ev)
{
    if (c->closed)
        return;
    if (!c->connected) {
        if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            on_connected(c);
        return;
    }
    if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
        conn_read(c);
    if (!c->closed && (ev & EPOLLOUT))
        flush_out(c);
}

static void poll_once(uint64_t timeout_ns)
{
    struct epoll_event evs[256];
    struct timespec ts = { (time_t)(timeout_ns / 1000000000u), (long)(timeout_ns % 1000000000u) };
    int n = epoll_pwait2(ep, evs, 256, &ts, NULL);
    if (n < 0 && errno != EINTR)
        die("epoll_pwait2: %s", strerror(errno));
    for (int i = 0; i < n; i++)
        on_event(evs[i].data.ptr, evs[i].events);
}

/* ---- what the parsers report (bench_pubsub.h) ------------------------------------------------ */

static void record_latency(uint64_t ns)
{
    uint64_t us = ns / 1000;
    if (us < HIST_US)
        hist[us]++;
    else
        hist_over++;
    hist_n++;
    if (ns > lat_max_ns)
        lat_max_ns = ns;
}

void on_delivery(conn_t *c, const uint8_t *payload, size_t len, uint64_t now)
{
    stamp_t s;
    if (c->role != ROLE_SUB || len != opt.size) {
        st.corrupt++;
        return;
    }
    memcpy(&s, payload, sizeof s);
    if (s.pub >= opt.pubs || s.seq == UINT32_MAX ||
        memcmp(payload + STAMP_SIZE, payload_ref + STAMP_SIZE, len - STAMP_SIZE) != 0) {
        st.corrupt++;
        return;
    }
    uint32_t *last = &last_seq[(size_t)c->idx * opt.pubs + s.pub];
    if (s.seq + 1 <= *last)
        st.reordered++;     /* a duplicate, or older than one already seen */
    else
        *last = s.seq + 1;
    c->received++;
    st.received++;
    t_last_delivery = now;
    record_latency(now > s.t_ns ? now - s.t_ns : 0);
}

void on_ack(conn_t *c)
{
    c->acks++;
    if (!c->ready) {
        c->ready = 1;
        n_ready++;
    }
    if (c->final_ack && c->acks == c->final_ack)
        t_flushed = now_ns();
}

static uint64_t server_max_payload;  /* 0: not announced */

void on_max_payload(uint64_t max)
{
    if (!server_max_payload || max < server_max_payload)
        server_max_payload = max;
}

void on_server_error(conn_t *c, const char *text, size_t len)
{
    if (c->role == ROLE_PUB || !running)
        die("%s %u: the server said: %.*s", role_name(c), c->idx, (int)len, text);
    if (st.server_errors++ < ERRORS_SHOWN)
        fprintf(stderr, "acto-bench-pubsub: subscriber %u: the server said: %.*s\n", c->idx,
                (int)len, text);
}

/* ---- publishing ------------------------------------------------------------------------------ */

/* Messages the window lets the publishers add now. */
static uint64_t window_room(void)
{
    if (window_off || opt.subs == 0)
        return UINT64_MAX;
    uint64_t floor = UINT64_MAX;
    if (opt.subjects > 1) {
        floor = st.received;        /* each message goes to one subscriber */
    } else {
        for (unsigned i = 0; i < opt.subs; i++)
            if (!conns[i].closed)
                floor = min_u64(floor, conns[i].received);
        if (floor == UINT64_MAX)
            return UINT64_MAX;      /* no subscriber left */
    }
    uint64_t inflight = st.published > floor ? st.published - floor : 0;
    return inflight < opt.window ? opt.window - inflight : 0;
}

/* --rate: how many of c's messages are due at now. */
static uint64_t due(const conn_t *c, uint64_t now)
{
    double per_pub = opt.rate / opt.pubs;
    double k = floor((double)(now - t_start) * per_pub / 1e9) + 1;
    return k >= (double)c->target ? c->target : (uint64_t)k;
}

/* When message `sent` of a publisher becomes due (--rate). */
static uint64_t due_at(const conn_t *c)
{
    return t_start + (uint64_t)((double)c->sent * 1e9 * opt.pubs / opt.rate);
}

static void append_publish(conn_t *c, uint64_t t)
{
    const tmpl_t *tp = &tmpls[c->next_subject];
    if (++c->next_subject == opt.subjects)
        c->next_subject = 0;
    uint8_t *d = c->out + c->out_len;
    memcpy(d, tp->bytes, tp->len);
    stamp_t s = { .pub = c->idx, .seq = (uint32_t)c->sent, .t_ns = t };
    memcpy(d + tp->off, &s, sizeof s);
    c->out_len += tp->len;
    c->sent++;
}

/* Queue and send one batch of c's messages (as many as the target, the
 * window, the rate and the buffer allow); once all are out, the barrier
 * that tells when the server has handled them. */
static void pub_pump(conn_t *c, uint64_t now)
{
    if (!c->ready || c->closed || c->want_out)
        return;
    if (c->sent < c->target) {
        uint64_t n = min_u64(c->target - c->sent, window_room());
        if (opt.rate > 0)
            n = min_u64(n, due(c, now) - c->sent);
        n = min_u64(n, (c->out_cap - c->out_len) / tmpl_max);
        if (n == 0)
            return;
        uint64_t t = now_ns();
        for (uint64_t i = 0; i < n; i++)
            append_publish(c, t);
        st.published += n;
        flush_out(c);
        return;
    }
    if (targets_final && !c->final_ack) {
        c->final_ack = c->acks + 1;
        wire_barrier(opt.proto, c);
        flush_out(c);
    }
}

static int pub_can_pump(const conn_t *c, uint64_t now)
{
    if (!c->ready || c->closed || c->want_out)
        return 0;
    if (c->sent >= c->target)
        return targets_final && !c->final_ack;
    return window_room() > 0 && (opt.rate <= 0 || due(c, now) > c->sent);
}

/* ---- the run ----------------------------------------------------------------------------------- */

static conn_t *pub(unsigned i)
{
    return &conns[opt.subs + i];
}

static uint64_t expected(void)
{
    if (opt.subs == 0)
        return 0;
    return opt.subjects > 1 ? st.published : st.published * opt.subs;
}

static int pubs_flushed(void)
{
    for (unsigned i = 0; i < opt.pubs; i++)
        if (!targets_final || !pub(i)->final_ack || pub(i)->acks < pub(i)->final_ack)
            return 0;
    return 1;
}

static int subs_alive(void)
{
    for (unsigned i = 0; i < opt.subs; i++)
        if (!conns[i].closed)
            return 1;
    return 0;
}

/* Done once everything published has been handled and every delivery has
 * arrived, or nothing has arrived for --timeout seconds since then. */
static int run_done(uint64_t now)
{
    if (!pubs_flushed())
        return 0;
    if (st.received >= expected() || !subs_alive())
        return 1;
    uint64_t last = t_last_delivery > t_flushed ? t_last_delivery : t_flushed;
    return now - last > (uint64_t)(opt.timeout * 1e9);
}

static uint64_t wait_ns(uint64_t now)
{
    uint64_t wait = 10000000;       /* re-check deadlines every 10 ms */
    for (unsigned i = 0; i < opt.pubs; i++) {
        const conn_t *c = pub(i);
        if (pub_can_pump(c, now))
            return 0;
        if (opt.rate > 0 && c->ready && !c->closed && c->sent < c->target) {
            uint64_t at = due_at(c);
            wait = min_u64(wait, at > now ? at - now : 0);
        }
    }
    return wait;
}

static void set_targets(void)
{
    uint64_t total = opt.count;
    if (opt.duration > 0)
        total = opt.rate > 0 ? (uint64_t)(opt.rate * opt.duration) : UINT64_MAX;
    for (unsigned i = 0; i < opt.pubs; i++)
        pub(i)->target = total == UINT64_MAX ? UINT64_MAX
                                             : total / opt.pubs + (i < total % opt.pubs);
    targets_final = total != UINT64_MAX;
}

static void run(void)
{
    set_targets();
    t_start = now_ns();
    running = 1;
    uint64_t stop_at = opt.duration > 0 ? t_start + (uint64_t)(opt.duration * 1e9) : 0;
    for (;;) {
        uint64_t now = now_ns();
        if (!targets_final && now >= stop_at) {
            for (unsigned i = 0; i < opt.pubs; i++)
                pub(i)->target = pub(i)->sent;
            targets_final = 1;
        }
        for (unsigned i = 0; i < opt.pubs; i++)
            pub_pump(pub(i), now);
        if (run_done(now))
            break;
        poll_once(wait_ns(now));
    }
    running = 0;
}

/* Open every connection (at most MAX_CONNECTING unready at once) and wait
 * until each has its subscription confirmed or its greeting answered. */
static void setup(void)
{
    uint64_t deadline = now_ns() + SETUP_TIMEOUT_NS;
    unsigned next = 0;
    while (n_ready < nconns) {
        while (next < nconns && next - n_ready < MAX_CONNECTING) {
            conn_open(&conns[next], next);
            next++;
        }
        if (now_ns() > deadline)
            die("setup timed out: %u of %u connections ready", n_ready, nconns);
        poll_once(100000000);
    }
    if (server_max_payload && opt.size > server_max_payload)
        die("--size %zu is over the server's max payload (%" PRIu64 " bytes)", opt.size,
            server_max_payload);
}

/* ---- figures ----------------------------------------------------------------------------------- */

static double percentile_us(double q)
{
    uint64_t need = (uint64_t)ceil((double)hist_n * q), seen = 0;
    if (need == 0)
        need = 1;
    for (unsigned i = 0; i < HIST_US; i++)
        if ((seen += hist[i]) >= need)
            return i;
    return HIST_US;     /* in the overflow bucket: report the cap */
}

static void put(const char *key, double v, int decimals)
{
    printf("%s %.*f\n", key, decimals, v);
}

static void report(double cpu_ns, double rss_per_conn)
{
    uint64_t end = opt.subs && t_last_delivery > t_start ? t_last_delivery : t_flushed;
    double secs = (double)(end > t_start ? end - t_start : 1) / 1e9;
    uint64_t exp = expected(), delivered = opt.subs ? st.received : st.published;
    put("pubs", opt.pubs, 0);
    put("subs", opt.subs, 0);
    put("size", (double)opt.size, 0);
    put("published", (double)st.published, 0);
    put("expected", (double)exp, 0);
    put("received", (double)st.received, 0);
    put("lost", exp > st.received ? (double)(exp - st.received) : 0, 0);
    put("reordered", (double)st.reordered, 0);
    put("corrupt", (double)st.corrupt, 0);
    put("disconnects", (double)st.disconnects, 0);
    put("elapsed_s", secs, 3);
    put("msgs_per_s", (double)st.published / secs, 0);
    put("deliveries_per_s", (double)st.received / secs, 0);
    put("mb_per_s", (double)delivered * (double)opt.size / secs / 1e6, 1);
    if (hist_n) {
        put("p50_us", percentile_us(0.50), 0);
        put("p99_us", percentile_us(0.99), 0);
        put("p999_us", percentile_us(0.999), 0);
        put("max_us", (double)lat_max_ns / 1e3, 0);
    }
    if (opt.server_pid) {
        put("cpu_ns_per_msg", delivered ? cpu_ns / (double)delivered : 0, 1);
        put("broker_bytes_per_conn", rss_per_conn, 0);
    }
    fflush(stdout);
}

/* ---- options ----------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fputs(
"usage: acto-bench-pubsub [OPTIONS]\n"
"\n"
"Publish messages through a pub/sub broker and measure what the subscribers\n"
"get: throughput, loss, order and latency.  Speaks acto's protocol\n"
"(docs/protocol.md), NATS's and Redis's, so the same load drives each.\n"
"\n"
"  --proto P         acto (default), nats or redis\n"
"  --server H:P      the broker (default 127.0.0.1:7470, :4222 or :6379 by --proto)\n"
"  --pubs N          publisher connections (default 1)\n"
"  --subs N          subscriber connections, all on one subject (default 1; 0 = none)\n"
"  --subjects N      N subscriber connections, each on its own subject\n"
"                    (SUBJECT.0 .. SUBJECT.N-1); publishes go round-robin over them\n"
"  --subject NAME    the subject, or the prefix with --subjects (default bench)\n"
"  --size BYTES      payload size, >= 16 (default 16)\n"
"  --count N         messages published in all, over the publishers (default 1000000)\n"
"  --duration S      publish for S seconds instead of --count messages\n"
"  --rate R          publish R messages per second in all (paced, for latency)\n"
"  --window N        at most N messages published but not yet received by the\n"
"                    slowest subscriber (default: 4 MiB worth of publishes)\n"
"  --timeout S       after publishing, wait at most S seconds without a delivery\n"
"                    for the rest (default 5)\n"
"  --srcs K          connect from 127.0.0.1 .. 127.0.0.K (many connections)\n"
"  --server-pid PID  also report the broker's CPU per delivered message and its\n"
"                    memory per connection (from /proc/PID)\n"
"  -h, --help        this text\n"
"\n"
"Output, one `key value` per line: pubs subs size published expected received\n"
"lost reordered corrupt disconnects elapsed_s msgs_per_s deliveries_per_s mb_per_s\n"
"(payload bytes delivered, 10^6 per MB) p50_us p99_us p999_us max_us, and with\n"
"--server-pid cpu_ns_per_msg broker_bytes_per_conn.  Latency is publish time ->\n"
"receive time; the time is taken once per batch written, so under full load it\n"
"includes queueing in the generator.\n"
"\n"
"Exit status: 0 done (lost > 0 is a figure, not a failure), 1 failed (cannot\n"
"connect, protocol error, a publisher lost, reordered or corrupt deliveries),\n"
"2 usage error.\n", f);
}

static _Noreturn void bad_usage(const char *fmt, const char *arg)
{
    fputs("acto-bench-pubsub: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n(see acto-bench-pubsub --help)\n", stderr);
    exit(2);
}

static uint64_t parse_u64(const char *name, const char *v, uint64_t min, uint64_t max)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-' || x < min || x > max)
        bad_usage("bad value for %s", name);
    return x;
}

static double parse_pos(const char *name, const char *v)
{
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || !(x > 0) || !isfinite(x))
        bad_usage("%s needs a positive number", name);
    return x;
}

static void parse_args(int argc, char **argv)
{
    enum { O_PROTO = 1, O_SERVER, O_PUBS, O_SUBS, O_SUBJECTS, O_SUBJECT, O_SIZE, O_COUNT,
           O_DURATION, O_RATE, O_WINDOW, O_TIMEOUT, O_SRCS, O_PID };
    static const struct option lo[] = {
        { "proto", 1, 0, O_PROTO }, { "server", 1, 0, O_SERVER }, { "pubs", 1, 0, O_PUBS },
        { "subs", 1, 0, O_SUBS }, { "subjects", 1, 0, O_SUBJECTS },
        { "subject", 1, 0, O_SUBJECT }, { "size", 1, 0, O_SIZE }, { "count", 1, 0, O_COUNT },
        { "duration", 1, 0, O_DURATION }, { "rate", 1, 0, O_RATE },
        { "window", 1, 0, O_WINDOW }, { "timeout", 1, 0, O_TIMEOUT }, { "srcs", 1, 0, O_SRCS },
        { "server-pid", 1, 0, O_PID }, { "help", 0, 0, 'h' }, { 0, 0, 0, 0 } };
    int o, have_subs = 0, have_count = 0;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (o) {
        case 'h': usage(stdout); exit(0);
        case O_PROTO:
            if (strcmp(optarg, "acto") == 0) opt.proto = WIRE_ACTO;
            else if (strcmp(optarg, "nats") == 0) opt.proto = WIRE_NATS;
            else if (strcmp(optarg, "redis") == 0) opt.proto = WIRE_REDIS;
            else bad_usage("unknown protocol '%s' (acto, nats or redis)", optarg);
            break;
        case O_SERVER: opt.server = optarg; break;
        case O_PUBS: opt.pubs = (unsigned)parse_u64("--pubs", optarg, 1, 100000); break;
        case O_SUBS: opt.subs = (unsigned)parse_u64("--subs", optarg, 0, 1000000); have_subs = 1; break;
        case O_SUBJECTS: opt.subjects = (unsigned)parse_u64("--subjects", optarg, 1, 1000000); break;
        case O_SUBJECT: opt.subject = optarg; break;
        case O_SIZE: opt.size = parse_u64("--size", optarg, STAMP_SIZE, MAX_SIZE); break;
        case O_COUNT: opt.count = parse_u64("--count", optarg, 1, UINT64_MAX / 2); have_count = 1; break;
        case O_DURATION: opt.duration = parse_pos("--duration", optarg); break;
        case O_RATE: opt.rate = parse_pos("--rate", optarg); break;
        case O_WINDOW: opt.window = parse_u64("--window", optarg, 1, UINT64_MAX / 2); break;
        case O_TIMEOUT: opt.timeout = parse_pos("--timeout", optarg); break;
        case O_SRCS: opt.srcs = (unsigned)parse_u64("--srcs", optarg, 1, 254); break;
        case O_PID: opt.server_pid = (long)parse_u64("--server-pid", optarg, 1, INT_MAX); break;
        default:
            bad_usage("unknown option or missing value: %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        bad_usage("unexpected argument '%s'", argv[optind]);
    if (have_count && opt.duration > 0)
        bad_usage("%s", "--count and --duration exclude each other");
    size_t sl = strlen(opt.subject);
    int bad = sl == 0 || sl > 200;
    for (const unsigned char *p = (const unsigned char *)opt.subject; *p; p++)
        bad |= *p <= ' ' || *p == 0x7f || *p == '*' || *p == '>';
    if (bad)
        bad_usage("bad --subject '%s' (1-200 bytes, no spaces or wildcards)", opt.subject);
    if (opt.subjects > 1) {
        if (have_subs && opt.subs != opt.subjects)
            bad_usage("%s", "--subjects N means N subscribers: leave out --subs or make it N");
        opt.subs = opt.subjects;
    }
    if (opt.subs == 0 && opt.subjects > 1)
        bad_usage("%s", "--subjects needs subscribers");
    uint64_t per_pub = opt.duration > 0 && opt.rate > 0 ? (uint64_t)(opt.rate * opt.duration)
                                                       : opt.count;
    if (opt.duration > 0 && opt.rate <= 0)
        per_pub = 0;    /* unknown in advance; checked as it runs */
    if (per_pub / opt.pubs >= UINT32_MAX)
        bad_usage("%s", "too many messages per publisher (at most 4294967294)");
    if (!opt.server)
        opt.server = opt.proto == WIRE_ACTO ? "127.0.0.1:7470"
                     : opt.proto == WIRE_NATS ? "127.0.0.1:4222" : "127.0.0.1:6379";
    size_t n = 1;
    if (addr_resolve(opt.server, &dst, 1, &n) != 0 || n < 1)
        bad_usage("bad --server address '%s' (HOST:PORT)", opt.server);
    if (opt.srcs > 1 && dst.u.sa.sa_family != AF_INET)
        bad_usage("%s", "--srcs needs an IPv4 server address");
}

/* ---- set-up and main --------------------------------------------------------------------------- */

static void raise_nofile(unsigned need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)need + 16)
        die("%u connections need more file descriptors than RLIMIT_NOFILE allows (%llu)",
            need, (unsigned long long)rl.rlim_cur);
}

static void build_templates(void)
{
    tmpls = xalloc(opt.subjects * sizeof *tmpls);
    for (unsigned i = 0; i < opt.subjects; i++) {
        char subj[300];
        if (opt.subjects == 1)
            snprintf(subj, sizeof subj, "%s", opt.subject);
        else
            snprintf(subj, sizeof subj, "%s.%u", opt.subject, i);
        tmpl_t *t = &tmpls[i];
        t->bytes = wire_pub_template(opt.proto, subj, opt.size, &t->len, &t->off);
        if (!t->bytes)
            exit(2);
        if (t->len > tmpl_max)
            tmpl_max = t->len;
    }
    payload_ref = xalloc(opt.size);
    wire_fill_pattern(payload_ref, opt.size);
    if (!opt.window)
        opt.window = WINDOW_BYTES / tmpl_max ? WINDOW_BYTES / tmpl_max : 1;
}

static void alloc_all(void)
{
    nconns = opt.subs + opt.pubs;
    raise_nofile(nconns);
    conns = xalloc(nconns * sizeof *conns);
    for (unsigned i = 0; i < nconns; i++) {
        conn_t *c = &conns[i];
        c->fd = -1;
        c->role = i < opt.subs ? ROLE_SUB : ROLE_PUB;
        c->idx = c->role == ROLE_SUB ? i : i - opt.subs;
        if (c->role == ROLE_PUB) {
            size_t cap = PUB_OUT_CAP > 2 * tmpl_max ? PUB_OUT_CAP : 2 * tmpl_max;
            c->out = xalloc(cap);
            c->out_cap = cap;
            c->next_subject = c->idx % opt.subjects;
        }
    }
    carry_max = wire_max_frame(opt.size);
    rbuf_cap = RBUF_BASE + carry_max;
    rbuf = xalloc(rbuf_cap);
    last_seq = xalloc((size_t)opt.subs * opt.pubs * sizeof *last_seq);
    hist = xalloc(HIST_US * sizeof *hist);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1: %s", strerror(errno));
}

static void free_all(void)
{
    for (unsigned i = 0; i < nconns; i++) {
        if (!conns[i].closed && conns[i].fd >= 0)
            close(conns[i].fd);
        free(conns[i].out);
        free(conns[i].carry);
    }
    for (unsigned i = 0; i < opt.subjects; i++)
        free(tmpls[i].bytes);
    free(tmpls);
    free(conns);
    free(payload_ref);
    free(rbuf);
    free(last_seq);
    free(hist);
    close(ep);
    wire_cleanup();
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    build_templates();
    alloc_all();
    uint64_t rss0 = opt.server_pid ? proc_rss_bytes(opt.server_pid) : 0;
    setup();
    double rss_per_conn = 0;
    if (opt.server_pid) {
        uint64_t settle = now_ns() + SETTLE_NS;   /* answering server pings meanwhile */
        while (now_ns() < settle)
            poll_once(10000000);
        rss_per_conn = ((double)proc_rss_bytes(opt.server_pid) - (double)rss0) / nconns;
    }
    uint64_t cpu0 = opt.server_pid ? proc_cpu_ns(opt.server_pid) : 0;
    run();
    double cpu = opt.server_pid ? (double)(proc_cpu_ns(opt.server_pid) - cpu0) : 0;
    report(cpu, rss_per_conn);
    int failed = st.reordered || st.corrupt;
    if (failed)
        fprintf(stderr, "acto-bench-pubsub: FAILED: %" PRIu64 " deliveries reordered or "
                "duplicated, %" PRIu64 " corrupt\n", st.reordered, st.corrupt);
    free_all();
    return failed ? 1 : 0;
}
