/* tests/test_monitor.c - monitors and links.
 *
 * Puppet actors execute commands [cmd, pid, arg] sent to them, and record
 * what happens to them (DOWN and EXIT messages received, the reason they
 * terminated with) in an event log.  Commands that must be ordered with
 * respect to a puppet's own link/monitor requests go through that puppet
 * (one sender to one receiver is FIFO), e.g. "link B, then tell B to
 * exit".  Each scenario runs to quiescence, so "X did not happen" is
 * meaningful: nothing is left to happen. */
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "testutil.h"

enum { MSG_CMD = 1, MSG_USER };
enum {
    CMD_EXIT = 1,      /* acto_exit(arg) */
    CMD_LINK,          /* acto_link(pid); records the return code */
    CMD_UNLINK,
    CMD_MONITOR,       /* acto_monitor(pid); refs kept in order */
    CMD_DEMONITOR,     /* acto_demonitor(pid, refs[arg]) */
    CMD_TRAP,          /* acto_trap_exit(arg) */
    CMD_TELL_EXIT,     /* send CMD_EXIT(arg) to pid */
    CMD_KILL,          /* acto_kill(pid, arg) */
    CMD_FAIL,          /* return a negative code from receive */
};

enum { EV_DOWN = 1, EV_EXIT, EV_TERM, EV_RC };

typedef struct {
    int kind;
    int who;              /* puppet id */
    acto_pid_t pid;       /* DOWN/EXIT: the pid in the body; RC: command */
    int64_t reason;       /* reason, or return code for EV_RC */
    uint64_t ref;
    acto_pid_t from;
} event_t;

#define MAX_EVENTS 256
static event_t events[MAX_EVENTS];
static unsigned nevents;
static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;

static void record(event_t e)
{
    pthread_mutex_lock(&ev_lock);
    if (nevents < MAX_EVENTS)
        events[nevents++] = e;
    pthread_mutex_unlock(&ev_lock);
}

/* Number of events matching kind and who (who < 0: any). */
static unsigned count_ev(int kind, int who)
{
    unsigned n = 0;
    for (unsigned i = 0; i < nevents; i++)
        n += events[i].kind == kind && (who < 0 || events[i].who == who);
    return n;
}

/* The n-th (from 0) event matching kind and who, or NULL. */
static const event_t *nth_ev(int kind, int who, unsigned n)
{
    for (unsigned i = 0; i < nevents; i++)
        if (events[i].kind == kind && events[i].who == who && n-- == 0)
            return &events[i];
    return NULL;
}

static const event_t *find_ev(int kind, int who)
{
    return nth_ev(kind, who, 0);
}

typedef struct {
    int id;
    uint64_t refs[4];
    unsigned nrefs;
} puppet_t;

static int puppet_init(acto_ctx_t *ctx, void *state, const void *arg)
{
    (void)ctx;
    ((puppet_t *)state)->id = *(const int *)arg;
    return 0;
}

static int puppet_cmd(acto_ctx_t *ctx, puppet_t *p, int64_t cmd, acto_pid_t pid, int64_t arg)
{
    int rc = 0;
    switch (cmd) {
    case CMD_EXIT: return acto_exit(ctx, arg);
    case CMD_LINK: rc = acto_link(ctx, pid); break;
    case CMD_UNLINK: rc = acto_unlink(ctx, pid); break;
    case CMD_MONITOR:
        if (p->nrefs == 4)
            return -1;
        rc = acto_monitor(ctx, pid, &p->refs[p->nrefs]);
        record((event_t){ EV_RC, p->id, (acto_pid_t)cmd, rc, p->refs[p->nrefs++], 0 });
        return 0;
    case CMD_DEMONITOR: rc = acto_demonitor(ctx, pid, p->refs[arg]); break;
    case CMD_TRAP: rc = acto_trap_exit(ctx, (int)arg); break;
    case CMD_TELL_EXIT: rc = acto_send_fmt(ctx, pid, MSG_CMD, "[ipi]", (int64_t)CMD_EXIT,
                                           (acto_pid_t)0, arg); break;
    case CMD_KILL: rc = acto_kill(ctx, pid, arg); break;
    case CMD_FAIL: return ACTO_EINVAL;
    }
    record((event_t){ EV_RC, p->id, (acto_pid_t)cmd, rc, 0, 0 });
    return 0;
}

