/* runtime/inspect.c - live inspection: the counters beside the actor table
 * and the endpoint actor that serves snapshots of them (invariants K1..K5
 * in inspect.h; protocol in docs/inspect.md; public side acto/inspect.h). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "inspect.h"
#include "net/addr.h"

#define TOP_DEFAULT 20u
#define REQ_MAX 4096u             /* a request frame is a small map */
#define BACKLOG 16

_Static_assert(sizeof ((insp_t *)0)->addr >= ADDR_STRLEN, "room for an address");

bool insp_use_tsc;
static pthread_once_t clock_once = PTHREAD_ONCE_INIT;

/* As trace.c: raw TSC only when the kernel trusts it as its clocksource
 * (invariant, synchronised across CPUs). */
static void clock_pick(void)
{
#ifdef INSP_HAVE_TSC
    char buf[32] = "";
    FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
    if (f) {
        if (!fgets(buf, sizeof buf, f))
            buf[0] = 0;
        fclose(f);
    }
    insp_use_tsc = strncmp(buf, "tsc", 3) == 0;
#endif
}

uint64_t insp_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t *sent_of(insp_t *in, unsigned i)
{
    return in->sent + (size_t)i * in->rt->max_slots;
}

/* ---- hooks ---------------------------------------------------------------------- */

static inline void add_rlx(uint64_t *p, uint64_t d)
{
    at_store_u64_rlx(p, at_load_u64_rlx(p) + d);
}

void insp_spawn(acto_runtime_t *rt, uint32_t slot, const acto_behavior_t *beh)
{
    insp_rec_t *r = &rt->insp->rec[slot];
    at_store_u64_rlx(&r->handled, 0);
    at_store_u64_rlx(&r->busy, 0);
    at_store_ptr(&r->beh, (void *)beh);
}

void insp_turn(acto_ctx_t *ctx, acto_actor_t *a, unsigned n, uint64_t t0)
{
    uint64_t dt = insp_ticks() - t0;
    insp_t *in = ctx->rt->insp;
    insp_rec_t *r = &in->rec[slot_index(ctx->rt, a)];
    add_rlx(&r->handled, n);
    add_rlx(&r->busy, dt);
    insp_worker_t *w = &in->w[ctx->w->index];
    add_rlx(&w->handled, n);
    add_rlx(&w->busy, dt);
}

void insp_drained(acto_runtime_t *rt, acto_actor_t *a, uint64_t n)
{
    insp_rec_t *r = &rt->insp->rec[slot_index(rt, a)];
    at_store_u64(&r->popped, at_load_u64_rlx(&r->popped) + n);
}

/* ---- snapshots ------------------------------------------------------------------ */

enum { SORT_MBOX, SORT_MSGS, SORT_BUSY };
static const char *const sort_names[] = { "mbox", "msgs", "busy" };

typedef struct row {
    acto_pid_t pid;
    const char *name;
    uint64_t mbox, handled, dh, dbusy;
    uint64_t key;
} row_t;

/* The top N rows: a min-heap on (key, then lower pid first), so the worst
 * kept row is at the root and a better one replaces it in O(log N). */
typedef struct top {
    row_t *v;
    uint32_t n, cap;
} top_t;

static bool row_less(const row_t *a, const row_t *b)
{
    return a->key != b->key ? a->key < b->key : a->pid > b->pid;
}

static void heap_down(top_t *t, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i + 1, m = i;
        if (l < t->n && row_less(&t->v[l], &t->v[m]))
            m = l;
        if (l + 1 < t->n && row_less(&t->v[l + 1], &t->v[m]))
            m = l + 1;
        if (m == i)
            return;
        row_t x = t->v[i];
        t->v[i] = t->v[m];
        t->v[m] = x;
        i = m;
    }
}

static void top_offer(top_t *t, const row_t *r)
{
    if (t->n < t->cap) {
        uint32_t i = t->n++;
        t->v[i] = *r;
        while (i > 0 && row_less(&t->v[i], &t->v[(i - 1) / 2])) {
            row_t x = t->v[i];
            t->v[i] = t->v[(i - 1) / 2];
            t->v[(i - 1) / 2] = x;
            i = (i - 1) / 2;
        }
    } else if (t->cap && row_less(&t->v[0], r)) {
        t->v[0] = *r;
        heap_down(t, 0);
    }
}

