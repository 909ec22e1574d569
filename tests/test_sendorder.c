/* tests/test_sendorder.c - sends on one fd reach the socket in the order
 * they were submitted (proactor.h P8), whatever the backend does with a
 * short write: a send submitted while an earlier one of the same fd waits
 * for room never overtakes it, and the sends waiting behind it are
 * cancelled, closed and stopped (P4, P7) like any other op.
 *
 * Deterministic, no timing: one worker, an AF_UNIX socketpair with a small
 * send buffer.  Turn 1 submits send A, larger than the buffer, so A writes
 * part and waits for room.  A timer message (delivered by a reap, so after
 * A was tried) starts turn 2, which drains the peer end by hand, making
 * room, and only then submits B and C: a backend that tries B at once puts
 * B's bytes before the rest of A.  The peer's bytes are then read through
 * the proactor and must be exactly A, B, C.
 *
 * Registered for io_uring, io_uring as an older kernel runs it, and epoll
 * (tests/CMakeLists.txt). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"
#include "internal.h"
#include "proactor.h"

enum { MSG_GO = 1, MSG_TICK };
enum { T_A = 1, T_B, T_C, T_RX, T_CLOSE_A, T_CLOSE_B };
enum { MODE_ORDER, MODE_CANCEL, MODE_CLOSE, MODE_STOP };

#define A_LEN (128u * 1024)
#define B_LEN 3000u
#define C_LEN 5000u
#define SNDBUF 16384

typedef struct {
    int mode;
    acto_runtime_t *rt;
    int sp[2];
    unsigned char *a, *b, *c;          /* the three payloads */
    unsigned char *got;                /* what the peer end read, in order */
    size_t ngot, cap;
    size_t drained;                    /* read by hand in turn 2 */
    int64_t res[T_C + 1];              /* each send's completion (0: none) */
    int completions[T_C + 1];
    int cancelled, closes, errors, other;
} order_t;

typedef struct {
    order_t *t;
    px_fd_t *fa, *fb;
    px_op_t *opb;
    int sends_left;                    /* completions still expected */
} sender_t;

static unsigned char pat(size_t i, unsigned salt) { return (unsigned char)(i * 13 + i / 509 + salt); }

static unsigned char *payload(size_t len, unsigned salt)
{
    unsigned char *p = malloc(len);
    assert_non_null(p);
    for (size_t i = 0; i < len; i++)
        p[i] = pat(i, salt);
    return p;
}

static void got_append(order_t *t, const void *data, size_t len)
{
    if (t->ngot + len > t->cap) {      /* more than A + B + C: counted, not kept */
        t->errors++;
        return;
    }
    memcpy(t->got + t->ngot, data, len);
    t->ngot += len;
}

static int send_one(acto_ctx_t *ctx, sender_t *s, const unsigned char *p, size_t len, int tag,
                    px_op_t **out)
{
    struct iovec iov[2] = { { (void *)p, len / 2 }, { (void *)(p + len / 2), len - len / 2 } };
    return px_sendv(ctx, s->fa, iov, 2, (uint64_t)tag, out);
}

static int sender_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    sender_t *s = state;
    memcpy(&s->t, arg, sizeof s->t);
    /* Start on the worker, not in init's context. */
    return acto_timer_start(ctx, 0, 0, MSG_GO, NULL);
}

/* Turn 1: A fills the send buffer and waits for room (the close and stop
 * modes queue B and C behind it here, with no room made). */
static int sender_go(acto_ctx_t *ctx, sender_t *s)
{
    order_t *t = s->t;
    int rc = px_fd_open(ctx, t->sp[0], &s->fa);
    if (rc || (rc = send_one(ctx, s, t->a, A_LEN, T_A, NULL)) != 0)
        return rc;
    if (t->mode == MODE_CLOSE || t->mode == MODE_STOP) {
        CHECK(send_one(ctx, s, t->b, B_LEN, T_B, NULL) == 0);
        CHECK(send_one(ctx, s, t->c, C_LEN, T_C, NULL) == 0);
    }
    s->sends_left = t->mode == MODE_ORDER ? 3 : t->mode == MODE_CANCEL ? 2 : 3;
    return acto_timer_start(ctx, 0, 0, MSG_TICK, NULL);
}