static int puppet_recv(acto_ctx_t *ctx, void *state, const acto_msg_t *msg)
{
    puppet_t *p = state;
    int64_t cmd, arg, reason;
    acto_pid_t pid;
    uint64_t ref;
    switch (acto_msg_type(msg)) {
    case MSG_CMD:
        if (acto_msg_scan(ctx, msg, "[ipi]", &cmd, &pid, &arg) != 0)
            return -1;
        return puppet_cmd(ctx, p, cmd, pid, arg);
    case ACTO_MSG_DOWN:
        if (acto_msg_scan(ctx, msg, "[piu]", &pid, &reason, &ref) != 0)
            return -1;
        record((event_t){ EV_DOWN, p->id, pid, reason, ref, acto_msg_from(msg) });
        return 0;
    case ACTO_MSG_EXIT:
        if (acto_msg_scan(ctx, msg, "[pi]", &pid, &reason) != 0)
            return -1;
        record((event_t){ EV_EXIT, p->id, pid, reason, 0, acto_msg_from(msg) });
        return 0;
    default:
        return 0;
    }
}

static void puppet_terminate(acto_ctx_t *ctx, void *state, int64_t reason)
{
    (void)ctx;
    record((event_t){ EV_TERM, ((puppet_t *)state)->id, 0, reason, 0, 0 });
}

static const acto_behavior_t puppet = {
    .name = "puppet", .state_size = sizeof(puppet_t), .init = puppet_init,
    .receive = puppet_recv, .terminate = puppet_terminate };

/* ---- scenario plumbing ---------------------------------------------------------- */

static acto_runtime_t *rt;
static acto_ctx_t *root;

static int setup(void **state)
{
    (void)state;
    nevents = 0;
    memset(events, 0, sizeof events);
    rt = tu_runtime(2);
    root = acto_root(rt);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    acto_runtime_free(rt);
    return 0;
}

static acto_pid_t spawn_puppet(int id)
{
    acto_pid_t p = 0;
    assert_int_equal(acto_spawn(root, &puppet, &id, &p), 0);
    return p;
}

static void cmd(acto_pid_t to, int64_t c, acto_pid_t pid, int64_t arg)
{
    assert_int_equal(acto_send_fmt(root, to, MSG_CMD, "[ipi]", c, pid, arg), 0);
}

/* The reason puppet `who` terminated with; -1 if it has not. */
static int64_t term_reason(int who)
{
    const event_t *e = find_ev(EV_TERM, who);
    return e ? e->reason : -1;
}

/* Free the runtime now (survivors terminate with SHUTDOWN); the teardown
 * then has nothing to free. */
static void shutdown_now(void)
{
    acto_runtime_free(rt);
    rt = tu_runtime(1);
}

/* ---- monitors ----------------------------------------------------------------------- */

static void test_monitor_down_with_reason(void **state)
{
    (void)state;
    acto_pid_t a = spawn_puppet(1), b = spawn_puppet(2);
    cmd(a, CMD_MONITOR, b, 0);
    cmd(a, CMD_MONITOR, b, 0);           /* two monitors, two DOWNs */
    cmd(a, CMD_TELL_EXIT, b, 42);
    tu_run(rt);
    assert_int_equal(term_reason(2), 42);
    assert_int_equal(count_ev(EV_DOWN, 1), 2);
    uint64_t r0 = nth_ev(EV_RC, 1, 0)->ref, r1 = nth_ev(EV_RC, 1, 1)->ref;
    uint64_t refs[2];
    unsigned k = 0;
    for (unsigned i = 0; i < nevents; i++) {
        const event_t *e = &events[i];
        if (e->kind != EV_DOWN)
            continue;
        assert_true(e->pid == b);
        assert_true(e->from == b);
        assert_int_equal(e->reason, 42);
        refs[k++] = e->ref;
    }
    assert_true(refs[0] != 0 && refs[1] != 0 && refs[0] != refs[1]);
    assert_true((refs[0] == r0 && refs[1] == r1) || (refs[0] == r1 && refs[1] == r0));
    assert_int_equal(term_reason(1), -1);     /* a monitor does not kill */
    shutdown_now();
    assert_int_equal(term_reason(1), ACTO_EXIT_SHUTDOWN);
}

