/* tests/test_mailbox.c - white-box tests of the lock-free queues:
 * runtime/mailbox.h (MPSC mailbox with its EMPTY scheduling bit) and
 * runtime/runq.h (a worker's SPMC ring), driven directly by pthreads.
 *
 * Threads never call cmocka asserts (they longjmp on the main thread's
 * stack): they count violations, and the main thread checks the counts. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "mailbox.h"
#include "runq.h"

/* ---- mailbox ------------------------------------------------------------- */

typedef struct {
    acto_mnode_t node;     /* first, as in acto_msg */
    uint32_t producer;
    uint32_t seq;
} item_t;

#define MB_PRODUCERS 4

typedef struct {
    acto_mailbox_t mb;
    item_t *items[MB_PRODUCERS];
    uint32_t per_producer;
    /* scheduling protocol (test_mailbox_schedule_once) */
    uint32_t owned;          /* 1 while someone holds the "scheduled" token */
    uint32_t pushes_that_scheduled;
    uint32_t violations;
    uint32_t start;
} mb_test_t;

typedef struct {
    mb_test_t *t;
    uint32_t id;
} mb_arg_t;

static void wait_start(uint32_t *start)
{
    while (!at_load_u32(start))
        sched_yield();
}

static void *mb_producer(void *p)
{
    mb_arg_t *a = p;
    mb_test_t *t = a->t;
    wait_start(&t->start);
    for (uint32_t i = 0; i < t->per_producer; i++) {
        item_t *it = &t->items[a->id][i];
        it->producer = a->id;
        it->seq = i;
        if (mbox_push(&t->mb, &it->node)) {
            /* I3: this push alone made the mailbox non-empty, so nobody
             * may hold the token now. */
            at_faa_u32(&t->pushes_that_scheduled, 1);
            if (!at_cas_u32(&t->owned, 0, 1))
                at_faa_u32(&t->violations, 1);
        }
        if ((i & 255) == 0)
            sched_yield();   /* interleave producers on 2 cores */
    }
    return NULL;
}

/* Pop everything; check per-producer FIFO.  Returns how many were popped. */
static uint32_t mb_drain(mb_test_t *t, uint32_t *next_seq, uint32_t want)
{
    uint32_t got = 0;
    acto_mnode_t *n;
    while (got < want && (n = mbox_pop(&t->mb)) != NULL) {
        item_t *it = (item_t *)n;
        if (it->producer >= MB_PRODUCERS || it->seq != next_seq[it->producer])
            at_faa_u32(&t->violations, 1);
        else
            next_seq[it->producer]++;
        got++;
    }
    return got;
}

static void mb_setup(mb_test_t *t, uint32_t per, int scheduled)
{
    memset(t, 0, sizeof *t);
    t->per_producer = per;
    for (int p = 0; p < MB_PRODUCERS; p++) {
        t->items[p] = calloc(per, sizeof(item_t));
        assert_non_null(t->items[p]);
    }
    mbox_init(&t->mb, scheduled);
}

static void mb_teardown(mb_test_t *t)
{
    for (int p = 0; p < MB_PRODUCERS; p++)
        free(t->items[p]);
}

static void start_producers(mb_test_t *t, pthread_t *th, mb_arg_t *args)
{
    for (uint32_t p = 0; p < MB_PRODUCERS; p++) {
        args[p] = (mb_arg_t){ t, p };
        assert_int_equal(pthread_create(&th[p], NULL, mb_producer, &args[p]), 0);
    }
    at_store_u32(&t->start, 1);
}

/* Many producers, one consumer popping concurrently: nothing lost,
 * nothing duplicated, FIFO per producer. */
static void test_mailbox_mpsc_fifo(void **state)
{
    (void)state;
    mb_test_t t;
    uint32_t per = (uint32_t)tu_scale(1000000, 5000);
    mb_setup(&t, per, 1);
    pthread_t th[MB_PRODUCERS];
    mb_arg_t args[MB_PRODUCERS];
    uint32_t next_seq[MB_PRODUCERS] = {0};
    uint32_t total = per * MB_PRODUCERS, got = 0;

    start_producers(&t, th, args);
    while (got < total) {
        uint32_t n = mb_drain(&t, next_seq, total - got);
        got += n;
        if (n == 0)
            sched_yield();
    }
    for (int p = 0; p < MB_PRODUCERS; p++)
        pthread_join(th[p], NULL);

    assert_int_equal(t.violations, 0);
    for (int p = 0; p < MB_PRODUCERS; p++)
        assert_int_equal(next_seq[p], per);
    assert_null(mbox_pop(&t.mb));           /* nothing extra */
    assert_true(mbox_markempty(&t.mb));     /* and now really empty */
    mb_teardown(&t);
}

