/* runtime/runtime.c - runtime lifetime, contexts, run/stop, stats. */
#define _GNU_SOURCE
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inspect.h"
#include "internal.h"
#include "proactor.h"

__thread acto_ctx_t *acto_tls_ctx;

#define DEFAULT_MAX_ACTORS ((uint64_t)1 << 24)
#define DEFAULT_BATCH 64

void acto_config_init(acto_config_t *cfg)
{
    if (cfg)
        memset(cfg, 0, sizeof *cfg);
}

/* ---- contexts ------------------------------------------------------------------ */

static int ctx_setup(acto_ctx_t *ctx, acto_runtime_t *rt, int kind)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->rt = rt;
    ctx->kind = kind;
    ck_epoch_record_t *rec = NULL;
    if (kind == CTX_ATTACHED)
        rec = ck_epoch_recycle(&rt->epoch, ctx);
    if (!rec) {
        rec = aligned_alloc(ACTO_CACHELINE, sizeof *rec);
        if (!rec)
            return ACTO_ENOMEM;
        ck_epoch_register(&rt->epoch, rec, ctx);
    }
    ctx->epoch = rec;
    pthread_mutex_lock(&rt->ctx_lock);
    ctx->all_next = rt->contexts;
    rt->contexts = ctx;
    pthread_mutex_unlock(&rt->ctx_lock);
    return 0;
}

static void ctx_unlist(acto_ctx_t *ctx)
{
    acto_runtime_t *rt = ctx->rt;
    pthread_mutex_lock(&rt->ctx_lock);
    for (acto_ctx_t **p = &rt->contexts; *p; p = &(*p)->all_next)
        if (*p == ctx) {
            *p = ctx->all_next;
            break;
        }
    rt->retired.spawned += ctx->spawned;
    rt->retired.exited += ctx->exited;
    rt->retired.messages += ctx->messages;
    rt->retired.dead_letters += ctx->dead_letters;
    pthread_mutex_unlock(&rt->ctx_lock);
}

void ctx_lock_root(acto_ctx_t *ctx)
{
    pthread_mutex_lock(&ctx->rt->root_lock);
}

void ctx_unlock_root(acto_ctx_t *ctx)
{
    pthread_mutex_unlock(&ctx->rt->root_lock);
}

acto_ctx_t *acto_root(acto_runtime_t *rt)
{
    return rt ? &rt->root : NULL;
}

int acto_thread_attach(acto_runtime_t *rt, acto_ctx_t **out)
{
    if (!rt || !out)
        return ACTO_EINVAL;
    acto_ctx_t *ctx = aligned_alloc(ACTO_CACHELINE, (sizeof *ctx + ACTO_CACHELINE - 1) & ~(size_t)(ACTO_CACHELINE - 1));
    if (!ctx)
        return ACTO_ENOMEM;
    int rc = ctx_setup(ctx, rt, CTX_ATTACHED);
    if (rc) {
        free(ctx);
        return rc;
    }
    insp_ctx_open(ctx);
    if ((rc = trace_ctx_open(ctx)) != 0) {
        acto_thread_detach(ctx);
        return rc;
    }
    *out = ctx;
    return 0;
}

int acto_thread_detach(acto_ctx_t *ctx)
{
    if (!ctx || ctx->kind != CTX_ATTACHED)
        return ACTO_EINVAL;
    trace_ctx_close(ctx);
    cache_flush(ctx);
    ctx_unlist(ctx);
    ck_epoch_unregister(ctx->epoch);   /* the record is recycled, freed with rt */
    if (ctx->zone)
        msgpack_zone_free(ctx->zone);
    free(ctx);
    return 0;
}

/* ---- the runtime ----------------------------------------------------------------- */

