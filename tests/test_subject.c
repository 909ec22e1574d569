/* tests/test_subject.c - net/subject: subject syntax, wildcard matching and
 * the subscription index.
 *
 * Tables of valid and invalid subjects and patterns and of matches; random
 * adds and removes checked against a brute-force reference matcher written
 * here independently (token arrays, recursion), with the cache on, off and
 * tiny (collisions); queue-group distribution checked against a tolerance
 * computed from the binomial standard deviation; 10,000 subscriptions;
 * removing subscriptions while reading a result. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "acto/error.h"
#include "net/subject.h"

static uint64_t rng_state = 0x243f6a8885a308d3ULL;
static uint64_t rnd(void)   /* xorshift64*: deterministic */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}
static unsigned rndn(unsigned n) { return (unsigned)(rnd() % n); }

static size_t L(const char *s) { return strlen(s); }

static subidx_t *new_index(unsigned slots)
{
    subidx_t *ix = NULL;
    assert_int_equal(subidx_new(&ix, slots), 0);
    assert_non_null(ix);
    return ix;
}

static subidx_sub_t *add(subidx_t *ix, const char *pat, const char *queue, uint64_t id)
{
    subidx_sub_t *s = NULL;
    subject_key_t k = { id, NULL };
    int rc = subidx_add(ix, pat, L(pat), queue, queue ? L(queue) : 0, k, &s);
    if (rc != 0)
        fail_msg("add '%s' queue '%s': %s", pat, queue ? queue : "-", acto_strerror(rc));
    return s;
}

static subidx_result_t match(subidx_t *ix, const char *subj)
{
    subidx_result_t r;
    int rc = subidx_match(ix, subj, L(subj), &r);
    if (rc != 0)
        fail_msg("match '%s': %s", subj, acto_strerror(rc));
    return r;
}

/* ---- syntax tables ------------------------------------------------------------ */

/* Valid as publish subjects (and so as patterns). */
static const char *const subjects_ok[] = {
    "a", "foo", "foo.bar", "a.b.c.d.e.f.g", "FOO.bar", "orders.eu-west_1.new",
    "_INBOX.abc123", "a.1.2", "x=y.#.$.%", "caf\xc3\xa9.men\xc3\xbc", "\xff",
};
/* Valid patterns that are not publish subjects. */
static const char *const patterns_only[] = {
    "*", ">", "a.*", "*.a", "a.>", "*.>", "*.*.*", "a.*.c", "a.*.>", "*.*.>",
};
/* Invalid everywhere. */
static const char *const invalid[] = {
    "", ".", "..", ".a", "a.", "a..b", "a. b", " a", "a ", "a b", "a\tb", "a\nb",
    "a\rb", "\x01", "a.\x7f", "a\x1f", "a*", "*a", "a.b*", "a.*b", "a>", ">a",
    "a.>b", "a.>.b", ">.a", "**", ">>", "*.>.*", "a.**", "a.*.", ".*", ">.", "a-*",
};

static void test_syntax_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof subjects_ok / sizeof *subjects_ok; i++) {
        const char *s = subjects_ok[i];
        if (subject_valid(s, L(s), false) != 0 || subject_valid(s, L(s), true) != 0)
            fail_msg("'%s' should be valid", s);
    }
    for (size_t i = 0; i < sizeof patterns_only / sizeof *patterns_only; i++) {
        const char *s = patterns_only[i];
        if (subject_valid(s, L(s), true) != 0)
            fail_msg("pattern '%s' should be valid", s);
        if (subject_valid(s, L(s), false) != ACTO_EINVAL)
            fail_msg("'%s' must not be a publish subject", s);
    }
    for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++) {
        const char *s = invalid[i];
        if (subject_valid(s, L(s), true) != ACTO_EINVAL ||
            subject_valid(s, L(s), false) != ACTO_EINVAL)
            fail_msg("'%s' should be invalid", s);
    }
}

