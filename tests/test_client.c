/* tests/test_client.c - the pub/sub clients (acto/client.h) and the
 * acto-pub / acto-sub / acto-req tools against a real acto-broker.
 *
 * Each test starts `acto-broker --listen 127.0.0.1:0` (or PORT, to restart
 * on the same one) as a child process, reads its "listening on" line, and
 * stops it with SIGTERM at the end (SIGKILL for the restart test).
 * Paths come from CMake: ACTO_BROKER_BIN and ACTO_TOOLS_DIR (the
 * environment variables of the same names override them).  Loopback only;
 * every wait is bounded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "testutil.h"
#include <acto/client.h>
#include <acto/pubsub.h>

#ifndef ACTO_BROKER_BIN
#define ACTO_BROKER_BIN "acto-broker"
#endif
#ifndef ACTO_TOOLS_DIR
#define ACTO_TOOLS_DIR "."
#endif

/* ---- the broker as a child process --------------------------------------------- */

typedef struct broker {
    pid_t pid;
    unsigned port;
    char addr[64];
    FILE *out;                              /* its stdout, open until it stops */
} broker_t;

static const char *broker_bin(void)
{
    const char *e = getenv("ACTO_BROKER_BIN");
    return e && *e ? e : ACTO_BROKER_BIN;
}

/* Brokers still running (pid and stdout), for the teardown after a failed
 * test (its broker_t is gone with its stack frame). */
#define BROKERS_MAX 8
static struct { pid_t pid; FILE *out; } g_live[BROKERS_MAX];

static void live_add(pid_t pid, FILE *out)
{
    for (int i = 0; i < BROKERS_MAX; i++)
        if (!g_live[i].pid) {
            g_live[i].pid = pid;
            g_live[i].out = out;
            return;
        }
}

static void live_stop(pid_t pid, int sig)
{
    for (int i = 0; i < BROKERS_MAX; i++)
        if (g_live[i].pid && (pid == 0 || g_live[i].pid == pid)) {
            kill(g_live[i].pid, sig);
            int st;
            waitpid(g_live[i].pid, &st, 0);
            fclose(g_live[i].out);
            g_live[i].pid = 0;
        }
}

/* One try: 0 and b filled, or -1 (the broker exited without an address). */
static int broker_try(broker_t *b, unsigned port, const char *token)
{
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%u", port);
    const char *argv[8] = { broker_bin(), "--listen", listen };
    int n = 3;
    if (token) {
        argv[n++] = "--token";
        argv[n++] = token;
    }
    argv[n] = NULL;
    int fds[2];
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    /* fork + exec rather than posix_spawn, for PR_SET_PDEATHSIG: a test
     * process that dies (a crash, a ctest timeout) takes its brokers along
     * instead of leaving them running */
    pid_t parent = getpid();
    b->pid = fork();
    assert_true(b->pid >= 0);
    if (b->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        dup2(fds[1], 1);
        execv(argv[0], (char **)argv);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    assert_non_null(f);
    char line[256] = "";
    unsigned got = 0;
    /* the broker prints the line once bound; it exits on a bind failure (EOF) */
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "listening on 127.0.0.1:%u", &got) == 1)
            break;
    if (got == 0) {
        fclose(f);
        int st;
        waitpid(b->pid, &st, 0);
        b->pid = 0;
        return -1;
    }
    b->out = f;                             /* kept open: no SIGPIPE for its output */
    b->port = got;
    snprintf(b->addr, sizeof b->addr, "127.0.0.1:%u", got);
    live_add(b->pid, f);
    return 0;
}

/* Start the broker on port (0: any) with an optional token; fails the test
 * unless it prints its "listening on HOST:PORT" line.  A restart on the
 * same port is retried for a while: a killed io_uring process's sockets
 * are released by the kernel asynchronously, so the port may still be in
 * use for a moment (EADDRINUSE). */
static void broker_start(broker_t *b, unsigned port, const char *token)
{
    for (int i = 0; i < (port ? 250 : 1); i++) {
        if (broker_try(b, port, token) == 0)
            return;
        usleep(20000);
    }
    fail_msg("%s did not start (port %u)", broker_bin(), port);
}

static void broker_stop(broker_t *b, int sig)
{
    if (b->pid <= 0)
        return;
    live_stop(b->pid, sig);
    b->pid = 0;
    b->out = NULL;
}

static acto_client_t *connect_ok(const broker_t *b, const acto_client_opts_t *o)
{
    acto_client_t *c = NULL;
    char err[256] = "";
    acto_client_opts_t oo = o ? *o : (acto_client_opts_t){ 0 };
    oo.errbuf = err;
    oo.errbuf_len = sizeof err;
    int rc = acto_client_connect(b->addr, &oo, &c);
    if (rc)
        fail_msg("connect %s: %s (%s)", b->addr, acto_strerror(rc), err);
    return c;
}

static void expect_msg(acto_client_t *c, uint32_t sid, const char *subject, const char *payload)
{
    acto_client_msg_t m;
    int rc = acto_client_next(c, &m, 5000);
    assert_int_equal(rc, 0);
    assert_int_equal(m.sid, sid);
    assert_int_equal(m.subject_len, strlen(subject));
    assert_memory_equal(m.subject, subject, m.subject_len);
    assert_int_equal(m.len, strlen(payload));
    if (m.len)
        assert_memory_equal(m.payload, payload, m.len);
}

/* ---- the tools -------------------------------------------------------------------- */

static const char *tools_dir(void)
{
    const char *e = getenv("ACTO_TOOLS_DIR");
    return e && *e ? e : ACTO_TOOLS_DIR;
}

/* Run a shell command line; its exit status. */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* ---- blocking client ------------------------------------------------------------ */

