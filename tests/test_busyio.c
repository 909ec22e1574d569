/* tests/test_busyio.c - the per-turn I/O hook of a busy worker (issue 3).
 *
 * The quiet-worker rule (runtime/internal.h, worker_turn): a busy worker
 * with no I/O outstanding makes no system call in its reaps, and one with
 * I/O outstanding still gets its completions, due timers and commands from
 * other threads while it never goes idle.  System calls are counted by the
 * proactor itself (px->reap_kcalls, owner thread): the actors here read it
 * on the worker that owns it.
 *
 * One worker, so the actor that keeps the worker busy and the proactor
 * that must reap are on the same thread and the worker never idles (the
 * idle path reaps too, and would hide a busy worker that never does).
 * Registered three times (tests/CMakeLists.txt): io_uring (DEFER_TASKRUN with
 * TASKRUN_FLAG), io_uring without the flag (ACTO_URING_SETUP=defer), epoll. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"
#include "internal.h"
#include "proactor_impl.h"

enum { MSG_GO = 1, MSG_START, MSG_BALL, MSG_SPIN, MSG_TICK, MSG_FAR };
enum { T_ACCEPT = 1, T_RECV, T_LCLOSE, T_CCLOSE };
#define WARM_BALLS 256     /* balls played before counting (test_armed_idle_socket) */

/* A liveness guard, not a performance threshold: a busy worker that never
 * reaps would spin forever; fail after a bound far beyond any scheduling
 * delay instead. */
#define GUARD_NS (20ull * 1000000000ull)

static acto_px_t *my_px(acto_ctx_t *ctx) { return ctx->w->px; }

static int listen_loopback(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) || listen(fd, 4) ||
        getsockname(fd, (struct sockaddr *)&sa, &sl)) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

static acto_runtime_t *one_worker(void)
{
    acto_runtime_t *rt = tu_runtime(1);
    assert_int_equal(rt->nworkers, 1);
    return rt;
}

/* ---- a ping-pong with nothing in the kernel: no system call ---------------------------- */

typedef struct {
    acto_pid_t ping, pong;
    int64_t n;
    bool with_listener;        /* keep an accept armed (I/O outstanding) */
    uint64_t k0, k1;           /* reap_kcalls when the ball starts / stops */
    uint64_t runs0, runs1;     /* turns the worker ran meanwhile */
    bool peeks;                /* the backend's reap_peeks */
    uint64_t far;              /* a timer armed the whole time, never due */
    px_fd_t *lfd;
    uint16_t port;
    int closed;
} pp_t;

static int pp_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    (void)ctx;
    memcpy(state, arg, sizeof(void *));
    return 0;
}

static int ping_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    pp_t *t = *(pp_t **)state;
    uint32_t type = acto_msg_type(msg);
    int64_t left;
    if (type == MSG_GO) {
        /* Armed, not due: the wheel is looked at every reap, in user space. */
        CHECK(acto_timer_start(ctx, 3600ull * 1000000000ull, 0, MSG_FAR, &t->far) == 0);
        if (t->with_listener) {
            int fd = listen_loopback(&t->port);
            CHECK(fd >= 0);
            CHECK(px_fd_open(ctx, fd, &t->lfd) == 0);
            CHECK(px_accept(ctx, t->lfd, T_ACCEPT, NULL) == 0);
        }
        return acto_send_empty(ctx, t->pong, MSG_START);
    }
    if (type == MSG_START)     /* WARM_BALLS first: see below */
        return acto_send_i64(ctx, t->pong, MSG_BALL, t->n + WARM_BALLS);
    if (type == MSG_BALL) {
        CHECK(acto_msg_i64(msg, &left) == 0);
        if (left == t->n) {
            /* The accept went in with the first reap after the turn that
             * queued it (epoll: when that turn ended; io_uring: SQEs wait
             * for the reap every WORKER_REAP_TURNS turns): WARM_BALLS balls
             * are many more turns than that, so from here on a reap system
             * call could only be the kernel being asked for completions. */
            t->peeks = my_px(ctx)->reap_peeks;
            t->k0 = my_px(ctx)->reap_kcalls;
            t->runs0 = ctx->w->runs;
        }
        if (left > 0)
            return acto_send_i64(ctx, t->pong, MSG_BALL, left - 1);
        t->k1 = my_px(ctx)->reap_kcalls;
        t->runs1 = ctx->w->runs;
        CHECK(acto_timer_cancel(ctx, t->far) == 0);
        if (t->lfd)
            CHECK(px_close(ctx, t->lfd, T_LCLOSE) == 0);
        return 0;
    }
    px_completion_t c;
    if (px_completion_parse(ctx, msg, &c) == 0 && c.tag == T_LCLOSE)
        t->closed++;
    return 0;
}

static int pong_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    (void)state;
    int64_t left;
    if (acto_msg_type(msg) == MSG_START)
        return acto_reply_empty(ctx, msg, MSG_START);
    CHECK(acto_msg_i64(msg, &left) == 0);
    return acto_reply_i64(ctx, msg, MSG_BALL, left - 1);
}

