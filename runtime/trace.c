/* runtime/trace.c - trace recording: per-context buffers, the writer thread,
 * the file format (docs/trace-format.md, version 2).  Invariants T1..T4 in
 * trace.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/uio.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define TRACE_HAVE_TSC 1
#endif

#include "internal.h"

#define BUF_WORDS 8192u         /* 64 KiB of packed units per buffer */
#define FLIGHT_MAX 64u           /* buffers queued or being written */
#define WAKE_BATCH 4u            /* wake the writer for this many full buffers */
#define WRITER_NAP_NS 10000000   /* ... or after this long (10 ms) */
#define DEPTH_CAP 1024u         /* count at most this many: with TRACE_DEPTH_EVERY,
                                   at most 4 reads a message */
#define NAME_MAX_LEN 255u
#define HDR_MAX 96u              /* a block record's header: 10 fields < 96 B */
#define IOV_BATCH 64u            /* iovecs per writev (2 per block) */

enum { ROLE_WORKER, ROLE_ROOT, ROLE_THREAD };
/* Units go to the file as they lie in memory; the format is little-endian. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "trace units: little-endian hosts only");

/* The track's state just before w[0] (T4): what the reader needs to decode
 * the block without the blocks before it. */
typedef struct trace_meta {
    uint64_t seq, wbase, cause, self, bts;
} trace_meta_t;

struct trace_buf {
    trace_buf_t *next;          /* queue or free list */
    uint32_t track, n;          /* n: words used */
    trace_meta_t meta;
    uint64_t w[BUF_WORDS];
};

struct trace {
    int fd;
    uint64_t tick0, mono0;      /* clock origin: ts 0 */
    pthread_mutex_t lock;       /* guards everything below but the writer-only part */
    pthread_cond_t work, room;
    trace_buf_t *qhead, *qtail; /* handed over, in order */
    trace_buf_t *free;
    unsigned nflight;
    bool stop;
    int err;                    /* first error: 0, ACTO_ESYS or ACTO_ENOMEM */
    uint32_t next_thread;       /* index of the next attached context */
    trace_ctx_t *spare;         /* tracks of detached threads, for the next attach */
    unsigned nworkers;
    pthread_t thread;
    /* writer thread only */
    msgpack_sbuffer sb;         /* header */
    char hdr[IOV_BATCH / 2][HDR_MAX];
};

/* ---- clock --------------------------------------------------------------------
 * With an invariant TSC that the kernel itself uses as clocksource, events
 * take raw TSC ticks (a few ns).  The writer thread measures ticks and ns
 * elapsed since trace start when it writes a block, and the reader converts
 * the block's ticks with that ratio.  Because that interval contains every
 * event of the block, the conversion error of an event stays below the
 * error of one clock reading.  Otherwise: CLOCK_MONOTONIC ns as ticks. */
static bool use_tsc;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void clock_pick(void)
{
#ifdef TRACE_HAVE_TSC
    char buf[32] = "";
    FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
    if (f) {
        if (!fgets(buf, sizeof buf, f))
            buf[0] = 0;
        fclose(f);
    }
    use_tsc = strncmp(buf, "tsc", 3) == 0;
#endif
}

static inline uint64_t ticks(void)
{
#ifdef TRACE_HAVE_TSC
    if (ACTO_LIKELY(use_tsc))
        return __rdtsc();
#endif
    return mono_ns();
}

/* A (ticks, ns) pair read as close together as we can. */
static void clock_pair(uint64_t *tick, uint64_t *ns)
{
    uint64_t a = ticks();
    *ns = mono_ns();
    uint64_t b = ticks();
    *tick = use_tsc ? a + (b - a) / 2 : *ns;
}

/* ---- send numbers (T5) ---------------------------------------------------------- */

static pthread_mutex_t seq_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t seq_floor;      /* above every send number used so far */

