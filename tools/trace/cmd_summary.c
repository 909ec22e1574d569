/* tools/trace/cmd_summary.c - acto-trace summary: where the time went. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "tool.h"

#define TOP_ACTORS 20

/* A row of the behaviour or actor table. */
typedef struct row {
    const char *name;
    uint32_t nlen;
    uint64_t pid;              /* actor rows */
    uint64_t actors, in, out, busy, max_depth;
    ttr_samples_t wait, handle;  /* behaviour rows own merged copies */
} row_t;

static int cmp_busy(const void *pa, const void *pb)
{
    const row_t *a = pa, *b = pb;
    if (a->busy != b->busy)
        return a->busy > b->busy ? -1 : 1;
    if (a->in != b->in)
        return a->in > b->in ? -1 : 1;
    return a->pid < b->pid ? -1 : a->pid > b->pid;
}

static int cmp_name(const void *pa, const void *pb)
{
    const ttr_actor_t *a = *(const ttr_actor_t *const *)pa, *b = *(const ttr_actor_t *const *)pb;
    uint32_t n = a->nlen < b->nlen ? a->nlen : b->nlen;
    int c = memcmp(a->name, b->name, n);
    return c ? c : (a->nlen > b->nlen) - (a->nlen < b->nlen);
}

static int merge(ttr_samples_t *dst, const ttr_samples_t *src)
{
    if (!src->n)
        return 0;
    uint64_t *v = realloc(dst->v, (dst->n + src->n) * sizeof *v);
    if (!v)
        return -1;
    memcpy(v + dst->n, src->v, src->n * sizeof *v);
    dst->v = v;
    dst->n += src->n;
    dst->cap = dst->n;
    return 0;
}

/* Group the actors by behaviour name. */
static row_t *behaviours(const ttr_model_t *m, size_t *nrows)
{
    const ttr_actor_t **by = malloc((m->nactors + 1) * sizeof *by);
    row_t *rows = calloc(m->nactors + 1, sizeof *rows);
    size_t n = 0;
    if (!by || !rows)
        goto fail;
    for (size_t i = 0; i < m->nactors; i++)
        by[i] = &m->actors[i];
    qsort(by, m->nactors, sizeof *by, cmp_name);
    for (size_t i = 0; i < m->nactors; i++) {
        const ttr_actor_t *a = by[i];
        if (!n || cmp_name(&by[i - 1], &by[i]) != 0) {
            rows[n].name = a->name;
            rows[n++].nlen = a->nlen;
        }
        row_t *r = &rows[n - 1];
        r->actors++;
        r->in += a->in;
        r->out += a->out;
        r->busy += a->busy;
        if (a->max_depth > r->max_depth)
            r->max_depth = a->max_depth;
        if (merge(&r->wait, &a->wait) || merge(&r->handle, &a->handle))
            goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        ttr_samples_sort(&rows[i].wait);
        ttr_samples_sort(&rows[i].handle);
    }
    free(by);
    qsort(rows, n, sizeof *rows, cmp_busy);
    *nrows = n;
    return rows;
fail:
    for (size_t i = 0; rows && i < n; i++) {
        free(rows[i].wait.v);
        free(rows[i].handle.v);
    }
    free(by);
    free(rows);
    return NULL;
}

static row_t *actor_rows(const ttr_model_t *m)
{
    row_t *rows = calloc(m->nactors + 1, sizeof *rows);
    for (size_t i = 0; rows && i < m->nactors; i++) {
        const ttr_actor_t *a = &m->actors[i];
        rows[i] = (row_t){ .name = a->name, .nlen = a->nlen, .pid = a->pid, .actors = 1,
                           .in = a->in, .out = a->out, .busy = a->busy,
                           .max_depth = a->max_depth, .wait = a->wait, .handle = a->handle };
    }
    if (rows)
        qsort(rows, m->nactors, sizeof *rows, cmp_busy);
    return rows;
}


