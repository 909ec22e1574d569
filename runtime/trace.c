/* runtime/trace.c - trace recording: per-context buffers, the flush thread,
 * the file format (docs/trace-format.md).  Invariants T1..T3 in trace.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define TRACE_HAVE_TSC 1
#endif

#include "internal.h"

#define BUF_EVENTS 2048u        /* 64 KiB of raw event units per buffer */
#define FLIGHT_MAX 64u           /* buffers queued or being written */
#define WAKE_BATCH 4u            /* wake the writer for this many full buffers */
#define WRITER_NAP_NS 10000000   /* ... or after this long (10 ms) */
#define DEPTH_EVERY 256u        /* sample a mailbox every N receives: the walk
                                   costs at most DEPTH_CAP / N reads a message */
#define DEPTH_CAP 1024u         /* ... counting at most this many */
#define NAME_MAX_LEN 255u
/* Encoded size bound: a record takes < 64 bytes per raw unit it uses (a
 * send: 2 units, < 70 bytes; a spawn's name adds a unit per 32 bytes). */
#define OUT_SIZE (BUF_EVENTS * 64u)

enum { ROLE_WORKER, ROLE_ROOT, ROLE_THREAD };

struct trace_buf {
    trace_buf_t *next;          /* queue or free list */
    uint32_t track, n;
    trace_ev_t ev[BUF_EVENTS];
};

struct trace {
    int fd;
    uint64_t tick0, mono0;      /* clock origin: ts 0 */
    pthread_mutex_t lock;       /* guards everything below but the flush-only part */
    pthread_cond_t work, room;
    trace_buf_t *qhead, *qtail; /* handed over, in order */
    trace_buf_t *free;
    unsigned nflight;
    bool stop;
    int err;                    /* first error: 0, ACTO_ESYS or ACTO_ENOMEM */
    uint32_t next_thread;       /* index of the next attached context */
    unsigned nworkers;
    pthread_t thread;
    /* flush thread only */
    msgpack_sbuffer sb;         /* header */
    char *out;                  /* one encoded buffer: OUT_SIZE bytes */
    uint64_t *last_ns;          /* per track: keeps each track monotonic */
    uint32_t nlast;
};

/* ---- clock --------------------------------------------------------------------
 * With an invariant TSC that the kernel itself uses as clocksource, events
 * take raw TSC ticks (a few ns) and the flush thread converts them with the
 * ratio measured from trace start to the moment of conversion.  Because
 * that interval always contains the event, the conversion error of an event
 * stays below the error of one clock reading.  Otherwise: CLOCK_MONOTONIC. */
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

/* Hand the current buffer to the flush thread (if it holds anything) and
 * take an empty one.  Waits while FLIGHT_MAX buffers are in flight: the
 * trace loses nothing, at the price of back-pressure on a slow disk. */
static void buf_swap(trace_ctx_t *tc, bool urgent)
{
    trace_t *t = tc->t;
    trace_buf_t *b = tc->buf;
    uint32_t n = (uint32_t)(tc->pos - b->ev);
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
    } else {                    /* out of memory: drop this buffer's events */
        t->err = ACTO_ENOMEM;
        nb = b;
    }
    pthread_mutex_unlock(&t->lock);
    tc->buf = nb;
    tc->pos = nb->ev;
    tc->end = nb->ev + BUF_EVENTS;
}

static inline trace_ev_t *ev_get(trace_ctx_t *tc, uint32_t kind, unsigned n)
{
    if (ACTO_UNLIKELY((size_t)(tc->end - tc->pos) < n))
        buf_swap(tc, false);
    trace_ev_t *e = tc->pos;
    tc->pos += n;
    e->ts = ticks();
    e->kind = kind;
    return e;
}

/* ---- hooks ---------------------------------------------------------------------- */

