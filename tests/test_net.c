/* tests/test_net.c - listener and socket actors (acto/net.h): echo of
 * 1 B .. 1 MiB with partial reads and writes, half-close, many concurrent
 * connections, peer reset, connect refused and timed out, framed messages
 * (good, malformed, oversize), a slow reader against the write watermark,
 * a paused reader (nothing while paused, nothing lost), EMFILE on accept,
 * owner death, argument errors.
 *
 * Registered once per backend (tests/CMakeLists.txt: ACTO_BACKEND=uring and
 * =epoll).  Loopback only.  The peers that must misbehave (reset, never
 * read, send garbage) are plain sockets driven from inside the test actors:
 * on loopback, connect, a small write and close never block. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "testutil.h"

enum { MSG_DONE = 1, MSG_BAD, MSG_TICK, MSG_GO };

static int setup(void **state)
{
    (void)state;
    __atomic_store_n(&g_fail, 0, __ATOMIC_RELEASE);
    return 0;
}

/* Every test actor's state starts with a pointer to its test record. */
static int ptr_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    (void)ctx;
    memcpy(state, &arg, sizeof arg);
    return 0;
}

/* Run `beh` (state: record pointer first) until the runtime is quiescent,
 * then check no actor is left. */
static void run_one(const acto_behavior_t *beh, void *rec)
{
    acto_runtime_t *rt = tu_runtime(2);
    assert_int_equal(acto_spawn(acto_root(rt), beh, rec, NULL), 0);
    tu_run(rt);
    acto_stats_t st = tu_stats(rt);
    if (getenv("NET_DEBUG"))
        fprintf(stderr, "spawned %lu exited %lu msgs %lu fails %d\n", (unsigned long)st.spawned,
                (unsigned long)st.exited, (unsigned long)st.messages, LOAD(&g_fail));
    assert_int_equal(st.live, 0);           /* every socket and listener exited */
    acto_runtime_free(rt);
    assert_int_equal(LOAD(&g_fail), 0);
}

static void port_addr(char *buf, size_t len, uint64_t port)
{
    snprintf(buf, len, "127.0.0.1:%u", (unsigned)port);
}

/* A blocking plain socket connected to 127.0.0.1:port (rcvbuf > 0: set
 * before connecting, so the window is small). */
static int plain_connect(uint64_t port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (rcvbuf > 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool scan_code(acto_ctx_t *ctx, const acto_msg_t *msg, int64_t *code, int64_t *err)
{
    return acto_msg_scan(ctx, msg, "[ii]", code, err) == 0;
}

static bool scan_port(acto_ctx_t *ctx, const acto_msg_t *msg, uint64_t *port)
{
    const char *a;
    size_t n;
    return acto_msg_scan(ctx, msg, "[su]", &a, &n, port) == 0 && *port > 0;
}

/* ---- the server side of most tests: an echo actor per connection ------------------ */

typedef struct { acto_pid_t sock; } echo_conn_t;

static int echo_conn_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    echo_conn_t *e = state;
    const void *p;
    size_t n;
    switch (acto_msg_type(msg)) {
    case ACTO_MSG_NET_CONNECTED:
        e->sock = acto_msg_from(msg);
        return 0;
    case ACTO_MSG_NET_DATA:
        CHECK(acto_msg_from(msg) == e->sock);
        CHECK(acto_msg_bin(msg, &p, &n) == 0 && n > 0);
        return acto_sock_write(ctx, e->sock, p, n);
    case ACTO_MSG_NET_PEER_CLOSED:
        return acto_sock_close(ctx, e->sock);     /* after the echo is out */
    case ACTO_MSG_NET_ERROR:
        CHECK(!"echo: unexpected error event");
        return 0;
    case ACTO_MSG_NET_CLOSED:
        return acto_exit(ctx, ACTO_EXIT_NORMAL);
    }
    return 0;
}

static const acto_behavior_t echo_conn = {
    .name = "echo_conn", .state_size = sizeof(echo_conn_t), .receive = echo_conn_receive,
};

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(seed * 131 + i * 7 + (i >> 8));
}

/* ---- echo: 1 B .. 1 MiB, each written in three pieces, then half-close --------------- */

static const size_t echo_sizes[] = { 1, 2, 100, 1000, 16383, 16384, 16385, 65536,
                                     200001, 1024 * 1024 };
#define NSIZES (sizeof echo_sizes / sizeof echo_sizes[0])

typedef struct {
    bool v6;                   /* listen on [::1] instead of 127.0.0.1 */
    size_t done;               /* sizes echoed intact */
    int peer_closed, closed, listener_closed;
    int64_t close_code;
} echo_rec_t;

typedef struct {
    echo_rec_t *r;
    acto_pid_t listener, sock;
    size_t i, got;
    unsigned char *buf;
} echo_client_t;

static int echo_next(acto_ctx_t *ctx, echo_client_t *c)
{
    if (c->i == NSIZES)
        return 0;              /* the server closes after our shutdown */
    size_t n = echo_sizes[c->i];
    free(c->buf);
    if ((c->buf = malloc(n)) == NULL)
        return ACTO_ENOMEM;
    fill(c->buf, n, (unsigned)c->i);
    c->got = 0;
    size_t a = n / 3, b = n / 2;               /* three writes, coalesced */
    int rc = acto_sock_write(ctx, c->sock, c->buf, a);
    if (rc == 0)
        rc = acto_sock_write(ctx, c->sock, c->buf + a, b - a);
    if (rc == 0)
        rc = acto_sock_write(ctx, c->sock, c->buf + b, n - b);
    /* Half-close: after the last (1 MiB) message, shut down our sending
     * side at once; its echo must still arrive in full. */
    if (rc == 0 && c->i == NSIZES - 1)
        rc = acto_sock_shutdown(ctx, c->sock);
    return rc;
}

