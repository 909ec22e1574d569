/* bench/bench.h - helpers shared by the benchmark programs.
 *
 * Every program prints its figures on stdout as `WORKLOAD METRIC VALUE`
 * lines (bench/run.sh adds the leading "acto" and takes the median over
 * runs), progress and errors on stderr, and exits non-zero when the result
 * it computed is wrong. */
#ifndef ACTO_BENCH_H
#define ACTO_BENCH_H

#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <acto/acto.h>

static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Resident set size in bytes (second field of /proc/self/statm). */
static inline uint64_t bench_rss_bytes(void)
{
    unsigned long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static inline void bench_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("FAILED: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* Abort the benchmark on any acto error: a benchmark that lost a message
 * must not print a figure. */
static inline void bench_check(int rc, const char *what)
{
    if (rc != 0)
        bench_fail("%s: %s", what, acto_strerror(rc));
}

static inline acto_runtime_t *bench_runtime(void)
{
    acto_runtime_t *rt;
    bench_check(acto_runtime_new(&rt, NULL), "acto_runtime_new");
    return rt;
}

/* Messages (or hops, or spawns) per second over ns nanoseconds. */
static inline double bench_rate(uint64_t count, uint64_t ns)
{
    return ns ? (double)count * 1e9 / (double)ns : 0.0;
}

/* One figure: `WORKLOAD METRIC VALUE`, with `decimals` digits after the point. */
static inline void bench_report(const char *workload, const char *metric, double value,
                                int decimals)
{
    printf("%s %s %.*f\n", workload, metric, decimals, value);
    fflush(stdout);
}

#endif
