/* bench/subject_bench.c - the subscription index (net/subject.h) alone:
 * how many subjects per second one thread routes, for the shapes a broker
 * sees.  Prints `WORKLOAD METRIC VALUE` lines:
 *
 *   subject-literal-10k    10,000 subscriptions "conn.<i>.inbox", subjects
 *                          published round-robin over all 10,000 (more than
 *                          the default cache holds: mostly the trie walk)
 *   subject-literal-hot    the same index, 64 hot subjects (cache hits)
 *   subject-bigcache-10k   the round-robin case with 16,384 cache slots
 *                          (every subject cached: 2 MiB of cache)
 *   subject-nocache-10k    the round-robin case with the cache disabled
 *   subject-wildcard-10k   10,000 patterns mixing '*' and '>' over
 *                          "m.<host>.<metric>.<n>": ~6 matches per subject
 *   subject-queue          100 queue groups of 100 members on "job.*"
 *                          (one pick per group per message)
 *   subject-fanout-10k     10,000 subscriptions on one subject
 *                          (deliveries_per_s: result entries produced)
 *
 * Usage: bench_subject [SCALE] (SCALE multiplies the match counts; 1). */
#include "bench.h"          /* first: it sets _POSIX_C_SOURCE */

#include <malloc.h>
#include <string.h>

#include "net/subject.h"

#define NSUBS 10000

static double scale = 1.0;

/* CPU time of this process: on a shared machine the wall clock also
 * counts the time other jobs held the core. */
static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static subidx_t *index_new(unsigned cache)
{
    subidx_t *ix;
    bench_check(subidx_new(&ix, cache), "subidx_new");
    return ix;
}

static void sub(subidx_t *ix, const char *pat, const char *q, uint64_t id)
{
    subidx_sub_t *s;
    subject_key_t k = { id, NULL };
    bench_check(subidx_add(ix, pat, strlen(pat), q, q ? strlen(q) : 0, k, &s), pat);
}

/* Match subjects[i % n] `count` times; print matches/s and deliveries/s. */
static void run(const char *name, subidx_t *ix, char (*subjects)[64], size_t n,
                unsigned long count, size_t want_min)
{
    size_t *lens = malloc(n * sizeof *lens);
    if (!lens)
        bench_fail("out of memory");
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(subjects[i]);
    count = (unsigned long)(count * scale);
    uint64_t deliveries = 0, sum = 0;
    subidx_result_t r;
    for (size_t i = 0; i < n && i < 100000; i++)    /* warm up: fill the cache */
        bench_check(subidx_match(ix, subjects[i], lens[i], &r), "match");
    uint64_t t0 = bench_now_ns(), c0 = cpu_ns();
    for (unsigned long i = 0, j = 0; i < count; i++) {
        bench_check(subidx_match(ix, subjects[j], lens[j], &r), "match");
        if (r.n < want_min)
            bench_fail("%s: %s matched %zu, expected >= %zu", name, subjects[j], r.n, want_min);
        deliveries += r.n;
        sum += r.n ? r.v[r.n - 1].id : 0;           /* read the result */
        if (++j == n)
            j = 0;
    }
    double s = (bench_now_ns() - t0) / 1e9, cpu = (double)(cpu_ns() - c0);
    subidx_stats_t st;
    subidx_get_stats(ix, &st);
    printf("%s matches_per_s %.0f\n", name, count / s);
    printf("%s deliveries_per_s %.0f\n", name, deliveries / s);
    printf("%s ns_per_match %.1f\n", name, s * 1e9 / count);
    printf("%s cpu_ns_per_match %.1f\n", name, cpu / count);
    fprintf(stderr, "%s: %lu matches, %.3f s, cache hits %.1f%%, %zu nodes (%llu)\n", name,
            count, s, st.matches ? 100.0 * st.cache_hits / st.matches : 0.0, st.nodes,
            (unsigned long long)sum);
    free(lens);
}

/* Bytes the heap has handed out (glibc): the index's own memory. */
static size_t heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;         /* heap chunks + mmapped ones */
}