void trace_send(acto_ctx_t *ctx, acto_msg_t *m, acto_pid_t to)
{
    trace_ctx_t *tc = ctx->tr;
    m->id = ((uint64_t)(tc->track + 1) << 48) | ++tc->seq;
    trace_ev_t *e = ev_get(tc, ACTO_TRACE_SEND, 2);
    trace_ext_t *f = (trace_ext_t *)(e + 1);
    e->a = m->id;
    e->b = m->from;
    e->x = m->type;
    f->c = to;
    f->d = tc->cause;
    f->e = m->size;
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

void trace_recv_begin(acto_ctx_t *ctx, acto_actor_t *a, acto_msg_t *m)
{
    trace_ctx_t *tc = ctx->tr;
    if (ACTO_UNLIKELY(++tc->nrecv % DEPTH_EVERY == 0)) {
        trace_ev_t *d = ev_get(tc, ACTO_TRACE_DEPTH, 1);
        d->a = a->pid;
        d->x = mbox_depth(&a->mb);
    }
    trace_ev_t *e = ev_get(tc, ACTO_TRACE_RECV_BEGIN, 1);
    tc->cause = m->id;
    e->a = m->id;
    e->b = a->pid;
    e->x = m->type;
}

void trace_recv_end(acto_ctx_t *ctx)
{
    trace_ctx_t *tc = ctx->tr;
    trace_ev_t *e = ev_get(tc, ACTO_TRACE_RECV_END, 1);
    e->a = tc->cause;
    tc->cause = 0;
}

/* The name is copied (behaviours may be freed before the flush) into the
 * slots after the event, truncated to NAME_MAX_LEN bytes. */
void trace_spawn(acto_ctx_t *ctx, acto_pid_t pid, const char *name)
{
    trace_ctx_t *tc = ctx->tr;
    size_t len = name ? strnlen(name, NAME_MAX_LEN) : 0;
    unsigned extra = (unsigned)((len + sizeof(trace_ev_t) - 1) / sizeof(trace_ev_t));
    trace_ev_t *e = ev_get(tc, ACTO_TRACE_SPAWN, 2 + extra);
    e->a = pid;
    e->b = ctx->self ? ctx->self->pid : ACTO_PID_NONE;
    e->x = (uint32_t)len;
    ((trace_ext_t *)(e + 1))->c = tc->cause;
    if (len)
        memcpy(e + 2, name, len);
}

void trace_exit(acto_ctx_t *ctx, acto_pid_t pid, int64_t reason)
{
    trace_ev_t *e = ev_get(ctx->tr, ACTO_TRACE_EXIT, 1);
    e->a = pid;
    e->b = (uint64_t)reason;
}

void trace_steal(acto_ctx_t *ctx, unsigned victim, uint32_t got)
{
    trace_ev_t *e = ev_get(ctx->tr, ACTO_TRACE_STEAL, 1);
    e->x = victim;
    e->a = got;
}

void trace_sleep(acto_ctx_t *ctx)
{
    ev_get(ctx->tr, ACTO_TRACE_SLEEP, 1);
    buf_swap(ctx->tr, true);    /* idle anyway: let readers see it all */
}

void trace_wake(acto_ctx_t *ctx)
{
    ev_get(ctx->tr, ACTO_TRACE_WAKE, 1);
}

void trace_io_submit(acto_ctx_t *ctx, uint32_t op, int fd, uint64_t req, acto_pid_t pid)
{
    trace_ev_t *e = ev_get(ctx->tr, ACTO_TRACE_IO_SUBMIT, 2);
    e->x = op;
    e->a = (uint64_t)(uint32_t)fd;
    e->b = req;
    ((trace_ext_t *)(e + 1))->c = pid;
}

void trace_io_complete(acto_ctx_t *ctx, uint32_t op, int fd, uint64_t req, int64_t result,
                       acto_pid_t pid)
{
    trace_ev_t *e = ev_get(ctx->tr, ACTO_TRACE_IO_COMPLETE, 2);
    trace_ext_t *f = (trace_ext_t *)(e + 1);
    e->x = op;
    e->a = (uint64_t)(uint32_t)fd;
    e->b = req;
    f->c = (uint64_t)result;
    f->d = pid;
}

void trace_timer_fire(acto_ctx_t *ctx, uint64_t timer, acto_pid_t pid)
{
    trace_ev_t *e = ev_get(ctx->tr, ACTO_TRACE_TIMER_FIRE, 1);
    e->a = timer;
    e->b = pid;
}

/* ---- the flush thread ---------------------------------------------------------- */

static inline __attribute__((always_inline)) void pack_str(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static const char *role_name(uint32_t role)
{
    return role == ROLE_WORKER ? "worker" : role == ROLE_ROOT ? "root" : "thread";
}

/* Encode one raw event as a msgpack record; returns the slots it used. */
static inline __attribute__((always_inline)) unsigned encode(msgpack_packer *pk, uint32_t track, uint64_t ns, const trace_ev_t *e)
{
    static const uint8_t nfields[] = {
        [ACTO_TRACE_SPAWN] = 4, [ACTO_TRACE_EXIT] = 2, [ACTO_TRACE_SEND] = 6,
        [ACTO_TRACE_RECV_BEGIN] = 3, [ACTO_TRACE_RECV_END] = 1, [ACTO_TRACE_DEPTH] = 2,
        [ACTO_TRACE_STEAL] = 2, [ACTO_TRACE_SLEEP] = 0, [ACTO_TRACE_WAKE] = 0,
        [ACTO_TRACE_TRACK] = 2, [ACTO_TRACE_IO_SUBMIT] = 4, [ACTO_TRACE_IO_COMPLETE] = 5,
        [ACTO_TRACE_TIMER_FIRE] = 2,
    };
    const trace_ext_t *f = (const trace_ext_t *)(e + 1);   /* two-unit kinds */
    msgpack_pack_array(pk, 3u + nfields[e->kind]);
    msgpack_pack_uint32(pk, e->kind);
    msgpack_pack_uint64(pk, ns);
    msgpack_pack_uint32(pk, track);
    switch (e->kind) {
    case ACTO_TRACE_SPAWN:
        msgpack_pack_uint64(pk, e->a);
        msgpack_pack_uint64(pk, e->b);
        pack_str(pk, (const char *)(e + 2), e->x);
        msgpack_pack_uint64(pk, f->c);
        return 2 + (unsigned)((e->x + sizeof *e - 1) / sizeof *e);
    case ACTO_TRACE_EXIT:
        msgpack_pack_uint64(pk, e->a);
        msgpack_pack_int64(pk, (int64_t)e->b);
        break;
    case ACTO_TRACE_SEND:
        msgpack_pack_uint64(pk, e->a);
        msgpack_pack_uint64(pk, e->b);
        msgpack_pack_uint64(pk, f->c);
        msgpack_pack_uint32(pk, e->x);
        msgpack_pack_uint64(pk, f->e);
        msgpack_pack_uint64(pk, f->d);
        return 2;
    case ACTO_TRACE_RECV_BEGIN:
        msgpack_pack_uint64(pk, e->a);
        msgpack_pack_uint64(pk, e->b);
        msgpack_pack_uint32(pk, e->x);
        break;
    case ACTO_TRACE_RECV_END:
        msgpack_pack_uint64(pk, e->a);
        break;
    case ACTO_TRACE_DEPTH:
        msgpack_pack_uint64(pk, e->a);
        msgpack_pack_uint32(pk, e->x);
        break;
    case ACTO_TRACE_STEAL:
        msgpack_pack_uint32(pk, e->x);
        msgpack_pack_uint64(pk, e->a);
        break;
    case ACTO_TRACE_TRACK:
        pack_str(pk, role_name(e->x), strlen(role_name(e->x)));
        msgpack_pack_uint64(pk, e->a);
        break;
    case ACTO_TRACE_IO_SUBMIT:
    case ACTO_TRACE_IO_COMPLETE:
        msgpack_pack_uint32(pk, e->x);
        msgpack_pack_uint64(pk, e->a);
        msgpack_pack_uint64(pk, e->b);
        if (e->kind == ACTO_TRACE_IO_COMPLETE)
            msgpack_pack_int64(pk, (int64_t)f->c);
        msgpack_pack_uint64(pk, e->kind == ACTO_TRACE_IO_COMPLETE ? f->d : f->c);
        return 2;
    case ACTO_TRACE_TIMER_FIRE:
        msgpack_pack_uint64(pk, e->a);
        msgpack_pack_uint64(pk, e->b);
        break;
    default:
        break;
    }
    return 1;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static uint64_t *track_last(trace_t *t, uint32_t track)
{
    if (track >= t->nlast) {
        uint32_t n = track + 16;
        uint64_t *v = realloc(t->last_ns, n * sizeof *v);
        if (!v)
            return NULL;
        memset(v + t->nlast, 0, (n - t->nlast) * sizeof *v);
        t->last_ns = v;
        t->nlast = n;
    }
    return &t->last_ns[track];
}

/* The packer's sink.  Room is reserved up front (OUT_SIZE).  The packer
 * hands over 1..9 bytes at a time: constant-size copies for those avoid a
 * libc call per field, which was most of the flush thread's time. */
static int out_write(void *data, const char *buf, size_t len)
{
    char **p = data, *d = *p;
    switch (len) {
    case 1: d[0] = buf[0]; break;
    case 2: memcpy(d, buf, 2); break;
    case 3: memcpy(d, buf, 3); break;
    case 5: memcpy(d, buf, 5); break;
    case 9: memcpy(d, buf, 9); break;
    default: memcpy(d, buf, len); break;
    }
    *p = d + len;
    return 0;
}

/* Convert, encode and write one buffer with a single write() (T3). */
static void buf_write(trace_t *t, const trace_buf_t *b)
{
    if (t->err == ACTO_ESYS)
        return;                 /* after a failed write, append nothing (T3) */
    uint64_t tick_now, ns_now;
    clock_pair(&tick_now, &ns_now);
    double ratio = use_tsc && tick_now > t->tick0
        ? (double)(ns_now - t->mono0) / (double)(tick_now - t->tick0) : 1.0;
    uint64_t *last = track_last(t, b->track), dummy = 0;
    if (!last)
        last = &dummy;
    char *p = t->out;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &p, out_write);
    for (uint32_t i = 0; i < b->n;) {
        const trace_ev_t *e = &b->ev[i];
        uint64_t ns = e->ts > t->tick0 ? (uint64_t)((double)(e->ts - t->tick0) * ratio) : 0;
        if (ns < *last)
            ns = *last;
        *last = ns;
        i += encode(&pk, b->track, ns, e);
    }
    if (write_all(t->fd, t->out, (size_t)(p - t->out)) != 0)
        t->err = ACTO_ESYS;     /* flush thread only; read after join */
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
        unsigned n = 0;
        for (trace_buf_t *b = list; b; b = b->next, n++)
            buf_write(t, b);
        pthread_mutex_lock(&t->lock);
        while (list) {
            trace_buf_t *next = list->next;
            list->next = t->free;
            t->free = list;
            list = next;
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
    msgpack_pack_map(&pk, 7);
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
    int rc = write_all(t->fd, t->sb.data, t->sb.size) ? ACTO_ESYS : 0;
    msgpack_sbuffer_clear(&t->sb);
    return rc;
}

/* ---- contexts ------------------------------------------------------------------------ */

static int ctx_open(trace_t *t, acto_ctx_t *ctx)
{
    trace_ctx_t *tc = calloc(1, sizeof *tc);
    pthread_mutex_lock(&t->lock);
    trace_buf_t *b = tc ? buf_new(t) : NULL;
    uint32_t role = ctx->kind == CTX_WORKER ? ROLE_WORKER
                  : ctx->kind == CTX_ROOT ? ROLE_ROOT : ROLE_THREAD;
    uint32_t index = role == ROLE_WORKER ? ctx->w->index
                   : role == ROLE_ROOT ? 0 : t->next_thread++;
    pthread_mutex_unlock(&t->lock);
    if (!b) {
        free(tc);
        return ACTO_ENOMEM;
    }
    tc->t = t;
    tc->buf = b;
    tc->pos = b->ev;
    tc->end = b->ev + BUF_EVENTS;
    /* Tracks: workers 0..N-1, root N, attached threads N+1... */
    tc->track = role == ROLE_WORKER ? index : role == ROLE_ROOT ? t->nworkers : t->nworkers + 1 + index;
    trace_ev_t *e = ev_get(tc, ACTO_TRACE_TRACK, 1);
    e->x = role;
    e->a = index;
    ctx->tr = tc;
    return 0;
}

/* Hand over what the context has buffered, then free its trace state. */
static void ctx_close(acto_ctx_t *ctx)
{
    trace_ctx_t *tc = ctx->tr;
    if (!tc)
        return;
    buf_swap(tc, true);
    trace_t *t = tc->t;
    pthread_mutex_lock(&t->lock);
    tc->buf->next = t->free;    /* the empty one buf_swap left us */
    t->free = tc->buf;
    pthread_mutex_unlock(&t->lock);
    free(tc);
    ctx->tr = NULL;
}

int trace_ctx_open(acto_ctx_t *ctx)
{
    return ctx->rt->trace ? ctx_open(ctx->rt->trace, ctx) : 0;
}

void trace_ctx_close(acto_ctx_t *ctx)
{
    ctx_close(ctx);
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
    free(t->out);
    free(t->last_ns);
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
    if (!(t->out = malloc(OUT_SIZE))) {
        free(t);
        return ACTO_ENOMEM;
    }
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

/* Stop the flush thread once it has written everything handed over. */
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
        ctx_close(c);
    pthread_mutex_unlock(&rt->ctx_lock);
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
