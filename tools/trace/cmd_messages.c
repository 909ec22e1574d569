/* tools/trace/cmd_messages.c - acto-trace messages, flow and graph. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include <acto/trace.h>

#include "tool.h"

/* ---- one message per line ----------------------------------------------------- */

static const ttr_rec_t *rec_at(const ttr_model_t *m, size_t i)
{
    return i == TTR_NONE ? NULL : &m->t->rec[i];
}

static void who(const ttr_model_t *m, uint64_t pid, char *buf, size_t cap)
{
    char p[32];
    const ttr_actor_t *a = pid ? ttr_actor(m, pid) : NULL;
    if (!pid)
        snprintf(buf, cap, "(outside)");
    else
        snprintf(buf, cap, "%s %.*s", ttr_fmt_pid(pid, p), a ? (int)a->nlen : 1, a ? a->name : "?");
}

void tool_msg_line(const ttr_model_t *m, const ttr_msg_t *g, FILE *out)
{
    const ttr_rec_t *s = rec_at(m, g->send), *b = rec_at(m, g->begin), *e = rec_at(m, g->end);
    char from[64] = "?", to[64] = "?", t0[32], w[32] = "-", h[32] = "-", type[16] = "?";
    uint64_t size = 0;
    if (s) {
        who(m, s->v[1], from, sizeof from);
        who(m, s->v[2], to, sizeof to);
        snprintf(type, sizeof type, "%llu", (unsigned long long)s->v[3]);
        size = s->v[4];
    } else if (b) {
        who(m, b->v[1], to, sizeof to);
        snprintf(type, sizeof type, "%llu", (unsigned long long)b->v[2]);
    }
    if (s && b)
        ttr_fmt_ns(b->ts > s->ts ? b->ts - s->ts : 0, w);
    if (b && e)
        ttr_fmt_ns(e->ts > b->ts ? e->ts - b->ts : 0, h);
    else if (b)
        snprintf(h, sizeof h, "unfinished");
    if (s && !b)
        snprintf(w, sizeof w, "never received");
    fprintf(out, "%-10s %-18llu %-22s -> %-22s type %-10s %6llu B  wait %-10s handle %s",
            ttr_fmt_ns(s ? s->ts : b ? b->ts : 0, t0), (unsigned long long)g->id, from, to,
            type, (unsigned long long)size, w, h);
    const ttr_rec_t *p = rec_at(m, g->topic);   /* pub/sub: what it carried */
    if (p && p->kind == ACTO_TRACE_DELIVER)
        fprintf(out, "  delivers %.*s", (int)p->slen, p->slen ? p->str : "(several)");
    else if (p)
        fprintf(out, "  publishes %.*s to %llu", (int)p->slen, p->str, (unsigned long long)p->v[1]);
    if (p && g->npublish > 1)
        fprintf(out, " (+%u more publishes)", g->npublish - 1);
    fputc('\n', out);
}

typedef struct filter {
    uint64_t from, to, actor, type, since, until, limit;
    bool has_from, has_to, has_actor, has_type;
} filter_t;

static bool keep(const ttr_model_t *m, const ttr_msg_t *g, const filter_t *f)
{
    const ttr_rec_t *s = rec_at(m, g->send), *b = rec_at(m, g->begin);
    uint64_t from = s ? s->v[1] : 0, to = s ? s->v[2] : b ? b->v[1] : 0;
    uint64_t type = s ? s->v[3] : b ? b->v[2] : 0, ts = s ? s->ts : b ? b->ts : 0;
    if (!s && !b)
        return false;
    if ((f->has_from && from != f->from) || (f->has_to && to != f->to) ||
        (f->has_type && type != f->type))
        return false;
    if (f->has_actor && from != f->actor && to != f->actor)
        return false;
    return ts >= f->since && ts <= f->until;
}

static int cmp_first_ts(const void *pa, const void *pb, void *arg)
{
    const ttr_model_t *m = arg;
    const ttr_msg_t *a = *(const ttr_msg_t *const *)pa, *b = *(const ttr_msg_t *const *)pb;
    size_t ia = a->send != TTR_NONE ? a->send : a->begin, ib = b->send != TTR_NONE ? b->send : b->begin;
    (void)m;
    return ia < ib ? -1 : ia > ib;   /* records are sorted: index order is time order */
}

