/* tools/trace/cmd_top.c - acto-trace top: a live, top-like view of a
 * running runtime, from its inspection endpoint (docs/inspect.md).
 *
 *   acto-trace top --connect HOST:PORT [--interval S] [--sort mbox|msgs|busy]
 *                  [--top N] [--once | --iterations N] [--plain] [--timeout S]
 *
 * On a terminal: a refreshing table (ANSI escapes, alternate screen; keys
 * q quit, d/m/b sort by mailbox depth / messages/s / busy).  Otherwise (or
 * with --plain): one plain snapshot after another, for scripts.  Every
 * displayed snapshot covers the interval before it: the tool takes one
 * snapshot first, not shown, as the interval's start. */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <msgpack.h>

#include <acto/inspect.h>
#include <acto/pid.h>

#include "tool.h"

#define MAX_REPLY (16u << 20)

typedef struct top {
    const char *addr;
    double interval, timeout;
    long iterations;              /* 0 = until q, Ctrl-C or the endpoint goes */
    int sort;                     /* index into sorts[] */
    long rows;                    /* actors asked for; 0 = fit the terminal */
    bool tty;
    int fd;
    msgpack_unpacker up;
    msgpack_unpacked res;
    struct termios saved;
    bool term_saved;
} top_t;

static const char *const sorts[] = { "mbox", "msgs", "busy" };
static volatile sig_atomic_t g_stop;

/* The first error, printed once the terminal is restored (on the
 * alternate screen it would vanish). */
static char g_err[512];

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    if (!g_err[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g_err, sizeof g_err, fmt, ap);
        va_end(ap);
    }
    return 1;
}

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* ---- connection ------------------------------------------------------------------- */

/* "HOST:PORT", "[v6]:PORT", or a bare PORT / ":PORT" (127.0.0.1). */
static int split_addr(const char *s, char *host, size_t hl, char *port, size_t pl)
{
    const char *colon = strrchr(s, ':');
    const char *h = s, *p = colon ? colon + 1 : s;
    size_t n = colon ? (size_t)(colon - s) : 0;
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
        h = s + 1;
        n -= 2;
    }
    if (n == 0) {
        h = "127.0.0.1";
        n = strlen(h);
    }
    if (!*p || strspn(p, "0123456789") != strlen(p) || n >= hl || strlen(p) >= pl)
        return -1;
    memcpy(host, h, n);
    host[n] = 0;
    strcpy(port, p);
    return 0;
}

static int top_connect(top_t *t)
{
    char host[256], port[16];
    if (split_addr(t->addr, host, sizeof host, port, sizeof port) != 0)
        return fail("top: bad address '%s' (HOST:PORT)", t->addr);
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai, *p;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0)
        return fail("top: %s: %s", t->addr, gai_strerror(rc));
    int err = 0;
    t->fd = -1;
    for (p = ai; p && t->fd < 0; p = p->ai_next) {
        int fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC, p->ai_protocol);
        if (fd < 0 || connect(fd, p->ai_addr, p->ai_addrlen) != 0) {
            err = errno;
            if (fd >= 0)
                close(fd);
            continue;
        }
        t->fd = fd;
    }
    freeaddrinfo(ai);
    if (t->fd < 0)
        return fail("top: cannot connect to %s: %s", t->addr, strerror(err));
    return 0;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void pack_key(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

static int send_request(top_t *t, long rows)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 2);                 /* a frame: [type, body] */
    msgpack_pack_uint32(&pk, ACTO_INSPECT_SNAPSHOT);
    msgpack_pack_map(&pk, 2);
    pack_key(&pk, "top");
    msgpack_pack_uint32(&pk, (uint32_t)rows);
    pack_key(&pk, "sort");
    pack_key(&pk, sorts[t->sort]);
    int rc = sb.data && send_all(t->fd, sb.data, sb.size) == 0 ? 0 : -1;
    msgpack_sbuffer_destroy(&sb);
    return rc ? fail("top: %s: the endpoint went away (%s)", t->addr, strerror(errno)) : 0;
}

