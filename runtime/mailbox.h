/* runtime/mailbox.h - an actor's mailbox: intrusive lock-free MPSC queue.
 *
 * Vyukov's intrusive node-based MPSC queue with the stub node embedded in
 * the mailbox, plus one bit of scheduling state (after Pony's messageq).
 *
 * Invariants
 *  I1  Producers only ever exchange `head` and then store the displaced
 *      node's `next` once.  Only the owner (the worker running the actor)
 *      reads `tail`, pops, or clears/sets the EMPTY bit.
 *  I2  The low bit of `head` (EMPTY) is set if and only if the queue is
 *      empty AND the actor is in no run queue and is not running.
 *  I3  A push whose exchange returns a tagged head is the one and only
 *      push that made the mailbox non-empty: it, and nobody else, must
 *      schedule the actor.  Hence an actor is enqueued exactly once per
 *      empty -> non-empty transition, and never runs on two workers.
 *  I4  mbox_markempty succeeds only when tail is the stub and head is the
 *      stub (so the queue is empty at that instant); otherwise the owner
 *      keeps the actor scheduled and runs it again later.
 *  I5  A dead actor never sets EMPTY again, so late pushes only append;
 *      its queue is drained once no sender can still be pushing
 *      (epoch grace period, see actor.c).
 */
#ifndef ACTO_MAILBOX_H
#define ACTO_MAILBOX_H

#include <stddef.h>
#include <stdint.h>
#include "atomic.h"

typedef struct acto_mnode {
    struct acto_mnode *next;
} acto_mnode_t;

typedef struct acto_mailbox {
    acto_mnode_t *head;  /* producers exchange; low bit = EMPTY (I2) */
    acto_mnode_t *tail;  /* owner only */
    acto_mnode_t stub;
} acto_mailbox_t;

#define MBOX_EMPTY ((uintptr_t)1)

static inline acto_mnode_t *mbox_tag(acto_mnode_t *n)
{ return (acto_mnode_t *)((uintptr_t)n | MBOX_EMPTY); }
static inline acto_mnode_t *mbox_untag(acto_mnode_t *n)
{ return (acto_mnode_t *)((uintptr_t)n & ~MBOX_EMPTY); }

/* scheduled: start as "owned by whoever is initialising it" (EMPTY clear). */
static inline void mbox_init(acto_mailbox_t *mb, int scheduled)
{
    mb->stub.next = NULL;
    mb->tail = &mb->stub;
    at_store_ptr((void **)&mb->head, scheduled ? &mb->stub : mbox_tag(&mb->stub));
}

/* Push the pre-linked chain first..last (last->next already NULL) with one
 * exchange: to the consumer it is the same as pushing the nodes one by one
 * (I1; the chain's links are published by the release store below), and
 * it is one empty -> non-empty transition at most (I3).  Returns 1 if the
 * mailbox was EMPTY: the caller must schedule the actor. */
static inline int mbox_push_chain(acto_mailbox_t *mb, acto_mnode_t *first, acto_mnode_t *last)
{
    acto_mnode_t *prev = at_xchg_ptr((void **)&mb->head, last);
    at_store_ptr((void **)&mbox_untag(prev)->next, first);
    return ((uintptr_t)prev & MBOX_EMPTY) != 0;
}

/* One node: a chain of one. */
static inline int mbox_push(acto_mailbox_t *mb, acto_mnode_t *n)
{
    at_store_ptr((void **)&n->next, NULL);
    return mbox_push_chain(mb, n, n);
}

static inline void mbox_push_stub(acto_mailbox_t *mb)
{
    at_store_ptr((void **)&mb->stub.next, NULL);
    acto_mnode_t *prev = at_xchg_ptr((void **)&mb->head, &mb->stub);
    at_store_ptr((void **)&prev->next, &mb->stub);
}

/* Owner only.  NULL means "nothing to take now" (maybe a push in flight). */
static inline acto_mnode_t *mbox_pop(acto_mailbox_t *mb)
{
    acto_mnode_t *tail = mb->tail;
    acto_mnode_t *next = at_load_ptr((void *const *)&tail->next);

    if (tail == &mb->stub) {
        if (next == NULL)
            return NULL;
        mb->tail = next;
        tail = next;
        next = at_load_ptr((void *const *)&next->next);
    }
    if (next != NULL) {
        mb->tail = next;
        return tail;
    }
    if (tail != at_load_ptr((void *const *)&mb->head))
        return NULL;            /* a producer has exchanged but not linked */
    mbox_push_stub(mb);
    next = at_load_ptr((void *const *)&tail->next);
    if (next != NULL) {
        mb->tail = next;
        return tail;
    }
    return NULL;
}

/* Owner only: try to give up the actor (I4).  1 = now EMPTY/unscheduled. */
static inline int mbox_markempty(acto_mailbox_t *mb)
{
    if (mb->tail != &mb->stub)
        return 0;
    return at_cas_ptr((void **)&mb->head, &mb->stub, mbox_tag(&mb->stub));
}

#endif
