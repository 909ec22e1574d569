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
static void handled(const ttr_model_t *m, const ttr_smsg_t *g, uint64_t last, size_t flow,
                    bool *first, FILE *out)
{
    const ttr_rec_t *b = g->begin, *e = g->end;
    uint64_t end = e ? e->ts : last;    /* unfinished: to the end of the trace */
    const ttr_actor_t *a = ttr_actor(m, b->v[1]);
    char name[320], pid[32];
    snprintf(name, sizeof name, "%.*s/%llu", a ? (int)a->nlen : 1, a ? a->name : "?",
             (unsigned long long)b->v[2]);
    ev_head(out, first, "X", b->track, b->ts);
    fputs(",\"dur\":", out);
    us(out, end > b->ts ? end - b->ts : 0);
    fputs(",\"cat\":\"receive\",\"name\":", out);
    ttr_json_str(out, name, strlen(name));
    fprintf(out, ",\"args\":{\"msg\":\"%llu\",\"actor\":\"%s\",\"type\":%llu%s",
            (unsigned long long)g->id, ttr_fmt_pid(b->v[1], pid), (unsigned long long)b->v[2],
            e ? "" : ",\"unfinished\":true");
    const ttr_rec_t *p = g->topic;
    if (p) {                            /* pub/sub: the subject it delivered or published */
        fputs(p->kind == ACTO_TRACE_DELIVER ? ",\"subject\":" : ",\"publishes\":", out);
        ttr_json_str(out, p->slen ? p->str : "", p->slen);
        if (p->kind == ACTO_TRACE_PUBLISH)
            fprintf(out, ",\"publish_count\":%u", g->npublish);
    }
    fputs("}}", out);
    if (flow) {
        ev_head(out, first, "f", b->track, b->ts);
        fprintf(out, ",\"bp\":\"e\",\"cat\":\"msg\",\"name\":\"send\",\"id\":%zu}", flow);
    }
}

/* A shard routed a publish (at the begin of the receive that carried it)
 * or sent a delivery: an instant on its track, named by the subject. */
static void pubsub_instant(const ttr_rec_t *r, bool *first, FILE *out)
{
    bool pub = r->kind == ACTO_TRACE_PUBLISH;
    char name[1100], p[32];
    snprintf(name, sizeof name, "%s %.*s", pub ? "publish" : "deliver", (int)r->slen,
             r->slen ? r->str : "(several)");
    ev_head(out, first, "i", r->track, r->ts);
    fputs(",\"s\":\"t\",\"cat\":\"pubsub\",\"name\":", out);
    ttr_json_str(out, name, strlen(name));
    fputs(",\"args\":{\"subject\":", out);
    ttr_json_str(out, r->slen ? r->str : "", r->slen);
    fprintf(out, ",\"msg\":\"%llu\"", (unsigned long long)r->v[0]);
    if (pub)
        fprintf(out, ",\"subscribers\":%llu}}", (unsigned long long)r->v[1]);
    else
        fprintf(out, ",\"to\":\"%s\"}}", ttr_fmt_pid(r->v[1], p));
}

/* Export state: where to write, the flow ids so far, sleeping tracks. */
typedef struct ex {
    const ttr_model_t *m;
    FILE *out;
    bool first;
    uint64_t last;              /* the latest record's ts: unfinished slices end there */
    size_t flow;
    uint64_t *slept;            /* per track: the sleep's start + 1, or 0 */
} ex_t;

/* A message: the flow's start at its send and the slice that handled it.
 * Flow ids are small sequence numbers: JSON readers hold numbers as doubles. */
static void message(ex_t *x, const ttr_smsg_t *g)
{
    size_t id = g->send && g->begin ? ++x->flow : 0;
    if (id) {
        ev_head(x->out, &x->first, "s", g->send->track, g->send->ts);
        fprintf(x->out, ",\"cat\":\"msg\",\"name\":\"send\",\"id\":%zu}", id);
    }
    if (g->begin)
        handled(x->m, g, x->last, id, &x->first, x->out);
}

static int message_cb(void *arg, const ttr_smsg_t *g)
{
    message(arg, g);
    return 0;
}

