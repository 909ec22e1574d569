/* tests/test_timerwheel.c - the per-worker hierarchical timing wheel.
 *
 * Time is simulated (the wheel takes now_ns from its caller), so every
 * check is exact: a timer fires in the first tw_advance(now) with
 * now >= ceil(deadline / TW_TICK_NS) * TW_TICK_NS, never before its
 * deadline (T1, T2), in deadline-tick order (T3). */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "timerwheel.h"

#define TICK TW_TICK_NS

/* A test timer: the entry plus what the callback records. */
typedef struct tt {
    acto_tw_entry_t e;
    uint32_t id;
    uint32_t fired;          /* times fired */
    uint64_t fired_at;       /* now_ns of the last firing */
    uint64_t key;            /* its order key (eff_tick) when last fired */
    uint64_t period;         /* re-arm by this much when fired (0: one-shot) */
    uint32_t rearm_left;     /* re-arms still to do */
    struct tt *victim;       /* cancel this one when fired */
} tt_t;

/* Fire log shared by the callbacks of one test. */
static struct {
    tt_t **v;
    size_t n, cap;
    uint64_t last_tick;      /* effective tick of the previous firing */
    uint64_t floor;          /* now / TICK of the previous advance (or init) */
    bool order_ok, early;
} lg;

static void log_reset(void)
{
    free(lg.v);
    memset(&lg, 0, sizeof lg);
    lg.order_ok = true;
}

static uint64_t xtick(uint64_t deadline)   /* the expiry tick, as T2 defines it */
{
    return deadline / TICK + (deadline % TICK != 0);
}

/* T3: entries overdue when an advance starts fire first, the rest in
 * deadline-tick order: the order key is the expiry tick, raised to the
 * tick of the previous advance. */
static uint64_t eff_tick(uint64_t deadline)
{
    uint64_t x = xtick(deadline);
    return x > lg.floor ? x : lg.floor;
}

static void on_fire(acto_tw_t *tw, acto_tw_entry_t *e, uint64_t now)
{
    tt_t *t = (tt_t *)((char *)e - offsetof(tt_t, e));
    assert_false(tw_armed(e));                 /* T4: disarmed before the call */
    if (now < tw_deadline(e))
        lg.early = true;
    if (eff_tick(tw_deadline(e)) < lg.last_tick)
        lg.order_ok = false;
    lg.last_tick = eff_tick(tw_deadline(e));
    t->key = lg.last_tick;
    t->fired++;
    t->fired_at = now;
    if (lg.n == lg.cap) {
        lg.cap = lg.cap ? lg.cap * 2 : 64;
        lg.v = realloc(lg.v, lg.cap * sizeof *lg.v);
        assert_non_null(lg.v);
    }
    lg.v[lg.n++] = t;
    if (t->victim)
        tw_cancel(tw, &t->victim->e);
    if (t->rearm_left) {
        t->rearm_left--;
        tw_start(tw, e, tw_deadline(e) + t->period);
    }
}

static void wheel_init(acto_tw_t *tw, uint64_t now)
{
    tw_init(tw, now);
    lg.floor = now / TICK;
}

static size_t advance(acto_tw_t *tw, uint64_t now)
{
    lg.last_tick = 0;
    size_t n = tw_advance(tw, now);
    if (now / TICK > lg.floor)
        lg.floor = now / TICK;
    return n;
}

static void tt_init(tt_t *t, uint32_t id)
{
    memset(t, 0, sizeof *t);
    t->id = id;
    tw_entry_init(&t->e, on_fire);
}

static uint64_t rng_state;
static uint64_t rnd(void)   /* xorshift64*: deterministic per test */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

static int setup(void **state)
{
    (void)state;
    log_reset();
    rng_state = UINT64_C(0x9E3779B97F4A7C15);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    log_reset();
    return 0;
}

/* ---- basics ------------------------------------------------------------------ */

static void test_empty_wheel(void **state)
{
    (void)state;
    acto_tw_t tw;
    wheel_init(&tw, 12345);
    assert_int_equal(tw_count(&tw), 0);
    assert_true(tw_next(&tw) == TW_NEVER);
    assert_int_equal(advance(&tw, UINT64_C(1) << 40), 0);
    assert_null(tw_take(&tw));
}