/* The EMPTY bit protocol (I2..I4) under contention: a push that reports
 * "was empty" hands the consumer a token; the consumer gives the token
 * back only through a successful mbox_markempty.  The token may never be
 * handed out twice (an actor scheduled twice would run on two workers),
 * every message is seen exactly once, and each give-up matches one
 * scheduling push. */
static void test_mailbox_schedule_once(void **state)
{
    (void)state;
    mb_test_t t;
    uint32_t per = (uint32_t)tu_scale(500000, 3000);
    mb_setup(&t, per, 0);                  /* starts EMPTY, unscheduled */
    pthread_t th[MB_PRODUCERS];
    mb_arg_t args[MB_PRODUCERS];
    uint32_t next_seq[MB_PRODUCERS] = {0};
    uint32_t total = per * MB_PRODUCERS, got = 0, giveups = 0;

    start_producers(&t, th, args);
    while (got < total) {
        while (!at_load_u32(&t.owned))     /* wait to be "scheduled" */
            sched_yield();
        /* A "turn": run a small batch, then try to give the actor up. */
        got += mb_drain(&t, next_seq, 16);
        at_store_u32(&t.owned, 0);
        if (mbox_markempty(&t.mb)) {
            giveups++;
            continue;
        }
        /* Still non-empty (or a push in flight): we keep the token.  No
         * push can have scheduled meanwhile, since EMPTY was clear. */
        if (!at_cas_u32(&t.owned, 0, 1))
            at_faa_u32(&t.violations, 1);
    }
    for (int p = 0; p < MB_PRODUCERS; p++)
        pthread_join(th[p], NULL);
    /* All items consumed: the last turn must be able to give up. */
    if (at_load_u32(&t.owned)) {
        at_store_u32(&t.owned, 0);
        assert_null(mbox_pop(&t.mb));
        assert_true(mbox_markempty(&t.mb));
        giveups++;
    }

    assert_int_equal(t.violations, 0);
    for (int p = 0; p < MB_PRODUCERS; p++)
        assert_int_equal(next_seq[p], per);
    assert_int_equal(t.pushes_that_scheduled, giveups);
    assert_true(giveups >= 1);
    mb_teardown(&t);
}

/* Single-threaded edge cases of the stub handling. */
static void test_mailbox_sequential(void **state)
{
    (void)state;
    acto_mailbox_t mb;
    item_t it[3];
    memset(it, 0, sizeof it);
    mbox_init(&mb, 0);
    assert_null(mbox_pop(&mb));
    assert_true(mbox_push(&mb, &it[0].node));    /* empty -> schedule */
    assert_false(mbox_push(&mb, &it[1].node));
    assert_false(mbox_markempty(&mb));           /* not empty: refused */
    assert_ptr_equal(mbox_pop(&mb), &it[0].node);
    assert_ptr_equal(mbox_pop(&mb), &it[1].node);
    assert_null(mbox_pop(&mb));
    assert_true(mbox_markempty(&mb));
    assert_true(mbox_push(&mb, &it[2].node));    /* schedules again */
    assert_ptr_equal(mbox_pop(&mb), &it[2].node);
    assert_null(mbox_pop(&mb));
    assert_true(mbox_markempty(&mb));
    /* "scheduled" initialisation: the first push must not schedule. */
    mbox_init(&mb, 1);
    assert_false(mbox_push(&mb, &it[0].node));
    assert_ptr_equal(mbox_pop(&mb), &it[0].node);
    assert_true(mbox_markempty(&mb));
}

/* ---- run queue ------------------------------------------------------------ */

#define RQ_THIEVES 3

typedef struct {
    acto_runq_t owner_q;
    acto_runq_t thief_q[RQ_THIEVES];
    uint32_t nitems;
    uint8_t *seen;           /* seen[i] counts claims of item i+1 */
    uint32_t claimed;        /* total claims */
    uint32_t produced_done;
    uint32_t start;
    uint32_t bad;
} rq_test_t;

static void rq_claim(rq_test_t *t, void *x)
{
    uintptr_t v = (uintptr_t)x;
    if (v == 0 || v > t->nitems) {
        at_faa_u32(&t->bad, 1);
        return;
    }
    __atomic_fetch_add(&t->seen[v - 1], 1, __ATOMIC_RELAXED);
    at_faa_u32(&t->claimed, 1);
}

typedef struct {
    rq_test_t *t;
    unsigned id;
} rq_arg_t;

/* A thief alternates steal-half-into-own-ring and single gets, then runs
 * (claims) what landed in its own ring, like sched.c's steal(). */
