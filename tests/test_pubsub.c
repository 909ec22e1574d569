/* tests/test_pubsub.c - in-process pub/sub (acto/pubsub.h) and the channel
 * actors under it (actors/chan.h): delivery and wildcards, unsubscribe,
 * queue groups, dead subscribers, ordering and loss across workers, shared
 * (zero-copy) bodies, the wire path the broker uses, and bad input. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "internal.h"
#include "actors/chan.h"
#include "net/frame.h"
#include "net/proto.h"

enum { T_A = 1, T_B, T_C, T_D, T_E, T_F, T_GO = 100 };

/* ---- a recording subscriber --------------------------------------------------- */

typedef struct got {
    uint32_t type;
    char subject[64], reply[64], payload[64];
    bool has_reply;
    const void *data;              /* acto_msg_data of the delivery */
    bool shared;                   /* MSG_F_SHARED (white box) */
    acto_pid_t from;
} got_t;

typedef struct sub_spec {
    acto_pubsub_t *ps;
    int n;
    const char *pattern[4], *queue[4];
    uint32_t type[4];
    int exit_after;                /* exit after this many deliveries (0: never) */
    int rc;                        /* first acto_subscribe error */
    got_t got[64];                 /* written by the actor only; read after run */
    int ngot;
    int bad;                       /* deliveries acto_pubsub_read refused */
} sub_spec_t;

static void cstr(char *dst, size_t cap, const void *src, size_t len)
{
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, src, len);
    dst[len] = 0;
}

static int sub_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    sub_spec_t *s = (sub_spec_t *)arg;
    *(sub_spec_t **)state = s;
    for (int i = 0; i < s->n; i++) {
        int rc = acto_subscribe(ctx, s->ps, s->pattern[i], s->queue[i], s->type[i], NULL);
        if (rc && !s->rc)
            s->rc = rc;
    }
    return 0;
}

static int sub_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    sub_spec_t *s = *(sub_spec_t **)state;
    acto_pubsub_msg_t m;
    if (acto_pubsub_read(msg, &m)) {
        s->bad++;
        return 0;
    }
    if (s->ngot < 64) {
        got_t *g = &s->got[s->ngot];
        g->type = acto_msg_type(msg);
        cstr(g->subject, sizeof g->subject, m.subject, m.subject_len);
        g->has_reply = m.reply != NULL;
        cstr(g->reply, sizeof g->reply, m.reply ? m.reply : "", m.reply_len);
        cstr(g->payload, sizeof g->payload, m.payload, m.len);
        g->data = acto_msg_data(msg, NULL);
        g->shared = (msg->flags & MSG_F_SHARED) != 0;
        g->from = acto_msg_from(msg);
    }
    s->ngot++;
    if (s->exit_after && s->ngot == s->exit_after)
        acto_exit(ctx, ACTO_EXIT_NORMAL);
    return 0;
}

static const acto_behavior_t sub_behavior = {
    .name = "test_sub", .state_size = sizeof(void *), .init = sub_init, .receive = sub_receive,
};

static acto_pid_t spawn_sub(acto_runtime_t *rt, sub_spec_t *s)
{
    acto_pid_t pid;
    assert_int_equal(acto_spawn(acto_root(rt), &sub_behavior, s, &pid), 0);
    assert_int_equal(s->rc, 0);
    return pid;
}

static int count_payload(const sub_spec_t *s, uint32_t type, const char *payload)
{
    int n = 0;
    for (int i = 0; i < s->ngot && i < 64; i++)
        if ((!type || s->got[i].type == type) && strcmp(s->got[i].payload, payload) == 0)
            n++;
    return n;
}

static void pub(acto_runtime_t *rt, acto_pubsub_t *ps, const char *subject, const char *payload)
{
    assert_int_equal(acto_publish(acto_root(rt), ps, subject, payload, strlen(payload)), 0);
}

/* ---- delivery and wildcards ------------------------------------------------------ */

static void test_literal_and_wildcards(void **st)
{
    (void)st;
    acto_runtime_t *rt = tu_runtime(2);
    acto_pubsub_t *ps;
    assert_int_equal(acto_pubsub_new(acto_root(rt), 4, &ps), 0);
    static sub_spec_t a, b, c, d, e;
    memset(&a, 0, sizeof a); memset(&b, 0, sizeof b); memset(&c, 0, sizeof c);
    memset(&d, 0, sizeof d); memset(&e, 0, sizeof e);
    a = (sub_spec_t){ .ps = ps, .n = 1, .pattern = { "a.b" }, .type = { T_A } };
    b = (sub_spec_t){ .ps = ps, .n = 1, .pattern = { "a.*" }, .type = { T_B } };
    c = (sub_spec_t){ .ps = ps, .n = 1, .pattern = { "a.>" }, .type = { T_C } };
    /* two subscriptions matching a.b: two deliveries */
    d = (sub_spec_t){ .ps = ps, .n = 2, .pattern = { "a.*", "a.b" }, .type = { T_D, T_E } };
    e = (sub_spec_t){ .ps = ps, .n = 1, .pattern = { "x.y" }, .type = { T_F } };
    spawn_sub(rt, &a); spawn_sub(rt, &b); spawn_sub(rt, &c); spawn_sub(rt, &d); spawn_sub(rt, &e);

    pub(rt, ps, "a.b", "p1");
    pub(rt, ps, "a.b.c", "p2");
    pub(rt, ps, "a", "p3");          /* matches none: '*' and '>' need a token */
    pub(rt, ps, "b.b", "p4");
    assert_int_equal(acto_publish_reply(acto_root(rt), ps, "x.y", "inbox.7", "p5", 2), 0);
    tu_run(rt);

    assert_int_equal(a.ngot, 1);
    assert_int_equal(count_payload(&a, T_A, "p1"), 1);
    assert_string_equal(a.got[0].subject, "a.b");
    assert_false(a.got[0].has_reply);
    assert_int_equal(a.got[0].from, ACTO_PID_NONE);   /* published from a foreign thread */
    assert_int_equal(b.ngot, 1);
    assert_int_equal(count_payload(&b, T_B, "p1"), 1);
    assert_int_equal(c.ngot, 2);
    assert_int_equal(count_payload(&c, T_C, "p1"), 1);
    assert_int_equal(count_payload(&c, T_C, "p2"), 1);
    assert_int_equal(d.ngot, 2);
    assert_int_equal(count_payload(&d, T_D, "p1"), 1);
    assert_int_equal(count_payload(&d, T_E, "p1"), 1);
    assert_int_equal(e.ngot, 1);
    assert_string_equal(e.got[0].subject, "x.y");
    assert_true(e.got[0].has_reply);
    assert_string_equal(e.got[0].reply, "inbox.7");
    assert_string_equal(e.got[0].payload, "p5");
    assert_int_equal(a.bad + b.bad + c.bad + d.bad + e.bad, 0);

    acto_pubsub_free(acto_root(rt), ps);
    acto_runtime_free(rt);
}