static const ttr_subject_t **subject_rows(const ttr_model_t *m)
{
    const ttr_subject_t **v = malloc((m->nsubjects + 1) * sizeof *v);
    for (size_t i = 0; v && i < m->nsubjects; i++)
        v[i] = &m->subjects[i];
    if (v)
        qsort(v, m->nsubjects, sizeof *v, ttr_subject_cmp_traffic);
    return v;
}

/* ---- text ------------------------------------------------------------------------ */

/* The empty subject: broker batches whose frames had different subjects. */
static void subject_name(const ttr_subject_t *s, const char **name, int *len)
{
    *name = s->nlen ? s->name : "(several)";
    *len = s->nlen ? (int)s->nlen : 9;
}

static void text_subjects(const ttr_model_t *m, const ttr_subject_t **sub, bool all, FILE *out)
{
    size_t n = all || m->nsubjects <= TOP_ACTORS ? m->nsubjects : TOP_ACTORS;
    fprintf(out, "\nPub/sub subjects, by traffic (%zu of %zu%s; fan-out = subscribers a publish "
            "reached; wait = delivery sent to receive begin)\n", n, m->nsubjects,
            n < m->nsubjects ? "; --all shows every one" : "");
    fprintf(out, "%-24s %10s %10s %10s %10s %10s %10s %10s %10s\n", "SUBJECT", "PUBLISHES",
            "DELIVERIES", "REACHED", "FANOUT_P50", "FANOUT_MAX", "WAIT_P50", "WAIT_P99", "WAIT_MAX");
    for (size_t i = 0; i < n; i++) {
        const ttr_subject_t *s = sub[i];
        const char *name;
        int len;
        char b[3][32];
        subject_name(s, &name, &len);
        fprintf(out, "%-24.*s %10llu %10llu %10llu %10llu %10llu %10s %10s %10s\n", len, name,
                (unsigned long long)s->publishes, (unsigned long long)s->deliveries,
                (unsigned long long)s->reached, (unsigned long long)ttr_pct(&s->fanout, 50),
                (unsigned long long)ttr_pct(&s->fanout, 100),
                s->wait.n ? ttr_fmt_ns(ttr_pct(&s->wait, 50), b[0]) : "-",
                s->wait.n ? ttr_fmt_ns(ttr_pct(&s->wait, 99), b[1]) : "-",
                s->wait.n ? ttr_fmt_ns(ttr_pct(&s->wait, 100), b[2]) : "-");
    }
}

static void text_header(FILE *out, bool actor)
{
    fprintf(out, "%-20s %8s %10s %10s %10s %8s %10s %10s %10s %10s %10s %10s\n",
            actor ? "ACTOR" : "BEHAVIOUR", actor ? "PID" : "ACTORS", "MSGS_IN", "MSGS_OUT",
            "BUSY", "MAX_MBOX", "WAIT_P50", "WAIT_P99", "WAIT_MAX", "HANDLE_P50",
            "HANDLE_P99", "HANDLE_MAX");
}

static void text_row(FILE *out, const row_t *r, bool actor)
{
    char b[8][32];
    char first[32];
    if (actor)
        ttr_fmt_pid(r->pid, first);
    else
        snprintf(first, sizeof first, "%llu", (unsigned long long)r->actors);
    fprintf(out, "%-20.*s %8s %10llu %10llu %10s %8llu %10s %10s %10s %10s %10s %10s\n",
            (int)(r->nlen > 20 ? 20 : r->nlen), r->name, first, (unsigned long long)r->in,
            (unsigned long long)r->out, ttr_fmt_ns(r->busy, b[0]),
            (unsigned long long)r->max_depth,
            ttr_fmt_ns(ttr_pct(&r->wait, 50), b[1]), ttr_fmt_ns(ttr_pct(&r->wait, 99), b[2]),
            ttr_fmt_ns(ttr_pct(&r->wait, 100), b[3]), ttr_fmt_ns(ttr_pct(&r->handle, 50), b[4]),
            ttr_fmt_ns(ttr_pct(&r->handle, 99), b[5]), ttr_fmt_ns(ttr_pct(&r->handle, 100), b[6]));
}

