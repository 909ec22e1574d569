/* tests/test_bench_pubsub.c - acto-bench-pubsub, the pub/sub load generator.
 *
 * The tool runs as a child process (path from CMake), as users run it:
 *  - usage errors exit 2 with a message on stderr, --help exits 0;
 *  - against a fake broker (a thread here, speaking docs/protocol.md with
 *    net/proto.h) that drops or swaps deliveries on purpose, the figures
 *    say exactly how many were lost, and a reordering fails the run;
 *  - against acto-broker (a child process) with small counts: every
 *    message arrives (lost 0) in 1->1, fan-out, many subjects, paced and
 *    1 KiB runs, and the output has the documented keys.
 * Loopback only; every run is bounded by the tool's own timeouts.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <msgpack.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/proto.h"

#ifndef ACTO_BENCH_PUBSUB
#error "ACTO_BENCH_PUBSUB (the acto-bench-pubsub path) must be defined by CMake"
#endif

/* ---- running a program ---------------------------------------------------------- */

typedef struct {
    int status;             /* exit code, or 128 + signal */
    char out[16384];        /* stdout */
    char err[16384];        /* stderr (also copied to ours for ctest) */
} run_t;

/* Read what fd has into buf (what does not fit is read and dropped). */
static void drain(int fd, char *buf, size_t cap, size_t *len, int *open)
{
    char sink[4096];
    int room = *len < cap - 1;
    ssize_t n = room ? read(fd, buf + *len, cap - 1 - *len) : read(fd, sink, sizeof sink);
    if (n > 0 && room)
        *len += (size_t)n;
    if (n == 0 || (n < 0 && errno != EINTR)) {
        *open = 0;
        close(fd);
    }
}

/* Run argv (NULL-terminated) to its end, collecting stdout and stderr. */
static void run_prog(char *const argv[], run_t *r)
{
    int po[2], pe[2];
    assert_int_equal(pipe(po), 0);
    assert_int_equal(pipe(pe), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]), close(po[1]), close(pe[0]), close(pe[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    size_t lo = 0, le = 0;
    int oo = 1, oe = 1;
    while (oo || oe) {
        struct pollfd p[2] = { { oo ? po[0] : -1, POLLIN, 0 }, { oe ? pe[0] : -1, POLLIN, 0 } };
        if (poll(p, 2, -1) < 0)
            continue;
        if (p[0].revents)
            drain(po[0], r->out, sizeof r->out, &lo, &oo);
        if (p[1].revents)
            drain(pe[0], r->err, sizeof r->err, &le, &oe);
    }
    r->out[lo] = r->err[le] = 0;
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    fputs(r->err, stderr);
}

/* The value of `key` in the tool's `key value` output; fails if absent. */
static double value(const run_t *r, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = r->out; *p;) {
        if (strncmp(p, key, kl) == 0 && p[kl] == ' ')
            return strtod(p + kl + 1, NULL);
        const char *nl = strchr(p, '\n');
        if (!nl)
            break;
        p = nl + 1;
    }
    fail_msg("no '%s' in the output:\n%s", key, r->out);
    return 0;
}

/* Run the tool with up to 20 extra arguments. */
static void bench(run_t *r, const char *const *args)
{
    char *argv[24] = { (char *)ACTO_BENCH_PUBSUB };
    int n = 1;
    for (; args[n - 1]; n++)
        argv[n] = (char *)args[n - 1];
    argv[n] = NULL;
    run_prog(argv, r);
}

static run_t R;     /* big: not on the stack */

/* ---- usage ------------------------------------------------------------------------ */

static void expect_usage_error(const char *const *args)
{
    bench(&R, args);
    if (R.status != 2)
        fail_msg("%s %s: exit %d, expected 2", args[0], args[1] ? args[1] : "", R.status);
    assert_true(strlen(R.err) > 0);
    assert_string_equal(R.out, "");
}

static void test_usage_errors(void **state)
{
    (void)state;
    expect_usage_error((const char *[]){ "--bogus", NULL });
    expect_usage_error((const char *[]){ "--proto", "mqtt", NULL });
    expect_usage_error((const char *[]){ "--size", "8", NULL });
    expect_usage_error((const char *[]){ "--size", "16x", NULL });
    expect_usage_error((const char *[]){ "--count", "0", NULL });
    expect_usage_error((const char *[]){ "--count", "-5", NULL });
    expect_usage_error((const char *[]){ "--pubs", "0", NULL });
    expect_usage_error((const char *[]){ "--rate", "0", NULL });
    expect_usage_error((const char *[]){ "--count", "10", "--duration", "1", NULL });
    expect_usage_error((const char *[]){ "--subjects", "3", "--subs", "2", NULL });
    expect_usage_error((const char *[]){ "--server", "nowhere", NULL });
    expect_usage_error((const char *[]){ "--server", "127.0.0.1:70000", NULL });
    expect_usage_error((const char *[]){ "extra", NULL });
    expect_usage_error((const char *[]){ "--count", NULL });
}

