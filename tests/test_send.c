/* tests/test_send.c - the send path through the public API: many
 * producers (attached threads, threads sharing acto_root, actors) into one
 * mailbox; sends to dead, never-existing, remote and stale pids; sends
 * racing with the receiver's exit. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

enum { MSG_SEQ = 1, MSG_GO, MSG_DIE };

/* ---- many producers, one mailbox ------------------------------------------------ */

#define N_ATTACHED 3
#define N_ROOT 2
#define N_ACTORS 4
#define N_SENDERS (N_ATTACHED + N_ROOT + N_ACTORS)

/* body: sender id in the high 32 bits, sequence number in the low 32 */
static int64_t seq_body(uint32_t id, uint32_t seq) { return ((int64_t)id << 32) | seq; }

typedef struct {
    uint32_t next[N_SENDERS];
    uint64_t got;
    unsigned bad;
} collector_t;

static int collector_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    (void)ctx;
    collector_t *c = arg;
    int64_t v;
    if (acto_msg_type(msg) != MSG_SEQ || acto_msg_i64(msg, &v) != 0) {
        c->bad++;
        return 0;
    }
    uint32_t id = (uint32_t)(v >> 32), seq = (uint32_t)v;
    if (id >= N_SENDERS || seq != c->next[id])
        c->bad++;                      /* lost, duplicated or reordered */
    else
        c->next[id]++;
    c->got++;
    return 0;
}

typedef struct {
    acto_runtime_t *rt;
    acto_pid_t to;
    uint32_t id, n;
    bool attach;
    int errors;                        /* read by main after join */
} sender_t;

static void *sender_thread(void *p)
{
    sender_t *s = p;
    acto_ctx_t *ctx = acto_root(s->rt);
    if (s->attach && acto_thread_attach(s->rt, &ctx) != 0) {
        s->errors++;
        ctx = NULL;
    }
    for (uint32_t i = 0; ctx && i < s->n; i++)
        if (acto_send_i64(ctx, s->to, MSG_SEQ, seq_body(s->id, i)) != 0)
            s->errors++;
    if (s->attach && ctx && acto_thread_detach(ctx) != 0)
        s->errors++;
    if (acto_runtime_unref(s->rt) != 0)   /* our work is handed in */
        s->errors++;
    return NULL;
}

/* An actor sender sends 64 of its sequence per turn and then sends itself
 * GO, so it interleaves with the other senders' turns. */
typedef struct {
    acto_pid_t to;
    uint32_t id, n, sent;
} slice_sender_t;

static int slice_sender_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    (void)msg;
    slice_sender_t *s = arg;
    for (uint32_t k = 0; k < 64 && s->sent < s->n; k++, s->sent++)
        if (acto_send_i64(ctx, s->to, MSG_SEQ, seq_body(s->id, s->sent)) != 0)
            return -1;
    if (s->sent < s->n)
        return acto_send_empty(ctx, acto_self(ctx), MSG_GO);
    return 0;
}

static void test_many_producers_one_mailbox(void **state)
{
    (void)state;
    acto_runtime_t *rt = tu_runtime(2);
    acto_ctx_t *root = acto_root(rt);
    uint32_t n = (uint32_t)tu_scale(200000, 4000);
    collector_t col;
    memset(&col, 0, sizeof col);
    acto_pid_t to = tu_spawn_fn(root, collector_recv, &col);

    slice_sender_t as[N_ACTORS];
    for (uint32_t i = 0; i < N_ACTORS; i++) {
        as[i] = (slice_sender_t){ to, N_ATTACHED + N_ROOT + i, n, 0 };
        acto_pid_t p = tu_spawn_fn(root, slice_sender_recv, &as[i]);
        assert_int_equal(acto_send_empty(root, p, MSG_GO), 0);
    }
    sender_t ts[N_ATTACHED + N_ROOT];
    pthread_t th[N_ATTACHED + N_ROOT];
    for (uint32_t i = 0; i < N_ATTACHED + N_ROOT; i++) {
        ts[i] = (sender_t){ rt, to, i, n, i < N_ATTACHED, 0 };
        assert_int_equal(acto_runtime_ref(rt), 0);   /* dropped by the thread */
        assert_int_equal(pthread_create(&th[i], NULL, sender_thread, &ts[i]), 0);
    }
    tu_run(rt);   /* returns only after every thread unref'd and all is handled */
    for (uint32_t i = 0; i < N_ATTACHED + N_ROOT; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(ts[i].errors, 0);
    }
    assert_int_equal(col.bad, 0);
    for (uint32_t i = 0; i < N_SENDERS; i++)
        assert_int_equal(col.next[i], n);
    assert_true(col.got == (uint64_t)n * N_SENDERS);
    acto_stats_t st = tu_stats(rt);
    assert_int_equal(st.dead_letters, 0);
    acto_runtime_free(rt);
}