static void test_pubsub_roundtrip(void **state)
{
    (void)state;
    broker_t b;
    broker_start(&b, 0, NULL);
    acto_client_t *sub = connect_ok(&b, NULL), *pub = connect_ok(&b, NULL);
    assert_int_equal(acto_client_max_payload(sub), 1024 * 1024);
    uint32_t s1, s2;
    assert_int_equal(acto_client_subscribe(sub, "orders.>", NULL, &s1), 0);
    assert_int_equal(acto_client_subscribe(sub, "orders.*.new", NULL, &s2), 0);
    assert_int_not_equal(s1, s2);
    assert_int_equal(acto_client_publish(pub, "orders.eu.new", "ans.1", "hello", 5), 0);
    assert_int_equal(acto_client_publish(pub, "orders.eu.old", NULL, "", 0), 0);
    assert_int_equal(acto_client_publish(pub, "other", NULL, "x", 1), 0);
    assert_int_equal(acto_client_flush(pub, 5000), 0);
    /* one publish, two matching subscriptions: one msg per sid */
    int seen1 = 0, seen2 = 0, empty = 0;
    for (int i = 0; i < 3; i++) {
        acto_client_msg_t m;
        assert_int_equal(acto_client_next(sub, &m, 5000), 0);
        if (m.len == 0) {
            assert_int_equal(m.sid, s1);
            assert_null(m.reply);
            empty++;
            continue;
        }
        assert_int_equal(m.len, 5);
        assert_memory_equal(m.payload, "hello", 5);
        assert_int_equal(m.reply_len, 5);
        assert_memory_equal(m.reply, "ans.1", 5);
        seen1 += m.sid == s1;
        seen2 += m.sid == s2;
    }
    assert_int_equal(seen1, 1);
    assert_int_equal(seen2, 1);
    assert_int_equal(empty, 1);
    /* bad input is refused locally, nothing sent */
    uint32_t bad;
    assert_int_equal(acto_client_subscribe(sub, "a..b", NULL, &bad), ACTO_EINVAL);
    assert_int_equal(acto_client_subscribe(sub, "a.b", "q 1", &bad), ACTO_EINVAL);
    assert_int_equal(acto_client_publish(pub, "a.*", NULL, "x", 1), ACTO_EINVAL);
    static char big[1024 * 1024 + 1];
    assert_int_equal(acto_client_publish(pub, "a", NULL, big, sizeof big), ACTO_ELIMIT);
    assert_int_equal(acto_client_unsubscribe(sub, 999999, 0), ACTO_ESTATE);
    /* unsubscribed: nothing more on s2 */
    assert_int_equal(acto_client_unsubscribe(sub, s2, 0), 0);
    assert_int_equal(acto_client_publish(pub, "orders.us.new", NULL, "2", 1), 0);
    assert_int_equal(acto_client_flush(pub, 5000), 0);
    expect_msg(sub, s1, "orders.us.new", "2");
    /* next with timeout 0 does not wait, but returns what has arrived */
    acto_client_msg_t m;
    assert_int_equal(acto_client_next(sub, &m, 0), ACTO_ETIMEDOUT);
    assert_int_equal(acto_client_publish(sub, "orders.me.new", NULL, "3", 1), 0);
    assert_int_equal(acto_client_flush(sub, 5000), 0);
    int rc = ACTO_ETIMEDOUT;
    for (int i = 0; i < 1000 && rc == ACTO_ETIMEDOUT; i++)
        if ((rc = acto_client_next(sub, &m, 0)) == ACTO_ETIMEDOUT)
            usleep(5000);
    assert_int_equal(rc, 0);
    assert_int_equal(m.sid, s1);
    assert_int_equal(acto_client_error(sub, NULL), 0);
    acto_client_close(sub);
    acto_client_close(pub);
    broker_stop(&b, SIGTERM);
}

static void test_queue_group(void **state)
{
    (void)state;
    broker_t b;
    broker_start(&b, 0, NULL);
    acto_client_t *m1 = connect_ok(&b, NULL), *m2 = connect_ok(&b, NULL);
    acto_client_t *plain = connect_ok(&b, NULL), *pub = connect_ok(&b, NULL);
    uint32_t q1, q2, p;
    assert_int_equal(acto_client_subscribe(m1, "jobs.*", "workers", &q1), 0);
    assert_int_equal(acto_client_subscribe(m2, "jobs.*", "workers", &q2), 0);
    assert_int_equal(acto_client_subscribe(plain, "jobs.*", NULL, &p), 0);
    enum { N = 400 };
    for (int i = 0; i < N; i++)
        assert_int_equal(acto_client_publish(pub, "jobs.x", NULL, &i, sizeof i), 0);
    assert_int_equal(acto_client_flush(pub, 5000), 0);
    /* the plain subscriber gets all N in order; the group N in total */
    for (int i = 0; i < N; i++) {
        acto_client_msg_t m;
        assert_int_equal(acto_client_next(plain, &m, 5000), 0);
        assert_int_equal(m.len, sizeof i);
        int v;
        memcpy(&v, m.payload, sizeof v);
        assert_int_equal(v, i);
    }
    int got[2] = { 0, 0 };
    acto_client_t *mem[2] = { m1, m2 };
    unsigned char seen[N] = { 0 };
    while (got[0] + got[1] < N) {
        int progress = 0;
        for (int k = 0; k < 2; k++) {
            acto_client_msg_t m;
            if (acto_client_next(mem[k], &m, 50) == 0) {
                int v;
                memcpy(&v, m.payload, sizeof v);
                assert_true(v >= 0 && v < N);
                assert_int_equal(seen[v], 0);  /* exactly one member each */
                seen[v] = 1;
                got[k]++;
                progress = 1;
            }
        }
        if (!progress)
            fail_msg("queue group stalled at %d of %d", got[0] + got[1], N);
    }
    /* random choice: with 400 messages each member gets some (p ~ 2^-400) */
    assert_true(got[0] > 0 && got[1] > 0);
    acto_client_close(m1);
    acto_client_close(m2);
    acto_client_close(plain);
    acto_client_close(pub);
    broker_stop(&b, SIGTERM);
}

