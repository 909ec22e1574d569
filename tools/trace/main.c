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
static int cmd_dump(const ttr_model_t *m, const tool_args_t *a, FILE *out)
{
    if (a->argc)
        return tool_error("dump: unknown option '%s'", a->argv[0]);
    for (size_t i = 0; i < m->t->n; i++) {
        const ttr_rec_t *r = &m->t->rec[i];
        fprintf(out, "%llu %s track=%u", (unsigned long long)r->ts, ttr_kind_name(r->kind), r->track);
        for (int k = 0; k < TTR_NV; k++)
            if (r->v[k])
                fprintf(out, " v%d=%llu", k, (unsigned long long)r->v[k]);
        if (r->str)
            fprintf(out, " str=%.*s", (int)r->slen, r->str);
        fputc('\n', out);
    }
    return 0;
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
    FILE *out = stdout;
    if (ttr_model_build(&m, &t) != 0) {
        tool_error("out of memory");
    } else {
        if (outpath && !(out = fopen(outpath, "w"))) {
            tool_error("%s: cannot create", outpath);
        } else {
            tool_args_t a = { nrest, rest };
            status = fn ? fn(&m, &a, out) : cmd_summary(&m, path, &a, out);
            if ((fflush(out) != 0 || ferror(out)) && status == 0)
                status = tool_error("write error on %s", outpath ? outpath : "stdout");
            if (out != stdout && fclose(out) != 0 && status == 0)
                status = tool_error("write error on %s", outpath);
        }
        ttr_model_free(&m);
    }
    if (status == 0 && t.damaged)
        status = 2;
    ttr_free(&t);
    free(rest);
    return status;
}
