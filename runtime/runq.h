/* runtime/runq.h - a worker's run queue: bounded single-producer,
 * multi-consumer ring of runnable actors (the shape of Go's runq).
 *
 * Invariants
 *  R1  Only the owning worker writes `tail` and the slots; it publishes a
 *      slot with a release store of `tail`.
 *  R2  Any consumer (the owner, or a thief) claims slots [h, h+n) by one
 *      CAS of `head` from h to h+n; a failed CAS means someone else
 *      claimed them, and the slots it read are discarded.
 *  R3  tail - head <= RUNQ_SIZE always; a full ring spills half of its
 *      contents to the runtime's global queue (runq_put returns 0 and the
 *      caller spills).
 * Slots are read with relaxed atomics because a thief may read a slot the
 * owner is overwriting; R2 then rejects what it read.
 */
#ifndef ACTO_RUNQ_H
#define ACTO_RUNQ_H

#include <stdint.h>
#include "atomic.h"

#define RUNQ_SIZE 256u

typedef struct acto_runq {
    uint32_t head;                  /* consumers CAS */
    uint32_t pad_[15];
    uint32_t tail;                  /* owner only writes */
    uint32_t pad2_[15];
    void *slot[RUNQ_SIZE];
} acto_runq_t;

static inline uint32_t runq_len(const acto_runq_t *q)
{
    uint32_t h = at_load_u32(&q->head), t = at_load_u32(&q->tail);
    return t - h;
}

/* Owner.  Returns 0 if full. */
static inline int runq_put(acto_runq_t *q, void *x)
{
    uint32_t h = at_load_u32(&q->head), t = q->tail;
    if (t - h >= RUNQ_SIZE)
        return 0;
    __atomic_store_n(&q->slot[t % RUNQ_SIZE], x, __ATOMIC_RELAXED);
    at_store_u32(&q->tail, t + 1);
    return 1;
}

/* Owner.  Claims up to half the ring (for spilling); returns how many
 * were copied to out. */
static inline uint32_t runq_grab_half(acto_runq_t *q, void **out)
{
    for (;;) {
        uint32_t h = at_load_u32(&q->head), t = q->tail;
        uint32_t n = (t - h) / 2;
        if (n == 0)
            return 0;
        for (uint32_t i = 0; i < n; i++)
            out[i] = __atomic_load_n(&q->slot[(h + i) % RUNQ_SIZE], __ATOMIC_RELAXED);
        if (at_cas_u32(&q->head, h, h + n))
            return n;
    }
}

/* Owner or thief: take one from the head. */
static inline void *runq_get(acto_runq_t *q)
{
    for (;;) {
        uint32_t h = at_load_u32(&q->head), t = at_load_u32(&q->tail);
        if (t == h)
            return NULL;
        void *x = __atomic_load_n(&q->slot[h % RUNQ_SIZE], __ATOMIC_RELAXED);
        if (at_cas_u32(&q->head, h, h + 1))
            return x;
    }
}

/* Thief: move about half of victim's actors into dst (which must be the
 * thief's own, empty-enough ring).  Returns the number moved. */
static inline uint32_t runq_steal(acto_runq_t *dst, acto_runq_t *victim)
{
    uint32_t dt = dst->tail;
    for (;;) {
        uint32_t h = at_load_u32(&victim->head), t = at_load_u32(&victim->tail);
        uint32_t n = t - h;
        n -= n / 2;
        if (n == 0)
            return 0;
        if (n > RUNQ_SIZE / 2)
            continue;           /* inconsistent snapshot: retry */
        if (n > RUNQ_SIZE - (dt - at_load_u32(&dst->head)))
            n = RUNQ_SIZE - (dt - at_load_u32(&dst->head));
        if (n == 0)
            return 0;
        for (uint32_t i = 0; i < n; i++) {
            void *x = __atomic_load_n(&victim->slot[(h + i) % RUNQ_SIZE], __ATOMIC_RELAXED);
            __atomic_store_n(&dst->slot[(dt + i) % RUNQ_SIZE], x, __ATOMIC_RELAXED);
        }
        if (at_cas_u32(&victim->head, h, h + n)) {
            at_store_u32(&dst->tail, dt + n);
            return n;
        }
    }
}

#endif