static void test_unsub_after_n(void **state)
{
    (void)state;
    broker_t b;
    broker_start(&b, 0, NULL);
    acto_client_t *sub = connect_ok(&b, NULL), *pub = connect_ok(&b, NULL);
    uint32_t lim, all;
    assert_int_equal(acto_client_subscribe(sub, "n.x", NULL, &lim), 0);
    assert_int_equal(acto_client_subscribe(sub, "n.*", NULL, &all), 0);
    assert_int_equal(acto_client_unsubscribe(sub, lim, 3), 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(acto_client_publish(pub, "n.x", NULL, "m", 1), 0);
    assert_int_equal(acto_client_flush(pub, 5000), 0);
    int n_lim = 0, n_all = 0;
    acto_client_msg_t m;
    while (n_all < 10) {
        assert_int_equal(acto_client_next(sub, &m, 5000), 0);
        n_lim += m.sid == lim;
        n_all += m.sid == all;
    }
    /* anything still on its way for lim would come now */
    while (acto_client_next(sub, &m, 200) == 0)
        n_lim += m.sid == lim;
    assert_int_equal(n_lim, 3);
    /* it is gone: unsubscribing again is an error */
    assert_int_equal(acto_client_unsubscribe(sub, lim, 0), ACTO_ESTATE);
    acto_client_close(sub);
    acto_client_close(pub);
    broker_stop(&b, SIGTERM);
}

/* A responder thread: answers every request on svc.echo with "re:" + payload. */
typedef struct responder {
    acto_client_t *c;
    int n;                                  /* requests to answer */
} responder_t;

static void *responder_main(void *arg)
{
    responder_t *r = arg;
    for (int i = 0; i < r->n; i++) {
        acto_client_msg_t m;
        if (acto_client_next(r->c, &m, 10000) != 0) {
            CHECK(!"responder: no request");
            return NULL;
        }
        char out[256];
        int n = snprintf(out, sizeof out, "re:%.*s", (int)m.len, (const char *)m.payload);
        char reply[300];
        snprintf(reply, sizeof reply, "%.*s", (int)m.reply_len, m.reply ? m.reply : "");
        CHECK(m.reply != NULL);
        CHECK(acto_client_publish(r->c, reply, NULL, out, (size_t)n) == 0);
        CHECK(acto_client_flush(r->c, -1) == 0);
    }
    return NULL;
}

static void start_responder(const broker_t *b, responder_t *r, pthread_t *t, int n)
{
    r->c = connect_ok(b, NULL);
    r->n = n;
    uint32_t sid;
    assert_int_equal(acto_client_subscribe(r->c, "svc.echo", NULL, &sid), 0);
    assert_int_equal(pthread_create(t, NULL, responder_main, r), 0);
}

static void test_request_reply(void **state)
{
    (void)state;
    broker_t b;
    broker_start(&b, 0, NULL);
    responder_t r;
    pthread_t t;
    start_responder(&b, &r, &t, 3);
    acto_client_t *c = connect_ok(&b, NULL);
    uint32_t other;
    assert_int_equal(acto_client_subscribe(c, "side", NULL, &other), 0);
    for (int i = 0; i < 3; i++) {
        char q[16], want[32];
        snprintf(q, sizeof q, "q%d", i);
        snprintf(want, sizeof want, "re:q%d", i);
        acto_client_msg_t m;
        assert_int_equal(acto_client_request(c, "svc.echo", q, strlen(q), 5000, &m), 0);
        assert_int_equal(m.len, strlen(want));
        assert_memory_equal(m.payload, want, m.len);
        /* a message for another subscription meanwhile is kept for next */
        if (i == 0)
            assert_int_equal(acto_client_publish(c, "side", NULL, "s", 1), 0);
    }
    pthread_join(t, NULL);
    NO_FAILURES();
    expect_msg(c, other, "side", "s");
    /* nobody answers: a timeout, and the client goes on working */
    acto_client_msg_t m;
    assert_int_equal(acto_client_request(c, "svc.none", "x", 1, 100, &m), ACTO_ETIMEDOUT);
    assert_int_equal(acto_client_ping(c, 5000), 0);
    assert_int_equal(acto_client_error(c, NULL), 0);
    acto_client_close(r.c);
    acto_client_close(c);
    broker_stop(&b, SIGTERM);
}

static void test_auth(void **state)
{
    (void)state;
    broker_t b;
    broker_start(&b, 0, "s3cret");
    acto_client_opts_t ok = { .token = "s3cret" };
    acto_client_t *c = connect_ok(&b, &ok);
    uint32_t sid;
    assert_int_equal(acto_client_subscribe(c, "auth.x", NULL, &sid), 0);
    assert_int_equal(acto_client_publish(c, "auth.x", NULL, "in", 2), 0);
    expect_msg(c, sid, "auth.x", "in");
    acto_client_close(c);
    /* wrong token, and none: refused at hello with err 9 */
    const char *tokens[2] = { "guess", NULL };
    for (int i = 0; i < 2; i++) {
        char err[256] = "";
        acto_client_opts_t bad = { .token = tokens[i], .errbuf = err, .errbuf_len = sizeof err };
        acto_client_t *x = NULL;
        assert_int_equal(acto_client_connect(b.addr, &bad, &x), ACTO_EPROTO);
        assert_null(x);
        assert_non_null(strstr(err, "authorization failed"));
    }
    broker_stop(&b, SIGTERM);
}

static void test_connect_errors(void **state)
{
    (void)state;
    acto_client_t *c = NULL;
    assert_int_equal(acto_client_connect("no port", NULL, &c), ACTO_EINVAL);
    acto_client_opts_t bad = { .reconnect = 7 };
    assert_int_equal(acto_client_connect("127.0.0.1:1", &bad, &c), ACTO_EINVAL);
    /* a port nobody listens on: refused, not retried */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof a;
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", ntohs(a.sin_port));
    assert_int_equal(acto_client_connect(addr, NULL, &c), ACTO_ECLOSED);
    assert_null(c);
    close(s);
}

/* Kill the broker, start it again on the same port: subscriptions come
 * back with their sids, and publishes made meanwhile are delivered. */
static void test_broker_restart(void **state)
{
    (void)state;
    broker_t b;
    broker_start(&b, 0, NULL);
    acto_client_opts_t o = { .reconnect_min_ms = 10, .reconnect_max_ms = 100 };
    acto_client_t *sub = connect_ok(&b, &o), *pub = connect_ok(&b, &o);
    uint32_t sid;
    assert_int_equal(acto_client_subscribe(sub, "r.*", NULL, &sid), 0);
    assert_int_equal(acto_client_publish(pub, "r.x", NULL, "before", 6), 0);
    assert_int_equal(acto_client_flush(pub, -1), 0);
    expect_msg(sub, sid, "r.x", "before");

    unsigned port = b.port;
    broker_stop(&b, SIGKILL);
    /* both notice: a ping cannot be answered while the broker is down */
    assert_int_not_equal(acto_client_ping(pub, 100), 0);
    assert_int_not_equal(acto_client_ping(sub, 100), 0);
    /* published while down: buffered, in order */
    for (int i = 0; i < 5; i++) {
        char p[8];
        snprintf(p, sizeof p, "buf%d", i);
        assert_int_equal(acto_client_publish(pub, "r.x", NULL, p, strlen(p)), 0);
    }
    broker_start(&b, port, NULL);
    /* the subscriber reconnects and resubscribes first (the ping is a
     * barrier), then the publisher sends what it buffered */
    assert_int_equal(acto_client_ping(sub, 10000), 0);
    assert_int_equal(acto_client_flush(pub, 10000), 0);
    for (int i = 0; i < 5; i++) {
        char p[8];
        snprintf(p, sizeof p, "buf%d", i);
        expect_msg(sub, sid, "r.x", p);
    }
    assert_true(acto_client_reconnects(sub) >= 1);
    assert_true(acto_client_reconnects(pub) >= 1);
    assert_int_equal(acto_client_publish(pub, "r.y", NULL, "after", 5), 0);
    assert_int_equal(acto_client_flush(pub, -1), 0);
    expect_msg(sub, sid, "r.y", "after");
    acto_client_close(sub);
    acto_client_close(pub);
    broker_stop(&b, SIGTERM);
}

/* Without reconnect, a dropped connection is final: ACTO_ECLOSED. */
static void test_no_reconnect(void **state)
{
    (void)state;
    broker_t b;
    broker_start(&b, 0, NULL);
    acto_client_opts_t o = { .reconnect = ACTO_CLIENT_RECONNECT_OFF };
    acto_client_t *c = connect_ok(&b, &o);
    broker_stop(&b, SIGKILL);
    acto_client_msg_t m;
    assert_int_equal(acto_client_next(c, &m, 5000), ACTO_ECLOSED);
    assert_int_equal(acto_client_publish(c, "x", NULL, "y", 1), ACTO_ECLOSED);
    acto_client_close(c);
}

/* reconnect_attempts bounds the retries: then the client is closed for good. */
static void test_reconnect_attempts(void **state)
{
    (void)state;
    broker_t b;
    broker_start(&b, 0, NULL);
    acto_client_opts_t o = { .reconnect_attempts = 3, .reconnect_min_ms = 1,
                             .reconnect_max_ms = 5 };
    acto_client_t *c = connect_ok(&b, &o);
    broker_stop(&b, SIGKILL);
    acto_client_msg_t m;
    assert_int_equal(acto_client_next(c, &m, 10000), ACTO_ECLOSED);
    assert_int_equal(acto_client_reconnects(c), 0);
    acto_client_close(c);
}

/* The actor client gives up after reconnect_attempts refused connects and
 * exits (its monitor fires). */
enum { G_START = 300 };
typedef struct giveup {
    char addr[64];
    acto_pid_t client;
    int down;
} giveup_t;

static int giveup_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    giveup_t *g = arg;
    if (acto_msg_type(msg) == G_START) {
        acto_client_opts_t o = { .reconnect_attempts = 3, .reconnect_min_ms = 1,
                                 .reconnect_max_ms = 5 };
        if (acto_client_start(ctx, g->addr, &o, &g->client) == 0)
            acto_monitor(ctx, g->client, NULL);
        acto_client_pub(ctx, g->client, "lost", NULL, "x", 1);   /* buffered, then dropped */
        return 0;
    }
    if (acto_msg_type(msg) == ACTO_MSG_DOWN) {
        g->down++;
        return acto_exit(ctx, ACTO_EXIT_NORMAL);
    }
    return 0;
}

