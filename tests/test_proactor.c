/* tests/test_proactor.c - the proactor: I/O completions as messages, late
 * completions, accepted fds never received (closed), cancel and the
 * lossless stop (px_stop), quiescence with pending I/O, waking sleeping
 * workers, backend selection and the io_uring -> epoll fallback, timers.
 *
 * Registered twice (tests/CMakeLists.txt): ACTO_BACKEND=uring and =epoll;
 * the runtime reads it because these tests leave cfg.backend at AUTO.
 * Loopback and socketpairs only. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"
#include "internal.h"
#include "proactor.h"
#include "timerwheel.h"

enum { MSG_GO = 1, MSG_DIE, MSG_TICK, MSG_T0, MSG_PING, MSG_PONG };
enum { T_ACCEPT = 1, T_SRECV, T_SSEND, T_SCLOSE, T_LCLOSE,
       T_CONNECT = 10, T_CRECV, T_CSEND, T_CCLOSE, T_RX = 20, T_CLOSE };

static const char *expected_backend(void)
{
    const char *b = getenv("ACTO_BACKEND");
    return b && *b ? b : NULL;
}

/* Every actor state here starts with a pointer to its test record. */
static void *arg_ptr(const void *arg) { return *(void *const *)arg; }

/* init for actors whose whole state is that pointer */
static int ptr_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    (void)ctx;
    void *p = arg_ptr(arg);
    memcpy(state, &p, sizeof p);
    return 0;
}

/* ---- echo over loopback TCP: accept, connect, recv, send, close ------------------------ */

typedef struct {
    size_t payload;
    unsigned char *data;
    uint16_t port;
    acto_pid_t server, client;
    int accepts, closes, wrong, errors;   /* the last three: both sides (ADD) */
    size_t client_got, server_got, server_sent;
} echo_t;

typedef struct {
    echo_t *t;
    px_fd_t *lfd, *cfd;
} server_t;

static int server_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    server_t *s = state;
    s->t = arg_ptr(arg);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) || listen(fd, 16) ||
        getsockname(fd, (struct sockaddr *)&sa, &sl))
        return ACTO_ESYS;
    s->t->port = ntohs(sa.sin_port);
    int rc = px_fd_open(ctx, fd, &s->lfd);
    return rc ? rc : px_accept(ctx, s->lfd, T_ACCEPT, NULL);
}

static int server_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    server_t *s = state;
    echo_t *t = s->t;
    px_completion_t c;
    if (acto_self(ctx) != t->server || px_completion_parse(ctx, msg, &c) != 0) {
        ADD(&t->wrong, 1);
        return 0;
    }
    switch (c.tag) {
    case T_ACCEPT:
        if (c.res < 0 || s->cfd) {
            ADD(&t->errors, 1);
            return 0;
        }
        t->accepts++;
        CHECK(px_fd_open(ctx, (int)c.res, &s->cfd) == 0);
        return px_recv(ctx, s->cfd, 0, true, T_SRECV, NULL);
    case T_SRECV:
        if (c.res > 0) {
            t->server_got += c.len;
            struct iovec iov = { (void *)c.data, c.len };
            return px_sendv(ctx, s->cfd, &iov, 1, T_SSEND, NULL);
        }
        if (c.res < 0)
            ADD(&t->errors, 1);
        /* end of stream: close both sockets */
        CHECK(px_close(ctx, s->cfd, T_SCLOSE) == 0);
        return px_close(ctx, s->lfd, T_LCLOSE);
    case T_SSEND:
        if (c.res < 0)
            ADD(&t->errors, 1);
        else
            t->server_sent += (size_t)c.res;
        return 0;
    case T_SCLOSE:
    case T_LCLOSE:
        ADD(&t->closes, 1);
        if (c.res != 0)
            ADD(&t->errors, 1);
        return 0;
    }
    ADD(&t->wrong, 1);
    return 0;
}

typedef struct {
    echo_t *t;
    px_fd_t *fd;
    size_t got;
} client_t;

static int client_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    client_t *c = state;
    c->t = arg_ptr(arg);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ACTO_ESYS;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(c->t->port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int rc = px_fd_open(ctx, fd, &c->fd);
    return rc ? rc : px_connect(ctx, c->fd, (struct sockaddr *)&sa, sizeof sa, T_CONNECT, NULL);
}

static int client_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    client_t *cl = state;
    echo_t *t = cl->t;
    px_completion_t c;
    if (acto_self(ctx) != t->client || px_completion_parse(ctx, msg, &c) != 0) {
        ADD(&t->wrong, 1);
        return 0;
    }
    switch (c.tag) {
    case T_CONNECT: {
        if (c.res != 0) {
            ADD(&t->errors, 1);
            return px_close(ctx, cl->fd, T_CCLOSE);
        }
        CHECK(px_recv(ctx, cl->fd, 0, true, T_CRECV, NULL) == 0);
        /* three pieces, coalesced into one send */
        size_t a = t->payload / 3, b = t->payload / 2;
        struct iovec iov[3] = { { t->data, a }, { t->data + a, b - a },
                                { t->data + b, t->payload - b } };
        return px_sendv(ctx, cl->fd, iov, 3, T_CSEND, NULL);
    }
    case T_CRECV:
        if (c.res <= 0 || cl->got + c.len > t->payload ||
            memcmp(t->data + cl->got, c.data, c.len) != 0) {
            ADD(&t->errors, 1);
            return px_close(ctx, cl->fd, T_CCLOSE);
        }
        cl->got += c.len;
        if (cl->got == t->payload)
            return px_close(ctx, cl->fd, T_CCLOSE);   /* server sees EOF */
        return 0;
    case T_CSEND:
        if (c.res != (int64_t)t->payload)
            ADD(&t->errors, 1);
        return 0;
    case T_CCLOSE:
        ADD(&t->closes, 1);
        t->client_got = cl->got;
        return 0;
    }
    ADD(&t->wrong, 1);
    return 0;
}

static const acto_behavior_t server_beh = { .name = "server", .state_size = sizeof(server_t),
                                            .init = server_init, .receive = server_recv };
static const acto_behavior_t client_beh = { .name = "client", .state_size = sizeof(client_t),
                                            .init = client_init, .receive = client_recv };

static void echo_once(unsigned workers, size_t payload, const char *backend)
{
    acto_runtime_t *rt = tu_runtime(workers);
    if (!backend)
        backend = expected_backend();
    if (backend)
        assert_string_equal(acto_runtime_backend(rt), backend);
    echo_t t = { .payload = payload };
    t.data = malloc(payload);
    assert_non_null(t.data);
    for (size_t i = 0; i < payload; i++)
        t.data[i] = (unsigned char)(i * 7 + (i >> 9));
    echo_t *tp = &t;
    assert_int_equal(acto_spawn(acto_root(rt), &server_beh, &tp, &t.server), 0);
    assert_int_equal(acto_spawn(acto_root(rt), &client_beh, &tp, &t.client), 0);
    tu_run(rt);   /* returns only once every operation has completed */
    assert_int_equal(t.wrong, 0);
    assert_int_equal(t.errors, 0);
    assert_int_equal(t.accepts, 1);
    assert_int_equal(t.closes, 3);
    assert_true(t.client_got == payload);
    assert_true(t.server_got == payload);
    assert_true(t.server_sent == payload);
    NO_FAILURES();
    acto_runtime_free(rt);
    free(t.data);
}

static void test_echo_small(void **state)
{
    (void)state;
    echo_once(1, 1, NULL);
    echo_once(2, 100, NULL);
}

static void test_echo_large(void **state)
{
    (void)state;
    echo_once(2, 1u << 20, NULL);   /* partial sends and many receive chunks */
    echo_once(1, 300000, NULL);
}

/* ---- many connections at once: one actor per connection on each side ---------------------
 * Bursts of accepts, hundreds of multishot recvs sharing the provided-buffer
 * ring (more than it has buffers: the ENOBUFS re-arm path), actors that
 * migrate between workers while their fds stay with one proactor. */

#define MANY_PAYLOAD 6000
typedef struct {
    unsigned n;
    uint16_t port;
    unsigned char data[MANY_PAYLOAD];
    uint64_t accepted, conn_closed, client_ok, client_closed;
} many_conn_t;