/* Wait up to ms for input on fd (and, on a terminal, stdin).  1: fd is
 * readable, 2: a key, 0: timeout or a signal. */
static int wait_input(top_t *t, int fd, int ms)
{
    struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = 0, .events = POLLIN } };
    int n = poll(p, t->tty ? 2 : 1, ms);
    if (n <= 0)
        return 0;
    return (p[0].revents & (POLLIN | POLLHUP | POLLERR)) ? 1 : 2;
}

static int handle_key(top_t *t);

/* The next frame: 0 and t->res set, or the exit status on failure. */
static int read_frame(top_t *t, uint32_t *type, const msgpack_object **body)
{
    uint64_t deadline_ms = (uint64_t)(t->timeout * 1000);
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        msgpack_unpack_return r = msgpack_unpacker_next(&t->up, &t->res);
        if (r == MSGPACK_UNPACK_PARSE_ERROR)
            return fail("top: %s: malformed reply", t->addr);
        if (r == MSGPACK_UNPACK_SUCCESS) {
            const msgpack_object *o = &t->res.data;
            if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 1 ||
                o->via.array.size > 2 || o->via.array.ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
                return fail("top: %s: reply is not a frame", t->addr);
            *type = (uint32_t)o->via.array.ptr[0].via.u64;
            *body = o->via.array.size == 2 ? &o->via.array.ptr[1] : NULL;
            return 0;
        }
        if (msgpack_unpacker_message_size(&t->up) > MAX_REPLY)
            return fail("top: %s: reply larger than %u bytes", t->addr, MAX_REPLY);
        clock_gettime(CLOCK_MONOTONIC, &now);
        uint64_t el = (uint64_t)(now.tv_sec - t0.tv_sec) * 1000 + (uint64_t)((now.tv_nsec - t0.tv_nsec) / 1000000);
        if (g_stop)
            return -1;
        if (el >= deadline_ms)
            return fail("top: %s: no reply within %gs (is the program between runs or busy?)",
                              t->addr, t->timeout);
        int w = wait_input(t, t->fd, (int)(deadline_ms - el));
        if (w == 2) {
            if (handle_key(t) < 0)
                return -1;
            continue;
        }
        if (w != 1)
            continue;
        if (!msgpack_unpacker_reserve_buffer(&t->up, 64 * 1024))
            return fail("out of memory");
        ssize_t n = recv(t->fd, msgpack_unpacker_buffer(&t->up),
                         msgpack_unpacker_buffer_capacity(&t->up), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return fail("top: %s: the endpoint closed the connection%s%s", t->addr,
                              n < 0 ? ": " : " (the program ended?)", n < 0 ? strerror(errno) : "");
        msgpack_unpacker_buffer_consumed(&t->up, (size_t)n);
    }
}

/* ---- reading the reply -------------------------------------------------------------- */

static const msgpack_object *get(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t n = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n && !memcmp(k->via.str.ptr, key, n))
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

static double num(const msgpack_object *map, const char *key)
{
    const msgpack_object *o = get(map, key);
    if (!o)
        return 0;
    switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER: return (double)o->via.u64;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return (double)o->via.i64;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return o->via.f64;
    default: return 0;
    }
}

static uint64_t u64(const msgpack_object *map, const char *key)
{
    const msgpack_object *o = get(map, key);
    return o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? o->via.u64 : 0;
}

static const msgpack_object *arr(const msgpack_object *map, const char *key)
{
    const msgpack_object *o = get(map, key);
    return o && o->type == MSGPACK_OBJECT_ARRAY ? o : NULL;
}

/* A string field as "%.*s" arguments. */
static int str(const msgpack_object *map, const char *key, const char **s)
{
    const msgpack_object *o = get(map, key);
    if (!o || o->type != MSGPACK_OBJECT_STR) {
        *s = "?";
        return 1;
    }
    *s = o->via.str.ptr;
    return (int)o->via.str.size;
}