static uint64_t seq_first(void)
{
    pthread_mutex_lock(&seq_lock);
    uint64_t s = seq_floor;
    pthread_mutex_unlock(&seq_lock);
    return s;
}

static void seq_done(uint64_t seq)
{
    pthread_mutex_lock(&seq_lock);
    if (seq > seq_floor)
        seq_floor = seq;
    pthread_mutex_unlock(&seq_lock);
}

/* ---- buffers: owner side ------------------------------------------------------ */

static trace_buf_t *buf_new(trace_t *t)
{
    trace_buf_t *b = t->free;
    if (b) {
        t->free = b->next;
        return b;
    }
    return malloc(sizeof *b);
}

/* Waking the writer is a futex call: do it for a batch of full buffers
 * (or when asked: a worker going idle, a context closing); otherwise the
 * writer finds them when its nap ends. */
static void enqueue(trace_t *t, trace_buf_t *b, bool urgent)
{
    b->next = NULL;
    if (t->qtail)
        t->qtail->next = b;
    else
        t->qhead = b;
    t->qtail = b;
    t->nflight++;
    if (urgent || t->nflight >= WAKE_BATCH)
        pthread_cond_signal(&t->work);
}

/* Start filling b: record the track's state at its first word (T4). */
static void buf_start(trace_ctx_t *tc, trace_buf_t *b)
{
    b->meta = (trace_meta_t){ .seq = tc->seq, .wbase = tc->wbase, .self = tc->self,
                              .cause = tc->self ? tc->cause : 0, .bts = tc->self ? tc->bts : 0 };
    tc->buf = b;
    tc->pos = b->w;
    tc->end = b->w + BUF_WORDS;
}

/* Hand the current buffer to the writer thread (if it holds anything) and
 * take an empty one.  Waits while FLIGHT_MAX buffers are in flight: the
 * trace loses nothing, at the price of back-pressure on a slow disk.  Out of
 * memory, the buffer's words are dropped but still counted in wbase, so
 * the reader sees the gap and says so. */
static void buf_swap(trace_ctx_t *tc, bool urgent)
{
    trace_t *t = tc->t;
    trace_buf_t *b = tc->buf;
    uint32_t n = (uint32_t)(tc->pos - b->w);
    if (n == 0)
        return;
    pthread_mutex_lock(&t->lock);
    trace_buf_t *nb = NULL;
    while (!(nb = t->free) && t->nflight >= FLIGHT_MAX)
        pthread_cond_wait(&t->room, &t->lock);
    nb = buf_new(t);
    if (nb) {
        b->n = n;
        b->track = tc->track;
        enqueue(t, b, urgent);
    } else {
        t->err = ACTO_ENOMEM;
        nb = b;
    }
    pthread_mutex_unlock(&t->lock);
    tc->wbase += n;
    buf_start(tc, nb);
}

uint64_t *trace_words_slow(trace_ctx_t *tc, unsigned n)
{
    buf_swap(tc, false);
    uint64_t *w = tc->pos;
    tc->pos += n;
    return w;
}

uint64_t trace_mono_ns(void)
{
    return mono_ns();
}

/* ---- hooks (send, receive begin and end: trace_inline.h) ------------------------ */

void trace_send_x(trace_ctx_t *tc, acto_msg_t *m, acto_pid_t to)
{
    uint64_t *w = trace_words(tc, 4);
    w[0] = trace_stamp(tc, ACTO_TRACE_U_SEND_X);
    w[1] = m->from;
    w[2] = (uint64_t)m->size << 32 | m->type;
    w[3] = to;
    m->id = tc->idbase | ++tc->seq;   /* after the words: T4 */
}

/* Messages waiting behind the one being handled.  Owner only: the nodes
 * from tail on cannot be freed by anyone else (mailbox.h I1). */
static uint32_t mbox_depth(acto_mailbox_t *mb)
{
    uint32_t n = 0;
    for (acto_mnode_t *p = mb->tail; p && n < DEPTH_CAP;
         p = at_load_ptr((void *const *)&p->next))
        if (p != &mb->stub)
            n++;
    return n;
}