static void run_pingpong(pp_t *t)
{
    static const acto_behavior_t pb = { .name = "ping", .state_size = sizeof(void *),
                                        .init = pp_init, .receive = ping_recv };
    static const acto_behavior_t qb = { .name = "pong", .state_size = sizeof(void *),
                                        .init = pp_init, .receive = pong_recv };
    acto_runtime_t *rt = one_worker();
    pp_t *tp = t;
    assert_int_equal(acto_spawn(acto_root(rt), &pb, &tp, &t->ping), 0);
    assert_int_equal(acto_spawn(acto_root(rt), &qb, &tp, &t->pong), 0);
    assert_int_equal(acto_send_empty(acto_root(rt), t->ping, MSG_GO), 0);
    tu_run(rt);
    acto_runtime_free(rt);
    /* every ball was a turn of its own: the reap ran every 16 of them */
    assert_true(t->runs1 - t->runs0 >= (uint64_t)t->n);
    NO_FAILURES();
}

static void test_quiet_busy_worker_no_syscall(void **state)
{
    (void)state;
    pp_t t = { .n = (int64_t)tu_scale(200000, 20000) };
    run_pingpong(&t);
    print_message("%s: %lld balls, %llu turns, %llu reap system calls\n",
                  getenv("ACTO_BACKEND") ? getenv("ACTO_BACKEND") : "auto", (long long)t.n,
                  (unsigned long long)(t.runs1 - t.runs0), (unsigned long long)(t.k1 - t.k0));
    assert_true(t.k1 == t.k0);
}

/* An accept armed, nobody connecting: epoll must ask the kernel (and does,
 * at least once); io_uring with the TASKRUN flag sees from user space that
 * nothing completed. */
static void test_armed_idle_socket(void **state)
{
    (void)state;
    pp_t t = { .n = (int64_t)tu_scale(200000, 20000), .with_listener = true };
    run_pingpong(&t);
    print_message("%s: %lld balls with an accept armed, %llu reap system calls (peeks=%d)\n",
                  getenv("ACTO_BACKEND") ? getenv("ACTO_BACKEND") : "auto", (long long)t.n,
                  (unsigned long long)(t.k1 - t.k0), t.peeks);
    assert_int_equal(t.closed, 1);
    if (t.peeks)
        assert_true(t.k1 == t.k0);
    else
        assert_true(t.k1 > t.k0);
}

/* ---- a worker that never idles still gets its I/O, timers and commands ------------------ */

typedef struct {
    int what;                  /* W_IO, W_TIMER, W_CMD */
    uint16_t port;
    int spinning, done, gave_up;   /* atomics shared with the helper thread */
    uint64_t spins, t0, guard_t0;
    px_fd_t *lfd, *cfd;
    int accepted, got, closes;
    char data[8];
    uint64_t timer_id, timer_at;
    int tick_early;
} spin_t;

enum { W_IO, W_TIMER, W_CMD };

static bool spin_finished(acto_ctx_t *ctx, spin_t *s)
{
    if (s->what == W_IO)
        return s->got > 0;
    if (s->what == W_TIMER)
        return s->timer_at != 0;
    return tw_count(&my_px(ctx)->tw) == 0;   /* the cancel command ran */
}

static void spin_give_up(acto_ctx_t *ctx, spin_t *s)
{
    STORE(&s->gave_up, 1);
    if (s->what != W_IO)
        (void)acto_timer_cancel(ctx, s->timer_id);   /* local: exact */
}

static void spin_end(acto_ctx_t *ctx, spin_t *s)
{
    STORE(&s->done, 1);
    if (s->cfd)
        CHECK(px_close(ctx, s->cfd, T_CCLOSE) == 0);
    if (s->lfd)
        CHECK(px_close(ctx, s->lfd, T_LCLOSE) == 0);
    s->cfd = s->lfd = NULL;
}

static int spin_io(acto_ctx_t *ctx, spin_t *s, const acto_msg_t *msg)
{
    px_completion_t c;
    CHECK(px_completion_parse(ctx, msg, &c) == 0);
    if (c.tag == T_ACCEPT && c.res >= 0) {
        s->accepted++;
        CHECK(px_fd_open(ctx, (int)c.res, &s->cfd) == 0);
        return px_recv(ctx, s->cfd, sizeof s->data, false, T_RECV, NULL);
    }
    if (c.tag == T_RECV) {
        CHECK(c.res == 4 && c.len == 4);
        memcpy(s->data, c.data, c.len < sizeof s->data ? c.len : sizeof s->data);
        s->got++;
    }
    if (c.tag == T_LCLOSE || c.tag == T_CCLOSE)
        s->closes++;
    return 0;
}