/* ---- rendering ---------------------------------------------------------------------- */

/* 1234 -> "1234", 12345 -> "12.3k", 1.5e6 -> "1.50M" (terminal); plain
 * output keeps the exact number (rates with one decimal). */
static const char *fmt_num(char *buf, size_t len, double v, bool human, bool rate)
{
    if (!human || v < 10000) {
        snprintf(buf, len, rate && (!human || v < 100) ? "%.1f" : "%.0f", v);
        return buf;
    }
    const char *unit = "kMGT";
    int u = -1;
    while (v >= 1000 && u < 3) {
        v /= 1000;
        u++;
    }
    snprintf(buf, len, v < 100 ? "%.2f%c" : "%.1f%c", v, unit[u]);
    return buf;
}

static void pid_str(char *buf, size_t len, uint64_t pid)
{
    snprintf(buf, len, "<%u.%u>", ACTO_PID_SLOT(pid), ACTO_PID_GEN(pid));
}

/* One line of output; on a terminal it also clears the rest of the line. */
static void line(const top_t *t, FILE *out, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void line(const top_t *t, FILE *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(out, fmt, ap);
    va_end(ap);
    fputs(t->tty ? "\033[K\n" : "\n", out);
}

static void render(const top_t *t, const msgpack_object *s, FILE *out, int max_rows)
{
    bool h = t->tty;
    char a[32], b[32], c[32], d[32];
    const char *be, *so;
    int bl = str(s, "backend", &be), sl = str(s, "sort", &so);
    const msgpack_object *tot = get(s, "totals"), *ws = arr(s, "workers"), *as = arr(s, "actors");
    if (h)
        fputs("\033[H", out);
    line(t, out, "acto top  %s  pid %lld  %.*s  interval %.2fs  sort %.*s", t->addr,
         (long long)num(s, "os_pid"), bl, be, num(s, "interval_ns") / 1e9, sl, so);
    line(t, out, "actors %s  msgs/s %s  handled %s  global queue %s",
         fmt_num(a, sizeof a, num(tot, "actors"), false, false),
         fmt_num(b, sizeof b, num(tot, "msgs_per_s"), h, true),
         fmt_num(c, sizeof c, num(tot, "handled"), h, false),
         fmt_num(d, sizeof d, num(tot, "global_queue"), false, false));
    line(t, out, "%s", "");
    line(t, out, "%-7s %6s %10s %12s %8s %8s %5s", "WORKER", "BUSY%", "MSGS/S", "HANDLED",
         "STEALS", "SLEEPS", "RUNQ");
    for (uint32_t i = 0; ws && i < ws->via.array.size; i++) {
        const msgpack_object *w = &ws->via.array.ptr[i];
        line(t, out, "%-7u %5.1f%% %10s %12s %8llu %8llu %5llu", i, num(w, "busy"),
             fmt_num(a, sizeof a, num(w, "msgs_per_s"), h, true),
             fmt_num(b, sizeof b, num(w, "handled"), h, false),
             (unsigned long long)u64(w, "steals"), (unsigned long long)u64(w, "sleeps"),
             (unsigned long long)u64(w, "runq"));
    }
    line(t, out, "%s", "");
    line(t, out, "%-14s %-24s %10s %10s %6s %12s", "PID", "BEHAVIOUR", "MBOX", "MSGS/S", "BUSY%",
         "HANDLED");
    uint32_t n = as ? as->via.array.size : 0;
    if (max_rows >= 0 && n > (uint32_t)max_rows)
        n = (uint32_t)max_rows;
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *r = &as->via.array.ptr[i];
        const char *name;
        int nl = str(r, "name", &name);
        char pid[32];
        pid_str(pid, sizeof pid, u64(r, "pid"));
        line(t, out, "%-14s %-24.*s %10s %10s %5.1f%% %12s", pid, nl > 24 ? 24 : nl, name,
             fmt_num(a, sizeof a, num(r, "mbox"), false, false),
             fmt_num(b, sizeof b, num(r, "msgs_per_s"), h, true), num(r, "busy"),
             fmt_num(c, sizeof c, num(r, "handled"), h, false));
    }
    if (h) {
        line(t, out, "%s", "");
        fputs("\033[7m q quit  d sort by mailbox  m by msgs/s  b by busy \033[0m\033[K\033[J", out);
    } else {
        fputc('\n', out);
    }
    fflush(out);
}