/* ---- sends that reach no one ---------------------------------------------------- */

static int dier_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    unsigned *handled = arg;
    ++*handled;
    if (acto_msg_type(msg) == MSG_DIE)
        return acto_exit(ctx, ACTO_EXIT_NORMAL);
    return 0;
}

/* Every way of sending, to `to`: all must fail with ENOACTOR.  Returns
 * the number of failed sends (each is one dead letter). */
static uint64_t send_all_ways(acto_ctx_t *ctx, acto_pid_t to)
{
    static const uint8_t one[] = { 0x01 };
    acto_msg_t *m = NULL;
    assert_int_equal(acto_send(ctx, to, MSG_SEQ, one, 1), ACTO_ENOACTOR);
    assert_int_equal(acto_send_empty(ctx, to, MSG_SEQ), ACTO_ENOACTOR);
    assert_int_equal(acto_send_i64(ctx, to, MSG_SEQ, 1), ACTO_ENOACTOR);
    assert_int_equal(acto_send_u64(ctx, to, MSG_SEQ, 1), ACTO_ENOACTOR);
    assert_int_equal(acto_send_f64(ctx, to, MSG_SEQ, 1), ACTO_ENOACTOR);
    assert_int_equal(acto_send_str(ctx, to, MSG_SEQ, "x"), ACTO_ENOACTOR);
    assert_int_equal(acto_send_bin(ctx, to, MSG_SEQ, one, 1), ACTO_ENOACTOR);
    assert_int_equal(acto_send_fmt(ctx, to, MSG_SEQ, "[is]", (int64_t)1, "x"), ACTO_ENOACTOR);
    assert_int_equal(acto_msg_new(ctx, MSG_SEQ, 5000, &m), 0);   /* external body */
    uint8_t big[5000];
    memset(big, 0xc0, sizeof big);                                 /* 5000 nils */
    assert_int_equal(acto_msg_write(m, big, sizeof big), 0);
    assert_int_equal(acto_send_msg(ctx, to, m), ACTO_ENOACTOR);    /* freed */
    return 9;
}

/* Sends made inside one receive are pushed to each target as one chain
 * (send coalescing): bursts to two targets and to the sender itself,
 * interleaved, must each arrive complete and in order, and the self-sends
 * must be handled by the same actor afterwards. */
typedef struct {
    acto_pid_t t1, t2;
    uint64_t rounds, round, self_seen, self_bad;
} burster_t;

static int burster_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    burster_t *b = arg;
    uint64_t v;
    if (acto_msg_type(msg) == MSG_SEQ) {          /* a self-send from a burst */
        if (acto_msg_u64(msg, &v) != 0 || v != b->self_seen)
            b->self_bad++;
        b->self_seen++;
        return 0;
    }
    if (b->round == b->rounds)
        return 0;
    uint64_t base = b->round * 300;
    for (uint64_t i = 0; i < 100; i++) {          /* t1 x100, t2 x100, t1 x100 */
        if (acto_send_u64(ctx, b->t1, MSG_SEQ, base + i) != 0)
            return ACTO_EPROTO;
    }
    for (uint64_t i = 0; i < 100; i++) {
        if (acto_send_u64(ctx, b->t2, MSG_SEQ, b->round * 100 + i) != 0 ||
            acto_send_u64(ctx, acto_self(ctx), MSG_SEQ, b->round * 100 + i) != 0)
            return ACTO_EPROTO;
    }
    for (uint64_t i = 100; i < 200; i++) {
        if (acto_send_u64(ctx, b->t1, MSG_SEQ, base + i) != 0)
            return ACTO_EPROTO;
    }
    b->round++;
    return acto_send_empty(ctx, acto_self(ctx), MSG_GO);
}