static void test_help(void **state)
{
    (void)state;
    bench(&R, (const char *[]){ "--help", NULL });
    assert_int_equal(R.status, 0);
    assert_non_null(strstr(R.out, "usage: acto-bench-pubsub"));
    assert_non_null(strstr(R.out, "--proto"));
}

/* A port nothing listens on: bound, then closed. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void test_no_server(void **state)
{
    (void)state;
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", closed_port());
    bench(&R, (const char *[]){ "--server", addr, "--count", "10", NULL });
    assert_int_equal(R.status, 1);
    assert_non_null(strstr(R.err, "connect"));
    assert_string_equal(R.out, "");
}

/* ---- a fake broker that loses or reorders on purpose ------------------------------- */

enum { FAKE_DROP, FAKE_SWAP };
typedef struct {
    int mode;           /* FAKE_DROP: drop every 100th pub; FAKE_SWAP: swap pubs 50 and 51 */
    int lfd;
    int port;
    int sub_fd;         /* the subscriber's connection, -1 until it subscribes */
    uint32_t sid;
    unsigned long pubs;
    msgpack_sbuffer held;   /* FAKE_SWAP: pub 50's msg frame, sent after 51 */
} fake_t;

static void send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
        if (k <= 0) {
            if (k < 0 && errno == EINTR)
                continue;
            return;     /* the tool went away: it reports on its own */
        }
        c += k;
        n -= (size_t)k;
    }
}

static void send_op(int fd, const proto_op_t *op)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    CHECK(proto_pack_frame(&pk, op) == 0);
    send_all(fd, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

static void fake_pub(fake_t *f, const proto_op_t *d)
{
    unsigned long n = ++f->pubs;
    if (f->sub_fd < 0 || (f->mode == FAKE_DROP && n % 100 == 0))
        return;
    proto_op_t m = { .op = PROTO_MSG };
    m.u.msg.sid = f->sid;
    m.u.msg.subject = d->u.pub.subject;
    m.u.msg.reply = d->u.pub.reply;
    m.u.msg.payload = d->u.pub.payload;
    m.u.msg.len = d->u.pub.len;
    if (f->mode == FAKE_SWAP && n == 50) {
        msgpack_packer pk;
        msgpack_packer_init(&pk, &f->held, msgpack_sbuffer_write);
        CHECK(proto_pack_frame(&pk, &m) == 0);
        return;
    }
    send_op(f->sub_fd, &m);
    if (f->mode == FAKE_SWAP && n == 51)
        send_all(f->sub_fd, f->held.data, f->held.size);
}

/* One client frame: answer it the way acto-broker would. */
static void fake_frame(fake_t *f, int fd, const msgpack_object *o)
{
    CHECK(o->type == MSGPACK_OBJECT_ARRAY && o->via.array.size >= 1);
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 1)
        return;
    uint32_t op = (uint32_t)o->via.array.ptr[0].via.u64;
    proto_op_t d, r = { 0 };
    CHECK(proto_decode(op, o->via.array.size == 2 ? &o->via.array.ptr[1] : NULL,
                       PROTO_PEER_CLIENT, 0, &d) == 0);
    switch (op) {
    case PROTO_HELLO:
        r.op = PROTO_WELCOME;
        r.u.welcome.version = 1;
        r.u.welcome.server = (proto_str_t){ "fake", 4 };
        r.u.welcome.max_payload = PROTO_MAX_PAYLOAD_DEFAULT;
        send_op(fd, &r);
        break;
    case PROTO_SUB:
        f->sub_fd = fd;
        f->sid = d.u.sub.sid;
        r.op = PROTO_OK;
        r.u.ok.op = PROTO_SUB;
        r.u.ok.sid = d.u.sub.sid;
        send_op(fd, &r);
        break;
    case PROTO_PING: send_all(fd, "\x91\x04", 2); break;
    case PROTO_PUB: fake_pub(f, &d); break;
    default: CHECK(!"unexpected op from acto-bench-pubsub"); break;
    }
}