/* Read what the peer end holds by hand: room for more in A's socket. */
static void drain_peer(order_t *t)
{
    unsigned char buf[4096];
    ssize_t n;
    while ((n = recv(t->sp[1], buf, sizeof buf, MSG_DONTWAIT)) > 0) {
        got_append(t, buf, (size_t)n);
        t->drained += (size_t)n;
    }
    CHECK(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

/* Turn 2, after a reap (so after A was tried). */
static int sender_tick(acto_ctx_t *ctx, sender_t *s)
{
    order_t *t = s->t;
    switch (t->mode) {
    case MODE_CLOSE:                   /* A half sent, B and C waiting */
        return px_close(ctx, s->fa, T_CLOSE_A);
    case MODE_STOP:
        return acto_runtime_stop(t->rt);
    case MODE_CANCEL:                  /* B waits behind A: cancel it, C goes on */
        CHECK(send_one(ctx, s, t->b, B_LEN, T_B, &s->opb) == 0);
        CHECK(send_one(ctx, s, t->c, C_LEN, T_C, NULL) == 0);
        CHECK(px_cancel(ctx, s->opb) == 0);
        px_release(s->opb);
        s->opb = NULL;
        drain_peer(t);
        break;
    case MODE_ORDER:                   /* room first, then B and C */
        drain_peer(t);
        CHECK(send_one(ctx, s, t->b, B_LEN, T_B, NULL) == 0);
        CHECK(send_one(ctx, s, t->c, C_LEN, T_C, NULL) == 0);
        break;
    }
    /* A was tried and is still waiting for room, or the test shows nothing. */
    CHECK(t->drained > 0 && t->drained < A_LEN);
    int rc = px_fd_open(ctx, t->sp[1], &s->fb);
    return rc ? rc : px_recv(ctx, s->fb, 0, true, T_RX, NULL);
}

static int sender_io(acto_ctx_t *ctx, sender_t *s, const px_completion_t *c)
{
    order_t *t = s->t;
    switch (c->kind) {
    case PX_SEND:
        if (c->tag < T_A || c->tag > T_C) {
            t->other++;
            return 0;
        }
        t->completions[c->tag]++;
        t->res[c->tag] = c->res;
        if (c->res == -ECANCELED)
            t->cancelled++;
        /* stop mode: the cancelled sends come in the next run */
        if (--s->sends_left == 0)
            return px_close(ctx, s->fa, T_CLOSE_A);   /* the reader sees the end */
        return 0;
    case PX_RECV:
        if (c->res > 0)
            got_append(t, c->data, c->len);
        else if (c->res < 0)
            t->errors++;
        if (!c->more)
            return px_close(ctx, s->fb, T_CLOSE_B);
        return 0;
    case PX_CLOSE:
        t->closes++;
        if (c->res != 0)
            t->errors++;
        return 0;
    }
    t->other++;
    return 0;
}

static int sender_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    sender_t *s = state;
    switch (acto_msg_type(msg)) {
    case MSG_GO:
        return sender_go(ctx, s);
    case MSG_TICK:
        return sender_tick(ctx, s);
    }
    px_completion_t c;
    if (px_completion_parse(ctx, msg, &c) != 0) {
        s->t->other++;
        return 0;
    }
    return sender_io(ctx, s, &c);
}

static const acto_behavior_t sender_beh = { .name = "sender", .state_size = sizeof(sender_t),
                                            .init = sender_init, .receive = sender_recv };

static void order_setup(order_t *t, int mode)
{
    memset(t, 0, sizeof *t);
    t->mode = mode;
    t->rt = tu_runtime(1);
    const char *want = getenv("ACTO_BACKEND");
    if (want && *want)
        assert_string_equal(acto_runtime_backend(t->rt), want);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, t->sp), 0);
    int sz = SNDBUF;
    assert_int_equal(setsockopt(t->sp[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz), 0);
    t->a = payload(A_LEN, 1);
    t->b = payload(B_LEN, 101);
    t->c = payload(C_LEN, 203);
    t->cap = A_LEN + B_LEN + C_LEN;
    t->got = malloc(t->cap);
    assert_non_null(t->got);
    order_t *tp = t;
    assert_int_equal(acto_spawn(acto_root(t->rt), &sender_beh, &tp, NULL), 0);
}