/* The first monitor record lives inline in the ext block, the rest in an
 * array that grows (1 -> 4 -> 8 -> 16): every one of them gets its DOWN,
 * each with its own ref. */
static void test_many_monitors(void **state)
{
    (void)state;
    enum { N = 9 };                    /* three watchers, three each */
    acto_pid_t b = spawn_puppet(2), w[3] = { spawn_puppet(1), spawn_puppet(3), spawn_puppet(4) };
    for (int i = 0; i < N; i++)
        cmd(w[i % 3], CMD_MONITOR, b, 0);
    tu_run(rt);                        /* all nine are in place */
    cmd(w[0], CMD_TELL_EXIT, b, 7);
    tu_run(rt);
    assert_int_equal(count_ev(EV_DOWN, -1), N);
    uint64_t refs[N];
    unsigned k = 0;
    for (unsigned i = 0; i < nevents; i++)
        if (events[i].kind == EV_DOWN) {
            assert_int_equal(events[i].reason, 7);
            refs[k++] = events[i].ref;
        }
    for (unsigned i = 0; i < N; i++)
        for (unsigned j = i + 1; j < N; j++)
            assert_true(refs[i] != refs[j]);
    shutdown_now();
}

static void test_monitor_dead_is_noproc(void **state)
{
    (void)state;
    acto_pid_t a = spawn_puppet(1), b = spawn_puppet(2);
    cmd(b, CMD_EXIT, 0, ACTO_EXIT_NORMAL);
    tu_run(rt);
    assert_int_equal(term_reason(2), ACTO_EXIT_NORMAL);
    cmd(a, CMD_MONITOR, b, 0);                               /* dead */
    cmd(a, CMD_MONITOR, ((acto_pid_t)5 << ACTO_PID_SLOT_BITS) | 4000, 0);  /* never was */
    tu_run(rt);
    assert_int_equal(count_ev(EV_DOWN, 1), 2);
    assert_int_equal(count_ev(EV_RC, 1), 2);
    for (unsigned i = 0; i < nevents; i++) {
        if (events[i].kind == EV_RC)
            assert_int_equal(events[i].reason, 0);       /* monitor itself succeeds */
        if (events[i].kind == EV_DOWN)
            assert_int_equal(events[i].reason, ACTO_EXIT_NOPROC);
    }
    assert_int_equal(tu_stats(rt).dead_letters, 0);    /* answered, not lost */
}

/* The monitor request reaches b's mailbox behind the message that makes
 * b exit: the cleanup of b's mailbox must answer it with NOPROC. */
static void test_monitor_request_behind_exit(void **state)
{
    (void)state;
    acto_pid_t a = spawn_puppet(1), b = spawn_puppet(2);
    cmd(a, CMD_TELL_EXIT, b, 9);
    cmd(a, CMD_MONITOR, b, 0);
    tu_run(rt);
    assert_int_equal(term_reason(2), 9);
    assert_int_equal(count_ev(EV_DOWN, 1), 1);
    const event_t *e = find_ev(EV_DOWN, 1);
    assert_true(e->pid == b);
    assert_int_equal(e->reason, ACTO_EXIT_NOPROC);
}