static void test_burst_order(void **state)
{
    (void)state;
    acto_runtime_t *rt = tu_runtime(2);
    acto_ctx_t *root = acto_root(rt);
    tu_capture_t c1 = { 0 }, c2 = { 0 };
    burster_t b = { tu_spawn_capture(root, &c1), tu_spawn_capture(root, &c2),
                    tu_scale(200, 20), 0, 0, 0 };
    acto_pid_t p = tu_spawn_fn(root, burster_recv, &b);
    assert_int_equal(acto_send_empty(root, p, MSG_GO), 0);
    tu_run(rt);
    assert_true(b.round == b.rounds);
    assert_true(c1.n == b.rounds * 200 && c2.n == b.rounds * 100);
    assert_true(b.self_seen == b.rounds * 100);
    assert_int_equal(b.self_bad, 0);
    for (size_t i = 0; i < c1.n; i++) {
        acto_msg_t *m = tu_cap_msg(root, &c1.v[i]);
        uint64_t v = UINT64_MAX;
        assert_int_equal(acto_msg_u64(m, &v), 0);
        assert_true(v == (i / 200) * 300 + i % 200);
        acto_msg_free(root, m);
    }
    for (size_t i = 0; i < c2.n; i++) {
        acto_msg_t *m = tu_cap_msg(root, &c2.v[i]);
        uint64_t v = UINT64_MAX;
        assert_int_equal(acto_msg_u64(m, &v), 0);
        assert_true(v == i);
        acto_msg_free(root, m);
    }
    assert_true(tu_stats(rt).dead_letters == 0);
    tu_capture_free(&c1);
    tu_capture_free(&c2);
    acto_runtime_free(rt);
}

/* ---- sends made in init keep their place -------------------------------------
 * init runs inside the spawner's receive, so its sends join the spawner's
 * coalescing chain.  The child may run at once on another worker (woken
 * from outside, here by a foreign thread, as a socket is by an I/O
 * completion): what it sends then must not overtake what its init sent. */
enum { MSG_INIT_SEQ = 40, MSG_CHILD_GO };

typedef struct {
    acto_pid_t target;
    acto_pid_t child;          /* published by the spawner for the thread */
    int ran;                   /* the child handled GO */
    acto_runtime_t *rt;
} initorder_t;

static int initorder_child_init(acto_ctx_t *ctx, void *st, const void *arg)
{
    const initorder_t *o = arg;
    *(const initorder_t **)st = o;
    return acto_send_u64(ctx, o->target, MSG_INIT_SEQ, 1);
}

static int initorder_child_recv(acto_ctx_t *ctx, void *st, const acto_msg_t *msg)
{
    initorder_t *o = *(initorder_t **)st;
    if (acto_msg_type(msg) != MSG_CHILD_GO)
        return 0;
    int rc = acto_send_u64(ctx, o->target, MSG_INIT_SEQ, 2);
    STORE(&o->ran, 1);
    return rc ? rc : acto_exit(ctx, ACTO_EXIT_NORMAL);
}

static const acto_behavior_t initorder_child = {
    .name = "initorder_child", .state_size = sizeof(void *),
    .init = initorder_child_init, .receive = initorder_child_recv,
};

/* Spawns the child, then stays busy (bounded) so its own worker cannot run
 * the child and its coalesced sends stay unflushed as long as possible. */
static int initorder_spawner(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    initorder_t *o = arg;
    (void)msg;
    acto_pid_t child;
    int rc = acto_spawn(ctx, &initorder_child, o, &child);
    if (rc)
        return rc;
    STORE(&o->child, child);
    uint64_t end = tu_now_ns() + 2000000000ull;
    while (!LOAD(&o->ran) && tu_now_ns() < end)
        ;
    return acto_exit(ctx, ACTO_EXIT_NORMAL);
}

static void *initorder_thread(void *arg)
{
    initorder_t *o = arg;
    acto_pid_t child;
    while ((child = LOAD(&o->child)) == 0)
        ;
    CHECK(acto_send_empty(acto_root(o->rt), child, MSG_CHILD_GO) == 0);
    CHECK(acto_runtime_unref(o->rt) == 0);
    return NULL;
}