static int row_cmp_desc(const void *a, const void *b)
{
    return row_less(a, b) ? 1 : row_less(b, a) ? -1 : 0;
}

static void pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static double pct(uint64_t part, uint64_t whole)
{
    double p = 100.0 * (double)part / (double)whole;
    return p > 100.0 ? 100.0 : p;   /* a turn that began before the interval */
}

static double per_s(uint64_t n, uint64_t ns)
{
    return (double)n * 1e9 / (double)ns;
}

/* Walk the live slots (racy reads, K1..K5), keep the top rows. */
static uint64_t walk_actors(insp_t *in, int sort, top_t *top)
{
    acto_runtime_t *rt = in->rt;
    uint64_t hwm = at_load_u32(&rt->slot_hwm), live = 0;
    if (hwm > rt->max_slots)
        hwm = rt->max_slots;
    for (uint64_t i = 0; i < hwm; i++) {
        acto_actor_t *a = slot_at(rt, (uint32_t)i);
        acto_pid_t pid = at_load_u64(&a->pid);
        if (!pid)
            continue;
        insp_rec_t *r = &in->rec[i];
        uint64_t popped = at_load_u64(&r->popped), sent = 0;   /* K3: popped first */
        for (unsigned w = 0; w <= rt->nworkers; w++)
            sent += at_load_u64_rlx(&sent_of(in, w)[i]);
        uint64_t handled = at_load_u64_rlx(&r->handled), busy = at_load_u64_rlx(&r->busy);
        const acto_behavior_t *beh = at_load_ptr(&r->beh);
        if (at_load_u64(&a->pid) != pid)
            continue;                      /* exited (or replaced) meanwhile */
        bool same = r->prev_pid == pid;    /* K5: else it was spawned since */
        row_t row = { .pid = pid, .name = beh && beh->name ? beh->name : "?",
                      .mbox = sent > popped ? sent - popped : 0, .handled = handled };
        row.dh = same && handled >= r->prev_handled ? handled - r->prev_handled : handled;
        row.dbusy = same && busy >= r->prev_busy ? busy - r->prev_busy : busy;
        r->prev_pid = pid;
        r->prev_handled = handled;
        r->prev_busy = busy;
        row.key = sort == SORT_MBOX ? row.mbox : sort == SORT_MSGS ? row.dh : row.dbusy;
        top_offer(top, &row);
        live++;
    }
    return live;
}

/* iv: the interval in ns (rates), ivk: in turn-clock ticks (busy shares). */
static void pack_workers(insp_t *in, msgpack_packer *pk, uint64_t iv, uint64_t ivk,
                         uint64_t *handled, uint64_t *dh)
{
    acto_runtime_t *rt = in->rt;
    msgpack_pack_array(pk, rt->nworkers);
    for (unsigned i = 0; i < rt->nworkers; i++) {
        insp_worker_t *iw = &in->w[i];
        acto_worker_t *w = &rt->workers[i];
        uint64_t h = at_load_u64_rlx(&iw->handled), b = at_load_u64_rlx(&iw->busy);
        uint64_t d = h - iw->prev_handled, db = b - iw->prev_busy;
        iw->prev_handled = h;
        iw->prev_busy = b;
        *handled += h;
        *dh += d;
        msgpack_pack_map(pk, 6);
        pack_str(pk, "busy");
        msgpack_pack_double(pk, pct(db, ivk));
        pack_str(pk, "handled");
        msgpack_pack_uint64(pk, h);
        pack_str(pk, "msgs_per_s");
        msgpack_pack_double(pk, per_s(d, iv));
        pack_str(pk, "steals");
        msgpack_pack_uint64(pk, at_load_u64_rlx(&w->steals));
        pack_str(pk, "sleeps");
        msgpack_pack_uint64(pk, at_load_u64_rlx(&w->sleeps));
        pack_str(pk, "runq");
        msgpack_pack_uint32(pk, runq_len(&w->rq));
    }
}