static int echo_client_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    echo_client_t *c = state;
    uint64_t port;
    int64_t code, err;
    const void *p;
    size_t n;
    char addr[64];
    switch (acto_msg_type(msg)) {
    case ACTO_MSG_NET_LISTENING: {
        /* Connect to the address exactly as the listener reported it. */
        const char *a;
        size_t alen;
        CHECK(acto_msg_scan(ctx, msg, "[su]", &a, &alen, &port) == 0 && alen < sizeof addr);
        snprintf(addr, sizeof addr, "%.*s", (int)alen, a);
        CHECK(port > 0 && strstr(addr, c->r->v6 ? "[::1]:" : "127.0.0.1:") == addr);
        return acto_connect(ctx, addr, 10000, NULL, &c->sock);
    }
    case ACTO_MSG_NET_CONNECTED: {
        const char *l, *p2;
        size_t ll, pl;
        CHECK(acto_msg_from(msg) == c->sock);
        CHECK(acto_msg_scan(ctx, msg, "[ss]", &l, &ll, &p2, &pl) == 0);
        CHECK(ll > 0 && pl > 0 && (l[0] == '[') == c->r->v6);
        return echo_next(ctx, c);
    }
    case ACTO_MSG_NET_DATA:
        CHECK(acto_msg_bin(msg, &p, &n) == 0);
        CHECK(c->i < NSIZES && c->got + n <= echo_sizes[c->i]);
        if (c->i >= NSIZES || c->got + n > echo_sizes[c->i])
            return acto_sock_close(ctx, c->sock);
        CHECK(memcmp(c->buf + c->got, p, n) == 0);
        c->got += n;
        if (c->got < echo_sizes[c->i])
            return 0;
        c->r->done++;
        c->i++;
        return echo_next(ctx, c);
    case ACTO_MSG_NET_PEER_CLOSED:
        c->r->peer_closed++;
        return 0;
    case ACTO_MSG_NET_CLOSED:
        CHECK(scan_code(ctx, msg, &code, &err));
        if (acto_msg_from(msg) == c->listener) {
            c->r->listener_closed++;
            free(c->buf);
            return acto_exit(ctx, ACTO_EXIT_NORMAL);
        }
        c->r->closed++;
        c->r->close_code = code;
        return acto_sock_close(ctx, c->listener);
    case ACTO_MSG_NET_ERROR:
        CHECK(!"echo client: unexpected error event");
        return 0;
    }
    return 0;
}

static int echo_client_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    echo_client_t *c = state;
    c->r = (echo_rec_t *)arg;
    /* Queues big enough that a 1 MiB echo is never refused. */
    acto_listen_opts_t lo = { .behavior = &echo_conn, .sock.high_water = 8u << 20 };
    return acto_listen(ctx, c->r->v6 ? "[::1]:0" : "127.0.0.1:0", &lo, &c->listener);
}

static const acto_behavior_t echo_client = {
    .name = "echo_client", .state_size = sizeof(echo_client_t),
    .init = echo_client_init, .receive = echo_client_receive,
};

static void test_echo_sizes(void **state)
{
    (void)state;
    echo_rec_t r = { 0 };
    run_one(&echo_client, &r);
    assert_int_equal(r.done, NSIZES);
    assert_int_equal(r.peer_closed, 1);        /* the server closed after our EOF */
    assert_int_equal(r.closed, 1);
    assert_int_equal(r.close_code, 0);
    assert_int_equal(r.listener_closed, 1);
}

static void test_echo_ipv6(void **state)
{
    (void)state;
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    bool have_v6 = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    if (fd >= 0)
        close(fd);
    if (!have_v6)
        skip();                                /* no IPv6 loopback here */
    echo_rec_t r = { .v6 = true };
    run_one(&echo_client, &r);
    assert_int_equal(r.done, NSIZES);
    assert_int_equal(r.closed, 1);
    assert_int_equal(r.close_code, 0);
}

/* ---- many concurrent connections ------------------------------------------------------ */

typedef struct {
    unsigned n;
    uint64_t port;
    unsigned ok, failed;
} many_rec_t;

typedef struct {
    many_rec_t *r;
    acto_pid_t coord, sock;
    unsigned idx;
    size_t got;
    unsigned char msg[64];
} many_client_t;

typedef struct { many_rec_t *r; acto_pid_t coord; unsigned idx; } many_arg_t;

static int many_client_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    many_client_t *c = state;
    const many_arg_t *a = arg;
    c->r = a->r;
    c->coord = a->coord;
    c->idx = a->idx;
    fill(c->msg, sizeof c->msg, a->idx);
    char addr[64];
    port_addr(addr, sizeof addr, a->r->port);
    return acto_connect(ctx, addr, 20000, NULL, &c->sock);
}

static int many_client_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    many_client_t *c = state;
    const void *p;
    size_t n;
    int64_t code, err;
    switch (acto_msg_type(msg)) {
    case ACTO_MSG_NET_CONNECTED:
        return acto_sock_write(ctx, c->sock, c->msg, sizeof c->msg);
    case ACTO_MSG_NET_DATA:
        CHECK(acto_msg_bin(msg, &p, &n) == 0 && c->got + n <= sizeof c->msg);
        if (c->got + n > sizeof c->msg)
            return acto_sock_close(ctx, c->sock);
        CHECK(memcmp(c->msg + c->got, p, n) == 0);
        c->got += n;
        return c->got == sizeof c->msg ? acto_sock_shutdown(ctx, c->sock) : 0;
    case ACTO_MSG_NET_CLOSED:
        CHECK(scan_code(ctx, msg, &code, &err));
        if (code != 0)
            fprintf(stderr, "many: connection %u closed with %s (errno %d)\n", c->idx,
                    acto_strerror((int)code), (int)err);
        (void)acto_send_i64(ctx, c->coord, MSG_DONE,
                            code == 0 && c->got == sizeof c->msg ? 1 : 0);
        return acto_exit(ctx, ACTO_EXIT_NORMAL);
    }
    return 0;
}

static const acto_behavior_t many_client = {
    .name = "many_client", .state_size = sizeof(many_client_t),
    .init = many_client_init, .receive = many_client_receive,
};

typedef struct { many_rec_t *r; acto_pid_t listener; unsigned done; } many_coord_t;

static int many_coord_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    many_coord_t *m = state;
    m->r = (many_rec_t *)arg;
    acto_listen_opts_t lo = { .behavior = &echo_conn, .backlog = 2048 };
    return acto_listen(ctx, "127.0.0.1:0", &lo, &m->listener);
}