static void test_init_sends_keep_order(void **state)
{
    (void)state;
    for (unsigned round = 0; round < tu_scale(20, 4); round++) {
        acto_runtime_t *rt = tu_runtime(2);
        acto_ctx_t *root = acto_root(rt);
        tu_capture_t cap = { 0 };
        initorder_t o = { tu_spawn_capture(root, &cap), 0, 0, rt };
        acto_pid_t sp = tu_spawn_fn(root, initorder_spawner, &o);
        assert_int_equal(acto_runtime_ref(rt), 0);
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, initorder_thread, &o), 0);
        assert_int_equal(acto_send_empty(root, sp, MSG_GO), 0);
        tu_run(rt);
        pthread_join(th, NULL);
        NO_FAILURES();
        assert_int_equal(cap.n, 2);
        for (size_t i = 0; i < 2; i++) {
            acto_msg_t *m = tu_cap_msg(root, &cap.v[i]);
            uint64_t v = 0;
            assert_int_equal(acto_msg_u64(m, &v), 0);
            assert_true(v == i + 1);      /* init's send first */
            acto_msg_free(root, m);
        }
        tu_capture_free(&cap);
        acto_runtime_free(rt);
    }
}

static void test_send_to_nobody(void **state)
{
    (void)state;
    acto_runtime_t *rt = tu_runtime(1);
    acto_ctx_t *root = acto_root(rt);
    unsigned handled = 0;
    acto_pid_t dier = tu_spawn_fn(root, dier_recv, &handled);
    acto_pid_t alive = tu_spawn_fn(root, dier_recv, &handled);
    assert_int_equal(acto_send_empty(root, dier, MSG_DIE), 0);
    tu_run(rt);
    assert_int_equal(handled, 1);
    uint64_t dead = tu_stats(rt).dead_letters;
    assert_int_equal(dead, 0);

    /* a dead actor */
    dead += send_all_ways(root, dier);
    /* never existed: beyond the slots handed out, an unused slot, gen 0,
     * the null pid, beyond the table */
    uint64_t gen1 = (uint64_t)1 << ACTO_PID_SLOT_BITS;
    dead += send_all_ways(root, gen1 | 5000000);
    dead += send_all_ways(root, gen1 | 40);
    dead += send_all_ways(root, ACTO_PID_SLOT(alive));                 /* gen 0 */
    dead += send_all_ways(root, ACTO_PID_NONE);
    dead += send_all_ways(root, gen1 | ((1u << ACTO_PID_SLOT_BITS) - 1));
    /* a live actor's pid with node bits: another node, not this actor */
    acto_pid_t remote = alive | ((acto_pid_t)1 << (ACTO_PID_SLOT_BITS + ACTO_PID_GEN_BITS));
    assert_int_equal(ACTO_PID_NODE(remote), 1);
    dead += send_all_ways(root, remote);
    dead += send_all_ways(root, alive | ((acto_pid_t)0xFFF << 52));
    /* a wrong generation of a live slot */
    dead += send_all_ways(root, alive + gen1);

    acto_stats_t st = tu_stats(rt);
    assert_true(st.dead_letters == dead);
    tu_run(rt);
    assert_int_equal(handled, 1);   /* the live actor got none of them */
    assert_true(tu_stats(rt).dead_letters == dead);
    acto_runtime_free(rt);
}

/* init that exits at once: the actor dies inside acto_spawn, on the
 * calling (root) context, so its slot goes back to root's cache and the
 * next spawn from root reuses it. */
static int exit_at_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    (void)state;
    (void)arg;
    return acto_exit(ctx, ACTO_EXIT_NORMAL);
}

static int count_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    (void)ctx;
    (void)msg;
    ++*(unsigned *)state;
    return 0;
}

static const acto_behavior_t short_lived = {
    .name = "short", .state_size = sizeof(unsigned), .init = exit_at_init, .receive = count_recv };

static unsigned counted;
static void count_terminate(acto_ctx_t *ctx, void *state, int64_t reason)
{
    (void)ctx;
    (void)reason;
    counted += *(unsigned *)state;
}

static const acto_behavior_t counter = {
    .name = "counter", .state_size = sizeof(unsigned), .receive = count_recv,
    .terminate = count_terminate };