typedef struct { many_conn_t *t; px_fd_t *lfd; uint64_t accepted; } many_listener_t;
typedef struct { many_conn_t *t; px_fd_t *fd; } many_echo_t;
typedef struct { many_conn_t *t; px_fd_t *fd; size_t got; } many_client_t;
typedef struct { many_conn_t *t; int fd; } conn_arg_t;

static int many_echo_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    many_echo_t *e = state;
    const conn_arg_t *a = arg;
    e->t = a->t;
    int rc = px_fd_open(ctx, a->fd, &e->fd);
    return rc ? rc : px_recv(ctx, e->fd, 0, true, T_SRECV, NULL);
}

static int many_echo_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    many_echo_t *e = state;
    px_completion_t c;
    CHECK(px_completion_parse(ctx, msg, &c) == 0);
    if (c.tag == T_SRECV && c.res > 0) {
        struct iovec iov = { (void *)c.data, c.len };
        return px_sendv(ctx, e->fd, &iov, 1, T_SSEND, NULL);
    }
    if (c.tag == T_SRECV && !c.more)
        return px_close(ctx, e->fd, T_SCLOSE);   /* EOF (or error) */
    if (c.tag == T_SSEND)
        CHECK(c.res > 0);
    if (c.tag == T_SCLOSE) {
        ADD(&e->t->conn_closed, 1);
        return acto_exit(ctx, ACTO_EXIT_NORMAL);
    }
    return 0;
}

static const acto_behavior_t many_echo_beh = { .name = "conn", .state_size = sizeof(many_echo_t),
                                               .init = many_echo_init,
                                               .receive = many_echo_recv };

static int many_listener_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    many_listener_t *l = state;
    l->t = arg_ptr(arg);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) || listen(fd, 1024) ||
        getsockname(fd, (struct sockaddr *)&sa, &sl))
        return ACTO_ESYS;
    l->t->port = ntohs(sa.sin_port);
    int rc = px_fd_open(ctx, fd, &l->lfd);
    return rc ? rc : px_accept(ctx, l->lfd, T_ACCEPT, NULL);
}

static int many_listener_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    many_listener_t *l = state;
    px_completion_t c;
    CHECK(px_completion_parse(ctx, msg, &c) == 0);
    if (c.tag == T_ACCEPT && c.res >= 0) {
        conn_arg_t a = { l->t, (int)c.res };
        CHECK(acto_spawn(ctx, &many_echo_beh, &a, NULL) == 0);
        ADD(&l->t->accepted, 1);
        if (++l->accepted == l->t->n)
            return px_close(ctx, l->lfd, T_LCLOSE);
        if (!c.more)   /* the multishot accept ended: submit again */
            return px_accept(ctx, l->lfd, T_ACCEPT, NULL);
        return 0;
    }
    if (c.tag == T_ACCEPT) {
        CHECK(c.res == -ECANCELED);   /* cancelled by the close, nothing else */
        return 0;
    }
    CHECK(c.tag == T_LCLOSE && c.res == 0);
    return acto_exit(ctx, ACTO_EXIT_NORMAL);
}

static int many_client_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    many_client_t *cl = state;
    cl->t = arg_ptr(arg);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ACTO_ESYS;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(cl->t->port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int rc = px_fd_open(ctx, fd, &cl->fd);
    return rc ? rc : px_connect(ctx, cl->fd, (struct sockaddr *)&sa, sizeof sa, T_CONNECT, NULL);
}

static int many_client_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    many_client_t *cl = state;
    many_conn_t *t = cl->t;
    px_completion_t c;
    CHECK(px_completion_parse(ctx, msg, &c) == 0);
    switch (c.tag) {
    case T_CONNECT: {
        CHECK(c.res == 0);
        if (c.res != 0)
            return px_close(ctx, cl->fd, T_CCLOSE);
        CHECK(px_recv(ctx, cl->fd, 0, true, T_CRECV, NULL) == 0);
        struct iovec iov = { t->data, MANY_PAYLOAD };
        return px_sendv(ctx, cl->fd, &iov, 1, T_CSEND, NULL);
    }
    case T_CRECV:
        if (c.res <= 0 || cl->got + c.len > MANY_PAYLOAD ||
            memcmp(t->data + cl->got, c.data, c.len) != 0) {
            CHECK(!"bad echo");
            return px_close(ctx, cl->fd, T_CCLOSE);
        }
        cl->got += c.len;
        if (cl->got == MANY_PAYLOAD) {
            ADD(&t->client_ok, 1);
            return px_close(ctx, cl->fd, T_CCLOSE);
        }
        return 0;
    case T_CSEND:
        CHECK(c.res == MANY_PAYLOAD);
        return 0;
    case T_CCLOSE:
        ADD(&t->client_closed, 1);
        return acto_exit(ctx, ACTO_EXIT_NORMAL);
    }
    return 0;
}

static void test_many_connections(void **state)
{
    (void)state;
    static const acto_behavior_t lb = { .name = "listener", .state_size = sizeof(many_listener_t),
                                        .init = many_listener_init,
                                        .receive = many_listener_recv };
    static const acto_behavior_t cb = { .name = "client", .state_size = sizeof(many_client_t),
                                        .init = many_client_init, .receive = many_client_recv };
    acto_runtime_t *rt = tu_runtime(2);
    many_conn_t *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->n = (unsigned)tu_scale(300, 100);
    for (size_t i = 0; i < MANY_PAYLOAD; i++)
        t->data[i] = (unsigned char)(i * 13 + 1);
    assert_int_equal(acto_spawn(acto_root(rt), &lb, &t, NULL), 0);
    for (unsigned i = 0; i < t->n; i++)
        assert_int_equal(acto_spawn(acto_root(rt), &cb, &t, NULL), 0);
    tu_run(rt);
    assert_true(t->accepted == t->n);
    assert_true(t->client_ok == t->n);
    assert_true(t->client_closed == t->n);
    assert_true(t->conn_closed == t->n);
    NO_FAILURES();
    acto_stats_t st = tu_stats(rt);
    assert_true(st.live == 0);
    acto_runtime_free(rt);
    free(t);
}

/* A refused connect completes with -ECONNREFUSED, then the close. */
typedef struct { uint16_t port; int64_t connect_res; int closes; } refused_t;
typedef struct { refused_t *t; px_fd_t *fd; } refuser_t;

static int refuser_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    refuser_t *r = state;
    r->t = arg_ptr(arg);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(r->t->port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int rc = fd < 0 ? ACTO_ESYS : px_fd_open(ctx, fd, &r->fd);
    return rc ? rc : px_connect(ctx, r->fd, (struct sockaddr *)&sa, sizeof sa, T_CONNECT, NULL);
}

static int refuser_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    refuser_t *r = state;
    px_completion_t c;
    CHECK(px_completion_parse(ctx, msg, &c) == 0);
    if (c.kind == PX_CONNECT) {
        r->t->connect_res = c.res;
        return px_close(ctx, r->fd, T_CLOSE);
    }
    if (c.kind == PX_CLOSE)
        r->t->closes++;
    return 0;
}

static void test_connect_refused(void **state)
{
    (void)state;
    static const acto_behavior_t rb = { .name = "refuser", .state_size = sizeof(refuser_t),
                                        .init = refuser_init, .receive = refuser_recv };
    /* a port nobody listens on: bound (so it is ours), never listened */
    int hold = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(hold, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(hold, (struct sockaddr *)&sa, &sl), 0);
    acto_runtime_t *rt = tu_runtime(1);
    refused_t t = { .port = ntohs(sa.sin_port), .connect_res = 1 };
    refused_t *tp = &t;
    assert_int_equal(acto_spawn(acto_root(rt), &rb, &tp, NULL), 0);
    tu_run(rt);
    assert_int_equal(t.connect_res, -ECONNREFUSED);
    assert_int_equal(t.closes, 1);
    NO_FAILURES();
    acto_runtime_free(rt);
    close(hold);
}

/* ---- a completion for an actor that died is harmless --------------------------------- */

typedef struct {
    int sp[2];
    acto_pid_t victim;
    int victim_io;            /* completions the victim saw (must be 0) */
    int downs;
} late_t;

typedef struct { late_t *t; px_fd_t *fd; } victim_t;

static int victim_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    victim_t *v = state;
    v->t = arg_ptr(arg);
    int rc = px_fd_open(ctx, v->t->sp[0], &v->fd);
    if (rc)
        return rc;
    /* a multishot recv and a periodic timer, neither ever cancelled */
    if ((rc = px_recv(ctx, v->fd, 0, true, T_RX, NULL)) != 0)
        return rc;
    if ((rc = acto_timer_start(ctx, 1000000, 1000000, MSG_TICK, NULL)) != 0)
        return rc;
    return acto_send_empty(ctx, acto_self(ctx), MSG_DIE);
}