static int parse_filter(const tool_args_t *a, filter_t *f)
{
    *f = (filter_t){ .until = UINT64_MAX, .limit = UINT64_MAX };
    for (int i = 0; i < a->argc; i++) {
        const char *v;
        char *e;
        if ((v = tool_opt(a, &i, "--from"))) {
            if (ttr_parse_pid(v, &f->from))
                return tool_error("--from: bad pid '%s'", v);
            f->has_from = true;
        } else if ((v = tool_opt(a, &i, "--to"))) {
            if (ttr_parse_pid(v, &f->to))
                return tool_error("--to: bad pid '%s'", v);
            f->has_to = true;
        } else if ((v = tool_opt(a, &i, "--actor"))) {
            if (ttr_parse_pid(v, &f->actor))
                return tool_error("--actor: bad pid '%s'", v);
            f->has_actor = true;
        } else if ((v = tool_opt(a, &i, "--type"))) {
            f->type = strtoull(v, &e, 0);
            if (!*v || *e)
                return tool_error("--type: bad number '%s'", v);
            f->has_type = true;
        } else if ((v = tool_opt(a, &i, "--since"))) {
            if (ttr_parse_time(v, &f->since))
                return tool_error("--since: bad time '%s' (e.g. 1.5ms)", v);
        } else if ((v = tool_opt(a, &i, "--until"))) {
            if (ttr_parse_time(v, &f->until))
                return tool_error("--until: bad time '%s' (e.g. 1.5ms)", v);
        } else if ((v = tool_opt(a, &i, "--limit"))) {
            f->limit = strtoull(v, &e, 0);
            if (!*v || *e)
                return tool_error("--limit: bad number '%s'", v);
        } else {
            return tool_error("messages: unknown option '%s'", a->argv[i]);
        }
    }
    return 0;
}

int cmd_messages(const ttr_model_t *m, const tool_args_t *a, FILE *out)
{
    filter_t f;
    if (parse_filter(a, &f))
        return 1;
    const ttr_msg_t **v = malloc((m->nmsgs + 1) * sizeof *v);
    if (!v)
        return tool_error("out of memory");
    size_t n = 0;
    for (size_t i = 0; i < m->nmsgs; i++)
        if (keep(m, &m->msgs[i], &f))
            v[n++] = &m->msgs[i];
    qsort_r(v, n, sizeof *v, cmp_first_ts, (void *)m);
    fprintf(out, "%-10s %-18s %-22s    %-22s %-15s %8s  %-15s %s\n", "SENT", "ID", "FROM", "TO",
            "TYPE", "SIZE", "WAIT", "HANDLE");
    for (size_t i = 0; i < n && i < f.limit; i++)
        tool_msg_line(m, v[i], out);
    free(v);
    return 0;
}

/* ---- flow: causes above, effects below ------------------------------------------- */

static uint64_t cause_of(const ttr_model_t *m, const ttr_msg_t *g)
{
    return g->send != TTR_NONE ? m->t->rec[g->send].v[5] : 0;
}

/* A mark column ("* " for the message asked about), then the tree indent. */
static void indent(FILE *out, unsigned depth, const char *mark)
{
    fputs(mark, out);
    for (unsigned i = 0; i < depth; i++)
        fputs("  ", out);
}

/* Print the messages g caused, depth-first, within the limits. */
static void effects(const ttr_model_t *m, const ttr_msg_t *g, unsigned depth, unsigned maxdepth,
                    uint64_t *budget, FILE *out)
{
    for (size_t c = g->first_child; c != TTR_NONE; c = m->msgs[c].next_sibling) {
        if (depth > maxdepth || *budget == 0) {
            size_t more = 0;
            for (; c != TTR_NONE; c = m->msgs[c].next_sibling)
                more++;
            indent(out, depth, "  ");
            fprintf(out, "... %zu more (raise --depth / --max)\n", more);
            return;
        }
        (*budget)--;
        indent(out, depth, "  ");
        tool_msg_line(m, &m->msgs[c], out);
        effects(m, &m->msgs[c], depth + 1, maxdepth, budget, out);
    }
}