/* ---- unsubscribe ---------------------------------------------------------------- */

/* Subscribes to u.1 and u.*, publishes once; on the first delivery of each
 * it unsubscribes that sid and publishes again: the second publish on the
 * same subject must not reach it (same sender: the unsub is ahead of it in
 * every shard's mailbox). */
typedef struct unsub_st {
    acto_pubsub_t *ps;
    uint32_t sid_lit, sid_wild;
    int got_lit, got_wild, other;
} unsub_st_t;

static int unsub_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    unsub_st_t *u = arg;
    switch (acto_msg_type(msg)) {
    case T_GO:
        CHECK(acto_subscribe(ctx, u->ps, "u.1", NULL, T_A, &u->sid_lit) == 0);
        CHECK(acto_subscribe(ctx, u->ps, "w.*", NULL, T_B, &u->sid_wild) == 0);
        CHECK(u->sid_lit != u->sid_wild && u->sid_lit && u->sid_wild);
        CHECK(acto_publish(ctx, u->ps, "u.1", "one", 3) == 0);
        CHECK(acto_publish(ctx, u->ps, "w.x", "one", 3) == 0);
        break;
    case T_A:
        if (++u->got_lit == 1) {
            CHECK(acto_unsubscribe(ctx, u->ps, u->sid_lit) == 0);
            CHECK(acto_publish(ctx, u->ps, "u.1", "two", 3) == 0);
        }
        break;
    case T_B:
        if (++u->got_wild == 1) {
            CHECK(acto_unsubscribe(ctx, u->ps, u->sid_wild) == 0);
            CHECK(acto_unsubscribe(ctx, u->ps, 999999) == 0);   /* unknown: ignored */
            CHECK(acto_publish(ctx, u->ps, "w.x", "two", 3) == 0);
            CHECK(acto_publish(ctx, u->ps, "w.y", "two", 3) == 0);
        }
        break;
    default:
        u->other++;
    }
    return 0;
}

static void test_unsubscribe(void **st)
{
    (void)st;
    acto_runtime_t *rt = tu_runtime(2);
    acto_pubsub_t *ps;
    assert_int_equal(acto_pubsub_new(acto_root(rt), 3, &ps), 0);
    unsub_st_t u = { .ps = ps };
    acto_pid_t p = tu_spawn_fn(acto_root(rt), unsub_recv, &u);
    assert_int_equal(acto_send_empty(acto_root(rt), p, T_GO), 0);
    tu_run(rt);
    NO_FAILURES();
    assert_int_equal(u.got_lit, 1);
    assert_int_equal(u.got_wild, 1);
    assert_int_equal(u.other, 0);
    assert_int_equal(tu_stats(rt).dead_letters, 0);
    acto_pubsub_free(acto_root(rt), ps);
    acto_runtime_free(rt);
}

/* ---- queue groups ----------------------------------------------------------------- */

#define QMEMBERS 4

typedef struct qmember {
    acto_pubsub_t *ps;
    const char *pattern, *queue;
    uint8_t *seen;                 /* [nmsg], this member's only */
    unsigned nmsg, count, bad;
} qmember_t;

static int qm_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    qmember_t *q = (qmember_t *)arg;
    *(qmember_t **)state = q;
    return acto_subscribe(ctx, q->ps, q->pattern, q->queue, T_A, NULL);
}

static int qm_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    (void)ctx;
    qmember_t *q = *(qmember_t **)state;
    acto_pubsub_msg_t m;
    uint32_t i;
    if (acto_pubsub_read(msg, &m) || m.len != sizeof i) {
        q->bad++;
        return 0;
    }
    memcpy(&i, m.payload, sizeof i);
    if (i >= q->nmsg || q->seen[i]++)
        q->bad++;
    q->count++;
    return 0;
}

static const acto_behavior_t qm_behavior = {
    .name = "test_qmember", .state_size = sizeof(void *), .init = qm_init, .receive = qm_receive,
};

static void test_queue_groups(void **st)
{
    (void)st;
    acto_runtime_t *rt = tu_runtime(2);
    acto_pubsub_t *ps;
    assert_int_equal(acto_pubsub_new(acto_root(rt), 4, &ps), 0);
    unsigned n = (unsigned)tu_scale(4000, 1000);
    /* One group "g" over different patterns, one plain subscriber, and a
     * second group "h" with one member: it gets everything. */
    const char *pat[QMEMBERS] = { "q.a", "q.a", "q.*", "q.>" };
    qmember_t m[QMEMBERS + 2];
    for (int i = 0; i < QMEMBERS + 2; i++) {
        m[i] = (qmember_t){ .ps = ps, .pattern = i < QMEMBERS ? pat[i] : "q.a",
                            .queue = i < QMEMBERS ? "g" : i == QMEMBERS ? NULL : "h",
                            .seen = calloc(n, 1), .nmsg = n };
        assert_non_null(m[i].seen);
        assert_int_equal(acto_spawn(acto_root(rt), &qm_behavior, &m[i], NULL), 0);
    }
    for (uint32_t i = 0; i < n; i++)
        assert_int_equal(acto_publish(acto_root(rt), ps, "q.a", &i, sizeof i), 0);
    tu_run(rt);

    for (unsigned i = 0; i < n; i++) {
        int members = 0;
        for (int k = 0; k < QMEMBERS; k++)
            members += m[k].seen[i];
        assert_int_equal(members, 1);            /* exactly one member of g */
        assert_int_equal(m[QMEMBERS].seen[i], 1);     /* the plain subscriber: all */
        assert_int_equal(m[QMEMBERS + 1].seen[i], 1); /* group h of one: all */
    }
    unsigned total = 0;
    for (int k = 0; k < QMEMBERS + 2; k++) {
        assert_int_equal(m[k].bad, 0);
        if (k < QMEMBERS) {
            assert_true(m[k].count > 0);         /* each member gets some */
            total += m[k].count;
        }
    }
    assert_int_equal(total, n);
    for (int k = 0; k < QMEMBERS + 2; k++)
        free(m[k].seen);
    acto_pubsub_free(acto_root(rt), ps);
    acto_runtime_free(rt);
}

/* ---- a dead subscriber is dropped ---------------------------------------------- */