static void order_free(order_t *t)
{
    acto_runtime_free(t->rt);          /* closes the fds the proactor owns */
    free(t->a);
    free(t->b);
    free(t->c);
    free(t->got);
}

/* got == the concatenation of the n payloads in parts[]. */
static void assert_stream(const order_t *t, const unsigned char *const *parts, const size_t *lens,
                          int n)
{
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        if (off + lens[i] > t->ngot)
            fail_msg("the peer read %zu bytes, fewer than were sent", t->ngot);
        for (size_t k = 0; k < lens[i]; k++)
            if (t->got[off + k] != parts[i][k])
                fail_msg("stream byte %zu (byte %zu of send %d) differs: sends reordered",
                         off + k, k, i);
        off += lens[i];
    }
    assert_true(off == t->ngot);
}

/* B and C, submitted after room was made while A still waits, go out after
 * the rest of A: the peer reads A, B, C. */
static void test_later_send_waits(void **state)
{
    (void)state;
    for (int round = 0; round < 3; round++) {
        order_t t;
        order_setup(&t, MODE_ORDER);
        tu_run(t.rt);
        assert_int_equal(t.errors, 0);
        assert_int_equal(t.other, 0);
        assert_int_equal(t.closes, 2);
        assert_true(t.res[T_A] == A_LEN && t.res[T_B] == B_LEN && t.res[T_C] == C_LEN);
        const unsigned char *parts[] = { t.a, t.b, t.c };
        const size_t lens[] = { A_LEN, B_LEN, C_LEN };
        assert_stream(&t, parts, lens, 3);
        NO_FAILURES();
        order_free(&t);
    }
}

/* A send cancelled while it waits behind another sends nothing and no
 * completion (P4); the one after it still goes, in order. */
static void test_cancel_waiting_send(void **state)
{
    (void)state;
    order_t t;
    order_setup(&t, MODE_CANCEL);
    tu_run(t.rt);
    assert_int_equal(t.errors, 0);
    assert_int_equal(t.other, 0);
    assert_int_equal(t.closes, 2);
    assert_int_equal(t.completions[T_B], 0);
    assert_true(t.res[T_A] == A_LEN && t.res[T_C] == C_LEN);
    const unsigned char *parts[] = { t.a, t.c };
    const size_t lens[] = { A_LEN, C_LEN };
    assert_stream(&t, parts, lens, 2);
    NO_FAILURES();
    order_free(&t);
}

/* Closing an fd with a half-sent send and two waiting behind it: no
 * completion for any of them (P4), one PX_CLOSE, the run ends (no op is
 * left holding its count, P6), and the peer got a prefix of A only. */
static void test_close_with_sends_waiting(void **state)
{
    (void)state;
    order_t t;
    order_setup(&t, MODE_CLOSE);
    tu_run(t.rt);
    assert_int_equal(t.errors, 0);
    assert_int_equal(t.other, 0);
    assert_int_equal(t.closes, 1);
    for (int i = T_A; i <= T_C; i++)
        assert_int_equal(t.completions[i], 0);
    unsigned char buf[4096];
    ssize_t n;
    while ((n = recv(t.sp[1], buf, sizeof buf, MSG_DONTWAIT)) > 0)
        got_append(&t, buf, (size_t)n);
    assert_int_equal(n, 0);            /* end of stream: the fd was closed */
    assert_true(t.ngot > 0 && t.ngot < A_LEN);
    assert_memory_equal(t.got, t.a, t.ngot);
    NO_FAILURES();
    close(t.sp[1]);
    order_free(&t);
}

/* A run that ends with sends waiting (P7): each of the three completes with
 * -ECANCELED in the next run, once, and nothing is left behind. */