int cmd_flow(const ttr_model_t *m, const tool_args_t *a, FILE *out)
{
    uint64_t id = 0, maxdepth = 8, budget = 200, up = 10;
    bool have_id = false;
    for (int i = 0; i < a->argc; i++) {
        const char *v;
        char *e;
        if ((v = tool_opt(a, &i, "--up"))) {
            up = strtoull(v, &e, 0);
            if (!*v || *e)
                return tool_error("--up: bad number '%s'", v);
        } else if ((v = tool_opt(a, &i, "--depth"))) {
            maxdepth = strtoull(v, &e, 0);
            if (!*v || *e)
                return tool_error("--depth: bad number '%s'", v);
        } else if ((v = tool_opt(a, &i, "--max"))) {
            budget = strtoull(v, &e, 0);
            if (!*v || *e)
                return tool_error("--max: bad number '%s'", v);
        } else if (!have_id && a->argv[i][0] != '-') {
            id = strtoull(a->argv[i], &e, 0);
            if (!*a->argv[i] || *e)
                return tool_error("flow: bad message id '%s'", a->argv[i]);
            have_id = true;
        } else {
            return tool_error("flow: unknown option '%s'", a->argv[i]);
        }
    }
    if (!have_id)
        return tool_error("flow: which message? usage: acto-trace flow TRACE MSG_ID");
    const ttr_msg_t *g = ttr_message(m, id);
    if (!g)
        return tool_error("flow: no message %llu in this trace", (unsigned long long)id);
    /* Causes: walk up `up` steps (a corrupt trace could even hold a cycle). */
    if (up > 1000)
        up = 1000;
    const ttr_msg_t **chain = malloc((up + 1) * sizeof *chain);
    if (!chain)
        return tool_error("out of memory");
    unsigned n = 0;
    for (const ttr_msg_t *p = g; p && n <= up; p = ttr_message(m, cause_of(m, p)))
        chain[n++] = p;
    fprintf(out, "  %-10s %-18s %-22s    %-22s %-15s %8s  %-15s %s\n", "SENT", "ID", "FROM",
            "TO", "TYPE", "SIZE", "WAIT", "HANDLE");
    uint64_t before = cause_of(m, chain[n - 1]);
    if (before && ttr_message(m, before))
        fprintf(out, "(earlier causes not shown: raise --up)\n");
    else if (before)
        fprintf(out, "(caused by message %llu, not in this trace)\n", (unsigned long long)before);
    for (unsigned i = n; i-- > 0;) {
        indent(out, n - 1 - i, i == 0 ? "* " : "  ");
        tool_msg_line(m, chain[i], out);
    }
    effects(m, g, n, n + (unsigned)maxdepth - 1, &budget, out);
    free(chain);
    return 0;
}

/* ---- graph ---------------------------------------------------------------------------- */

typedef struct edge { uint64_t from, to, count; } edge_t;

static int cmp_u64(const void *pa, const void *pb)
{
    uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;
    return a < b ? -1 : a > b;
}

static int cmp_edge(const void *pa, const void *pb)
{
    const edge_t *a = pa, *b = pb;
    if (a->from != b->from)
        return a->from < b->from ? -1 : 1;
    return a->to < b->to ? -1 : a->to > b->to;
}

static int cmp_actor_name(const void *pa, const void *pb, void *arg)
{
    const ttr_actor_t *v = arg, *a = &v[*(const size_t *)pa], *b = &v[*(const size_t *)pb];
    uint32_t n = a->nlen < b->nlen ? a->nlen : b->nlen;
    int c = memcmp(a->name, b->name, n);
    return c ? c : (a->nlen > b->nlen) - (a->nlen < b->nlen);
}

/* For --behaviour: group[i] = 1 + index of the first actor (in name order)
 * whose behaviour name equals actor i's.  NULL on out of memory. */