static int many_coord_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    many_coord_t *m = state;
    int64_t ok;
    switch (acto_msg_type(msg)) {
    case ACTO_MSG_NET_LISTENING:
        CHECK(scan_port(ctx, msg, &m->r->port));
        for (unsigned i = 0; i < m->r->n; i++) {
            many_arg_t a = { m->r, acto_self(ctx), i };
            int rc = acto_spawn(ctx, &many_client, &a, NULL);
            CHECK(rc == 0);
            if (rc)
                return acto_sock_close(ctx, m->listener);
        }
        return 0;
    case MSG_DONE:
        CHECK(acto_msg_i64(msg, &ok) == 0);
        if (ok)
            m->r->ok++;
        else
            m->r->failed++;
        if (++m->done == m->r->n)
            return acto_sock_close(ctx, m->listener);
        return 0;
    case ACTO_MSG_NET_ERROR:
        CHECK(!"many: accept error");
        return 0;
    case ACTO_MSG_NET_CLOSED:
        return acto_exit(ctx, ACTO_EXIT_NORMAL);
    }
    return 0;
}

static const acto_behavior_t many_coord = {
    .name = "many_coord", .state_size = sizeof(many_coord_t),
    .init = many_coord_init, .receive = many_coord_receive,
};

static void test_many_connections(void **state)
{
    (void)state;
    /* Two fds per connection in this process (both ends): raise the soft
     * limit to the hard one, and fit the count to it. */
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    struct rlimit old = rl;
    rl.rlim_cur = rl.rlim_max;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    unsigned n = (unsigned)tu_scale(1000, 200);
    if (rl.rlim_cur != RLIM_INFINITY && 2 * (rlim_t)n + 128 > rl.rlim_cur)
        n = (unsigned)((rl.rlim_cur - 128) / 2);
    assert_true(n >= 200);
    many_rec_t r = { .n = n };
    run_one(&many_coord, &r);
    (void)setrlimit(RLIMIT_NOFILE, &old);
    assert_int_equal(r.failed, 0);
    assert_int_equal(r.ok, n);
}

/* ---- peer reset, connect refused, connect timeout --------------------------------------- */

typedef struct {
    int mode;                  /* 0 reset, 1 refused, 2 timeout, 3 kill */
    uint64_t port;             /* refused / timeout: where to connect */
    int connected, closed, data;
    int64_t code, err;
    int peer;                  /* reset: the plain peer's fd */
} fail_rec_t;

typedef struct { fail_rec_t *r; acto_pid_t listener, sock; } fail_actor_t;

static int fail_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    fail_actor_t *f = state;
    f->r = (fail_rec_t *)arg;
    char addr[64];
    if (f->r->mode == 0 || f->r->mode == 3)   /* accepted sockets come to us */
        return acto_listen(ctx, "127.0.0.1:0", NULL, &f->listener);
    /* refused: by name, so resolution and the try-each-address loop run */
    if (f->r->mode == 1)
        snprintf(addr, sizeof addr, "localhost:%u", (unsigned)f->r->port);
    else
        port_addr(addr, sizeof addr, f->r->port);
    return acto_connect(ctx, addr, f->r->mode == 2 ? 100 : 10000, NULL, &f->sock);
}

static int fail_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    fail_actor_t *f = state;
    fail_rec_t *r = f->r;
    uint64_t port;
    int64_t code, err;
    switch (acto_msg_type(msg)) {
    case ACTO_MSG_NET_LISTENING: {          /* reset: connect, write, RST */
        CHECK(scan_port(ctx, msg, &port));
        int fd = plain_connect(port, 0);
        CHECK(fd >= 0);
        if (fd < 0)
            return acto_sock_close(ctx, f->listener);
        if (r->mode == 3) {                 /* kill: the test reads fd later */
            r->peer = fd;
            return 0;
        }
        CHECK(write(fd, "hello", 5) == 5);
        struct linger lg = { 1, 0 };
        CHECK(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
        close(fd);
        return 0;
    }
    case ACTO_MSG_NET_CONNECTED:
        r->connected++;
        if (r->mode == 3) {                 /* queue bytes, then kill: dropped */
            CHECK(acto_sock_write(ctx, acto_msg_from(msg), "abc", 3) == 0);
            return acto_kill(ctx, acto_msg_from(msg), ACTO_EXIT_KILLED);
        }
        return 0;
    case ACTO_MSG_NET_DATA:
        r->data++;
        return 0;
    case ACTO_MSG_NET_CLOSED:
        CHECK(scan_code(ctx, msg, &code, &err));
        if (acto_msg_from(msg) == f->listener)
            return acto_exit(ctx, ACTO_EXIT_NORMAL);
        r->closed++;
        r->code = code;
        r->err = err;
        if (r->mode == 0 || r->mode == 3)
            return acto_sock_close(ctx, f->listener);
        return acto_exit(ctx, ACTO_EXIT_NORMAL);
    }
    return 0;
}

static const acto_behavior_t fail_actor = {
    .name = "fail_actor", .state_size = sizeof(fail_actor_t),
    .init = fail_init, .receive = fail_receive,
};

static void test_peer_reset(void **state)
{
    (void)state;
    fail_rec_t r = { .mode = 0 };
    run_one(&fail_actor, &r);
    assert_int_equal(r.connected, 1);
    assert_int_equal(r.closed, 1);
    assert_int_equal(r.code, ACTO_ECLOSED);
    assert_int_equal(r.err, ECONNRESET);
}

