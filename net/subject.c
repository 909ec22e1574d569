/* net/subject.c - subject syntax, wildcard matching and the subscription
 * index (net/subject.h).
 *
 * The index is a token trie.  Node kinds: the root, literal tokens, '*'
 * and '>'.  A '*' or '>' child hangs off its parent (star, gt); literal
 * children are found through ONE hash table for the whole trie, ix->lits,
 * keyed by (parent node, token bytes), so a node with 10,000 literal
 * children costs no per-node table.  A node holds the plain subscriptions
 * of the pattern that ends at it and a list of queue groups (one per queue
 * name) with their members.
 *
 * Invariants:
 *  N1  A node other than the root exists iff it holds a subscription or
 *      has a child (prune() removes a node the moment both become false).
 *  N2  ix->gen is incremented whenever a node is created or destroyed, and
 *      at no other time.
 *  C1  A cache slot is used only if slot.gen == ix->gen and its subject
 *      bytes equal the published ones.  It holds the list of every node
 *      whose pattern matches that subject, computed at slot.gen (nodes
 *      with no subscriptions included).
 * Why C1 makes the cache exact: which nodes match a subject depends only
 * on which nodes exist; by N2 none was created or destroyed since the slot
 * was filled, so its list is the list a fresh walk would produce, and all
 * its pointers are live.  Subscriptions added to or removed from existing
 * nodes do not invalidate anything: collect() reads them from the nodes at
 * match time.  (Including empty nodes is what makes this true: a node that
 * gains its first subscription is already in every list that should hold
 * it.)
 *  S1  sub->node / sub->g / sub->idx locate the subscription: it is
 *      entry idx of the plain vector of sub->node (g NULL) or of g's
 *      members; vec_del keeps idx right for the entry it moves.
 */
#define _POSIX_C_SOURCE 200809L        /* clock_gettime */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ck_ht.h>

#include "acto/error.h"
#include "net/subject.h"

#define TOK_MAX (SUBJECT_MAX / 2 + 1)   /* "a.a.a...": at most this many tokens */

/* ---- syntax ----------------------------------------------------------------- */

/* Validate s and split it into tokens: off[i], len[i] (when off is not
 * NULL).  Returns the token count or ACTO_EINVAL. */
static int scan(const char *s, size_t len, bool pattern, uint16_t *off, uint16_t *tl)
{
    if (!s || len == 0 || len > SUBJECT_MAX)
        return ACTO_EINVAL;
    int nt = 0;
    size_t start = 0;
    unsigned wild = 0;                      /* '*' and '>' in this token */
    for (size_t i = 0; i <= len; i++) {
        unsigned char c = i < len ? (unsigned char)s[i] : '.';
        if (c != '.') {
            if (c <= 0x20 || c == 0x7f)
                return ACTO_EINVAL;
            wild += c == '*' || c == '>';
            continue;
        }
        size_t n = i - start;
        if (n == 0)
            return ACTO_EINVAL;             /* empty token: "", ".a", "a.", "a..b" */
        /* A wildcard is a whole token, in a pattern, and '>' only last. */
        if (wild && (!pattern || n != 1 || (s[start] == '>' && i != len)))
            return ACTO_EINVAL;
        if (off) {
            off[nt] = (uint16_t)start;
            tl[nt] = (uint16_t)n;
        }
        nt++;
        start = i + 1;
        wild = 0;
    }
    return nt;
}

int subject_valid(const char *s, size_t len, bool is_pattern)
{
    return scan(s, len, is_pattern, NULL, NULL) < 0 ? ACTO_EINVAL : 0;
}

/* The token of x starting at *pos (false once past the end). */
static bool tok_next(const char *x, size_t len, size_t *pos, const char **t, size_t *tl)
{
    if (*pos > len)
        return false;
    const char *d = memchr(x + *pos, '.', len - *pos);
    size_t end = d ? (size_t)(d - x) : len;
    *t = x + *pos;
    *tl = end - *pos;
    *pos = end + 1;
    return true;
}

