/* runtime/timerwheel.h - a hierarchical timing wheel (one per worker).
 *
 * Single-threaded: the owning worker is the only caller, so there are no
 * locks and no atomics.  Entries are intrusive: the caller embeds an
 * acto_tw_entry_t in its own record, owns its memory, and finds the record
 * again with ACTO_CONTAINER in the callback.  Start, cancel and re-arm are
 * O(1); no call allocates.
 *
 * Time is a uint64 nanosecond count on one monotonic clock chosen by the
 * caller (CLOCK_MONOTONIC in the runtime); deadlines are absolute.
 *
 * Resolution: one tick is TW_TICK_NS = 2^16 ns (65.536 us).  A power of two
 * makes every slot computation a shift; 65 us is close to Linux's default
 * timer slack (50 us), so the wheel's rounding is not what dominates a
 * timer's lateness, and 16 bits of tick plus 8 levels of 6 bits cover the
 * whole 64-bit clock, so no overflow list is needed.
 *
 * Guarantees (T1..T4 are restated in timerwheel.c next to the code):
 *  T1 never early: an entry fires only in a tw_advance(now) with
 *     now >= its deadline.
 *  T2 lateness: it fires in the first tw_advance(now) with
 *     now >= ceil(deadline / TW_TICK_NS) * TW_TICK_NS, i.e. at most one
 *     tick after its deadline, provided the caller advances by then
 *     (tw_next says when).
 *  T3 order: within one tw_advance, entries that were already due when it
 *     began (started with a past deadline) fire first, then the others in
 *     order of their deadline tick; entries of the same tick fire in no
 *     particular order.
 *  T4 an entry's callback runs with the entry already disarmed, so it may
 *     re-arm it (periodic timers: tw_start(tw, e, tw_deadline(e) + period)),
 *     cancel or start others, or let the record be freed.  An entry armed
 *     from a callback with a deadline that is already due is not fired by
 *     the batch that is firing: it fires at the next tick tw_advance
 *     processes, or in the next tw_advance, so a zero period cannot loop
 *     forever.
 *
 * Usage (the worker loop):
 *     tw_init(&w->tw, now());
 *     ...
 *     uint64_t t = tw_next(&w->tw);         // sleep until at most t
 *     wait_for_io(t == TW_NEVER ? forever : t);
 *     tw_advance(&w->tw, now());            // fires callbacks
 */
#ifndef ACTO_TIMERWHEEL_H
#define ACTO_TIMERWHEEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TW_TICK_SHIFT 16
#define TW_TICK_NS (UINT64_C(1) << TW_TICK_SHIFT)
#define TW_LEVEL_BITS 6
#define TW_SLOTS (1u << TW_LEVEL_BITS)          /* slots per level */
#define TW_LEVELS 8                             /* 16 + 8 * 6 = 64 bits */
/* tw_next's answer when nothing is armed. */
#define TW_NEVER UINT64_MAX
/* Deadlines after this (about 584 years of uptime) are treated as this. */
#define TW_MAX_NS (((UINT64_C(1) << (64 - TW_TICK_SHIFT)) - 1) << TW_TICK_SHIFT)

typedef struct acto_tw acto_tw_t;
typedef struct acto_tw_entry acto_tw_entry_t;

/* Called from tw_advance for each entry that fires; `now_ns` is the time
 * given to tw_advance. */
typedef void (*acto_tw_fn)(acto_tw_t *tw, acto_tw_entry_t *e, uint64_t now_ns);

/* Embed in your record; fields are private to timerwheel.c. */
struct acto_tw_entry {
    acto_tw_entry_t *next, *prev;   /* circular list of a slot or `due` */
    uint64_t deadline;              /* ns, as given to tw_start (clamped) */
    acto_tw_fn fn;
    uint32_t where;                 /* TW_IDLE, TW_DUE or TW_IN_SLOT + slot */
};

struct acto_tw {
    acto_tw_entry_t slot[TW_LEVELS][TW_SLOTS];   /* list heads (sentinels) */
    uint64_t occupied[TW_LEVELS];   /* bit s set iff slot[level][s] non-empty */
    acto_tw_entry_t due;            /* armed with a deadline tick <= now_tick */
    uint64_t now_tick;              /* every tick <= now_tick is processed */
    size_t count;                   /* armed entries */
};

/* Start with every tick up to now_ns processed. */
void tw_init(acto_tw_t *tw, uint64_t now_ns);
/* Prepare an entry (disarmed) with the callback it will fire. */
void tw_entry_init(acto_tw_entry_t *e, acto_tw_fn fn);

/* Arm e to fire at deadline_ns; an armed e is moved (re-armed).  A deadline
 * that is already due fires in the next tw_advance. */
void tw_start(acto_tw_t *tw, acto_tw_entry_t *e, uint64_t deadline_ns);
/* Disarm e; returns true if it was armed (false: it already fired, was
 * cancelled, or was never started).  Safe on any initialised entry. */
bool tw_cancel(acto_tw_t *tw, acto_tw_entry_t *e);
static inline bool tw_armed(const acto_tw_entry_t *e) { return e->where != 0; }
/* The deadline e was last started with. */
static inline uint64_t tw_deadline(const acto_tw_entry_t *e) { return e->deadline; }

/* Fire every entry whose deadline tick is <= now_ns / TW_TICK_NS, in tick
 * order.  Returns how many fired.  A now_ns earlier than a previous call
 * (it should not happen with a monotonic clock) fires only what is due. */
size_t tw_advance(acto_tw_t *tw, uint64_t now_ns);
/* When tw_advance must next be called: 0 if something is due already,
 * TW_NEVER if nothing is armed, else a time never later than the earliest
 * armed deadline rounded up to a tick.  It is that time exactly when the
 * entry sits in the finest level; otherwise it is the point where a coarser
 * level must be cascaded (waking there costs one cheap tw_advance, and
 * tw_next then answers more closely: at most TW_LEVELS such steps). */
uint64_t tw_next(const acto_tw_t *tw);
/* Armed entries. */
static inline size_t tw_count(const acto_tw_t *tw) { return tw->count; }
/* Disarm and return any armed entry, NULL if none: for tearing down a
 * wheel whose entries own memory. */
acto_tw_entry_t *tw_take(acto_tw_t *tw);

#endif
