/* tools/broker/main.c - acto-broker: the pub/sub broker (docs/protocol.md)
 * as a program.  See usage().
 *
 * Threads: the main thread runs the runtime (acto_runtime_run returns once
 * the broker has shut down and everything is closed); one control thread
 * owns the signals (blocked everywhere else, taken with sigtimedwait):
 * SIGINT/SIGTERM start the graceful shutdown, SIGUSR1 and the stats
 * interval print the counters to stderr. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <acto/acto.h>

static void usage(FILE *f)
{
    fprintf(f,
        "usage: acto-broker [options]\n"
        "The acto pub/sub broker (protocol: docs/protocol.md).\n"
        "\n"
        "  --listen HOST:PORT        address to listen on (default %s;\n"
        "                            port 0 picks a free port); prints\n"
        "                            'listening on HOST:PORT' on stdout once bound\n"
        "  --workers N               worker threads (default: one per CPU)\n"
        "  --shards N                channel shards (default: 4 per worker, at most 64)\n"
        "  --max-payload BYTES       largest pub payload (default 1M)\n"
        "  --max-conns N             client connections (default 65536)\n"
        "  --max-subs N              subscriptions per connection, 0 = no limit\n"
        "                            (default 65536)\n"
        "  --max-pending BYTES       unsent bytes held per connection (default 8M;\n"
        "                            at least max payload + 1K)\n"
        "  --slow-consumer POLICY    past max-pending: disconnect (err 15, default)\n"
        "                            or drop (messages dropped and counted)\n"
        "  --token TOKEN             clients must send this token in hello\n"
        "  --token-file FILE         the same, read from FILE (one line)\n"
        "  --ping-interval SECONDS   keep-alive ping period (default 120); a client\n"
        "                            that misses 2 pings is disconnected (err 16)\n"
        "  --stats-interval SECONDS  print the counters to stderr this often\n"
        "  --help                    this text\n"
        "\n"
        "BYTES take a K, M or G suffix (powers of 1024).  SIGINT/SIGTERM: graceful\n"
        "shutdown (every client gets err 18, queued bytes are flushed, connections\n"
        "closed).  SIGUSR1: print the counters to stderr.\n"
        "Exit status: 0 after a shutdown, 1 if the broker could not start, 2 usage.\n",
        ACTO_BROKER_DEFAULT_LISTEN);
}

static int bad_usage(const char *fmt, const char *arg)
{
    fputs("acto-broker: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs(" (see --help)\n", stderr);
    return 2;
}

/* Unsigned number with an optional K/M/G suffix (when sized); 0 or -1. */
static int parse_num(const char *s, bool sized, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -1;
    unsigned shift = 0;
    if (sized && *end) {
        switch (*end++) {
        case 'k': case 'K': shift = 10; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        default: return -1;
        }
    }
    if (*end || v > (max >> shift))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

/* Seconds, maybe with a fraction ("0.5"), as milliseconds >= 1. */
static int parse_secs(const char *s, uint64_t *ms)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0.001) || v > 1e9)
        return -1;
    *ms = (uint64_t)(v * 1000.0 + 0.5);
    return 0;
}

static char *read_token(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, f);
    fclose(f);
    if (n < 0) {
        free(line);
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    return line;
}

typedef struct cli {
    acto_broker_opts_t o;
    unsigned workers;
    uint64_t stats_ms;
    char *token_buf;
} cli_t;