static void test_syntax_limits(void **state)
{
    (void)state;
    char buf[SUBJECT_MAX + 2];
    /* "a.a.a...a" of exactly SUBJECT_MAX - 1 and SUBJECT_MAX bytes, then
     * one byte more. */
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = i % 2 ? '.' : 'a';
    assert_int_equal(subject_valid(buf, SUBJECT_MAX - 1, false), 0);    /* ends in 'a' */
    assert_int_equal(subject_valid(buf, SUBJECT_MAX, false), ACTO_EINVAL); /* ends in '.' */
    memset(buf, 'x', sizeof buf);
    assert_int_equal(subject_valid(buf, SUBJECT_MAX, false), 0);
    assert_int_equal(subject_valid(buf, SUBJECT_MAX + 1, false), ACTO_EINVAL);
    assert_int_equal(subject_valid(NULL, 3, false), ACTO_EINVAL);
    assert_int_equal(subject_valid("abc", 0, true), ACTO_EINVAL);
    /* The length is what counts, not a NUL: an embedded NUL is a control
     * character, and bytes after len are not read. */
    assert_int_equal(subject_valid("a\0b", 3, false), ACTO_EINVAL);
    assert_int_equal(subject_valid("ab..", 2, false), 0);
    assert_int_equal(subject_valid("a.>.x", 3, true), 0);
    /* The longest subject with the most tokens goes through the index. */
    subidx_t *ix = new_index(SUBIDX_CACHE_DEFAULT);
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = i % 2 ? '.' : 'a';
    buf[SUBJECT_MAX - 1] = '\0';
    add(ix, buf, NULL, 1);
    buf[SUBJECT_MAX - 2] = '>';
    add(ix, buf, NULL, 2);
    buf[SUBJECT_MAX - 2] = 'a';
    subidx_result_t r = match(ix, buf);
    assert_int_equal(r.n, 2);
    subidx_free(ix);
}

/* ---- matching table ------------------------------------------------------------ */

typedef struct { const char *pattern, *subject; bool match; } mcase_t;

static const mcase_t mcases[] = {
    { "a", "a", true },           { "a", "b", false },        { "a", "a.b", false },
    { "a.b", "a", false },        { "a.b", "a.b", true },     { "a.b", "A.b", false },
    { "Foo", "foo", false },      { "foo", "foo", true },     { "a.b", "a.bb", false },
    { "ab", "a.b", false },       { "a.b.c", "a.b.c", true },
    /* '*': exactly one token */
    { "*", "a", true },           { "*", "a.b", false },      { "a.*", "a", false },
    { "a.*", "a.b", true },       { "a.*", "a.b.c", false },  { "*.b", "a.b", true },
    { "*.b", "b", false },        { "*.*", "a", false },      { "*.*", "a.b", true },
    { "a.*.c", "a.b.c", true },   { "a.*.c", "a.c", false },  { "a.*.c", "a.b.d", false },
    { "*.*.*", "a.b.c", true },   { "*.*.*", "a.b.c.d", false },
    /* '>': one or more trailing tokens */
    { ">", "a", true },           { ">", "a.b.c", true },     { "a.>", "a", false },
    { "a.>", "a.b", true },       { "a.>", "a.b.c.d", true }, { "a.>", "b.c", false },
    { "a.b.>", "a.b", false },    { "a.b.>", "a.b.c", true }, { "*.>", "a", false },
    { "*.>", "a.b", true },       { "a.*.>", "a.b", false },  { "a.*.>", "a.b.c", true },
    { "A.>", "a.b", false },
    /* bytes beyond ASCII are plain token bytes */
    { "caf\xc3\xa9.*", "caf\xc3\xa9.x", true }, { "caf\xc3\xa9.*", "cafe.x", false },
};

static void test_match_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof mcases / sizeof *mcases; i++) {
        const mcase_t *c = &mcases[i];
        assert_int_equal(subject_valid(c->pattern, L(c->pattern), true), 0);
        assert_int_equal(subject_valid(c->subject, L(c->subject), false), 0);
        if (subject_match(c->pattern, L(c->pattern), c->subject, L(c->subject)) != c->match)
            fail_msg("subject_match('%s', '%s') != %d", c->pattern, c->subject, c->match);
        /* The index agrees, cached (twice: the second is a cache hit) and
         * uncached. */
        unsigned slots[] = { SUBIDX_CACHE_DEFAULT, 0 };
        for (int s = 0; s < 2; s++) {
            subidx_t *ix = new_index(slots[s]);
            add(ix, c->pattern, NULL, 7);
            for (int rep = 0; rep < 2; rep++) {
                subidx_result_t r = match(ix, c->subject);
                if (r.n != (c->match ? 1u : 0u))
                    fail_msg("index: '%s' on '%s' gave %zu", c->pattern, c->subject, r.n);
                if (r.n)
                    assert_int_equal(r.v[0].id, 7);
            }
            subidx_free(ix);
        }
    }
}

