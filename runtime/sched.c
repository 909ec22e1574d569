/* runtime/sched.c - the work-stealing scheduler and the worker loop.
 *
 * Where a runnable actor can be (exactly one place, mailbox.h I3):
 *   - a worker's `next` slot (owner only, not stealable): an actor made
 *     runnable by a send from that worker runs next, so a request/reply
 *     pair hands off in a few nanoseconds instead of a wake-up; if the
 *     sender's turn goes on to another message, the actor is moved to the
 *     ring first (sched_release_next), so it never waits out a long turn;
 *   - a worker's ring (runq.h), which idle workers steal from;
 *   - the global queue (foreign threads' sends and ring overflow);
 *   - running on the worker that took it from one of the above.
 *
 * Fairness: an actor handles at most `batch` messages per turn and then
 * goes to the back of the ring; `next` may run at most NEXT_STREAK turns in
 * a row while other actors wait in the ring; the global queue is looked at
 * every GQ_TICK turns even while the ring is busy.
 *
 * Sleeping and waking (after Go's scheduler):
 *   W1 A producer that makes work stealable (ring or global queue) then
 *      executes a full fence and reads nsearching and nidle; if nobody is
 *      searching and somebody is parked it wakes one (PARKED -> NOTIFIED).
 *   W2 A worker about to park publishes PARKED, nidle+1, nsearching-1, then
 *      a full fence, then re-reads every queue; it parks only if all are
 *      empty.  By W1/W2 either the producer sees the parker (and wakes a
 *      worker) or the parker sees the work: no wake-up is lost.  A producer
 *      that sees nsearching > 0 relies on that searcher, which will itself
 *      pass W2 before it parks.
 *   W3 nidle is changed only by the worker itself (+1 on parking, -1 on
 *      leaving PARKED, then unparks+1, before it touches any queue), so
 *      nidle == nworkers with every queue empty, no reference held and no
 *      cleanup pending means quiescence: no actor has a pending message.
 *      The last worker to park checks this and ends the run.  The words
 *      are read one after another, so the check is a snapshot only if no
 *      worker ran meanwhile: it reads unparks, then nidle (all parked),
 *      then the queues, references and cleanups, then unparks again
 *      (unchanged: nobody left PARKED).  A parked worker's `next` slot is
 *      empty (it parks only after find_local found nothing).
 *      I/O keeps this true (proactor.h P6): every pending operation and
 *      armed timer holds a reference, dropped only after its completion
 *      message has been sent; and a worker reaps completions only while
 *      not PARKED (worker_io at the top of idle's loop, worker_turn between
 *      turns), so a delivery never happens behind an idle count.
 *
 * Sleeping is in the worker's proactor (park.c): io_uring_submit_and_wait
 * with a timeout (the next timer deadline) or epoll_wait, so a completion,
 * a due timer and a wake-up (an eventfd write from any thread, by W1) all
 * end the same sleep.
 *
 * Epochs: a worker stays inside one ck_epoch section while it runs actors
 * (so sends cost no fence), leaves it every EPOCH_TURNS turns and whenever
 * it goes idle, and polls its deferred cleanups there.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <string.h>

#include "internal.h"

#define NEXT_STREAK 16
#define GQ_TICK 61
#define EPOCH_TURNS 64
#define SPIN_ROUNDS 16
#define SPIN_PAUSES 32
#define DEFER_PARK_NS 1000000

/* ---- the global queue -------------------------------------------------------- */

void sched_gq_push(acto_runtime_t *rt, acto_actor_t **v, uint32_t n)
{
    pthread_mutex_lock(&rt->gq_lock);
    for (uint32_t i = 0; i < n; i++) {
        v[i]->runq_next = NULL;
        if (rt->gq_tail)
            rt->gq_tail->runq_next = v[i];
        else
            rt->gq_head = v[i];
        rt->gq_tail = v[i];
    }
    at_store_u64(&rt->gq_len, rt->gq_len + n);
    pthread_mutex_unlock(&rt->gq_lock);
}

