/* tests/test_inspect.c - the live inspection endpoint (acto/inspect.h,
 * docs/inspect.md), spoken to over loopback as acto-trace top does.
 *
 * The runtime runs on a helper thread while the test's thread is the
 * client, so every check stays on the test's thread.  Exact mailbox depths
 * come from an actor held inside its init (spawned from a foreign thread):
 * its pid is live and its mailbox fills, but nothing can run it, so the
 * depth is exactly what was sent, whatever the scheduler does. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "testutil.h"

enum { MSG_WORK = 1, MSG_BALL, MSG_EXIT };
#define HELD_MSGS 100
#define IDLE_ACTORS 20
#define CHURN_ACTORS 50

/* ---- a client of the endpoint ------------------------------------------------- */

typedef struct client {
    int fd;
    msgpack_unpacker up;
    msgpack_unpacked res;
} client_t;

static int port_of(acto_runtime_t *rt)
{
    char addr[80];
    if (acto_inspect_address(rt, addr, sizeof addr) != 0)
        return -1;
    const char *c = strrchr(addr, ':');
    return c ? atoi(c + 1) : -1;
}

static int cli_open(client_t *c, int port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = { .tv_sec = 120 };   /* a hang fails, it does not block ctest */
    if (c->fd < 0 || setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
        connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        return -1;
    msgpack_unpacker_init(&c->up, 4096);
    msgpack_unpacked_init(&c->res);
    return 0;
}

static void cli_close(client_t *c)
{
    close(c->fd);
    msgpack_unpacked_destroy(&c->res);
    msgpack_unpacker_destroy(&c->up);
}

static int cli_write(client_t *c, const void *p, size_t n)
{
    ssize_t w;
    while ((w = send(c->fd, p, n, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    return w == (ssize_t)n ? 0 : -1;
}

static void pack_s(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

/* A snapshot request; top < 0 / sort NULL leave the field out. */
static int cli_request(client_t *c, long top, const char *sort)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint32(&pk, ACTO_INSPECT_SNAPSHOT);
    msgpack_pack_map(&pk, (top >= 0) + (sort != NULL));
    if (top >= 0) {
        pack_s(&pk, "top");
        msgpack_pack_int64(&pk, top);
    }
    if (sort) {
        pack_s(&pk, "sort");
        pack_s(&pk, sort);
    }
    int rc = cli_write(c, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* The next frame: its type, and its body (NULL if empty) in c->res.
 * -1 on end of stream or error. */
static int cli_frame(client_t *c, uint32_t *type, const msgpack_object **body)
{
    for (;;) {
        msgpack_unpack_return r = msgpack_unpacker_next(&c->up, &c->res);
        if (r == MSGPACK_UNPACK_SUCCESS) {
            const msgpack_object *o = &c->res.data;
            if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 1 ||
                o->via.array.ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
                return -1;
            *type = (uint32_t)o->via.array.ptr[0].via.u64;
            *body = o->via.array.size > 1 ? &o->via.array.ptr[1] : NULL;
            return 0;
        }
        if (r == MSGPACK_UNPACK_PARSE_ERROR || !msgpack_unpacker_reserve_buffer(&c->up, 65536))
            return -1;
        ssize_t n = recv(c->fd, msgpack_unpacker_buffer(&c->up),
                         msgpack_unpacker_buffer_capacity(&c->up), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        msgpack_unpacker_buffer_consumed(&c->up, (size_t)n);
    }
}

/* A reply map, or NULL (then *type says what came instead). */
static const msgpack_object *cli_snapshot(client_t *c, long top, const char *sort)
{
    uint32_t type = 0;
    const msgpack_object *body = NULL;
    if (cli_request(c, top, sort) != 0 || cli_frame(c, &type, &body) != 0) {
        fprintf(stderr, "snapshot request: no reply (%s)\n", strerror(errno));
        return NULL;
    }
    if (type == ACTO_INSPECT_REPLY && body && body->type == MSGPACK_OBJECT_MAP)
        return body;
    fprintf(stderr, "snapshot request: reply of type %u: ", type);
    if (body)
        msgpack_object_print(stderr, *body);
    fputc('\n', stderr);
    return NULL;
}

static const msgpack_object *get(const msgpack_object *m, const char *key)
{
    if (!m || m->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
            !memcmp(k->via.str.ptr, key, k->via.str.size))
            return &m->via.map.ptr[i].val;
    }
    return NULL;
}

static bool has_u(const msgpack_object *m, const char *key)
{
    const msgpack_object *o = get(m, key);
    return o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER;
}

static uint64_t u(const msgpack_object *m, const char *key)
{
    const msgpack_object *o = get(m, key);
    return o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? o->via.u64 : UINT64_MAX;
}

static double f(const msgpack_object *m, const char *key)
{
    const msgpack_object *o = get(m, key);
    return o && (o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32)
               ? o->via.f64 : -1.0;
}

static bool str_is(const msgpack_object *m, const char *key, const char *want)
{
    const msgpack_object *o = get(m, key);
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(want) &&
           !memcmp(o->via.str.ptr, want, o->via.str.size);
}

static const msgpack_object *arr(const msgpack_object *m, const char *key)
{
    const msgpack_object *o = get(m, key);
    return o && o->type == MSGPACK_OBJECT_ARRAY ? o : NULL;
}

/* The row of pid in a reply, or NULL. */
static const msgpack_object *row_of(const msgpack_object *s, acto_pid_t pid)
{
    const msgpack_object *a = arr(s, "actors");
    for (uint32_t i = 0; a && i < a->via.array.size; i++)
        if (u(&a->via.array.ptr[i], "pid") == pid)
            return &a->via.array.ptr[i];
    return NULL;
}

static void nap(long us)
{
    struct timespec ts = { 0, us * 1000 };
    nanosleep(&ts, NULL);
}

/* ---- the actors ------------------------------------------------------------------ */

static uint32_t g_go, g_stop, g_held_got;
static acto_pid_t g_held_pid;

/* Held inside init until the test says go: its mailbox only fills. */
static int held_init(acto_ctx_t *ctx, void *st, const void *arg)
{
    (void)st;
    (void)arg;
    STORE(&g_held_pid, acto_self(ctx));
    while (!LOAD(&g_go))
        nap(1000);
    return 0;
}

static int held_receive(acto_ctx_t *ctx, void *st, const acto_msg_t *msg)
{
    (void)ctx;
    (void)st;
    if (acto_msg_type(msg) == MSG_WORK)
        ADD(&g_held_got, 1);
    return 0;
}

static const acto_behavior_t held_beh = { .name = "held", .init = held_init,
                                          .receive = held_receive };

/* Two players bounce a ball until the test says stop.  Spawn argument:
 * where the peer's pid will be (known once both are spawned). */
typedef struct { const acto_pid_t *peer; } player_t;

static int player_init(acto_ctx_t *ctx, void *st, const void *arg)
{
    (void)ctx;
    ((player_t *)st)->peer = arg;
    return 0;
}

static int player_receive(acto_ctx_t *ctx, void *st, const acto_msg_t *msg)
{
    const player_t *p = st;
    if (acto_msg_type(msg) == MSG_BALL && !LOAD(&g_stop))
        return acto_send_empty(ctx, *p->peer, MSG_BALL);
    return 0;
}

static const acto_behavior_t player_beh = { .name = "player", .state_size = sizeof(player_t),
                                            .init = player_init, .receive = player_receive };

/* Idle actors: handle what they get; MSG_EXIT makes them exit. */
static int idle_receive(acto_ctx_t *ctx, void *st, const acto_msg_t *msg)
{
    (void)st;
    return acto_msg_type(msg) == MSG_EXIT ? acto_exit(ctx, ACTO_EXIT_NORMAL) : 0;
}

static const acto_behavior_t idle_beh = { .name = "idle", .receive = idle_receive };

static acto_runtime_t *rt_inspect(unsigned workers, const char *addr)
{
    acto_config_t cfg;
    acto_config_init(&cfg);
    cfg.workers = workers;
    cfg.inspect = addr;
    acto_runtime_t *rt = NULL;
    assert_int_equal(acto_runtime_new(&rt, &cfg), 0);
    return rt;
}

static void *run_thread(void *arg)
{
    CHECK(acto_runtime_run(arg) == 0);
    return NULL;
}

static void *held_thread(void *arg)
{
    acto_ctx_t *ctx;
    CHECK(acto_thread_attach(arg, &ctx) == 0);
    acto_pid_t pid;
    CHECK(acto_spawn(ctx, &held_beh, NULL, &pid) == 0);
    CHECK(pid == LOAD(&g_held_pid));
    CHECK(acto_thread_detach(ctx) == 0);
    return NULL;
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_config(void **state)
{
    (void)state;
    acto_config_t cfg;
    acto_config_init(&cfg);
    cfg.workers = 1;
    acto_runtime_t *rt;
    char buf[80];
    const char *bad[] = { "", "nonsense", "127.0.0.1:99999", "1.2.3:80", "127.0.0.1:" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cfg.inspect = bad[i];
        assert_int_equal(acto_runtime_new(&rt, &cfg), ACTO_EINVAL);
    }
    /* A port in use: the runtime is not created. */
    rt = rt_inspect(1, "0");
    assert_int_equal(acto_inspect_address(rt, buf, sizeof buf), 0);
    assert_true(strncmp(buf, "127.0.0.1:", 10) == 0);   /* bare port: loopback */
    assert_true(port_of(rt) > 0);
    cfg.inspect = buf;
    acto_runtime_t *rt2;
    assert_int_equal(acto_runtime_new(&rt2, &cfg), ACTO_ESYS);
    assert_int_equal(acto_inspect_address(rt, buf, 5), ACTO_ELIMIT);
    assert_int_equal(acto_inspect_address(rt, NULL, 5), ACTO_EINVAL);
    acto_runtime_free(rt);
    /* ":PORT" is loopback too; off means ACTO_ESTATE. */
    rt = rt_inspect(1, ":0");
    assert_int_equal(acto_inspect_address(rt, buf, sizeof buf), 0);
    assert_true(strncmp(buf, "127.0.0.1:", 10) == 0);
    acto_runtime_free(rt);
    rt = tu_runtime(1);
    assert_int_equal(acto_inspect_address(rt, buf, sizeof buf), ACTO_ESTATE);
    acto_runtime_free(rt);
}

/* The endpoint is a daemon: with no user work run returns at once, also
 * with a client connected and a request waiting; user actors finish as
 * without inspection. */
static void test_quiescent(void **state)
{
    (void)state;
    acto_runtime_t *rt = rt_inspect(2, "127.0.0.1:0");
    tu_run(rt);
    client_t c;
    assert_int_equal(cli_open(&c, port_of(rt)), 0);
    assert_int_equal(cli_request(&c, 5, NULL), 0);
    tu_run(rt);
    acto_pid_t p[IDLE_ACTORS];
    for (int i = 0; i < IDLE_ACTORS; i++) {
        assert_int_equal(acto_spawn(acto_root(rt), &idle_beh, NULL, &p[i]), 0);
        assert_int_equal(acto_send_empty(acto_root(rt), p[i], MSG_WORK), 0);
        assert_int_equal(acto_send_empty(acto_root(rt), p[i], MSG_EXIT), 0);
    }
    tu_run(rt);
    /* The endpoint's own actors and messages are not in the stats. */
    acto_stats_t st = tu_stats(rt);
    assert_int_equal(st.spawned, IDLE_ACTORS);
    assert_int_equal(st.exited, IDLE_ACTORS);
    assert_int_equal(st.live, 0);
    assert_int_equal(st.messages, 2 * IDLE_ACTORS);
    cli_close(&c);
    tu_run(rt);
    acto_runtime_free(rt);
}

typedef struct scene {
    acto_runtime_t *rt;
    pthread_t run, held;
    acto_pid_t ping, pong, idle[IDLE_ACTORS];
} scene_t;

/* Slots recycled by actors that died with messages queued (drained: K3),
 * then: the held actor with HELD_MSGS queued, two players, idle actors. */
static void scene_start(scene_t *s)
{
    s->rt = rt_inspect(2, "127.0.0.1:0");
    acto_ctx_t *root = acto_root(s->rt);
    for (int i = 0; i < CHURN_ACTORS; i++) {
        acto_pid_t p;
        assert_int_equal(acto_spawn(root, &idle_beh, NULL, &p), 0);
        assert_int_equal(acto_send_empty(root, p, MSG_EXIT), 0);
        assert_int_equal(acto_send_empty(root, p, MSG_WORK), 0);   /* a dead letter */
    }
    tu_run(s->rt);
    STORE(&g_go, 0);
    STORE(&g_stop, 0);
    STORE(&g_held_got, 0);
    STORE(&g_held_pid, 0);
    assert_int_equal(acto_runtime_ref(s->rt), 0);   /* the held init is no work yet */
    assert_int_equal(pthread_create(&s->held, NULL, held_thread, s->rt), 0);
    while (!LOAD(&g_held_pid))
        nap(1000);
    for (int i = 0; i < HELD_MSGS; i++)
        assert_int_equal(acto_send_i64(root, LOAD(&g_held_pid), MSG_WORK, i), 0);
    for (int i = 0; i < IDLE_ACTORS; i++) {
        assert_int_equal(acto_spawn(root, &idle_beh, NULL, &s->idle[i]), 0);
        assert_int_equal(acto_send_empty(root, s->idle[i], MSG_WORK), 0);
    }
    assert_int_equal(acto_spawn(root, &player_beh, &s->pong, &s->ping), 0);
    assert_int_equal(acto_spawn(root, &player_beh, &s->ping, &s->pong), 0);
    assert_int_equal(acto_send_empty(root, s->ping, MSG_BALL), 0);
    assert_int_equal(pthread_create(&s->run, NULL, run_thread, s->rt), 0);
}

/* Release everything: the run must then end by itself. */
static void scene_end(scene_t *s)
{
    STORE(&g_go, 1);
    pthread_join(s->held, NULL);        /* the held actor is queued now */
    STORE(&g_stop, 1);
    assert_int_equal(acto_runtime_unref(s->rt), 0);
    pthread_join(s->run, NULL);
    assert_int_equal(LOAD(&g_held_got), HELD_MSGS);
    acto_runtime_free(s->rt);
}

static void check_reply_fields(const msgpack_object *s, acto_runtime_t *rt)
{
    CHECK(u(s, "version") == ACTO_INSPECT_VERSION);
    CHECK(u(s, "os_pid") == (uint64_t)getpid());
    CHECK(str_is(s, "backend", acto_runtime_backend(rt)));
    CHECK(has_u(s, "now_ns") && u(s, "interval_ns") > 0);
    const msgpack_object *ws = arr(s, "workers"), *tot = get(s, "totals");
    CHECK(ws && ws->via.array.size == 2);
    uint64_t handled = 0;
    double rate = 0;
    for (uint32_t i = 0; ws && i < ws->via.array.size; i++) {
        const msgpack_object *w = &ws->via.array.ptr[i];
        CHECK(f(w, "busy") >= 0 && f(w, "busy") <= 100);
        CHECK(f(w, "msgs_per_s") >= 0);
        CHECK(has_u(w, "handled") && has_u(w, "steals") && has_u(w, "sleeps") && has_u(w, "runq"));
        handled += u(w, "handled");
        rate += f(w, "msgs_per_s");
    }
    CHECK(u(tot, "handled") == handled);
    CHECK(f(tot, "msgs_per_s") >= rate * 0.999 && f(tot, "msgs_per_s") <= rate * 1.001 + 1e-9);
    CHECK(has_u(tot, "global_queue"));
    /* held, 2 players, idle actors, and the endpoint: itself, listener, socket */
    CHECK(u(tot, "actors") == 1 + 2 + IDLE_ACTORS + 3);
    const msgpack_object *as = arr(s, "actors");
    CHECK(as != NULL);
    for (uint32_t i = 0; as && i < as->via.array.size; i++) {
        const msgpack_object *r = &as->via.array.ptr[i];
        CHECK(has_u(r, "pid") && has_u(r, "mbox") && has_u(r, "handled"));
        CHECK(get(r, "name") && get(r, "name")->type == MSGPACK_OBJECT_STR);
        CHECK(f(r, "msgs_per_s") >= 0 && f(r, "busy") >= 0 && f(r, "busy") <= 100);
    }
}

/* Rows come sorted by the key asked for, largest first. */
static void check_sorted(const msgpack_object *s, const char *key)
{
    const msgpack_object *as = arr(s, "actors");
    for (uint32_t i = 1; as && i < as->via.array.size; i++) {
        const msgpack_object *a = &as->via.array.ptr[i - 1], *b = &as->via.array.ptr[i];
        double ka = !strcmp(key, "mbox") ? (double)u(a, key) : f(a, key);
        double kb = !strcmp(key, "mbox") ? (double)u(b, key) : f(b, key);
        CHECK(ka >= kb);
    }
}

static void test_snapshot(void **state)
{
    (void)state;
    scene_t s;
    scene_start(&s);
    client_t c;
    CHECK(cli_open(&c, port_of(s.rt)) == 0);
    acto_pid_t held = LOAD(&g_held_pid);

    /* Wait (bounded by ctest) until the idle actors have handled their
     * message and the players show a rate: the run is under way. */
    const msgpack_object *snap = NULL;
    for (int tries = 0;; tries++) {
        snap = cli_snapshot(&c, ACTO_INSPECT_TOP_MAX, "mbox");
        CHECK(snap != NULL);
        if (!snap)
            break;
        bool ready = f(row_of(snap, s.ping), "msgs_per_s") > 0 &&
                     f(row_of(snap, s.pong), "msgs_per_s") > 0;
        for (int i = 0; i < IDLE_ACTORS; i++)
            ready = ready && u(row_of(snap, s.idle[i]), "handled") == 1;
        if (ready)
            break;
        nap(2000);
    }
    if (snap) {
        check_reply_fields(snap, s.rt);
        check_sorted(snap, "mbox");
        CHECK(str_is(snap, "sort", "mbox"));
        /* The held actor: exactly what was sent, nothing handled. */
        const msgpack_object *h = &arr(snap, "actors")->via.array.ptr[0];
        CHECK(u(h, "pid") == held && str_is(h, "name", "held"));
        CHECK(u(h, "mbox") == HELD_MSGS && u(h, "handled") == 0 && f(h, "msgs_per_s") == 0);
        /* Idle actors in recycled slots: empty mailboxes (K3 across deaths). */
        for (int i = 0; i < IDLE_ACTORS; i++) {
            const msgpack_object *r = row_of(snap, s.idle[i]);
            CHECK(r && u(r, "mbox") == 0 && str_is(r, "name", "idle"));
        }
        CHECK(str_is(row_of(snap, s.ping), "name", "player"));
        CHECK(u(row_of(snap, s.ping), "mbox") <= 1 && u(row_of(snap, s.pong), "mbox") <= 1);
    }

    /* By messages/s: the players lead (over an interval long enough for
     * them to outpace the endpoint's own actors: retried until then);
     * "top" bounds the rows. */
    for (;;) {
        nap(5000);
        snap = cli_snapshot(&c, 2, "msgs");
        CHECK(snap && str_is(snap, "sort", "msgs") && arr(snap, "actors") &&
              arr(snap, "actors")->via.array.size == 2);
        if (!snap)
            break;
        check_sorted(snap, "msgs_per_s");
        if (row_of(snap, s.ping) && row_of(snap, s.pong))
            break;
    }
    snap = cli_snapshot(&c, 3, "busy");
    CHECK(snap && arr(snap, "actors") && arr(snap, "actors")->via.array.size == 3);
    if (snap)
        check_sorted(snap, "busy");
    snap = cli_snapshot(&c, 0, NULL);
    CHECK(snap && arr(snap, "actors") && arr(snap, "actors")->via.array.size == 0);
    snap = cli_snapshot(&c, -1, NULL);   /* defaults: 20 rows by mailbox */
    CHECK(snap && str_is(snap, "sort", "mbox") && arr(snap, "actors")->via.array.size == 20);
    if (snap)
        CHECK(u(&arr(snap, "actors")->via.array.ptr[0], "pid") == held);

    /* A second client is served as well. */
    client_t c2;
    CHECK(cli_open(&c2, port_of(s.rt)) == 0);
    snap = cli_snapshot(&c2, 1, NULL);
    CHECK(snap && u(&arr(snap, "actors")->via.array.ptr[0], "mbox") == HELD_MSGS);
    cli_close(&c2);

    cli_close(&c);
    scene_end(&s);
    NO_FAILURES();
}

/* Bad requests get ACTO_INSPECT_ERROR and the connection stays usable;
 * bytes that are not a frame close it (framed mode), not the endpoint. */
static void expect_error(client_t *c, const void *frame, size_t n, int code)
{
    uint32_t type = 0;
    const msgpack_object *body = NULL;
    CHECK(cli_write(c, frame, n) == 0);
    CHECK(cli_frame(c, &type, &body) == 0);
    CHECK(type == ACTO_INSPECT_ERROR);
    CHECK(body && body->type == MSGPACK_OBJECT_ARRAY && body->via.array.size == 2);
    if (body && body->type == MSGPACK_OBJECT_ARRAY && body->via.array.size == 2) {
        CHECK(body->via.array.ptr[0].type == MSGPACK_OBJECT_NEGATIVE_INTEGER &&
              body->via.array.ptr[0].via.i64 == code);
        CHECK(body->via.array.ptr[1].type == MSGPACK_OBJECT_STR);
    }
}

static void test_bad_requests(void **state)
{
    (void)state;
    scene_t s;
    scene_start(&s);
    client_t c;
    CHECK(cli_open(&c, port_of(s.rt)) == 0);
    static const uint8_t unknown_op[] = { 0x92, 99, 0x80 };            /* [99, {}] */
    static const uint8_t not_a_map[] = { 0x92, 0x01, 0x05 };           /* [1, 5] */
    static const uint8_t top_big[] = { 0x92, 0x01, 0x81, 0xa3, 't', 'o', 'p', 0xcd, 0x13, 0x88 };
    static const uint8_t top_neg[] = { 0x92, 0x01, 0x81, 0xa3, 't', 'o', 'p', 0xff };
    static const uint8_t sort_bad[] = { 0x92, 0x01, 0x81, 0xa4, 's', 'o', 'r', 't', 0xa1, 'x' };
    static const uint8_t sort_int[] = { 0x92, 0x01, 0x81, 0xa4, 's', 'o', 'r', 't', 0x01 };
    expect_error(&c, unknown_op, sizeof unknown_op, ACTO_ENOTSUP);
    expect_error(&c, not_a_map, sizeof not_a_map, ACTO_EINVAL);
    expect_error(&c, top_big, sizeof top_big, ACTO_EINVAL);
    expect_error(&c, top_neg, sizeof top_neg, ACTO_EINVAL);
    expect_error(&c, sort_bad, sizeof sort_bad, ACTO_EINVAL);
    expect_error(&c, sort_int, sizeof sort_int, ACTO_EINVAL);
    static const uint8_t empty[] = { 0x91, 0x01 };                      /* [1]: defaults */
    uint32_t type = 0;
    const msgpack_object *body = NULL;
    CHECK(cli_write(&c, empty, sizeof empty) == 0);
    CHECK(cli_frame(&c, &type, &body) == 0 && type == ACTO_INSPECT_REPLY);
    CHECK(cli_snapshot(&c, 1, "busy") != NULL);
    /* Garbage: that connection is closed... */
    static const uint8_t junk[] = { 0xc1, 0xc1, 0xc1 };
    CHECK(cli_write(&c, junk, sizeof junk) == 0);
    CHECK(cli_frame(&c, &type, &body) == -1);
    cli_close(&c);
    /* ...and the endpoint still serves others. */
    CHECK(cli_open(&c, port_of(s.rt)) == 0);
    const msgpack_object *snap = cli_snapshot(&c, 1, NULL);
    CHECK(snap && u(&arr(snap, "actors")->via.array.ptr[0], "mbox") == HELD_MSGS);
    cli_close(&c);
    scene_end(&s);
    NO_FAILURES();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_quiescent),
        cmocka_unit_test(test_snapshot),
        cmocka_unit_test(test_bad_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
