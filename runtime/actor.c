/* runtime/actor.c - actor lifecycle: spawn, run, exit, monitors, links.
 *
 * Lifecycle of a slot:
 *   free --spawn--> live --exit--> dying --grace period--> free
 * `pid` holds the live pid while live and 0 otherwise, so a send checks
 * liveness with one load.  Exit stores 0, notifies monitors and links, and
 * hands the slot to ck_epoch; after the grace period no sender that saw the
 * old pid can still be pushing (every send runs inside an epoch section),
 * so the cleanup drains the mailbox for good and frees the slot.
 *
 * Monitors and links are kept in the actor's own ext block, changed only by
 * the actor itself while it runs: requests from others arrive as system
 * messages in its mailbox, so none of this needs a lock.  A request that
 * reaches an actor which has died is answered by the cleanup (DOWN or EXIT
 * with ACTO_EXIT_NOPROC), as in Erlang. */
#include <stdlib.h>
#include <string.h>

#include "inspect.h"
#include "internal.h"

#define ACTO_MAX_STATE ((size_t)64 << 20)
enum { ACTOR_F_SHUTDOWN = 1 };

typedef struct {
    acto_actor_t *self;
    acto_msg_t *cur;
    bool cur_taken, exit_req;
    int64_t exit_reason;
} ctx_save_t;

static void ctx_enter(acto_ctx_t *ctx, acto_actor_t *a, ctx_save_t *s)
{
    s->self = ctx->self;
    s->cur = ctx->cur;
    s->cur_taken = ctx->cur_taken;
    s->exit_req = ctx->exit_req;
    s->exit_reason = ctx->exit_reason;
    ctx->self = a;
    ctx->cur = NULL;
    ctx->cur_taken = false;
    ctx->exit_req = false;
}

static void ctx_leave(acto_ctx_t *ctx, const ctx_save_t *s)
{
    ctx->self = s->self;
    ctx->cur = s->cur;
    ctx->cur_taken = s->cur_taken;
    ctx->exit_req = s->exit_req;
    ctx->exit_reason = s->exit_reason;
}

/* ---- state memory ---------------------------------------------------------- */

static void *state_alloc(acto_ctx_t *ctx, acto_actor_t *a, size_t size)
{
    void *p;
    if (size <= ACTOR_INLINE_STATE)
        p = a->inline_state;
    else if (size <= MSG_CLASS_MAX)
        p = cache_alloc(ctx, size_class(size));
    else
        p = malloc(size);
    if (p)
        memset(p, 0, size <= ACTOR_INLINE_STATE ? ACTOR_INLINE_STATE : size);
    return p;
}

static void state_free(acto_ctx_t *ctx, acto_actor_t *a)
{
    size_t size = a->beh->state_size;
    if (size <= ACTOR_INLINE_STATE)
        return;
    if (size <= MSG_CLASS_MAX)
        cache_free(ctx, size_class(size), a->state);
    else
        free(a->state);
}

/* ---- ext: links and monitors ----------------------------------------------- */

static acto_actor_ext_t *ext_get(acto_actor_t *a)
{
    if (!a->ext)
        a->ext = calloc(1, sizeof *a->ext);
    return a->ext;
}

static void ext_free(acto_actor_ext_t *e)
{
    free(e->links.v);
    if (e->mon != &e->mon1)
        free(e->mon);
    free(e);
}

static int link_find(const acto_actor_ext_t *e, acto_pid_t p)
{
    for (uint32_t i = 0; e && i < e->links.n; i++)
        if (e->links.v[i] == p)
            return (int)i;
    return -1;
}

static int link_add(acto_actor_t *a, acto_pid_t p)
{
    acto_actor_ext_t *e = ext_get(a);
    if (!e)
        return ACTO_ENOMEM;
    if (link_find(e, p) >= 0)
        return 0;
    if (e->links.n == e->links.cap) {
        uint32_t nc = e->links.cap ? e->links.cap * 2 : 4;
        acto_pid_t *v = realloc(e->links.v, nc * sizeof *v);
        if (!v)
            return ACTO_ENOMEM;
        e->links.v = v;
        e->links.cap = nc;
    }
    e->links.v[e->links.n++] = p;
    return 0;
}