/* Serve the tool's two connections (1 publisher, 1 subscriber) until it
 * has closed both, or 60 s pass. */
static void *fake_main(void *arg)
{
    fake_t *f = arg;
    struct pollfd p[3] = { { f->lfd, POLLIN, 0 }, { -1, POLLIN, 0 }, { -1, POLLIN, 0 } };
    msgpack_unpacker up[3];
    msgpack_unpacked res;
    msgpack_unpacked_init(&res);
    int nconn = 0, open = 0;
    uint64_t end = tu_now_ns() + 60000000000ull;
    while ((nconn < 2 || open > 0) && tu_now_ns() < end) {
        if (poll(p, 3, 100) <= 0)
            continue;
        if ((p[0].revents & POLLIN) && nconn < 2) {
            int fd = accept(f->lfd, NULL, NULL);
            if (fd >= 0) {
                p[1 + nconn].fd = fd;
                msgpack_unpacker_init(&up[1 + nconn], 4096);
                nconn++, open++;
            }
        }
        for (int i = 1; i < 3; i++) {
            if (p[i].fd < 0 || !p[i].revents)
                continue;
            msgpack_unpacker_reserve_buffer(&up[i], 65536);
            ssize_t n = recv(p[i].fd, msgpack_unpacker_buffer(&up[i]),
                             msgpack_unpacker_buffer_capacity(&up[i]), 0);
            if (n <= 0) {
                close(p[i].fd);
                p[i].fd = -1;
                msgpack_unpacker_destroy(&up[i]);
                open--;
                continue;
            }
            msgpack_unpacker_buffer_consumed(&up[i], (size_t)n);
            while (msgpack_unpacker_next(&up[i], &res) == MSGPACK_UNPACK_SUCCESS)
                fake_frame(f, p[i].fd, &res.data);
        }
    }
    for (int i = 1; i < 3; i++)
        if (p[i].fd >= 0) {
            close(p[i].fd);
            msgpack_unpacker_destroy(&up[i]);
        }
    msgpack_unpacked_destroy(&res);
    return NULL;
}

static void fake_run(int mode, const char *count)
{
    fake_t f = { .mode = mode, .sub_fd = -1 };
    msgpack_sbuffer_init(&f.held);
    f.lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    assert_int_equal(bind(f.lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(f.lfd, 16), 0);
    assert_int_equal(getsockname(f.lfd, (struct sockaddr *)&a, &len), 0);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(a.sin_port));
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, fake_main, &f), 0);
    /* --timeout 1: the dropped messages never come; do not wait long */
    bench(&R, (const char *[]){ "--server", addr, "--count", count, "--timeout", "1", NULL });
    pthread_join(th, NULL);
    close(f.lfd);
    msgpack_sbuffer_destroy(&f.held);
    NO_FAILURES();
}

static void test_fake_drops_counted(void **state)
{
    (void)state;
    fake_run(FAKE_DROP, "1000");
    assert_int_equal(R.status, 0);      /* loss is a figure, not a failure */
    assert_int_equal((int)value(&R, "published"), 1000);
    assert_int_equal((int)value(&R, "received"), 990);
    assert_int_equal((int)value(&R, "lost"), 10);
    assert_int_equal((int)value(&R, "reordered"), 0);
}

static void test_fake_reorder_fails(void **state)
{
    (void)state;
    fake_run(FAKE_SWAP, "200");
    assert_int_equal(R.status, 1);
    assert_int_equal((int)value(&R, "received"), 200);
    assert_int_equal((int)value(&R, "lost"), 0);
    assert_int_equal((int)value(&R, "reordered"), 1);
    assert_non_null(strstr(R.err, "FAILED"));
}

/* ---- against acto-broker ---------------------------------------------------------------- */

#ifdef ACTO_BROKER
static pid_t broker_pid;
static char broker_addr[64], broker_pid_text[16];

