/* tools/trace/main.c - acto-trace: look at a trace recorded by acto.
 *
 *   acto-trace SUBCOMMAND TRACE_FILE [options] [-o OUT]
 *
 * See usage() and docs/tracing.md. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

static void usage(FILE *f)
{
    fputs("usage: acto-trace COMMAND TRACE [options] [-o OUT]\n"
          "commands:\n"
          "  summary  [--json] [--all]       per behaviour, actor and worker: messages,\n"
          "                                  busy time, mailbox depth, queue wait, handling\n"
          "  messages [--from PID] [--to PID] [--actor PID] [--type N]\n"
          "           [--since T] [--until T] [--limit N]\n"
          "                                  one line per message (T: 10ms, 5us, 3s, ns)\n"
          "  flow MSG_ID [--up N] [--depth N] [--max N]\n"
          "                                  what led to a message (N causes up, default 10)\n"
          "                                  and what it caused (depth 8, at most 200 lines)\n"
          "  graph    [--behaviour]          who sends to whom, Graphviz DOT\n"
          "  export --format=perfetto        Chrome Trace Event JSON (Perfetto, chrome://tracing)\n"
          "  report   [--max-slices N]       one self-contained HTML page: timeline per worker,\n"
          "                                  top actors, queue-wait histogram, actor graph\n"
          "                                  (the N longest handling slices; default 50000)\n"
          "  dump                            every event, one per line, in time order\n"
          "\n"
          "usage: acto-trace top --connect HOST:PORT [--interval S] [--sort mbox|msgs|busy]\n"
          "                      [--top N] [--once | --iterations N] [--plain] [--timeout S]\n"
          "                                  live view of a runtime started with ACTO_INSPECT\n"
          "                                  (docs/inspect.md): keys q, d/m/b (sort)\n"
          "PIDs are written <slot.gen> (as the tool prints them) or as a number.\n"
          "All but flow read a trace in passes, not holding it in memory\n"
          "(ACTO_TRACE_STREAM=0: hold it; the output is the same).\n"
          "Exit status: 0 ok, 1 usage or unreadable trace, 2 damaged trace (output covers\n"
          "the records before the damage).\n", f);
}

int tool_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("acto-trace: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

const char *tool_opt(const tool_args_t *a, int *i, const char *name)
{
    const char *s = a->argv[*i];
    size_t n = strlen(name);
    if (strncmp(s, name, n) != 0)
        return NULL;
    if (s[n] == '=') {
        return s + n + 1;
    }
    if (s[n] || *i + 1 >= a->argc)
        return NULL;
    *i += 1;
    return a->argv[*i];
}

typedef int (*cmd_fn)(const ttr_model_t *, const tool_args_t *, FILE *);

/* The records as read: for checking a trace (or a writer) by eye. */
static void dump_rec(const ttr_rec_t *r, FILE *out)
{
    fprintf(out, "%llu %s track=%u", (unsigned long long)r->ts, ttr_kind_name(r->kind), r->track);
    bool has_str = ttr_rec_has_str(r);       /* str shares v[5]'s place */
    for (int k = 0; k < TTR_NV - has_str; k++)
        if (r->v[k])
            fprintf(out, " v%d=%llu", k, (unsigned long long)r->v[k]);
    if (has_str && r->str)
        fprintf(out, " str=%.*s", (int)r->slen, r->str);
    fputc('\n', out);
}

static int cmd_dump(const ttr_model_t *m, const tool_args_t *a, FILE *out)
{
    if (a->argc)
        return tool_error("dump: unknown option '%s'", a->argv[0]);
    for (size_t i = 0; i < m->t->n; i++)
        dump_rec(&m->t->rec[i], out);
    return 0;
}

static int dump_one(void *out, const ttr_rec_t *r, uint64_t ord)
{
    (void)ord;
    dump_rec(r, out);
    return 0;
}

static int cmd_dump_stream(ttr_lite_t *l, const tool_args_t *a, FILE *out)
{
    if (a->argc)
        return tool_error("dump: unknown option '%s'", a->argv[0]);
    return ttr_stream(&l->t, dump_one, out) ? tool_error("out of memory") : 0;
}

/* A command to run: fn on the model m (summary: fn NULL, given the trace's
 * path); with l, messages and export read the streamed trace instead. */
typedef struct job { cmd_fn fn; const ttr_model_t *m; ttr_lite_t *l; const char *path; } job_t;

static int run(const job_t *j, const tool_args_t *a, FILE *out)
{
    if (j->l && j->fn == cmd_messages)
        return cmd_messages_stream(j->l, a, out);
    if (j->l && j->fn == cmd_export)
        return cmd_export_stream(j->l, a, out);
    if (j->l && j->fn == cmd_graph)
        return cmd_graph_stream(j->l, a, out);
    if (j->l && j->fn == cmd_report)
        return cmd_report_stream(j->l, a, out);
    if (j->l && j->fn == cmd_dump)
        return cmd_dump_stream(j->l, a, out);
    return j->fn ? j->fn(j->m, a, out) : cmd_summary(j->m, j->path, a, out);
}

