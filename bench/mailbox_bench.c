/* bench/mailbox_bench.c - acto's mailbox (runtime/mailbox.h) against the
 * Concurrency Kit queues it could have been built on, with numbers for the
 * choice argued in docs/architecture.md ("Mailbox").
 *
 * White-box: the mailbox alone, push + pop, no scheduling (the mailbox is
 * initialised "scheduled", so the EMPTY bit never comes into play).
 *
 * Every queue carries the same 16-byte item (a message stand-in with an
 * intrusive link); the consumer checks that every item arrives exactly once
 * and in order per producer, and the program exits non-zero if not.
 *
 *   acto            intrusive Vyukov MPSC queue, one exchange per push
 *   fifo-mpmc-pool  ck_fifo_mpmc; one entry per item from a preallocated
 *                   per-producer array (a bump: allocation costs ~nothing)
 *   fifo-mpmc-malloc ck_fifo_mpmc; entry malloc'ed by the producer, the
 *                   returned garbage entry freed by the consumer (as a user
 *                   would; note that freeing at once is only safe in
 *                   practice: other threads may still read a dequeued entry,
 *                   so real code needs ck_hp_fifo or an epoch, which cost
 *                   more; this figure is a lower bound)
 *   fifo-spsc       ck_fifo_spsc with ck_fifo_spsc_recycle (P=1 only: it is
 *                   single-producer; a reference, not a candidate)
 *   ring-mpsc-1k    ck_ring_enqueue_mpsc / ck_ring_dequeue_mpsc, 1,024 slots
 *   ring-mpsc-64k   the same with 65,536 slots
 *   ring-mpmc-1k    ck_ring_enqueue_mpmc / ck_ring_dequeue_mpmc, 1,024 slots
 *   A ring refuses when full: the producer retries (counted as full_retries).
 *
 * Workloads, each run RUNS times round-robin across queues (so a burst of
 * load on the shared machine hits them alike) and reported as the median:
 *   IMPL-st   one thread, push one then pop one, N times (the common actor
 *             case: a short, uncontended mailbox): ns_per_op = per push+pop
 *   IMPL-pP   P producer threads (N/P items each) and one consumer thread
 *             (the main thread): items_per_s, ns_per_op (wall / N),
 *             cpu_ns_per_op (process CPU time / N: counts the spinning of
 *             both sides), full_retries, empty_polls (pops that found the
 *             queue empty), threads (P + 1; the machine may have fewer cores)
 *
 * An empty or full queue is waited on by spinning with a pause, yielding
 * the CPU every 64 failed tries (the same policy for every queue), so that
 * an oversubscribed run (3 threads on 2 cores) still makes progress.
 *
 * Output: `mailbox IMPL-WORKLOAD METRIC VALUE` lines on stdout.
 * Usage: bench_mailbox [N [RUNS [st|mt]]]   (defaults 10000000, 5, both;
 * `st` alone suits callgrind: instructions per op = Ir / N). */
#include "bench.h"          /* first: it sets _POSIX_C_SOURCE */

#include <pthread.h>
#include <sched.h>
#include <string.h>

#include <ck_fifo.h>
#include <ck_ring.h>

#include "mailbox.h"

#define MAXP 2
#define YIELD_EVERY 64

typedef struct item {
    acto_mnode_t link;      /* first: a node pointer is an item pointer */
    uint32_t producer;
    uint32_t seq;
} item_t;

typedef struct bench bench_t;

/* Per-producer state (also the single thread's push side); a cache line of
 * its own, so producers do not slow each other by false sharing. */
typedef struct prod {
    bench_t *b;
    uint32_t id;
    item_t *items;
    uint64_t count;
    ck_fifo_mpmc_entry_t *pool;     /* fifo-mpmc-pool entries */
    uint64_t pool_next;
    ck_fifo_mpmc_entry_t *spare;    /* single thread: last garbage entry */
    ck_fifo_spsc_entry_t *spool;    /* fifo-spsc entries when none recycles */
    uint64_t spool_next;
    uint64_t full_retries;
    pthread_t thread;
} CK_CC_ALIGN(64) prod_t;