int acto_runtime_new(acto_runtime_t **out, const acto_config_t *cfg)
{
    if (!out)
        return ACTO_EINVAL;
    *out = NULL;
    acto_config_t c;
    acto_config_init(&c);
    if (cfg)
        c = *cfg;
    if (c.workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c.workers = n > 0 ? (unsigned)n : 1;
    }
    if (c.workers > 1024 || c.max_actors > ((uint64_t)1 << ACTO_PID_SLOT_BITS))
        return ACTO_EINVAL;
    if (c.batch == 0)
        c.batch = DEFAULT_BATCH;
    if (c.max_actors == 0)
        c.max_actors = DEFAULT_MAX_ACTORS;
    int backend;
    int brc = px_choose_backend(&c, &backend);
    if (brc)
        return brc;

    acto_runtime_t *rt = calloc(1, sizeof *rt);
    if (!rt)
        return ACTO_ENOMEM;
    rt->cfg = c;
    rt->nworkers = c.workers;
    rt->batch = c.batch;
    rt->max_slots = c.max_actors;
    if (mem_init(rt)) {
        free(rt);
        return ACTO_ENOMEM;
    }
    ck_epoch_init(&rt->epoch);
    pthread_mutex_init(&rt->gq_lock, NULL);
    pthread_mutex_init(&rt->ctx_lock, NULL);
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&rt->root_lock, &ma);
    pthread_mutexattr_destroy(&ma);

    rt->workers = aligned_alloc(ACTO_CACHELINE, sizeof(acto_worker_t) * rt->nworkers);
    int rc = rt->workers ? 0 : ACTO_ENOMEM;
    if (rt->workers)
        memset(rt->workers, 0, sizeof(acto_worker_t) * rt->nworkers);
    for (unsigned i = 0; rc == 0 && i < rt->nworkers; i++) {
        acto_worker_t *w = &rt->workers[i];
        w->rt = rt;
        w->index = i;
        w->rng = 0x9E3779B97F4A7C15ull * (i + 1);
        rc = ctx_setup(&w->ctx, rt, CTX_WORKER);
        w->ctx.w = w;
    }
    rt->backend = backend;
    for (unsigned i = 0; rc == 0 && i < rt->nworkers; i++)
        rc = px_new(rt, &rt->workers[i], backend, &rt->workers[i].px);
    if (rc == 0)
        rc = ctx_setup(&rt->root, rt, CTX_ROOT);
    if (rc == 0)
        rc = trace_init_runtime(rt);
    if (rc == 0)
        rc = insp_init(rt);   /* last: it spawns the endpoint actor */
    if (rc) {
        acto_runtime_free(rt);
        return rc;
    }
    *out = rt;
    return 0;
}

int acto_runtime_run(acto_runtime_t *rt)
{
    if (!rt)
        return ACTO_EINVAL;
    if (acto_tls_ctx && acto_tls_ctx->kind == CTX_WORKER)
        return ACTO_ESTATE;
    if (!at_cas_u32(&rt->running, 0, 1))
        return ACTO_ESTATE;
    at_store_u32(&rt->done, 0);
    at_store_u32(&rt->exiting, 0);
    /* S1: a stop that came while no run was executing applies to this one.
     * The resets above come first: a stop whose request this exchange
     * misses stores done/exiting after them, so it is never lost. */
    if (at_xchg_u32(&rt->stop_req, 0)) {
        at_store_u32(&rt->exiting, 1);
        at_store_u32(&rt->done, 1);
    }
    at_store_u32(&rt->nidle, 0);
    at_store_u32(&rt->nsearching, 0);
    if (rt->trace)
        trace_ctx_flush(&rt->root);   /* what main did so far: readable now */
    unsigned started = 0;
    int rc = 0;
    for (; started < rt->nworkers; started++) {
        acto_worker_t *w = &rt->workers[started];
        at_store_u32(&w->park, PARK_RUNNING);
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            rc = ACTO_ESYS;
            break;
        }
    }
    if (rc == 0)
        while (!at_load_u32(&rt->done))
            park_wait(&rt->done, 0, -1);
    at_store_u32(&rt->exiting, 1);
    at_fence();
    sched_wake_all(rt);
    for (unsigned i = 0; i < started; i++)
        pthread_join(rt->workers[i].thread, NULL);
    at_xchg_u32(&rt->stop_req, 0);    /* S1: a stop during this run is spent */
    uint32_t err = at_xchg_u32(&rt->run_err, 0);
    if (rc == 0 && err)
        rc = -(int)err;
    at_store_u32(&rt->running, 0);
    return rc;
}

int acto_runtime_stop(acto_runtime_t *rt)
{
    if (!rt)
        return ACTO_EINVAL;
    /* Workers leave their loop after the current turn, as documented, not
     * only once run's thread has woken up and told them to. */
    at_xchg_u32(&rt->stop_req, 1);     /* S1, before the signal */
    at_store_u32(&rt->exiting, 1);
    sched_signal_done(rt);
    return 0;
}

int acto_runtime_ref(acto_runtime_t *rt)
{
    if (!rt)
        return ACTO_EINVAL;
    at_faa_u64(&rt->refs, 1);
    return 0;
}