static void test_kill_socket(void **state)
{
    (void)state;
    fail_rec_t r = { .mode = 3, .peer = -1 };
    run_one(&fail_actor, &r);
    assert_int_equal(r.connected, 1);
    assert_int_equal(r.closed, 1);              /* CLOSED still came, last */
    assert_int_equal(r.code, ACTO_ECLOSED);
    assert_true(r.peer >= 0);
    struct timeval tv = { 10, 0 };
    assert_int_equal(setsockopt(r.peer, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    char c[8];
    ssize_t n = recv(r.peer, c, sizeof c, 0);
    /* closed at once: end of stream, at most the bytes that raced the kill */
    assert_true(n == 0 || (n > 0 && recv(r.peer, c, sizeof c, 0) == 0));
    close(r.peer);
}

/* A port bound on 127.0.0.1 and kept bound, but not listening. */
static int bound_port(uint64_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof sa;
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static void test_connect_refused(void **state)
{
    (void)state;
    fail_rec_t r = { .mode = 1 };
    int fd = bound_port(&r.port);
    run_one(&fail_actor, &r);
    close(fd);
    assert_int_equal(r.connected, 0);
    assert_int_equal(r.closed, 1);
    assert_int_equal(r.code, ACTO_ECLOSED);
    assert_int_equal(r.err, ECONNREFUSED);
}

static void test_connect_timeout(void **state)
{
    (void)state;
    /* A listener whose accept queue is full: the kernel drops further
     * SYNs, so a connect hangs until the caller's timeout. */
    fail_rec_t r = { .mode = 2 };
    int lfd = bound_port(&r.port);
    assert_int_equal(listen(lfd, 0), 0);
    int fill[8], nfill = 0;
    struct timeval tv = { 0, 200000 };
    for (; nfill < 8; nfill++) {
        fill[nfill] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fill[nfill] >= 0);
        /* SO_SNDTIMEO bounds a blocking connect too */
        assert_int_equal(setsockopt(fill[nfill], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv), 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)r.port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        if (connect(fill[nfill], (struct sockaddr *)&sa, sizeof sa) != 0) {
            nfill++;           /* this one hangs: the queue is full */
            break;
        }
    }
    assert_true(nfill < 8 || errno == EINPROGRESS);
    run_one(&fail_actor, &r);
    for (int i = 0; i < nfill; i++)
        close(fill[i]);
    close(lfd);
    assert_int_equal(r.connected, 0);
    assert_int_equal(r.closed, 1);
    assert_int_equal(r.code, ACTO_ETIMEDOUT);
}

/* ---- framed messages: good ones both ways, malformed and oversize frames ----------------- */

enum { BAD_MALFORMED, BAD_OVERSIZE, NBAD };

typedef struct {
    acto_pid_t tester;
    int64_t bad_code[NBAD];
    int echoed, good_closed;
} frame_rec_t;

typedef struct { frame_rec_t *r; acto_pid_t sock; int64_t bad_port; } frame_conn_t;

/* Server side: echoes every decoded message back over TCP, unchanged, and
 * tells the tester how its connection ended. */
static int frame_conn_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    frame_conn_t *f = state;
    int64_t code, err;
    uint32_t type = acto_msg_type(msg);
    if (type == ACTO_MSG_NET_CONNECTED) {
        f->sock = acto_msg_from(msg);
        return 0;
    }
    if (type == ACTO_MSG_NET_PEER_CLOSED)
        return acto_sock_close(ctx, f->sock);
    if (type == ACTO_MSG_NET_CLOSED) {
        CHECK(scan_code(ctx, msg, &code, &err));
        (void)acto_send_i64(ctx, f->r->tester, MSG_BAD, code);
        return acto_exit(ctx, ACTO_EXIT_NORMAL);
    }
    if (type < ACTO_MSG_SYSTEM) {               /* a message from the peer */
        CHECK(acto_msg_from(msg) == f->sock);
        return acto_sock_send_msg(ctx, f->sock, msg);
    }
    return 0;
}

static const acto_behavior_t frame_conn = {
    .name = "frame_conn", .state_size = sizeof(frame_conn_t),
    .init = ptr_init, .receive = frame_conn_receive,
};

#define NFRAMES 6
typedef struct {
    frame_rec_t *r;
    acto_pid_t listener, sock;
    uint64_t port;
    int bad_done, sent, got;
    int bad_fd[NBAD];
    unsigned char *big;
} frame_tester_t;

/* Message i: type 100+i with a body of a different shape each time. */
static acto_msg_t *frame_msg(acto_ctx_t *ctx, int i, unsigned char *big)
{
    acto_msg_t *m;
    if (acto_msg_new(ctx, 100 + (uint32_t)i, 64, &m) != 0)
        return NULL;
    msgpack_packer pk;
    acto_msg_packer(m, &pk);
    switch (i) {
    case 0: break;                               /* empty body */
    case 1: msgpack_pack_int64(&pk, -123456789012345); break;
    case 2: msgpack_pack_str(&pk, 5); msgpack_pack_str_body(&pk, "hello", 5); break;
    case 3:
        msgpack_pack_array(&pk, 3);
        msgpack_pack_map(&pk, 1);
        msgpack_pack_uint8(&pk, 1);
        msgpack_pack_double(&pk, 2.5);
        msgpack_pack_nil(&pk);
        msgpack_pack_true(&pk);
        break;
    case 4: msgpack_pack_bin(&pk, 100000); msgpack_pack_bin_body(&pk, big, 100000); break;
    default: msgpack_pack_uint64(&pk, (uint64_t)i); break;
    }
    return m;
}

static int frame_tester_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    frame_tester_t *t = state;
    t->r = (frame_rec_t *)arg;
    t->r->tester = acto_self(ctx);
    for (int i = 0; i < NBAD; i++)
        t->bad_fd[i] = -1;
    if ((t->big = malloc(100000)) == NULL)
        return ACTO_ENOMEM;
    fill(t->big, 100000, 9);
    acto_listen_opts_t lo = { .behavior = &frame_conn, .arg = t->r,
                              .sock = { .mode = ACTO_NET_FRAMED, .max_frame = 120000 } };
    return acto_listen(ctx, "127.0.0.1:0", &lo, &t->listener);
}

static void frame_tester_terminate(acto_ctx_t *ctx, void *state, int64_t reason)
{
    (void)ctx;
    (void)reason;
    frame_tester_t *t = state;
    for (int i = 0; i < NBAD; i++)
        if (t->bad_fd[i] >= 0)
            close(t->bad_fd[i]);
    free(t->big);
}

static int frame_send_all(acto_ctx_t *ctx, frame_tester_t *t)
{
    for (int i = 0; i < NFRAMES; i++) {
        acto_msg_t *m = frame_msg(ctx, i, t->big);
        CHECK(m != NULL);
        if (!m)
            return ACTO_ENOMEM;
        int rc = acto_sock_send_msg(ctx, t->sock, m);
        acto_msg_free(ctx, m);
        CHECK(rc == 0);
        t->sent++;
    }
    return 0;
}

