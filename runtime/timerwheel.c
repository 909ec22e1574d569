/* runtime/timerwheel.c - hierarchical timing wheel (see timerwheel.h).
 *
 * An entry's expiry tick is x = ceil(deadline / TW_TICK_NS).  Level L has
 * TW_SLOTS slots of 2^(6L) ticks each; "digit L" of a tick is its bits
 * [6L, 6L+6).
 *
 * Invariants (W1..W4), true between calls:
 *  W1 An armed entry with x > now_tick is in level L = msb(x ^ now_tick) / 6,
 *     slot digit_L(x).  So x agrees with now_tick on every digit above L and
 *     its digit L is greater than now_tick's: the slot lies strictly ahead
 *     in the current turn of its level, and there is no wrap-around to
 *     confuse one turn with the next.
 *  W2 An armed entry with x <= now_tick is on the `due` list.
 *  W3 occupied[L] bit s is set iff slot[L][s] is non-empty.
 *  W4 count is the number of armed entries (slots + due).
 *
 * Advancing: the only ticks at which anything must happen are, per level L,
 * the first tick of its next occupied slot (its digit L set to that slot,
 * lower digits zero); tw_advance jumps from one such event to the next
 * (found with one ctz per level) instead of walking every tick.  At an
 * event tick t, each level whose slot starts at t is emptied and its
 * entries re-placed relative to t: W1 sends them to lower levels or, if
 * x == t, to `due`, never into a slot that starts at t (that would need
 * x's digit at that level to equal t's), so an entry goes all the way down
 * in one event and the order of the levels does not matter.  Moving
 * now_tick to t keeps W1 for everything else: no occupied slot starts in
 * (old now_tick, t), and a level whose higher digits change on the way is
 * empty, since all of its slots lie before the carry.
 *
 * Guarantees (timerwheel.h): T1 because an entry reaches `due` only when
 * now_tick >= x, and x * TICK >= deadline; T2 because tw_advance(now)
 * processes every event tick <= now / TICK; T3 because what is on `due`
 * when tw_advance starts fires first, then events are processed in
 * increasing tick order and each event's due entries fire before the next; T4 because `due` is detached before its callbacks run.
 */
#include <assert.h>

#include "timerwheel.h"

enum { TW_IDLE = 0, TW_DUE = 1, TW_IN_SLOT = 2 };   /* entry->where */

#define TW_MAX_TICK ((UINT64_C(1) << (64 - TW_TICK_SHIFT)) - 1)

/* ---- circular doubly-linked lists with a sentinel --------------------------- */

static void list_init(acto_tw_entry_t *h) { h->next = h->prev = h; }
static bool list_empty(const acto_tw_entry_t *h) { return h->next == h; }

static void list_append(acto_tw_entry_t *h, acto_tw_entry_t *e)
{
    e->prev = h->prev;
    e->next = h;
    h->prev->next = e;
    h->prev = e;
}

static void list_unlink(acto_tw_entry_t *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
    e->next = e->prev = e;
}

/* Move every entry of `from` to the end of `to`; `from` becomes empty. */
static void list_splice(acto_tw_entry_t *to, acto_tw_entry_t *from)
{
    if (list_empty(from))
        return;
    from->next->prev = to->prev;
    to->prev->next = from->next;
    from->prev->next = to;
    to->prev = from->prev;
    list_init(from);
}

/* ---- placement ------------------------------------------------------------ */

static uint64_t expiry_tick(uint64_t deadline_ns)
{
    uint64_t x = deadline_ns >> TW_TICK_SHIFT;
    if (deadline_ns & (TW_TICK_NS - 1))
        x++;   /* round up: never early (T1) */
    return x > TW_MAX_TICK ? TW_MAX_TICK : x;
}

static unsigned digit(uint64_t tick, unsigned level)
{
    return (unsigned)(tick >> (level * TW_LEVEL_BITS)) & (TW_SLOTS - 1);
}

/* Link an armed, unlinked entry where W1/W2 say it belongs. */
static void place(acto_tw_t *tw, acto_tw_entry_t *e)
{
    uint64_t x = expiry_tick(e->deadline);
    if (x <= tw->now_tick) {
        e->where = TW_DUE;
        list_append(&tw->due, e);
        return;
    }
    unsigned msb = 63u - (unsigned)__builtin_clzll(x ^ tw->now_tick);
    unsigned level = msb / TW_LEVEL_BITS;
    unsigned s = digit(x, level);
    e->where = TW_IN_SLOT + level * TW_SLOTS + s;
    list_append(&tw->slot[level][s], e);
    tw->occupied[level] |= UINT64_C(1) << s;
}

/* Unlink an armed entry, keeping W3. */
static void unplace(acto_tw_t *tw, acto_tw_entry_t *e)
{
    uint32_t w = e->where;
    list_unlink(e);
    e->where = TW_IDLE;
    if (w >= TW_IN_SLOT) {
        unsigned level = (w - TW_IN_SLOT) / TW_SLOTS, s = (w - TW_IN_SLOT) % TW_SLOTS;
        if (list_empty(&tw->slot[level][s]))
            tw->occupied[level] &= ~(UINT64_C(1) << s);
    }
}