static void test_actor_client_gives_up(void **state)
{
    (void)state;
    /* a port nobody listens on */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof a;
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
    giveup_t g = { .down = 0 };
    snprintf(g.addr, sizeof g.addr, "127.0.0.1:%u", ntohs(a.sin_port));
    acto_runtime_t *rt = tu_runtime(2);
    acto_pid_t p = tu_spawn_fn(acto_root(rt), giveup_recv, &g);
    assert_int_equal(acto_send_empty(acto_root(rt), p, G_START), 0);
    tu_run(rt);                             /* returns: the client exited */
    assert_int_equal(g.down, 1);
    acto_runtime_free(rt);
    close(s);
}

/* Tools with an auth token: --token and --token-file. */
static void test_tools_auth(void **state)
{
    (void)state;
    const char *d = tools_dir();
    broker_t b;
    broker_start(&b, 0, "s3cret");
    char tf[] = "/tmp/acto_test_token_XXXXXX";
    int fd = mkstemp(tf);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "s3cret\n", 7), 7);
    close(fd);
    assert_int_equal(run("%s/acto-pub --server %s --token s3cret a b", d, b.addr), 0);
    assert_int_equal(run("%s/acto-pub --server %s --token-file %s a b", d, b.addr, tf), 0);
    assert_int_equal(run("%s/acto-pub --server %s --token guess a b 2>/dev/null", d, b.addr), 1);
    assert_int_equal(run("%s/acto-pub --server %s a b 2>/dev/null", d, b.addr), 1);
    assert_int_equal(run("%s/acto-sub --server %s --token nope x 2>/dev/null", d, b.addr), 1);
    assert_int_equal(run("%s/acto-pub --token-file /nonexistent/file a b 2>/dev/null", d), 2);
    unlink(tf);
    broker_stop(&b, SIGTERM);
}