static int victim_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    victim_t *v = state;
    if (PX_MSG_KIND(acto_msg_type(msg)))
        v->t->victim_io++;
    if (acto_msg_type(msg) == MSG_DIE)
        acto_exit(ctx, ACTO_EXIT_NORMAL);
    return 0;
}

static int watcher_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    late_t *t = arg_ptr(arg);
    memcpy(state, &t, sizeof t);
    return acto_monitor(ctx, t->victim, NULL);
}

static int watcher_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    (void)ctx;
    late_t *t;
    memcpy(&t, state, sizeof t);
    if (acto_msg_type(msg) == ACTO_MSG_DOWN) {
        t->downs++;
        /* now the data arrives: its completion finds no owner */
        CHECK(write(t->sp[1], "late", 4) == 4);
    }
    return 0;
}

static void test_late_completion_after_death(void **state)
{
    (void)state;
    static const acto_behavior_t vb = { .name = "victim", .state_size = sizeof(victim_t),
                                        .init = victim_init, .receive = victim_recv };
    static const acto_behavior_t wb = { .name = "watcher", .state_size = sizeof(void *),
                                        .init = watcher_init, .receive = watcher_recv };
    for (int round = 0; round < 3; round++) {
        acto_runtime_t *rt = tu_runtime(2);
        late_t t = { .victim_io = 0 };
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, t.sp), 0);
        late_t *tp = &t;
        assert_int_equal(acto_spawn(acto_root(rt), &vb, &tp, &t.victim), 0);
        acto_pid_t w;
        assert_int_equal(acto_spawn(acto_root(rt), &wb, &tp, &w), 0);
        /* Returns only if the orphaned recv and timer were dropped (P2, P6). */
        tu_run(rt);
        assert_int_equal(t.victim_io, 0);
        assert_int_equal(t.downs, 1);
        acto_stats_t st = tu_stats(rt);
        assert_true(st.dead_letters >= 2);   /* the recv and the tick */
        acto_runtime_free(rt);               /* closes sp[0] (its handle) */
        close(t.sp[1]);
    }
}

/* An accepted connection whose owner died is closed, not leaked. */
typedef struct { int lfd; uint16_t port; acto_pid_t listener; int downs, io; } orphan_t;

static int orphan_listener_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    orphan_t *t = arg_ptr(arg);
    memcpy(state, &t, sizeof t);
    px_fd_t *f;
    int rc = px_fd_open(ctx, t->lfd, &f);
    if (rc || (rc = px_accept(ctx, f, T_ACCEPT, NULL)) != 0)
        return rc;
    return acto_send_empty(ctx, acto_self(ctx), MSG_DIE);
}

static int orphan_listener_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    orphan_t *t;
    memcpy(&t, state, sizeof t);
    if (PX_MSG_KIND(acto_msg_type(msg)))
        t->io++;
    if (acto_msg_type(msg) == MSG_DIE)
        acto_exit(ctx, ACTO_EXIT_NORMAL);
    return 0;
}

static int orphan_watcher_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    orphan_t *t = arg_ptr(arg);
    memcpy(state, &t, sizeof t);
    return acto_monitor(ctx, t->listener, NULL);
}

static int orphan_watcher_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    (void)ctx;
    orphan_t *t;
    memcpy(&t, state, sizeof t);
    if (acto_msg_type(msg) != ACTO_MSG_DOWN)
        return 0;
    t->downs++;
    /* two connections for a listener nobody owns any more */
    for (int i = 0; i < 2; i++) {
        int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(t->port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        CHECK(c >= 0 && connect(c, (struct sockaddr *)&sa, sizeof sa) == 0);
        close(c);
    }
    return 0;
}

static int count_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            n++;
    return n;
}

static void test_accept_for_dead_owner(void **state)
{
    (void)state;
    static const acto_behavior_t lb = { .name = "listener", .state_size = sizeof(void *),
                                        .init = orphan_listener_init,
                                        .receive = orphan_listener_recv };
    static const acto_behavior_t wb = { .name = "watcher", .state_size = sizeof(void *),
                                        .init = orphan_watcher_init,
                                        .receive = orphan_watcher_recv };
    orphan_t t = { .lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0) };
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof sa;
    assert_true(t.lfd >= 0);
    assert_int_equal(bind(t.lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(t.lfd, 16), 0);
    assert_int_equal(getsockname(t.lfd, (struct sockaddr *)&sa, &sl), 0);
    t.port = ntohs(sa.sin_port);
    int before = count_fds();              /* with the listening socket */
    acto_runtime_t *rt = tu_runtime(2);
    orphan_t *tp = &t;
    assert_int_equal(acto_spawn(acto_root(rt), &lb, &tp, &t.listener), 0);
    assert_int_equal(acto_spawn(acto_root(rt), &wb, &tp, NULL), 0);
    tu_run(rt);   /* the first orphaned accept cancels the op: run returns */
    assert_int_equal(t.downs, 1);
    assert_int_equal(t.io, 0);
    NO_FAILURES();
    acto_runtime_free(rt);                 /* closes the listening socket */
    /* accepted sockets were closed; a connection still in the backlog
     * went with the listener */
    assert_int_equal(count_fds(), before - 1);
}

/* An accepted fd whose completion was delivered but never received: the
 * owner exits with it queued, or the runtime is freed with it queued.  The
 * mailbox drain must close it (P2). */
typedef struct { acto_runtime_t *rt; int lfd, client, other; bool stop; } unrecv_t;

static int unrecv_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    unrecv_t *t;
    memcpy(&t, state, sizeof t);
    if (acto_msg_type(msg) != MSG_GO) {
        t->other++;                        /* nothing after GO is received */
        return 0;
    }
    px_fd_t *f;
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    CHECK(px_fd_open(ctx, t->lfd, &f) == 0);
    CHECK(px_accept(ctx, f, T_ACCEPT, NULL) == 0);
    CHECK(getsockname(t->lfd, (struct sockaddr *)&sa, &sl) == 0);
    t->client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(t->client >= 0 && connect(t->client, (struct sockaddr *)&sa, sl) == 0);
    /* Drive this worker's own proactor (P3: we are on its thread) until
     * the accept completion is queued behind the message being received. */
    while (px_reap(ctx->w->px) == 0)
        sched_yield();
    if (t->stop)                           /* queued when the runtime is freed */
        return acto_runtime_stop(t->rt);
    CHECK(px_close(ctx, f, T_LCLOSE) == 0);   /* no I/O left: run returns */
    return acto_exit(ctx, ACTO_EXIT_NORMAL);  /* queued when the owner exits */
}

static void test_unreceived_accept_closed(void **state)
{
    (void)state;
    for (int stop = 0; stop <= 1; stop++) {
        int before = count_fds();
        unrecv_t t = { .stop = stop, .client = -1 };
        unrecv_t *tp = &t;
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        t.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(t.lfd >= 0);
        assert_int_equal(bind(t.lfd, (struct sockaddr *)&sa, sizeof sa), 0);
        assert_int_equal(listen(t.lfd, 4), 0);
        t.rt = tu_runtime_batch(1, 1);    /* stop ends the run after GO's turn */
        static const acto_behavior_t ub = { .name = "unrecv", .state_size = sizeof(void *),
                                            .init = ptr_init, .receive = unrecv_recv };
        acto_pid_t pid;
        assert_int_equal(acto_spawn(acto_root(t.rt), &ub, &tp, &pid), 0);
        assert_int_equal(acto_send_empty(acto_root(t.rt), pid, MSG_GO), 0);
        tu_run(t.rt);
        acto_runtime_free(t.rt);           /* closes the listening socket */
        assert_int_equal(t.other, 0);
        NO_FAILURES();
        close(t.client);
        /* the accepted fd was closed with its message */
        assert_int_equal(count_fds(), before);
    }
}

/* ---- cancel ------------------------------------------------------------------------------- */

typedef struct {
    int sp[2];
    int rx, closes, ticks;
    int64_t close_res;
} cancel_t;

typedef struct { cancel_t *t; px_fd_t *fd; px_op_t *op; } canceller_t;