bool subject_match(const char *p, size_t plen, const char *s, size_t slen)
{
    size_t pi = 0, si = 0, pl, sl;
    const char *pt, *st;
    if (!p || !s)
        return false;
    while (tok_next(p, plen, &pi, &pt, &pl)) {
        if (pl == 1 && pt[0] == '>')        /* one or more tokens left */
            return tok_next(s, slen, &si, &st, &sl);
        if (!tok_next(s, slen, &si, &st, &sl))
            return false;
        if (pl == 1 && pt[0] == '*')
            continue;
        if (pl != sl || memcmp(pt, st, pl) != 0)
            return false;
    }
    return si > slen;                       /* the subject ended too */
}

/* ---- hashing ------------------------------------------------------------------ */

static inline uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* seed: per index and unpredictable, so that subjects chosen by a remote
 * client cannot be made to collide in the tables on purpose. */
static uint64_t hash_bytes(uint64_t seed, const char *p, size_t n)
{
    uint64_t h = seed ^ n, w;
    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&w, p, 8);
        h = (h ^ (w * 0x9e3779b97f4a7c15ULL));
        h = ((h << 29) | (h >> 35)) * 0xbf58476d1ce4e5b9ULL;
    }
    if (n) {
        w = 0;
        memcpy(&w, p, n);
        h ^= w * 0x9e3779b97f4a7c15ULL;
    }
    return mix64(h);
}

/* Unpredictable enough to keep a remote client from choosing colliding
 * subjects: the clock and the address of the index, mixed.  Not used for
 * anything observable: which subscriptions match never depends on it. */
static uint64_t hash_seed(const void *ix)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return mix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uintptr_t)ix);
}

/* ix->lits maps (parent node, token) to a literal child.  Its key bytes
 * are the parent's address followed by the token (node->key); its hash
 * mixes the token's hash with the parent, so a walk hashes each subject
 * token once however many parents it looks it up under.  ix->qnames maps a
 * queue name to the interned name.  Both are ck_ht tables, which keep each
 * entry's hash beside it: a probe compares hashes and reads a key only when
 * they are equal (one cache miss per lookup, not one per probed slot). */
#define PKEY (sizeof(void *))

static inline uint64_t lit_hash(uint64_t tokhash, const void *parent)
{
    return mix64(tokhash ^ ((uint64_t)(uintptr_t)parent * 0x9e3779b97f4a7c15ULL));
}

static void lit_hash_cb(ck_ht_hash_t *h, const void *key, size_t len, uint64_t seed)
{
    const void *parent;
    memcpy(&parent, key, PKEY);
    h->value = lit_hash(hash_bytes(seed, (const char *)key + PKEY, len - PKEY), parent);
}

static void name_hash_cb(ck_ht_hash_t *h, const void *key, size_t len, uint64_t seed)
{
    h->value = hash_bytes(seed, key, len);
}

static void *hs_malloc(size_t n) { return malloc(n); }
static void *hs_realloc(void *p, size_t o, size_t n, bool d) { (void)o; (void)d; return realloc(p, n); }
static void hs_free(void *p, size_t n, bool d) { (void)n; (void)d; free(p); }
static struct ck_malloc hs_alloc = { hs_malloc, hs_realloc, hs_free };

/* ---- structures --------------------------------------------------------------- */

/* Subscriptions of one kind at one node: keys packed for the result copy,
 * handles alongside to fix up indexes (S1).  The first one is stored
 * inline (keys == &one_key while cap is 1): most subjects have a single
 * subscriber, and that saves a cache miss per match and two allocations. */
typedef struct vec {
    subject_key_t *keys;
    subidx_sub_t **subs;
    uint32_t n, cap;
    subject_key_t one_key;
    subidx_sub_t *one_sub;
} vec_t;

static inline bool vec_inline(const vec_t *v) { return v->keys == &v->one_key; }

typedef struct qname {
    uint32_t refs;              /* groups using the name */
    uint32_t slot;              /* its gsel entry in the match numbered stamp */
    uint64_t stamp;
    uint16_t len;
    char name[];                /* the key in ix->qnames */
} qname_t;

typedef struct group {
    struct group *next;
    qname_t *q;
    vec_t m;                    /* members, never empty */
} group_t;

enum { N_ROOT, N_LIT, N_STAR, N_GT };

typedef struct node {
    struct node *parent;
    struct node *star, *gt;
    group_t *groups;
    vec_t plain;
    uint32_t nchild;            /* literal children + star + gt */
    uint32_t nlit;              /* literal children */
    uint16_t klen;              /* PKEY + token length */
    uint8_t kind;
    char key[];                 /* parent address, token: the ix->lits key */
} node_t;