static bool link_del(acto_actor_t *a, acto_pid_t p)
{
    int i = link_find(a->ext, p);
    if (i < 0)
        return false;
    a->ext->links.v[i] = a->ext->links.v[--a->ext->links.n];
    return true;
}

static int monitor_add(acto_actor_t *a, acto_pid_t watcher, uint64_t ref)
{
    acto_actor_ext_t *e = ext_get(a);
    if (!e)
        return ACTO_ENOMEM;
    if (!e->mon) {                 /* the first one goes inline */
        e->mon = &e->mon1;
        e->capmon = 1;
    } else if (e->nmon == e->capmon) {
        bool inl = e->mon == &e->mon1;
        uint32_t nc = inl ? 4 : e->capmon * 2;
        acto_monitor_rec_t *v = realloc(inl ? NULL : e->mon, nc * sizeof *v);
        if (!v)
            return ACTO_ENOMEM;
        if (inl)
            v[0] = e->mon1;
        e->mon = v;
        e->capmon = nc;
    }
    e->mon[e->nmon++] = (acto_monitor_rec_t){ watcher, ref };
    return 0;
}

static void monitor_del(acto_actor_t *a, acto_pid_t watcher, uint64_t ref)
{
    acto_actor_ext_t *e = a->ext;
    for (uint32_t i = 0; e && i < e->nmon; i++)
        if (e->mon[i].watcher == watcher && e->mon[i].ref == ref) {
            e->mon[i] = e->mon[--e->nmon];
            return;
        }
}

static void actor_finish(acto_ctx_t *ctx, acto_actor_t *a, int64_t reason);

/* ---- spawn ------------------------------------------------------------------ */

static acto_pid_t make_pid(uint32_t gen, uint32_t slot)
{
    return ((acto_pid_t)gen << ACTO_PID_SLOT_BITS) | slot;
}

int acto_spawn(acto_ctx_t *ctx, const acto_behavior_t *beh, const void *arg, acto_pid_t *out)
{
    return actor_spawn(ctx, beh, arg, 0, out);
}

int actor_spawn(acto_ctx_t *ctx, const acto_behavior_t *beh, const void *arg, uint32_t flags,
                acto_pid_t *out)
{
    if (!ctx || !beh || !beh->receive || beh->state_size > ACTO_MAX_STATE)
        return ACTO_EINVAL;
    ctx_lock(ctx);
    uint32_t idx;
    acto_actor_t *a = slot_alloc(ctx, &idx);
    if (!a) {
        ctx_unlock(ctx);
        return ACTO_ENOMEM;
    }
    a->beh = beh;
    a->state = state_alloc(ctx, a, beh->state_size);
    if (!a->state) {
        slot_free(ctx, a);
        ctx_unlock(ctx);
        return ACTO_ENOMEM;
    }
    uint32_t gen = a->gen + 1;
    if (gen >= (1u << ACTO_PID_GEN_BITS))
        gen = 1;
    a->gen = gen;
    acto_pid_t pid = make_pid(gen, idx);
    /* Scheduled (EMPTY clear) while init runs: a message sent meanwhile
     * must not get the actor run elsewhere before init returns. */
    mbox_init(&a->mb, 1);
    a->ext = NULL;
    a->runq_next = NULL;
    a->flags = flags | (ctx->self ? ctx->self->flags & ACTOR_F_DAEMON : 0);
    if (ACTO_UNLIKELY(ctx->rt->insp))
        insp_spawn(ctx->rt, idx, beh);   /* K4: before the pid is published */
    at_store_u64(&a->pid, pid);
    ctr_add(&ctx->spawned, !(a->flags & ACTOR_F_DAEMON));   /* stats count the user's actors */
    if (ACTO_UNLIKELY(ctx->tr))
        trace_spawn(ctx, pid, beh->name);

    if (beh->init) {
        ctx_save_t s;
        ctx_enter(ctx, a, &s);
        int rc = beh->init(ctx, a->state, arg);
        /* init's sends sit in the spawner's coalescing chain; push them
         * before the new actor can run (possibly on another worker), or
         * its own later sends to the same target would overtake them and
         * break per-sender order (e.g. a socket's DATA before CONNECTED). */
        if (ctx->kind == CTX_WORKER && ctx->w->pend_to)
            send_flush(ctx);
        bool ex = ctx->exit_req;
        int64_t reason = ctx->exit_reason;
        ctx_leave(ctx, &s);
        if (rc < 0) {
            actor_exit(ctx, a, ACTO_EXIT_ERROR);
            ctx_unlock(ctx);
            return rc;
        }
        if (ex) {
            actor_finish(ctx, a, reason);
            goto done;
        }
    }
    if (!mbox_markempty(&a->mb))
        sched_push(ctx, a);
done:
    if (out)
        *out = pid;
    ctx_unlock(ctx);
    return 0;
}