static void test_bad_input(void **state)
{
    (void)state;
    subidx_t *ix = NULL;
    assert_int_equal(subidx_new(&ix, 3), ACTO_EINVAL);
    assert_int_equal(subidx_new(&ix, SUBIDX_CACHE_MAX * 2), ACTO_EINVAL);
    assert_int_equal(subidx_new(NULL, 0), ACTO_EINVAL);
    ix = new_index(16);
    subidx_sub_t *s = NULL;
    subject_key_t k = { 1, NULL };
    for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++) {
        const char *p = invalid[i];
        assert_int_equal(subidx_add(ix, p, L(p), NULL, 0, k, &s), ACTO_EINVAL);
        subidx_result_t r = { (void *)1, 99 };
        assert_int_equal(subidx_match(ix, p, L(p), &r), ACTO_EINVAL);
        assert_int_equal(r.n, 0);
    }
    for (size_t i = 0; i < sizeof patterns_only / sizeof *patterns_only; i++) {
        const char *p = patterns_only[i];
        subidx_result_t r;
        assert_int_equal(subidx_match(ix, p, L(p), &r), ACTO_EINVAL);   /* wildcards */
        /* not a queue name either */
        assert_int_equal(subidx_add(ix, "a", 1, p, L(p), k, &s), ACTO_EINVAL);
    }
    assert_int_equal(subidx_add(ix, "a", 1, "", 0, k, &s), ACTO_EINVAL);
    assert_int_equal(subidx_add(ix, "a", 1, "q w", 3, k, &s), ACTO_EINVAL);
    assert_int_equal(subidx_add(ix, "a", 1, NULL, 0, k, NULL), ACTO_EINVAL);
    assert_int_equal(subidx_add(NULL, "a", 1, NULL, 0, k, &s), ACTO_EINVAL);
    assert_int_equal(subidx_add(ix, NULL, 1, NULL, 0, k, &s), ACTO_EINVAL);
    subidx_stats_t st;
    subidx_get_stats(ix, &st);
    assert_int_equal(st.subs, 0);
    assert_int_equal(st.nodes, 0);
    assert_int_equal(st.queues, 0);
    subidx_result_t r;
    assert_int_equal(subidx_match(ix, NULL, 1, &r), ACTO_EINVAL);
    assert_int_equal(subidx_match(NULL, "a", 1, &r), ACTO_EINVAL);
    subidx_free(ix);
    subidx_free(NULL);
}

/* NATS semantics: every subscription is delivered to on its own. */
static void test_each_subscription_delivered(void **state)
{
    (void)state;
    subidx_t *ix = new_index(SUBIDX_CACHE_DEFAULT);
    subidx_sub_t *a = add(ix, "a.b", NULL, 1);
    add(ix, "a.b", NULL, 1);        /* same key, same pattern: twice */
    add(ix, "a.*", NULL, 1);
    add(ix, "a.>", NULL, 1);
    add(ix, ">", NULL, 2);
    subidx_result_t r = match(ix, "a.b");
    assert_int_equal(r.n, 5);
    unsigned ones = 0;
    for (size_t i = 0; i < r.n; i++)
        ones += r.v[i].id == 1;
    assert_int_equal(ones, 4);
    assert_int_equal(subidx_sub_key(a).id, 1);
    subidx_remove(ix, a);
    assert_int_equal(match(ix, "a.b").n, 4);
    assert_int_equal(match(ix, "a.b.c").n, 2);      /* a.> and > */
    assert_int_equal(match(ix, "x").n, 1);
    subidx_free(ix);                /* frees the remaining subscriptions */
}

/* ---- the reference: random operations against brute force ---------------------- */

#define REF_MAX 4096
#define TOKS_MAX 8

typedef struct {
    char pattern[64];
    const char *queue;      /* NULL: plain */
    subidx_sub_t *h;
    bool live;
} ref_t;

static ref_t refs[REF_MAX];

static int split(const char *s, char toks[TOKS_MAX][16])
{
    int n = 0;
    const char *p = s;
    for (;;) {
        const char *d = strchr(p, '.');
        size_t l = d ? (size_t)(d - p) : strlen(p);
        memcpy(toks[n], p, l);
        toks[n][l] = '\0';
        n++;
        if (!d)
            return n;
        p = d + 1;
    }
}