static void test_dead_subscriber(void **st)
{
    (void)st;
    acto_runtime_t *rt = tu_runtime(2);
    acto_pubsub_t *ps;
    assert_int_equal(acto_pubsub_new(acto_root(rt), 4, &ps), 0);
    static sub_spec_t s, live;
    memset(&s, 0, sizeof s);
    memset(&live, 0, sizeof live);
    s = (sub_spec_t){ .ps = ps, .n = 3, .pattern = { "d.x", "d.*", ">" },
                      .type = { T_A, T_B, T_C }, .exit_after = 1 };
    live = (sub_spec_t){ .ps = ps, .n = 1, .pattern = { "d.x" }, .type = { T_A } };
    spawn_sub(rt, &s);
    spawn_sub(rt, &live);
    /* Several publishes: s exits on its first delivery; the rest of its
     * deliveries die with it (their shared bodies must still be freed). */
    for (int i = 0; i < 20; i++)
        pub(rt, ps, "d.x", "before");
    tu_run(rt);
    assert_int_equal(s.ngot, 1);
    assert_int_equal(live.ngot, 20);
    uint64_t dead = tu_stats(rt).dead_letters;

    /* The shards saw DOWN: a publish now reaches no dead actor. */
    pub(rt, ps, "d.x", "after");
    pub(rt, ps, "d.y", "after");
    tu_run(rt);
    assert_int_equal(tu_stats(rt).dead_letters, dead);
    assert_int_equal(s.ngot, 1);
    assert_int_equal(live.ngot, 21);
    acto_pubsub_free(acto_root(rt), ps);
    acto_runtime_free(rt);
}

/* ---- ordering and loss across workers --------------------------------------------- */

typedef struct publisher {
    acto_pubsub_t *ps;
    char subject[16];
    uint32_t id, next, total;
} publisher_t;

typedef struct seqmsg {
    uint32_t pub, seq;
} seqmsg_t;

/* Publishes in slices of 256 per turn (a GO to itself between slices), so
 * subscribers run while it publishes. */
static int publisher_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    (void)msg;
    publisher_t *p = arg;
    for (unsigned k = 0; k < 256 && p->next < p->total; k++, p->next++) {
        seqmsg_t m = { p->id, p->next };
        CHECK(acto_publish(ctx, p->ps, p->subject, &m, sizeof m) == 0);
    }
    if (p->next < p->total)
        CHECK(acto_send_empty(ctx, acto_self(ctx), T_GO) == 0);
    return 0;
}

#define MAXPUB 4

typedef struct seqsub {
    acto_pubsub_t *ps;
    const char *pattern;
    uint32_t expect[MAXPUB];
    unsigned count, bad;
} seqsub_t;

static int seqsub_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    seqsub_t *s = (seqsub_t *)arg;
    *(seqsub_t **)state = s;
    return acto_subscribe(ctx, s->ps, s->pattern, NULL, T_A, NULL);
}

static int seqsub_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    (void)ctx;
    seqsub_t *s = *(seqsub_t **)state;
    acto_pubsub_msg_t m;
    seqmsg_t v;
    if (acto_pubsub_read(msg, &m) || m.len != sizeof v) {
        s->bad++;
        return 0;
    }
    memcpy(&v, m.payload, sizeof v);
    if (v.pub >= MAXPUB || v.seq != s->expect[v.pub])
        s->bad++;                  /* lost, duplicated or out of order */
    else
        s->expect[v.pub]++;
    s->count++;
    return 0;
}

static const acto_behavior_t seqsub_behavior = {
    .name = "test_seqsub", .state_size = sizeof(void *), .init = seqsub_init,
    .receive = seqsub_receive,
};

static void test_order_one_to_one(void **st)
{
    (void)st;
    acto_runtime_t *rt = tu_runtime(2);
    acto_pubsub_t *ps;
    assert_int_equal(acto_pubsub_new(acto_root(rt), 0, &ps), 0);
    uint32_t n = (uint32_t)tu_scale(200000, 5000);
    seqsub_t s = { .ps = ps, .pattern = "o.1" };
    assert_int_equal(acto_spawn(acto_root(rt), &seqsub_behavior, &s, NULL), 0);
    publisher_t p = { .ps = ps, .subject = "o.1", .id = 0, .total = n };
    acto_pid_t pp = tu_spawn_fn(acto_root(rt), publisher_recv, &p);
    assert_int_equal(acto_send_empty(acto_root(rt), pp, T_GO), 0);
    tu_run(rt);
    NO_FAILURES();
    assert_int_equal(s.bad, 0);
    assert_int_equal(s.count, n);
    assert_int_equal(s.expect[0], n);
    acto_pubsub_free(acto_root(rt), ps);
    acto_runtime_free(rt);
}

static void test_no_loss_many(void **st)
{
    (void)st;
    acto_runtime_t *rt = tu_runtime(2);
    acto_pubsub_t *ps;
    assert_int_equal(acto_pubsub_new(acto_root(rt), 0, &ps), 0);
    uint32_t k = (uint32_t)tu_scale(30000, 2000);
    enum { NP = 3 };
    seqsub_t s[5] = {
        { .ps = ps, .pattern = "n.*" }, { .ps = ps, .pattern = "n.*" },
        { .ps = ps, .pattern = ">" }, { .ps = ps, .pattern = "n.1" }, { .ps = ps, .pattern = "n.2" },
    };
    for (int i = 0; i < 5; i++)
        assert_int_equal(acto_spawn(acto_root(rt), &seqsub_behavior, &s[i], NULL), 0);
    publisher_t p[NP];
    acto_pid_t pp[NP];
    for (uint32_t i = 0; i < NP; i++) {
        p[i] = (publisher_t){ .ps = ps, .id = i, .total = k };
        snprintf(p[i].subject, sizeof p[i].subject, "n.%u", i);
        pp[i] = tu_spawn_fn(acto_root(rt), publisher_recv, &p[i]);
    }
    for (int i = 0; i < NP; i++)
        assert_int_equal(acto_send_empty(acto_root(rt), pp[i], T_GO), 0);
    tu_run(rt);
    NO_FAILURES();
    for (int i = 0; i < 5; i++)
        assert_int_equal(s[i].bad, 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(s[i].count, NP * k);
        for (int j = 0; j < NP; j++)
            assert_int_equal(s[i].expect[j], k);
    }
    assert_int_equal(s[3].count, k);
    assert_int_equal(s[3].expect[1], k);
    assert_int_equal(s[4].count, k);
    assert_int_equal(s[4].expect[2], k);
    acto_pubsub_free(acto_root(rt), ps);
    acto_runtime_free(rt);
}

/* ---- zero copy --------------------------------------------------------------------- */

static void test_shared_body(void **st)
{
    (void)st;
    acto_runtime_t *rt = tu_runtime(2);
    acto_pubsub_t *ps;
    assert_int_equal(acto_pubsub_new(acto_root(rt), 2, &ps), 0);
    static sub_spec_t a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a = (sub_spec_t){ .ps = ps, .n = 2, .pattern = { "z.1", "z.*" }, .type = { T_A, T_B } };
    b = (sub_spec_t){ .ps = ps, .n = 1, .pattern = { "z.1" }, .type = { T_C } };
    spawn_sub(rt, &a);
    spawn_sub(rt, &b);
    char big[48];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    pub(rt, ps, "z.1", big);
    tu_run(rt);
    assert_int_equal(a.ngot, 2);
    assert_int_equal(b.ngot, 1);
    /* Three deliveries, one body.  a's two were allocated before either
     * was freed (sent in one shard turn to one actor), so copies could not
     * share an address by reuse. */
    assert_ptr_equal(a.got[0].data, a.got[1].data);
    assert_ptr_equal(a.got[0].data, b.got[0].data);
    assert_true(a.got[0].shared && a.got[1].shared && b.got[0].shared);
    assert_string_equal(b.got[0].payload, big);
    acto_pubsub_free(acto_root(rt), ps);
    acto_runtime_free(rt);
}