/* Consumer state. */
typedef struct cons {
    bench_t *b;
    ck_fifo_mpmc_entry_t *garbage;  /* last entry handed back by ck_fifo_mpmc */
    int free_garbage;               /* fifo-mpmc-malloc: free() it */
    uint64_t empty_polls;
} cons_t;

struct bench {
    acto_mailbox_t mb;
    ck_fifo_mpmc_t fifo CK_CC_ALIGN(64);
    ck_fifo_spsc_t spsc CK_CC_ALIGN(64);
    ck_ring_t ring CK_CC_ALIGN(64);
    ck_ring_buffer_t *rbuf;
    pthread_barrier_t start;
};

static void backoff(unsigned *spins)
{
    if (++*spins >= YIELD_EVERY) {
        *spins = 0;
        sched_yield();
    } else {
        ck_pr_stall();
    }
}

/* ---- the queues: push one item, pop one item (NULL = nothing now) ---- */

static inline void acto_push(prod_t *p, item_t *it) { mbox_push(&p->b->mb, &it->link); }
static inline item_t *acto_pop(cons_t *c) { return (item_t *)mbox_pop(&c->b->mb); }

static inline void mpmc_enqueue(prod_t *p, ck_fifo_mpmc_entry_t *e, item_t *it)
{
    if (e == NULL)
        bench_fail("out of fifo entries");
    ck_fifo_mpmc_enqueue(&p->b->fifo, e, it);
}

static inline void mpmc_pool_push(prod_t *p, item_t *it)
{
    ck_fifo_mpmc_entry_t *e = p->spare;
    if (e != NULL)
        p->spare = NULL;
    else
        e = &p->pool[p->pool_next++];
    mpmc_enqueue(p, e, it);
}

static inline void mpmc_malloc_push(prod_t *p, item_t *it)
{
    mpmc_enqueue(p, malloc(sizeof(ck_fifo_mpmc_entry_t)), it);
}

static inline item_t *mpmc_pop(cons_t *c)
{
    void *v;
    ck_fifo_mpmc_entry_t *garbage;
    if (!ck_fifo_mpmc_dequeue(&c->b->fifo, &v, &garbage))
        return NULL;
    if (c->free_garbage)
        free(garbage);
    else
        c->garbage = garbage;
    return v;
}
#define mpmc_pool_pop mpmc_pop
#define mpmc_malloc_pop mpmc_pop

static inline void spsc_push(prod_t *p, item_t *it)
{
    ck_fifo_spsc_entry_t *e = ck_fifo_spsc_recycle(&p->b->spsc);
    if (e == NULL)
        e = &p->spool[p->spool_next++];
    ck_fifo_spsc_enqueue(&p->b->spsc, e, it);
}

static inline item_t *spsc_pop(cons_t *c)
{
    void *v;
    return ck_fifo_spsc_dequeue(&c->b->spsc, &v) ? v : NULL;
}

static inline void ring_mpsc_push(prod_t *p, item_t *it)
{
    unsigned spins = 0;
    while (!ck_ring_enqueue_mpsc(&p->b->ring, p->b->rbuf, it)) {
        p->full_retries++;
        backoff(&spins);
    }
}

static inline item_t *ring_mpsc_pop(cons_t *c)
{
    void *v;
    return ck_ring_dequeue_mpsc(&c->b->ring, c->b->rbuf, &v) ? v : NULL;
}

static inline void ring_mpmc_push(prod_t *p, item_t *it)
{
    unsigned spins = 0;
    while (!ck_ring_enqueue_mpmc(&p->b->ring, p->b->rbuf, it)) {
        p->full_retries++;
        backoff(&spins);
    }
}

static inline item_t *ring_mpmc_pop(cons_t *c)
{
    void *v;
    return ck_ring_dequeue_mpmc(&c->b->ring, c->b->rbuf, &v) ? v : NULL;
}

/* ---- the workloads, instantiated per queue so push/pop inline ---- */