/* Brute force over token arrays: written without looking at subject.c. */
static bool ref_match_at(char pt[][16], int np, char st[][16], int ns)
{
    if (np == 0)
        return ns == 0;
    if (strcmp(pt[0], ">") == 0)
        return ns >= 1;
    if (ns == 0)
        return false;
    if (strcmp(pt[0], "*") != 0 && strcmp(pt[0], st[0]) != 0)
        return false;
    return ref_match_at(pt + 1, np - 1, st + 1, ns - 1);
}

static bool ref_match(const char *pattern, const char *subject)
{
    char pt[TOKS_MAX][16], st[TOKS_MAX][16];
    int np = split(pattern, pt), ns = split(subject, st);
    return ref_match_at(pt, np, st, ns);
}

static void random_pattern(char *out)
{
    static const char *const lit[] = { "a", "b", "c" };
    int n = 1 + (int)rndn(4);
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        const char *t = lit[rndn(3)];
        unsigned r = rndn(100);
        if (r < 20)
            t = "*";
        else if (r < 32 && i == n - 1)
            t = ">";
        if (i)
            strcat(out, ".");
        strcat(out, t);
    }
}

static void random_subject(char *out)
{
    static const char *const lit[] = { "a", "b", "c", "d" };
    int n = 1 + (int)rndn(5);
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (i)
            strcat(out, ".");
        strcat(out, lit[rndn(4)]);
    }
}

static const char *const qnames[] = { "q1", "q2", "q3" };

/* One subject: the result must hold every live matching plain subscription
 * exactly once, and exactly one matching member for each queue name that
 * has matching members. */
static void check_subject(subidx_t *ix, size_t nrefs, const char *subj)
{
    static unsigned seen[REF_MAX];
    unsigned qseen[3] = { 0 };
    subidx_result_t r = match(ix, subj);
    memset(seen, 0, nrefs * sizeof *seen);
    for (size_t i = 0; i < r.n; i++) {
        uint64_t id = r.v[i].id;
        assert_true(id < nrefs);
        assert_ptr_equal(r.v[i].ptr, &refs[id]);
        if (!refs[id].live || !ref_match(refs[id].pattern, subj))
            fail_msg("'%s': delivered to '%s' (live %d)", subj, refs[id].pattern, refs[id].live);
        seen[id]++;
        if (refs[id].queue)
            qseen[refs[id].queue[1] - '1']++;
    }
    size_t want = 0;
    bool qwant[3] = { false, false, false };
    for (size_t i = 0; i < nrefs; i++) {
        bool m = ref_match(refs[i].pattern, subj);
        if (subject_match(refs[i].pattern, L(refs[i].pattern), subj, L(subj)) != m)
            fail_msg("subject_match('%s', '%s') != %d", refs[i].pattern, subj, m);
        if (!refs[i].live || !m)
            continue;
        if (refs[i].queue) {
            qwant[refs[i].queue[1] - '1'] = true;
        } else {
            want++;
            if (seen[i] != 1)
                fail_msg("'%s': '%s' delivered %u times", subj, refs[i].pattern, seen[i]);
        }
    }
    for (int q = 0; q < 3; q++) {
        if (qseen[q] != (qwant[q] ? 1u : 0u))
            fail_msg("'%s': queue q%d got %u deliveries", subj, q + 1, qseen[q]);
        want += qwant[q];
    }
    assert_int_equal(r.n, want);
}