static void test_send_to_stale_pid(void **state)
{
    (void)state;
    acto_runtime_t *rt = tu_runtime(1);
    acto_ctx_t *root = acto_root(rt);
    acto_pid_t old = 0, fresh = 0;
    assert_int_equal(acto_spawn(root, &short_lived, NULL, &old), 0);
    assert_int_equal(acto_spawn(root, &counter, NULL, &fresh), 0);
    /* same slot, next generation */
    assert_int_equal(ACTO_PID_SLOT(old), ACTO_PID_SLOT(fresh));
    assert_int_equal(ACTO_PID_GEN(fresh), ACTO_PID_GEN(old) + 1);
    uint64_t dead = send_all_ways(root, old);
    assert_int_equal(acto_send_i64(root, fresh, MSG_SEQ, 1), 0);
    tu_run(rt);
    assert_true(tu_stats(rt).dead_letters == dead);
    counted = 0;
    acto_runtime_free(rt);
    assert_int_equal(counted, 1);   /* only the one good send arrived */
}

/* Messages queued behind the one that kills the actor become dead
 * letters once the actor's cleanup drains its mailbox. */
static void test_pending_become_dead_letters(void **state)
{
    (void)state;
    acto_runtime_t *rt = tu_runtime(1);
    acto_ctx_t *root = acto_root(rt);
    unsigned handled = 0;
    acto_pid_t p = tu_spawn_fn(root, dier_recv, &handled);
    assert_int_equal(acto_send_empty(root, p, MSG_DIE), 0);
    for (int i = 0; i < 9; i++)
        assert_int_equal(acto_send_i64(root, p, MSG_SEQ, i), 0);
    tu_run(rt);
    assert_int_equal(handled, 1);
    acto_stats_t st = tu_stats(rt);
    assert_int_equal(st.dead_letters, 9);
    assert_int_equal(st.exited, 1);
    acto_runtime_free(rt);
}

/* Threads keep sending while the receiver exits part-way: each message is
 * either handled or counted as a dead letter, never both, never neither. */
typedef struct {
    acto_runtime_t *rt;
    acto_pid_t to;
    uint32_t n;
    uint32_t ok, enoactor, other;
} racer_t;

static void *racer_thread(void *p)
{
    racer_t *r = p;
    acto_ctx_t *ctx;
    if (acto_thread_attach(r->rt, &ctx) != 0) {
        r->other = r->n;
        acto_runtime_unref(r->rt);
        return NULL;
    }
    for (uint32_t i = 0; i < r->n; i++) {
        int rc = acto_send_i64(ctx, r->to, MSG_SEQ, i);
        if (rc == 0)
            r->ok++;
        else if (rc == ACTO_ENOACTOR)
            r->enoactor++;
        else
            r->other++;
    }
    acto_thread_detach(ctx);
    acto_runtime_unref(r->rt);
    return NULL;
}

typedef struct {
    uint32_t handled, limit;
} limited_t;

static int limited_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    (void)msg;
    limited_t *l = arg;
    if (++l->handled == l->limit)
        acto_exit(ctx, 77);
    return 0;
}

static void test_send_races_exit(void **state)
{
    (void)state;
    acto_runtime_t *rt = tu_runtime(2);
    uint32_t n = (uint32_t)tu_scale(200000, 5000);
    limited_t lim = { 0, n / 2 };
    acto_pid_t to = tu_spawn_fn(acto_root(rt), limited_recv, &lim);
    racer_t r[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        r[i] = (racer_t){ rt, to, n, 0, 0, 0 };
        assert_int_equal(acto_runtime_ref(rt), 0);
        assert_int_equal(pthread_create(&th[i], NULL, racer_thread, &r[i]), 0);
    }
    tu_run(rt);
    uint32_t enoactor = 0;
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(r[i].other, 0);
        assert_int_equal(r[i].ok + r[i].enoactor, n);
        enoactor += r[i].enoactor;
    }
    acto_stats_t st = tu_stats(rt);
    assert_int_equal(lim.handled, n / 2);
    assert_true(st.dead_letters >= enoactor);
    assert_true(lim.handled + st.dead_letters == 3ull * n);   /* no loss */
    assert_int_equal(st.exited, 1);
    acto_runtime_free(rt);
}