static void pack_rows(msgpack_packer *pk, const top_t *top, uint64_t iv, uint64_t ivk)
{
    msgpack_pack_array(pk, top->n);
    for (uint32_t i = 0; i < top->n; i++) {
        const row_t *r = &top->v[i];
        msgpack_pack_map(pk, 6);
        pack_str(pk, "pid");
        msgpack_pack_uint64(pk, r->pid);
        pack_str(pk, "name");
        pack_str(pk, r->name);
        pack_str(pk, "mbox");
        msgpack_pack_uint64(pk, r->mbox);
        pack_str(pk, "handled");
        msgpack_pack_uint64(pk, r->handled);
        pack_str(pk, "msgs_per_s");
        msgpack_pack_double(pk, per_s(r->dh, iv));
        pack_str(pk, "busy");
        msgpack_pack_double(pk, pct(r->dbusy, ivk));
    }
}

/* The reply body (docs/inspect.md).  ACTO_ENOMEM if the rows cannot be
 * allocated. */
static int snapshot(insp_t *in, unsigned ntop, int sort, msgpack_sbuffer *sb)
{
    top_t top = { .cap = ntop };
    if (ntop && !(top.v = malloc(ntop * sizeof *top.v)))
        return ACTO_ENOMEM;
    acto_runtime_t *rt = in->rt;
    uint64_t now = insp_mono_ns(), iv = now > in->t_prev ? now - in->t_prev : 1;
    uint64_t k = insp_ticks(), ivk = k > in->k_prev ? k - in->k_prev : 1;
    in->t_prev = now;
    in->k_prev = k;
    uint64_t live = walk_actors(in, sort, &top);
    if (top.n)
        qsort(top.v, top.n, sizeof *top.v, row_cmp_desc);

    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 9);
    pack_str(&pk, "version");
    msgpack_pack_int(&pk, ACTO_INSPECT_VERSION);
    pack_str(&pk, "os_pid");
    msgpack_pack_int64(&pk, (int64_t)getpid());
    pack_str(&pk, "backend");
    pack_str(&pk, acto_runtime_backend(rt));
    pack_str(&pk, "now_ns");
    msgpack_pack_uint64(&pk, now);
    pack_str(&pk, "interval_ns");
    msgpack_pack_uint64(&pk, iv);
    uint64_t handled = 0, dh = 0;
    pack_str(&pk, "workers");
    pack_workers(in, &pk, iv, ivk, &handled, &dh);
    pack_str(&pk, "totals");
    msgpack_pack_map(&pk, 4);
    pack_str(&pk, "actors");
    msgpack_pack_uint64(&pk, live);
    pack_str(&pk, "handled");
    msgpack_pack_uint64(&pk, handled);
    pack_str(&pk, "msgs_per_s");
    msgpack_pack_double(&pk, per_s(dh, iv));
    pack_str(&pk, "global_queue");
    msgpack_pack_uint64(&pk, at_load_u64(&rt->gq_len));
    pack_str(&pk, "sort");
    pack_str(&pk, sort_names[sort]);
    pack_str(&pk, "actors");
    pack_rows(&pk, &top, iv, ivk);
    free(top.v);
    return 0;
}

/* ---- the endpoint actor -------------------------------------------------------- */

typedef struct ep {
    insp_t *in;
    acto_pid_t listener;
} ep_t;

typedef struct ep_arg {
    insp_t *in;
    int fd;
    bool taken;                   /* init ran: the fd is the listener's */
} ep_arg_t;

static int ep_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    ep_t *e = state;
    ep_arg_t *a = (ep_arg_t *)arg;   /* the caller's object is not const */
    e->in = a->in;
    a->taken = true;
    acto_listen_opts_t lo = { .owner = acto_self(ctx), .backlog = BACKLOG };
    lo.sock.mode = ACTO_NET_FRAMED;
    lo.sock.max_frame = REQ_MAX;
    return net_listen_fd(ctx, a->fd, &lo, &e->listener);
}

static int ep_error(acto_ctx_t *ctx, acto_pid_t sock, int code, const char *text)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_int(&pk, code);
    pack_str(&pk, text);
    int rc = sb.data ? acto_sock_send(ctx, sock, ACTO_INSPECT_ERROR, sb.data, sb.size)
                     : ACTO_ENOMEM;
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

static bool key_is(const msgpack_object *k, const char *s)
{
    size_t n = strlen(s);
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
           memcmp(k->via.str.ptr, s, n) == 0;
}