/* ---- public -------------------------------------------------------------- */

void tw_init(acto_tw_t *tw, uint64_t now_ns)
{
    for (unsigned l = 0; l < TW_LEVELS; l++) {
        for (unsigned s = 0; s < TW_SLOTS; s++)
            list_init(&tw->slot[l][s]);
        tw->occupied[l] = 0;
    }
    list_init(&tw->due);
    tw->now_tick = now_ns >> TW_TICK_SHIFT;
    tw->count = 0;
}

void tw_entry_init(acto_tw_entry_t *e, acto_tw_fn fn)
{
    e->next = e->prev = e;
    e->deadline = 0;
    e->fn = fn;
    e->where = TW_IDLE;
}

void tw_start(acto_tw_t *tw, acto_tw_entry_t *e, uint64_t deadline_ns)
{
    if (e->where != TW_IDLE)
        unplace(tw, e);
    else
        tw->count++;
    e->deadline = deadline_ns > TW_MAX_NS ? TW_MAX_NS : deadline_ns;
    place(tw, e);
}

bool tw_cancel(acto_tw_t *tw, acto_tw_entry_t *e)
{
    if (e->where == TW_IDLE)
        return false;
    unplace(tw, e);
    tw->count--;
    return true;
}

/* The first tick of level l's next occupied slot; TW_NEVER if it has none. */
static uint64_t level_event(const acto_tw_t *tw, unsigned l)
{
    uint64_t occ = tw->occupied[l];
    if (!occ)
        return TW_NEVER;
    unsigned shift = l * TW_LEVEL_BITS;
    /* W1: every occupied slot is ahead of now_tick's digit. */
    assert((occ & ((UINT64_C(2) << digit(tw->now_tick, l)) - 1)) == 0);
    uint64_t s = (uint64_t)__builtin_ctzll(occ);
    uint64_t above = shift + TW_LEVEL_BITS >= 64 ? 0
        : (tw->now_tick >> (shift + TW_LEVEL_BITS)) << (shift + TW_LEVEL_BITS);
    return above | (s << shift);
}

static uint64_t next_event(const acto_tw_t *tw)
{
    uint64_t t = TW_NEVER;
    for (unsigned l = 0; l < TW_LEVELS; l++) {
        uint64_t e = level_event(tw, l);
        if (e < t)
            t = e;
    }
    return t;
}

/* now_tick has just become t: empty every slot that starts at t,
 * re-placing its entries (W1, W2). */
static void cascade(acto_tw_t *tw, uint64_t t)
{
    for (unsigned l = TW_LEVELS; l-- > 0;) {
        if (l && (t & ((UINT64_C(1) << (l * TW_LEVEL_BITS)) - 1)))
            continue;   /* t is not the first tick of a level-l slot */
        unsigned s = digit(t, l);
        if (!(tw->occupied[l] & (UINT64_C(1) << s)))
            continue;
        acto_tw_entry_t batch;
        list_init(&batch);
        list_splice(&batch, &tw->slot[l][s]);
        tw->occupied[l] &= ~(UINT64_C(1) << s);
        while (!list_empty(&batch)) {
            acto_tw_entry_t *e = batch.next;
            list_unlink(e);
            place(tw, e);
        }
    }
}

/* Fire what is on `due` now; entries made due by these callbacks wait for
 * the next call (T4). */
static size_t fire_due(acto_tw_t *tw, uint64_t now_ns)
{
    acto_tw_entry_t batch;
    size_t n = 0;
    list_init(&batch);
    list_splice(&batch, &tw->due);
    while (!list_empty(&batch)) {
        acto_tw_entry_t *e = batch.next;
        list_unlink(e);
        e->where = TW_IDLE;
        tw->count--;
        n++;
        e->fn(tw, e, now_ns);   /* may touch any entry, including e */
    }
    return n;
}

size_t tw_advance(acto_tw_t *tw, uint64_t now_ns)
{
    uint64_t target = now_ns >> TW_TICK_SHIFT;
    size_t n = fire_due(tw, now_ns);
    for (;;) {
        uint64_t t = next_event(tw);
        if (t > target)
            break;
        tw->now_tick = t;
        cascade(tw, t);
        n += fire_due(tw, now_ns);
    }
    if (target > tw->now_tick)
        tw->now_tick = target;   /* no event in between: W1 still holds */
    return n;
}

uint64_t tw_next(const acto_tw_t *tw)
{
    if (!list_empty(&tw->due))
        return 0;
    if (tw->count == 0)
        return TW_NEVER;
    return next_event(tw) << TW_TICK_SHIFT;
}

acto_tw_entry_t *tw_take(acto_tw_t *tw)
{
    acto_tw_entry_t *e = NULL;
    if (!list_empty(&tw->due)) {
        e = tw->due.next;
    } else {
        for (unsigned l = 0; l < TW_LEVELS && !e; l++)
            if (tw->occupied[l])
                e = tw->slot[l][__builtin_ctzll(tw->occupied[l])].next;
    }
    if (e)
        tw_cancel(tw, e);
    return e;
}