static void run_reference(unsigned slots)
{
    subidx_t *ix = new_index(slots);
    size_t nrefs = 0, live = 0;
    unsigned ops = (unsigned)tu_scale(4000, 400);
    char subj[64];
    for (unsigned op = 0; op < ops; op++) {
        if (nrefs < REF_MAX && (live == 0 || rndn(100) < 60)) {
            ref_t *f = &refs[nrefs];
            random_pattern(f->pattern);
            f->queue = rndn(100) < 30 ? qnames[rndn(3)] : NULL;
            subject_key_t k = { nrefs, f };
            assert_int_equal(subidx_add(ix, f->pattern, L(f->pattern), f->queue,
                                        f->queue ? 2 : 0, k, &f->h), 0);
            f->live = true;
            nrefs++;
            live++;
        } else {
            size_t i;
            do
                i = rndn((unsigned)nrefs);
            while (!refs[i].live);
            subidx_remove(ix, refs[i].h);
            refs[i].live = false;
            live--;
        }
        if (op % 100 == 0 || op == ops - 1) {
            for (int j = 0; j < 60; j++) {
                random_subject(subj);
                check_subject(ix, nrefs, subj);
            }
            /* The same subjects again: hits when the cache is on. */
            uint64_t save = rng_state;
            for (int j = 0; j < 20; j++) {
                random_subject(subj);
                check_subject(ix, nrefs, subj);
            }
            rng_state = save;
            for (int j = 0; j < 20; j++) {
                random_subject(subj);
                check_subject(ix, nrefs, subj);
            }
        }
    }
    subidx_stats_t st;
    subidx_get_stats(ix, &st);
    assert_int_equal(st.subs, live);
    if (slots >= 64)
        assert_true(st.cache_hits > 0);
    if (slots == 0)
        assert_int_equal(st.cache_hits, 0);
    /* Remove everything in random order: the trie must be empty again. */
    for (size_t i = 0; i < nrefs; i++) {
        size_t j = i + rndn((unsigned)(nrefs - i));
        ref_t t = refs[i];
        refs[i] = refs[j];
        refs[j] = t;
    }
    for (size_t i = 0; i < nrefs; i++)
        if (refs[i].live)
            subidx_remove(ix, refs[i].h);
    subidx_get_stats(ix, &st);
    assert_int_equal(st.subs, 0);
    assert_int_equal(st.nodes, 0);
    assert_int_equal(st.queues, 0);
    assert_int_equal(match(ix, "a.b").n, 0);
    subidx_free(ix);
}

static void test_reference_cached(void **state) { (void)state; run_reference(SUBIDX_CACHE_DEFAULT); }
static void test_reference_uncached(void **state) { (void)state; run_reference(0); }
/* Two slots: constant collisions and overwrites. */
static void test_reference_tiny_cache(void **state) { (void)state; run_reference(2); }

/* The cache across changes that do and do not create nodes. */
static void test_cache_invalidation(void **state)
{
    (void)state;
    subidx_t *ix = new_index(SUBIDX_CACHE_DEFAULT);
    subidx_stats_t st;
    assert_int_equal(match(ix, "a.b").n, 0);
    assert_int_equal(match(ix, "a.b").n, 0);        /* cached "nobody" */
    subidx_get_stats(ix, &st);
    assert_int_equal(st.cache_hits, 1);
    subidx_sub_t *s1 = add(ix, "a.*", NULL, 1);     /* new node */
    assert_int_equal(match(ix, "a.b").n, 1);
    subidx_sub_t *s2 = add(ix, "a.*", NULL, 2);     /* existing node */
    subidx_result_t r = match(ix, "a.b");
    assert_int_equal(r.n, 2);
    add(ix, "a.*", "g", 3);                         /* group on the same node */
    assert_int_equal(match(ix, "a.b").n, 3);
    subidx_remove(ix, s1);
    subidx_remove(ix, s2);
    r = match(ix, "a.b");
    assert_int_equal(r.n, 1);
    assert_int_equal(r.v[0].id, 3);
    subidx_get_stats(ix, &st);
    assert_true(st.cache_hits >= 4);
    add(ix, "a.b.c", NULL, 4);                      /* creates a.b below a */
    assert_int_equal(match(ix, "a.b").n, 1);        /* empty node a.b matches */
    subidx_sub_t *s5 = add(ix, "a.b", NULL, 5);     /* existing empty node */
    assert_int_equal(match(ix, "a.b").n, 2);
    subidx_remove(ix, s5);
    assert_int_equal(match(ix, "a.b").n, 1);
    subidx_free(ix);
}

/* ---- queue groups ---------------------------------------------------------------- */

/* |count - n p| within 6 standard deviations of a binomial(n, p). */
static void assert_fair(const unsigned *count, unsigned k, unsigned n, double p)
{
    double mean = n * p, tol = 6.0 * sqrt(n * p * (1.0 - p));
    for (unsigned i = 0; i < k; i++)
        if (fabs(count[i] - mean) > tol)
            fail_msg("member %u got %u of %u, expected %.0f +- %.0f", i, count[i], n, mean, tol);
}