/* ---- the terminal ------------------------------------------------------------------- */

static long term_rows(void)
{
    struct winsize ws;
    return ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 ? ws.ws_row : 24;
}

static void term_enter(top_t *t)
{
    if (tcgetattr(0, &t->saved) == 0) {
        struct termios raw = t->saved;
        raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);   /* keys without Enter; ISIG stays: Ctrl-C */
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        t->term_saved = tcsetattr(0, TCSANOW, &raw) == 0;
    }
    fputs("\033[?1049h\033[?25l\033[H\033[2J", stdout);   /* alternate screen, no cursor */
    fflush(stdout);
}

static void term_leave(top_t *t)
{
    fputs("\033[?25h\033[?1049l", stdout);
    fflush(stdout);
    if (t->term_saved)
        tcsetattr(0, TCSANOW, &t->saved);
}

/* 0: carry on, 1: sort changed, -1: quit. */
static int handle_key(top_t *t)
{
    char k;
    if (read(0, &k, 1) != 1)
        return 0;
    switch (k) {
    case 'q': case 'Q': g_stop = 1; return -1;
    case 'd': t->sort = 0; return 1;
    case 'm': t->sort = 1; return 1;
    case 'b': t->sort = 2; return 1;
    }
    return 0;
}

/* ---- main loop ------------------------------------------------------------------------ */

static long rows_wanted(const top_t *t)
{
    if (t->rows)
        return t->rows;
    if (!t->tty)
        return 20;
    long r = term_rows() - 8;                 /* header and footer lines */
    return r < 1 ? 1 : r > ACTO_INSPECT_TOP_MAX ? ACTO_INSPECT_TOP_MAX : r;
}

/* One request and its reply; render it unless `show` is false. */
static int snapshot(top_t *t, bool show)
{
    long rows = rows_wanted(t);
    if (send_request(t, rows))
        return 1;
    uint32_t type = 0;
    const msgpack_object *body = NULL;
    int rc = read_frame(t, &type, &body);
    if (rc)
        return rc;
    if (type == ACTO_INSPECT_ERROR) {
        const msgpack_object *e = body && body->type == MSGPACK_OBJECT_ARRAY &&
                                  body->via.array.size == 2 ? &body->via.array.ptr[1] : NULL;
        return fail("top: %s: the endpoint refused the request: %.*s", t->addr,
                          e && e->type == MSGPACK_OBJECT_STR ? (int)e->via.str.size : 1,
                          e && e->type == MSGPACK_OBJECT_STR ? e->via.str.ptr : "?");
    }
    if (type != ACTO_INSPECT_REPLY || !body || body->type != MSGPACK_OBJECT_MAP)
        return fail("top: %s: unexpected reply (type %u)", t->addr, type);
    if (num(body, "version") != ACTO_INSPECT_VERSION)
        return fail("top: %s: endpoint speaks version %g, this tool %d", t->addr,
                          num(body, "version"), ACTO_INSPECT_VERSION);
    if (show) {
        long max = t->tty ? term_rows() - 8 - (long)(arr(body, "workers") ? arr(body, "workers")->via.array.size : 0) : -1;
        render(t, body, stdout, t->tty ? (int)(max < 0 ? 0 : max) : -1);
    }
    return 0;
}