/* ---- foreign contexts spawning ---------------------------------------------------- */

typedef struct {
    acto_runtime_t *rt;
    uint32_t spawns, msgs;
    uint64_t *handled;    /* shared: one counter actor per spawn adds here */
    int errors;
} spawner_t;

typedef struct {
    uint64_t *total;
    uint32_t count;
} adder_t;

static int adder_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    (void)ctx;
    ((adder_t *)state)->total = (uint64_t *)arg;
    return 0;
}

static int adder_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    (void)ctx;
    (void)msg;
    ((adder_t *)state)->count++;
    return 0;
}

static void adder_terminate(acto_ctx_t *ctx, void *state, int64_t reason)
{
    (void)ctx;
    adder_t *a = state;
    if (reason == ACTO_EXIT_SHUTDOWN)
        __atomic_fetch_add(a->total, a->count, __ATOMIC_RELAXED);
}

static const acto_behavior_t adder = {
    .name = "adder", .state_size = sizeof(adder_t), .init = adder_init,
    .receive = adder_recv, .terminate = adder_terminate };

static void *spawner_thread(void *p)
{
    spawner_t *s = p;
    acto_ctx_t *ctx;
    if (acto_thread_attach(s->rt, &ctx) != 0) {
        s->errors++;
        acto_runtime_unref(s->rt);
        return NULL;
    }
    for (uint32_t i = 0; i < s->spawns; i++) {
        acto_pid_t pid;
        if (acto_spawn(ctx, &adder, s->handled, &pid) != 0) {
            s->errors++;
            continue;
        }
        for (uint32_t k = 0; k < s->msgs; k++)
            if (acto_send_u64(ctx, pid, MSG_SEQ, k) != 0)
                s->errors++;
    }
    if (acto_thread_detach(ctx) != 0)
        s->errors++;
    acto_runtime_unref(s->rt);
    return NULL;
}

/* Attached threads spawn actors and send to them while the workers run. */
static void test_attached_threads_spawn(void **state)
{
    (void)state;
    acto_runtime_t *rt = tu_runtime(2);
    uint64_t handled = 0;
    uint32_t spawns = (uint32_t)tu_scale(2000, 200);
    spawner_t s[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        s[i] = (spawner_t){ rt, spawns, 10, &handled, 0 };
        assert_int_equal(acto_runtime_ref(rt), 0);
        assert_int_equal(pthread_create(&th[i], NULL, spawner_thread, &s[i]), 0);
    }
    tu_run(rt);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(s[i].errors, 0);
    }
    acto_stats_t st = tu_stats(rt);
    assert_true(st.spawned == 3ull * spawns);
    assert_true(st.messages == 30ull * spawns);
    assert_true(st.live == 3ull * spawns);
    acto_runtime_free(rt);
    assert_true(handled == 30ull * spawns);    /* counted at terminate */
}

/* ---- stale pids under slot reuse ------------------------------------------------------
 * A churner keeps killing and re-spawning children, so slots are reused
 * while threads send to pids that may have gone stale an instant ago.
 * Each message carries the pid it was sent to: a child that receives a
 * message meant for an earlier incarnation of its slot is a bug (the
 * epoch grace period of actor.c must prevent it). */
#define CHURN_SLOTS 32

typedef struct {
    uint64_t pids[CHURN_SLOTS];   /* atomic: the current child per slot */
    uint64_t seq_handled;         /* atomic */
    uint64_t mismatched;          /* atomic */
    uint32_t rounds, done;
    uint32_t stop;                /* atomic: the churner finished */
    uint32_t max_slot;            /* highest slot index a child got */
    int errors;
} churn_t;

static churn_t churn;

static int churn_child_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    (void)arg;
    if (acto_msg_type(msg) == MSG_DIE)
        return acto_exit(ctx, ACTO_EXIT_NORMAL);
    uint64_t meant;
    if (acto_msg_u64(msg, &meant) != 0 || meant != acto_self(ctx))
        __atomic_fetch_add(&churn.mismatched, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&churn.seq_handled, 1, __ATOMIC_RELAXED);
    return 0;
}