struct subidx_sub {
    node_t *node;
    group_t *g;                 /* NULL: plain */
    uint32_t idx;
    subject_key_t key;
};

/* A cache entry: the nodes matching subject subj (C1).  128 bytes. */
#define CACHE_NODES 4
#define CACHE_SUBJ 77
typedef struct cslot {
    uint64_t gen;               /* 0: empty (ix->gen starts at 1) */
    uint64_t hash;
    node_t *nodes[CACHE_NODES];
    uint16_t len;
    uint8_t nn;
    char subj[CACHE_SUBJ];
} cslot_t;
static_assert(sizeof(cslot_t) == 128, "cache slot is two cache lines");

/* One queue group's pick during a match. */
typedef struct gsel {
    uint64_t total;             /* members seen so far */
    subject_key_t key;          /* chosen uniformly among them */
} gsel_t;

struct subidx {
    ck_ht_t lits;               /* literal nodes by (parent, token) */
    ck_ht_t qnames;             /* interned queue names */
    node_t *root;
    uint64_t gen;               /* N2 */
    uint64_t serial;            /* matches so far: stamps queue names */
    uint64_t rng;               /* xorshift64* state, never 0 */
    uint64_t hseed;             /* hash seed (ck_ht passes it back to the callbacks) */
    size_t nsubs, nnodes, dead; /* dead: hash set removals since the last gc */
    uint64_t matches, hits;
    cslot_t *cache;
    uint32_t cmask;
    /* scratch of the current call, grown on demand, never shrunk */
    node_t **found;
    size_t nfound, found_cap;
    subject_key_t *res;
    size_t res_cap;
    gsel_t *gsel;
    size_t gsel_cap;
    uint64_t thash[TOK_MAX];
    uint16_t toff[TOK_MAX], tlen[TOK_MAX];
    unsigned ntok;
    char kbuf[PKEY + SUBJECT_MAX];  /* a lookup key being built */
};

/* Grow *p (elements of size sz) to hold at least need; 0 or ACTO_ENOMEM. */
static int grow(void **p, size_t *cap, size_t need, size_t sz)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * sz);
    if (!q)
        return ACTO_ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}

/* ---- vectors of subscriptions ---------------------------------------------------- */

/* Room for one more entry: inline first, then heap arrays doubling. */
static int vec_grow(vec_t *v)
{
    if (v->cap == 0) {
        v->keys = &v->one_key;
        v->subs = &v->one_sub;
        v->cap = 1;
        return 0;
    }
    uint32_t cap = v->cap * 2;
    if (vec_inline(v)) {
        subject_key_t *k = malloc(cap * sizeof *k);
        subidx_sub_t **s = malloc(cap * sizeof *s);
        if (!k || !s) {
            free(k);
            free(s);
            return ACTO_ENOMEM;
        }
        k[0] = v->one_key;
        s[0] = v->one_sub;
        v->keys = k;
        v->subs = s;
    } else {
        subject_key_t *k = realloc(v->keys, cap * sizeof *k);
        if (!k)
            return ACTO_ENOMEM;
        v->keys = k;                        /* bigger is harmless if the next fails */
        subidx_sub_t **s = realloc(v->subs, cap * sizeof *s);
        if (!s)
            return ACTO_ENOMEM;
        v->subs = s;
    }
    v->cap = cap;
    return 0;
}

static int vec_push(vec_t *v, subidx_sub_t *sub)
{
    if (v->n == v->cap && vec_grow(v) != 0)
        return ACTO_ENOMEM;
    sub->idx = v->n;
    v->keys[v->n] = sub->key;
    v->subs[v->n++] = sub;
    return 0;
}

/* Remove entry i by moving the last one into its place (S1). */
static void vec_del(vec_t *v, uint32_t i)
{
    uint32_t last = --v->n;
    if (i != last) {
        v->keys[i] = v->keys[last];
        v->subs[i] = v->subs[last];
        v->subs[i]->idx = i;
    }
    if (v->n == 0) {
        if (!vec_inline(v)) {
            free(v->keys);
            free(v->subs);
        }
        *v = (vec_t){ 0 };
    } else if (v->cap >= 16 && v->n <= v->cap / 4) {
        /* Give back memory after a mass unsubscribe; a failed shrink is
         * harmless (the old blocks stay). */
        uint32_t cap = v->cap / 2;
        subject_key_t *k = realloc(v->keys, cap * sizeof *k);
        subidx_sub_t **s = k ? realloc(v->subs, cap * sizeof *s) : NULL;
        if (k)
            v->keys = k;
        if (s) {
            v->subs = s;
            v->cap = cap;
        }
    }
}