/* A deadline exactly on a tick fires at that tick; one ns later waits for
 * the next tick; neither fires one ns early. */
static void test_never_early_boundaries(void **state)
{
    (void)state;
    acto_tw_t tw;
    uint64_t base = 1000 * TICK;
    wheel_init(&tw, base);
    tt_t a, b, c;
    tt_init(&a, 1);
    tt_init(&b, 2);
    tt_init(&c, 3);
    tw_start(&tw, &a.e, base + 5 * TICK);       /* on a tick */
    tw_start(&tw, &b.e, base + 5 * TICK + 1);   /* just after */
    tw_start(&tw, &c.e, base + 1);              /* inside the current tick */
    assert_int_equal(tw_count(&tw), 3);
    assert_int_equal(tw_next(&tw), base + TICK);

    assert_int_equal(advance(&tw, base + TICK - 1), 0);
    assert_int_equal(advance(&tw, base + TICK), 1);
    assert_int_equal(c.fired, 1);
    assert_int_equal(advance(&tw, base + 5 * TICK - 1), 0);
    assert_int_equal(a.fired, 0);
    assert_int_equal(tw_next(&tw), base + 5 * TICK);
    assert_int_equal(advance(&tw, base + 5 * TICK), 1);
    assert_int_equal(a.fired, 1);
    assert_int_equal(b.fired, 0);
    assert_int_equal(advance(&tw, base + 6 * TICK - 1), 0);
    assert_int_equal(advance(&tw, base + 6 * TICK), 1);
    assert_int_equal(b.fired, 1);
    assert_false(lg.early);
    assert_int_equal(tw_count(&tw), 0);
    assert_true(tw_next(&tw) == TW_NEVER);
}

/* A deadline in the past (or now) is due: the next advance fires it, even
 * one with the same now. */
static void test_past_deadline_is_due(void **state)
{
    (void)state;
    acto_tw_t tw;
    uint64_t now = 77 * TICK + 5;
    wheel_init(&tw, now);
    tt_t a, b;
    tt_init(&a, 1);
    tt_init(&b, 2);
    tw_start(&tw, &a.e, 0);
    tw_start(&tw, &b.e, now - 5);
    assert_int_equal(tw_next(&tw), 0);
    assert_int_equal(advance(&tw, now), 2);
    assert_int_equal(a.fired + b.fired, 2);
    assert_true(tw_next(&tw) == TW_NEVER);
}

/* Timers started in random order fire in deadline order, each in the first
 * advance allowed by T2. */
static void test_ordering(void **state)
{
    (void)state;
    enum { N = 5000 };
    acto_tw_t tw;
    uint64_t base = UINT64_C(1) << 36;
    wheel_init(&tw, base);
    tt_t *t = calloc(N, sizeof *t);
    assert_non_null(t);
    for (uint32_t i = 0; i < N; i++) {
        tt_init(&t[i], i);
        tw_start(&tw, &t[i].e, base + rnd() % (20000 * TICK));
    }
    /* One big advance: the whole log must be in tick order. */
    size_t first = advance(&tw, base + 10000 * TICK);
    assert_int_equal(first, lg.n);
    assert_true(first > N / 3);
    assert_true(lg.order_ok);
    /* Then small random steps: each fires in the first step allowed. */
    uint64_t now = base + 10000 * TICK;
    while (tw_count(&tw)) {
        uint64_t prev = now;
        now += rnd() % (3 * TICK);
        size_t before = lg.n;
        advance(&tw, now);
        assert_true(lg.order_ok);
        for (size_t k = before; k < lg.n; k++) {
            uint64_t due = xtick(tw_deadline(&lg.v[k]->e)) * TICK;
            assert_true(due <= now);
            assert_true(due > prev);
        }
    }
    assert_int_equal(lg.n, N);
    for (uint32_t i = 0; i < N; i++)
        assert_int_equal(t[i].fired, 1);
    assert_false(lg.early);
    free(t);
}

/* ---- cancel --------------------------------------------------------------------- */