/* ---- exit ------------------------------------------------------------------- */

/* Pop everything left in a dead actor's mailbox.  Monitor and link
 * requests are answered with NOPROC (notify); the rest are dead letters,
 * and release what they own (msg_drop). */
static void drain(acto_ctx_t *ctx, acto_actor_t *a, acto_pid_t dead, bool notify)
{
    acto_mnode_t *n;
    uint64_t popped = 0;
    while ((n = mbox_pop(&a->mb)) != NULL) {
        popped++;
        acto_msg_t *m = (acto_msg_t *)n;
        acto_pid_t p;
        uint64_t ref;
        if (notify && m->type == SYS_MONITOR && msg_scan_sys(m, &p, NULL, &ref) == 0)
            msg_send_sys(ctx, dead, p, ACTO_MSG_DOWN, dead, ACTO_EXIT_NOPROC, ref, 3);
        else if (notify && m->type == SYS_LINK && msg_scan_sys(m, &p, NULL, NULL) == 0)
            msg_send_sys(ctx, dead, p, SYS_LINK_EXIT, dead, ACTO_EXIT_NOPROC, 0, 2);
        else if (m->type < SYS_MONITOR)
            ctr_add(&ctx->dead_letters, 1);
        msg_drop(ctx, m);                 /* an accepted fd in it is closed */
    }
    if (ACTO_UNLIKELY(ctx->rt->insp) && popped)
        insp_drained(ctx->rt, a, popped);   /* K2, K3 */
}

static void cleanup_cb(ck_epoch_entry_t *e)
{
    acto_actor_t *a = ACTO_CONTAINER(e, acto_actor_t, epoch_entry);
    acto_ctx_t *ctx = acto_tls_ctx;
    acto_pid_t dead = make_pid(a->gen, slot_index(ctx->rt, a));
    /* Answers to stale requests are sends: protect them like any send. */
    ck_epoch_begin(ctx->epoch, NULL);
    drain(ctx, a, dead, true);
    ck_epoch_end(ctx->epoch, NULL);
    slot_free(ctx, a);
    if (ctx->kind == CTX_WORKER)
        at_store_u32(&ctx->w->deferred, ctx->w->deferred - 1);
}

static void defer_cleanup(acto_ctx_t *ctx, acto_actor_t *a)
{
    /* A foreign context used from a worker thread must not wait for a
     * grace period its own worker is holding up: use the worker's record. */
    if (ctx->kind != CTX_WORKER && acto_tls_ctx && acto_tls_ctx->kind == CTX_WORKER)
        ctx = acto_tls_ctx;
    ck_epoch_call(ctx->epoch, &a->epoch_entry, cleanup_cb);
    if (ctx->kind == CTX_WORKER) {
        at_store_u32(&ctx->w->deferred, ctx->w->deferred + 1);
        return;
    }
    acto_ctx_t *saved = acto_tls_ctx;
    acto_tls_ctx = ctx;
    ck_epoch_barrier(ctx->epoch);
    acto_tls_ctx = saved;
}

void actor_exit(acto_ctx_t *ctx, acto_actor_t *a, int64_t reason)
{
    acto_pid_t pid = a->pid;
    acto_actor_ext_t *e = a->ext;
    at_store_u64(&a->pid, 0);            /* sends from now on fail */
    if (ACTO_UNLIKELY(ctx->tr))
        trace_exit(ctx, pid, reason);
    a->ext = NULL;
    if (e) {
        for (uint32_t i = 0; i < e->nmon; i++)
            msg_send_sys(ctx, pid, e->mon[i].watcher, ACTO_MSG_DOWN, pid, reason, e->mon[i].ref, 3);
        for (uint32_t i = 0; i < e->links.n; i++)
            msg_send_sys(ctx, pid, e->links.v[i], SYS_LINK_EXIT, pid, reason, 0, 2);
        ext_free(e);
    }
    state_free(ctx, a);
    ctr_add(&ctx->exited, !(a->flags & ACTOR_F_DAEMON));
    defer_cleanup(ctx, a);
}