static int churner_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    (void)msg;
    (void)arg;
    for (int k = 0; k < CHURN_SLOTS; k++) {
        acto_pid_t old = __atomic_load_n(&churn.pids[k], __ATOMIC_ACQUIRE), c;
        if (old && acto_send_empty(ctx, old, MSG_DIE) != 0)
            churn.errors++;
        if (tu_spawn_fn_rc(ctx, churn_child_recv, NULL, &c) != 0) {
            churn.errors++;
            continue;
        }
        __atomic_store_n(&churn.pids[k], c, __ATOMIC_RELEASE);
        if (ACTO_PID_SLOT(c) > churn.max_slot)
            churn.max_slot = ACTO_PID_SLOT(c);
    }
    if (++churn.done < churn.rounds)
        return acto_send_empty(ctx, acto_self(ctx), MSG_GO);
    __atomic_store_n(&churn.stop, 1, __ATOMIC_RELEASE);
    return 0;
}

typedef struct {
    acto_runtime_t *rt;
    uint64_t max, sent, enoactor, other;
} churn_sender_t;

static void *churn_sender(void *p)
{
    churn_sender_t *s = p;
    acto_ctx_t *ctx;
    if (acto_thread_attach(s->rt, &ctx) == 0) {
        for (unsigned i = 0; !__atomic_load_n(&churn.stop, __ATOMIC_ACQUIRE) &&
                             s->sent < s->max; i++) {
            acto_pid_t to = __atomic_load_n(&churn.pids[i % CHURN_SLOTS], __ATOMIC_ACQUIRE);
            if (!to)
                continue;
            int rc = acto_send_u64(ctx, to, MSG_SEQ, to);
            s->sent++;
            if (rc == ACTO_ENOACTOR)
                s->enoactor++;
            else if (rc != 0)
                s->other++;
        }
        acto_thread_detach(ctx);
    } else {
        s->other++;
    }
    acto_runtime_unref(s->rt);
    return NULL;
}

static void test_stale_pid_race(void **state)
{
    (void)state;
    memset(&churn, 0, sizeof churn);
    churn.rounds = (uint32_t)tu_scale(2000, 200);
    acto_runtime_t *rt = tu_runtime(2);
    acto_pid_t churner = tu_spawn_fn(acto_root(rt), churner_recv, NULL);
    assert_int_equal(acto_send_empty(acto_root(rt), churner, MSG_GO), 0);
    churn_sender_t s[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        s[i] = (churn_sender_t){ rt, tu_scale(1000000, 100000), 0, 0, 0 };
        assert_int_equal(acto_runtime_ref(rt), 0);
        assert_int_equal(pthread_create(&th[i], NULL, churn_sender, &s[i]), 0);
    }
    tu_run(rt);
    uint64_t sent = 0;
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(s[i].other, 0);
        sent += s[i].sent;
    }
    assert_int_equal(churn.errors, 0);
    assert_int_equal(churn.mismatched, 0);
    acto_stats_t st = tu_stats(rt);
    /* every send was either handled by its own addressee or is a dead
     * letter (refused, or drained from a dead child's mailbox) */
    assert_true(churn.seq_handled + st.dead_letters == sent);
    assert_true(st.exited == (uint64_t)(churn.rounds - 1) * CHURN_SLOTS);
    /* slots were reused (else the race above was not exercised); how many
     * depends on grace periods and on which worker's cache frees a slot */
    assert_true(churn.max_slot < (uint64_t)churn.rounds * CHURN_SLOTS);
    print_message("stale pids: %llu sends, %llu handled, %llu dead letters, "
                  "%u spawns in %u slots\n",
                  (unsigned long long)sent, (unsigned long long)churn.seq_handled,
                  (unsigned long long)st.dead_letters, churn.rounds * CHURN_SLOTS,
                  churn.max_slot + 1);
    acto_runtime_free(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_producers_one_mailbox),
        cmocka_unit_test(test_burst_order),
        cmocka_unit_test(test_init_sends_keep_order),
        cmocka_unit_test(test_send_to_nobody),
        cmocka_unit_test(test_send_to_stale_pid),
        cmocka_unit_test(test_pending_become_dead_letters),
        cmocka_unit_test(test_send_races_exit),
        cmocka_unit_test(test_attached_threads_spawn),
        cmocka_unit_test(test_stale_pid_race),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