static void test_cancel(void **state)
{
    (void)state;
    acto_tw_t tw;
    wheel_init(&tw, 0);
    tt_t a, b, never;
    tt_init(&a, 1);
    tt_init(&b, 2);
    tt_init(&never, 3);
    assert_false(tw_cancel(&tw, &never.e));   /* never started */
    tw_start(&tw, &a.e, 10 * TICK);
    tw_start(&tw, &b.e, 10 * TICK);
    assert_true(tw_armed(&a.e));
    assert_true(tw_cancel(&tw, &a.e));        /* before it fires */
    assert_false(tw_armed(&a.e));
    assert_false(tw_cancel(&tw, &a.e));       /* twice */
    assert_int_equal(tw_count(&tw), 1);
    assert_int_equal(advance(&tw, 20 * TICK), 1);
    assert_int_equal(a.fired, 0);
    assert_int_equal(b.fired, 1);
    assert_false(tw_cancel(&tw, &b.e));       /* after it fired */
    assert_int_equal(tw_count(&tw), 0);
    /* A cancelled entry can be started again. */
    tw_start(&tw, &a.e, 30 * TICK);
    assert_int_equal(advance(&tw, 30 * TICK), 1);
    assert_int_equal(a.fired, 1);
}

/* Cancelling the only entry of a coarse slot leaves nothing behind: the
 * wheel reports no deadline and advancing across it fires nothing. */
static void test_cancel_empties_slot(void **state)
{
    (void)state;
    acto_tw_t tw;
    wheel_init(&tw, 0);
    tt_t a;
    tt_init(&a, 1);
    tw_start(&tw, &a.e, 5000000 * TICK);
    assert_true(tw_next(&tw) != TW_NEVER);
    assert_true(tw_cancel(&tw, &a.e));
    assert_true(tw_next(&tw) == TW_NEVER);
    for (int l = 0; l < TW_LEVELS; l++)
        assert_true(tw.occupied[l] == 0);
    assert_int_equal(advance(&tw, 6000000 * TICK), 0);
}

/* Two timers due in the same tick, each cancelling the other when fired:
 * whichever runs first wins, the other never fires. */
static void test_cancel_from_callback(void **state)
{
    (void)state;
    acto_tw_t tw;
    wheel_init(&tw, 0);
    tt_t a, b;
    tt_init(&a, 1);
    tt_init(&b, 2);
    a.victim = &b;
    b.victim = &a;
    tw_start(&tw, &a.e, 3 * TICK);
    tw_start(&tw, &b.e, 3 * TICK);
    assert_int_equal(advance(&tw, 3 * TICK), 1);
    assert_int_equal(a.fired + b.fired, 1);
    assert_int_equal(tw_count(&tw), 0);
}

/* Re-starting an armed entry moves it. */
static void test_restart_moves(void **state)
{
    (void)state;
    acto_tw_t tw;
    wheel_init(&tw, 0);
    tt_t a;
    tt_init(&a, 1);
    tw_start(&tw, &a.e, 100 * TICK);
    tw_start(&tw, &a.e, 5000 * TICK);   /* later: different level */
    assert_int_equal(tw_count(&tw), 1);
    assert_int_equal(advance(&tw, 4999 * TICK), 0);
    tw_start(&tw, &a.e, 4999 * TICK + 1);  /* sooner again */
    assert_int_equal(advance(&tw, 5000 * TICK), 1);
    assert_int_equal(a.fired, 1);
    assert_int_equal(advance(&tw, 10000 * TICK), 0);
}

/* ---- re-arm (periodic) ---------------------------------------------------------- */

/* A periodic timer re-armed from its callback from its own deadline fires
 * once per period, with no drift, even when advanced in big jumps. */
static void test_periodic_rearm(void **state)
{
    (void)state;
    acto_tw_t tw;
    uint64_t base = 123456789;
    wheel_init(&tw, base);
    tt_t p;
    tt_init(&p, 1);
    p.period = 1000000;          /* 1 ms: not a multiple of a tick */
    p.rearm_left = 999;
    tw_start(&tw, &p.e, base + p.period);
    uint64_t now = base;
    for (int step = 0; step < 2000 && tw_count(&tw); step++) {
        now += (step % 7 == 0) ? 5 * p.period + 3 : 700000;
        advance(&tw, now);
    }
    assert_int_equal(p.fired, 1000);
    assert_int_equal(tw_deadline(&p.e), base + 1000 * p.period);
    for (size_t k = 0; k < lg.n; k++)
        assert_true(lg.v[k] == &p);
    assert_false(lg.early);
}