/* A payload past the size classes: its shared body is malloc'd, and
 * reaches every subscriber intact. */
#define BIG_PAYLOAD (200u * 1024u)

typedef struct bigsub {
    acto_pubsub_t *ps;
    const void *data;
    unsigned got, bad;
} bigsub_t;

static int bigsub_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    bigsub_t *b = (bigsub_t *)arg;
    *(bigsub_t **)state = b;
    return acto_subscribe(ctx, b->ps, "big.*", NULL, T_A, NULL);
}

static int bigsub_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    (void)ctx;
    bigsub_t *b = *(bigsub_t **)state;
    acto_pubsub_msg_t m;
    if (acto_pubsub_read(msg, &m) || m.len != BIG_PAYLOAD) {
        b->bad++;
        return 0;
    }
    const uint8_t *p = m.payload;
    for (size_t i = 0; i < m.len; i++)
        if (p[i] != (uint8_t)(i * 31u)) {
            b->bad++;
            break;
        }
    b->data = acto_msg_data(msg, NULL);
    b->got++;
    return 0;
}

static const acto_behavior_t bigsub_behavior = {
    .name = "test_bigsub", .state_size = sizeof(void *), .init = bigsub_init,
    .receive = bigsub_receive,
};

static void test_shared_big_body(void **st)
{
    (void)st;
    acto_runtime_t *rt = tu_runtime(2);
    acto_pubsub_t *ps;
    assert_int_equal(acto_pubsub_new(acto_root(rt), 2, &ps), 0);
    bigsub_t b[3] = { { .ps = ps }, { .ps = ps }, { .ps = ps } };
    for (int i = 0; i < 3; i++)
        assert_int_equal(acto_spawn(acto_root(rt), &bigsub_behavior, &b[i], NULL), 0);
    uint8_t *payload = malloc(BIG_PAYLOAD);
    assert_non_null(payload);
    for (size_t i = 0; i < BIG_PAYLOAD; i++)
        payload[i] = (uint8_t)(i * 31u);
    assert_int_equal(acto_publish(acto_root(rt), ps, "big.one", payload, BIG_PAYLOAD), 0);
    free(payload);                 /* copied by the publish */
    tu_run(rt);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(b[i].bad, 0);
        assert_int_equal(b[i].got, 1);
    }
    assert_ptr_equal(b[0].data, b[1].data);
    assert_ptr_equal(b[0].data, b[2].data);
    acto_pubsub_free(acto_root(rt), ps);
    acto_runtime_free(rt);
}

/* A shared body is read-only; forwarding and dropping release it once. */
static int fwd_exit_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    (void)msg;
    (void)arg;
    return acto_exit(ctx, ACTO_EXIT_NORMAL);
}

typedef struct relay {
    acto_pubsub_t *ps;
    acto_pid_t sink;
} relay_t;

/* GO: subscribe f.1 and publish on it (same sender: in order); each
 * delivery is forwarded, header and shared body, to the sink. */
static int relay_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    relay_t *r = arg;
    if (acto_msg_type(msg) == T_GO) {
        CHECK(acto_subscribe(ctx, r->ps, "f.1", NULL, T_A, NULL) == 0);
        CHECK(acto_publish(ctx, r->ps, "f.1", "hello", 5) == 0);
        CHECK(acto_publish(ctx, r->ps, "f.1", "again", 5) == 0);
    } else {
        CHECK(acto_forward(ctx, r->sink, msg) == 0);
    }
    return 0;
}

static void test_shared_body_rules(void **st)
{
    (void)st;
    acto_runtime_t *rt = tu_runtime(2);
    acto_ctx_t *ctx = acto_root(rt);
    ctx_lock(ctx);
    msg_blob_t *b = msg_blob_new(ctx, 4, 3);  /* for 3 messages; one is never made */
    assert_non_null(b);
    memcpy(b->data, "\x93\xa1z\xc0", 4);
    acto_msg_t *m1 = msg_alloc_shared(ctx, T_A, b);
    acto_msg_t *m2 = msg_alloc_shared(ctx, T_A, b);
    msg_blob_release(ctx, b);      /* the third's reference: the messages hold it now */
    ctx_unlock(ctx);
    assert_non_null(m1);
    assert_non_null(m2);
    assert_int_equal(acto_msg_write(m1, "x", 1), ACTO_ESTATE);
    assert_int_equal(acto_msg_size(m1), 4);
    assert_memory_equal(acto_msg_data(m1, NULL), "\x93\xa1z\xc0", 4);
    assert_ptr_equal(acto_msg_data(m1, NULL), acto_msg_data(m2, NULL));
    acto_msg_free(ctx, m1);
    /* m2 goes to a dead actor: the dead-letter path releases it */
    acto_pid_t gone = tu_spawn_fn(ctx, fwd_exit_recv, NULL);
    assert_int_equal(acto_send_empty(ctx, gone, T_GO), 0);
    tu_run(rt);
    uint64_t dead = tu_stats(rt).dead_letters;
    m2->type = T_A;
    ctx_lock(ctx);
    assert_int_equal(msg_send_from(ctx, ACTO_PID_NONE, gone, m2), ACTO_ENOACTOR);
    ctx_unlock(ctx);
    assert_int_equal(tu_stats(rt).dead_letters, dead + 1);
    ctx_lock(ctx);
    assert_null(msg_blob_new(ctx, (size_t)ACTO_MSG_MAX_BODY + 1, 1));
    assert_null(msg_blob_new(ctx, 4, 0));
    /* a big blob (malloc'd) over two messages, freed by the second */
    b = msg_blob_new(ctx, 100000, 2);
    assert_non_null(b);
    memset(b->data, 7, 100000);
    m1 = msg_alloc_shared(ctx, T_A, b);
    m2 = msg_alloc_shared(ctx, T_A, b);
    ctx_unlock(ctx);
    assert_non_null(m1);
    assert_non_null(m2);
    assert_int_equal(acto_msg_size(m2), 100000);
    acto_msg_free(ctx, m1);
    acto_msg_free(ctx, m2);

    /* Forwarded deliveries arrive intact and still shared. */
    acto_pubsub_t *ps;
    assert_int_equal(acto_pubsub_new(ctx, 1, &ps), 0);
    static sub_spec_t sink;
    memset(&sink, 0, sizeof sink);
    relay_t r = { .ps = ps, .sink = spawn_sub(rt, &sink) };
    acto_pid_t relay = tu_spawn_fn(ctx, relay_recv, &r);
    assert_int_equal(acto_send_empty(ctx, relay, T_GO), 0);
    tu_run(rt);
    NO_FAILURES();
    assert_int_equal(sink.ngot, 2);
    assert_string_equal(sink.got[0].payload, "hello");
    assert_string_equal(sink.got[1].payload, "again");
    assert_true(sink.got[0].shared);
    assert_int_equal(sink.got[0].from, relay);   /* the publisher */
    acto_pubsub_free(ctx, ps);
    acto_runtime_free(rt);
}