/* Start acto-broker on a free port; read its `listening on` line. */
static int broker_start(void **state)
{
    (void)state;
    int po[2];
    if (pipe(po) != 0)
        return -1;
    broker_pid = fork();
    if (broker_pid < 0)
        return -1;
    if (broker_pid == 0) {
        dup2(po[1], 1);
        close(po[0]), close(po[1]);
        execl(ACTO_BROKER, ACTO_BROKER, "--listen", "127.0.0.1:0", "--workers", "1",
              (char *)NULL);
        _exit(127);
    }
    close(po[1]);
    FILE *f = fdopen(po[0], "r");
    char line[128] = "";
    int ok = f && fgets(line, sizeof line, f) &&
             sscanf(line, "listening on %63s", broker_addr) == 1;
    if (f)
        fclose(f);
    snprintf(broker_pid_text, sizeof broker_pid_text, "%d", (int)broker_pid);
    if (!ok)
        fprintf(stderr, "acto-broker printed no address (got '%s')\n", line);
    return ok ? 0 : -1;
}

static int broker_stop(void **state)
{
    (void)state;
    if (broker_pid > 0) {
        kill(broker_pid, SIGTERM);
        waitpid(broker_pid, NULL, 0);
    }
    return 0;
}

/* Run the tool against the broker; every delivery must arrive. */
static void broker_bench(const char *const *args)
{
    const char *all[24] = { "--server", broker_addr, "--timeout", "10" };
    int n = 4;
    for (int i = 0; args[i] && n < 22; i++)
        all[n++] = args[i];
    all[n] = NULL;
    bench(&R, all);
    assert_int_equal(R.status, 0);
    assert_true(value(&R, "received") > 0);
    assert_int_equal(value(&R, "expected"), value(&R, "received"));
    assert_int_equal((long)value(&R, "lost"), 0);
    assert_int_equal((long)value(&R, "reordered"), 0);
    assert_int_equal((long)value(&R, "corrupt"), 0);
    assert_int_equal((long)value(&R, "disconnects"), 0);
}

static void test_broker_1to1(void **state)
{
    (void)state;
    broker_bench((const char *[]){ "--count", "20000", NULL });
    assert_int_equal((long)value(&R, "published"), 20000);
    assert_true(value(&R, "msgs_per_s") > 0);
    assert_true(value(&R, "deliveries_per_s") > 0);
    assert_true(value(&R, "mb_per_s") > 0);
    assert_true(value(&R, "p50_us") <= value(&R, "p99_us"));
    assert_true(value(&R, "p99_us") <= value(&R, "p999_us"));
    assert_true(value(&R, "elapsed_s") > 0);
}

static void test_broker_fanout(void **state)
{
    (void)state;
    broker_bench((const char *[]){ "--pubs", "2", "--subs", "3", "--count", "10001", NULL });
    assert_int_equal((long)value(&R, "published"), 10001);
    assert_int_equal((long)value(&R, "received"), 30003);
}

static void test_broker_subjects(void **state)
{
    (void)state;
    broker_bench((const char *[]){ "--subjects", "50", "--count", "5000", "--window", "100",
                                   NULL });
    assert_int_equal((long)value(&R, "subs"), 50);
    assert_int_equal((long)value(&R, "received"), 5000);
}

static void test_broker_paced_1k(void **state)
{
    (void)state;
    broker_bench((const char *[]){ "--size", "1024", "--rate", "2000", "--duration", "0.5",
                                   "--server-pid", broker_pid_text, NULL });
    assert_int_equal((long)value(&R, "published"), 1000);
    assert_int_equal((long)value(&R, "size"), 1024);
    assert_true(value(&R, "cpu_ns_per_msg") >= 0);
    value(&R, "broker_bytes_per_conn");
    value(&R, "p999_us");
}

/* A payload over what welcome announces: refused before anything is sent. */
static void test_broker_payload_too_big(void **state)
{
    (void)state;
    char size[32];
    snprintf(size, sizeof size, "%u", PROTO_MAX_PAYLOAD_DEFAULT + 1);
    bench(&R, (const char *[]){ "--server", broker_addr, "--size", size, "--count", "3", NULL });
    assert_int_equal(R.status, 1);
    assert_non_null(strstr(R.err, "max payload"));
    assert_string_equal(R.out, "");
}
#endif

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_no_server),
        cmocka_unit_test(test_fake_drops_counted),
        cmocka_unit_test(test_fake_reorder_fails),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
#ifdef ACTO_BROKER
    const struct CMUnitTest broker_tests[] = {
        cmocka_unit_test(test_broker_1to1),
        cmocka_unit_test(test_broker_fanout),
        cmocka_unit_test(test_broker_subjects),
        cmocka_unit_test(test_broker_paced_1k),
        cmocka_unit_test(test_broker_payload_too_big),
    };
    rc |= cmocka_run_group_tests(broker_tests, broker_start, broker_stop);
#endif
    return rc;
}