/* A zero period re-arms a due timer from its own callback: it must fire
 * once per advance, not loop forever. */
static void test_zero_period_no_livelock(void **state)
{
    (void)state;
    acto_tw_t tw;
    wheel_init(&tw, 0);
    tt_t p;
    tt_init(&p, 1);
    p.period = 0;
    p.rearm_left = 1000000;
    tw_start(&tw, &p.e, TICK);
    assert_int_equal(advance(&tw, TICK), 1);
    assert_int_equal(advance(&tw, TICK), 1);
    assert_int_equal(p.fired, 2);
    assert_true(tw_armed(&p.e));
    assert_int_equal(tw_next(&tw), 0);
    assert_true(tw_cancel(&tw, &p.e));
}

/* Re-armed into a tick the same advance still covers: it fires again in
 * that advance, at its new deadline tick (later in the log). */
static void test_rearm_within_advance(void **state)
{
    (void)state;
    acto_tw_t tw;
    wheel_init(&tw, 0);
    tt_t p;
    tt_init(&p, 1);
    p.period = 10 * TICK;
    p.rearm_left = 4;
    tw_start(&tw, &p.e, 10 * TICK);
    assert_int_equal(advance(&tw, 45 * TICK), 4);   /* 10, 20, 30, 40 */
    assert_true(tw_armed(&p.e));
    assert_int_equal(tw_deadline(&p.e), 50 * TICK);
    assert_true(lg.order_ok);
    assert_int_equal(advance(&tw, 50 * TICK), 1);
    assert_false(tw_armed(&p.e));
}

/* ---- levels ---------------------------------------------------------------------- */

/* Deadlines around every level boundary, from several starting phases:
 * each fires exactly in the first advance allowed, whether advanced in
 * one jump or by following tw_next. */
static void test_cascade_levels(void **state)
{
    (void)state;
    uint64_t phases[] = { 0, 1, 63, 64, 4095, 4097, (UINT64_C(1) << 30) - 1 };
    for (size_t ph = 0; ph < sizeof phases / sizeof *phases; ph++) {
        for (int l = 0; l < 6; l++) {
            uint64_t span = UINT64_C(1) << (TW_LEVEL_BITS * l);   /* ticks */
            int64_t offs[] = { -1, 0, 1 };
            for (int o = 0; o < 3; o++) {
                uint64_t start = phases[ph] * TICK + 17;
                uint64_t d = start + (span * TW_SLOTS + (uint64_t)offs[o] * span / 2) * TICK
                    + (uint64_t)(o * 3);
                uint64_t due = xtick(d) * TICK;

                acto_tw_t tw;
                tt_t a;
                log_reset();
                wheel_init(&tw, start);
                tt_init(&a, 1);
                tw_start(&tw, &a.e, d);
                /* Follow tw_next: never past the due time, at most a few steps. */
                unsigned steps = 0;
                while (!a.fired) {
                    uint64_t n = tw_next(&tw);
                    assert_true(n <= due);
                    assert_true(n > start);
                    advance(&tw, n);
                    assert_true(++steps <= TW_LEVELS + 1);
                }
                assert_int_equal(a.fired_at, due);

                /* One jump to one ns before: nothing; then exactly due. */
                log_reset();
                wheel_init(&tw, start);
                tt_init(&a, 1);
                tw_start(&tw, &a.e, d);
                assert_int_equal(advance(&tw, due - 1), 0);
                assert_int_equal(advance(&tw, due), 1);
            }
        }
    }
}

/* Far future: years away, the largest representable deadline, and one
 * beyond it (clamped to TW_MAX_NS). */
static void test_far_future(void **state)
{
    (void)state;
    acto_tw_t tw;
    uint64_t now = UINT64_C(1) << 50;
    uint64_t year = UINT64_C(365) * 24 * 3600 * 1000000000;
    wheel_init(&tw, now);
    tt_t a, b, c;
    tt_init(&a, 1);
    tt_init(&b, 2);
    tt_init(&c, 3);
    tw_start(&tw, &a.e, now + 100 * year);
    tw_start(&tw, &b.e, TW_MAX_NS);
    tw_start(&tw, &c.e, UINT64_MAX);
    assert_int_equal(tw_deadline(&c.e), TW_MAX_NS);
    assert_int_equal(advance(&tw, now + 100 * year - 1), 0);
    assert_int_equal(advance(&tw, now + 100 * year), 1);
    assert_int_equal(a.fired, 1);
    assert_int_equal(advance(&tw, TW_MAX_NS - 1), 0);
    assert_int_equal(advance(&tw, TW_MAX_NS), 2);
    assert_int_equal(tw_count(&tw), 0);
}