/* Consumer: take n items, checking each producer's sequence. */
#define DEFINE_CONSUME(Q)                                                   \
    static void consume_##Q(cons_t *c, uint64_t n, uint32_t *expect)        \
    {                                                                       \
        unsigned spins = 0;                                                 \
        for (uint64_t got = 0; got < n;) {                                  \
            item_t *it = Q##_pop(c);                                        \
            if (it == NULL) {                                               \
                c->empty_polls++;                                           \
                backoff(&spins);                                            \
                continue;                                                   \
            }                                                               \
            spins = 0;                                                      \
            if (it->producer >= MAXP || it->seq != expect[it->producer])    \
                bench_fail(#Q ": item %u/%u out of order or duplicated",   \
                           it->producer, it->seq);                          \
            expect[it->producer]++;                                         \
            got++;                                                          \
        }                                                                   \
    }

#define DEFINE_PRODUCE(Q)                                                   \
    static void *produce_##Q(void *arg)                                     \
    {                                                                       \
        prod_t *p = arg;                                                    \
        pthread_barrier_wait(&p->b->start);                                 \
        for (uint64_t i = 0; i < p->count; i++)                             \
            Q##_push(p, &p->items[i]);                                      \
        return NULL;                                                        \
    }

/* One thread: push one, pop it again, n times.  The item is reused (a hot
 * message), as are the queue entries where the queue hands them back. */