/* ---- the wire path (what the broker uses) -------------------------------------- */

#define WN 40

typedef struct wire_st {
    chan_bus_t *bus;
    int batches, ones, frames, bad;
    int one_sid;                /* batches whose header says "one sid" */
    uint64_t last_bytes;        /* wire_frame: payload bytes it saw */
    unsigned last_sids;         /* wire_frame: bit sid-7 per sid it saw */
    /* per sid 7, 8, 9: payloads received in order */
    char pay[3][4 * WN + 8][16];
    char reply[3][4 * WN + 8][16];
    int n[3];
} wire_st_t;

/* n triples on w.a with payloads "<tag>-<i>", every other one with reply r.x */
static void add_triple(msgpack_sbuffer *sb, const char *subject, const char *reply,
                       const char *payload)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_str_with_body(&pk, subject, strlen(subject));
    if (reply)
        msgpack_pack_str_with_body(&pk, reply, strlen(reply));
    else
        msgpack_pack_nil(&pk);
    msgpack_pack_bin_with_body(&pk, payload, strlen(payload));
}

static void send_batch(acto_ctx_t *ctx, wire_st_t *w, const char *tag, int n)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    char p[16];
    for (int i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s-%d", tag, i);
        add_triple(&sb, "w.a", i % 2 ? "r.x" : NULL, p);
    }
    unsigned shard = chan_shard_of(w->bus, "w.a", 3);
    CHECK(chan_pub_batch(ctx, w->bus, shard, sb.data, sb.size, (uint32_t)n) == 0);
    msgpack_sbuffer_destroy(&sb);
}

static void wire_frame(wire_st_t *w, const void *bytes, size_t len, int want_sid, int *nframes)
{
    frame_dec_t d;
    frame_dec_init(&d, 0);
    CHECK(frame_dec_feed(&d, bytes, len) == 0);
    frame_t f;
    int rc;
    w->last_bytes = 0;
    w->last_sids = 0;
    while ((rc = frame_dec_next(&d, &f)) == 1) {
        proto_op_t op;
        CHECK(f.type == PROTO_MSG);
        if (proto_decode(PROTO_MSG, f.body, PROTO_PEER_SERVER, 0, &op) != 0) {
            w->bad++;
            continue;
        }
        uint32_t sid = op.u.msg.sid;
        CHECK(want_sid < 0 || sid == (uint32_t)want_sid);
        CHECK(op.u.msg.subject.len == 3 && memcmp(op.u.msg.subject.p, "w.a", 3) == 0);
        if (sid < 7 || sid > 9) {
            w->bad++;
            continue;
        }
        int k = (int)sid - 7, i = w->n[k]++;
        w->last_bytes += op.u.msg.len;
        w->last_sids |= 1u << k;
        if (i < 4 * WN + 8) {
            cstr(w->pay[k][i], 16, op.u.msg.payload, op.u.msg.len);
            cstr(w->reply[k][i], 16, op.u.msg.reply.p ? op.u.msg.reply.p : "-",
                 op.u.msg.reply.p ? op.u.msg.reply.len : 1);
        }
        (*nframes)++;
    }
    CHECK(rc == 0);
    CHECK(frame_dec_finish(&d) == 0);
    frame_dec_destroy(&d);
}

static int wire_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    wire_st_t *w = arg;
    acto_pid_t self = acto_self(ctx);
    uint64_t a;
    const void *bytes;
    size_t len;
    switch (acto_msg_type(msg)) {
    case T_GO:
        CHECK(chan_sub(ctx, w->bus, self, 7, CHAN_WIRE, 0, "w.>", 3, NULL, 0, 0) == 0);
        CHECK(chan_sub(ctx, w->bus, self, 8, CHAN_WIRE, 0, "w.a", 3, NULL, 0, 0) == 0);
        CHECK(chan_sub(ctx, w->bus, self, 9, CHAN_WIRE, 0, "w.a", 3, "g", 1, 3) == 0);
        send_batch(ctx, w, "b1", WN);
        CHECK(chan_unsub(ctx, w->bus, self, 8, "w.a", 3) == 0);
        send_batch(ctx, w, "b2", WN);
        CHECK(chan_pub(ctx, w->bus, "w.a", 3, "r.y", 3, "single", 6) == 0);
        {
            /* 4 announced: good, bad subject (skipped), good, cut off (stops) */
            msgpack_sbuffer sb;
            msgpack_sbuffer_init(&sb);
            add_triple(&sb, "w.a", NULL, "x-0");
            add_triple(&sb, "w..a", NULL, "x-bad");
            add_triple(&sb, "w.a", NULL, "x-1");
            size_t cut = sb.size;
            add_triple(&sb, "w.a", NULL, "x-cut");
            CHECK(chan_pub_batch(ctx, w->bus, chan_shard_of(w->bus, "w.a", 3), sb.data,
                                 cut + 3, 4) == 0);
            msgpack_sbuffer_destroy(&sb);
        }
        CHECK(chan_drop(ctx, w->bus, self) == 0);
        send_batch(ctx, w, "b3", WN);
        break;
    case CHAN_WIRE_BATCH: {
        int nf = 0;
        uint64_t paybytes, sid;
        bool one;
        CHECK(acto_msg_scan(ctx, msg, "[uubuy]", &a, &paybytes, &one, &sid, &bytes, &len) == 0);
        chan_wb_t wb = { 0 };          /* the fixed-width reading agrees */
        const void *body = acto_msg_data(msg, &len);
        CHECK(chan_wb_parse(body, len, &wb) && wb.n == a && wb.len == len - CHAN_WB_HDR);
        wire_frame(w, wb.frames, wb.len, -1, &nf);
        CHECK((uint64_t)nf == a);
        CHECK(paybytes == w->last_bytes);
        /* one sid: exactly that one was seen; several: sid is 0 */
        CHECK(one ? sid >= 7 && sid <= 9 && w->last_sids == 1u << (sid - 7)
                  : (w->last_sids & (w->last_sids - 1)) && !sid);
        w->one_sid += one;
        w->batches++;
        w->frames += nf;
        break;
    }
    case CHAN_WIRE_ONE: {
        int nf = 0;
        CHECK(acto_msg_scan(ctx, msg, "[uy]", &a, &bytes, &len) == 0);
        CHECK(a == 9);
        wire_frame(w, bytes, len, (int)a, &nf);
        CHECK(nf == 1);
        w->ones++;
        break;
    }
    default:
        w->bad++;
    }
    return 0;
}