/* A message from another track, or from before this trace (T5). */
void trace_recv_x(trace_ctx_t *tc, acto_actor_t *a, acto_msg_t *m)
{
    uint64_t *w = trace_words(tc, 4);
    uint64_t w0 = trace_stamp(tc, ACTO_TRACE_U_RECV_X);
    w[0] = w0;
    w[1] = m->id;
    w[2] = a->pid;
    w[3] = m->type;
    tc->cause = m->id;
    tc->self = a->pid;
    tc->bts = w0 >> 8;
}

void trace_depth(trace_ctx_t *tc, acto_actor_t *a)
{
    uint64_t *w = trace_words(tc, 2);
    w[0] = (uint64_t)mbox_depth(&a->mb) << 8 | ACTO_TRACE_U_DEPTH;
    w[1] = a->pid;
}

/* The name is copied (behaviours may be freed before the writer runs) into
 * the words after the unit, truncated to NAME_MAX_LEN bytes. */
void trace_spawn(acto_ctx_t *ctx, acto_pid_t pid, const char *name)
{
    trace_ctx_t *tc = ctx->tr;
    size_t len = name ? strnlen(name, NAME_MAX_LEN) : 0;
    unsigned extra = (unsigned)((len + 7) / 8);
    uint64_t *w = trace_words(tc, 4 + extra);
    w[0] = trace_stamp(tc, ACTO_TRACE_U_SPAWN);
    w[1] = pid;
    w[2] = ctx->self ? ctx->self->pid : ACTO_PID_NONE;
    w[3] = len;
    if (extra) {
        w[3 + extra] = 0;             /* zero the last word's padding */
        memcpy(w + 4, name, len);
    }
}

void trace_exit(acto_ctx_t *ctx, acto_pid_t pid, int64_t reason)
{
    uint64_t *w = trace_words(ctx->tr, 3);
    w[0] = trace_stamp(ctx->tr, ACTO_TRACE_U_EXIT);
    w[1] = pid;
    w[2] = (uint64_t)reason;
}

void trace_steal(acto_ctx_t *ctx, unsigned victim, uint32_t got)
{
    uint64_t *w = trace_words(ctx->tr, 2);
    w[0] = trace_stamp(ctx->tr, ACTO_TRACE_U_STEAL);
    w[1] = (uint64_t)got << 32 | victim;
}

void trace_sleep(acto_ctx_t *ctx)
{
    *trace_words(ctx->tr, 1) = trace_stamp(ctx->tr, ACTO_TRACE_U_SLEEP);
    buf_swap(ctx->tr, true);    /* idle anyway: let readers see it all */
}

void trace_wake(acto_ctx_t *ctx)
{
    *trace_words(ctx->tr, 1) = trace_stamp(ctx->tr, ACTO_TRACE_U_WAKE);
}

void trace_io_submit(acto_ctx_t *ctx, uint32_t op, int fd, uint64_t req, acto_pid_t pid)
{
    uint64_t *w = trace_words(ctx->tr, 4);
    w[0] = trace_stamp(ctx->tr, ACTO_TRACE_U_IO_SUBMIT);
    w[1] = (uint64_t)(uint32_t)fd << 32 | op;
    w[2] = req;
    w[3] = pid;
}

void trace_io_complete(acto_ctx_t *ctx, uint32_t op, int fd, uint64_t req, int64_t result,
                       acto_pid_t pid)
{
    uint64_t *w = trace_words(ctx->tr, 5);
    w[0] = trace_stamp(ctx->tr, ACTO_TRACE_U_IO_COMPLETE);
    w[1] = (uint64_t)(uint32_t)fd << 32 | op;
    w[2] = req;
    w[3] = (uint64_t)result;
    w[4] = pid;
}