static void test_demonitor(void **state)
{
    (void)state;
    acto_pid_t a = spawn_puppet(1), b = spawn_puppet(2);
    cmd(a, CMD_MONITOR, b, 0);           /* refs[0]: removed below */
    cmd(a, CMD_MONITOR, b, 0);           /* refs[1]: stays, the control */
    cmd(a, CMD_DEMONITOR, b, 0);
    cmd(a, CMD_TELL_EXIT, b, 5);
    tu_run(rt);
    assert_int_equal(term_reason(2), 5);
    assert_int_equal(count_ev(EV_DOWN, 1), 1);
    /* the one that fired is the second monitor */
    const event_t *e = find_ev(EV_DOWN, 1);
    assert_int_equal(e->reason, 5);
    const event_t *m1 = nth_ev(EV_RC, 1, 0), *m2 = nth_ev(EV_RC, 1, 1);
    assert_true(m1->pid == CMD_MONITOR && m2->pid == CMD_MONITOR);
    assert_true(m1->ref != m2->ref);
    assert_true(e->ref == m2->ref);
    /* demonitor of a dead actor is fine and a no-op */
    cmd(a, CMD_DEMONITOR, b, 1);
    tu_run(rt);
    assert_int_equal(count_ev(EV_DOWN, 1), 1);
    for (unsigned i = 0; i < nevents; i++)
        if (events[i].kind == EV_RC)
            assert_int_equal(events[i].reason, 0);
}

/* ---- links ------------------------------------------------------------------------- */

static void test_link_propagates_both_ways(void **state)
{
    (void)state;
    /* b exits abnormally -> a (linked by a) dies with the same reason */
    acto_pid_t a = spawn_puppet(1), b = spawn_puppet(2);
    cmd(a, CMD_LINK, b, 0);
    cmd(a, CMD_TELL_EXIT, b, 7);
    /* c links d, then c exits abnormally -> d dies too */
    acto_pid_t c = spawn_puppet(3), d = spawn_puppet(4);
    cmd(c, CMD_LINK, d, 0);
    cmd(c, CMD_EXIT, 0, 8);
    /* a chain e - f - g: g dies, all die */
    acto_pid_t e = spawn_puppet(5), f = spawn_puppet(6), g = spawn_puppet(7);
    cmd(e, CMD_LINK, f, 0);
    cmd(f, CMD_LINK, g, 0);
    /* Both links must be made before g dies: e's link request and f's
     * exit travel from different senders, so nothing else orders them. */
    tu_run(rt);
    cmd(f, CMD_TELL_EXIT, g, 11);
    (void)d;
    tu_run(rt);
    assert_int_equal(term_reason(2), 7);
    assert_int_equal(term_reason(1), 7);
    assert_int_equal(term_reason(3), 8);
    assert_int_equal(term_reason(4), 8);
    assert_int_equal(term_reason(7), 11);
    assert_int_equal(term_reason(6), 11);
    assert_int_equal(term_reason(5), 11);
    assert_int_equal(tu_stats(rt).live, 0);
    (void)a; (void)e;
}

static void test_link_normal_exit_does_not_propagate(void **state)
{
    (void)state;
    acto_pid_t a = spawn_puppet(1), b = spawn_puppet(2);
    cmd(a, CMD_LINK, b, 0);
    cmd(a, CMD_TELL_EXIT, b, ACTO_EXIT_NORMAL);
    acto_pid_t c = spawn_puppet(3), d = spawn_puppet(4);
    cmd(c, CMD_LINK, d, 0);
    cmd(c, CMD_EXIT, 0, ACTO_EXIT_NORMAL);
    (void)d;
    tu_run(rt);
    assert_int_equal(term_reason(2), ACTO_EXIT_NORMAL);
    assert_int_equal(term_reason(3), ACTO_EXIT_NORMAL);
    assert_int_equal(term_reason(1), -1);
    assert_int_equal(term_reason(4), -1);
    assert_int_equal(tu_stats(rt).live, 2);
    /* a receive error is abnormal (ACTO_EXIT_ERROR) and does propagate */
    cmd(a, CMD_LINK, d, 0);
    cmd(a, CMD_FAIL, 0, 0);
    tu_run(rt);
    assert_int_equal(term_reason(1), ACTO_EXIT_ERROR);
    assert_int_equal(term_reason(4), ACTO_EXIT_ERROR);
}