static void test_stop_with_sends_waiting(void **state)
{
    (void)state;
    order_t t;
    order_setup(&t, MODE_STOP);
    tu_run(t.rt);                      /* returns because of the stop */
    tu_run(t.rt);                      /* the three -ECANCELED, then the close */
    assert_int_equal(t.errors, 0);
    assert_int_equal(t.other, 0);
    assert_int_equal(t.closes, 1);
    for (int i = T_A; i <= T_C; i++) {
        assert_int_equal(t.completions[i], 1);
        assert_true(t.res[i] == -ECANCELED);
    }
    NO_FAILURES();
    close(t.sp[1]);
    order_free(&t);
}

/* ---- a send queued as a command, then one made on the fd's own worker ----
 * init runs on the spawning thread, so its send reaches the fd's proactor
 * as a command (P3); the actor's first turn then runs on that worker
 * before it reaps commands (a worker runs what it finds before its first
 * reap) and sends again, locally.  The local send must not overtake the
 * queued one.  With 2 workers, the same happens whenever an actor that
 * sent from one worker moves to the one that owns its fd. */
typedef struct { order_t *t; px_fd_t *f; int left; } cmdsender_t;

static int cmdsender_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    cmdsender_t *s = state;
    memcpy(&s->t, arg, sizeof s->t);
    int rc = px_fd_open(ctx, s->t->sp[0], &s->f);
    struct iovec iov = { s->t->a, B_LEN };
    if (rc || (rc = px_sendv(ctx, s->f, &iov, 1, T_A, NULL)) != 0)
        return rc;
    s->left = 2;
    return acto_send_empty(ctx, acto_self(ctx), MSG_GO);
}

static int cmdsender_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    cmdsender_t *s = state;
    order_t *t = s->t;
    if (acto_msg_type(msg) == MSG_GO) {
        struct iovec iov = { t->b, B_LEN };
        return px_sendv(ctx, s->f, &iov, 1, T_B, NULL);
    }
    px_completion_t c;
    if (px_completion_parse(ctx, msg, &c) != 0) {
        t->other++;
        return 0;
    }
    if (c.kind == PX_SEND) {
        t->completions[c.tag <= T_C ? c.tag : 0]++;
        t->res[c.tag <= T_C ? c.tag : 0] = c.res;
        return --s->left == 0 ? px_close(ctx, s->f, T_CLOSE_A) : 0;
    }
    if (c.kind == PX_CLOSE)
        t->closes++;
    else
        t->other++;
    return 0;
}

static void test_command_then_local_send(void **state)
{
    (void)state;
    static const acto_behavior_t cb = { .name = "cmdsender", .state_size = sizeof(cmdsender_t),
                                        .init = cmdsender_init, .receive = cmdsender_recv };
    order_t t;
    memset(&t, 0, sizeof t);
    t.rt = tu_runtime(1);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, t.sp), 0);
    t.a = payload(B_LEN, 1);
    t.b = payload(B_LEN, 101);
    t.cap = 2 * B_LEN;
    t.got = malloc(t.cap);
    assert_non_null(t.got);
    order_t *tp = &t;
    assert_int_equal(acto_spawn(acto_root(t.rt), &cb, &tp, NULL), 0);
    tu_run(t.rt);
    assert_int_equal(t.other, 0);
    assert_int_equal(t.closes, 1);
    assert_true(t.res[T_A] == B_LEN && t.res[T_B] == B_LEN);
    unsigned char buf[4096];
    ssize_t n;
    while ((n = recv(t.sp[1], buf, sizeof buf, MSG_DONTWAIT)) > 0)
        got_append(&t, buf, (size_t)n);
    assert_int_equal(n, 0);
    const unsigned char *parts[] = { t.a, t.b };
    const size_t lens[] = { B_LEN, B_LEN };
    assert_stream(&t, parts, lens, 2);
    assert_int_equal(t.errors, 0);
    NO_FAILURES();
    close(t.sp[1]);
    order_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_later_send_waits),
        cmocka_unit_test(test_cancel_waiting_send),
        cmocka_unit_test(test_close_with_sends_waiting),
        cmocka_unit_test(test_stop_with_sends_waiting),
        cmocka_unit_test(test_command_then_local_send),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