int acto_runtime_unref(acto_runtime_t *rt)
{
    if (!rt)
        return ACTO_EINVAL;
    for (;;) {
        uint64_t r = at_load_u64(&rt->refs);
        if (r == 0)
            return ACTO_ESTATE;
        if (at_cas_u64(&rt->refs, r, r - 1)) {
            if (r == 1)
                sched_kick(rt);   /* maybe quiescent now: let a worker see */
            return 0;
        }
    }
}

static void free_records(acto_runtime_t *rt)
{
    ck_stack_entry_t *e = CK_STACK_FIRST(&rt->epoch.records);
    while (e) {
        ck_stack_entry_t *next = CK_STACK_NEXT(e);
        free(ACTO_CONTAINER(e, ck_epoch_record_t, record_next));
        e = next;
    }
}

void acto_runtime_free(acto_runtime_t *rt)
{
    if (!rt || at_load_u32(&rt->running))
        return;
    acto_ctx_t *saved = acto_tls_ctx;
    if (rt->workers && rt->workers[0].ctx.epoch && rt->root.epoch) {
        /* Finish every deferred cleanup, then shut the live actors down. */
        for (unsigned i = 0; i < rt->nworkers; i++) {
            acto_tls_ctx = &rt->workers[i].ctx;
            ck_epoch_barrier(rt->workers[i].ctx.epoch);
        }
        acto_tls_ctx = &rt->root;
        ck_epoch_barrier(rt->root.epoch);
        acto_tls_ctx = &rt->workers[0].ctx;
        actor_shutdown_all(rt);
    }
    acto_tls_ctx = saved;
    trace_close(rt);   /* after the shutdown exits, which it records */
    insp_free(rt);     /* after the shutdown, whose drains it counts */
    /* Contexts still attached belong to threads that broke the contract;
     * free them anyway so nothing leaks. */
    while (rt->contexts) {
        acto_ctx_t *c = rt->contexts;
        rt->contexts = c->all_next;
        if (c->zone)
            msgpack_zone_free(c->zone);
        if (c->kind == CTX_ATTACHED)
            free(c);
    }
    free_records(rt);
    for (unsigned i = 0; rt->workers && i < rt->nworkers; i++)
        px_free(rt->workers[i].px);   /* after the terminates, which may close I/O */
    free(rt->workers);
    mem_destroy(rt);
    pthread_mutex_destroy(&rt->gq_lock);
    pthread_mutex_destroy(&rt->ctx_lock);
    pthread_mutex_destroy(&rt->root_lock);
    free(rt);
}

const char *acto_runtime_backend(const acto_runtime_t *rt)
{
    return rt ? px_backend_name(rt->backend) : NULL;
}

/* ---- stats --------------------------------------------------------------------------- */

int acto_runtime_stats(acto_runtime_t *rt, acto_stats_t *st)
{
    if (!rt || !st)
        return ACTO_EINVAL;
    pthread_mutex_lock(&rt->ctx_lock);
    *st = rt->retired;
    for (acto_ctx_t *c = rt->contexts; c; c = c->all_next) {
        st->spawned += ctr_read(&c->spawned);
        st->exited += ctr_read(&c->exited);
        st->messages += ctr_read(&c->messages);
        st->dead_letters += ctr_read(&c->dead_letters);
    }
    pthread_mutex_unlock(&rt->ctx_lock);
    for (unsigned i = 0; i < rt->nworkers; i++) {
        const acto_worker_t *w = &rt->workers[i];
        st->steals += ctr_read(&w->steals);
        st->stolen += ctr_read(&w->stolen);
        st->sleeps += ctr_read(&w->sleeps);
        st->wakeups += ctr_read(&w->wakeups);
    }
    st->live = st->spawned - st->exited;
    st->workers = rt->nworkers;
    return 0;
}

int acto_runtime_worker_stats(acto_runtime_t *rt, unsigned i, acto_worker_stats_t *st)
{
    if (!rt || !st || i >= rt->nworkers)
        return ACTO_EINVAL;
    const acto_worker_t *w = &rt->workers[i];
    st->messages = ctr_read(&w->ctx.messages);
    st->steals = ctr_read(&w->steals);
    st->stolen = ctr_read(&w->stolen);
    st->sleeps = ctr_read(&w->sleeps);
    st->wakeups = ctr_read(&w->wakeups);
    st->runs = ctr_read(&w->runs);
    return 0;
}