static int canceller_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    canceller_t *c = state;
    c->t = arg_ptr(arg);
    int rc = px_fd_open(ctx, c->t->sp[0], &c->fd);
    return rc ? rc : acto_send_empty(ctx, acto_self(ctx), MSG_GO);
}

static int canceller_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    canceller_t *c = state;
    cancel_t *t = c->t;
    switch (acto_msg_type(msg)) {
    case MSG_GO:
        /* cancelled at once, while its submission is still queued */
        CHECK(px_recv(ctx, c->fd, 0, true, T_RX, &c->op) == 0);
        CHECK(px_cancel(ctx, c->op) == 0);
        px_release(c->op);
        /* armed, then cancelled once it surely is in the kernel */
        CHECK(px_recv(ctx, c->fd, 0, true, T_RX, &c->op) == 0);
        return acto_timer_start(ctx, 2000000, 0, MSG_TICK, NULL);
    case MSG_TICK:
        t->ticks++;
        if (t->ticks == 1) {
            CHECK(px_cancel(ctx, c->op) == 0);
            px_release(c->op);
            c->op = NULL;
            /* data after the cancel must not reach us */
            CHECK(write(t->sp[1], "x", 1) == 1);
            return acto_timer_start(ctx, 2000000, 0, MSG_TICK, NULL);
        }
        return px_close(ctx, c->fd, T_CLOSE);
    default: {
        px_completion_t pc;
        CHECK(px_completion_parse(ctx, msg, &pc) == 0);
        if (pc.kind == PX_RECV)
            t->rx++;
        if (pc.kind == PX_CLOSE) {
            t->closes++;
            t->close_res = pc.res;
        }
        return 0;
    }
    }
}

static void test_cancel(void **state)
{
    (void)state;
    static const acto_behavior_t cb = { .name = "canceller", .state_size = sizeof(canceller_t),
                                        .init = canceller_init, .receive = canceller_recv };
    for (unsigned workers = 1; workers <= 2; workers++) {
        acto_runtime_t *rt = tu_runtime(workers);
        cancel_t t = { .rx = 0 };
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, t.sp), 0);
        cancel_t *tp = &t;
        assert_int_equal(acto_spawn(acto_root(rt), &cb, &tp, NULL), 0);
        tu_run(rt);   /* would not return if a cancelled op were still counted */
        assert_int_equal(t.rx, 0);
        assert_int_equal(t.ticks, 2);
        assert_int_equal(t.closes, 1);
        assert_int_equal(t.close_res, 0);
        NO_FAILURES();
        acto_runtime_free(rt);
        close(t.sp[1]);
    }
}

/* ---- px_stop: pause a reader without losing bytes (P4') -------------------------------------
 * A writer thread streams a known byte pattern; the reader stops its
 * multishot recv after every chunk and re-arms it once the stop's final
 * completion came.  Whatever the kernel took before a stop took effect
 * must still arrive: the stream read back is exactly the stream written. */
typedef struct {
    int sp[2];
    size_t total, got;
    int finals, stopped_finals, mismatches, closes;
} pause_t;

typedef struct { pause_t *t; px_fd_t *fd; px_op_t *op; bool stopping; } pauser_t;

static unsigned char pattern(size_t i) { return (unsigned char)(i * 7 + i / 251); }

static int pauser_arm(acto_ctx_t *ctx, pauser_t *p)
{
    p->stopping = false;
    return px_recv(ctx, p->fd, 0, true, T_RX, &p->op);
}

static int pauser_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    pauser_t *p = state;
    p->t = arg_ptr(arg);
    int rc = px_fd_open(ctx, p->t->sp[0], &p->fd);
    return rc ? rc : pauser_arm(ctx, p);
}

static int pauser_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    pauser_t *p = state;
    pause_t *t = p->t;
    px_completion_t c;
    CHECK(px_completion_parse(ctx, msg, &c) == 0);
    if (c.kind == PX_CLOSE) {
        t->closes++;
        return 0;
    }
    CHECK(c.kind == PX_RECV && c.tag == T_RX);
    const unsigned char *b = c.data;
    for (size_t i = 0; c.res > 0 && i < c.len; i++)
        if (b[i] != pattern(t->got + i))
            t->mismatches++;
    if (c.res > 0)
        t->got += c.len;
    CHECK(c.res >= 0 || c.res == -ECANCELED);
    if (c.more) {                      /* pause after this chunk */
        if (!p->stopping) {
            p->stopping = true;
            CHECK(px_stop(ctx, p->op) == 0);
        }
        return 0;
    }
    t->finals++;                       /* exactly one per recv */
    px_release(p->op);
    p->op = NULL;
    if (c.res == -ECANCELED)
        t->stopped_finals++;
    if (c.res == 0)                    /* end of stream */
        return px_close(ctx, p->fd, T_CLOSE);
    return pauser_arm(ctx, p);         /* resume */
}

static void *pause_writer(void *arg)
{
    pause_t *t = arg;
    unsigned char buf[1500];
    for (size_t off = 0; off < t->total;) {
        size_t n = t->total - off < sizeof buf ? t->total - off : sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = pattern(off + i);
        ssize_t w = write(t->sp[1], buf, n);
        CHECK(w > 0);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    shutdown(t->sp[1], SHUT_WR);
    return NULL;
}

static void test_stop_keeps_data(void **state)
{
    (void)state;
    static const acto_behavior_t pb = { .name = "pauser", .state_size = sizeof(pauser_t),
                                        .init = pauser_init, .receive = pauser_recv };
    for (unsigned workers = 1; workers <= 2; workers++) {
        acto_runtime_t *rt = tu_runtime(workers);
        pause_t t = { .total = tu_scale(4u << 20, 256u << 10) };
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, t.sp), 0);
        pause_t *tp = &t;
        assert_int_equal(acto_spawn(acto_root(rt), &pb, &tp, NULL), 0);
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, pause_writer, &t), 0);
        tu_run(rt);                    /* returns after end of stream and close */
        pthread_join(th, NULL);
        assert_int_equal(t.got, t.total);
        assert_int_equal(t.mismatches, 0);
        assert_int_equal(t.closes, 1);
        assert_true(t.stopped_finals > 0);   /* the stop path was taken */
        NO_FAILURES();
        acto_runtime_free(rt);
        close(t.sp[1]);
    }
}

/* px_recv_bounded (P4''): a multishot recv that ends itself after `burst`
 * bytes.  The owner re-arms on each final completion and never stops it:
 * every byte still arrives, in order; each recv ends (-ECANCELED) after
 * at most burst + what the kernel had already produced (io_uring: the 64
 * provided buffers; epoll: the chunk being read); so an owner that is
 * behind never has more than that of one recv's chunks waiting.  An
 * unbounded multishot recv would bring the whole stream in one op. */
#define BOUNDED_BURST (64u << 10)
#define BOUNDED_SLACK (65u * 16384u)

typedef struct { pause_t *t; px_fd_t *fd; px_op_t *op; size_t op_bytes, op_max; } bounded_t;

static int bounded_arm(acto_ctx_t *ctx, bounded_t *b)
{
    b->op_bytes = 0;
    return px_recv_bounded(ctx, b->fd, BOUNDED_BURST, T_RX, &b->op);
}

static int bounded_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    bounded_t *b = state;
    b->t = arg_ptr(arg);
    int rc = px_fd_open(ctx, b->t->sp[0], &b->fd);
    if (rc == 0) {
        CHECK(px_recv_bounded(ctx, b->fd, 1023, T_RX, NULL) == ACTO_EINVAL);
        CHECK(px_recv_bounded(ctx, b->fd, (size_t)UINT16_MAX * 1024 + 1, T_RX, NULL) ==
              ACTO_EINVAL);
    }
    return rc ? rc : bounded_arm(ctx, b);
}

static int bounded_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    bounded_t *b = state;
    pause_t *t = b->t;
    px_completion_t c;
    CHECK(px_completion_parse(ctx, msg, &c) == 0);
    if (c.kind == PX_CLOSE) {
        t->closes++;
        return 0;
    }
    CHECK(c.kind == PX_RECV && c.tag == T_RX);
    const unsigned char *d = c.data;
    for (size_t i = 0; c.res > 0 && i < c.len; i++)
        if (d[i] != pattern(t->got + i))
            t->mismatches++;
    if (c.res > 0) {
        t->got += c.len;
        b->op_bytes += c.len;
        if (b->op_bytes > b->op_max)
            b->op_max = b->op_bytes;
    }
    CHECK(c.res >= 0 || c.res == -ECANCELED);
    if (c.more)
        return 0;
    t->finals++;
    px_release(b->op);
    b->op = NULL;
    if (c.res == -ECANCELED)
        t->stopped_finals++;
    if (c.res == 0) {                  /* end of stream */
        /* one recv's bytes: bounded (the last one may end on data) */
        CHECK(b->op_max <= BOUNDED_BURST + BOUNDED_SLACK);
        return px_close(ctx, b->fd, T_CLOSE);
    }
    return bounded_arm(ctx, b);
}