/* ---- hash tables ----------------------------------------------------------------- */

static void *ht_get(ck_ht_t *ht, uint64_t h, const void *key, size_t len)
{
    ck_ht_entry_t e;
    ck_ht_entry_key_set(&e, key, (uint16_t)len);
    return ck_ht_get_spmc(ht, (ck_ht_hash_t){ h }, &e) ? ck_ht_entry_value(&e) : NULL;
}

static bool ht_put(ck_ht_t *ht, uint64_t h, const void *key, size_t len, void *value)
{
    ck_ht_entry_t e;
    ck_ht_entry_set(&e, (ck_ht_hash_t){ h }, key, (uint16_t)len, value);
    return ck_ht_put_spmc(ht, (ck_ht_hash_t){ h }, &e);
}

/* ck_ht leaves a tombstone per removal; sweep them once there have been
 * as many removals as live entries, which keeps probes short at O(1)
 * amortised cost. */
static void ht_del(subidx_t *ix, ck_ht_t *ht, uint64_t h, const void *key, size_t len)
{
    ck_ht_entry_t e;
    ck_ht_entry_key_set(&e, key, (uint16_t)len);
    bool gone = ck_ht_remove_spmc(ht, (ck_ht_hash_t){ h }, &e);
    assert(gone);
    (void)gone;
    if (++ix->dead > 1024 && ix->dead > ck_ht_count(&ix->lits) + ck_ht_count(&ix->qnames)) {
        ck_ht_gc(&ix->lits, 0, 0);
        ck_ht_gc(&ix->qnames, 0, 0);
        ix->dead = 0;
    }
}

/* ---- queue names --------------------------------------------------------------- */

static qname_t *qname_ref(subidx_t *ix, const char *q, size_t len)
{
    uint64_t h = hash_bytes(ix->hseed, q, len);
    qname_t *qn = ht_get(&ix->qnames, h, q, len);
    if (qn) {
        qn->refs++;
        return qn;
    }
    qn = malloc(sizeof *qn + len);
    if (!qn)
        return NULL;
    memcpy(qn->name, q, len);
    qn->len = (uint16_t)len;
    qn->refs = 1;
    qn->slot = 0;
    qn->stamp = 0;
    if (!ht_put(&ix->qnames, h, qn->name, len, qn)) {
        free(qn);
        return NULL;
    }
    return qn;
}

static void qname_unref(subidx_t *ix, qname_t *qn)
{
    if (--qn->refs > 0)
        return;
    ht_del(ix, &ix->qnames, hash_bytes(ix->hseed, qn->name, qn->len), qn->name, qn->len);
    free(qn);
}

/* ---- nodes ------------------------------------------------------------------------ */

static node_t *node_alloc(node_t *parent, int kind, const char *tok, size_t len)
{
    node_t *n = calloc(1, sizeof *n + PKEY + len);
    if (!n)
        return NULL;
    n->parent = parent;
    memcpy(n->key, &parent, PKEY);
    memcpy(n->key + PKEY, tok, len);
    n->klen = (uint16_t)(PKEY + len);
    n->kind = (uint8_t)kind;
    return n;
}

/* The child of n for pattern token t (created if missing), NULL if out of
 * memory. */
static node_t *child(subidx_t *ix, node_t *n, const char *t, size_t len, uint64_t th)
{
    node_t **slot = NULL, *c;
    int kind = N_LIT;
    if (len == 1 && (t[0] == '*' || t[0] == '>')) {
        kind = t[0] == '*' ? N_STAR : N_GT;
        slot = kind == N_STAR ? &n->star : &n->gt;
        if (*slot)
            return *slot;
    } else if (n->nlit) {
        memcpy(ix->kbuf, &n, PKEY);
        memcpy(ix->kbuf + PKEY, t, len);
        if ((c = ht_get(&ix->lits, lit_hash(th, n), ix->kbuf, PKEY + len)))
            return c;
    }
    if (!(c = node_alloc(n, kind, t, len)))
        return NULL;
    if (slot) {
        *slot = c;
    } else {
        if (!ht_put(&ix->lits, lit_hash(th, n), c->key, c->klen, c)) {
            free(c);
            return NULL;
        }
        n->nlit++;
    }
    n->nchild++;
    ix->nnodes++;
    ix->gen++;                              /* N2 */
    return c;
}

