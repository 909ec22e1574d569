/* tests/test_netspread.c - a listener spreads its connections over the
 * workers, and many idle connections closed at once leave nothing behind.
 *
 * The connections' files are counted per proactor (px->nfds, white-box):
 * a listener binds each accepted socket to the worker with the fewest
 * files (px_pick_worker), so after N connections the counts differ by at
 * most one and every worker has some.  Then every client closes at once:
 * every socket reports CLOSED, every file is freed, no actor is left, and
 * ASan's leak check covers the rest.
 *
 * Registered once per backend (tests/CMakeLists.txt).  Loopback only.  The
 * clients are plain blocking sockets on the test's thread while the
 * runtime runs on another. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "proactor_impl.h"

enum { MSG_GO = 1 };

typedef struct {
    acto_runtime_t *rt;
    acto_pid_t server, listener;
    uint32_t port;         /* atomic: set when listening */
    uint32_t closed;       /* atomic: sockets that reported CLOSED */
} spread_t;

/* One connection: echo, close on end of stream, count CLOSED. */
typedef struct { spread_t *t; } conn_t;

static int conn_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    (void)ctx;
    ((conn_t *)state)->t = (spread_t *)arg;
    return 0;
}

static int conn_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    conn_t *c = state;
    const void *p;
    size_t n;
    switch (acto_msg_type(msg)) {
    case ACTO_MSG_NET_DATA:
        CHECK(acto_msg_bin(msg, &p, &n) == 0);
        CHECK(acto_sock_write(ctx, acto_msg_from(msg), p, n) == 0);
        return 0;
    case ACTO_MSG_NET_PEER_CLOSED:
        return acto_sock_close(ctx, acto_msg_from(msg));
    case ACTO_MSG_NET_CLOSED:
        ADD(&c->t->closed, 1);
        return acto_exit(ctx, ACTO_EXIT_NORMAL);
    }
    return 0;
}

static const acto_behavior_t conn_beh = {
    .name = "conn", .state_size = sizeof(conn_t), .init = conn_init, .receive = conn_receive,
};

/* Owns the listener: reports its port, closes it on MSG_GO. */
static int server_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    spread_t *t = (spread_t *)arg;
    memcpy(state, &t, sizeof t);
    acto_listen_opts_t lo = { .behavior = &conn_beh, .arg = t };
    return acto_listen(ctx, "127.0.0.1:0", &lo, &t->listener);
}

static int server_receive(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    spread_t *t;
    memcpy(&t, state, sizeof t);
    const char *a;
    size_t alen;
    uint64_t port;
    switch (acto_msg_type(msg)) {
    case ACTO_MSG_NET_LISTENING:
        CHECK(acto_msg_scan(ctx, msg, "[su]", &a, &alen, &port) == 0);
        STORE(&t->port, (uint32_t)port);
        return 0;
    case MSG_GO:
        return acto_sock_close(ctx, t->listener);
    case ACTO_MSG_NET_CLOSED:
        return acto_exit(ctx, ACTO_EXIT_NORMAL);
    }
    return 0;
}

static const acto_behavior_t server_beh = {
    .name = "server", .state_size = sizeof(void *), .init = server_init,
    .receive = server_receive,
};

static void *runner(void *arg)
{
    CHECK(acto_runtime_run(arg) == 0);
    return NULL;
}

/* Wait (bounded: 30 s) until *word reaches want. */
static int wait_for(uint32_t *word, uint32_t want)
{
    for (int i = 0; i < 30000 && LOAD(word) < want; i++)
        usleep(1000);
    return LOAD(word) >= want;
}

static uint32_t nfds_sum(acto_runtime_t *rt, uint32_t *lo, uint32_t *hi)
{
    uint32_t sum = 0;
    *lo = UINT32_MAX;
    *hi = 0;
    for (unsigned i = 0; i < rt->nworkers; i++) {
        uint32_t n = at_load_u32(&rt->workers[i].px->nfds);
        sum += n;
        *lo = n < *lo ? n : *lo;
        *hi = n > *hi ? n : *hi;
    }
    return sum;
}

static int client(uint32_t port, unsigned i)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        return -1;
    char out[16], in[16];
    for (size_t k = 0; k < sizeof out; k++)
        out[k] = (char)(i * 31 + k);
    size_t got = 0;
    if (write(fd, out, sizeof out) != (ssize_t)sizeof out)
        return -1;
    while (got < sizeof in) {     /* served: its socket is open */
        ssize_t r = read(fd, in + got, sizeof in - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return memcmp(in, out, sizeof in) == 0 ? fd : -1;
}

/* Each connection takes two descriptors here (client and server side):
 * raise the soft limit to the hard one and stay under it. */
static unsigned fit_fds(unsigned nconn)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return nconn;
    rl.rlim_cur = rl.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &rl);
    (void)getrlimit(RLIMIT_NOFILE, &rl);
    rlim_t room = rl.rlim_cur > 128 ? (rl.rlim_cur - 128) / 2 : 8;
    return nconn < room ? nconn : (unsigned)room;
}

static void spread_run(unsigned workers, unsigned nconn)
{
    nconn = fit_fds(nconn);
    spread_t t = { 0 };
    t.rt = tu_runtime(workers);
    acto_runtime_ref(t.rt);        /* run until the test lets go */
    assert_int_equal(acto_spawn(acto_root(t.rt), &server_beh, &t, &t.server), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, runner, t.rt), 0);
    assert_true(wait_for(&t.port, 1));
    int *fds = calloc(nconn, sizeof *fds);
    assert_non_null(fds);
    for (unsigned i = 0; i < nconn; i++) {
        fds[i] = client(LOAD(&t.port), i);
        CHECK(fds[i] >= 0);
    }
    /* Every socket and the listener are bound; each pick took the worker
     * with the fewest files, so they differ by at most one. */
    uint32_t lo, hi, sum = nfds_sum(t.rt, &lo, &hi);
    CHECK(sum == nconn + 1);
    if (hi - lo > 1)
        fprintf(stderr, "files per proactor: %u .. %u of %u\n", lo, hi, sum);
    CHECK(hi - lo <= 1);
    CHECK(lo > 0);
    for (unsigned i = 0; i < nconn; i++)   /* all at once */
        if (fds[i] >= 0)
            close(fds[i]);
    CHECK(wait_for(&t.closed, nconn));
    for (int i = 0; i < 30000 && nfds_sum(t.rt, &lo, &hi) > 1; i++)
        usleep(1000);              /* a file goes when its last op is done */
    CHECK(nfds_sum(t.rt, &lo, &hi) == 1);   /* the listener's */
    CHECK(acto_send_empty(acto_root(t.rt), t.server, MSG_GO) == 0);
    acto_runtime_unref(t.rt);
    pthread_join(th, NULL);
    acto_stats_t st = tu_stats(t.rt);
    assert_int_equal(st.live, 0);
    acto_runtime_free(t.rt);
    free(fds);
    NO_FAILURES();
}

static void test_spread_two_workers(void **state)
{
    (void)state;
    spread_run(2, (unsigned)tu_scale(1000, 100));
}

static void test_spread_three_workers(void **state)
{
    (void)state;
    spread_run(3, (unsigned)tu_scale(300, 60));
}

static void test_one_worker(void **state)
{
    (void)state;
    spread_run(1, (unsigned)tu_scale(300, 60));
}

static int setup(void **state)
{
    (void)state;
    STORE(&g_fail, 0);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_spread_two_workers, setup),
        cmocka_unit_test_setup(test_spread_three_workers, setup),
        cmocka_unit_test_setup(test_one_worker, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