static acto_actor_t *gq_pop_locked(acto_runtime_t *rt)
{
    acto_actor_t *a = rt->gq_head;
    if (a) {
        rt->gq_head = a->runq_next;
        if (!rt->gq_head)
            rt->gq_tail = NULL;
        a->runq_next = NULL;
    }
    return a;
}

/* Take one actor to run, and a fair share more into our ring. */
static acto_actor_t *gq_take(acto_worker_t *w)
{
    acto_runtime_t *rt = w->rt;
    if (!at_load_u64(&rt->gq_len))
        return NULL;
    pthread_mutex_lock(&rt->gq_lock);
    acto_actor_t *first = gq_pop_locked(rt);
    uint64_t len = rt->gq_len, moved = 0;
    if (first) {
        len--;
        uint64_t share = len / rt->nworkers;
        uint32_t room = RUNQ_SIZE - runq_len(&w->rq);
        if (share > room)
            share = room;
        if (share > RUNQ_SIZE / 2)
            share = RUNQ_SIZE / 2;
        for (; moved < share; moved++)
            if (!runq_put(&w->rq, gq_pop_locked(rt)))
                break;
        len -= moved;
    }
    at_store_u64(&rt->gq_len, len);
    pthread_mutex_unlock(&rt->gq_lock);
    if (moved)
        sched_notify(rt);
    return first;
}

/* ---- making actors runnable ---------------------------------------------------- */

static void ring_push(acto_worker_t *w, acto_actor_t *a)
{
    if (ACTO_LIKELY(runq_put(&w->rq, a)))
        return;
    void *buf[RUNQ_SIZE / 2 + 1];
    uint32_t n = runq_grab_half(&w->rq, buf);
    buf[n++] = a;
    sched_gq_push(w->rt, (acto_actor_t **)buf, n);
}

static bool wake_one(acto_runtime_t *rt)
{
    unsigned n = rt->nworkers, start = at_faa_u32(&rt->wake_rr, 1);
    for (unsigned i = 0; i < n; i++) {
        acto_worker_t *v = &rt->workers[(start + i) % n];
        if (at_load_u32(&v->park) == PARK_PARKED &&
            at_cas_u32(&v->park, PARK_PARKED, PARK_NOTIFIED)) {
            at_faa_u32(&rt->nsearching, 1);   /* on the woken worker's behalf */
            worker_wake(v);
            return true;
        }
    }
    return false;
}

void sched_notify(acto_runtime_t *rt)
{
    at_fence();                                         /* W1 */
    if (at_load_u32(&rt->nsearching) != 0 || at_load_u32(&rt->nidle) == 0)
        return;
    wake_one(rt);
}

void sched_kick(acto_runtime_t *rt)
{
    at_fence();
    wake_one(rt);
}

void sched_wake_all(acto_runtime_t *rt)
{
    for (unsigned i = 0; i < rt->nworkers; i++) {
        acto_worker_t *v = &rt->workers[i];
        if (at_cas_u32(&v->park, PARK_PARKED, PARK_NOTIFIED)) {
            at_faa_u32(&rt->nsearching, 1);
            worker_wake(v);
        }
    }
}

/* Stealable: spawns, turns that ran out of batch, displaced `next`. */
void sched_push(acto_ctx_t *ctx, acto_actor_t *a)
{
    if (ctx->kind == CTX_WORKER)
        ring_push(ctx->w, a);
    else
        sched_gq_push(ctx->rt, &a, 1);
    sched_notify(ctx->rt);
}

/* sched_wake_send (internal.h) for a foreign context or an occupied `next`:
 * on a worker the newly woken actor still runs next (locality). */