void trace_timer_fire(acto_ctx_t *ctx, uint64_t timer, acto_pid_t pid)
{
    uint64_t *w = trace_words(ctx->tr, 3);
    w[0] = trace_stamp(ctx->tr, ACTO_TRACE_U_TIMER_FIRE);
    w[1] = timer;
    w[2] = pid;
}

/* A pub/sub unit: kind, its length in words, the subject's length and hi
 * (bits 32..63) in w[0], then `head` words for the caller, then the subject
 * zero-padded to whole words.  At most 2 + 128 words: the length byte holds it. */
static uint64_t *subject_unit(trace_ctx_t *tc, uint32_t kind, uint32_t hi, unsigned head,
                              const char *subject, size_t len)
{
    if (len > TRACE_SUBJECT_MAX)
        len = TRACE_SUBJECT_MAX;
    unsigned sw = (unsigned)((len + 7) / 8), n = 1 + head + sw;
    uint64_t *w = trace_words(tc, n);
    w[0] = (uint64_t)hi << 32 | (uint64_t)len << 16 | (uint64_t)n << 8 | kind;
    if (sw) {
        w[n - 1] = 0;                 /* zero the last word's padding */
        memcpy(w + 1 + head, subject, len);
    }
    return w;
}

/* No clock read: the reader stamps it with the receive's begin, like a
 * short send, and takes the publishing message's id from the receive. */
void trace_publish(acto_ctx_t *ctx, const char *subject, size_t len, uint32_t deliveries)
{
    if (ctx->tr->self)                /* always, from a shard's receive */
        subject_unit(ctx->tr, ACTO_TRACE_U_PUBLISH, deliveries, 0, subject, len);
}

/* The reader stamps it with the time of the send it follows. */
void trace_deliver(acto_ctx_t *ctx, const char *subject, size_t len, acto_pid_t pid)
{
    subject_unit(ctx->tr, ACTO_TRACE_U_DELIVER, 0, 1, subject, len)[1] = pid;
}

/* ---- the writer thread ---------------------------------------------------------- */

static inline void pack_str(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/* A fixed-room sink for a block header (HDR_MAX bytes, always enough). */
static int hdr_write(void *data, const char *buf, size_t len)
{
    char **p = data;
    memcpy(*p, buf, len);
    *p += len;
    return 0;
}

/* The msgpack header of b's block record, up to and including the bin's
 * length: [BLOCK, ns_span, track, tick_span, seq, wbase, cause, self, bts,
 * bin]; its words follow as they are.  The clock span is measured after
 * every event of the block, so the reader's conversion of any of them errs
 * by less than one clock reading. */
static size_t block_header(char *out, const trace_buf_t *b, uint64_t ns_span, uint64_t tick_span)
{
    char *p = out;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &p, hdr_write);
    msgpack_pack_array(&pk, 10);
    msgpack_pack_uint32(&pk, ACTO_TRACE_BLOCK);
    msgpack_pack_uint64(&pk, ns_span);
    msgpack_pack_uint32(&pk, b->track);
    msgpack_pack_uint64(&pk, tick_span);
    msgpack_pack_uint64(&pk, b->meta.seq);
    msgpack_pack_uint64(&pk, b->meta.wbase);
    msgpack_pack_uint64(&pk, b->meta.cause);
    msgpack_pack_uint64(&pk, b->meta.self);
    msgpack_pack_uint64(&pk, b->meta.bts);
    msgpack_pack_bin(&pk, (size_t)b->n * 8);
    return (size_t)(p - out);
}

static int writev_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = writev(fd, iov, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    struct iovec v = { (void *)p, n };
    return writev_all(fd, &v, 1);
}

/* Write the blocks of list, IOV_BATCH / 2 per writev (T3): the writer
 * never reads the words themselves. */