static void check_seq(wire_st_t *w, int k, const char *const *tags, const int *counts, int ntags)
{
    int i = 0;
    for (int t = 0; t < ntags; t++)
        for (int j = 0; j < counts[t]; j++, i++) {
            char p[16];
            if (counts[t] == 1 && strcmp(tags[t], "single") == 0)
                snprintf(p, sizeof p, "single");
            else
                snprintf(p, sizeof p, "%s-%d", tags[t], j);
            assert_string_equal(w->pay[k][i], p);
        }
    assert_int_equal(w->n[k], i);
}

static void test_wire_path(void **st)
{
    (void)st;
    acto_runtime_t *rt = tu_runtime(2);
    static wire_st_t w;
    memset(&w, 0, sizeof w);
    assert_int_equal(chan_bus_start(acto_root(rt), 3, &w.bus), 0);
    assert_int_equal(w.bus->n, 3);
    acto_pid_t p = tu_spawn_fn(acto_root(rt), wire_recv, &w);
    assert_int_equal(acto_send_empty(acto_root(rt), p, T_GO), 0);
    tu_run(rt);
    NO_FAILURES();
    assert_int_equal(w.bad, 0);
    /* sid 7 (w.>): b1, b2, single, x-0 x-1; sid 8: b1 only; sid 9 (max
     * 3, one frame each, the connection counts): as sid 7. */
    const char *t7[] = { "b1", "b2", "single", "x" };
    const int c7[] = { WN, WN, 1, 2 };
    check_seq(&w, 0, t7, c7, 4);
    check_seq(&w, 2, t7, c7, 4);
    const char *t8[] = { "b1" };
    const int c8[] = { WN };
    check_seq(&w, 1, t8, c8, 1);
    assert_string_equal(w.reply[0][0], "-");
    assert_string_equal(w.reply[0][1], "r.x");
    assert_string_equal(w.reply[0][2 * WN], "r.y");
    /* one CHAN_WIRE_BATCH per request that matched: b1, b2, single, x */
    assert_int_equal(w.batches, 4);
    assert_int_equal(w.one_sid, 3);    /* all but b1 (sids 7 and 8) */
    assert_int_equal(w.frames, 2 * WN + WN + 1 + 2);
    assert_int_equal(w.ones, 2 * WN + 3);
    chan_bus_stop(acto_root(rt), w.bus);
    tu_run(rt);
    chan_bus_free(w.bus);
    acto_runtime_free(rt);
}

/* A connection actor that dies without CHAN_DROP: the first sends that
 * find it dead make the shard drop its subscriptions. */
static int wire_exit_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    (void)msg;
    chan_bus_t *bus = arg;
    acto_pid_t self = acto_self(ctx);
    CHECK(chan_sub(ctx, bus, self, 1, CHAN_WIRE, 0, "k.1", 3, NULL, 0, 0) == 0);
    CHECK(chan_sub(ctx, bus, self, 2, CHAN_WIRE, 0, "k.*", 3, NULL, 0, 5) == 0);
    return acto_exit(ctx, ACTO_EXIT_NORMAL);
}

static void test_wire_owner_dies(void **st)
{
    (void)st;
    acto_runtime_t *rt = tu_runtime(2);
    acto_ctx_t *root = acto_root(rt);
    chan_bus_t *bus;
    assert_int_equal(chan_bus_start(root, 2, &bus), 0);
    acto_pid_t p = tu_spawn_fn(root, wire_exit_recv, bus);
    assert_int_equal(acto_send_empty(root, p, T_GO), 0);
    tu_run(rt);
    NO_FAILURES();
    uint64_t d0 = tu_stats(rt).dead_letters;
    assert_int_equal(chan_pub(root, bus, "k.1", 3, NULL, 0, "x", 1), 0);
    tu_run(rt);
    uint64_t d1 = tu_stats(rt).dead_letters;
    assert_int_equal(d1, d0 + 2);            /* the batch and the WIRE_ONE */
    assert_int_equal(chan_pub(root, bus, "k.1", 3, NULL, 0, "x", 1), 0);
    tu_run(rt);
    assert_int_equal(tu_stats(rt).dead_letters, d1);   /* dropped */
    chan_bus_stop(root, bus);
    tu_run(rt);
    chan_bus_free(bus);
    acto_runtime_free(rt);
}

/* Queue group members over the wire, one batch of one subject: the
 * member is still chosen per message, not once per batch. */
typedef struct wq_st {
    chan_bus_t *bus;
    int per_sid[2], bad;
} wq_st_t;

static int wq_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    wq_st_t *w = arg;
    acto_pid_t self = acto_self(ctx);
    if (acto_msg_type(msg) == T_GO) {
        CHECK(chan_sub(ctx, w->bus, self, 20, CHAN_WIRE, 0, "q.b", 3, "g", 1, 0) == 0);
        CHECK(chan_sub(ctx, w->bus, self, 21, CHAN_WIRE, 0, "q.*", 3, "g", 1, 0) == 0);
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        for (int i = 0; i < 200; i++)
            add_triple(&sb, "q.b", NULL, "m");
        CHECK(chan_pub_batch(ctx, w->bus, chan_shard_of(w->bus, "q.b", 3), sb.data, sb.size,
                             200) == 0);
        msgpack_sbuffer_destroy(&sb);
        return 0;
    }
    uint64_t n;
    const uint8_t *f;
    size_t len;
    CHECK(acto_msg_type(msg) == CHAN_WIRE_BATCH);
    uint64_t paybytes, sid;
    bool one;
    CHECK(acto_msg_scan(ctx, msg, "[uubuy]", &n, &paybytes, &one, &sid, &f, &len) == 0);
    /* every frame here is 92 0a 94 <sid fixint> ...: count by sid */
    const uint8_t *end = f + len;
    uint64_t seen[2] = { 0, 0 }, pay = 0;
    for (uint64_t i = 0; i < n; i++) {
        chan_pubv_t pv;
        size_t used = f + 4 <= end ? chan_pub_parse(f + 4, (size_t)(end - f - 4), &pv) : 0;
        if (!used || (f[3] != 20 && f[3] != 21)) {
            w->bad++;
            break;
        }
        seen[f[3] - 20]++;
        pay += pv.len;
        f += 4 + used;
    }
    CHECK(f == end);
    w->per_sid[0] += seen[0];
    w->per_sid[1] += seen[1];
    /* the header's counts: the queue group splits a batch between sids */
    CHECK(pay == paybytes);
    CHECK(one == (!seen[0] || !seen[1]));
    CHECK(!one ? sid == 0 : sid == (seen[0] ? 20u : 21u));
    return 0;
}