void sched_wake_slow(acto_ctx_t *ctx, acto_actor_t *a)
{
    if (ctx->kind != CTX_WORKER) {
        sched_gq_push(ctx->rt, &a, 1);
        sched_notify(ctx->rt);
        return;
    }
    acto_worker_t *w = ctx->w;
    acto_actor_t *old = w->next;
    w->next = a;
    if (old) {
        ring_push(w, old);
        sched_notify(ctx->rt);
    }
}

/* The running actor goes on to another message of its turn while an actor
 * it woke waits in `next`, which no other worker may take: make that one
 * stealable now.  A producer's long turn would otherwise hold its consumer
 * back while another worker idles (fan-in); a request/reply hand-off,
 * whose turns are one message long, never gets here. */
void sched_release_next(acto_worker_t *w)
{
    acto_actor_t *a = w->next;
    w->next = NULL;
    ring_push(w, a);
    sched_notify(w->rt);
}

/* ---- finding work ------------------------------------------------------------------ */

static acto_actor_t *find_local(acto_worker_t *w)
{
    acto_actor_t *a;
    if (++w->tick % GQ_TICK == 0 && (a = gq_take(w)) != NULL)
        return a;
    if (w->next) {
        if (w->next_streak < NEXT_STREAK || runq_len(&w->rq) == 0) {
            a = w->next;
            w->next = NULL;
            w->next_streak++;
            return a;
        }
        ring_push(w, w->next);           /* let the waiting ones run */
        w->next = NULL;
    }
    w->next_streak = 0;
    if ((a = runq_get(&w->rq)) != NULL)
        return a;
    return gq_take(w);
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static acto_actor_t *steal(acto_worker_t *w)
{
    acto_runtime_t *rt = w->rt;
    unsigned n = rt->nworkers;
    if (n < 2)
        return NULL;
    unsigned start = (unsigned)(rng_next(&w->rng) % n);
    for (unsigned i = 0; i < n; i++) {
        acto_worker_t *v = &rt->workers[(start + i) % n];
        if (v == w)
            continue;
        uint32_t got = runq_steal(&w->rq, &v->rq);
        if (got) {
            /* Counters other threads read (inspection): relaxed stores. */
            at_store_u64_rlx(&w->steals, w->steals + 1);
            if (ACTO_UNLIKELY(w->ctx.tr))
                trace_steal(&w->ctx, v->index, got);
            at_store_u64_rlx(&w->stolen, w->stolen + got);
            return runq_get(&w->rq);
        }
    }
    return NULL;
}

static bool work_visible(acto_runtime_t *rt)
{
    if (at_load_u64(&rt->gq_len))
        return true;
    for (unsigned i = 0; i < rt->nworkers; i++)
        if (runq_len(&rt->workers[i].rq))
            return true;
    return false;
}

/* W3: called by a worker that has just published PARKED.  Reading nidle
 * last instead (as this once did) was no snapshot: a worker that was still
 * running while the references and queues were read (arming a timer,
 * filling its `next` slot) could park just before the nidle read, and the
 * run ended with that work pending.  unparks is read before nidle, and a
 * worker adds to it after leaving nidle: either order reversed lets a
 * worker that wakes during the check go unseen. */
static bool quiescent(acto_runtime_t *rt)
{
    uint64_t unparks = at_load_u64(&rt->unparks);
    if (at_load_u32(&rt->nidle) != rt->nworkers)
        return false;
    if (at_load_u64(&rt->refs) || work_visible(rt))
        return false;
    for (unsigned i = 0; i < rt->nworkers; i++)
        if (at_load_u32(&rt->workers[i].deferred))
            return false;
    at_fence();
    return at_load_u64(&rt->unparks) == unparks;
}

void sched_signal_done(acto_runtime_t *rt)
{
    at_store_u32(&rt->done, 1);
    park_wake(&rt->done, INT_MAX);
}

static void epoch_poll(acto_worker_t *w)
{
    for (int i = 0; i < 4 && w->deferred; i++)
        ck_epoch_poll(w->ctx.epoch);
}

/* Look for work, park when there is none.  NULL means: leave the loop. */
static acto_actor_t *idle(acto_worker_t *w)
{
    acto_runtime_t *rt = w->rt;
    at_faa_u32(&rt->nsearching, 1);
    for (;;) {
        worker_io(w);   /* completions and due timers may make actors runnable */
        for (int round = 0; round < SPIN_ROUNDS; round++) {
            if (at_load_u32(&rt->exiting)) {
                at_faa_u32(&rt->nsearching, (uint32_t)-1);
                return NULL;
            }
            acto_actor_t *a = find_local(w);   /* cleanups may have sent */
            if (!a)
                a = steal(w);
            if (a) {
                /* The last searcher to find work wakes another if more
                 * is visible, so parallelism ramps up. */
                if (at_faa_u32(&rt->nsearching, (uint32_t)-1) == 1 && work_visible(rt))
                    sched_notify(rt);
                return a;
            }
            for (int i = 0; i < SPIN_PAUSES; i++)
                at_pause();
        }
        /* W2 */
        at_store_u32(&w->park, PARK_PARKED);
        at_faa_u32(&rt->nidle, 1);
        at_faa_u32(&rt->nsearching, (uint32_t)-1);
        at_fence();
        if (!at_load_u32(&rt->exiting) && !work_visible(rt)) {
            if (quiescent(rt))
                sched_signal_done(rt);
            at_store_u64_rlx(&w->sleeps, w->sleeps + 1);
            if (ACTO_UNLIKELY(w->ctx.tr))
                trace_sleep(&w->ctx);
            worker_sleep(w, w->deferred ? DEFER_PARK_NS : -1);   /* in its proactor */
            if (ACTO_UNLIKELY(w->ctx.tr))
                trace_wake(&w->ctx);
        }
        if (at_cas_u32(&w->park, PARK_PARKED, PARK_RUNNING)) {
            at_faa_u32(&rt->nsearching, 1);   /* searching on our own account */
        } else {
            at_store_u32(&w->park, PARK_RUNNING);   /* NOTIFIED: counted by waker */
            at_store_u64_rlx(&w->wakeups, w->wakeups + 1);
        }
        at_faa_u32(&rt->nidle, (uint32_t)-1);
        at_faa_u64(&rt->unparks, 1);          /* W3: after nidle, before any work */
        epoch_poll(w);
    }
}

void *worker_main(void *arg)
{
    acto_worker_t *w = arg;
    acto_runtime_t *rt = w->rt;
    acto_ctx_t *ctx = &w->ctx;
    unsigned turns = 0;

    acto_tls_ctx = ctx;
    ck_epoch_begin(ctx->epoch, NULL);
    int rc = worker_io_start(w);
    if (ACTO_UNLIKELY(rc != 0)) {
        /* No proactor for this worker (e.g. EMFILE): end the run with the
         * error rather than run without I/O; a later run may succeed. */
        at_cas_u32(&rt->run_err, 0, (uint32_t)-rc);
        at_store_u32(&rt->exiting, 1);
        sched_signal_done(rt);
    }
    while (!at_load_u32(&rt->exiting)) {
        acto_actor_t *a = find_local(w);
        if (!a) {
            ck_epoch_end(ctx->epoch, NULL);
            epoch_poll(w);
            a = idle(w);
            ck_epoch_begin(ctx->epoch, NULL);
            if (!a)
                break;
        }
        ctr_add(&w->runs, 1);
        actor_run(ctx, a);
        if (++turns % EPOCH_TURNS == 0) {
            ck_epoch_end(ctx->epoch, NULL);
            if (w->deferred)
                epoch_poll(w);
            ck_epoch_begin(ctx->epoch, NULL);
        }
        worker_turn(w, turns);   /* submit this turn's I/O; reap now and then */
    }
    worker_io_end(w);   /* P7 (proactor.h): in-flight I/O cancelled, ring closed */
    ck_epoch_end(ctx->epoch, NULL);
    acto_tls_ctx = NULL;
    return NULL;
}