static void blocks_write(trace_t *t, const trace_buf_t *list)
{
    uint64_t tick_now, ns_now;
    clock_pair(&tick_now, &ns_now);   /* after every event of the list */
    uint64_t ns_span = ns_now - t->mono0, tick_span = tick_now - t->tick0;
    struct iovec iov[IOV_BATCH];
    while (list && t->err != ACTO_ESYS) {   /* after a failed write, append nothing */
        int n = 0;
        for (; list && n < (int)IOV_BATCH; list = list->next, n += 2) {
            char *h = t->hdr[n / 2];
            iov[n] = (struct iovec){ h, block_header(h, list, ns_span, tick_span) };
            iov[n + 1] = (struct iovec){ (void *)list->w, (size_t)list->n * 8 };
        }
        if (writev_all(t->fd, iov, n) != 0)
            t->err = ACTO_ESYS;   /* writer only; read after join */
    }
}

static void *flush_main(void *arg)
{
    trace_t *t = arg;
    pthread_setname_np(pthread_self(), "acto-trace");
    pthread_mutex_lock(&t->lock);
    for (;;) {
        while (!t->qhead && !t->stop) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_nsec += WRITER_NAP_NS;
            if (until.tv_nsec >= 1000000000) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&t->work, &t->lock, &until);
        }
        trace_buf_t *list = t->qhead;
        if (!list)
            break;              /* stop, and everything is written */
        t->qhead = t->qtail = NULL;
        pthread_mutex_unlock(&t->lock);
        blocks_write(t, list);
        unsigned n = 0;
        pthread_mutex_lock(&t->lock);
        while (list) {
            trace_buf_t *next = list->next;
            list->next = t->free;
            t->free = list;
            list = next;
            n++;
        }
        t->nflight -= n;
        pthread_cond_broadcast(&t->room);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

/* ---- file header ------------------------------------------------------------------ */

static int write_header(trace_t *t, unsigned workers)
{
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    char comm[64] = "";
    FILE *f = fopen("/proc/self/comm", "r");
    if (f) {
        if (!fgets(comm, sizeof comm, f))
            comm[0] = 0;
        fclose(f);
    }
    comm[strcspn(comm, "\n")] = 0;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &t->sb, msgpack_sbuffer_write);
    msgpack_sbuffer_write(&t->sb, ACTO_TRACE_MAGIC, 8);
    msgpack_pack_map(&pk, 8);
    pack_str(&pk, "version", 7);
    msgpack_pack_uint32(&pk, ACTO_TRACE_VERSION);
    pack_str(&pk, "start_ns", 8);
    msgpack_pack_uint64(&pk, t->mono0);
    pack_str(&pk, "start_unix_ns", 13);
    msgpack_pack_uint64(&pk, (uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec);
    pack_str(&pk, "workers", 7);
    msgpack_pack_uint32(&pk, workers);
    pack_str(&pk, "pid", 3);
    msgpack_pack_uint64(&pk, (uint64_t)getpid());
    pack_str(&pk, "program", 7);
    pack_str(&pk, comm, strlen(comm));
    pack_str(&pk, "clock", 5);
    pack_str(&pk, use_tsc ? "tsc" : "monotonic", use_tsc ? 3 : 9);
    pack_str(&pk, "tick0", 5);
    msgpack_pack_uint64(&pk, t->tick0 & ((1ull << 56) - 1));
    int rc = write_all(t->fd, t->sb.data, t->sb.size) ? ACTO_ESYS : 0;
    msgpack_sbuffer_clear(&t->sb);
    return rc;
}

/* ---- contexts ------------------------------------------------------------------------ */

/* A track and its state, as it was left, for the next attached thread:
 * its stream goes on (its own TRACK unit says who writes it now), so
 * threads that attach and detach again and again do not use up the 65535
 * tracks that message ids can name. */