static void test_wire_queue_batch(void **st)
{
    (void)st;
    acto_runtime_t *rt = tu_runtime(2);
    wq_st_t w = { 0 };
    assert_int_equal(chan_bus_start(acto_root(rt), 2, &w.bus), 0);
    acto_pid_t p = tu_spawn_fn(acto_root(rt), wq_recv, &w);
    assert_int_equal(acto_send_empty(acto_root(rt), p, T_GO), 0);
    tu_run(rt);
    NO_FAILURES();
    assert_int_equal(w.bad, 0);
    assert_int_equal(w.per_sid[0] + w.per_sid[1], 200);
    assert_true(w.per_sid[0] > 0 && w.per_sid[1] > 0);
    chan_bus_stop(acto_root(rt), w.bus);
    tu_run(rt);
    chan_bus_free(w.bus);
    acto_runtime_free(rt);
}

/* Many subscriptions of one owner, half of them removed in a scattered
 * order (the shards' (owner, sid) table grows and deletes under load):
 * exactly the remaining ones are delivered to, once each. */
#define CH_SUBS 3000
#define CH_SUBJECTS 50

typedef struct churn_st {
    chan_bus_t *bus;
    int hits[CH_SUBS + 1];
    int bad;
} churn_st_t;

static void churn_subject(char *buf, size_t cap, unsigned sid)
{
    snprintf(buf, cap, "c.%u", sid % CH_SUBJECTS);
}

static int churn_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    churn_st_t *c = arg;
    acto_pid_t self = acto_self(ctx);
    char subj[16];
    if (acto_msg_type(msg) == T_GO) {
        for (unsigned sid = 1; sid <= CH_SUBS; sid++) {
            churn_subject(subj, sizeof subj, sid);
            CHECK(chan_sub(ctx, c->bus, self, sid, CHAN_WIRE, 0, subj, strlen(subj), NULL, 0, 0) == 0);
        }
        /* remove the odd sids, visiting them in a scattered order */
        for (unsigned k = 0; k < CH_SUBS; k++) {
            unsigned sid = (unsigned)((k * 7919u) % CH_SUBS) + 1;
            if (sid % 2 == 0)
                continue;
            churn_subject(subj, sizeof subj, sid);
            CHECK(chan_unsub(ctx, c->bus, self, sid, subj, strlen(subj)) == 0);
        }
        for (unsigned k = 0; k < CH_SUBJECTS; k++) {
            snprintf(subj, sizeof subj, "c.%u", k);
            CHECK(chan_pub(ctx, c->bus, subj, strlen(subj), NULL, 0, "p", 1) == 0);
        }
        return 0;
    }
    uint64_t n, paybytes, sid, pay = 0;
    bool one;
    const void *frames;
    size_t len;
    CHECK(acto_msg_scan(ctx, msg, "[uubuy]", &n, &paybytes, &one, &sid, &frames, &len) == 0);
    frame_dec_t d;
    frame_dec_init(&d, 0);
    CHECK(frame_dec_feed(&d, frames, len) == 0);
    frame_t f;
    while (frame_dec_next(&d, &f) == 1) {
        proto_op_t op;
        if (proto_decode(PROTO_MSG, f.body, PROTO_PEER_SERVER, 0, &op) || op.u.msg.sid < 1 ||
            op.u.msg.sid > CH_SUBS || (one && op.u.msg.sid != sid)) {
            c->bad++;
            continue;
        }
        c->hits[op.u.msg.sid]++;
        pay += op.u.msg.len;
    }
    frame_dec_destroy(&d);
    CHECK(pay == paybytes);            /* the header's count */
    return 0;
}

static void test_sub_churn(void **st)
{
    (void)st;
    acto_runtime_t *rt = tu_runtime(2);
    static churn_st_t c;
    memset(&c, 0, sizeof c);
    assert_int_equal(chan_bus_start(acto_root(rt), 4, &c.bus), 0);
    acto_pid_t p = tu_spawn_fn(acto_root(rt), churn_recv, &c);
    assert_int_equal(acto_send_empty(acto_root(rt), p, T_GO), 0);
    tu_run(rt);
    NO_FAILURES();
    assert_int_equal(c.bad, 0);
    for (unsigned sid = 1; sid <= CH_SUBS; sid++)
        assert_int_equal(c.hits[sid], sid % 2 == 0 ? 1 : 0);
    chan_bus_stop(acto_root(rt), c.bus);
    tu_run(rt);
    chan_bus_free(c.bus);
    acto_runtime_free(rt);
}

static void test_shard_of(void **st)
{
    (void)st;
    chan_bus_t bus = { .n = 7 };
    unsigned hits[7] = { 0 };
    char s[32];
    for (int i = 0; i < 7000; i++) {
        int n = snprintf(s, sizeof s, "conn.%d.inbox", i);
        unsigned k = chan_shard_of(&bus, s, (size_t)n);
        assert_true(k < 7);
        assert_int_equal(k, chan_shard_of(&bus, s, (size_t)n));
        hits[k]++;
    }
    for (int i = 0; i < 7; i++)
        assert_true(hits[i] > 500);   /* spread: 1000 expected per shard */
}

/* ---- bad input ---------------------------------------------------------------------- */