static void test_trap_exit(void **state)
{
    (void)state;
    acto_pid_t a = spawn_puppet(1), b = spawn_puppet(2);
    cmd(a, CMD_TRAP, 0, 1);
    cmd(a, CMD_LINK, b, 0);
    cmd(a, CMD_TELL_EXIT, b, 9);
    tu_run(rt);
    assert_int_equal(term_reason(2), 9);
    assert_int_equal(term_reason(1), -1);             /* survived */
    assert_int_equal(count_ev(EV_EXIT, 1), 1);
    const event_t *e = find_ev(EV_EXIT, 1);
    assert_true(e->pid == b);
    assert_int_equal(e->reason, 9);
    /* a normal exit of a linked actor reaches a trapping one as a message */
    acto_pid_t c = spawn_puppet(3);
    cmd(a, CMD_LINK, c, 0);
    cmd(a, CMD_TELL_EXIT, c, ACTO_EXIT_NORMAL);
    tu_run(rt);
    assert_int_equal(count_ev(EV_EXIT, 1), 2);
    /* trap off again: the next abnormal exit kills a */
    acto_pid_t d = spawn_puppet(4);
    cmd(a, CMD_TRAP, 0, 0);
    cmd(a, CMD_LINK, d, 0);
    cmd(a, CMD_TELL_EXIT, d, 12);
    tu_run(rt);
    assert_int_equal(term_reason(1), 12);
    assert_int_equal(count_ev(EV_EXIT, 1), 2);
}

static void test_kill(void **state)
{
    (void)state;
    acto_pid_t a = spawn_puppet(1), b = spawn_puppet(2), c = spawn_puppet(3),
               d = spawn_puppet(4);
    cmd(a, CMD_TRAP, 0, 1);
    cmd(b, CMD_TRAP, 0, 1);
    tu_run(rt);
    /* trapping: a kill with an ordinary reason becomes a message ... */
    assert_int_equal(acto_kill(root, a, 21), 0);
    /* ... but ACTO_EXIT_KILLED cannot be trapped */
    assert_int_equal(acto_kill(root, b, ACTO_EXIT_KILLED), 0);
    /* not trapping: dies with the reason; a NORMAL kill is ignored */
    assert_int_equal(acto_kill(root, c, 22), 0);
    assert_int_equal(acto_kill(root, d, ACTO_EXIT_NORMAL), 0);
    tu_run(rt);
    assert_int_equal(term_reason(1), -1);
    assert_int_equal(count_ev(EV_EXIT, 1), 1);
    assert_int_equal(find_ev(EV_EXIT, 1)->reason, 21);
    assert_true(find_ev(EV_EXIT, 1)->pid == ACTO_PID_NONE);   /* from root */
    assert_int_equal(term_reason(2), ACTO_EXIT_KILLED);
    assert_int_equal(count_ev(EV_EXIT, 2), 0);
    assert_int_equal(term_reason(3), 22);
    assert_int_equal(term_reason(4), -1);
    /* from an actor: the signal names the killer */
    cmd(d, CMD_KILL, a, 23);
    tu_run(rt);
    assert_int_equal(count_ev(EV_EXIT, 1), 2);
    assert_true(nth_ev(EV_EXIT, 1, 1)->pid == d);
    assert_int_equal(nth_ev(EV_EXIT, 1, 1)->reason, 23);
    /* a dead target */
    assert_int_equal(acto_kill(root, c, 1), ACTO_ENOACTOR);
    assert_int_equal(acto_kill(NULL, c, 1), ACTO_EINVAL);
}