/* 0, or the exit status for bad usage (2) or --help (-1). */
static int parse_args(int argc, char **argv, cli_t *c)
{
    enum { O_LISTEN = 256, O_WORKERS, O_SHARDS, O_PAYLOAD, O_CONNS, O_SUBS, O_PENDING,
           O_SLOW, O_TOKEN, O_TOKEN_FILE, O_PING, O_STATS, O_HELP };
    static const struct option longs[] = {
        { "listen", required_argument, NULL, O_LISTEN },
        { "workers", required_argument, NULL, O_WORKERS },
        { "shards", required_argument, NULL, O_SHARDS },
        { "max-payload", required_argument, NULL, O_PAYLOAD },
        { "max-conns", required_argument, NULL, O_CONNS },
        { "max-subs", required_argument, NULL, O_SUBS },
        { "max-pending", required_argument, NULL, O_PENDING },
        { "slow-consumer", required_argument, NULL, O_SLOW },
        { "token", required_argument, NULL, O_TOKEN },
        { "token-file", required_argument, NULL, O_TOKEN_FILE },
        { "ping-interval", required_argument, NULL, O_PING },
        { "stats-interval", required_argument, NULL, O_STATS },
        { "help", no_argument, NULL, O_HELP },
        { NULL, 0, NULL, 0 },
    };
    acto_broker_opts_init(&c->o);
    bool subs_set = false;
    uint64_t v;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        const char *a = optarg;
        switch (ch) {
        case O_LISTEN: c->o.listen = a; break;
        case O_WORKERS:
            if (parse_num(a, false, 1024, &v) || v == 0)
                return bad_usage("bad --workers '%s'", a);
            c->workers = (unsigned)v;
            break;
        case O_SHARDS:
            if (parse_num(a, false, 64, &v) || v == 0)
                return bad_usage("bad --shards '%s' (1..64)", a);
            c->o.shards = (unsigned)v;
            break;
        case O_PAYLOAD:
            if (parse_num(a, true, UINT32_MAX - 1024, &v) || v == 0)
                return bad_usage("bad --max-payload '%s'", a);
            c->o.max_payload = v;
            break;
        case O_CONNS:
            if (parse_num(a, false, UINT32_MAX, &v) || v == 0)
                return bad_usage("bad --max-conns '%s'", a);
            c->o.max_conns = (uint32_t)v;
            break;
        case O_SUBS:
            if (parse_num(a, false, UINT32_MAX, &v))
                return bad_usage("bad --max-subs '%s'", a);
            c->o.max_subs = (uint32_t)v;
            subs_set = true;
            break;
        case O_PENDING:
            if (parse_num(a, true, (uint64_t)1 << 40, &v) || v == 0)
                return bad_usage("bad --max-pending '%s'", a);
            c->o.max_pending = v;
            break;
        case O_SLOW:
            if (strcmp(a, "disconnect") == 0)
                c->o.slow_consumer = ACTO_BROKER_SLOW_DISCONNECT;
            else if (strcmp(a, "drop") == 0)
                c->o.slow_consumer = ACTO_BROKER_SLOW_DROP;
            else
                return bad_usage("bad --slow-consumer '%s' (disconnect or drop)", a);
            break;
        case O_TOKEN: c->o.token = a; break;
        case O_TOKEN_FILE:
            free(c->token_buf);
            if (!(c->token_buf = read_token(a)))
                return bad_usage("cannot read --token-file '%s'", a);
            c->o.token = c->token_buf;
            break;
        case O_PING:
            if (parse_secs(a, &v))
                return bad_usage("bad --ping-interval '%s'", a);
            c->o.ping_interval_ms = v;
            break;
        case O_STATS:
            if (parse_secs(a, &v))
                return bad_usage("bad --stats-interval '%s'", a);
            c->stats_ms = v;
            break;
        case O_HELP:
            usage(stdout);
            return -1;
        default:
            return bad_usage("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return bad_usage("unexpected argument '%s'", argv[optind]);
    if (c->o.token && (!*c->o.token || strlen(c->o.token) > 1024))
        return bad_usage("%s", "the token must be 1 to 1024 bytes");
    if (c->o.max_pending < c->o.max_payload + 1024)
        return bad_usage("%s", "--max-pending must be at least --max-payload + 1K");
    if (subs_set && c->o.max_subs == 0)
        c->o.max_subs = ACTO_BROKER_UNLIMITED;
    return 0;
}

/* ---- the control thread --------------------------------------------------------------- */

typedef struct ctl {
    acto_runtime_t *rt;
    acto_broker_t *b;
    uint64_t stats_ms;
    sigset_t set;
    int done;                          /* atomic: run has returned */
} ctl_t;

static void print_stats(acto_broker_t *b)
{
    acto_broker_stats_t s;
    if (acto_broker_stats(b, &s) != 0)
        return;
    fprintf(stderr,
            "stats connections %llu subscriptions %llu msgs_in %llu msgs_out %llu "
            "bytes_in %llu bytes_out %llu slow_consumers %llu drops %llu\n",
            (unsigned long long)s.connections, (unsigned long long)s.subscriptions,
            (unsigned long long)s.msgs_in, (unsigned long long)s.msgs_out,
            (unsigned long long)s.bytes_in, (unsigned long long)s.bytes_out,
            (unsigned long long)s.slow_consumers, (unsigned long long)s.drops);
}

static uint64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

static void *ctl_main(void *arg)
{
    ctl_t *c = arg;
    char addr[128];
    bool announced = false, stopping = false;
    uint64_t next_stats = c->stats_ms ? now_ms() + c->stats_ms : 0;
    while (!__atomic_load_n(&c->done, __ATOMIC_ACQUIRE)) {
        if (!announced && acto_broker_address(c->b, addr, sizeof addr) == 0) {
            printf("listening on %s\n", addr);
            fflush(stdout);
            announced = true;
        }
        /* short waits while the address is not known yet, else 200 ms */
        struct timespec ts = { 0, announced ? 200000000L : 2000000L };
        siginfo_t si;
        int sig = sigtimedwait(&c->set, &si, &ts);
        if (sig == SIGUSR1) {
            print_stats(c->b);
        } else if (sig == SIGINT || sig == SIGTERM) {
            if (stopping) {
                fputs("acto-broker: second signal, exiting now\n", stderr);
                _exit(1);
            }
            stopping = true;
            (void)acto_broker_stop(acto_root(c->rt), c->b);
        }
        if (next_stats && now_ms() >= next_stats) {
            print_stats(c->b);
            next_stats += c->stats_ms;
        }
    }
    return NULL;
}

/* Many clients need many descriptors: take the hard limit. */
static void raise_nofile(void)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
        r.rlim_cur = r.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &r);
    }
}

