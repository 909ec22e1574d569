/* runtime/memory.c - reserved regions, size classes and per-context caches.
 *
 * Two regions are reserved up front with MAP_NORESERVE and advised to use
 * transparent huge pages: the actor table and the arena (messages and
 * large actor states).  A first touch of a 4 KiB page costs ~12 us on the
 * VMs we target, but only ~0.26 us per 4 KiB inside a huge page, so
 * spawning a million actors is dominated by how memory is touched.
 * Memory is recycled through the caches and returned only when the runtime
 * is freed. */
#define _GNU_SOURCE
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

#define SPAN_BYTES (256u * 1024)
#define ARENA_MAX ((size_t)64 << 30)

static void *reserve(size_t *size, size_t min)
{
    for (size_t sz = *size; sz >= min; sz /= 2) {
        void *p = mmap(NULL, sz, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p != MAP_FAILED) {
#ifdef MADV_HUGEPAGE
            madvise(p, sz, MADV_HUGEPAGE);
#endif
            *size = sz;
            return p;
        }
    }
    return NULL;
}

int mem_init(acto_runtime_t *rt)
{
    size_t sb = (size_t)rt->max_slots * ACTOR_SLOT_SIZE;
    /* may shrink under address-space limits, but never below a small
     * table that was asked for (max_actors < 8192) */
    rt->slots = reserve(&sb, sb < ((size_t)1 << 20) ? sb : (size_t)1 << 20);
    if (!rt->slots)
        return ACTO_ENOMEM;
    rt->slots_bytes = sb;
    rt->max_slots = sb / ACTOR_SLOT_SIZE;
    size_t ab = ARENA_MAX;
    rt->arena = reserve(&ab, (size_t)16 << 20);
    if (!rt->arena) {
        munmap(rt->slots, rt->slots_bytes);
        return ACTO_ENOMEM;
    }
    rt->arena_size = ab;
    pthread_mutex_init(&rt->depot_lock, NULL);
    return 0;
}

void mem_destroy(acto_runtime_t *rt)
{
    munmap(rt->arena, rt->arena_size);
    munmap(rt->slots, rt->slots_bytes);
    pthread_mutex_destroy(&rt->depot_lock);
}

static size_t kind_size(unsigned kind) { return (size_t)MSG_CLASS_MIN << kind; }

/* Fresh memory from the arena, in spans so the shared counter is touched
 * rarely. */
static void *carve(acto_ctx_t *ctx, size_t sz)
{
    acto_cache_t *c = &ctx->cache;
    if ((size_t)(c->span_end - c->span) < sz) {
        uint64_t off = at_faa_u64(&ctx->rt->arena_used, SPAN_BYTES);
        if (off + SPAN_BYTES > ctx->rt->arena_size)
            return NULL;
        c->span = ctx->rt->arena + off;
        c->span_end = c->span + SPAN_BYTES;
    }
    void *p = c->span;
    c->span += sz;
    return p;
}

static void depot_put(acto_runtime_t *rt, unsigned kind, acto_fblk_t *chain)
{
    /* depot_get peeks at depot[kind] without the lock: writes are atomic */
    pthread_mutex_lock(&rt->depot_lock);
    chain->chain_next = rt->depot[kind];
    at_store_ptr((void **)&rt->depot[kind], chain);
    pthread_mutex_unlock(&rt->depot_lock);
}

static acto_fblk_t *depot_get(acto_runtime_t *rt, unsigned kind)
{
    if (!at_load_ptr_rlx((void *const *)&rt->depot[kind]))
        return NULL;
    pthread_mutex_lock(&rt->depot_lock);
    acto_fblk_t *chain = rt->depot[kind];
    if (chain)
        at_store_ptr((void **)&rt->depot[kind], chain->chain_next);
    pthread_mutex_unlock(&rt->depot_lock);
    return chain;
}

/* A recycled block from the local list or the depot; NULL if none. */
static void *cache_reuse(acto_ctx_t *ctx, unsigned kind)
{
    acto_cache_t *c = &ctx->cache;
    acto_fblk_t *b = c->head[kind];
    if (ACTO_LIKELY(b != NULL)) {
        c->head[kind] = b->next;
        c->n[kind]--;
        return b;
    }
    b = depot_get(ctx->rt, kind);
    if (b) {
        c->head[kind] = b->next;
        c->n[kind] = b->count - 1;
    }
    return b;
}

/* cache_alloc (internal.h) found the local list empty. */
void *cache_alloc_slow(acto_ctx_t *ctx, unsigned kind)
{
    void *p = cache_reuse(ctx, kind);
    return p ? p : carve(ctx, kind_size(kind));
}

/* Move CACHE_MAG blocks from the front of the list to the depot. */
void cache_spill(acto_ctx_t *ctx, unsigned kind)
{
    acto_cache_t *c = &ctx->cache;
    acto_fblk_t *first = c->head[kind], *last = first;
    for (unsigned i = 1; i < CACHE_MAG; i++)
        last = last->next;
    c->head[kind] = last->next;
    c->n[kind] -= CACHE_MAG;
    last->next = NULL;
    first->count = CACHE_MAG;
    depot_put(ctx->rt, kind, first);
}

/* Give everything back to the depot (a context going away). */
void cache_flush(acto_ctx_t *ctx)
{
    acto_cache_t *c = &ctx->cache;
    for (unsigned k = 0; k < CACHE_NKIND; k++) {
        while (c->n[k] >= CACHE_MAG)
            cache_spill(ctx, k);
        if (c->n[k]) {
            c->head[k]->count = c->n[k];
            depot_put(ctx->rt, k, c->head[k]);
            c->head[k] = NULL;
            c->n[k] = 0;
        }
    }
    /* Unused fresh slot indices and span tails are simply abandoned: they
     * are a bounded waste per detached context. */
}

acto_actor_t *slot_alloc(acto_ctx_t *ctx, uint32_t *index)
{
    acto_runtime_t *rt = ctx->rt;
    acto_cache_t *c = &ctx->cache;
    acto_actor_t *a;
    /* Slots must come from the slot table: never carve them from the arena
     * (the depot may be emptied by another context between a check and
     * the take, so only cache_reuse, which does not carve, is safe here). */
    if ((a = cache_reuse(ctx, CACHE_SLOTS)) != NULL) {
        *index = slot_index(rt, a);
        return a;
    }
    if (c->slot_next == c->slot_end) {
        uint32_t base = at_faa_u32(&rt->slot_hwm, 64);
        if ((uint64_t)base + 64 > rt->max_slots)
            return NULL;
        c->slot_next = base;
        c->slot_end = base + 64;
    }
    *index = c->slot_next++;
    return slot_at(rt, *index);
}

void slot_free(acto_ctx_t *ctx, acto_actor_t *a)
{
    cache_free(ctx, CACHE_SLOTS, a);
}