static void test_unlink(void **state)
{
    (void)state;
    acto_pid_t a = spawn_puppet(1), b = spawn_puppet(2);
    cmd(a, CMD_LINK, b, 0);
    cmd(a, CMD_UNLINK, b, 0);
    cmd(a, CMD_TELL_EXIT, b, 13);
    acto_pid_t c = spawn_puppet(3), d = spawn_puppet(4);
    cmd(c, CMD_LINK, d, 0);
    cmd(c, CMD_UNLINK, d, 0);
    cmd(c, CMD_EXIT, 0, 14);
    /* control: a link that stays */
    acto_pid_t e = spawn_puppet(5), f = spawn_puppet(6);
    cmd(e, CMD_LINK, f, 0);
    cmd(e, CMD_TELL_EXIT, f, 15);
    (void)d;
    tu_run(rt);
    assert_int_equal(term_reason(2), 13);
    assert_int_equal(term_reason(1), -1);
    assert_int_equal(term_reason(3), 14);
    assert_int_equal(term_reason(4), -1);
    assert_int_equal(term_reason(6), 15);
    assert_int_equal(term_reason(5), 15);
    /* d forgot c too: its own abnormal exit signals nobody (a signal to
     * the dead c would be a dead letter) */
    cmd(d, CMD_EXIT, 0, 16);
    tu_run(rt);
    assert_int_equal(term_reason(4), 16);
    assert_int_equal(tu_stats(rt).dead_letters, 0);
    /* unlinking what is not linked is a no-op */
    cmd(a, CMD_UNLINK, d, 0);
    tu_run(rt);
    for (unsigned i = 0; i < nevents; i++)
        if (events[i].kind == EV_RC)
            assert_int_equal(events[i].reason, 0);
}

static void test_link_errors(void **state)
{
    (void)state;
    acto_pid_t a = spawn_puppet(1), b = spawn_puppet(2);
    cmd(b, CMD_EXIT, 0, ACTO_EXIT_NORMAL);
    tu_run(rt);
    cmd(a, CMD_LINK, b, 0);      /* dead: ENOACTOR */
    cmd(a, CMD_LINK, a, 0);      /* self: EINVAL */
    tu_run(rt);
    assert_int_equal(count_ev(EV_RC, 1), 2);
    assert_int_equal(events[nevents - 2].reason, ACTO_ENOACTOR);
    assert_int_equal(events[nevents - 1].reason, ACTO_EINVAL);
    assert_int_equal(term_reason(1), -1);
    /* outside an actor: not valid */
    uint64_t ref;
    assert_int_equal(acto_link(root, a), ACTO_ESTATE);
    assert_int_equal(acto_unlink(root, a), ACTO_ESTATE);
    assert_int_equal(acto_monitor(root, a, &ref), ACTO_ESTATE);
    assert_int_equal(acto_demonitor(root, a, 1), ACTO_ESTATE);
    assert_int_equal(acto_trap_exit(root, 1), ACTO_ESTATE);
    assert_int_equal(acto_link(NULL, a), ACTO_EINVAL);
    assert_int_equal(acto_monitor(NULL, a, &ref), ACTO_EINVAL);
    assert_int_equal(acto_trap_exit(NULL, 1), ACTO_EINVAL);
}

/* A linked pair dying at free: both get SHUTDOWN once, nothing else. */
static void test_links_at_shutdown(void **state)
{
    (void)state;
    acto_pid_t a = spawn_puppet(1), b = spawn_puppet(2);
    cmd(a, CMD_LINK, b, 0);
    cmd(a, CMD_MONITOR, b, 0);
    cmd(b, CMD_MONITOR, a, 0);
    tu_run(rt);
    shutdown_now();
    assert_int_equal(count_ev(EV_TERM, -1), 2);
    assert_int_equal(term_reason(1), ACTO_EXIT_SHUTDOWN);
    assert_int_equal(term_reason(2), ACTO_EXIT_SHUTDOWN);
    assert_int_equal(count_ev(EV_DOWN, -1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_monitor_down_with_reason, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_monitors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_monitor_dead_is_noproc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_monitor_request_behind_exit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_demonitor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_link_propagates_both_ways, setup, teardown),
        cmocka_unit_test_setup_teardown(test_link_normal_exit_does_not_propagate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trap_exit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unlink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_link_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_links_at_shutdown, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