static void text_workers(const ttr_model_t *m, FILE *out)
{
    fprintf(out, "%-6s %-8s %7s %10s %10s %8s %8s %8s\n", "TRACK", "ROLE", "BUSY%", "HANDLED",
            "BUSY", "STEALS", "STOLEN", "SLEEPS");
    for (size_t i = 0; i < m->ntracks; i++) {
        const ttr_worker_t *w = &m->tracks[i];
        char b[32], role[40];
        snprintf(role, sizeof role, "%.*s %u", w->role ? (int)w->rlen : 1,
                 w->role ? w->role : "?", w->index);
        double pct = m->duration ? 100.0 * (double)w->busy / (double)m->duration : 0;
        fprintf(out, "%-6zu %-8s %6.1f%% %10llu %10s %8llu %8llu %8llu\n", i, role, pct,
                (unsigned long long)w->handled, ttr_fmt_ns(w->busy, b),
                (unsigned long long)w->steals, (unsigned long long)w->stolen,
                (unsigned long long)w->sleeps);
    }
}

static void text(const ttr_model_t *m, const char *path, const row_t *beh, size_t nbeh,
                 const row_t *act, const ttr_subject_t **sub, bool all, FILE *out)
{
    const ttr_trace_t *t = m->t;
    char b[32];
    uint64_t msgs = m->nsent;
    fprintf(out, "trace    %s (%s, pid %llu, %llu workers, clock %s)\n", path,
            t->program[0] ? t->program : "?", (unsigned long long)t->pid,
            (unsigned long long)t->workers, t->clock[0] ? t->clock : "?");
    fprintf(out, "span     %s, %zu records, %zu actors, %llu messages sent\n\n",
            ttr_fmt_ns(m->duration, b), t->n, m->nactors, (unsigned long long)msgs);
    fprintf(out, "Behaviours, by busy time (wait = send to receive begin; handle = receive)\n");
    text_header(out, false);
    for (size_t i = 0; i < nbeh; i++)
        text_row(out, &beh[i], false);
    size_t nact = all || m->nactors <= TOP_ACTORS ? m->nactors : TOP_ACTORS;
    fprintf(out, "\nActors, by busy time (%zu of %zu%s)\n", nact, m->nactors,
            nact < m->nactors ? "; --all shows every one" : "");
    text_header(out, true);
    for (size_t i = 0; i < nact; i++)
        text_row(out, &act[i], true);
    fprintf(out, "\nWorkers and other threads (busy%% of the %s span)\n", ttr_fmt_ns(m->duration, b));
    text_workers(m, out);
    if (m->nsubjects)                    /* only traces with pub/sub events */
        text_subjects(m, sub, all, out);
}

/* ---- JSON -------------------------------------------------------------------------- */

static void json_samples(FILE *out, const char *key, const ttr_samples_t *s)
{
    fprintf(out, "\"%s\":{\"count\":%zu,\"p50\":%llu,\"p99\":%llu,\"max\":%llu}", key, s->n,
            (unsigned long long)ttr_pct(s, 50), (unsigned long long)ttr_pct(s, 99),
            (unsigned long long)ttr_pct(s, 100));
}

static void json_row(FILE *out, const row_t *r, bool actor)
{
    fputs("{\"name\":", out);
    ttr_json_str(out, r->name, r->nlen);
    if (actor) {
        char b[32];
        fprintf(out, ",\"pid\":%llu,\"pid_text\":\"%s\"", (unsigned long long)r->pid,
                ttr_fmt_pid(r->pid, b));
    } else {
        fprintf(out, ",\"actors\":%llu", (unsigned long long)r->actors);
    }
    fprintf(out, ",\"messages_in\":%llu,\"messages_out\":%llu,\"busy_ns\":%llu,"
            "\"max_mailbox\":%llu,", (unsigned long long)r->in, (unsigned long long)r->out,
            (unsigned long long)r->busy, (unsigned long long)r->max_depth);
    json_samples(out, "wait_ns", &r->wait);
    fputc(',', out);
    json_samples(out, "handle_ns", &r->handle);
    fputc('}', out);
}