/* tw_take empties a wheel holding entries in every level and in `due`. */
static void test_take_drains(void **state)
{
    (void)state;
    enum { N = 1000 };
    acto_tw_t tw;
    wheel_init(&tw, 5 * TICK);
    tt_t *t = calloc(N, sizeof *t);
    assert_non_null(t);
    for (uint32_t i = 0; i < N; i++) {
        tt_init(&t[i], i);
        tw_start(&tw, &t[i].e, i < 10 ? 0 : (rnd() >> (rnd() % 60)));
    }
    size_t n = 0;
    acto_tw_entry_t *e;
    while ((e = tw_take(&tw))) {
        assert_false(tw_armed(e));
        n++;
    }
    assert_int_equal(n, N);
    assert_int_equal(tw_count(&tw), 0);
    assert_true(tw_next(&tw) == TW_NEVER);
    assert_int_equal(advance(&tw, TW_MAX_NS), 0);
    free(t);
}

/* A clock that goes backwards does not fire anything that is not due. */
static void test_backwards_now(void **state)
{
    (void)state;
    acto_tw_t tw;
    wheel_init(&tw, 1000 * TICK);
    tt_t a;
    tt_init(&a, 1);
    tw_start(&tw, &a.e, 1010 * TICK);
    assert_int_equal(advance(&tw, 10 * TICK), 0);
    assert_int_equal(advance(&tw, 1009 * TICK), 0);
    assert_int_equal(advance(&tw, 1010 * TICK), 1);
}

/* ---- scale ------------------------------------------------------------------------ */

/* 1,000,000 armed timers over one simulated second; half are cancelled:
 * every other one fires exactly once, none early, in tick order per
 * advance. */
static void test_million_timers(void **state)
{
    (void)state;
    enum { N = 1000000 };
    acto_tw_t tw;
    uint64_t base = UINT64_C(5) << 40;
    wheel_init(&tw, base);
    tt_t *t = malloc((size_t)N * sizeof *t);
    assert_non_null(t);
    for (uint32_t i = 0; i < N; i++) {
        tt_init(&t[i], i);
        tw_start(&tw, &t[i].e, base + 1 + rnd() % 1000000000);
    }
    assert_int_equal(tw_count(&tw), N);
    for (uint32_t i = 0; i < N; i += 2)
        assert_true(tw_cancel(&tw, &t[i].e));
    assert_int_equal(tw_count(&tw), N / 2);
    uint64_t now = base;
    size_t fired = 0;
    while (tw_count(&tw)) {
        uint64_t prev = now;
        now += 1 + rnd() % 2000000;   /* up to 2 ms per step */
        size_t before = lg.n;
        fired += advance(&tw, now);
        assert_true(lg.order_ok);
        for (size_t k = before; k < lg.n; k++) {
            uint64_t due = xtick(tw_deadline(&lg.v[k]->e)) * TICK;
            if (due > now || due <= prev)
                fail_msg("timer %u due %llu fired in (%llu, %llu]", lg.v[k]->id,
                         (unsigned long long)due, (unsigned long long)prev,
                         (unsigned long long)now);
        }
    }
    assert_int_equal(fired, N / 2);
    for (uint32_t i = 0; i < N; i++)
        assert_int_equal(t[i].fired, i % 2);
    assert_false(lg.early);
    free(t);
}

/* ---- randomized against a sorted reference -------------------------------------- */

typedef struct { uint64_t x; uint32_t id; } ref_t;   /* expiry tick, timer */

static int ref_cmp(const void *a, const void *b)
{
    const ref_t *p = a, *q = b;
    if (p->x != q->x)
        return p->x < q->x ? -1 : 1;
    return p->id < q->id ? -1 : p->id > q->id;
}