/* Buffering while disconnected is bounded: past max_buffered, ACTO_EAGAIN. */
static void test_buffer_bound(void **state)
{
    (void)state;
    broker_t b;
    broker_start(&b, 0, NULL);
    acto_client_opts_t o = { .max_buffered = 4096, .reconnect_min_ms = 60000,
                             .reconnect_max_ms = 60000 };
    acto_client_t *c = connect_ok(&b, &o);
    broker_stop(&b, SIGKILL);
    assert_int_not_equal(acto_client_ping(c, 100), 0);   /* notices the drop */
    char p[100] = { 0 };
    int ok = 0, rc;
    while ((rc = acto_client_publish(c, "buf", NULL, p, sizeof p)) == 0)
        ok++;
    assert_int_equal(rc, ACTO_EAGAIN);
    assert_true(ok >= 30 && ok <= 4096 / 100);
    acto_client_close(c);
}

/* 100,000 messages from one publisher to one subscriber through the
 * client: none lost, none reordered. */
typedef struct reader {
    acto_client_t *c;
    uint32_t n;
    uint32_t got, bad_order;
} reader_t;

static void *reader_main(void *arg)
{
    reader_t *r = arg;
    while (r->got < r->n) {
        acto_client_msg_t m;
        if (acto_client_next(r->c, &m, 10000) != 0)
            break;
        uint32_t v;
        if (m.len != sizeof v) {
            r->bad_order++;
            continue;
        }
        memcpy(&v, m.payload, sizeof v);
        if (v != r->got)
            r->bad_order++;
        r->got++;
    }
    return NULL;
}

static void test_no_loss_no_reorder(void **state)
{
    (void)state;
    broker_t b;
    broker_start(&b, 0, NULL);
    acto_client_t *sub = connect_ok(&b, NULL), *pub = connect_ok(&b, NULL);
    uint32_t sid;
    assert_int_equal(acto_client_subscribe(sub, "flow.1", NULL, &sid), 0);
    reader_t r = { .c = sub, .n = (uint32_t)tu_scale(100000, 20000) };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, reader_main, &r), 0);
    for (uint32_t i = 0; i < r.n; i++)
        assert_int_equal(acto_client_publish(pub, "flow.1", NULL, &i, sizeof i), 0);
    assert_int_equal(acto_client_flush(pub, 10000), 0);
    pthread_join(t, NULL);
    assert_int_equal(r.got, r.n);
    assert_int_equal(r.bad_order, 0);
    acto_client_close(sub);
    acto_client_close(pub);
    broker_stop(&b, SIGTERM);
}

/* ---- actor client --------------------------------------------------------------- */

#define LONG_SUBJECT "act.a-subject-token-longer-than-31-bytes"
enum { T_DELIVER = 100, T_SVC, T_REPLY, T_TIMEOUT, T_DEAD, T_TICK, T_SUB_AND_DIE };

typedef struct act_test {
    broker_t *b;
    acto_pid_t client;
    int phase;
    int delivered, replies, timeouts, after_restart, long_ok;
    uint64_t req_ref, slow_ref;
    int ticks;
    char err[128];
} act_test_t;

static int act_fail(act_test_t *t, acto_ctx_t *ctx, const char *why)
{
    snprintf(t->err, sizeof t->err, "%s", why);
    acto_client_stop(ctx, t->client);
    return acto_exit(ctx, ACTO_EXIT_NORMAL);
}

static int dier(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    act_test_t *t = arg;
    if (acto_msg_type(msg) == T_SUB_AND_DIE) {
        acto_client_sub(ctx, t->client, "dead.x", NULL, T_DEAD, NULL);
        return acto_exit(ctx, ACTO_EXIT_NORMAL);
    }
    return 0;
}