static int worker_event(ex_t *x, const ttr_rec_t *r, uint64_t ord);
static int worker_event_cb(void *arg, const ttr_rec_t *r, uint64_t ord);
static int parse(const tool_args_t *a);

int cmd_export(const ttr_model_t *m, const tool_args_t *a, FILE *out)
{
    if (parse(a))
        return 1;
    ex_t x = { .m = m, .out = out, .first = true,
               .last = m->t->n ? m->t->rec[m->t->n - 1].ts : 0 };
    fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[", out);
    metadata(m, &x.first, out);
    /* Messages: slice (+ flow end) and the flow start at the send. */
    for (size_t i = 0; i < m->nmsgs; i++) {
        const ttr_msg_t *g = &m->msgs[i];
        const ttr_rec_t *r = m->t->rec;
        ttr_smsg_t sg = { .id = g->id, .npublish = g->npublish,
                          .send = g->send != TTR_NONE ? &r[g->send] : NULL,
                          .begin = g->begin != TTR_NONE ? &r[g->begin] : NULL,
                          .end = g->end != TTR_NONE ? &r[g->end] : NULL,
                          .topic = g->topic != TTR_NONE ? &r[g->topic] : NULL };
        message(&x, &sg);
    }
    /* Worker-level events. */
    if (!(x.slept = calloc(m->ntracks + 1, sizeof *x.slept)))
        return tool_error("out of memory");
    for (size_t i = 0; i < m->t->n; i++)
        worker_event(&x, &m->t->rec[i], 0);
    free(x.slept);
    fputs("\n]}\n", out);
    return 0;
}

static int parse(const tool_args_t *a)
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
    return 0;
}

/* The same in two passes over a streamed trace: the messages as they are
 * handed out (in the model's order), then the worker-level events. */
int cmd_export_stream(ttr_lite_t *l, const tool_args_t *a, FILE *out)
{
    if (parse(a))
        return 1;
    ex_t x = { .m = &l->m, .out = out, .first = true, .last = l->last_ts };
    fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[", out);
    metadata(&l->m, &x.first, out);
    if (ttr_lite_messages(l, true, message_cb, &x) ||
        !(x.slept = calloc(l->m.ntracks + 1, sizeof *x.slept)) ||
        ttr_stream(&l->t, worker_event_cb, &x)) {
        free(x.slept);
        return tool_error("out of memory");
    }
    free(x.slept);
    fputs("\n]}\n", out);
    return 0;
}

/* One record's worker-level event, if it has one (in time order). */
static int worker_event(ex_t *x, const ttr_rec_t *r, uint64_t ord)
{
    FILE *out = x->out;
    bool *first = &x->first;
    uint64_t *slept = x->slept;
    char p[32];
    (void)ord;
    switch (r->kind) {
        case ACTO_TRACE_SLEEP:
            slept[r->track] = r->ts + 1;
            break;
        case ACTO_TRACE_WAKE:
            if (slept[r->track]) {
                uint64_t t0 = slept[r->track] - 1;
                ev_head(out, first, "X", r->track, t0);
                fputs(",\"dur\":", out);
                us(out, r->ts - t0);
                fputs(",\"cat\":\"sched\",\"name\":\"sleep\"}", out);
                slept[r->track] = 0;
            }
            break;
        case ACTO_TRACE_STEAL:
            ev_head(out, first, "i", r->track, r->ts);
            fprintf(out, ",\"s\":\"t\",\"cat\":\"sched\",\"name\":\"steal\",\"args\":"
                    "{\"victim\":%llu,\"actors\":%llu}}", (unsigned long long)r->v[0],
                    (unsigned long long)r->v[1]);
            break;
        case ACTO_TRACE_PUBLISH:
        case ACTO_TRACE_DELIVER:
            pubsub_instant(r, first, out);
            break;
        case ACTO_TRACE_SPAWN:
        case ACTO_TRACE_EXIT:
            ev_head(out, first, "i", r->track, r->ts);
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
    return 0;
}

static int worker_event_cb(void *arg, const ttr_rec_t *r, uint64_t ord)
{
    return worker_event(arg, r, ord);
}