/* Run j writing to outpath (or stdout): the exit status. */
static int output(const char *outpath, const job_t *j, const tool_args_t *a)
{
    FILE *out = stdout;
    if (outpath && !(out = fopen(outpath, "w")))
        return tool_error("%s: cannot create", outpath);
    int status = run(j, a, out);
    if ((fflush(out) != 0 || ferror(out)) && status == 0)
        status = tool_error("write error on %s", outpath ? outpath : "stdout");
    if (out != stdout && fclose(out) != 0 && status == 0)
        status = tool_error("write error on %s", outpath);
    return status;
}

/* Every command but flow reads the trace in passes instead of holding it
 * (docs/tracing.md, "Big traces"); ACTO_TRACE_STREAM=0 holds it, as flow
 * does (the output is the same).  *done is false when the file cannot be streamed (version-1
 * records): nothing was printed then. */
static int streamed(cmd_fn fn, const char *path, const char *outpath, const tool_args_t *a,
                    bool *done)
{
    const char *env = getenv("ACTO_TRACE_STREAM");
    *done = false;
    if (fn == cmd_flow || (env && !strcmp(env, "0")))
        return 0;
    char *wbuf = NULL;                  /* warnings: printed only if streamed */
    size_t wlen = 0;
    FILE *w = open_memstream(&wbuf, &wlen);
    ttr_lite_t l;
    int rc = ttr_lite_load(&l, path, w ? w : stderr);
    if (w)
        fclose(w);
    if (rc == 0 && !l.t.streamable) {
        ttr_lite_free(&l);
        free(wbuf);
        return 0;
    }
    *done = true;
    if (wbuf)
        fwrite(wbuf, 1, wlen, stderr);
    free(wbuf);
    int status = 1;
    if (rc != 0) {
        tool_error("%s: %s", path, l.t.error);
    } else {
        if (l.t.damaged)
            tool_error("%s: damaged: %s; showing what comes before it", path, l.t.error);
        if (l.t.skipped)
            tool_error("%s: skipped %llu records of unknown kinds", path,
                       (unsigned long long)l.t.skipped);
        if (!fn && ttr_model_stream(&l, true, NULL, NULL))
            status = tool_error("out of memory");
        else
            status = output(outpath, &(job_t){ fn, &l.m, &l, path }, a);
        if (status == 0 && l.t.damaged)
            status = 2;
    }
    ttr_lite_free(&l);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "top"))
        return cmd_top(argc - 2, argv + 2);
    cmd_fn fn = !strcmp(cmd, "messages") ? cmd_messages : !strcmp(cmd, "flow") ? cmd_flow
              : !strcmp(cmd, "graph") ? cmd_graph : !strcmp(cmd, "export") ? cmd_export
              : !strcmp(cmd, "report") ? cmd_report : !strcmp(cmd, "dump") ? cmd_dump : NULL;
    if (!fn && strcmp(cmd, "summary")) {
        usage(stderr);
        return tool_error("unknown command '%s'", cmd);
    }
    /* Take the trace path (first non-option) and -o out of the arguments. */
    const char *path = NULL, *outpath = NULL;
    char **rest = calloc((size_t)argc, sizeof *rest);
    int nrest = 0;
    if (!rest)
        return tool_error("out of memory");
    if (argc > 2 && argv[2][0] != '-')
        path = argv[2];                 /* the trace comes right after COMMAND */
    for (int i = path ? 3 : 2; i < argc; i++) {
        if (!strcmp(argv[i], "-o")) {
            if (i + 1 >= argc) {
                free(rest);
                return tool_error("-o needs a file name");
            }
            outpath = argv[++i];
        } else {
            rest[nrest++] = argv[i];
        }
    }
    if (!path) {
        free(rest);
        usage(stderr);
        return tool_error("%s: no trace file given", cmd);
    }
    tool_args_t args = { nrest, rest };
    bool done;
    int st = streamed(fn, path, outpath, &args, &done);
    if (done) {
        free(rest);
        return st;
    }
    ttr_trace_t t;
    if (ttr_load(&t, path, stderr) != 0) {
        tool_error("%s: %s", path, t.error);
        ttr_free(&t);
        free(rest);
        return 1;
    }
    if (t.damaged)
        tool_error("%s: damaged: %s; showing what comes before it", path, t.error);
    if (t.skipped)
        tool_error("%s: skipped %llu records of unknown kinds", path, (unsigned long long)t.skipped);
    ttr_model_t m;
    int status = 1;
    if (ttr_model_build(&m, &t) != 0) {
        tool_error("out of memory");
    } else {
        status = output(outpath, &(job_t){ fn, &m, NULL, path }, &args);
        ttr_model_free(&m);
    }
    if (status == 0 && t.damaged)
        status = 2;
    ttr_free(&t);
    free(rest);
    return status;
}