static int act_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    act_test_t *t = arg;
    acto_pubsub_msg_t pm;
    switch (acto_msg_type(msg)) {
    case T_TICK:                            /* first message: set everything up */
        if (t->phase == 0) {
            t->phase = 1;
            if (acto_client_start(ctx, t->b->addr,
                                  &(acto_client_opts_t){ .reconnect_min_ms = 10,
                                                         .reconnect_max_ms = 100 },
                                  &t->client))
                return act_fail(t, ctx, "start");
            acto_client_sub(ctx, t->client, "act.>", NULL, T_DELIVER, NULL);
            acto_client_sub(ctx, t->client, "svc.echo", NULL, T_SVC, NULL);
            /* a subscriber that dies at once: the client drops its sub */
            acto_pid_t d = tu_spawn_fn(ctx, dier, t);
            acto_send_empty(ctx, d, T_SUB_AND_DIE);
            /* same connection, in order: the sub is in effect.  A long
             * subject (str 8) and a 70,000-byte payload (bin 32) too. */
            static char big[70000];
            for (size_t i = 0; i < sizeof big; i++)
                big[i] = (char)(i * 7);
            acto_client_pub(ctx, t->client, LONG_SUBJECT, NULL, big, sizeof big);
            acto_client_pub(ctx, t->client, "act.one", "r.x", "p1", 2);
            return 0;
        }
        if (t->phase == 3) {                /* broker restarted: publish until one arrives */
            if (++t->ticks > 500)
                return act_fail(t, ctx, "no delivery after the restart");
            acto_client_pub(ctx, t->client, "act.after", NULL, "p2", 2);
            return acto_timer_start(ctx, 20 * 1000000ull, 0, T_TICK, NULL);
        }
        return 0;
    case T_DELIVER:
        if (acto_pubsub_read(msg, &pm))
            return act_fail(t, ctx, "acto_pubsub_read failed");
        if (acto_msg_from(msg) != t->client)
            return act_fail(t, ctx, "sender is not the client");
        if (pm.subject_len == strlen(LONG_SUBJECT)) {
            if (memcmp(pm.subject, LONG_SUBJECT, pm.subject_len) || pm.len != 70000 || pm.reply)
                return act_fail(t, ctx, "wrong long delivery");
            for (size_t i = 0; i < pm.len; i++)
                if (((const char *)pm.payload)[i] != (char)(i * 7))
                    return act_fail(t, ctx, "wrong long payload");
            t->long_ok++;
            return 0;
        }
        if (t->phase == 1) {
            if (pm.subject_len != 7 || memcmp(pm.subject, "act.one", 7) || pm.len != 2 ||
                memcmp(pm.payload, "p1", 2) || pm.reply_len != 3 || memcmp(pm.reply, "r.x", 3))
                return act_fail(t, ctx, "wrong delivery");
            t->delivered++;
            t->phase = 2;
            /* request/reply through our own responder subscription */
            acto_client_req(ctx, t->client, "svc.echo", "q", 1, 5000, T_REPLY, T_TIMEOUT,
                            &t->req_ref);
            acto_client_req(ctx, t->client, "svc.none", "q", 1, 50, T_REPLY, T_TIMEOUT,
                            &t->slow_ref);
            return 0;
        }
        if (t->phase == 3 && pm.subject_len == 9 && !memcmp(pm.subject, "act.after", 9)) {
            t->after_restart++;
            t->phase = 4;
            acto_client_stop(ctx, t->client);
            return acto_exit(ctx, ACTO_EXIT_NORMAL);
        }
        return 0;
    case T_SVC: {
        if (acto_pubsub_read(msg, &pm) || !pm.reply)
            return act_fail(t, ctx, "bad request");
        char reply[300], out[300];
        snprintf(reply, sizeof reply, "%.*s", (int)pm.reply_len, pm.reply);
        int n = snprintf(out, sizeof out, "re:%.*s", (int)pm.len, (const char *)pm.payload);
        return acto_client_pub(ctx, t->client, reply, NULL, out, (size_t)n);
    }
    case T_REPLY:
        if (acto_pubsub_read(msg, &pm) || pm.len != 4 || memcmp(pm.payload, "re:q", 4))
            return act_fail(t, ctx, "wrong reply");
        t->replies++;
        break;
    case T_TIMEOUT: {
        uint64_t ref;
        if (acto_msg_u64(msg, &ref) || ref != t->slow_ref)
            return act_fail(t, ctx, "timeout for the wrong request");
        t->timeouts++;
        break;
    }
    case T_DEAD:
        return act_fail(t, ctx, "delivery to a dead subscriber");
    default:
        return 0;
    }
    if (t->phase == 2 && t->replies == 1 && t->timeouts == 1) {
        /* kill and restart the broker; the client reconnects and resubscribes */
        t->phase = 3;
        unsigned port = t->b->port;
        broker_stop(t->b, SIGKILL);
        broker_start(t->b, port, NULL);
        return acto_timer_start(ctx, 20 * 1000000ull, 0, T_TICK, NULL);
    }
    return 0;
}

static void test_actor_client(void **state)
{
    (void)state;
    broker_t b;
    broker_start(&b, 0, NULL);
    acto_runtime_t *rt = tu_runtime(2);
    act_test_t t = { .b = &b };
    acto_pid_t a = tu_spawn_fn(acto_root(rt), act_recv, &t);
    assert_int_equal(acto_send_empty(acto_root(rt), a, T_TICK), 0);
    tu_run(rt);                              /* returns once the client has stopped */
    if (t.err[0])
        fail_msg("actor client: %s (phase %d)", t.err, t.phase);
    assert_int_equal(t.delivered, 1);
    assert_int_equal(t.replies, 1);
    assert_int_equal(t.timeouts, 1);
    assert_int_equal(t.after_restart, 1);
    assert_int_equal(t.long_ok, 1);
    acto_runtime_free(rt);
    broker_stop(&b, SIGTERM);
}

/* A subscriber that exits is unsubscribed at the broker (the client
 * monitors it): the broker's subscription count drops back. */
enum { M_START = 200, M_GO, M_DEAD_MSG, M_ALIVE_MSG, M_B_DONE, M_TICK, M_UNSUB_TICK };

typedef struct mon_test {
    broker_t *b;
    acto_pid_t client, a;
    acto_client_t *bc;                      /* blocking client for stats (in a) */
    int ticks, dead_got, alive_got, unsubbed;
    uint64_t alive_ref;
    char err[128];
} mon_test_t;

static int mon_fail(mon_test_t *t, acto_ctx_t *ctx, const char *why)
{
    snprintf(t->err, sizeof t->err, "%s", why);
    acto_client_close(t->bc);
    t->bc = NULL;
    acto_client_stop(ctx, t->client);
    return acto_exit(ctx, ACTO_EXIT_NORMAL);
}