int main(int argc, char **argv)
{
    cli_t cli = { .workers = 0 };
    int rc = parse_args(argc, argv, &cli);
    if (rc) {
        free(cli.token_buf);
        return rc < 0 ? 0 : rc;
    }
    raise_nofile();
    ctl_t ctl = { .stats_ms = cli.stats_ms };
    sigemptyset(&ctl.set);
    sigaddset(&ctl.set, SIGINT);
    sigaddset(&ctl.set, SIGTERM);
    sigaddset(&ctl.set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &ctl.set, NULL);   /* every thread inherits it */
    signal(SIGPIPE, SIG_IGN);

    acto_config_t cfg;
    acto_config_init(&cfg);
    cfg.workers = cli.workers;
    int status = 1;
    if ((rc = acto_runtime_new(&ctl.rt, &cfg)) != 0) {
        fprintf(stderr, "acto-broker: cannot create the runtime: %s\n", acto_strerror(rc));
        goto out;
    }
    if ((rc = acto_broker_start(acto_root(ctl.rt), &cli.o, &ctl.b)) != 0) {
        fprintf(stderr, "acto-broker: cannot listen on %s: %s%s%s\n", cli.o.listen,
                acto_strerror(rc), rc == ACTO_ESYS ? ": " : "",
                rc == ACTO_ESYS ? strerror(errno) : "");
        goto out_rt;
    }
    pthread_t th;
    if (pthread_create(&th, NULL, ctl_main, &ctl) != 0) {
        fputs("acto-broker: cannot start the control thread\n", stderr);
        goto out_rt;
    }
    rc = acto_runtime_run(ctl.rt);
    __atomic_store_n(&ctl.done, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    if (rc)
        fprintf(stderr, "acto-broker: the runtime failed: %s\n", acto_strerror(rc));
    else
        status = 0;
    if (cli.stats_ms)
        print_stats(ctl.b);
out_rt:
    acto_broker_free(ctl.b);
    acto_runtime_free(ctl.rt);
out:
    free(cli.token_buf);
    return status;
}