/* Request body: empty, or a map; unknown keys are ignored (newer clients). */
static const char *parse_request(acto_ctx_t *ctx, const acto_msg_t *msg, unsigned *ntop,
                                 int *sort)
{
    *ntop = TOP_DEFAULT;
    *sort = SORT_MBOX;
    if (acto_msg_size(msg) == 0)
        return NULL;
    msgpack_object o;
    if (acto_msg_unpack(ctx, msg, &o) != 0 || o.type != MSGPACK_OBJECT_MAP)
        return "request body must be a map";
    for (uint32_t i = 0; i < o.via.map.size; i++) {
        const msgpack_object *k = &o.via.map.ptr[i].key, *v = &o.via.map.ptr[i].val;
        if (key_is(k, "top")) {
            if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 > ACTO_INSPECT_TOP_MAX)
                return "\"top\" must be an integer from 0 to 1000";
            *ntop = (unsigned)v->via.u64;
        } else if (key_is(k, "sort")) {
            int s = -1;
            for (int j = 0; j < 3 && v->type == MSGPACK_OBJECT_STR; j++)
                if (key_is(v, sort_names[j]))
                    s = j;
            if (s < 0)
                return "\"sort\" must be \"mbox\", \"msgs\" or \"busy\"";
            *sort = s;
        }
    }
    return NULL;
}

static int ep_request(acto_ctx_t *ctx, ep_t *e, const acto_msg_t *msg)
{
    acto_pid_t sock = acto_msg_from(msg);
    if (acto_msg_type(msg) != ACTO_INSPECT_SNAPSHOT)
        return ep_error(ctx, sock, ACTO_ENOTSUP, "unknown request type");
    unsigned ntop;
    int sort;
    const char *bad = parse_request(ctx, msg, &ntop, &sort);
    if (bad)
        return ep_error(ctx, sock, ACTO_EINVAL, bad);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    int rc = snapshot(e->in, ntop, sort, &sb);
    if (rc == 0)
        rc = sb.data ? acto_sock_send(ctx, sock, ACTO_INSPECT_REPLY, sb.data, sb.size)
                     : ACTO_ENOMEM;
    msgpack_sbuffer_destroy(&sb);
    if (rc == ACTO_ENOMEM)
        return ep_error(ctx, sock, rc, "out of memory");
    return 0;
}

static int ep_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    ep_t *e = state;
    switch (acto_msg_type(msg)) {
    case ACTO_MSG_NET_LISTENING:
    case ACTO_MSG_NET_CONNECTED:
    case ACTO_MSG_NET_ERROR:         /* a refused reply: that client reads too slowly */
        return 0;
    case ACTO_MSG_NET_PEER_CLOSED:
        (void)acto_sock_close(ctx, acto_msg_from(msg));
        return 0;
    case ACTO_MSG_NET_CLOSED:
        if (acto_msg_from(msg) == e->listener)
            e->listener = ACTO_PID_NONE; /* nothing more will connect */
        return 0;
    default:
        if (acto_msg_type(msg) >= ACTO_MSG_SYSTEM)
            return 0;
        (void)ep_request(ctx, e, msg);   /* a client's failure is not ours */
        return 0;
    }
}

static const acto_behavior_t ep_behavior = {
    .name = "acto.inspect",
    .state_size = sizeof(ep_t),
    .init = ep_init,
    .receive = ep_receive,
};

/* ---- lifetime -------------------------------------------------------------------- */