/* Run terminate, then exit.  Used for every exit after a successful init. */
static void actor_finish(acto_ctx_t *ctx, acto_actor_t *a, int64_t reason)
{
    if (a->beh->terminate) {
        ctx_save_t s;
        ctx_enter(ctx, a, &s);
        a->beh->terminate(ctx, a->state, reason);
        ctx_leave(ctx, &s);
    }
    actor_exit(ctx, a, reason);
}

/* ---- running ------------------------------------------------------------------ */

static void receive(acto_ctx_t *ctx, acto_actor_t *a, acto_msg_t *m)
{
    ctx->cur = m;
    ctx->cur_taken = false;
    acto_worker_t *w = ctx->w;          /* receive runs on workers only */
    w->coalesce = true;
    int rc = a->beh->receive(ctx, a->state, m);
    w->coalesce = false;
    if (w->pend_to)
        send_flush(ctx);
    if (ctx->zone_used)
        ctx_zone_reset(ctx);
    if (!ctx->cur_taken)
        msg_free(ctx, m);
    ctx->cur = NULL;
    if (ACTO_UNLIKELY(rc < 0) && !ctx->exit_req) {
        ctx->exit_req = true;
        ctx->exit_reason = ACTO_EXIT_ERROR;
    }
}

static void exit_signal(acto_ctx_t *ctx, acto_actor_t *a, acto_msg_t *m, int64_t reason)
{
    if (a->ext && a->ext->trap_exit) {
        m->type = ACTO_MSG_EXIT;          /* body is already [pid, reason] */
        receive(ctx, a, m);
        return;
    }
    if (reason != ACTO_EXIT_NORMAL) {
        ctx->exit_req = true;
        ctx->exit_reason = reason;
    }
    msg_free(ctx, m);
}

static void system_msg(acto_ctx_t *ctx, acto_actor_t *a, acto_msg_t *m)
{
    acto_pid_t p = 0;
    int64_t r = 0;
    uint64_t ref = 0;
    if (msg_scan_sys(m, &p, &r, &ref) != 0) {
        msg_free(ctx, m);
        return;
    }
    switch (m->type) {
    case SYS_MONITOR:
        if (monitor_add(a, p, ref) != 0)   /* cannot keep it: fire now */
            msg_send_sys(ctx, a->pid, p, ACTO_MSG_DOWN, a->pid, ACTO_EXIT_ERROR, ref, 3);
        break;
    case SYS_DEMONITOR:
        monitor_del(a, p, ref);
        break;
    case SYS_LINK:
        if (link_add(a, p) != 0)
            msg_send_sys(ctx, a->pid, p, SYS_LINK_EXIT, a->pid, ACTO_EXIT_ERROR, 0, 2);
        break;
    case SYS_UNLINK:
        link_del(a, p);
        break;
    case SYS_LINK_EXIT:
        if (link_del(a, p)) {             /* unlinked meanwhile: ignore */
            exit_signal(ctx, a, m, r);
            return;
        }
        break;
    case SYS_KILL:
        if (r == ACTO_EXIT_KILLED) {      /* cannot be trapped */
            ctx->exit_req = true;
            ctx->exit_reason = ACTO_EXIT_KILLED;
            break;
        }
        exit_signal(ctx, a, m, r);
        return;
    }
    msg_free(ctx, m);
}

/* Run one turn of `a` on this worker: up to `batch` messages (fewer when
 * the worker's time bound is due, internal.h), then either
 * give the actor up (mailbox empty) or put it at the back of the queue.
 * Two copies (inspect on and off) so inspection off costs one branch per
 * turn; with it on the turn is timed and counted before the actor is given
 * up (inspect.h K4: after that another worker may be running it). */