static void test_bounded_recv(void **state)
{
    (void)state;
    static const acto_behavior_t bb = { .name = "bounded", .state_size = sizeof(bounded_t),
                                        .init = bounded_init, .receive = bounded_recv };
    for (unsigned workers = 1; workers <= 2; workers++) {
        acto_runtime_t *rt = tu_runtime(workers);
        pause_t t = { .total = tu_scale(4u << 20, 1u << 20) };
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, t.sp), 0);
        pause_t *tp = &t;
        assert_int_equal(acto_spawn(acto_root(rt), &bb, &tp, NULL), 0);
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, pause_writer, &t), 0);
        tu_run(rt);                    /* returns after end of stream and close */
        pthread_join(th, NULL);
        assert_int_equal(t.got, t.total);
        assert_int_equal(t.mismatches, 0);
        assert_int_equal(t.closes, 1);
        /* the stream is longer than a burst: recvs ended themselves */
        assert_true((size_t)t.stopped_finals + 1 >= t.total / (BOUNDED_BURST + BOUNDED_SLACK));
        NO_FAILURES();
        acto_runtime_free(rt);
        close(t.sp[1]);
    }
}

/* px_stop on a recv still waiting for the command queue, on a finished op,
 * and on kinds it does not apply to. */
typedef struct { int sp[2]; int finals; int64_t res; int einval; } stopq_t;
typedef struct { stopq_t *t; px_fd_t *fd; } stopq_actor_t;

static int stopq_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    stopq_actor_t *a = state;
    a->t = arg_ptr(arg);
    int rc = px_fd_open(ctx, a->t->sp[0], &a->fd);
    px_op_t *op;
    if (rc || (rc = px_recv(ctx, a->fd, 0, true, T_RX, &op)) != 0)
        return rc;
    /* init runs on the root context: the recv is a command not yet run */
    rc = px_stop(ctx, op);
    px_release(op);
    if (rc)
        return rc;
    struct iovec iov = { "x", 1 };
    CHECK(px_sendv(ctx, a->fd, &iov, 1, T_CLOSE + 1, &op) == 0);
    if (px_stop(ctx, op) == ACTO_EINVAL)
        a->t->einval++;
    px_release(op);
    return 0;
}

static int stopq_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    stopq_actor_t *a = state;
    px_completion_t c;
    CHECK(px_completion_parse(ctx, msg, &c) == 0);
    if (c.kind == PX_RECV) {
        CHECK(!c.more);
        a->t->finals++;
        a->t->res = c.res;
        return px_close(ctx, a->fd, T_CLOSE);
    }
    return 0;
}

static void test_stop_before_start(void **state)
{
    (void)state;
    static const acto_behavior_t sb = { .name = "stopq", .state_size = sizeof(stopq_actor_t),
                                        .init = stopq_init, .receive = stopq_recv };
    acto_runtime_t *rt = tu_runtime(2);
    stopq_t t = { .finals = 0 };
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, t.sp), 0);
    stopq_t *tp = &t;
    assert_int_equal(acto_spawn(acto_root(rt), &sb, &tp, NULL), 0);
    tu_run(rt);
    assert_int_equal(t.finals, 1);     /* one final completion, no data lost */
    assert_int_equal(t.res, -ECANCELED);
    assert_int_equal(t.einval, 1);
    assert_int_equal(px_stop(NULL, NULL), ACTO_EINVAL);
    NO_FAILURES();
    acto_runtime_free(rt);
    close(t.sp[1]);
}

/* px_stop on a multishot accept: connections the kernel accepted before the
 * stop are delivered (P4' - px_cancel would close them), the rest stay in
 * the backlog; one final completion.  Accepted + left in backlog = made. */
enum { ACC_CLIENTS = 3 };
typedef struct { int lfd, clients[ACC_CLIENTS], accepted, left, finals; int64_t final_res; } accstop_t;
typedef struct { accstop_t *t; px_fd_t *f; } accstop_actor_t;

static int accstop_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    accstop_actor_t *a = state;
    a->t = arg_ptr(arg);
    return acto_send_empty(ctx, acto_self(ctx), MSG_GO);
}

static int accstop_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    accstop_actor_t *a = state;
    accstop_t *t = a->t;
    if (acto_msg_type(msg) == MSG_GO) {    /* on a worker: the op is local */
        px_op_t *op;
        CHECK(px_fd_open(ctx, t->lfd, &a->f) == 0);
        CHECK(px_accept(ctx, a->f, T_ACCEPT, &op) == 0);
        CHECK(px_stop(ctx, op) == 0);
        px_release(op);
        return 0;
    }
    px_completion_t c;
    CHECK(px_completion_parse(ctx, msg, &c) == 0);
    if (c.kind == PX_CLOSE)
        return 0;
    CHECK(c.kind == PX_ACCEPT);
    if (c.res >= 0) {
        t->accepted++;
        close((int)c.res);
    }
    if (c.more)
        return 0;
    t->finals++;
    t->final_res = c.res;
    int fd;                                /* what the stop left in the backlog */
    while ((fd = accept4(t->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        t->left++;
        close(fd);
    }
    return px_close(ctx, a->f, T_LCLOSE);
}

static void test_stop_accept(void **state)
{
    (void)state;
    static const acto_behavior_t ab = { .name = "accstop", .state_size = sizeof(accstop_actor_t),
                                        .init = accstop_init, .receive = accstop_recv };
    accstop_t t = { .finals = 0 };
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof sa;
    t.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(t.lfd >= 0);
    assert_int_equal(bind(t.lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(t.lfd, 16), 0);
    assert_int_equal(getsockname(t.lfd, (struct sockaddr *)&sa, &sl), 0);
    for (int i = 0; i < ACC_CLIENTS; i++) {   /* in the backlog before the accept */
        t.clients[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_int_equal(connect(t.clients[i], (struct sockaddr *)&sa, sl), 0);
    }
    acto_runtime_t *rt = tu_runtime(1);
    accstop_t *tp = &t;
    assert_int_equal(acto_spawn(acto_root(rt), &ab, &tp, NULL), 0);
    tu_run(rt);
    assert_int_equal(t.finals, 1);
    assert_int_equal(t.final_res, -ECANCELED);
    assert_int_equal(t.accepted + t.left, ACC_CLIENTS);   /* none dropped */
    NO_FAILURES();
    acto_runtime_free(rt);
    for (int i = 0; i < ACC_CLIENTS; i++)
        close(t.clients[i]);
}

/* ---- pending I/O keeps run from returning ------------------------------------------------ */

typedef struct {
    acto_runtime_t *rt;
    int sp[2];
    int written;              /* set by the writer thread just before it writes */
    int seen_written;         /* what the actor saw when the data arrived */
    size_t got;
    int closes;
} pend_t;

typedef struct { pend_t *t; px_fd_t *fd; } reader_t;

static int reader_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    reader_t *r = state;
    r->t = arg_ptr(arg);
    int rc = px_fd_open(ctx, r->t->sp[0], &r->fd);
    return rc ? rc : px_recv(ctx, r->fd, 64, false, T_RX, NULL);   /* one-shot recv */
}

static int reader_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    reader_t *r = state;
    px_completion_t c;
    CHECK(px_completion_parse(ctx, msg, &c) == 0);
    if (c.kind == PX_RECV) {
        r->t->seen_written = LOAD(&r->t->written);
        r->t->got += c.len;
        return px_close(ctx, r->fd, T_CLOSE);
    }
    if (c.kind == PX_CLOSE)
        r->t->closes++;
    return 0;
}

static void *late_writer(void *arg)
{
    pend_t *t = arg;
    /* Wait until every worker is idle with the recv pending: the state in
     * which run would (wrongly) have returned. */
    while (at_load_u32(&t->rt->nidle) != t->rt->nworkers)
        sched_yield();
    STORE(&t->written, 1);
    CHECK(write(t->sp[1], "hello", 5) == 5);
    return NULL;
}

static void test_pending_io_blocks_quiescence(void **state)
{
    (void)state;
    static const acto_behavior_t rb = { .name = "reader", .state_size = sizeof(reader_t),
                                        .init = reader_init, .receive = reader_recv };
    for (unsigned workers = 1; workers <= 2; workers++) {
        pend_t t = { .rt = tu_runtime(workers) };
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, t.sp), 0);
        pend_t *tp = &t;
        assert_int_equal(acto_spawn(acto_root(t.rt), &rb, &tp, NULL), 0);
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, late_writer, &t), 0);
        tu_run(t.rt);
        pthread_join(th, NULL);
        assert_int_equal(t.seen_written, 1);
        assert_true(t.got == 5);
        assert_int_equal(t.closes, 1);
        NO_FAILURES();
        acto_runtime_free(t.rt);
        close(t.sp[1]);
    }
}