static int mon_b(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    mon_test_t *t = arg;
    switch (acto_msg_type(msg)) {
    case M_GO:                              /* sub, then pub through the same client */
        acto_client_sub(ctx, t->client, "dead.x", NULL, M_DEAD_MSG, NULL);
        return acto_client_pub(ctx, t->client, "dead.x", NULL, "d", 1);
    case M_DEAD_MSG:
        t->dead_got++;
        acto_send_empty(ctx, t->a, M_B_DONE);
        return acto_exit(ctx, ACTO_EXIT_NORMAL);   /* the client must unsubscribe */
    }
    return 0;
}

static int mon_a(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    mon_test_t *t = arg;
    acto_client_stats_t st;
    switch (acto_msg_type(msg)) {
    case M_START:
        t->a = acto_self(ctx);
        if (acto_client_start(ctx, t->b->addr, NULL, &t->client))
            return mon_fail(t, ctx, "start");
        acto_client_sub(ctx, t->client, "alive.x", NULL, M_ALIVE_MSG, &t->alive_ref);
        return acto_send_empty(ctx, tu_spawn_fn(ctx, mon_b, t), M_GO);
    case M_B_DONE:
        if (acto_client_connect(t->b->addr, NULL, &t->bc))
            return mon_fail(t, ctx, "blocking connect");
        /* poll the broker's counters */
        __attribute__((fallthrough));
    case M_TICK:
        if (acto_client_stats(t->bc, &st, 5000))
            return mon_fail(t, ctx, "stats");
        if (st.subscriptions == 1) {        /* dead.x is gone; alive.x must still work */
            if (acto_client_publish(t->bc, "alive.x", NULL, "ok", 2) ||
                acto_client_flush(t->bc, 5000))
                return mon_fail(t, ctx, "publish");
            return 0;
        }
        if (++t->ticks > 500)
            return mon_fail(t, ctx, "the dead subscriber's subscription stayed");
        return acto_timer_start(ctx, 10 * 1000000ull, 0, M_TICK, NULL);
    case M_ALIVE_MSG:
        /* unsubscribe by ref: the broker's count drops to 0 */
        t->alive_got++;
        acto_client_unsub(ctx, t->client, t->alive_ref, 0);
        return acto_send_empty(ctx, acto_self(ctx), M_UNSUB_TICK);
    case M_UNSUB_TICK:
        if (acto_client_stats(t->bc, &st, 5000))
            return mon_fail(t, ctx, "stats");
        if (st.subscriptions != 0) {
            if (++t->ticks > 1000)
                return mon_fail(t, ctx, "unsubscribe did not reach the broker");
            return acto_timer_start(ctx, 10 * 1000000ull, 0, M_UNSUB_TICK, NULL);
        }
        t->unsubbed = 1;
        acto_client_close(t->bc);
        t->bc = NULL;
        acto_client_stop(ctx, t->client);
        return acto_exit(ctx, ACTO_EXIT_NORMAL);
    }
    return 0;
}

static void test_actor_client_monitor(void **state)
{
    (void)state;
    broker_t b;
    broker_start(&b, 0, NULL);
    acto_runtime_t *rt = tu_runtime(2);
    mon_test_t t = { .b = &b };
    acto_pid_t a = tu_spawn_fn(acto_root(rt), mon_a, &t);
    assert_int_equal(acto_send_empty(acto_root(rt), a, M_START), 0);
    tu_run(rt);
    if (t.err[0])
        fail_msg("monitor: %s", t.err);
    assert_int_equal(t.dead_got, 1);
    assert_int_equal(t.alive_got, 1);
    assert_int_equal(t.unsubbed, 1);
    acto_runtime_free(rt);
    broker_stop(&b, SIGTERM);
}

static void test_actor_client_errors(void **state)
{
    (void)state;
    acto_runtime_t *rt = tu_runtime(1);
    acto_ctx_t *ctx = acto_root(rt);
    acto_pid_t c;
    assert_int_equal(acto_client_start(ctx, "nonsense", NULL, &c), ACTO_EINVAL);
    /* not an actor: deliveries need one */
    assert_int_equal(acto_client_sub(ctx, 1, "a", NULL, 5, NULL), ACTO_ESTATE);
    assert_int_equal(acto_client_sub(ctx, 1, "a..b", NULL, 5, NULL), ACTO_EINVAL);
    assert_int_equal(acto_client_sub(ctx, 1, "a", NULL, ACTO_MSG_SYSTEM, NULL), ACTO_EINVAL);
    assert_int_equal(acto_client_pub(ctx, 1, "a.*", NULL, "x", 1), ACTO_EINVAL);
    assert_int_equal(acto_client_pub(ctx, 1, "a", "b c", "x", 1), ACTO_EINVAL);
    acto_runtime_free(rt);
}