static int spin_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    spin_t *s = *(spin_t **)state;
    uint32_t type = acto_msg_type(msg);
    if (type == MSG_GO) {
        s->t0 = tu_now_ns();
        if (s->what == W_IO) {
            int fd = listen_loopback(&s->port);
            CHECK(fd >= 0);
            CHECK(px_fd_open(ctx, fd, &s->lfd) == 0);
            CHECK(px_accept(ctx, s->lfd, T_ACCEPT, NULL) == 0);
        } else {
            uint64_t after = s->what == W_TIMER ? 2000000ull : 3600ull * 1000000000ull;
            CHECK(acto_timer_start(ctx, after, 0, MSG_TICK, &s->timer_id) == 0);
        }
        STORE(&s->spinning, 1);
        return acto_send_empty(ctx, acto_self(ctx), MSG_SPIN);
    }
    if (type == MSG_TICK) {
        s->timer_at = tu_now_ns();
        s->tick_early = s->timer_at < s->t0 + 2000000ull;
        return 0;
    }
    if (type != MSG_SPIN)
        return spin_io(ctx, s, msg);
    if (LOAD(&s->done) || LOAD(&s->gave_up))
        return 0;
    if (spin_finished(ctx, s)) {
        spin_end(ctx, s);
        return 0;
    }
    if (++s->spins % 1024 == 0) {
        uint64_t now = tu_now_ns();
        if (!s->guard_t0)
            s->guard_t0 = now;
        else if (now - s->guard_t0 > GUARD_NS) {
            spin_give_up(ctx, s);
            spin_end(ctx, s);
            return 0;
        }
    }
    return acto_send_empty(ctx, acto_self(ctx), MSG_SPIN);
}

typedef struct { spin_t *s; acto_runtime_t *rt; } helper_arg_t;

/* Waits (bounded) until the spinner spins, then does the one thing the
 * busy worker must notice: connect and send 4 bytes, or cancel its timer. */
static void *helper(void *arg)
{
    helper_arg_t *h = arg;
    spin_t *s = h->s;
    uint64_t t0 = tu_now_ns();
    while (!LOAD(&s->spinning) && tu_now_ns() - t0 < GUARD_NS)
        sched_yield();
    CHECK(LOAD(&s->spinning));
    int fd = -1;
    if (s->what == W_IO) {
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(s->port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        CHECK(fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
        CHECK(send(fd, "ping", 4, MSG_NOSIGNAL) == 4);
    } else if (s->what == W_CMD) {
        /* from a foreign thread: a command the busy worker must run */
        CHECK(acto_timer_cancel(acto_root(h->rt), s->timer_id) == 0);
    }
    while (!LOAD(&s->done) && !LOAD(&s->gave_up))
        sched_yield();
    if (fd >= 0)
        close(fd);
    return NULL;
}

static void run_spinner(spin_t *s)
{
    static const acto_behavior_t sb = { .name = "spinner", .state_size = sizeof(void *),
                                        .init = pp_init, .receive = spin_recv };
    acto_runtime_t *rt = one_worker();
    spin_t *sp = s;
    acto_pid_t pid;
    assert_int_equal(acto_spawn(acto_root(rt), &sb, &sp, &pid), 0);
    assert_int_equal(acto_send_empty(acto_root(rt), pid, MSG_GO), 0);
    helper_arg_t h = { s, rt };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, helper, &h), 0);
    tu_run(rt);
    pthread_join(th, NULL);
    acto_runtime_free(rt);
    assert_int_equal(LOAD(&s->gave_up), 0);
    assert_true(s->spins > 0);   /* the worker was busy when it happened */
    NO_FAILURES();
}

/* A server under load must not starve its sockets: the accept and the data
 * arrive while the only worker is never idle. */
static void test_busy_worker_reaps_io(void **state)
{
    (void)state;
    spin_t s = { .what = W_IO };
    run_spinner(&s);
    assert_int_equal(s.accepted, 1);
    assert_int_equal(s.got, 1);
    assert_memory_equal(s.data, "ping", 4);
    assert_int_equal(s.closes, 2);
}

/* Timers fire while the worker is busy, and never early. */
static void test_busy_worker_fires_timers(void **state)
{
    (void)state;
    spin_t s = { .what = W_TIMER };
    run_spinner(&s);
    assert_true(s.timer_at != 0);
    assert_int_equal(s.tick_early, 0);
}

/* A command from a foreign thread (a timer cancel) reaches a busy worker:
 * cmd_push does not wake a running worker, the reap must pick it up. */
static void test_busy_worker_runs_commands(void **state)
{
    (void)state;
    spin_t s = { .what = W_CMD };
    run_spinner(&s);
    assert_true(s.timer_at == 0);   /* cancelled, never fired */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quiet_busy_worker_no_syscall),
        cmocka_unit_test(test_armed_idle_socket),
        cmocka_unit_test(test_busy_worker_reaps_io),
        cmocka_unit_test(test_busy_worker_fires_timers),
        cmocka_unit_test(test_busy_worker_runs_commands),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