/* acto_runtime_stop with a recv pending: run returns, the recv is
 * cancelled (P7) and its owner hears of it in the next run. */
typedef struct { acto_runtime_t *rt; int sp[2]; int cancelled, closes, other; } stop_t;
typedef struct { stop_t *t; px_fd_t *fd; } stopper_t;

static int stopper_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    stopper_t *s = state;
    s->t = arg_ptr(arg);
    int rc = px_fd_open(ctx, s->t->sp[0], &s->fd);
    if (rc || (rc = px_recv(ctx, s->fd, 0, true, T_RX, NULL)) != 0)
        return rc;
    return acto_timer_start(ctx, 1000000, 0, MSG_TICK, NULL);
}

static int stopper_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    stopper_t *s = state;
    if (acto_msg_type(msg) == MSG_TICK)
        return acto_runtime_stop(s->t->rt);
    px_completion_t c;
    CHECK(px_completion_parse(ctx, msg, &c) == 0);
    if (c.kind == PX_RECV && c.res == -ECANCELED && !c.more) {
        s->t->cancelled++;
        return px_close(ctx, s->fd, T_CLOSE);
    }
    if (c.kind == PX_CLOSE)
        s->t->closes++;
    else
        s->t->other++;
    return 0;
}

static void test_stop_cancels_pending_io(void **state)
{
    (void)state;
    static const acto_behavior_t sb = { .name = "stopper", .state_size = sizeof(stopper_t),
                                        .init = stopper_init, .receive = stopper_recv };
    stop_t t = { .rt = tu_runtime(2) };
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, t.sp), 0);
    stop_t *tp = &t;
    assert_int_equal(acto_spawn(acto_root(t.rt), &sb, &tp, NULL), 0);
    tu_run(t.rt);                          /* returns because of the stop */
    tu_run(t.rt);                          /* the ECANCELED, then the close */
    assert_int_equal(t.cancelled, 1);
    assert_int_equal(t.closes, 1);
    assert_int_equal(t.other, 0);
    NO_FAILURES();
    acto_runtime_free(t.rt);
    close(t.sp[1]);
}

/* Freeing a stopped runtime with a timer armed, a recv pending and a
 * command still queued frees everything (ASan's leak check) and closes the
 * fds the proactor owns. */
typedef struct { acto_runtime_t *rt; int sp[2], sp2[2]; } leak_t;

static int leaker_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    leak_t *t = arg_ptr(arg);
    memcpy(state, &t, sizeof t);
    return acto_timer_start(ctx, 1000000, 1000000, MSG_TICK, NULL);
}

static int leaker_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    leak_t *t;
    memcpy(&t, state, sizeof t);
    if (acto_msg_type(msg) != MSG_TICK)
        return 0;
    px_fd_t *f;
    CHECK(px_fd_open(ctx, t->sp[0], &f) == 0);
    CHECK(px_recv(ctx, f, 0, true, T_RX, NULL) == 0);
    CHECK(acto_timer_start(ctx, 3600ull * 1000000000ull, 0, MSG_DIE, NULL) == 0);
    return acto_runtime_stop(t->rt);
}

static void test_free_with_pending_work(void **state)
{
    (void)state;
    static const acto_behavior_t lb = { .name = "leaker", .state_size = sizeof(void *),
                                        .init = leaker_init, .receive = leaker_recv };
    leak_t t;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, t.sp), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, t.sp2), 0);
    int before = count_fds();
    t.rt = tu_runtime(2);
    leak_t *tp = &t;
    assert_int_equal(acto_spawn(acto_root(t.rt), &lb, &tp, NULL), 0);
    tu_run(t.rt);
    /* from a foreign context: queued as commands, never run */
    acto_pid_t p;
    assert_int_equal(acto_spawn(acto_root(t.rt), &lb, &tp, &p), 0);
    px_fd_t *f;
    assert_int_equal(px_fd_open(acto_root(t.rt), t.sp2[0], &f), 0);
    NO_FAILURES();
    acto_runtime_free(t.rt);
    assert_int_equal(count_fds(), before - 2);   /* sp[0] and sp2[0] closed */
    close(t.sp[1]);
    close(t.sp2[1]);
}

/* ---- waking sleeping workers ----------------------------------------------------------------- */

typedef struct { uint64_t count; } ctr_t;

static int ctr_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    (void)ctx;
    (void)msg;
    ctr_t **c = state;
    ADD(&(*c)->count, 1);
    return 0;
}

typedef struct {
    acto_runtime_t *rt;
    acto_pid_t target;
    uint64_t n;
    ctr_t *ctr;
    int stuck;
} waker_t;

/* A foreign thread sends one message at a time and waits for it to be
 * handled, so most sends find every worker asleep: each must wake one. */
static void *foreign_waker(void *arg)
{
    waker_t *wk = arg;
    acto_ctx_t *ctx;
    CHECK(acto_thread_attach(wk->rt, &ctx) == 0);
    for (uint64_t i = 1; i <= wk->n; i++) {
        CHECK(acto_send_empty(ctx, wk->target, MSG_PING) == 0);
        uint64_t spins = 0, t0 = 0;
        while (LOAD(&wk->ctr->count) < i) {
            if (++spins % 1024 == 0) {
                /* A lost wake-up would hang here: fail instead, after a
                 * bound far beyond any scheduling delay. */
                uint64_t now = tu_now_ns();
                if (!t0)
                    t0 = now;
                else if (now - t0 > 20ull * 1000000000ull) {
                    STORE(&wk->stuck, 1);
                    break;
                }
                sched_yield();
            }
        }
        if (LOAD(&wk->stuck))
            break;
    }
    CHECK(acto_thread_detach(ctx) == 0);
    acto_runtime_unref(wk->rt);
    return NULL;
}

static void test_wake_from_foreign_thread(void **state)
{
    (void)state;
    static const acto_behavior_t cb = { .name = "ctr", .state_size = sizeof(void *),
                                        .init = ptr_init, .receive = ctr_recv };
    acto_runtime_t *rt = tu_runtime(2);
    ctr_t ctr = { 0 };
    ctr_t *cp = &ctr;
    waker_t wk = { .rt = rt, .n = tu_scale(20000, 2000), .ctr = &ctr };
    assert_int_equal(acto_spawn(acto_root(rt), &cb, &cp, &wk.target), 0);
    assert_int_equal(acto_runtime_ref(rt), 0);   /* dropped by the thread when done */
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, foreign_waker, &wk), 0);
    tu_run(rt);
    pthread_join(th, NULL);
    assert_int_equal(wk.stuck, 0);
    assert_true(LOAD(&ctr.count) == wk.n);
    acto_stats_t st = tu_stats(rt);
    assert_true(st.wakeups > 0);                 /* sleeping workers were woken */
    NO_FAILURES();
    acto_runtime_free(rt);
}

/* Worker to worker: a spawned actor goes to the spawner's ring and the
 * spawner wakes a sleeping worker to steal it (W1); every child replies. */
typedef struct {
    uint64_t left, replies;
} spawner_t;

static int child_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    (void)state;
    acto_pid_t parent = *(const acto_pid_t *)arg;
    acto_send_empty(ctx, parent, MSG_PONG);
    acto_exit(ctx, ACTO_EXIT_NORMAL);
    return 0;
}

static int child_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    (void)ctx;
    (void)state;
    (void)msg;
    return 0;
}