static void *rq_thief(void *p)
{
    rq_arg_t *a = p;
    rq_test_t *t = a->t;
    acto_runq_t *mine = &t->thief_q[a->id];
    wait_start(&t->start);
    for (unsigned round = 0;; round++) {
        bool done = at_load_u32(&t->produced_done);
        if (round & 1) {
            void *x = runq_get(&t->owner_q);
            if (x)
                rq_claim(t, x);
        } else {
            runq_steal(mine, &t->owner_q);
        }
        void *x;
        while ((x = runq_get(mine)) != NULL)
            rq_claim(t, x);
        if (done && runq_len(&t->owner_q) == 0)
            break;
        if ((round & 63) == 0)
            sched_yield();
    }
    return NULL;
}

/* One owner pushes (sometimes overfilling: spills half, as ring_push
 * does) and takes from the head; three thieves steal halves and take
 * single entries.  Every item is claimed exactly once (R1..R3). */
static void test_runq_owner_and_thieves(void **state)
{
    (void)state;
    rq_test_t *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->nitems = (uint32_t)tu_scale(2000000, 20000);
    t->seen = calloc(t->nitems, 1);
    assert_non_null(t->seen);
    pthread_t th[RQ_THIEVES];
    rq_arg_t args[RQ_THIEVES];
    for (unsigned i = 0; i < RQ_THIEVES; i++) {
        args[i] = (rq_arg_t){ t, i };
        assert_int_equal(pthread_create(&th[i], NULL, rq_thief, &args[i]), 0);
    }
    at_store_u32(&t->start, 1);

    void *spill[RUNQ_SIZE / 2 + 1];
    uint32_t spilled = 0;
    for (uint32_t i = 1; i <= t->nitems; i++) {
        void *x = (void *)(uintptr_t)i;
        if (!runq_put(&t->owner_q, x)) {
            /* Full: claim half ourselves (the global-queue spill). */
            uint32_t n = runq_grab_half(&t->owner_q, spill);
            for (uint32_t k = 0; k < n; k++)
                rq_claim(t, spill[k]);
            spilled += n;
            assert_true(runq_put(&t->owner_q, x));   /* only we put */
        }
        if (i % 3 == 0) {                    /* the owner runs some too */
            void *y = runq_get(&t->owner_q);
            if (y)
                rq_claim(t, y);
        }
        assert_true(runq_len(&t->owner_q) <= RUNQ_SIZE);   /* R3 */
    }
    at_store_u32(&t->produced_done, 1);
    void *y;
    while ((y = runq_get(&t->owner_q)) != NULL)
        rq_claim(t, y);
    for (unsigned i = 0; i < RQ_THIEVES; i++)
        pthread_join(th[i], NULL);

    assert_int_equal(t->bad, 0);
    assert_int_equal(t->claimed, t->nitems);
    uint32_t dup = 0, lost = 0;
    for (uint32_t i = 0; i < t->nitems; i++) {
        dup += t->seen[i] > 1;
        lost += t->seen[i] == 0;
    }
    assert_int_equal(dup, 0);
    assert_int_equal(lost, 0);
    print_message("runq: %u items, %u spilled by the owner\n", t->nitems, spilled);
    free(t->seen);
    free(t);
}

/* Sequential ring semantics: FIFO, capacity, steal takes half. */
static void test_runq_sequential(void **state)
{
    (void)state;
    acto_runq_t *q = calloc(2, sizeof *q);
    assert_non_null(q);
    for (uintptr_t i = 1; i <= RUNQ_SIZE; i++)
        assert_true(runq_put(&q[0], (void *)i));
    assert_false(runq_put(&q[0], (void *)(uintptr_t)999));   /* full */
    assert_int_equal(runq_len(&q[0]), RUNQ_SIZE);
    assert_ptr_equal(runq_get(&q[0]), (void *)(uintptr_t)1);
    uint32_t n = runq_steal(&q[1], &q[0]);
    assert_int_equal(n, (RUNQ_SIZE - 1) - (RUNQ_SIZE - 1) / 2);
    assert_int_equal(runq_len(&q[0]) + runq_len(&q[1]), RUNQ_SIZE - 1);
    assert_ptr_equal(runq_get(&q[1]), (void *)(uintptr_t)2);   /* oldest first */
    void *buf[RUNQ_SIZE / 2 + 1];
    uint32_t len = runq_len(&q[0]);
    assert_int_equal(runq_grab_half(&q[0], buf), len / 2);
    free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mailbox_sequential),
        cmocka_unit_test(test_mailbox_mpsc_fifo),
        cmocka_unit_test(test_mailbox_schedule_once),
        cmocka_unit_test(test_runq_sequential),
        cmocka_unit_test(test_runq_owner_and_thieves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