/* Remove n and its ancestors while they are empty (N1). */
static void prune(subidx_t *ix, node_t *n)
{
    while (n != ix->root && n->plain.n == 0 && !n->groups && n->nchild == 0) {
        node_t *p = n->parent;
        if (n->kind == N_STAR) {
            p->star = NULL;
        } else if (n->kind == N_GT) {
            p->gt = NULL;
        } else {
            uint64_t h = lit_hash(hash_bytes(ix->hseed, n->key + PKEY, n->klen - PKEY), p);
            ht_del(ix, &ix->lits, h, n->key, n->klen);
            p->nlit--;
        }
        p->nchild--;
        free(n);
        ix->nnodes--;
        ix->gen++;                          /* N2 */
        n = p;
    }
}

/* ---- life cycle ------------------------------------------------------------------ */

void subidx_seed(subidx_t *ix, uint64_t seed)
{
    ix->rng = mix64(seed + 0x9e3779b97f4a7c15ULL) | 1;     /* never 0 */
}

int subidx_new(subidx_t **out, unsigned cache_slots)
{
    if (!out || cache_slots > SUBIDX_CACHE_MAX || (cache_slots & (cache_slots - 1)))
        return ACTO_EINVAL;
    subidx_t *ix = calloc(1, sizeof *ix);
    if (!ix)
        return ACTO_ENOMEM;
    ix->root = node_alloc(NULL, N_ROOT, "", 0);
    ix->hseed = hash_seed(ix);
    if (cache_slots) {
        ix->cache = calloc(cache_slots, sizeof *ix->cache);
        ix->cmask = cache_slots - 1;
    }
    unsigned mode = CK_HT_MODE_BYTESTRING | CK_HT_WORKLOAD_DELETE;
    bool lits = false, qnames = false;
    if (ix->root && (ix->cache || !cache_slots)) {
        lits = ck_ht_init(&ix->lits, mode, lit_hash_cb, &hs_alloc, 64, ix->hseed);
        qnames = ck_ht_init(&ix->qnames, mode, name_hash_cb, &hs_alloc, 16, ix->hseed);
    }
    if (!lits || !qnames) {
        if (lits)
            ck_ht_destroy(&ix->lits);
        if (qnames)
            ck_ht_destroy(&ix->qnames);
        free(ix->cache);
        free(ix->root);
        free(ix);
        return ACTO_ENOMEM;
    }
    ix->gen = 1;                            /* empty cache slots have gen 0 */
    subidx_seed(ix, 0);
    *out = ix;
    return 0;
}

static void vec_free(vec_t *v)
{
    for (uint32_t i = 0; i < v->n; i++)
        free(v->subs[i]);
    if (!vec_inline(v)) {
        free(v->keys);
        free(v->subs);
    }
}

/* Free n's subscriptions and its '*' and '>' descendants (literal ones are
 * reached through ix->lits), then n. */
static void node_free(node_t *n)
{
    vec_free(&n->plain);
    for (group_t *g = n->groups, *next; g; g = next) {
        next = g->next;
        vec_free(&g->m);
        free(g);
    }
    if (n->star)
        node_free(n->star);
    if (n->gt)
        node_free(n->gt);
    free(n);
}

void subidx_free(subidx_t *ix)
{
    if (!ix)
        return;
    ck_ht_iterator_t it = CK_HT_ITERATOR_INITIALIZER;
    ck_ht_entry_t *e;
    while (ck_ht_next(&ix->lits, &it, &e))
        node_free(ck_ht_entry_value(e));    /* iterating reads no keys */
    node_free(ix->root);
    ck_ht_iterator_init(&it);
    while (ck_ht_next(&ix->qnames, &it, &e))
        free(ck_ht_entry_value(e));
    ck_ht_destroy(&ix->lits);
    ck_ht_destroy(&ix->qnames);
    free(ix->cache);
    free(ix->found);
    free(ix->res);
    free(ix->gsel);
    free(ix);
}