static size_t *behaviour_groups(const ttr_model_t *m)
{
    size_t *order = malloc((m->nactors + 1) * sizeof *order);
    size_t *group = malloc((m->nactors + 1) * sizeof *group);
    if (!order || !group) {
        free(order);
        free(group);
        return NULL;
    }
    for (size_t i = 0; i < m->nactors; i++)
        order[i] = i;
    qsort_r(order, m->nactors, sizeof *order, cmp_actor_name, m->actors);
    for (size_t i = 0; i < m->nactors; i++)
        group[order[i]] = i && !cmp_actor_name(&order[i - 1], &order[i], m->actors)
                          ? group[order[i - 1]] : order[i] + 1;
    free(order);
    return group;
}

/* Node key: the pid, or with groups the actor's group (0 stays "outside"). */
static uint64_t node_of(const ttr_model_t *m, uint64_t pid, const size_t *group)
{
    const ttr_actor_t *a = pid ? ttr_actor(m, pid) : NULL;
    return group && a ? group[a - m->actors] : pid;
}

static void node_decl(const ttr_model_t *m, uint64_t key, bool by_beh, FILE *out)
{
    char p[32];
    if (!key) {
        fputs("  n0 [label=\"(outside actors)\", shape=ellipse];\n", out);
        return;
    }
    if (by_beh && key > m->nactors)
        by_beh = false;                  /* an actor the trace never named */
    const ttr_actor_t *a = by_beh ? &m->actors[key - 1] : ttr_actor(m, key);
    fprintf(out, "  n%llu [label=", (unsigned long long)key);
    char label[320];
    if (by_beh)
        snprintf(label, sizeof label, "%.*s", (int)a->nlen, a->name);
    else
        snprintf(label, sizeof label, "%.*s %s", a ? (int)a->nlen : 1, a ? a->name : "?",
                 ttr_fmt_pid(key, p));
    ttr_json_str(out, label, strlen(label));   /* DOT strings escape like JSON's */
    fputs("];\n", out);
}

int cmd_graph(const ttr_model_t *m, const tool_args_t *a, FILE *out)
{
    bool by_beh = false;
    for (int i = 0; i < a->argc; i++) {
        if (!strcmp(a->argv[i], "--behaviour") || !strcmp(a->argv[i], "--behavior"))
            by_beh = true;
        else
            return tool_error("graph: unknown option '%s'", a->argv[i]);
    }
    edge_t *e = malloc((m->nmsgs + 1) * sizeof *e);
    size_t *group = by_beh ? behaviour_groups(m) : NULL;
    if (!e || (by_beh && !group)) {
        free(e);
        free(group);
        return tool_error("out of memory");
    }
    size_t n = 0;
    for (size_t i = 0; i < m->nmsgs; i++) {
        const ttr_rec_t *s = rec_at(m, m->msgs[i].send);
        if (s && s->v[3] < 0xFFFF0000u)   /* user messages (not ACTO_MSG_SYSTEM+) */
            e[n++] = (edge_t){ node_of(m, s->v[1], group), node_of(m, s->v[2], group), 1 };
    }
    qsort(e, n, sizeof *e, cmp_edge);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k && e[k - 1].from == e[i].from && e[k - 1].to == e[i].to)
            e[k - 1].count++;
        else
            e[k++] = e[i];
    }
    fputs("digraph acto {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n", out);
    /* Declare each node once: collect, sort, dedupe. */
    uint64_t *nodes = malloc((2 * k + 1) * sizeof *nodes);
    size_t nn = 0;
    for (size_t i = 0; nodes && i < k; i++) {
        nodes[nn++] = e[i].from;
        nodes[nn++] = e[i].to;
    }
    if (nodes)
        qsort(nodes, nn, sizeof *nodes, cmp_u64);
    for (size_t i = 0; nodes && i < nn; i++)
        if (i == 0 || nodes[i] != nodes[i - 1])
            node_decl(m, nodes[i], by_beh, out);
    for (size_t i = 0; i < k; i++)
        fprintf(out, "  n%llu -> n%llu [label=\"%llu\"];\n", (unsigned long long)e[i].from,
                (unsigned long long)e[i].to, (unsigned long long)e[i].count);
    fputs("}\n", out);
    free(nodes);
    free(e);
    free(group);
    return nodes || !k ? 0 : tool_error("out of memory");
}