/* Sleep one interval; keys act at once (a new sort shows immediately). */
static void pause_interval(top_t *t)
{
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        double el = (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
        if (g_stop || el >= t->interval)
            return;
        if (!t->tty) {
            double left = t->interval - el;
            struct timespec d = { (time_t)left, (long)((left - (double)(time_t)left) * 1e9) };
            nanosleep(&d, NULL);      /* a signal ends it early */
            continue;
        }
        if (wait_input(t, -1, (int)((t->interval - el) * 1000) + 1) == 2 && handle_key(t) != 0)
            return;
    }
}

static int run(top_t *t)
{
    int rc = snapshot(t, false);              /* the first interval's start */
    for (long i = 0; rc == 0 && !g_stop && (t->iterations == 0 || i < t->iterations); i++) {
        pause_interval(t);
        if (g_stop)
            break;
        rc = snapshot(t, true);
    }
    return rc < 0 ? 0 : rc;                   /* -1: q or a signal */
}

static int parse_args(top_t *t, int argc, char **argv)
{
    tool_args_t a = { argc, argv };
    bool plain = false;
    for (int i = 0; i < argc; i++) {
        const char *v;
        char *end;
        if ((v = tool_opt(&a, &i, "--connect")))
            t->addr = v;
        else if ((v = tool_opt(&a, &i, "--interval"))) {
            t->interval = strtod(v, &end);
            if (*end || !(t->interval >= 0.01 && t->interval <= 3600))
                return fail("top: --interval takes seconds, 0.01 to 3600");
        } else if ((v = tool_opt(&a, &i, "--timeout"))) {
            t->timeout = strtod(v, &end);
            if (*end || !(t->timeout > 0 && t->timeout <= 3600))
                return fail("top: --timeout takes seconds, up to 3600");
        } else if ((v = tool_opt(&a, &i, "--iterations"))) {
            t->iterations = strtol(v, &end, 10);
            if (*end || t->iterations < 1)
                return fail("top: --iterations takes a count >= 1");
        } else if ((v = tool_opt(&a, &i, "--top"))) {
            t->rows = strtol(v, &end, 10);
            if (*end || t->rows < 1 || t->rows > ACTO_INSPECT_TOP_MAX)
                return fail("top: --top takes 1 to %d", ACTO_INSPECT_TOP_MAX);
        } else if ((v = tool_opt(&a, &i, "--sort"))) {
            t->sort = -1;
            for (int k = 0; k < 3; k++)
                if (!strcmp(v, sorts[k]))
                    t->sort = k;
            if (t->sort < 0)
                return fail("top: --sort takes mbox, msgs or busy");
        } else if (!strcmp(argv[i], "--once")) {
            t->iterations = 1;
        } else if (!strcmp(argv[i], "--plain")) {
            plain = true;
        } else {
            return fail("top: unknown option '%s'", argv[i]);
        }
    }
    if (!t->addr)
        return fail("top: --connect HOST:PORT is required");
    t->tty = !plain && isatty(1) && isatty(0);
    return 0;
}

int cmd_top(int argc, char **argv)
{
    top_t t = { .interval = 1.0, .timeout = 5.0, .fd = -1 };
    if (parse_args(&t, argc, argv) || top_connect(&t))
        return tool_error("%s", g_err);
    if (!msgpack_unpacker_init(&t.up, 64 * 1024)) {
        close(t.fd);
        return tool_error("out of memory");
    }
    msgpack_unpacked_init(&t.res);
    struct sigaction sa = { .sa_handler = on_signal };   /* no SA_RESTART: poll returns */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (t.tty)
        term_enter(&t);
    int rc = run(&t);
    if (t.tty)
        term_leave(&t);
    if (g_err[0])
        tool_error("%s", g_err);
    msgpack_unpacked_destroy(&t.res);
    msgpack_unpacker_destroy(&t.up);
    close(t.fd);
    return rc;
}
