/* tests/testutil.c - helpers shared by the cmocka suites. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

int g_fail;

acto_runtime_t *tu_runtime_batch(unsigned workers, unsigned batch)
{
    acto_config_t cfg;
    acto_config_init(&cfg);
    cfg.workers = workers;
    cfg.batch = batch;
    acto_runtime_t *rt = NULL;
    assert_int_equal(acto_runtime_new(&rt, &cfg), 0);
    assert_non_null(rt);
    return rt;
}

acto_runtime_t *tu_runtime(unsigned workers)
{
    return tu_runtime_batch(workers, 0);
}

void tu_run(acto_runtime_t *rt)
{
    assert_int_equal(acto_runtime_run(rt), 0);
}

acto_stats_t tu_stats(acto_runtime_t *rt)
{
    acto_stats_t st;
    assert_int_equal(acto_runtime_stats(rt, &st), 0);
    return st;
}

uint64_t tu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int tu_tsan(void)
{
#if defined(ACTO_TSAN) || defined(__SANITIZE_THREAD__)
    return 1;
#else
    return 0;
#endif
}

unsigned long tu_scale(unsigned long n, unsigned long min)
{
    if (tu_tsan())
        n /= 4;
    const char *e = getenv("ACTO_TEST_SCALE");
    if (e && *e) {
        long pct = strtol(e, NULL, 10);
        if (pct > 0)
            n = n * (unsigned long)pct / 100;
    }
    return n < min ? min : n;
}

void tu_threads(unsigned n, void *(*fn)(void *), void **args)
{
    pthread_t *t = calloc(n, sizeof *t);
    assert_non_null(t);
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(pthread_create(&t[i], NULL, fn, args ? args[i] : NULL), 0);
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    free(t);
}

/* ---- actors for tests -------------------------------------------------------- */

typedef struct {
    tu_recv_fn fn;
    void *arg;
} fn_state_t;

static int fn_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    (void)ctx;
    *(fn_state_t *)state = *(const fn_state_t *)arg;
    return 0;
}

static int fn_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    fn_state_t *s = state;
    return s->fn(ctx, msg, s->arg);
}

static const acto_behavior_t fn_behavior = {
    .name = "tu_fn", .state_size = sizeof(fn_state_t),
    .init = fn_init, .receive = fn_receive };

int tu_spawn_fn_rc(acto_ctx_t *ctx, tu_recv_fn fn, void *arg, acto_pid_t *pid)
{
    fn_state_t s = { fn, arg };
    return acto_spawn(ctx, &fn_behavior, &s, pid);
}

acto_pid_t tu_spawn_fn(acto_ctx_t *ctx, tu_recv_fn fn, void *arg)
{
    fn_state_t s = { fn, arg };
    acto_pid_t pid = ACTO_PID_NONE;
    assert_int_equal(acto_spawn(ctx, &fn_behavior, &s, &pid), 0);
    assert_true(pid != ACTO_PID_NONE);
    return pid;
}

int tu_capture_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    (void)ctx;
    tu_capture_t *c = arg;
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 64;
        tu_cap_msg_t *v = realloc(c->v, nc * sizeof *v);
        if (!v) {
            c->failed++;
            return 0;
        }
        c->v = v;
        c->cap = nc;
    }
    size_t len;
    const void *data = acto_msg_data(msg, &len);
    tu_cap_msg_t *m = &c->v[c->n];
    m->type = acto_msg_type(msg);
    m->from = acto_msg_from(msg);
    m->size = len;
    m->addr = msg;
    m->body = malloc(len ? len : 1);
    if (!m->body) {
        c->failed++;
        return 0;
    }
    if (len)
        memcpy(m->body, data, len);
    c->n++;
    return 0;
}

acto_pid_t tu_spawn_capture(acto_ctx_t *ctx, tu_capture_t *cap)
{
    return tu_spawn_fn(ctx, tu_capture_recv, cap);
}

void tu_capture_free(tu_capture_t *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i].body);
    free(c->v);
    memset(c, 0, sizeof *c);
}

acto_msg_t *tu_cap_msg(acto_ctx_t *ctx, const tu_cap_msg_t *m)
{
    acto_msg_t *msg = NULL;
    assert_int_equal(acto_msg_new(ctx, m->type, m->size, &msg), 0);
    assert_int_equal(acto_msg_write(msg, m->body, m->size), 0);
    return msg;
}