static inline __attribute__((always_inline)) void turn(acto_ctx_t *ctx, acto_actor_t *a,
                                                       bool insp)
{
    unsigned batch = ctx->rt->batch, n;
    uint64_t t0 = insp ? insp_ticks() : 0;
    uint64_t *popped = insp ? insp_popped(ctx, a) : NULL;
    ctx->self = a;
    for (n = 0; n < batch; n++) {
        /* The worker's time bound (internal.h): end the turn early, as if
         * the batch were spent, so worker_turn reaps. */
        if (ACTO_UNLIKELY(n % TURN_POLL_MSGS == 0 && n > 0) && worker_poll_due(ctx->w))
            break;
        acto_mnode_t *node = mbox_pop(&a->mb);
        if (!node)
            break;
        if (insp)
            insp_pop(popped);
        if (n > 0 && ctx->w->next)       /* the turn goes on: see sched.c */
            sched_release_next(ctx->w);
        acto_msg_t *m = (acto_msg_t *)node;
        if (ACTO_UNLIKELY(ctx->tr))
            trace_recv_begin(ctx, a, m);
        if (ACTO_LIKELY(m->type < SYS_MONITOR))
            receive(ctx, a, m);
        else
            system_msg(ctx, a, m);
        if (ACTO_UNLIKELY(ctx->tr))
            trace_recv_end(ctx);
        if (ACTO_UNLIKELY(ctx->exit_req)) {
            ctx->exit_req = false;
            if (!insp || !(a->flags & ACTOR_F_DAEMON))   /* daemons exist only with insp */
                ctr_add(&ctx->messages, n + 1);
            if (insp)
                insp_turn(ctx, a, n + 1, t0);
            actor_finish(ctx, a, ctx->exit_reason);
            ctx->self = NULL;
            return;
        }
    }
    if (!insp || !(a->flags & ACTOR_F_DAEMON))
        ctr_add(&ctx->messages, n);
    ctx->self = NULL;
    if (insp)
        insp_turn(ctx, a, n, t0);
    if (n < batch && mbox_markempty(&a->mb))
        return;
    sched_push(ctx, a);
}

void actor_run(acto_ctx_t *ctx, acto_actor_t *a)
{
    if (ACTO_UNLIKELY(ctx->isent))
        turn(ctx, a, true);
    else
        turn(ctx, a, false);
}

/* ---- shutdown (runtime_free; no worker is running) ----------------------------- */

void actor_shutdown_all(acto_runtime_t *rt)
{
    acto_ctx_t *ctx = acto_tls_ctx;
    uint64_t hwm = at_load_u32(&rt->slot_hwm);
    if (hwm > rt->max_slots)
        hwm = rt->max_slots;
    /* Pass 1: terminate every live actor.  Their sends to actors not yet
     * terminated are queued, and drained in pass 2. */
    for (uint64_t i = 0; i < hwm; i++) {
        acto_actor_t *a = slot_at(rt, (uint32_t)i);
        if (!a->pid)
            continue;
        a->flags |= ACTOR_F_SHUTDOWN;
        if (a->beh->terminate) {
            ctx_save_t s;
            ctx_enter(ctx, a, &s);
            a->beh->terminate(ctx, a->state, ACTO_EXIT_SHUTDOWN);
            ctx_leave(ctx, &s);
        }
        if (ACTO_UNLIKELY(ctx->tr))
            trace_exit(ctx, a->pid, ACTO_EXIT_SHUTDOWN);
        at_store_u64(&a->pid, 0);
        ctr_add(&ctx->exited, !(a->flags & ACTOR_F_DAEMON));
    }
    /* Pass 2: drop what is left. */
    for (uint64_t i = 0; i < hwm; i++) {
        acto_actor_t *a = slot_at(rt, (uint32_t)i);
        if (!(a->flags & ACTOR_F_SHUTDOWN))
            continue;
        drain(ctx, a, 0, false);
        if (a->ext)
            ext_free(a->ext);
        a->ext = NULL;
        state_free(ctx, a);
        a->flags = 0;
    }
}

/* ---- public calls ---------------------------------------------------------------- */

acto_pid_t acto_self(const acto_ctx_t *ctx)
{
    return ctx && ctx->self ? ctx->self->pid : ACTO_PID_NONE;
}

acto_runtime_t *acto_ctx_runtime(const acto_ctx_t *ctx)
{
    return ctx ? ctx->rt : NULL;
}