static const acto_behavior_t child_beh = { .name = "child", .init = child_init,
                                           .receive = child_recv };

static int spawner_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    spawner_t **sp = state;
    spawner_t *s = *sp;
    if (acto_msg_type(msg) == MSG_PONG)
        s->replies++;
    if (s->left) {
        s->left--;
        acto_pid_t self = acto_self(ctx);
        /* a timer tick keeps a sleep/wake cycle in the loop too */
        if (s->left % 64 == 0)
            return acto_timer_start(ctx, 1000, 0, MSG_TICK, NULL);
        return acto_spawn(ctx, &child_beh, &self, NULL);
    }
    return 0;
}

static void test_wake_worker_to_worker(void **state)
{
    (void)state;
    static const acto_behavior_t sb = { .name = "spawner", .state_size = sizeof(void *),
                                        .init = ptr_init, .receive = spawner_recv };
    acto_runtime_t *rt = tu_runtime(2);
    uint64_t n = tu_scale(20000, 2000);
    spawner_t s = { .left = n };
    spawner_t *sp = &s;
    acto_pid_t pid;
    assert_int_equal(acto_spawn(acto_root(rt), &sb, &sp, &pid), 0);
    assert_int_equal(acto_send_empty(acto_root(rt), pid, MSG_GO), 0);
    tu_run(rt);
    assert_true(s.left == 0);
    assert_true(s.replies == n - (n + 63) / 64);  /* every spawned child answered */
    acto_stats_t st = tu_stats(rt);
    assert_true(st.spawned == 1 + s.replies);
    acto_runtime_free(rt);
}

/* ---- backend selection and the fallback --------------------------------------------------- */

static char *save_env(const char *name)
{
    const char *v = getenv(name);
    return v ? strdup(v) : NULL;
}

static void restore_env(const char *name, char *v)
{
    if (v)
        setenv(name, v, 1);
    else
        unsetenv(name);
    free(v);
}

static int new_rt(int backend, acto_runtime_t **rt)
{
    acto_config_t cfg;
    acto_config_init(&cfg);
    cfg.workers = 1;
    cfg.backend = backend;
    return acto_runtime_new(rt, &cfg);
}

static void test_backend_selection(void **state)
{
    (void)state;
    char *b = save_env("ACTO_BACKEND"), *f = save_env("ACTO_URING_FAIL");
    acto_runtime_t *rt;
    unsetenv("ACTO_URING_FAIL");

    assert_int_equal(new_rt(ACTO_BACKEND_EPOLL, &rt), 0);
    assert_string_equal(acto_runtime_backend(rt), "epoll");
    acto_runtime_free(rt);

    setenv("ACTO_BACKEND", "epoll", 1);
    assert_int_equal(new_rt(ACTO_BACKEND_AUTO, &rt), 0);
    assert_string_equal(acto_runtime_backend(rt), "epoll");
    acto_runtime_free(rt);

    setenv("ACTO_BACKEND", "bogus", 1);
    assert_int_equal(new_rt(ACTO_BACKEND_AUTO, &rt), ACTO_EINVAL);
    assert_int_equal(new_rt(7, &rt), ACTO_EINVAL);

    /* io_uring works on this machine (the test command expects it) */
    unsetenv("ACTO_BACKEND");
    assert_int_equal(new_rt(ACTO_BACKEND_AUTO, &rt), 0);
    assert_string_equal(acto_runtime_backend(rt), "uring");
    acto_runtime_free(rt);
    assert_int_equal(new_rt(ACTO_BACKEND_URING, &rt), 0);
    assert_string_equal(acto_runtime_backend(rt), "uring");
    acto_runtime_free(rt);

    /* io_uring_queue_init failing: auto falls back, an explicit ask fails */
    setenv("ACTO_URING_FAIL", "1", 1);
    assert_int_equal(new_rt(ACTO_BACKEND_AUTO, &rt), 0);
    assert_string_equal(acto_runtime_backend(rt), "epoll");
    acto_runtime_free(rt);
    assert_int_equal(new_rt(ACTO_BACKEND_URING, &rt), ACTO_ENOTSUP);
    setenv("ACTO_BACKEND", "uring", 1);
    assert_int_equal(new_rt(ACTO_BACKEND_AUTO, &rt), ACTO_ENOTSUP);

    restore_env("ACTO_BACKEND", b);
    restore_env("ACTO_URING_FAIL", f);
}

static void test_fallback_does_io(void **state)
{
    (void)state;
    char *b = save_env("ACTO_BACKEND"), *f = save_env("ACTO_URING_FAIL");
    unsetenv("ACTO_BACKEND");             /* auto, and io_uring setup fails */
    setenv("ACTO_URING_FAIL", "1", 1);
    echo_once(2, 70000, "epoll");
    restore_env("ACTO_BACKEND", b);
    restore_env("ACTO_URING_FAIL", f);
}

/* ---- timers ------------------------------------------------------------------------------------- */

#define NT 64
typedef struct {
    uint64_t start;
    /* The runtime reads the clock inside acto_timer_start, so timer i's
     * deadline is only known to lie in [soonest[i], latest[i]]: clock
     * readings just before and just after its start call, plus its delay. */
    uint64_t soonest[NT], latest[NT];
    uint64_t ids[NT];
    int order[NT], nfired, early, ticks, after_cancel;
    uint64_t cancelled_id, periodic_id;
} timers_t;

static int timers_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    timers_t *t = arg_ptr(arg);
    memcpy(state, &t, sizeof t);
    return acto_send_empty(ctx, acto_self(ctx), MSG_GO);
}

static int timers_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    timers_t *t;
    memcpy(&t, state, sizeof t);
    uint64_t now = tu_now_ns(), id = 0;
    switch (acto_msg_type(msg)) {
    case MSG_GO:
        t->start = tu_now_ns();
        /* NT one-shots in scrambled start order, delays 2 ms apart */
        for (int k = 0; k < NT; k++) {
            int i = (k * 37) % NT;
            uint64_t after = 2000000ull * (uint64_t)(i + 1);
            t->soonest[i] = tu_now_ns() + after;
            CHECK(acto_timer_start(ctx, after, 0, MSG_T0 + 100 + (uint32_t)i, &t->ids[i]) == 0);
            t->latest[i] = tu_now_ns() + after;
        }
        /* one cancelled before it fires, one periodic stopped after 5 ticks */
        /* (same worker as the start: the result is exact) */
        CHECK(acto_timer_start(ctx, 5000000, 0, MSG_DIE, &t->cancelled_id) == 0);
        CHECK(acto_timer_cancel(ctx, t->cancelled_id) == 0);
        CHECK(acto_timer_cancel(ctx, t->cancelled_id) == ACTO_ESTATE);
        CHECK(acto_timer_cancel(ctx, 0) == ACTO_EINVAL);
        return acto_timer_start(ctx, 500000, 500000, MSG_TICK, &t->periodic_id);
    case MSG_DIE:
        t->after_cancel++;
        return 0;
    case MSG_TICK:
        CHECK(acto_msg_u64(msg, &id) == 0);
        CHECK(id == t->periodic_id);
        if (t->ticks >= 5)
            return 0;          /* sent before a cross-worker cancel landed */
        if (now < t->start + 500000ull * (uint64_t)(t->ticks + 1))
            t->early++;
        if (++t->ticks == 5)
            CHECK(acto_timer_cancel(ctx, id) >= 0);
        return 0;
    default: {
        int i = (int)(acto_msg_type(msg) - MSG_T0 - 100);
        CHECK(i >= 0 && i < NT && t->nfired < NT);
        if (!(i >= 0 && i < NT && t->nfired < NT))
            return 0;
        CHECK(acto_msg_u64(msg, &id) == 0);
        CHECK(id == t->ids[i]);
        if (now < t->soonest[i])
            t->early++;
        t->order[t->nfired++] = i;
        return 0;
    }
    }
}

/* A worker that cannot set up its ring or epoll set (out of file
 * descriptors) makes run fail with ACTO_ESYS instead of running without
 * I/O; nothing queued is lost, and the next run, with descriptors back,
 * does the work. */
static int count_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    (void)ctx;
    (void)msg;
    ADD(*(int **)state, 1);
    return 0;
}