static void test_queue_distribution(void **state)
{
    (void)state;
    subidx_t *ix = new_index(SUBIDX_CACHE_DEFAULT);
    /* Group "work": 2 members on "job.*" and 3 on "job.print", merged for
     * job.print (5 members), only 2 for job.scan.  Group "audit": 2 on
     * "job.>".  Two plain subscribers on "job.print". */
    add(ix, "job.*", "work", 0);
    add(ix, "job.*", "work", 1);
    add(ix, "job.print", "work", 2);
    add(ix, "job.print", "work", 3);
    add(ix, "job.print", "work", 4);
    add(ix, "job.>", "audit", 10);
    add(ix, "job.>", "audit", 11);
    add(ix, "job.print", NULL, 20);
    add(ix, "job.print", NULL, 21);
    unsigned n = (unsigned)tu_scale(200000, 20000);
    unsigned work[5] = { 0 }, audit[2] = { 0 }, scan[2] = { 0 }, plain[2] = { 0 };
    for (unsigned m = 0; m < n; m++) {
        subidx_result_t r = match(ix, "job.print");
        unsigned nw = 0, na = 0, np = 0;
        for (size_t i = 0; i < r.n; i++) {
            uint64_t id = r.v[i].id;
            if (id < 5) { work[id]++; nw++; }
            else if (id < 20) { audit[id - 10]++; na++; }
            else { plain[id - 20]++; np++; }
        }
        /* each message: one per group, every plain subscriber once */
        assert_int_equal(nw, 1);
        assert_int_equal(na, 1);
        assert_int_equal(np, 2);
        assert_int_equal(r.n, 4);
        r = match(ix, "job.scan");                  /* work = {0, 1}, audit */
        assert_int_equal(r.n, 2);
        for (size_t i = 0; i < r.n; i++)
            if (r.v[i].id < 5) {
                assert_true(r.v[i].id < 2);
                scan[r.v[i].id]++;
            }
    }
    assert_fair(work, 5, n, 1.0 / 5);
    assert_fair(audit, 2, n, 1.0 / 2);
    assert_fair(scan, 2, n, 1.0 / 2);
    assert_int_equal(plain[0], n);
    assert_int_equal(plain[1], n);
    subidx_free(ix);
}

/* Two subjects alternating, one reaching group members {x, y}, the other
 * only {x}: y must still get half of the first subject's messages (a
 * rotation shared by the group would give it none). */
static void test_queue_alternating_subjects(void **state)
{
    (void)state;
    subidx_t *ix = new_index(SUBIDX_CACHE_DEFAULT);
    add(ix, "a.*", "g", 0);         /* x: both subjects */
    add(ix, "a.one", "g", 0);
    add(ix, "a.one", "g", 1);       /* y: a.one only */
    unsigned n = (unsigned)tu_scale(100000, 10000), c[2] = { 0 };
    for (unsigned m = 0; m < n; m++) {
        subidx_result_t r = match(ix, "a.one");     /* members 0, 0, 1 */
        assert_int_equal(r.n, 1);
        c[r.v[0].id]++;
        r = match(ix, "a.two");
        assert_int_equal(r.n, 1);
        assert_int_equal(r.v[0].id, 0);
    }
    /* a.one has 3 matching queue subscriptions, one of them y's */
    unsigned y[1] = { c[1] };
    assert_fair(y, 1, n, 1.0 / 3);
    subidx_free(ix);
}

/* subidx_seed makes the picks reproducible; other seeds pick otherwise. */
static void test_queue_seed(void **state)
{
    (void)state;
    enum { M = 200 };
    uint64_t picks[3][M];
    for (int k = 0; k < 3; k++) {
        subidx_t *ix = new_index(SUBIDX_CACHE_DEFAULT);
        for (unsigned i = 0; i < 8; i++)
            add(ix, "s.*", "g", i);
        subidx_seed(ix, k == 2 ? 43 : 42);
        for (unsigned m = 0; m < M; m++) {
            subidx_result_t r = match(ix, "s.t");
            assert_int_equal(r.n, 1);
            picks[k][m] = r.v[0].id;
        }
        subidx_free(ix);
    }
    assert_memory_equal(picks[0], picks[1], sizeof picks[0]);
    assert_memory_not_equal(picks[0], picks[2], sizeof picks[0]);
}

/* ---- scale ------------------------------------------------------------------------- */