static int frame_tester_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    frame_tester_t *t = state;
    uint32_t type = acto_msg_type(msg);
    int64_t code, err;
    char addr[64];
    switch (type) {
    case ACTO_MSG_NET_LISTENING: {
        CHECK(scan_port(ctx, msg, &t->port));
        /* Two plain peers that send a bad frame each: 0xc1 is never valid
         * msgpack; the second frame is [1, bin 300000], over max_frame
         * (120000), of which 130000 bytes are sent. */
        t->bad_fd[BAD_MALFORMED] = plain_connect(t->port, 0);
        t->bad_fd[BAD_OVERSIZE] = plain_connect(t->port, 0);
        CHECK(t->bad_fd[0] >= 0 && t->bad_fd[1] >= 0);
        static const unsigned char garbage[] = { 0x92, 0x01, 0xc1 };
        CHECK(write(t->bad_fd[BAD_MALFORMED], garbage, sizeof garbage) == sizeof garbage);
        /* Never block this worker (the server may need it): a send buffer
         * that takes the whole 130 KB, and MSG_DONTWAIT. */
        int sb = 400000;
        CHECK(setsockopt(t->bad_fd[BAD_OVERSIZE], SOL_SOCKET, SO_SNDBUF, &sb, sizeof sb) == 0);
        unsigned char hdr[] = { 0x92, 0x01, 0xc6, 0x00, 0x04, 0x93, 0xe0 };   /* bin32 300000 */
        CHECK(send(t->bad_fd[BAD_OVERSIZE], hdr, sizeof hdr, MSG_DONTWAIT) == sizeof hdr);
        CHECK(send(t->bad_fd[BAD_OVERSIZE], t->big, 100000, MSG_DONTWAIT) == 100000);
        CHECK(send(t->bad_fd[BAD_OVERSIZE], t->big, 30000, MSG_DONTWAIT) == 30000);
        return 0;
    }
    case MSG_BAD:                     /* a server connection ended */
        CHECK(acto_msg_i64(msg, &code) == 0);
        if (t->bad_done < NBAD) {
            /* Which peer it was is not known; both codes must appear. */
            t->r->bad_code[t->bad_done++] = code;
            if (t->bad_done == NBAD) {  /* now the good connection, same listener */
                acto_sock_opts_t so = { .mode = ACTO_NET_FRAMED };
                port_addr(addr, sizeof addr, t->port);
                return acto_connect(ctx, addr, 10000, &so, &t->sock);
            }
            return 0;
        }
        t->r->good_closed++;
        CHECK(code == 0);
        return acto_sock_close(ctx, t->listener);
    case ACTO_MSG_NET_CONNECTED:
        return frame_send_all(ctx, t);
    case ACTO_MSG_NET_CLOSED:
        CHECK(scan_code(ctx, msg, &code, &err));
        CHECK(code == 0);
        if (acto_msg_from(msg) == t->listener)
            return acto_exit(ctx, ACTO_EXIT_NORMAL);
        return 0;                         /* our socket; the server's report follows */
    case ACTO_MSG_NET_ERROR:
        CHECK(!"frame: unexpected error event");
        return 0;
    }
    if (type >= 100 && type < 100 + NFRAMES) {    /* an echoed message */
        CHECK(type == 100u + (uint32_t)t->got);
        CHECK(acto_msg_from(msg) == t->sock);
        acto_msg_t *want = frame_msg(ctx, t->got, t->big);
        size_t n1, n2;
        const void *b1 = acto_msg_data(msg, &n1), *b2 = acto_msg_data(want, &n2);
        CHECK(n1 == n2 && (n1 == 0 || memcmp(b1, b2, n1) == 0));
        acto_msg_free(ctx, want);
        t->r->echoed++;
        if (++t->got == NFRAMES)
            return acto_sock_shutdown(ctx, t->sock);
    }
    return 0;
}

static const acto_behavior_t frame_tester = {
    .name = "frame_tester", .state_size = sizeof(frame_tester_t),
    .init = frame_tester_init, .receive = frame_tester_receive,
    .terminate = frame_tester_terminate,
};

static void test_framed(void **state)
{
    (void)state;
    frame_rec_t r = { 0 };
    run_one(&frame_tester, &r);
    bool saw_proto = r.bad_code[0] == ACTO_EPROTO || r.bad_code[1] == ACTO_EPROTO;
    bool saw_limit = r.bad_code[0] == ACTO_ELIMIT || r.bad_code[1] == ACTO_ELIMIT;
    assert_true(saw_proto);
    assert_true(saw_limit);
    assert_int_equal(r.echoed, NFRAMES);
    assert_int_equal(r.good_closed, 1);
}

/* ---- a slow reader: the write watermark bounds the queue ---------------------------------- */

#define SLOW_CHUNK (16u * 1024)
#define SLOW_N 640u                     /* 10 MiB offered */
#define SLOW_HIGH (64u * 1024)
#define SLOW_LOW (16u * 1024)

typedef struct {
    unsigned refused, writable, probe_errors;
    unsigned accepted;                  /* chunks, as counted at the probe */
    uint64_t bound;                     /* most bytes that may be accepted unread */
    uint64_t received;                  /* bytes the peer read */
    unsigned next_seq, bad_seq;
    int closed;
    int64_t close_code;
} slow_rec_t;

typedef struct {
    slow_rec_t *r;
    acto_pid_t listener, sock;
    int peer;
    uint64_t timer;
    size_t off;                         /* into the current chunk, peer side */
    unsigned char head[4];
    bool draining, eof;
} slow_t;

static int slow_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    slow_t *s = state;
    s->r = (slow_rec_t *)arg;
    s->peer = -1;
    acto_listen_opts_t lo = { .sock = { .high_water = SLOW_HIGH, .low_water = SLOW_LOW } };
    return acto_listen(ctx, "127.0.0.1:0", &lo, &s->listener);
}

static void slow_terminate(acto_ctx_t *ctx, void *state, int64_t reason)
{
    (void)ctx;
    (void)reason;
    slow_t *s = state;
    if (s->peer >= 0)
        close(s->peer);
}

static uint64_t wmem_max(void)
{
    unsigned long a = 0, b = 0, c = 4u << 20;
    FILE *f = fopen("/proc/sys/net/ipv4/tcp_wmem", "r");
    if (f) {
        if (fscanf(f, "%lu %lu %lu", &a, &b, &c) != 3)
            c = 4u << 20;
        fclose(f);
    }
    return c;
}

/* Peer side: read what is there; each chunk starts with its sequence
 * number, so loss, duplication or reordering shows. */