static void json_subjects(const ttr_model_t *m, const ttr_subject_t **sub, FILE *out)
{
    fputs(",\n\"subjects\":[", out);
    for (size_t i = 0; i < m->nsubjects; i++) {
        const ttr_subject_t *s = sub[i];
        fputs(i ? ",\n{\"subject\":" : "\n{\"subject\":", out);
        ttr_json_str(out, s->name ? s->name : "", s->nlen);
        fprintf(out, ",\"publishes\":%llu,\"deliveries\":%llu,\"reached\":%llu,",
                (unsigned long long)s->publishes, (unsigned long long)s->deliveries,
                (unsigned long long)s->reached);
        json_samples(out, "fanout", &s->fanout);
        fputc(',', out);
        json_samples(out, "wait_ns", &s->wait);
        fputc('}', out);
    }
    fputc(']', out);
}

static void json(const ttr_model_t *m, const row_t *beh, size_t nbeh, const row_t *act,
                 const ttr_subject_t **sub, FILE *out)
{
    const ttr_trace_t *t = m->t;
    fprintf(out, "{\"trace\":{\"version\":%llu,\"program\":", (unsigned long long)t->version);
    ttr_json_str(out, t->program, strlen(t->program));
    fprintf(out, ",\"pid\":%llu,\"workers\":%llu,\"span_ns\":%llu,\"records\":%zu,"
            "\"damaged\":%s,\"skipped\":%llu},\n\"behaviours\":[",
            (unsigned long long)t->pid, (unsigned long long)t->workers,
            (unsigned long long)m->duration, t->n, t->damaged ? "true" : "false",
            (unsigned long long)t->skipped);
    for (size_t i = 0; i < nbeh; i++) {
        fputs(i ? ",\n" : "\n", out);
        json_row(out, &beh[i], false);
    }
    fputs("],\n\"actors\":[", out);
    for (size_t i = 0; i < m->nactors; i++) {
        fputs(i ? ",\n" : "\n", out);
        json_row(out, &act[i], true);
    }
    fputs("],\n\"workers\":[", out);
    for (size_t i = 0; i < m->ntracks; i++) {
        const ttr_worker_t *w = &m->tracks[i];
        fprintf(out, "%s{\"track\":%zu,\"role\":", i ? ",\n" : "\n", i);
        ttr_json_str(out, w->role ? w->role : "?", w->role ? w->rlen : 1);
        fprintf(out, ",\"index\":%u,\"busy_ns\":%llu,\"busy_pct\":%.2f,\"handled\":%llu,"
                "\"steals\":%llu,\"stolen\":%llu,\"sleeps\":%llu,\"wakes\":%llu}",
                w->index, (unsigned long long)w->busy,
                m->duration ? 100.0 * (double)w->busy / (double)m->duration : 0.0,
                (unsigned long long)w->handled, (unsigned long long)w->steals,
                (unsigned long long)w->stolen, (unsigned long long)w->sleeps,
                (unsigned long long)w->wakes);
    }
    fputc(']', out);
    json_subjects(m, sub, out);
    fputs("}\n", out);
}

int cmd_summary(const ttr_model_t *m, const char *path, const tool_args_t *a, FILE *out)
{
    bool as_json = false, all = false;
    for (int i = 0; i < a->argc; i++) {
        if (!strcmp(a->argv[i], "--json"))
            as_json = true;
        else if (!strcmp(a->argv[i], "--all"))
            all = true;
        else
            return tool_error("summary: unknown option '%s'", a->argv[i]);
    }
    size_t nbeh = 0;
    row_t *beh = behaviours(m, &nbeh), *act = actor_rows(m);
    const ttr_subject_t **sub = subject_rows(m);
    int status = 0;
    if (!beh || !act || !sub)
        status = tool_error("out of memory");
    else if (as_json)
        json(m, beh, nbeh, act, sub, out);
    else
        text(m, path, beh, nbeh, act, sub, all, out);
    free(sub);
    for (size_t i = 0; beh && i < nbeh; i++) {
        free(beh[i].wait.v);
        free(beh[i].handle.v);
    }
    free(beh);
    free(act);
    return status;
}