static int id_cmp(const void *a, const void *b)
{
    uint32_t p = *(const uint32_t *)a, q = *(const uint32_t *)b;
    return p < q ? -1 : p > q;
}

/* Random starts, re-starts, cancels and advances (small steps and big
 * jumps); after each advance the fired set must equal the reference's
 * "armed and expiry tick <= now / TICK", and tw_next must never be later
 * than the reference's earliest expiry. */
static void test_random_vs_reference(void **state)
{
    (void)state;
    enum { N = 2000, OPS = 100000 };
    acto_tw_t tw;
    tt_t *t = calloc(N, sizeof *t);
    bool *armed = calloc(N, sizeof *armed);
    ref_t *ref = malloc(N * sizeof *ref);
    uint32_t *got = malloc(N * sizeof *got), *want = malloc(N * sizeof *want);
    assert_true(t && armed && ref && got && want);
    uint64_t now = rnd() >> 8;
    wheel_init(&tw, now);
    for (uint32_t i = 0; i < N; i++)
        tt_init(&t[i], i);
    for (int op = 0; op < OPS; op++) {
        uint32_t i = (uint32_t)(rnd() % N);
        unsigned r = (unsigned)(rnd() % 100);
        if (r < 55) {                      /* start or re-start */
            unsigned scale = (unsigned)(rnd() % 40);
            uint64_t d = now - (rnd() % 3 == 0 ? rnd() % (2 * TICK) : 0)
                + (rnd() & ((UINT64_C(1) << scale) - 1)) * (rnd() % 4 == 0 ? 1 : 17);
            tw_start(&tw, &t[i].e, d);
            armed[i] = true;
        } else if (r < 75) {               /* cancel */
            assert_int_equal(tw_cancel(&tw, &t[i].e), armed[i]);
            armed[i] = false;
        } else {                           /* advance */
            uint64_t step = rnd() % 50 == 0 ? rnd() % (UINT64_C(1) << 36)
                                             : rnd() % (4 * TICK);
            now += step;
            size_t nw = 0;
            for (uint32_t k = 0; k < N; k++)
                if (armed[k] && xtick(tw_deadline(&t[k].e)) <= now / TICK) {
                    ref[nw].x = eff_tick(tw_deadline(&t[k].e));
                    ref[nw++].id = k;
                    armed[k] = false;
                }
            qsort(ref, nw, sizeof *ref, ref_cmp);
            size_t before = lg.n;
            size_t n = advance(&tw, now);
            /* The reference's sorted sequence of order keys, and the same
             * set of timers (ties may come in any order). */
            assert_int_equal(n, nw);
            assert_true(lg.order_ok);
            for (size_t k = 0; k < nw; k++) {
                assert_int_equal(lg.v[before + k]->key, ref[k].x);
                got[k] = lg.v[before + k]->id;
                want[k] = ref[k].id;
            }
            qsort(got, nw, sizeof *got, id_cmp);
            qsort(want, nw, sizeof *want, id_cmp);
            assert_memory_equal(got, want, nw * sizeof *got);
            lg.n = before;   /* keep the log short */
        }
        if (op % 16)
            continue;
        /* Every so often: the count, and tw_next never later than the
         * earliest armed expiry. */
        uint64_t min = TW_NEVER;
        size_t narmed = 0;
        for (uint32_t k = 0; k < N; k++)
            if (armed[k]) {
                narmed++;
                uint64_t due = xtick(tw_deadline(&t[k].e)) * TICK;
                if (due < min)
                    min = due;
            }
        assert_int_equal(tw_count(&tw), narmed);
        assert_true(tw_next(&tw) <= min);
    }
    assert_false(lg.early);
    free(t);
    free(armed);
    free(ref);
    free(got);
    free(want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty_wheel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_never_early_boundaries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_past_deadline_is_due, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ordering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_empties_slot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_moves, setup, teardown),
        cmocka_unit_test_setup_teardown(test_periodic_rearm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_period_no_livelock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rearm_within_advance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cascade_levels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_far_future, setup, teardown),
        cmocka_unit_test_setup_teardown(test_take_drains, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backwards_now, setup, teardown),
        cmocka_unit_test_setup_teardown(test_million_timers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_vs_reference, setup, teardown),
    };
    return cmocka_run_group_tests_name("timerwheel", tests, NULL, NULL);
}