static int bad_recv(acto_ctx_t *ctx, const acto_msg_t *msg, void *arg)
{
    (void)msg;
    acto_pubsub_t *ps = arg;
    uint32_t sid = 12345;
    CHECK(acto_subscribe(ctx, ps, "a..b", NULL, T_A, &sid) == ACTO_EINVAL);
    CHECK(acto_subscribe(ctx, ps, "a.>.b", NULL, T_A, &sid) == ACTO_EINVAL);
    CHECK(acto_subscribe(ctx, ps, "a*", NULL, T_A, &sid) == ACTO_EINVAL);
    CHECK(acto_subscribe(ctx, ps, "", NULL, T_A, &sid) == ACTO_EINVAL);
    CHECK(acto_subscribe(ctx, ps, NULL, NULL, T_A, &sid) == ACTO_EINVAL);
    CHECK(acto_subscribe(ctx, ps, "a.b", "q.*", T_A, &sid) == ACTO_EINVAL);
    CHECK(acto_subscribe(ctx, ps, "a.b", "", T_A, &sid) == ACTO_EINVAL);
    CHECK(acto_subscribe(ctx, ps, "a.b", NULL, ACTO_MSG_SYSTEM, &sid) == ACTO_EINVAL);
    char longs[300];
    memset(longs, 'a', sizeof longs - 1);
    longs[sizeof longs - 1] = 0;
    CHECK(acto_subscribe(ctx, ps, longs, NULL, T_A, &sid) == ACTO_EINVAL);
    CHECK(sid == 12345);
    CHECK(acto_publish(ctx, ps, "a.*", "x", 1) == ACTO_EINVAL);
    CHECK(acto_publish(ctx, ps, "a.>", "x", 1) == ACTO_EINVAL);
    CHECK(acto_publish(ctx, ps, "a b", "x", 1) == ACTO_EINVAL);
    CHECK(acto_publish(ctx, ps, NULL, "x", 1) == ACTO_EINVAL);
    CHECK(acto_publish(ctx, ps, longs, "x", 1) == ACTO_EINVAL);
    CHECK(acto_publish(ctx, ps, "a.b", NULL, 1) == ACTO_EINVAL);
    CHECK(acto_publish(ctx, ps, "a.b", "x", (size_t)ACTO_PUBSUB_MAX_PAYLOAD + 1) == ACTO_ELIMIT);
    CHECK(acto_publish_reply(ctx, ps, "a.b", "r.*", "x", 1) == ACTO_EINVAL);
    CHECK(acto_publish_reply(ctx, ps, "a.b", "", "x", 1) == ACTO_EINVAL);
    CHECK(acto_publish(ctx, NULL, "a.b", "x", 1) == ACTO_EINVAL);
    /* nothing was sent: only this one reaches the ">" subscriber */
    CHECK(acto_publish(ctx, ps, "a.b", NULL, 0) == 0);
    return 0;
}

static void test_bad_input(void **st)
{
    (void)st;
    acto_runtime_t *rt = tu_runtime(2);
    acto_ctx_t *root = acto_root(rt);
    acto_pubsub_t *ps = NULL;
    assert_int_equal(acto_pubsub_new(root, CHAN_SHARDS_MAX + 1, &ps), ACTO_EINVAL);
    assert_int_equal(acto_pubsub_new(NULL, 1, &ps), ACTO_EINVAL);
    assert_int_equal(acto_pubsub_new(root, 1, NULL), ACTO_EINVAL);
    assert_int_equal(acto_pubsub_new(root, 2, &ps), 0);
    /* subscribing needs an actor */
    assert_int_equal(acto_subscribe(root, ps, "a.b", NULL, T_A, NULL), ACTO_ESTATE);
    assert_int_equal(acto_unsubscribe(root, ps, 1), ACTO_ESTATE);
    static sub_spec_t all;
    memset(&all, 0, sizeof all);
    all = (sub_spec_t){ .ps = ps, .n = 1, .pattern = { ">" }, .type = { T_A } };
    spawn_sub(rt, &all);
    acto_pid_t p = tu_spawn_fn(root, bad_recv, ps);
    assert_int_equal(acto_send_empty(root, p, T_GO), 0);
    tu_run(rt);
    NO_FAILURES();
    assert_int_equal(all.ngot, 1);
    assert_string_equal(all.got[0].payload, "");
    assert_int_equal(all.bad, 0);
    acto_pubsub_free(root, ps);
    acto_runtime_free(rt);
}

/* acto_pubsub_read accepts exactly [str, str|nil, bin]. */
static int read_bytes(acto_ctx_t *ctx, const void *b, size_t n, acto_pubsub_msg_t *out)
{
    acto_msg_t *m;
    assert_int_equal(acto_msg_new(ctx, T_A, n, &m), 0);
    assert_int_equal(acto_msg_write(m, b, n), 0);
    int rc = acto_pubsub_read(m, out);
    acto_msg_free(ctx, m);
    return rc;
}

static void test_read_strict(void **st)
{
    (void)st;
    acto_runtime_t *rt = tu_runtime(1);
    acto_ctx_t *ctx = acto_root(rt);
    acto_pubsub_msg_t m;
#define RB(lit) read_bytes(ctx, lit, sizeof(lit) - 1, &m)
    assert_int_equal(RB("\x93\xa3" "a.b" "\xc0\xc4\x02hi"), 0);
    assert_int_equal(m.subject_len, 3);
    assert_memory_equal(m.subject, "a.b", 3);
    assert_null(m.reply);
    assert_int_equal(m.len, 2);
    assert_memory_equal(m.payload, "hi", 2);
    assert_int_equal(RB("\x93\xa1" "a" "\xa1r" "\xc4\x00"), 0);
    assert_int_equal(m.reply_len, 1);
    assert_int_equal(m.len, 0);
    assert_int_equal(RB("\xdc\x00\x03\xd9\x01" "a" "\xc0\xc5\x00\x01z"), 0);  /* long forms */
    assert_int_equal(m.len, 1);
    assert_int_equal(RB("\x93\xa1" "a" "\xc0\xa2hi"), ACTO_ETYPE);        /* payload str */
    assert_int_equal(RB("\x93\xc4\x01" "a" "\xc0\xc4\x00"), ACTO_ETYPE);  /* subject bin */
    assert_int_equal(RB("\x93\xa1" "a" "\x01\xc4\x00"), ACTO_ETYPE);      /* reply int */
    assert_int_equal(RB("\x94\xa1" "a" "\xc0\xc4\x00\xc0"), ACTO_ETYPE);  /* 4 elements */
    assert_int_equal(RB("\x92\xa1" "a" "\xc0"), ACTO_ETYPE);              /* 2 elements */
    assert_int_equal(RB("\x93\xa1" "a" "\xc0\xc4\x00\xc0"), ACTO_ETYPE);  /* trailing byte */
    assert_int_equal(RB("\x93\xa1" "a" "\xc0\xc4\x05hi"), ACTO_ETYPE);    /* cut off */
    assert_int_equal(RB("\x93\xa5" "a"), ACTO_ETYPE);
    assert_int_equal(RB("\xc0"), ACTO_ETYPE);
    acto_msg_t *e;
    assert_int_equal(acto_msg_new(ctx, T_A, 0, &e), 0);
    assert_int_equal(acto_pubsub_read(e, &m), ACTO_ETYPE);          /* empty body */
    assert_int_equal(acto_pubsub_read(e, NULL), ACTO_EINVAL);
    acto_msg_free(ctx, e);
#undef RB
    acto_runtime_free(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal_and_wildcards),
        cmocka_unit_test(test_unsubscribe),
        cmocka_unit_test(test_queue_groups),
        cmocka_unit_test(test_dead_subscriber),
        cmocka_unit_test(test_order_one_to_one),
        cmocka_unit_test(test_no_loss_many),
        cmocka_unit_test(test_shared_body),
        cmocka_unit_test(test_shared_big_body),
        cmocka_unit_test(test_shared_body_rules),
        cmocka_unit_test(test_wire_path),
        cmocka_unit_test(test_wire_owner_dies),
        cmocka_unit_test(test_wire_queue_batch),
        cmocka_unit_test(test_sub_churn),
        cmocka_unit_test(test_shard_of),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_read_strict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