static void test_run_fails_without_fds(void **state)
{
    (void)state;
    static int handled;
    STORE(&handled, 0);
    acto_runtime_t *rt = tu_runtime(1);
    static const acto_behavior_t counter = {
        .name = "counter", .state_size = sizeof(int *), .init = ptr_init,
        .receive = count_recv };
    int *hp = &handled;
    acto_pid_t p;
    assert_int_equal(acto_spawn(acto_root(rt), &counter, &hp, &p), 0);
    assert_int_equal(acto_send_empty(acto_root(rt), p, MSG_GO), 0);

    struct rlimit old, rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    rl = old;
    if (rl.rlim_cur > 256)
        rl.rlim_cur = 256;                /* small enough to fill quickly */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    enum { BALLAST_MAX = 4096 };
    static int ballast[BALLAST_MAX];
    int n = 0;
    while (n < BALLAST_MAX && (ballast[n] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
        n++;
    bool full = n < BALLAST_MAX && errno == EMFILE;
    int rc = acto_runtime_run(rt);
    while (n > 0)
        close(ballast[--n]);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    if (!full)
        skip();                           /* a limit too high to fill */
    assert_int_equal(rc, ACTO_ESYS);
    assert_int_equal(LOAD(&handled), 0);
    assert_int_equal(acto_runtime_run(rt), 0);
    assert_int_equal(LOAD(&handled), 1);
    acto_runtime_free(rt);
}

/* The one-shots fired in deadline order.  A timer that fired before another
 * must not have its deadline in a later wheel tick (timerwheel.h T3; timers
 * of one tick fire in any order).  Only the deadlines' bounds are known, so
 * a pair is out of order when the earlier one's soonest tick is after the
 * later one's latest tick.  Without a stall between clock readings each
 * window is microseconds wide against 2 ms spacing, and this is exactly
 * the order 0..NT-1; a stall of the loaded machine inside the start loop
 * can make a later-started timer due first, as the runtime rightly fires
 * it (the test used to expect 0..NT-1 regardless, and failed then). */
static void check_deadline_order(const timers_t *t)
{
    bool seen[NT] = { false };
    for (int a = 0; a < NT; a++) {
        int i = t->order[a];
        assert_false(seen[i]);
        seen[i] = true;
        for (int b = a + 1; b < NT; b++) {
            int j = t->order[b];
            if (t->soonest[i] >> TW_TICK_SHIFT > t->latest[j] >> TW_TICK_SHIFT)
                fail_msg("timer %d fired before timer %d, due at least %.3f ms later", i, j,
                         (double)(t->soonest[i] - t->latest[j]) / 1e6);
        }
    }
}

static void test_timers(void **state)
{
    (void)state;
    static const acto_behavior_t tb = { .name = "timers", .state_size = sizeof(void *),
                                        .init = timers_init, .receive = timers_recv };
    for (unsigned workers = 1; workers <= 2; workers++) {
        acto_runtime_t *rt = tu_runtime(workers);
        timers_t *t = calloc(1, sizeof *t);
        assert_non_null(t);
        assert_int_equal(acto_spawn(acto_root(rt), &tb, &t, NULL), 0);
        tu_run(rt);   /* returns once no timer is armed */
        assert_int_equal(t->nfired, NT);
        assert_int_equal(t->early, 0);
        check_deadline_order(t);
        assert_int_equal(t->after_cancel, 0);
        assert_int_equal(t->ticks, 5);
        NO_FAILURES();
        acto_runtime_free(rt);
        free(t);
    }
}

/* Many timers from many actors: all fire, none early, none lost. */
typedef struct { uint64_t fired, early; } many_t;
typedef struct { many_t *m; uint64_t deadline; } one_t;

static int one_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    one_t *o = state;
    o->m = arg_ptr(arg);
    uint64_t after = (uint64_t)(rand() % 20000) * 1000;   /* 0..20 ms */
    o->deadline = tu_now_ns() + after;
    return acto_timer_start(ctx, after, 0, MSG_TICK, NULL);
}

static int one_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    one_t *o = state;
    (void)msg;
    if (tu_now_ns() < o->deadline)
        ADD(&o->m->early, 1);
    ADD(&o->m->fired, 1);
    return acto_exit(ctx, ACTO_EXIT_NORMAL);
}

static void test_many_timers(void **state)
{
    (void)state;
    static const acto_behavior_t ob = { .name = "one", .state_size = sizeof(one_t),
                                        .init = one_init, .receive = one_recv };
    acto_runtime_t *rt = tu_runtime(2);
    many_t m = { 0 };
    many_t *mp = &m;
    uint64_t n = tu_scale(20000, 2000);
    for (uint64_t i = 0; i < n; i++)   /* from the root: handed to a worker */
        assert_int_equal(acto_spawn(acto_root(rt), &ob, &mp, NULL), 0);
    tu_run(rt);
    assert_true(m.fired == n);
    assert_true(m.early == 0);
    acto_runtime_free(rt);
}

/* Timer ids stay safe after their timer is gone: a fired one-shot's record
 * is reused by the next start, and cancelling the old id must neither
 * succeed nor touch the new timer, which still fires. */
typedef struct {
    uint64_t first, second;
    int stale_rc, fired_first, fired_second, other;
} reuse_t;

static int reuse_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    reuse_t *r = *(reuse_t **)state;
    uint64_t id = 0;
    switch (acto_msg_type(msg)) {
    case MSG_GO:
        return acto_timer_start(ctx, 1000000, 0, MSG_TICK, &r->first);
    case MSG_TICK:
        (void)acto_msg_u64(msg, &id);
        if (id == r->first && !r->fired_first) {
            r->fired_first = 1;
            int rc = acto_timer_start(ctx, 2000000, 0, MSG_TICK, &r->second);
            r->stale_rc = acto_timer_cancel(ctx, r->first);   /* fired: stale */
            return rc;
        }
        if (id == r->second)
            r->fired_second++;
        else
            r->other++;
        return 0;
    default:
        return 0;
    }
}

static void test_timer_stale_id(void **state)
{
    (void)state;
    acto_runtime_t *rt = tu_runtime(1);
    static reuse_t r;
    memset(&r, 0, sizeof r);
    reuse_t *rp = &r;
    static const acto_behavior_t beh = {
        .name = "reuse", .state_size = sizeof(reuse_t *), .init = ptr_init,
        .receive = reuse_recv };
    acto_pid_t p;
    assert_int_equal(acto_spawn(acto_root(rt), &beh, &rp, &p), 0);
    assert_int_equal(acto_send_empty(acto_root(rt), p, MSG_GO), 0);
    tu_run(rt);
    assert_int_equal(r.fired_first, 1);
    assert_true(r.second != 0 && r.second != r.first);
    assert_int_equal(r.stale_rc, ACTO_ESTATE);
    assert_int_equal(r.fired_second, 1);
    assert_int_equal(r.other, 0);
    acto_runtime_free(rt);
}

static void test_timer_misuse(void **state)
{
    (void)state;
    acto_runtime_t *rt = tu_runtime(1);
    uint64_t id;
    /* no calling actor */
    assert_int_equal(acto_timer_start(acto_root(rt), 1000, 0, MSG_TICK, &id), ACTO_ESTATE);
    assert_int_equal(acto_timer_start(NULL, 1000, 0, MSG_TICK, &id), ACTO_EINVAL);
    assert_int_equal(acto_timer_cancel(acto_root(rt), (uint64_t)99 << 48), ACTO_EINVAL);
    acto_runtime_free(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backend_selection),
        cmocka_unit_test(test_echo_small),
        cmocka_unit_test(test_echo_large),
        cmocka_unit_test(test_many_connections),
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_late_completion_after_death),
        cmocka_unit_test(test_accept_for_dead_owner),
        cmocka_unit_test(test_unreceived_accept_closed),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_stop_keeps_data),
        cmocka_unit_test(test_bounded_recv),
        cmocka_unit_test(test_stop_before_start),
        cmocka_unit_test(test_stop_accept),
        cmocka_unit_test(test_stop_cancels_pending_io),
        cmocka_unit_test(test_free_with_pending_work),
        cmocka_unit_test(test_pending_io_blocks_quiescence),
        cmocka_unit_test(test_wake_from_foreign_thread),
        cmocka_unit_test(test_wake_worker_to_worker),
        cmocka_unit_test(test_fallback_does_io),
        cmocka_unit_test(test_run_fails_without_fds),
        cmocka_unit_test(test_timers),
        cmocka_unit_test(test_many_timers),
        cmocka_unit_test(test_timer_stale_id),
        cmocka_unit_test(test_timer_misuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
