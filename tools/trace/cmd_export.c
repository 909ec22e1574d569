/* tools/trace/cmd_export.c - acto-trace export --format=perfetto.
 *
 * Chrome Trace Event JSON (the "JSON Array/Object format" that Perfetto
 * and chrome://tracing open): one thread per trace track, a complete
 * ("X") slice per handled message named "behaviour/type", sleep slices,
 * instants for steals, spawns and exits, and a flow ("s" -> "f") from
 * each send to the slice that handled the message.  Times are in us with
 * ns precision. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include <acto/trace.h>

#include "tool.h"

#define PID 1   /* one process in the JSON: the traced program */

static void us(FILE *out, uint64_t ns)
{
    fprintf(out, "%llu.%03llu", (unsigned long long)(ns / 1000), (unsigned long long)(ns % 1000));
}

static void ev_head(FILE *out, bool *first, const char *ph, uint32_t tid, uint64_t ts)
{
    fputs(*first ? "\n" : ",\n", out);
    *first = false;
    fprintf(out, "{\"ph\":\"%s\",\"pid\":%d,\"tid\":%u,\"ts\":", ph, PID, tid);
    us(out, ts);
}

static void metadata(const ttr_model_t *m, bool *first, FILE *out)
{
    fputs(*first ? "\n" : ",\n", out);
    *first = false;
    char name[96];
    snprintf(name, sizeof name, "%s (pid %llu)", m->t->program[0] ? m->t->program : "acto",
             (unsigned long long)m->t->pid);
    fprintf(out, "{\"ph\":\"M\",\"pid\":%d,\"name\":\"process_name\",\"args\":{\"name\":", PID);
    ttr_json_str(out, name, strlen(name));
    fputs("}}", out);
    for (size_t i = 0; i < m->ntracks; i++) {
        const ttr_worker_t *w = &m->tracks[i];
        snprintf(name, sizeof name, "%.*s %u", w->role ? (int)w->rlen : 5,
                 w->role ? w->role : "track", w->role ? w->index : (unsigned)i);
        fprintf(out, ",\n{\"ph\":\"M\",\"pid\":%d,\"tid\":%zu,\"name\":\"thread_name\","
                "\"args\":{\"name\":", PID, i);
        ttr_json_str(out, name, strlen(name));
        fprintf(out, "}},\n{\"ph\":\"M\",\"pid\":%d,\"tid\":%zu,\"name\":\"thread_sort_index\","
                "\"args\":{\"sort_index\":%zu}}", PID, i, i);
    }
}

/* The slice for a handled message, and the flow's end inside it. */
static void handled(const ttr_model_t *m, const ttr_msg_t *g, size_t flow, bool *first, FILE *out)
{
    const ttr_rec_t *b = &m->t->rec[g->begin];
    const ttr_rec_t *e = g->end != TTR_NONE ? &m->t->rec[g->end] : NULL;
    uint64_t end = e ? e->ts : m->t->rec[m->t->n - 1].ts;   /* unfinished: to the end */
    const ttr_actor_t *a = ttr_actor(m, b->v[1]);
    char name[320], pid[32];
    snprintf(name, sizeof name, "%.*s/%llu", a ? (int)a->nlen : 1, a ? a->name : "?",
             (unsigned long long)b->v[2]);
    ev_head(out, first, "X", b->track, b->ts);
    fputs(",\"dur\":", out);
    us(out, end > b->ts ? end - b->ts : 0);
    fputs(",\"cat\":\"receive\",\"name\":", out);
    ttr_json_str(out, name, strlen(name));
    fprintf(out, ",\"args\":{\"msg\":\"%llu\",\"actor\":\"%s\",\"type\":%llu%s}}",
            (unsigned long long)g->id, ttr_fmt_pid(b->v[1], pid), (unsigned long long)b->v[2],
            e ? "" : ",\"unfinished\":true");
    if (flow) {
        ev_head(out, first, "f", b->track, b->ts);
        fprintf(out, ",\"bp\":\"e\",\"cat\":\"msg\",\"name\":\"send\",\"id\":%zu}", flow);
    }
}

int cmd_export(const ttr_model_t *m, const tool_args_t *a, FILE *out)
{
    const char *fmt = NULL;
    for (int i = 0; i < a->argc; i++) {
        const char *v = tool_opt(a, &i, "--format");
        if (!v)
            return tool_error("export: unknown option '%s'", a->argv[i]);
        fmt = v;
    }
    if (!fmt || strcmp(fmt, "perfetto") != 0)
        return tool_error("export: --format=perfetto is the one format (got '%s')",
                          fmt ? fmt : "nothing");
    bool first = true;
    fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[", out);
    metadata(m, &first, out);
    /* Messages: slice (+ flow end) and the flow start at the send.  Flow ids
     * are small sequence numbers: JSON readers hold numbers as doubles. */
    size_t flow = 0;
    for (size_t i = 0; i < m->nmsgs; i++) {
        const ttr_msg_t *g = &m->msgs[i];
        size_t id = g->send != TTR_NONE && g->begin != TTR_NONE ? ++flow : 0;
        if (id) {
            const ttr_rec_t *s = &m->t->rec[g->send];
            ev_head(out, &first, "s", s->track, s->ts);
            fprintf(out, ",\"cat\":\"msg\",\"name\":\"send\",\"id\":%zu}", id);
        }
        if (g->begin != TTR_NONE)
            handled(m, g, id, &first, out);
    }
    /* Worker-level events. */
    uint64_t *slept = calloc(m->ntracks + 1, sizeof *slept);   /* sleep start + 1 */
    for (size_t i = 0; i < m->t->n; i++) {
        const ttr_rec_t *r = &m->t->rec[i];
        char p[32];
        switch (r->kind) {
        case ACTO_TRACE_SLEEP:
            if (slept)
                slept[r->track] = r->ts + 1;
            break;
        case ACTO_TRACE_WAKE:
            if (slept && slept[r->track]) {
                uint64_t t0 = slept[r->track] - 1;
                ev_head(out, &first, "X", r->track, t0);
                fputs(",\"dur\":", out);
                us(out, r->ts - t0);
                fputs(",\"cat\":\"sched\",\"name\":\"sleep\"}", out);
                slept[r->track] = 0;
            }
            break;
        case ACTO_TRACE_STEAL:
            ev_head(out, &first, "i", r->track, r->ts);
            fprintf(out, ",\"s\":\"t\",\"cat\":\"sched\",\"name\":\"steal\",\"args\":"
                    "{\"victim\":%llu,\"actors\":%llu}}", (unsigned long long)r->v[0],
                    (unsigned long long)r->v[1]);
            break;
        case ACTO_TRACE_SPAWN:
        case ACTO_TRACE_EXIT:
            ev_head(out, &first, "i", r->track, r->ts);
            fprintf(out, ",\"s\":\"t\",\"cat\":\"actor\",\"name\":\"%s\",\"args\":{\"actor\":\"%s\"",
                    r->kind == ACTO_TRACE_SPAWN ? "spawn" : "exit", ttr_fmt_pid(r->v[0], p));
            if (r->kind == ACTO_TRACE_SPAWN) {
                fputs(",\"behaviour\":", out);
                ttr_json_str(out, r->str ? r->str : "", r->slen);
            } else {
                fprintf(out, ",\"reason\":%lld", (long long)r->v[1]);
            }
            fputs("}}", out);
            break;
        default:
            break;
        }
    }
    free(slept);
    fputs("\n]}\n", out);
    return 0;
}