static void test_tools(void **state)
{
    (void)state;
    const char *d = tools_dir();
    broker_t b;
    broker_start(&b, 0, NULL);
    char out[] = "/tmp/acto_test_sub_XXXXXX";
    int fd = mkstemp(out);
    assert_true(fd >= 0);
    close(fd);
    /* acto-sub --count 3 in the background; publish until it has its 3
     * (the first publishes may come before it has subscribed) */
    pid_t sub = fork();
    assert_true(sub >= 0);
    if (sub == 0) {
        char bin[1024];
        snprintf(bin, sizeof bin, "%s/acto-sub", d);
        prctl(PR_SET_PDEATHSIG, SIGKILL);   /* dies with the test */
        if (!freopen(out, "w", stdout))
            _exit(99);
        execl(bin, bin, "--server", b.addr, "--count", "3", "tools.>", (char *)NULL);
        _exit(98);
    }
    int st = -1, i;
    for (i = 0; i < 300; i++) {
        assert_int_equal(run("%s/acto-pub --server %s tools.x m%d", d, b.addr, i), 0);
        if (waitpid(sub, &st, WNOHANG) == sub)
            break;
        usleep(20000);
    }
    if (i == 300) {
        kill(sub, SIGKILL);
        waitpid(sub, &st, 0);
        fail_msg("acto-sub did not receive 3 messages");
    }
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    FILE *f = fopen(out, "r");
    assert_non_null(f);
    char line[128];
    int first = -1, n = 0;
    while (fgets(line, sizeof line, f)) {
        int k;
        assert_int_equal(sscanf(line, "tools.x m%d", &k), 1);
        if (first < 0)
            first = k;
        assert_int_equal(k, first + n);     /* consecutive and in order */
        n++;
    }
    fclose(f);
    assert_int_equal(n, 3);
    /* stdin mode: one message per line, --raw prints payloads only */
    pid_t sub2 = fork();
    if (sub2 == 0) {
        char bin[1024];
        snprintf(bin, sizeof bin, "%s/acto-sub", d);
        prctl(PR_SET_PDEATHSIG, SIGKILL);   /* dies with the test */
        if (!freopen(out, "w", stdout))
            _exit(99);
        execl(bin, bin, "--server", b.addr, "--count", "2", "--raw", "lines", (char *)NULL);
        _exit(98);
    }
    for (i = 0; i < 300; i++) {
        assert_int_equal(run("printf 'one\\ntwo\\n' | %s/acto-pub --server %s lines", d, b.addr), 0);
        if (waitpid(sub2, &st, WNOHANG) == sub2)
            break;
        usleep(20000);
    }
    assert_true(i < 300);
    f = fopen(out, "r");
    assert_non_null(f);
    char l1[32] = "", l2[32] = "";
    assert_non_null(fgets(l1, sizeof l1, f));
    assert_non_null(fgets(l2, sizeof l2, f));
    fclose(f);
    assert_string_equal(l1, "one\n");
    assert_string_equal(l2, "two\n");
    unlink(out);

    /* acto-req against a responder */
    responder_t r;
    pthread_t t;
    start_responder(&b, &r, &t, 1);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/acto-req --server %s --timeout 5000 svc.echo hi", d, b.addr);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char reply[64] = "";
    assert_non_null(fgets(reply, sizeof reply, p));
    assert_int_equal(WEXITSTATUS(pclose(p)), 0);
    assert_string_equal(reply, "re:hi\n");
    pthread_join(t, NULL);
    NO_FAILURES();
    acto_client_close(r.c);
    /* no responder: timeout, exit 1 */
    assert_int_equal(run("%s/acto-req --server %s --timeout 100 svc.none hi 2>/dev/null", d,
                         b.addr), 1);

    /* usage errors: exit 2 */
    assert_int_equal(run("%s/acto-pub 2>/dev/null", d), 2);
    assert_int_equal(run("%s/acto-pub --bogus x y 2>/dev/null", d), 2);
    assert_int_equal(run("%s/acto-sub 2>/dev/null", d), 2);
    assert_int_equal(run("%s/acto-sub --count zero x 2>/dev/null", d), 2);
    assert_int_equal(run("%s/acto-req onlysubject 2>/dev/null", d), 2);
    assert_int_equal(run("%s/acto-req --timeout -5 a b 2>/dev/null", d), 2);
    assert_int_equal(run("%s/acto-pub --server %s 'a..b' x 2>/dev/null", d, b.addr), 2);
    assert_int_equal(run("%s/acto-sub --server %s --count 1 'a.>.b' 2>/dev/null", d, b.addr), 2);
    assert_int_equal(run("%s/acto-req --server %s 'a.*' x 2>/dev/null", d, b.addr), 2);
    assert_int_equal(run("%s/acto-pub --help >/dev/null", d), 0);
    assert_int_equal(run("%s/acto-sub --help >/dev/null", d), 0);
    assert_int_equal(run("%s/acto-req --help >/dev/null", d), 0);
    broker_stop(&b, SIGTERM);
    /* refused connection: exit 1, with a message on stderr */
    assert_int_equal(run("%s/acto-pub --server %s x y 2>/dev/null", d, b.addr), 1);
    assert_int_equal(run("%s/acto-sub --server %s x 2>/dev/null", d, b.addr), 1);
    assert_int_equal(run("%s/acto-req --server %s x y 2>/dev/null", d, b.addr), 1);
}

/* After each test: stop the brokers a failed test left running. */
static int teardown(void **state)
{
    (void)state;
    live_stop(0, SIGKILL);
    return 0;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    /* ACTO_TEST_FILTER=test_auth runs only the tests whose names match */
    const char *filter = getenv("ACTO_TEST_FILTER");
    if (filter && *filter)
        cmocka_set_test_filter(filter);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_pubsub_roundtrip, teardown),
        cmocka_unit_test_teardown(test_queue_group, teardown),
        cmocka_unit_test_teardown(test_unsub_after_n, teardown),
        cmocka_unit_test_teardown(test_request_reply, teardown),
        cmocka_unit_test_teardown(test_auth, teardown),
        cmocka_unit_test_teardown(test_connect_errors, teardown),
        cmocka_unit_test_teardown(test_broker_restart, teardown),
        cmocka_unit_test_teardown(test_no_reconnect, teardown),
        cmocka_unit_test_teardown(test_reconnect_attempts, teardown),
        cmocka_unit_test_teardown(test_buffer_bound, teardown),
        cmocka_unit_test_teardown(test_no_loss_no_reorder, teardown),
        cmocka_unit_test_teardown(test_actor_client, teardown),
        cmocka_unit_test_teardown(test_actor_client_monitor, teardown),
        cmocka_unit_test_teardown(test_actor_client_errors, teardown),
        cmocka_unit_test_teardown(test_actor_client_gives_up, teardown),
        cmocka_unit_test_teardown(test_tools, teardown),
        cmocka_unit_test_teardown(test_tools_auth, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