static trace_ctx_t *ctx_reuse(trace_t *t, uint32_t index)
{
    pthread_mutex_lock(&t->lock);
    trace_ctx_t *tc = t->spare;
    if (tc)
        t->spare = tc->spare;
    pthread_mutex_unlock(&t->lock);
    if (tc) {
        tc->spare = NULL;
        uint64_t *w = trace_words(tc, 2);
        w[0] = trace_stamp(tc, ACTO_TRACE_U_TRACK);
        w[1] = (uint64_t)index << 32 | ROLE_THREAD;
    }
    return tc;
}

static int ctx_open(trace_t *t, acto_ctx_t *ctx)
{
    uint32_t role = ctx->kind == CTX_WORKER ? ROLE_WORKER
                  : ctx->kind == CTX_ROOT ? ROLE_ROOT : ROLE_THREAD;
    pthread_mutex_lock(&t->lock);
    uint32_t index = role == ROLE_WORKER ? ctx->w->index
                   : role == ROLE_ROOT ? 0 : t->next_thread++;
    pthread_mutex_unlock(&t->lock);
    if (role == ROLE_THREAD && (ctx->tr = ctx_reuse(t, index)))
        return 0;
    trace_ctx_t *tc = calloc(1, sizeof *tc);
    pthread_mutex_lock(&t->lock);
    trace_buf_t *b = tc ? buf_new(t) : NULL;
    pthread_mutex_unlock(&t->lock);
    if (!b) {
        free(tc);
        return ACTO_ENOMEM;
    }
    tc->t = t;
    tc->tsc = use_tsc;
    tc->seq = seq_first();
    buf_start(tc, b);
    /* Tracks: workers 0..N-1, root N, attached threads N+1... */
    tc->track = role == ROLE_WORKER ? index : role == ROLE_ROOT ? t->nworkers : t->nworkers + 1 + index;
    if (tc->track >= 0xffff) {  /* ids hold track + 1 in 16 bits; ctx_reuse keeps below */
        pthread_mutex_lock(&t->lock);
        b->next = t->free;
        t->free = b;
        pthread_mutex_unlock(&t->lock);
        free(tc);
        return ACTO_ELIMIT;
    }
    tc->idbase = (uint64_t)(tc->track + 1) << 48;
    tc->idlo = tc->idbase + tc->seq + 1;
    tc->idn = (1ull << 48) - tc->seq - 1;
    uint64_t *w = trace_words(tc, 2);
    w[0] = trace_stamp(tc, ACTO_TRACE_U_TRACK);
    w[1] = (uint64_t)index << 32 | role;
    ctx->tr = tc;
    return 0;
}

/* Free a context's trace state and its (empty) buffer. */
static void ctx_free(trace_ctx_t *tc)
{
    trace_t *t = tc->t;
    seq_done(tc->seq);
    pthread_mutex_lock(&t->lock);
    tc->buf->next = t->free;
    t->free = tc->buf;
    pthread_mutex_unlock(&t->lock);
    free(tc);
}

/* Hand over what the context has buffered; keep a detached thread's track
 * for the next attach while the trace goes on, else free its state. */
static void ctx_close(acto_ctx_t *ctx, bool ending)
{
    trace_ctx_t *tc = ctx->tr;
    if (!tc)
        return;
    buf_swap(tc, true);
    ctx->tr = NULL;
    if (ctx->kind != CTX_WORKER && ctx->kind != CTX_ROOT && !ending) {
        trace_t *t = tc->t;
        pthread_mutex_lock(&t->lock);
        tc->spare = t->spare;
        t->spare = tc;
        pthread_mutex_unlock(&t->lock);
        return;
    }
    ctx_free(tc);
}

int trace_ctx_open(acto_ctx_t *ctx)
{
    return ctx->rt->trace ? ctx_open(ctx->rt->trace, ctx) : 0;
}

void trace_ctx_close(acto_ctx_t *ctx)
{
    ctx_close(ctx, false);
}

void trace_ctx_flush(acto_ctx_t *ctx)
{
    ctx_lock(ctx);
    if (ctx->tr)
        buf_swap(ctx->tr, true);
    ctx_unlock(ctx);
}