static void test_10k_subscriptions(void **state)
{
    (void)state;
    enum { N = 10000 };
    subidx_t *ix = new_index(SUBIDX_CACHE_DEFAULT);
    static subidx_sub_t *own[N], *fan[N];
    char subj[64];
    for (unsigned i = 0; i < N; i++) {
        snprintf(subj, sizeof subj, "conn.%u.inbox", i);
        own[i] = add(ix, subj, NULL, i);
        fan[i] = add(ix, "room.lobby", NULL, N + i);
    }
    subidx_sub_t *wild = add(ix, "conn.*.inbox", "watch", 3 * N);
    subidx_stats_t st;
    subidx_get_stats(ix, &st);
    assert_int_equal(st.subs, 2 * N + 1);
    for (int rep = 0; rep < 2; rep++)
        for (unsigned i = 0; i < N; i++) {
            snprintf(subj, sizeof subj, "conn.%u.inbox", i);
            subidx_result_t r = match(ix, subj);
            assert_int_equal(r.n, 2);
            assert_true((r.v[0].id == i && r.v[1].id == 3 * N) ||
                        (r.v[1].id == i && r.v[0].id == 3 * N));
        }
    static unsigned char got[N];
    subidx_result_t r = match(ix, "room.lobby");
    assert_int_equal(r.n, N);
    for (size_t i = 0; i < r.n; i++) {
        assert_true(r.v[i].id >= N && r.v[i].id < 2 * N);
        assert_int_equal(got[r.v[i].id - N]++, 0);
    }
    /* Remove in random order; spot-check on the way. */
    for (unsigned i = N - 1; i > 0; i--) {
        unsigned j = rndn(i + 1);
        subidx_sub_t *t = own[i]; own[i] = own[j]; own[j] = t;
        t = fan[i]; fan[i] = fan[j]; fan[j] = t;
    }
    for (unsigned i = 0; i < N; i++) {
        subidx_remove(ix, own[i]);
        subidx_remove(ix, fan[i]);
        if (i % 1000 == 0)
            assert_int_equal(match(ix, "room.lobby").n, N - i - 1);
    }
    subidx_remove(ix, wild);
    subidx_get_stats(ix, &st);
    assert_int_equal(st.subs, 0);
    assert_int_equal(st.nodes, 0);
    assert_int_equal(match(ix, "conn.1.inbox").n, 0);
    subidx_free(ix);
}

/* A result survives subidx_remove: a caller may unsubscribe (auto-unsub,
 * dead subscriber) while it walks the deliveries. */
static void test_remove_while_iterating(void **state)
{
    (void)state;
    subidx_t *ix = new_index(SUBIDX_CACHE_DEFAULT);
    enum { N = 300 };
    static subidx_sub_t *h[N];
    static int rec[N];
    for (unsigned i = 0; i < N; i++) {
        subject_key_t k = { i, &rec[i] };
        const char *pat = i % 3 == 0 ? "t.*" : i % 3 == 1 ? "t.x" : ">";
        const char *q = i % 10 == 0 ? "grp" : NULL;
        assert_int_equal(subidx_add(ix, pat, L(pat), q, q ? 3 : 0, k, &h[i]), 0);
    }
    subidx_result_t r = match(ix, "t.x");
    assert_int_equal(r.n, N - N / 10 + 1);
    static uint64_t before[N];
    for (size_t i = 0; i < r.n; i++)
        before[i] = r.v[i].id;
    /* Unsubscribe every delivered subscription, then everything else,
     * while reading the result (ASan catches a use after free). */
    static bool gone[N];
    for (size_t i = 0; i < r.n; i++) {
        uint64_t id = r.v[i].id;
        assert_int_equal(id, before[i]);
        assert_ptr_equal(r.v[i].ptr, &rec[id]);
        if (!gone[id]) {
            subidx_remove(ix, h[id]);
            gone[id] = true;
        }
        if (i == r.n / 2)
            for (unsigned j = 0; j < N; j++)
                if (!gone[j]) {
                    subidx_remove(ix, h[j]);
                    gone[j] = true;
                }
    }
    assert_int_equal(match(ix, "t.x").n, 0);
    subidx_free(ix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_syntax_table),
        cmocka_unit_test(test_syntax_limits),
        cmocka_unit_test(test_match_table),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_each_subscription_delivered),
        cmocka_unit_test(test_reference_cached),
        cmocka_unit_test(test_reference_uncached),
        cmocka_unit_test(test_reference_tiny_cache),
        cmocka_unit_test(test_cache_invalidation),
        cmocka_unit_test(test_queue_distribution),
        cmocka_unit_test(test_queue_alternating_subjects),
        cmocka_unit_test(test_queue_seed),
        cmocka_unit_test(test_10k_subscriptions),
        cmocka_unit_test(test_remove_while_iterating),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