static void slow_drain(slow_t *s)
{
    unsigned char buf[65536];
    ssize_t n;
    while ((n = recv(s->peer, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
        for (ssize_t i = 0; i < n; i++, s->off++) {
            if (s->off == SLOW_CHUNK)
                s->off = 0;
            if (s->off < 4)
                s->head[s->off] = buf[i];
            if (s->off == 3) {
                unsigned seq;
                memcpy(&seq, s->head, 4);
                if (seq < s->r->next_seq)
                    s->r->bad_seq++;
                s->r->next_seq = seq + 1;
            }
        }
        s->r->received += (uint64_t)n;
    }
    if (n == 0)
        s->eof = true;
}

static int slow_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    slow_t *s = state;
    slow_rec_t *r = s->r;
    uint64_t port;
    int64_t code, err;
    switch (acto_msg_type(msg)) {
    case ACTO_MSG_NET_LISTENING: {
        CHECK(scan_port(ctx, msg, &port));
        s->peer = plain_connect(port, 4096);     /* a small window, never read (yet) */
        CHECK(s->peer >= 0);
        int rcv = 0;
        socklen_t sl = sizeof rcv;
        CHECK(getsockopt(s->peer, SOL_SOCKET, SO_RCVBUF, &rcv, &sl) == 0);
        r->bound = SLOW_HIGH + SLOW_CHUNK + wmem_max() + 2 * (uint64_t)rcv;
        return s->peer >= 0 ? 0 : acto_sock_close(ctx, s->listener);
    }
    case ACTO_MSG_NET_CONNECTED: {               /* offer 10 MiB at once */
        s->sock = acto_msg_from(msg);
        unsigned char *chunk = malloc(SLOW_CHUNK);
        CHECK(chunk != NULL);
        if (!chunk)
            return acto_sock_close(ctx, s->sock);
        fill(chunk, SLOW_CHUNK, 3);
        for (unsigned i = 0; i < SLOW_N; i++) {
            memcpy(chunk, &i, 4);
            CHECK(acto_sock_write(ctx, s->sock, chunk, SLOW_CHUNK) == 0);
        }
        free(chunk);
        /* Shut down after the queue, then a probe: its ECLOSED error comes
         * after every refusal, so the count is final when it arrives. */
        CHECK(acto_sock_shutdown(ctx, s->sock) == 0);
        return acto_sock_write(ctx, s->sock, "x", 1);
    }
    case ACTO_MSG_NET_ERROR:
        CHECK(scan_code(ctx, msg, &code, &err));
        if (code == ACTO_EAGAIN) {
            r->refused++;
            return 0;
        }
        CHECK(code == ACTO_ECLOSED);
        if (r->probe_errors++)
            return 0;
        /* Nothing was read yet: what was accepted sits in the queue or in
         * the kernel's buffers, and the watermark bounds the queue part. */
        r->accepted = SLOW_N - r->refused;
        CHECK((uint64_t)r->accepted * SLOW_CHUNK <= r->bound);
        s->draining = true;
        return acto_timer_start(ctx, 1000000, 1000000, MSG_TICK, &s->timer);
    case MSG_TICK:
        slow_drain(s);
        if (s->eof && s->timer) {
            (void)acto_timer_cancel(ctx, s->timer);
            s->timer = 0;
            close(s->peer);                      /* the socket sees our EOF */
            s->peer = -1;
        }
        return 0;
    case ACTO_MSG_NET_WRITABLE:
        r->writable++;
        return 0;
    case ACTO_MSG_NET_PEER_CLOSED:
        return 0;
    case ACTO_MSG_NET_CLOSED:
        CHECK(scan_code(ctx, msg, &code, &err));
        if (acto_msg_from(msg) == s->listener)
            return acto_exit(ctx, ACTO_EXIT_NORMAL);
        r->closed++;
        r->close_code = code;
        return acto_sock_close(ctx, s->listener);
    }
    return 0;
}

static const acto_behavior_t slow_actor = {
    .name = "slow", .state_size = sizeof(slow_t),
    .init = slow_init, .receive = slow_receive, .terminate = slow_terminate,
};

static void test_slow_reader(void **state)
{
    (void)state;
    slow_rec_t r = { 0 };
    run_one(&slow_actor, &r);
    if (getenv("NET_DEBUG"))
        fprintf(stderr, "slow: refused %u accepted %u writable %u received %lu bound %lu\n",
                r.refused, r.accepted, r.writable, (unsigned long)r.received,
                (unsigned long)r.bound);
    assert_true(r.refused > 0);                   /* the watermark kicked in */
    assert_true((uint64_t)r.accepted * SLOW_CHUNK < (uint64_t)SLOW_N * SLOW_CHUNK);
    assert_true(r.writable >= 1);                 /* and WRITABLE came after the drain */
    assert_int_equal(r.probe_errors, 1);
    /* every accepted byte arrived, in order, nothing else */
    assert_int_equal(r.received, (uint64_t)r.accepted * SLOW_CHUNK);
    assert_int_equal(r.next_seq > 0, 1);
    assert_int_equal(r.bad_seq, 0);
    assert_int_equal(r.closed, 1);
    assert_int_equal(r.close_code, 0);
}

/* ---- pausing reads: nothing delivered while paused, nothing lost -------------------------
 * The owner pauses its accepted socket, then writes "go": the socket handles
 * the pause before the write, so every byte the peer sends after reading
 * "go" arrives after the pause.  The peer writes until its buffers are full
 * (only possible if the socket stopped reading), the owner resumes, and the
 * whole stream must then arrive, in order, followed by PEER_CLOSED. */
#define PAUSE_CAP (64u << 20)          /* the peer gives up here: pause broken */

typedef struct {
    uint64_t written, received, early;  /* early: DATA bytes while paused */
    unsigned mismatches;
    int full, peer_closed, closed;
} pause_rec_t;

typedef struct {
    pause_rec_t *r;
    acto_pid_t listener, sock;
    int peer, phase;                    /* 0 wait "go", 1 write, 2 resumed */
    int quiet;                          /* ticks in a row nothing went out */
    uint64_t timer;
} pause_t;

static unsigned char pause_byte(uint64_t i) { return (unsigned char)(i % 253); }

static int pause_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    pause_t *p = state;
    p->r = (pause_rec_t *)arg;
    p->peer = -1;
    return acto_listen(ctx, "127.0.0.1:0", NULL, &p->listener);
}

static void pause_terminate(acto_ctx_t *ctx, void *state, int64_t reason)
{
    (void)ctx;
    (void)reason;
    pause_t *p = state;
    if (p->peer >= 0)
        close(p->peer);
}

/* Peer side, on each tick: wait for "go", then write until the buffers
 * stay full: PAUSE_QUIET ticks in a row in which not one byte went out.
 * A socket that kept reading would drain them (and its DATA would reach
 * us while still paused); one that is paused never does. */
#define PAUSE_QUIET 10