static void *reserve(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void insp_release(insp_t *in)
{
    if (in->rec)
        munmap(in->rec, in->rec_bytes);
    if (in->sent)
        munmap(in->sent, in->sent_bytes);
    free(in->w);
    free(in);
}

static insp_t *insp_alloc(acto_runtime_t *rt)
{
    insp_t *in = calloc(1, sizeof *in);
    if (!in)
        return NULL;
    in->rt = rt;
    in->rec_bytes = (size_t)rt->max_slots * sizeof(insp_rec_t);
    in->sent_bytes = (size_t)rt->max_slots * sizeof(uint64_t) * (rt->nworkers + 1);
    in->rec = reserve(in->rec_bytes);
    in->sent = reserve(in->sent_bytes);
    in->w = aligned_alloc(ACTO_CACHELINE, rt->nworkers * sizeof *in->w);
    if (!in->rec || !in->sent || !in->w) {
        insp_release(in);
        return NULL;
    }
    memset(in->w, 0, rt->nworkers * sizeof *in->w);
    pthread_once(&clock_once, clock_pick);
    in->t_prev = insp_mono_ns();
    in->k_prev = insp_ticks();
    return in;
}

/* "PORT" and ":PORT" mean loopback; anything else is acto_listen's syntax. */
static int normalize(const char *spec, char *buf, size_t len)
{
    size_t n = strlen(spec);
    bool digits = n > 0 && strspn(spec, "0123456789") == n;
    int w = digits ? snprintf(buf, len, "127.0.0.1:%s", spec)
          : spec[0] == ':' ? snprintf(buf, len, "127.0.0.1%s", spec)
                           : snprintf(buf, len, "%s", spec);
    return w < 0 || (size_t)w >= len ? ACTO_EINVAL : 0;
}

/* Bind and listen here, so the address (port 0: the port picked) is known
 * before acto_runtime_new returns. */
static int bind_endpoint(const char *spec, int *fd_out, char *name, size_t len)
{
    char text[ADDR_TEXT_MAX + 16];
    acto_addr_t a;
    size_t n;
    int rc = normalize(spec, text, sizeof text);
    if (rc == 0)
        rc = addr_resolve(text, &a, 1, &n);
    if (rc)
        return rc;
    int fd = socket(addr_family(&a), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ACTO_ESYS;
    int one = 1;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, &a.u.sa, a.len) != 0 || listen(fd, BACKLOG) != 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        close(fd);
        return ACTO_ESYS;
    }
    rc = addr_from_sockaddr(&a, (struct sockaddr *)&ss, sl);
    if (rc == 0 && (rc = addr_format(&a, name, len)) > 0)
        rc = 0;
    if (rc) {
        close(fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

static void set_counters(acto_runtime_t *rt, insp_t *in)
{
    rt->insp = in;
    for (unsigned i = 0; i < rt->nworkers; i++)
        rt->workers[i].ctx.isent = in ? sent_of(in, i) : NULL;
    rt->root.isent = in ? sent_of(in, rt->nworkers) : NULL;
}

static int insp_open(acto_runtime_t *rt, const char *spec)
{
    char name[ADDR_STRLEN];
    int fd;
    int rc = bind_endpoint(spec, &fd, name, sizeof name);
    if (rc)
        return rc;
    insp_t *in = insp_alloc(rt);
    if (!in) {
        close(fd);
        return ACTO_ENOMEM;
    }
    memcpy(in->addr, name, sizeof name);
    set_counters(rt, in);
    ep_arg_t arg = { .in = in, .fd = fd };
    rc = actor_spawn(&rt->root, &ep_behavior, &arg, ACTOR_F_DAEMON, NULL);
    if (rc) {
        if (!arg.taken)
            close(fd);
        set_counters(rt, NULL);
        insp_release(in);
    }
    return rc;
}

int insp_init(acto_runtime_t *rt)
{
    const char *spec = rt->cfg.inspect;
    if (spec)
        return insp_open(rt, spec);
    spec = getenv("ACTO_INSPECT");
    if (!spec || !*spec)
        return 0;
    int rc = insp_open(rt, spec);
    if (rc)   /* as for ACTO_TRACE: say so, run without */
        fprintf(stderr, "acto: inspect: ACTO_INSPECT=%s: %s; running without inspection\n",
                spec, acto_strerror(rc));
    else
        fprintf(stderr, "acto: inspect: listening on %s\n", rt->insp->addr);
    return 0;
}

void insp_ctx_open(acto_ctx_t *ctx)
{
    if (ctx->rt->insp)
        ctx->isent = sent_of(ctx->rt->insp, ctx->rt->nworkers);
}

void insp_free(acto_runtime_t *rt)
{
    insp_t *in = rt->insp;
    if (!in)
        return;
    for (acto_ctx_t *c = rt->contexts; c; c = c->all_next)
        c->isent = NULL;
    set_counters(rt, NULL);
    insp_release(in);
}

int acto_inspect_address(const acto_runtime_t *rt, char *buf, size_t len)
{
    if (!rt || !buf)
        return ACTO_EINVAL;
    if (!rt->insp)
        return ACTO_ESTATE;
    size_t n = strlen(rt->insp->addr);
    if (n >= len)
        return ACTO_ELIMIT;
    memcpy(buf, rt->insp->addr, n + 1);
    return 0;
}