static char (*subjects_alloc(size_t n))[64]
{
    char (*s)[64] = calloc(n, 64);
    if (!s)
        bench_fail("out of memory");
    return s;
}

static void literal(const char *name, unsigned cache, size_t nsubj)
{
    subidx_t *ix = index_new(cache);
    char (*s)[64] = subjects_alloc(NSUBS), pat[64];
    size_t heap0 = heap_bytes();
    for (unsigned i = 0; i < NSUBS; i++) {
        snprintf(pat, sizeof pat, "conn.%u.inbox", i);
        sub(ix, pat, NULL, i);
    }
    /* index memory per subscription, hash tables included (not the cache) */
    printf("%s bytes_per_sub %.0f\n", name, (double)(heap_bytes() - heap0) / NSUBS);
    for (unsigned i = 0; i < NSUBS; i++)
        snprintf(s[i], 64, "conn.%u.inbox", (unsigned)((i * 7919u) % NSUBS));
    run(name, ix, s, nsubj, 20000000, 1);
    free(s);
    subidx_free(ix);
}

static void wildcard(void)
{
    subidx_t *ix = index_new(SUBIDX_CACHE_DEFAULT);
    char pat[64];
    /* 10,000 patterns over m.<host 0..99>.<metric 0..99>.<n 0..9> */
    for (unsigned i = 0; i < NSUBS; i++) {
        unsigned h = i % 100, m = (i / 100) % 100;
        switch (i % 5) {
        case 0: snprintf(pat, sizeof pat, "m.h%u.x%u.*", h, m); break;
        case 1: snprintf(pat, sizeof pat, "m.h%u.*.%u", h, i % 10); break;
        case 2: snprintf(pat, sizeof pat, "m.*.x%u.>", m); break;
        case 3: snprintf(pat, sizeof pat, "m.h%u.>", h); break;
        default: snprintf(pat, sizeof pat, "*.h%u.x%u.%u", h, m, i % 10); break;
        }
        sub(ix, pat, NULL, i);
    }
    enum { NS = 100000 };
    char (*s)[64] = subjects_alloc(NS);
    uint64_t x = 88172645463325252ULL;
    for (unsigned i = 0; i < NS; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        snprintf(s[i], 64, "m.h%u.x%u.%u", (unsigned)(x % 100), (unsigned)((x >> 8) % 100),
                 (unsigned)((x >> 16) % 10));
    }
    run("subject-wildcard-10k", ix, s, NS, 5000000, 1);
    free(s);
    subidx_free(ix);
}

static void queues(void)
{
    subidx_t *ix = index_new(SUBIDX_CACHE_DEFAULT);
    char q[32];
    for (unsigned i = 0; i < NSUBS; i++) {
        snprintf(q, sizeof q, "workers%u", i % 100);
        sub(ix, "job.*", q, i);
    }
    char (*s)[64] = subjects_alloc(4);
    for (unsigned i = 0; i < 4; i++)
        snprintf(s[i], 64, "job.kind%u", i);
    run("subject-queue", ix, s, 4, 1000000, 100);
    free(s);
    subidx_free(ix);
}

static void fanout(void)
{
    subidx_t *ix = index_new(SUBIDX_CACHE_DEFAULT);
    for (unsigned i = 0; i < NSUBS; i++)
        sub(ix, "room.lobby", NULL, i);
    char (*s)[64] = subjects_alloc(1);
    strcpy(s[0], "room.lobby");
    run("subject-fanout-10k", ix, s, 1, 50000, NSUBS);
    free(s);
    subidx_free(ix);
}

int main(int argc, char **argv)
{
    if (argc > 1 && (scale = atof(argv[1])) <= 0)
        bench_fail("usage: bench_subject [SCALE > 0]");
    literal("subject-literal-10k", SUBIDX_CACHE_DEFAULT, NSUBS);
    literal("subject-literal-hot", SUBIDX_CACHE_DEFAULT, 64);
    literal("subject-bigcache-10k", 16384, NSUBS);
    literal("subject-nocache-10k", 0, NSUBS);
    wildcard();
    queues();
    fanout();
    return 0;
}