static int pause_tick(acto_ctx_t *ctx, pause_t *p)
{
    pause_rec_t *r = p->r;
    if (p->phase == 0) {
        char go[2];
        if (recv(p->peer, go, sizeof go, MSG_DONTWAIT | MSG_PEEK) < 2)
            return 0;
        CHECK(recv(p->peer, go, 2, 0) == 2 && memcmp(go, "go", 2) == 0);
        p->phase = 1;
    }
    if (p->phase != 1)
        return 0;
    unsigned char buf[8192];
    bool sent = false;
    while (r->written < PAUSE_CAP) {
        for (size_t i = 0; i < sizeof buf; i++)
            buf[i] = pause_byte(r->written + i);
        ssize_t n = send(p->peer, buf, sizeof buf, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        CHECK(n > 0);
        if (n <= 0)
            break;
        r->written += (uint64_t)n;
        sent = true;
    }
    p->quiet = sent ? 0 : p->quiet + 1;
    if (p->quiet < PAUSE_QUIET && r->written < PAUSE_CAP)
        return 0;
    r->full = r->written < PAUSE_CAP;
    p->phase = 2;                       /* resume, then end of stream */
    (void)acto_timer_cancel(ctx, p->timer);
    p->timer = 0;
    CHECK(shutdown(p->peer, SHUT_WR) == 0);
    return acto_sock_resume_read(ctx, p->sock);
}

static int pause_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    pause_t *p = state;
    pause_rec_t *r = p->r;
    uint64_t port;
    const void *d;
    size_t n;
    switch (acto_msg_type(msg)) {
    case ACTO_MSG_NET_LISTENING:
        CHECK(scan_port(ctx, msg, &port));
        p->peer = plain_connect(port, 0);
        CHECK(p->peer >= 0);
        return p->peer >= 0 ? 0 : acto_sock_close(ctx, p->listener);
    case ACTO_MSG_NET_CONNECTED:
        p->sock = acto_msg_from(msg);
        CHECK(acto_sock_pause_read(ctx, p->sock) == 0);
        CHECK(acto_sock_pause_read(ctx, p->sock) == 0);   /* idempotent */
        CHECK(acto_sock_write(ctx, p->sock, "go", 2) == 0);
        return acto_timer_start(ctx, 1000000, 1000000, MSG_TICK, &p->timer);
    case MSG_TICK:
        return pause_tick(ctx, p);
    case ACTO_MSG_NET_DATA:
        CHECK(acto_msg_bin(msg, &d, &n) == 0);
        if (p->phase < 2)
            r->early += n;
        for (size_t i = 0; i < n; i++)
            if (((const unsigned char *)d)[i] != pause_byte(r->received + i))
                r->mismatches++;
        r->received += n;
        return 0;
    case ACTO_MSG_NET_PEER_CLOSED:
        r->peer_closed++;
        CHECK(r->received == r->written);   /* PEER_CLOSED after every byte */
        return acto_sock_close(ctx, p->sock);
    case ACTO_MSG_NET_CLOSED:
        if (acto_msg_from(msg) == p->listener)
            return acto_exit(ctx, ACTO_EXIT_NORMAL);
        r->closed++;
        return acto_sock_close(ctx, p->listener);
    }
    return 0;
}

static const acto_behavior_t pause_actor = {
    .name = "pause", .state_size = sizeof(pause_t),
    .init = pause_init, .receive = pause_receive, .terminate = pause_terminate,
};

static void test_pause_read(void **state)
{
    (void)state;
    pause_rec_t r = { 0 };
    run_one(&pause_actor, &r);
    if (getenv("NET_DEBUG"))
        fprintf(stderr, "pause: written %lu received %lu early %lu\n",
                (unsigned long)r.written, (unsigned long)r.received, (unsigned long)r.early);
    assert_int_equal(r.full, 1);        /* reading really stopped */
    assert_int_equal(r.early, 0);       /* nothing delivered while paused */
    assert_true(r.written > 0);
    assert_int_equal(r.received, r.written);
    assert_int_equal(r.mismatches, 0);
    assert_int_equal(r.peer_closed, 1);
    assert_int_equal(r.closed, 1);
}

/* ---- EMFILE on accept: reported, and accepting resumes ------------------------------------ */

#define BALLAST_MAX 4096

typedef struct {
    rlim_t limit;
    int emfile, connected, closed;
    int ballast[BALLAST_MAX];
    int nballast, client;
} emfile_rec_t;

typedef struct { emfile_rec_t *r; acto_pid_t listener, sock; } emfile_t;

static int emfile_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    emfile_t *e = state;
    e->r = (emfile_rec_t *)arg;
    return acto_listen(ctx, "127.0.0.1:0", NULL, &e->listener);
}

static void ballast_free(emfile_rec_t *r, int keep)
{
    while (r->nballast > keep)
        close(r->ballast[--r->nballast]);
}

static int emfile_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    emfile_t *e = state;
    emfile_rec_t *r = e->r;
    uint64_t port;
    int64_t code, err;
    switch (acto_msg_type(msg)) {
    case ACTO_MSG_NET_LISTENING: {
        CHECK(scan_port(ctx, msg, &port));
        /* Fill the descriptor table, then trade one slot for a client
         * socket: the server's accept has no descriptor left. */
        int fd;
        while (r->nballast < BALLAST_MAX && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
            r->ballast[r->nballast++] = fd;
        CHECK(r->nballast < BALLAST_MAX && errno == EMFILE);
        ballast_free(r, r->nballast - 1);
        r->client = plain_connect(port, 0);
        CHECK(r->client >= 0);
        return r->client >= 0 ? 0 : acto_sock_close(ctx, e->listener);
    }
    case ACTO_MSG_NET_ERROR:
        CHECK(acto_msg_from(msg) == e->listener);
        CHECK(scan_code(ctx, msg, &code, &err));
        CHECK(code == ACTO_ESYS && err == EMFILE);
        if (r->emfile++ == 0)
            ballast_free(r, r->nballast - 4);   /* room again: accept must resume */
        return 0;
    case ACTO_MSG_NET_CONNECTED:
        r->connected++;
        e->sock = acto_msg_from(msg);
        ballast_free(r, 0);
        close(r->client);
        r->client = -1;
        return 0;
    case ACTO_MSG_NET_PEER_CLOSED:
        return acto_sock_close(ctx, e->sock);
    case ACTO_MSG_NET_CLOSED:
        if (acto_msg_from(msg) == e->listener)
            return acto_exit(ctx, ACTO_EXIT_NORMAL);
        r->closed++;
        return acto_sock_close(ctx, e->listener);
    }
    return 0;
}

