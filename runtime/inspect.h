/* runtime/inspect.h - live inspection (internal; public side in
 * include/acto/inspect.h, protocol in docs/inspect.md).
 *
 * When inspection is on, the runtime keeps counters beside the actor table
 * (never in the 128-byte slot) and serves snapshots of them from a daemon
 * actor over a framed-msgpack listener.  When it is off, rt->insp and every
 * ctx->isent are NULL and the hot paths pay one predictable branch each:
 * send_in (msg.c) and actor_run (actor.c, once per turn).
 *
 * Counters, all read by the inspector while workers write them, so every
 * access is a relaxed atomic (at_*_rlx): a snapshot is a racy but
 * data-race-free view.
 *   K1 sent[w][slot]: messages pushed to slot's mailbox by worker w (one
 *      array per worker, written only by that worker: a plain increment
 *      published by a relaxed store, no RMW); sent[nworkers][slot] counts
 *      the foreign contexts' pushes (root, attached threads) with an RMW.
 *      Counted after the liveness check, before the push.
 *   K2 rec[slot].popped: messages taken out of the mailbox, by the turn
 *      (actor_run, as it pops each one) or the exit drain.  Only the mailbox's single consumer
 *      writes it (I1), so a relaxed load + store is enough.
 *   K3 sent and popped are never reset (a slot's mailbox outlives its
 *      actors: whatever an actor leaves is drained and counted as popped),
 *      so depth = sum(sent) - popped.  Reading popped first, then sent,
 *      gives depth >= 0: a message is counted sent before it is pushed,
 *      and pushed before it is popped.
 *   K4 rec[slot].handled / busy: this actor's since spawn; reset by
 *      acto_spawn before the pid is published, then written only by the
 *      worker running the actor, before the turn gives it up (so two
 *      workers never write them at once).
 *   K5 rec[slot].prev_*: the previous snapshot's values, touched only by
 *      the inspector actor (one actor: one thread at a time).
 *
 * Daemons: the endpoint's actors carry ACTOR_F_DAEMON (inherited by what
 * they spawn), and their fds' pending I/O holds no run reference
 * (proactor.h P6), so the endpoint never keeps acto_runtime_run from
 * returning. */
#ifndef ACTO_INSPECT_INTERNAL_H
#define ACTO_INSPECT_INTERNAL_H

#include "internal.h"
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define INSP_HAVE_TSC 1
#endif

typedef struct insp_rec {
    uint64_t popped;          /* K2 */
    uint64_t handled;         /* K4 */
    uint64_t busy;            /* K4: clock ticks (insp_ticks) */
    void *beh;                /* const acto_behavior_t *, set at spawn */
    acto_pid_t prev_pid;      /* K5 */
    uint64_t prev_handled, prev_busy;
    uint64_t pad_;
} insp_rec_t;
_Static_assert(sizeof(insp_rec_t) == 64, "one line per slot");

typedef struct insp_worker {  /* written by its worker only */
    uint64_t handled, busy;   /* busy: clock ticks */
    /* the inspector's previous snapshot (K5) */
    uint64_t prev_handled, prev_busy;
} __attribute__((aligned(ACTO_CACHELINE))) insp_worker_t;

typedef struct insp {
    acto_runtime_t *rt;
    insp_rec_t *rec;              /* one per actor slot */
    size_t rec_bytes;
    uint64_t *sent;               /* K1: nworkers + 1 arrays of max_slots */
    size_t sent_bytes;
    insp_worker_t *w;             /* one per worker */
    uint64_t t_prev, k_prev;      /* inspector: previous snapshot, ns and ticks */
    char addr[80];                /* ADDR_STRLEN */
} insp_t;

/* runtime.c: acto_runtime_new (config or ACTO_INSPECT), attach, free. */
int  insp_init(acto_runtime_t *rt);
void insp_ctx_open(acto_ctx_t *ctx);
void insp_free(acto_runtime_t *rt);          /* after actor_shutdown_all */

/* hooks */
void insp_spawn(acto_runtime_t *rt, uint32_t slot, const acto_behavior_t *beh);
void insp_turn(acto_ctx_t *ctx, acto_actor_t *a, unsigned n, uint64_t t0);
void insp_drained(acto_runtime_t *rt, acto_actor_t *a, uint64_t n);
uint64_t insp_mono_ns(void);

/* The turn clock: two reads per turn, so the cheapest one that is right.
 * With an invariant TSC that the kernel itself uses as clocksource (as
 * trace.c decides), raw TSC ticks: ~15 ns a read on our VMs against ~40
 * for clock_gettime.  Busy shares are ratios of ticks to ticks, so no
 * conversion to ns is needed.  Otherwise CLOCK_MONOTONIC ns. */
extern bool insp_use_tsc;
static inline uint64_t insp_ticks(void)
{
#ifdef INSP_HAVE_TSC
    if (ACTO_LIKELY(insp_use_tsc))
        return __rdtsc();
#endif
    return insp_mono_ns();
}

/* K2: the turn counts each message as it pops it, so a snapshot taken
 * during a long turn does not count what the turn already took. */
static inline uint64_t *insp_popped(acto_ctx_t *ctx, acto_actor_t *a)
{
    return &ctx->rt->insp->rec[slot_index(ctx->rt, a)].popped;
}
static inline void insp_pop(uint64_t *popped)
{
    /* Release: a reader of this count also sees the sends counted before
     * the messages it covers were pushed (K3). */
    at_store_u64(popped, at_load_u64_rlx(popped) + 1);
}

/* K1: in send_in, as `if (ACTO_UNLIKELY(ctx->isent)) insp_sent(ctx, slot)`. */
static inline void insp_sent(acto_ctx_t *ctx, uint32_t slot)
{
    uint64_t *c = &ctx->isent[slot];
    if (ctx->kind == CTX_WORKER)
        at_store_u64_rlx(c, at_load_u64_rlx(c) + 1);
    else
        at_faa_u64(c, 1);
}

#endif