#define DEFINE_SINGLE(Q)                                                    \
    static void single_##Q(prod_t *p, cons_t *c, uint64_t n)                \
    {                                                                       \
        item_t *it = &p->items[0];                                          \
        for (uint64_t i = 0; i < n; i++) {                                  \
            it->seq = (uint32_t)i;                                          \
            Q##_push(p, it);                                                \
            item_t *got = Q##_pop(c);                                       \
            if (got != it || got->seq != (uint32_t)i)                       \
                bench_fail(#Q ": single-thread pop lost the item");        \
            p->spare = c->garbage;                                          \
            c->garbage = NULL;                                              \
        }                                                                   \
    }

#define DEFINE_QUEUE(Q) DEFINE_CONSUME(Q) DEFINE_PRODUCE(Q) DEFINE_SINGLE(Q)
DEFINE_QUEUE(acto)
DEFINE_QUEUE(mpmc_pool)
DEFINE_QUEUE(mpmc_malloc)
DEFINE_QUEUE(spsc)
DEFINE_QUEUE(ring_mpsc)
DEFINE_QUEUE(ring_mpmc)

typedef struct impl {
    const char *name;
    unsigned ring_size;     /* 0: not a ring */
    int single_producer;    /* fifo-spsc: P=1 only */
    int free_garbage;
    void (*consume)(cons_t *, uint64_t, uint32_t *);
    void *(*produce)(void *);
    void (*single)(prod_t *, cons_t *, uint64_t);
} impl_t;

#define IMPL(name, Q, ring, sp, fg) \
    { name, ring, sp, fg, consume_##Q, produce_##Q, single_##Q }
static const impl_t impls[] = {
    IMPL("acto", acto, 0, 0, 0),
    IMPL("fifo-mpmc-pool", mpmc_pool, 0, 0, 0),
    IMPL("fifo-mpmc-malloc", mpmc_malloc, 0, 0, 1),
    IMPL("fifo-spsc", spsc, 0, 1, 0),
    IMPL("ring-mpsc-1k", ring_mpsc, 1024, 0, 0),
    IMPL("ring-mpsc-64k", ring_mpsc, 65536, 0, 0),
    IMPL("ring-mpmc-1k", ring_mpmc, 1024, 0, 0),
};
#define NIMPL (sizeof impls / sizeof impls[0])

/* ---- setup shared by the workloads ---- */

static item_t *all_items;                   /* N items, split among producers */
static ck_fifo_mpmc_entry_t *all_entries;   /* N fifo-mpmc-pool entries */
static ck_fifo_spsc_entry_t *all_sentries;  /* N fifo-spsc entries */

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Queue-specific initial state; returns the stubs to release afterwards. */
static void queues_init(bench_t *b, const impl_t *im, void **stub1, void **stub2)
{
    mbox_init(&b->mb, 1);
    ck_fifo_mpmc_entry_t *fs = malloc(sizeof *fs);
    ck_fifo_spsc_entry_t *ss = malloc(sizeof *ss);
    if (fs == NULL || ss == NULL)
        bench_fail("out of memory");
    ck_fifo_mpmc_init(&b->fifo, fs);
    ck_fifo_spsc_init(&b->spsc, ss);
    b->rbuf = NULL;
    if (im->ring_size) {
        b->rbuf = calloc(im->ring_size, sizeof *b->rbuf);
        if (b->rbuf == NULL)
            bench_fail("out of memory");
        ck_ring_init(&b->ring, im->ring_size);
    }
    *stub1 = fs;
    *stub2 = ss;
}

/* After the run the queue is empty again; free what it still holds. */
static void queues_fini(bench_t *b, const impl_t *im, void *fstub, void *sstub)
{
    ck_fifo_mpmc_entry_t *fg;
    ck_fifo_mpmc_deinit(&b->fifo, &fg);
    if (im->free_garbage)
        free(fg);           /* the stub was freed as garbage, or is fg */
    else
        free(fstub);
    free(sstub);            /* fifo-spsc only recycles the stub and pool */
    free(b->rbuf);
}

static void prod_init(prod_t *p, bench_t *b, uint32_t id, uint64_t first, uint64_t count)
{
    memset(p, 0, sizeof *p);
    p->b = b;
    p->id = id;
    p->items = &all_items[first];
    p->count = count;
    p->pool = &all_entries[first];
    p->spool = &all_sentries[first];
    for (uint64_t i = 0; i < count; i++) {
        p->items[i].producer = id;
        p->items[i].seq = (uint32_t)i;
    }
}

typedef struct result {
    double v[6];            /* the metrics below, in this order */
} result_t;
enum { R_RATE, R_NS, R_CPU, R_FULL, R_EMPTY, R_NMETRIC };
static const char *const metric_names[] = {
    "items_per_s", "ns_per_op", "cpu_ns_per_op", "full_retries", "empty_polls"};

static result_t run_threads(const impl_t *im, int nprod, uint64_t n)
{
    bench_t b;
    prod_t prods[MAXP];
    cons_t cons = {.b = &b, .free_garbage = im->free_garbage};
    uint32_t expect[MAXP] = {0};
    void *s1, *s2;

    memset(&b, 0, sizeof b);
    queues_init(&b, im, &s1, &s2);
    pthread_barrier_init(&b.start, NULL, (unsigned)nprod + 1);
    uint64_t per = n / (uint64_t)nprod, total = per * (uint64_t)nprod;
    for (int i = 0; i < nprod; i++) {
        prod_init(&prods[i], &b, (uint32_t)i, per * (uint64_t)i, per);
        if (pthread_create(&prods[i].thread, NULL, im->produce, &prods[i]) != 0)
            bench_fail("pthread_create");
    }
    pthread_barrier_wait(&b.start);
    uint64_t t0 = bench_now_ns(), c0 = cpu_ns();
    im->consume(&cons, total, expect);
    uint64_t t1 = bench_now_ns();
    result_t r = {{0}};
    for (int i = 0; i < nprod; i++) {
        pthread_join(prods[i].thread, NULL);
        r.v[R_FULL] += (double)prods[i].full_retries;
    }
    uint64_t c1 = cpu_ns();
    pthread_barrier_destroy(&b.start);
    queues_fini(&b, im, s1, s2);
    r.v[R_RATE] = bench_rate(total, t1 - t0);
    r.v[R_NS] = (double)(t1 - t0) / (double)total;
    r.v[R_CPU] = (double)(c1 - c0) / (double)total;
    r.v[R_EMPTY] = (double)cons.empty_polls;
    return r;
}

static result_t run_single(const impl_t *im, uint64_t n)
{
    bench_t b;
    prod_t p;
    cons_t c = {.b = &b, .free_garbage = im->free_garbage};
    void *s1, *s2;

    memset(&b, 0, sizeof b);
    queues_init(&b, im, &s1, &s2);
    prod_init(&p, &b, 0, 0, 1);
    uint64_t t0 = bench_now_ns(), c0 = cpu_ns();
    im->single(&p, &c, n);
    uint64_t t1 = bench_now_ns(), c1 = cpu_ns();
    /* fifo-mpmc-pool: the last garbage entry sits in p.spare (pool memory) */
    queues_fini(&b, im, s1, s2);
    result_t r = {{0}};
    r.v[R_RATE] = bench_rate(n, t1 - t0);
    r.v[R_NS] = (double)(t1 - t0) / (double)n;
    r.v[R_CPU] = (double)(c1 - c0) / (double)n;
    return r;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(const char *name, const char *workload, result_t *runs, int nruns,
                   int first_metric, int last_metric)
{
    char label[96];
    snprintf(label, sizeof label, "mailbox %s-%s", name, workload);
    for (int m = first_metric; m <= last_metric; m++) {
        double v[64];
        for (int i = 0; i < nruns; i++)
            v[i] = runs[i].v[m];
        qsort(v, (size_t)nruns, sizeof v[0], cmp_double);
        bench_report(label, metric_names[m], v[nruns / 2], m == R_RATE || m >= R_FULL ? 0 : 2);
    }
}

/* The machine is shared: say how busy it was (stderr, not a figure). */
static void print_load(const char *when)
{
    char line[128] = "";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        if (fgets(line, sizeof line, f) == NULL)
            line[0] = 0;
        fclose(f);
    }
    fprintf(stderr, "mailbox: load average at the %s: %s", when, line[0] ? line : "?\n");
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000u;
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    const char *only = argc > 3 ? argv[3] : "";
    if (n < 2 || n > UINT32_MAX || runs < 1 || runs > 64 ||
        (*only && strcmp(only, "st") != 0 && strcmp(only, "mt") != 0))
        bench_fail("usage: bench_mailbox [N (2..2^32-1) [RUNS (1..64) [st|mt]]]");

    all_items = calloc(n, sizeof *all_items);
    all_entries = aligned_alloc(16, n * sizeof *all_entries);
    all_sentries = calloc(n, sizeof *all_sentries);
    if (all_items == NULL || all_entries == NULL || all_sentries == NULL)
        bench_fail("out of memory");
    memset(all_entries, 0, n * sizeof *all_entries);   /* fault pages in now */

    fprintf(stderr, "mailbox: %ld cores online\n", sysconf(_SC_NPROCESSORS_ONLN));
    print_load("start");

    static result_t res[NIMPL][64];
    for (int r = 0; r < runs && strcmp(only, "mt") != 0; r++)
        for (size_t i = 0; i < NIMPL; i++)
            res[i][r] = run_single(&impls[i], n);
    for (size_t i = 0; i < NIMPL && strcmp(only, "mt") != 0; i++)
        report(impls[i].name, "st", res[i], runs, R_NS, R_NS);

    for (int nprod = 1; nprod <= MAXP && strcmp(only, "st") != 0; nprod++) {
        char wl[16];
        snprintf(wl, sizeof wl, "p%d", nprod);
        for (int r = 0; r < runs; r++)
            for (size_t i = 0; i < NIMPL; i++)
                if (!(impls[i].single_producer && nprod > 1))
                    res[i][r] = run_threads(&impls[i], nprod, n);
        for (size_t i = 0; i < NIMPL; i++) {
            if (impls[i].single_producer && nprod > 1)
                continue;
            report(impls[i].name, wl, res[i], runs, R_RATE, R_EMPTY);
            char label[96];
            snprintf(label, sizeof label, "mailbox %s-%s", impls[i].name, wl);
            bench_report(label, "threads", nprod + 1, 0);
        }
    }
    print_load("end");
    free(all_items);
    free(all_entries);
    free(all_sentries);
    return 0;
}