/* ---- start and stop --------------------------------------------------------------------- */

static void trace_free(trace_t *t)
{
    while (t->free) {
        trace_buf_t *b = t->free;
        t->free = b->next;
        free(b);
    }
    msgpack_sbuffer_destroy(&t->sb);
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->work);
    pthread_cond_destroy(&t->room);
    free(t);
}

static int trace_open(acto_runtime_t *rt, const char *path, trace_t **out)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, clock_pick);
    trace_t *t = calloc(1, sizeof *t);
    if (!t)
        return ACTO_ENOMEM;
    msgpack_sbuffer_init(&t->sb);
    pthread_mutex_init(&t->lock, NULL);
    pthread_condattr_t ca;             /* the writer naps on the monotonic clock */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->work, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&t->room, NULL);
    t->nworkers = rt->nworkers;
    t->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    clock_pair(&t->tick0, &t->mono0);   /* after open: truncating takes long */
    int rc = t->fd < 0 ? ACTO_ESYS : write_header(t, rt->nworkers);
    if (rc == 0 && pthread_create(&t->thread, NULL, flush_main, t) != 0)
        rc = ACTO_ESYS;
    if (rc) {
        if (t->fd >= 0)
            close(t->fd);
        trace_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

/* Stop the writer thread once it has written everything handed over. */
static int trace_finish(trace_t *t)
{
    pthread_mutex_lock(&t->lock);
    t->stop = true;
    pthread_cond_signal(&t->work);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
    int rc = t->err;
    if (close(t->fd) != 0 && rc == 0)
        rc = ACTO_ESYS;
    trace_free(t);
    return rc;
}

static int trace_detach_all(acto_runtime_t *rt)
{
    trace_t *t = rt->trace;
    pthread_mutex_lock(&rt->ctx_lock);
    for (acto_ctx_t *c = rt->contexts; c; c = c->all_next)
        ctx_close(c, true);
    pthread_mutex_unlock(&rt->ctx_lock);
    while (t->spare) {          /* no context uses them: no lock needed */
        trace_ctx_t *tc = t->spare;
        t->spare = tc->spare;
        ctx_free(tc);
    }
    rt->trace = NULL;
    return trace_finish(t);
}

int acto_trace_start(acto_runtime_t *rt, const char *path)
{
    if (!rt || !path || !*path)
        return ACTO_EINVAL;
    if (at_load_u32(&rt->running) || rt->trace)
        return ACTO_ESTATE;
    trace_t *t;
    int rc = trace_open(rt, path, &t);
    if (rc)
        return rc;
    rt->trace = t;
    pthread_mutex_lock(&rt->ctx_lock);
    for (acto_ctx_t *c = rt->contexts; c && rc == 0; c = c->all_next)
        rc = ctx_open(t, c);
    pthread_mutex_unlock(&rt->ctx_lock);
    if (rc)
        trace_detach_all(rt);
    return rc;
}

int acto_trace_stop(acto_runtime_t *rt)
{
    if (!rt)
        return ACTO_EINVAL;
    if (at_load_u32(&rt->running) || !rt->trace)
        return ACTO_ESTATE;
    return trace_detach_all(rt);
}

int acto_trace_enabled(const acto_runtime_t *rt)
{
    return rt && rt->trace ? 1 : 0;
}

int trace_init_runtime(acto_runtime_t *rt)
{
    if (rt->cfg.trace_path)
        return acto_trace_start(rt, rt->cfg.trace_path);
    const char *env = getenv("ACTO_TRACE");
    if (!env || !*env)
        return 0;
    int rc = acto_trace_start(rt, env);
    if (rc)   /* a debugging aid must not stop the program: say so, go on */
        fprintf(stderr, "acto: ACTO_TRACE=%s: tracing off: %s\n", env, acto_strerror(rc));
    return 0;
}

void trace_close(acto_runtime_t *rt)
{
    if (rt->trace)
        trace_detach_all(rt);
}