/* ---- subscribe / unsubscribe ------------------------------------------------------ */

/* The group of n named qn, created if missing (it then takes the caller's
 * reference to qn); NULL if out of memory. */
static group_t *group_get(node_t *n, qname_t *qn, bool *made)
{
    *made = false;
    for (group_t *g = n->groups; g; g = g->next)
        if (g->q == qn)
            return g;
    group_t *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->q = qn;
    g->next = n->groups;
    n->groups = g;
    *made = true;
    return g;
}

static void group_drop(subidx_t *ix, node_t *n, group_t *g)
{
    group_t **pp = &n->groups;
    while (*pp != g)
        pp = &(*pp)->next;
    *pp = g->next;
    qname_unref(ix, g->q);
    free(g);
}

int subidx_add(subidx_t *ix, const char *pattern, size_t plen,
               const char *queue, size_t qlen, subject_key_t key, subidx_sub_t **out)
{
    if (!ix || !out)
        return ACTO_EINVAL;
    int nt = scan(pattern, plen, true, ix->toff, ix->tlen);
    if (nt < 0 || (queue && subject_valid(queue, qlen, false) != 0))
        return ACTO_EINVAL;
    subidx_sub_t *sub = malloc(sizeof *sub);
    if (!sub)
        return ACTO_ENOMEM;
    node_t *n = ix->root;
    for (int i = 0; i < nt; i++) {
        const char *t = pattern + ix->toff[i];
        node_t *c = child(ix, n, t, ix->tlen[i], hash_bytes(ix->hseed, t, ix->tlen[i]));
        if (!c)
            goto fail;
        n = c;
    }
    *sub = (subidx_sub_t){ .node = n, .key = key };
    vec_t *v = &n->plain;
    bool made = false;
    if (queue) {
        qname_t *qn = qname_ref(ix, queue, qlen);
        if (!qn)
            goto fail;
        if (!(sub->g = group_get(n, qn, &made))) {
            qname_unref(ix, qn);
            goto fail;
        }
        if (!made)
            qname_unref(ix, qn);            /* the group holds one already */
        v = &sub->g->m;
    }
    if (vec_push(v, sub) != 0) {
        if (made)
            group_drop(ix, n, sub->g);
        goto fail;
    }
    ix->nsubs++;
    *out = sub;
    return 0;
fail:
    prune(ix, n);                           /* nodes made for nothing (N1) */
    free(sub);
    return ACTO_ENOMEM;
}

void subidx_remove(subidx_t *ix, subidx_sub_t *sub)
{
    node_t *n = sub->node;
    group_t *g = sub->g;
    vec_del(g ? &g->m : &n->plain, sub->idx);
    if (g && g->m.n == 0)
        group_drop(ix, n, g);
    prune(ix, n);
    free(sub);
    ix->nsubs--;
}

subject_key_t subidx_sub_key(const subidx_sub_t *sub)
{
    return sub->key;
}

/* ---- matching --------------------------------------------------------------------- */

/* Uniform in [0, n) (n >= 1): xorshift64*, scaled by multiplication. */
static inline uint64_t rnd(subidx_t *ix, uint64_t n)
{
    uint64_t x = ix->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    ix->rng = x;
    return (uint64_t)(((unsigned __int128)(x * 0x2545f4914f6cdd1dULL) * n) >> 64);
}

static int found_push(subidx_t *ix, node_t *n)
{
    if (ix->nfound == ix->found_cap &&
        grow((void **)&ix->found, &ix->found_cap, ix->nfound + 1, sizeof *ix->found))
        return ACTO_ENOMEM;
    ix->found[ix->nfound++] = n;
    return 0;
}

/* Collect into ix->found every node whose pattern matches tokens i.. of s
 * below n.  '>' needs at least one token, '*' exactly one. */
static int walk(subidx_t *ix, node_t *n, const char *s, unsigned i)
{
    if (i == ix->ntok)
        return found_push(ix, n);
    if (n->nchild == 0)
        return 0;
    int rc;
    if (n->gt && (rc = found_push(ix, n->gt)) != 0)
        return rc;
    if (n->star && (rc = walk(ix, n->star, s, i + 1)) != 0)
        return rc;
    if (n->nlit) {
        memcpy(ix->kbuf, &n, PKEY);
        memcpy(ix->kbuf + PKEY, s + ix->toff[i], ix->tlen[i]);
        node_t *c = ht_get(&ix->lits, lit_hash(ix->thash[i], n), ix->kbuf, PKEY + ix->tlen[i]);
        if (c)
            return walk(ix, c, s, i + 1);
    }
    return 0;
}