int acto_exit(acto_ctx_t *ctx, int64_t reason)
{
    if (!ctx || !ctx->self)
        return ctx ? ACTO_ESTATE : ACTO_EINVAL;
    ctx->exit_req = true;
    ctx->exit_reason = reason;
    return 0;
}

static bool pid_alive(acto_runtime_t *rt, acto_pid_t p)
{
    uint32_t slot = ACTO_PID_SLOT(p);
    if (ACTO_PID_NODE(p) != 0 || ACTO_PID_GEN(p) == 0 || slot >= at_load_u32(&rt->slot_hwm) ||
        slot >= rt->max_slots)
        return false;
    return at_load_u64(&slot_at(rt, slot)->pid) == p;
}

int acto_kill(acto_ctx_t *ctx, acto_pid_t target, int64_t reason)
{
    if (!ctx)
        return ACTO_EINVAL;
    ctx_lock(ctx);
    acto_pid_t self = ctx->self ? ctx->self->pid : ACTO_PID_NONE;
    int rc = msg_send_sys(ctx, self, target, SYS_KILL, self, reason, 0, 2);
    ctx_unlock(ctx);
    return rc;
}

int acto_monitor(acto_ctx_t *ctx, acto_pid_t target, uint64_t *ref)
{
    if (!ctx || !ctx->self)
        return ctx ? ACTO_ESTATE : ACTO_EINVAL;
    acto_pid_t self = ctx->self->pid;
    uint64_t r = at_faa_u64(&ctx->rt->msg_seq, 1) + 1;
    if (ref)
        *ref = r;
    int rc = msg_send_sys(ctx, self, target, SYS_MONITOR, self, 0, r, 3);
    if (rc == ACTO_ENOACTOR) {
        ctx->dead_letters--;             /* not a lost message: answered */
        rc = msg_send_sys(ctx, target, self, ACTO_MSG_DOWN, target, ACTO_EXIT_NOPROC, r, 3);
    }
    return rc;
}

int acto_demonitor(acto_ctx_t *ctx, acto_pid_t target, uint64_t ref)
{
    if (!ctx || !ctx->self)
        return ctx ? ACTO_ESTATE : ACTO_EINVAL;
    acto_pid_t self = ctx->self->pid;
    int rc = msg_send_sys(ctx, self, target, SYS_DEMONITOR, self, 0, ref, 3);
    if (rc == ACTO_ENOACTOR) {
        ctx->dead_letters--;
        rc = 0;
    }
    return rc;
}

int acto_link(acto_ctx_t *ctx, acto_pid_t target)
{
    if (!ctx || !ctx->self)
        return ctx ? ACTO_ESTATE : ACTO_EINVAL;
    acto_pid_t self = ctx->self->pid;
    if (target == self)
        return ACTO_EINVAL;
    if (!pid_alive(ctx->rt, target))
        return ACTO_ENOACTOR;
    int rc = link_add(ctx->self, target);
    if (rc)
        return rc;
    rc = msg_send_sys(ctx, self, target, SYS_LINK, self, 0, 0, 1);
    if (rc == ACTO_ENOACTOR) {
        /* Died just now: behave as if the link had been made first. */
        ctx->dead_letters--;
        rc = msg_send_sys(ctx, target, self, SYS_LINK_EXIT, target, ACTO_EXIT_NOPROC, 0, 2);
    }
    return rc;
}

int acto_unlink(acto_ctx_t *ctx, acto_pid_t target)
{
    if (!ctx || !ctx->self)
        return ctx ? ACTO_ESTATE : ACTO_EINVAL;
    acto_pid_t self = ctx->self->pid;
    if (!link_del(ctx->self, target))
        return 0;
    int rc = msg_send_sys(ctx, self, target, SYS_UNLINK, self, 0, 0, 1);
    if (rc == ACTO_ENOACTOR) {
        ctx->dead_letters--;
        rc = 0;
    }
    return rc;
}

int acto_trap_exit(acto_ctx_t *ctx, int on)
{
    if (!ctx || !ctx->self)
        return ctx ? ACTO_ESTATE : ACTO_EINVAL;
    acto_actor_ext_t *e = ext_get(ctx->self);
    if (!e)
        return ACTO_ENOMEM;
    e->trap_exit = on != 0;
    return 0;
}