static const acto_behavior_t emfile_actor = {
    .name = "emfile", .state_size = sizeof(emfile_t),
    .init = emfile_init, .receive = emfile_receive,
};

static void test_listener_emfile(void **state)
{
    (void)state;
    struct rlimit old, rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    emfile_rec_t *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->client = -1;
    /* One worker: the table is filled from an actor, i.e. once that
     * worker's proactor exists; a second worker could still be starting
     * and need a descriptor for its ring or epoll set. */
    acto_runtime_t *rt = tu_runtime(1);
    rl = old;
    rl.rlim_cur = 256;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    assert_int_equal(acto_spawn(acto_root(rt), &emfile_actor, r, NULL), 0);
    tu_run(rt);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    ballast_free(r, 0);
    if (r->client >= 0)
        close(r->client);
    assert_int_equal(tu_stats(rt).live, 0);
    acto_runtime_free(rt);
    assert_int_equal(LOAD(&g_fail), 0);
    if (getenv("NET_DEBUG"))
        fprintf(stderr, "emfile: errors %d, ballast %d\n", r->emfile, r->nballast);
    assert_true(r->emfile >= 1);
    assert_int_equal(r->connected, 1);
    assert_int_equal(r->closed, 1);
    free(r);
}

/* ---- the owner's death closes its sockets and listener ------------------------------------- */

typedef struct { int client; int connected; } death_rec_t;
typedef struct { death_rec_t *r; acto_pid_t listener; } death_t;

static int death_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    death_t *d = state;
    d->r = (death_rec_t *)arg;
    return acto_listen(ctx, "127.0.0.1:0", NULL, &d->listener);
}

static int death_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    death_t *d = state;
    uint64_t port;
    switch (acto_msg_type(msg)) {
    case ACTO_MSG_NET_LISTENING:
        CHECK(scan_port(ctx, msg, &port));
        d->r->client = plain_connect(port, 0);
        CHECK(d->r->client >= 0);
        return 0;
    case ACTO_MSG_NET_CONNECTED:       /* die holding a socket and a listener */
        d->r->connected++;
        return acto_exit(ctx, 7);
    }
    return 0;
}

static const acto_behavior_t death_actor = {
    .name = "death", .state_size = sizeof(death_t),
    .init = death_init, .receive = death_receive,
};

static void test_owner_death(void **state)
{
    (void)state;
    death_rec_t r = { .client = -1 };
    /* run returns only once nothing is pending: the listener's accept and
     * the socket's receive were closed. */
    run_one(&death_actor, &r);
    assert_int_equal(r.connected, 1);
    assert_true(r.client >= 0);
    struct timeval tv = { 10, 0 };
    assert_int_equal(setsockopt(r.client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    char c;
    assert_int_equal(recv(r.client, &c, 1, 0), 0);   /* end of stream: closed */
    close(r.client);
}

/* ---- argument errors -------------------------------------------------------------------- */

static void test_errors(void **state)
{
    (void)state;
    acto_runtime_t *rt = tu_runtime(1);
    acto_ctx_t *root = acto_root(rt);
    acto_pid_t pid = 0;
    acto_listen_opts_t lo = { .behavior = &echo_conn };
    assert_int_equal(acto_listen(root, "nonsense", &lo, &pid), ACTO_EINVAL);
    assert_int_equal(acto_listen(root, "127.0.0.1:99999", &lo, &pid), ACTO_EINVAL);
    assert_int_equal(acto_listen(root, "127.0.0.1:0", NULL, &pid), ACTO_EINVAL);  /* no owner */
    lo.sock.mode = 7;
    assert_int_equal(acto_listen(root, "127.0.0.1:0", &lo, &pid), ACTO_EINVAL);
    lo.sock = (acto_sock_opts_t){ .high_water = 10, .low_water = 20 };
    assert_int_equal(acto_listen(root, "127.0.0.1:0", &lo, &pid), ACTO_EINVAL);
    lo.sock = (acto_sock_opts_t){ 0 };
    lo.backlog = -1;
    assert_int_equal(acto_listen(root, "127.0.0.1:0", &lo, &pid), ACTO_EINVAL);
    lo.backlog = 0;
    /* address in use: a plain listener holds the port */
    uint64_t port;
    int fd = bound_port(&port);
    assert_int_equal(listen(fd, 1), 0);
    char addr[64];
    port_addr(addr, sizeof addr, port);
    assert_int_equal(acto_listen(root, addr, &lo, &pid), ACTO_ESYS);
    close(fd);
    assert_int_equal(pid, 0);
    acto_sock_opts_t so = { .owner = 12345 };
    assert_int_equal(acto_connect(root, "1.2.3:80", 0, &so, &pid), ACTO_EINVAL);
    assert_int_equal(acto_connect(root, "127.0.0.1:80", 0, NULL, &pid), ACTO_EINVAL); /* no owner */
    assert_int_equal(acto_sock_send(root, 1, ACTO_MSG_SYSTEM, NULL, 0), ACTO_EINVAL);
    assert_int_equal(acto_sock_write(root, 1, NULL, 3), ACTO_EINVAL);
    assert_int_equal(acto_sock_write(root, 1, "x", 1), ACTO_ENOACTOR);
    assert_int_equal(acto_sock_close(root, 1), ACTO_ENOACTOR);
    assert_int_equal(acto_sock_pause_read(root, 1), ACTO_ENOACTOR);
    assert_int_equal(acto_sock_resume_read(NULL, 1), ACTO_EINVAL);
    tu_run(rt);
    assert_int_equal(tu_stats(rt).live, 0);
    acto_runtime_free(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_errors, setup),
        cmocka_unit_test_setup(test_echo_sizes, setup),
        cmocka_unit_test_setup(test_echo_ipv6, setup),
        cmocka_unit_test_setup(test_many_connections, setup),
        cmocka_unit_test_setup(test_peer_reset, setup),
        cmocka_unit_test_setup(test_kill_socket, setup),
        cmocka_unit_test_setup(test_connect_refused, setup),
        cmocka_unit_test_setup(test_connect_timeout, setup),
        cmocka_unit_test_setup(test_framed, setup),
        cmocka_unit_test_setup(test_slow_reader, setup),
        cmocka_unit_test_setup(test_pause_read, setup),
        cmocka_unit_test_setup(test_listener_emfile, setup),
        cmocka_unit_test_setup(test_owner_death, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