/* The deliveries from nodes[0..nn): every plain subscription, then one
 * member per queue name (merged across nodes). */
static int collect(subidx_t *ix, node_t *const *nodes, size_t nn, subidx_result_t *out)
{
    size_t plain = 0, groups = 0;
    for (size_t i = 0; i < nn; i++) {
        plain += nodes[i]->plain.n;
        for (const group_t *g = nodes[i]->groups; g; g = g->next)
            groups++;
    }
    if (grow((void **)&ix->res, &ix->res_cap, plain + groups, sizeof *ix->res) ||
        grow((void **)&ix->gsel, &ix->gsel_cap, groups, sizeof *ix->gsel))
        return ACTO_ENOMEM;
    uint64_t stamp = ++ix->serial;
    size_t k = 0, ng = 0;
    for (size_t i = 0; i < nn; i++) {
        const node_t *n = nodes[i];
        if (n->plain.n) {
            memcpy(ix->res + k, n->plain.keys, n->plain.n * sizeof *ix->res);
            k += n->plain.n;
        }
        for (const group_t *g = n->groups; g; g = g->next) {
            qname_t *q = g->q;
            if (q->stamp != stamp) {
                q->stamp = stamp;
                q->slot = (uint32_t)ng;
                ix->gsel[ng++].total = 0;
            }
            /* Reservoir step: after it, each of the `total` members seen
             * under this name is the pick with probability 1/total.  One
             * draw does both jobs: r < m.n has probability m.n/total, and
             * given that, r is uniform over this group's members. */
            gsel_t *gs = &ix->gsel[q->slot];
            gs->total += g->m.n;
            uint64_t r = rnd(ix, gs->total);
            if (r < g->m.n)
                gs->key = g->m.keys[r];
        }
    }
    for (size_t j = 0; j < ng; j++)
        ix->res[k++] = ix->gsel[j].key;
    out->v = ix->res;
    out->n = k;
    ix->matches++;
    return 0;
}

int subidx_match(subidx_t *ix, const char *subject, size_t len, subidx_result_t *out)
{
    if (!ix || !out)
        return ACTO_EINVAL;
    out->v = ix->res;
    out->n = 0;
    if (!subject || len == 0 || len > SUBJECT_MAX)
        return ACTO_EINVAL;
    cslot_t *c = NULL;
    uint64_t h = 0;
    if (ix->cache) {
        h = hash_bytes(ix->hseed, subject, len);
        c = &ix->cache[h & ix->cmask];
        if (c->gen == ix->gen && c->hash == h && c->len == len &&
            memcmp(c->subj, subject, len) == 0) {           /* C1 */
            ix->hits++;
            return collect(ix, c->nodes, c->nn, out);
        }
    }
    int nt = scan(subject, len, false, ix->toff, ix->tlen);
    if (nt < 0)
        return ACTO_EINVAL;
    ix->ntok = (unsigned)nt;
    for (int i = 0; i < nt; i++)
        ix->thash[i] = hash_bytes(ix->hseed, subject + ix->toff[i], ix->tlen[i]);
    ix->nfound = 0;
    int rc = walk(ix, ix->root, subject, 0);
    if (rc != 0)
        return rc;
    if (c && len <= CACHE_SUBJ && ix->nfound <= CACHE_NODES) {
        c->gen = ix->gen;
        c->hash = h;
        c->len = (uint16_t)len;
        c->nn = (uint8_t)ix->nfound;
        memcpy(c->subj, subject, len);
        if (ix->nfound)                     /* found is NULL until first used */
            memcpy(c->nodes, ix->found, ix->nfound * sizeof *ix->found);
    }
    return collect(ix, ix->found, ix->nfound, out);
}

void subidx_get_stats(const subidx_t *ix, subidx_stats_t *st)
{
    *st = (subidx_stats_t){
        .subs = ix->nsubs,
        .nodes = ix->nnodes,
        .queues = ck_ht_count((ck_ht_t *)&ix->qnames),
        .matches = ix->matches,
        .cache_hits = ix->hits,
    };
}
