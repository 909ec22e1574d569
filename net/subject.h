/* net/subject.h - pub/sub subjects: syntax, wildcard matching, and the
 * subscription index that channel actors and the broker route with.
 *
 * SYNTAX (NATS style).  A subject is 1..SUBJECT_MAX bytes of tokens
 * separated by single dots: "orders.eu.new".  A token is one or more bytes
 * other than '.', space, the control characters 0x00-0x1f and 0x7f.  Bytes
 * 0x80-0xff are accepted as they are (UTF-8 is neither required nor
 * checked).  So "", ".a", "a.", "a..b", "a b", "a\tb" are invalid.
 * Comparison is byte for byte: "Foo" and "foo" are different subjects.
 *
 * A pattern may also use two wildcards, each only as a whole token:
 *   "*"  matches exactly one token (never an empty one, never zero tokens):
 *        "a.*" matches "a.b" but neither "a" nor "a.b.c";
 *   ">"  matches ONE or more trailing tokens and may only be the last token:
 *        "a.>" matches "a.b" and "a.b.c" but not "a"; ">" alone matches
 *        every subject.
 * The characters '*' and '>' appear nowhere else: "a*", "*b", "a.>b",
 * "a.>.b" are invalid patterns, and a publish subject (is_pattern false)
 * may contain neither.  Queue group names follow the publish-subject rules.
 *
 * THE INDEX maps patterns to subscriptions.  It is SINGLE-THREADED: one
 * owner (an actor) calls every function; nothing in it is atomic or locked.
 *
 * Delivery semantics (those of NATS):
 *  - Every subscription is delivered to independently.  A subscriber that
 *    holds two subscriptions matching a subject (say "a.*" and "a.>", or
 *    "a.b" twice) appears twice in the result, once per subscription:
 *    deduplicating is the subscriber's choice, made by its sids.
 *  - Queue subscriptions are grouped per message by queue NAME across every
 *    matching pattern: all matching queue subscriptions with name "q"
 *    (whether they subscribed "a.b", "a.*" or ">") form one group for that
 *    message, and exactly one of its members gets it.  Groups with
 *    different names each get one delivery, independently of each other
 *    and of the plain subscriptions.
 *  - The member is chosen uniformly at random (a xorshift PRNG per index,
 *    subidx_seed makes it reproducible).  Not round-robin: a group's member
 *    set differs from subject to subject (it is merged over patterns), and
 *    a shared rotation can then starve a member (two subjects alternating,
 *    one reaching {x, y} and the other only {x}, would hand every message
 *    to x); a per-subject rotation would need state that every
 *    subscription change resets.  Random choice keeps no state, is uniform
 *    for every subject, and costs one PRNG step per group (per pattern
 *    node the group spans, when it is merged over several).
 *  - The order of entries in a result is unspecified (plain subscriptions
 *    first, then one entry per queue group).
 *
 * Cost.  Matching walks a token trie: a literal child is found through one
 * hash table (ck_ht) keyed by (parent node, token), and '*' and '>'
 * children hang off their parent.  A literal subject visits at most the
 * nodes whose patterns can match it.  Nothing is allocated per call: the
 * result buffer and scratch arrays live in the index and only grow to the
 * largest result seen.  A direct-mapped cache (cache_slots entries, 128
 * bytes each) remembers, per recently published subject, the trie nodes
 * that match it; see subject.c for why its invalidation is exact.
 */
#ifndef ACTO_NET_SUBJECT_H
#define ACTO_NET_SUBJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest subject, pattern or queue group name, in bytes. */
#define SUBJECT_MAX 256
/* Default number of cache entries for subidx_new (128 bytes each). */
#define SUBIDX_CACHE_DEFAULT 1024u
/* Largest cache subidx_new accepts (entries). */
#define SUBIDX_CACHE_MAX (1u << 20)

/* ---- syntax ------------------------------------------------------------------ */

/* 0 if s[0..len) is a valid publish subject (is_pattern false) or
 * subscription pattern (is_pattern true), else ACTO_EINVAL (also for a NULL
 * s, len 0 or len > SUBJECT_MAX).  s need not be NUL-terminated. */
int subject_valid(const char *s, size_t len, bool is_pattern);

/* Does pattern p match subject s?  Both must be valid (checked with
 * subject_valid: an invalid pair gives an unspecified answer, never a crash
 * or a read out of bounds).  For one-off checks; the index is the fast way
 * to match one subject against many patterns. */
bool subject_match(const char *p, size_t plen, const char *s, size_t slen);

/* ---- the subscription index --------------------------------------------------- */

/* Who to deliver to: an id (e.g. a connection or actor pid) and a pointer
 * (e.g. the caller's subscription record with its sid).  Opaque here. */
typedef struct subject_key {
    uint64_t id;
    void *ptr;
} subject_key_t;

typedef struct subidx subidx_t;
typedef struct subidx_sub subidx_sub_t;     /* one subscription (a handle) */

/* A match: v[0..n).  v points into the index and stays valid until the
 * next subidx_match or subidx_free on it: adding and removing
 * subscriptions does not touch it, so a caller may remove subscriptions
 * (auto-unsubscribe after N messages, a dead subscriber) while it walks a
 * result. */
typedef struct subidx_result {
    const subject_key_t *v;
    size_t n;
} subidx_result_t;

typedef struct subidx_stats {
    size_t subs;            /* live subscriptions */
    size_t nodes;           /* trie nodes, root excluded */
    size_t queues;          /* distinct queue group names in use */
    uint64_t matches;       /* subidx_match calls that succeeded */
    uint64_t cache_hits;    /* of those, answered from the cache */
} subidx_stats_t;

/* A new empty index with a cache of cache_slots entries: 0 disables the
 * cache, otherwise a power of two up to SUBIDX_CACHE_MAX
 * (SUBIDX_CACHE_DEFAULT is a good start).  ACTO_EINVAL, ACTO_ENOMEM. */
int subidx_new(subidx_t **out, unsigned cache_slots);
/* Frees the index and every subscription in it (handles become invalid). */
void subidx_free(subidx_t *ix);
/* Reseed the queue-group PRNG (tests and benchmarks; the default seed is
 * fixed, so choices are reproducible run to run). */
void subidx_seed(subidx_t *ix, uint64_t seed);

/* Subscribe key to pattern[0..plen); queue NULL for a plain subscription,
 * else the queue group name queue[0..qlen).  *out receives the handle.
 * Adding the same (pattern, queue, key) twice makes two subscriptions.
 * ACTO_EINVAL: bad pattern or queue name (see SYNTAX), NULL ix/out;
 * ACTO_ENOMEM (the index is then unchanged). */
int subidx_add(subidx_t *ix, const char *pattern, size_t plen,
               const char *queue, size_t qlen, subject_key_t key, subidx_sub_t **out);
/* Unsubscribe: sub must come from subidx_add on this index and not have
 * been removed (the handle is freed).  Never fails. */
void subidx_remove(subidx_t *ix, subidx_sub_t *sub);
/* The key a subscription was added with. */
subject_key_t subidx_sub_key(const subidx_sub_t *sub);

/* The deliveries for a message published on subject[0..len): every plain
 * subscription whose pattern matches, plus one member of each queue group
 * (see the semantics above).  ACTO_EINVAL: not a valid publish subject
 * (out is then empty); ACTO_ENOMEM: the result buffer could not grow (only
 * possible when a result is larger than every earlier one). */
int subidx_match(subidx_t *ix, const char *subject, size_t len, subidx_result_t *out);

void subidx_get_stats(const subidx_t *ix, subidx_stats_t *st);

#endif
