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

/* The line of message id from its records (NULL: none); p its topic. */
static void msg_line(const ttr_model_t *m, uint64_t id, const ttr_rec_t *s, const ttr_rec_t *b,
                     const ttr_rec_t *e, const ttr_rec_t *p, uint32_t npublish, FILE *out)
{
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
            ttr_fmt_ns(s ? s->ts : b ? b->ts : 0, t0), (unsigned long long)id, from, to,
            type, (unsigned long long)size, w, h);
    if (p && p->kind == ACTO_TRACE_DELIVER)      /* pub/sub: what it carried */
        fprintf(out, "  delivers %.*s", (int)p->slen, p->slen ? p->str : "(several)");
    else if (p)
        fprintf(out, "  publishes %.*s to %llu", (int)p->slen, p->str, (unsigned long long)p->v[1]);
    if (p && npublish > 1)
        fprintf(out, " (+%u more publishes)", npublish - 1);
    fputc('\n', out);
}

void tool_msg_line(const ttr_model_t *m, const ttr_msg_t *g, FILE *out)
{
    msg_line(m, g->id, rec_at(m, g->send), rec_at(m, g->begin), rec_at(m, g->end),
             rec_at(m, g->topic), g->npublish, out);
}

typedef struct filter {
    uint64_t from, to, actor, type, since, until, limit;
    bool has_from, has_to, has_actor, has_type;
} filter_t;

static bool keep(const ttr_rec_t *s, const ttr_rec_t *b, const filter_t *f)
{
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
        if (keep(rec_at(m, m->msgs[i].send), rec_at(m, m->msgs[i].begin), &f))
            v[n++] = &m->msgs[i];
    qsort_r(v, n, sizeof *v, cmp_first_ts, (void *)m);
    fprintf(out, "%-10s %-18s %-22s    %-22s %-15s %8s  %-15s %s\n", "SENT", "ID", "FROM", "TO",
            "TYPE", "SIZE", "WAIT", "HANDLE");
    for (size_t i = 0; i < n && i < f.limit; i++)
        tool_msg_line(m, v[i], out);
    free(v);
    return 0;
}

/* The same in one pass over the messages as a stream hands them out, in
 * the order the sort above gives (ttr_lite_messages). */
typedef struct mstream { const ttr_model_t *m; const filter_t *f; FILE *out; uint64_t shown; } mstream_t;

static int stream_line(void *arg, const ttr_smsg_t *g)
{
    mstream_t *x = arg;
    if (!keep(g->send, g->begin, x->f))
        return 0;
    msg_line(x->m, g->id, g->send, g->begin, g->end, g->topic, g->npublish, x->out);
    return ++x->shown >= x->f->limit;      /* 1: enough, stop reading */
}

int cmd_messages_stream(ttr_lite_t *l, const tool_args_t *a, FILE *out)
{
    filter_t f;
    if (parse_filter(a, &f))
        return 1;
    fprintf(out, "%-10s %-18s %-22s    %-22s %-15s %8s  %-15s %s\n", "SENT", "ID", "FROM", "TO",
            "TYPE", "SIZE", "WAIT", "HANDLE");
    mstream_t x = { &l->m, &f, out, 0 };
    if (f.limit && ttr_lite_messages(l, false, stream_line, &x))
        return tool_error("out of memory");
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

/* A node: an actor's pid (or behaviour group, 0: outside any actor), or a
 * pub/sub subject's index (subj); actors sort before subjects. */
typedef struct gnode { uint64_t key; bool subj; } gnode_t;
/* 24 bytes: there is one per message until they are counted. */
typedef struct edge { uint64_t from, to; uint32_t count; bool fsubj, tsubj; } edge_t;

static edge_t edge(gnode_t from, gnode_t to)
{
    return (edge_t){ from.key, to.key, 1, from.subj, to.subj };
}

static gnode_t edge_from(const edge_t *e)
{
    return (gnode_t){ e->from, e->fsubj };
}

static gnode_t edge_to(const edge_t *e)
{
    return (gnode_t){ e->to, e->tsubj };
}

static int cmp_node(const void *pa, const void *pb)
{
    const gnode_t *a = pa, *b = pb;
    if (a->subj != b->subj)
        return a->subj ? 1 : -1;
    return a->key < b->key ? -1 : a->key > b->key;
}

static int cmp_edge(const void *pa, const void *pb)
{
    const edge_t *a = pa, *b = pb;
    gnode_t af = edge_from(a), bf = edge_from(b), at = edge_to(a), bt = edge_to(b);
    int c = cmp_node(&af, &bf);
    return c ? c : cmp_node(&at, &bt);
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

/* Pub/sub subjects are nodes of their own. */
static gnode_t subject_node(const ttr_model_t *m, const ttr_rec_t *r)
{
    const ttr_subject_t *s = ttr_subject(m, r->slen ? r->str : "", r->slen);
    return s ? (gnode_t){ (uint64_t)(s - m->subjects), true } : (gnode_t){ 0, false };
}

static gnode_t actor_node(const ttr_model_t *m, uint64_t pid, const size_t *group)
{
    return (gnode_t){ node_of(m, pid, group), false };
}

static void node_name(gnode_t n, FILE *out)
{
    fprintf(out, n.subj ? "s%llu" : "n%llu", (unsigned long long)n.key);
}

static void node_decl(const ttr_model_t *m, gnode_t n, bool by_beh, FILE *out)
{
    char p[32];
    uint64_t key = n.key;
    if (n.subj) {
        const ttr_subject_t *s = &m->subjects[key];
        fprintf(out, "  s%llu [label=", (unsigned long long)key);
        ttr_json_str(out, s->nlen ? s->name : "(several subjects)", s->nlen ? s->nlen : 18);
        fputs(", shape=ellipse, style=filled, fillcolor=\"#fff2c4\"];\n", out);
        return;
    }
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

static int graph_args(const tool_args_t *a, bool *by_beh)
{
    *by_beh = false;
    for (int i = 0; i < a->argc; i++) {
        if (!strcmp(a->argv[i], "--behaviour") || !strcmp(a->argv[i], "--behavior"))
            *by_beh = true;
        else
            return tool_error("graph: unknown option '%s'", a->argv[i]);
    }
    return 0;
}

/* Print the graph of edges e[0..n) (counted; an edge may come more than
 * once: the counts add up).  Sorts e. */
static int graph_print(const ttr_model_t *m, edge_t *e, size_t n, bool by_beh, FILE *out)
{
    if (n)
        qsort(e, n, sizeof *e, cmp_edge);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k && !cmp_edge(&e[k - 1], &e[i]))
            e[k - 1].count += e[i].count;
        else
            e[k++] = e[i];
    }
    fputs("digraph acto {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n", out);
    /* Declare each node once: collect, sort, dedupe. */
    gnode_t *nodes = malloc((2 * k + 1) * sizeof *nodes);
    size_t nn = 0;
    for (size_t i = 0; nodes && i < k; i++) {
        nodes[nn++] = edge_from(&e[i]);
        nodes[nn++] = edge_to(&e[i]);
    }
    if (nodes)
        qsort(nodes, nn, sizeof *nodes, cmp_node);
    for (size_t i = 0; nodes && i < nn; i++)
        if (i == 0 || cmp_node(&nodes[i], &nodes[i - 1]))
            node_decl(m, nodes[i], by_beh, out);
    for (size_t i = 0; i < k; i++) {
        fputs("  ", out);
        node_name(edge_from(&e[i]), out);
        fputs(" -> ", out);
        node_name(edge_to(&e[i]), out);
        fprintf(out, " [label=\"%llu\"];\n", (unsigned long long)e[i].count);
    }
    fputs("}\n", out);
    free(nodes);
    return nodes || !k ? 0 : tool_error("out of memory");
}

int cmd_graph(const ttr_model_t *m, const tool_args_t *a, FILE *out)
{
    bool by_beh;
    if (graph_args(a, &by_beh))
        return 1;
    size_t npub = 0;
    for (size_t i = 0; i < m->nmsgs; i++)
        npub += m->msgs[i].npublish;
    edge_t *e = malloc((m->nmsgs + npub + 1) * sizeof *e);
    size_t *group = by_beh ? behaviour_groups(m) : NULL;
    if (!e || (by_beh && !group)) {
        free(e);
        free(group);
        return tool_error("out of memory");
    }
    size_t n = 0;
    /* Pub/sub goes through its subject: publisher -> subject for each
     * publish (not -> the channel shard), subject -> subscriber for each
     * delivery (not publisher -> subscriber), whatever the message types. */
    for (size_t i = 0; i < m->nmsgs; i++) {
        const ttr_msg_t *g = &m->msgs[i];
        const ttr_rec_t *s = rec_at(m, g->send), *p = rec_at(m, g->topic);
        if (!s)
            continue;
        if (p && p->kind == ACTO_TRACE_DELIVER)
            e[n++] = edge(subject_node(m, p), actor_node(m, s->v[2], group));
        else if (!p && s->v[3] < 0xFFFF0000u)  /* user messages (not ACTO_MSG_SYSTEM+) */
            e[n++] = edge(actor_node(m, s->v[1], group), actor_node(m, s->v[2], group));
    }
    for (size_t i = 0; i < m->t->n; i++) {
        const ttr_rec_t *r = &m->t->rec[i];
        const ttr_msg_t *g = r->kind == ACTO_TRACE_PUBLISH ? ttr_message(m, r->v[0]) : NULL;
        const ttr_rec_t *s = g ? rec_at(m, g->send) : NULL;
        if (s && n < m->nmsgs + npub)
            e[n++] = edge(actor_node(m, s->v[1], group), subject_node(m, r));
    }
    int rc = graph_print(m, e, n, by_beh, out);
    free(e);
    free(group);
    return rc;
}

/* ---- graph of a streamed trace: edges counted as they come, between pids
 * (and subjects); behaviour groups applied at the end, when every actor is
 * known.  A publish whose message's send comes after it in time (clock
 * skew) waits in `later` for that send. */

typedef struct gstream {
    const ttr_model_t *m;
    edge_t *e;                  /* distinct edges so far, counted */
    size_t n, cap;
    uint32_t *slot;             /* open addressing: e index + 1, 0 empty */
    size_t nslot;
    struct { uint64_t id, subj; } *later;
    size_t nlater, caplater;
} gstream_t;

static size_t edge_hash(const edge_t *x)
{
    uint64_t h = (x->from * 0x9e3779b97f4a7c15ull) ^ (x->to + ((uint64_t)x->fsubj << 1 | x->tsubj));
    h ^= h >> 31;
    h *= 0xff51afd7ed558ccdull;
    return (size_t)(h ^ (h >> 29));
}

static int gs_add(gstream_t *g, edge_t x)
{
    if ((g->n + 1) * 2 > g->nslot) {
        size_t ns = g->nslot ? g->nslot * 2 : 256;
        uint32_t *slot = calloc(ns, sizeof *slot);
        edge_t *e = realloc(g->e, ns / 2 * sizeof *e);
        if (e)
            g->e = e;
        if (!slot || !e) {
            free(slot);
            return -1;
        }
        for (size_t i = 0; i < g->n; i++) {
            size_t j = edge_hash(&g->e[i]) & (ns - 1);
            while (slot[j])
                j = (j + 1) & (ns - 1);
            slot[j] = (uint32_t)i + 1;
        }
        free(g->slot);
        g->slot = slot;
        g->nslot = ns;
    }
    size_t j = edge_hash(&x) & (g->nslot - 1);
    for (; g->slot[j]; j = (j + 1) & (g->nslot - 1))
        if (!cmp_edge(&g->e[g->slot[j] - 1], &x)) {
            g->e[g->slot[j] - 1].count++;
            return 0;
        }
    g->e[g->n] = x;
    g->slot[j] = (uint32_t)++g->n;
    return 0;
}

/* Every record (after the model took it): publisher -> subject. */
static int gs_record(void *arg, const ttr_rec_t *r, const ttr_smsg_t *before)
{
    gstream_t *g = arg;
    if (!before)
        return 0;                       /* not a message's record (id 0) */
    if (r->kind == ACTO_TRACE_SEND && g->nlater) {
        for (size_t i = 0; i < g->nlater;)
            if (g->later[i].id == r->v[0]) {
                if (gs_add(g, edge((gnode_t){ r->v[1], false }, (gnode_t){ g->later[i].subj, true })))
                    return -1;
                g->later[i] = g->later[--g->nlater];
            } else {
                i++;
            }
    }
    if (r->kind != ACTO_TRACE_PUBLISH)
        return 0;
    gnode_t subj = subject_node(g->m, r);
    if (before->send)
        return gs_add(g, edge((gnode_t){ before->send->v[1], false }, subj));
    if (g->nlater == g->caplater) {     /* its send may come later */
        size_t nc = g->caplater ? 2 * g->caplater : 16;
        void *v = realloc(g->later, nc * sizeof *g->later);
        if (!v)
            return -1;
        g->later = v;
        g->caplater = nc;
    }
    g->later[g->nlater].id = r->v[0];
    g->later[g->nlater++].subj = subj.key;
    return 0;
}

/* Every message once all its records are in: its own edge. */
static int gs_message(void *arg, const ttr_smsg_t *m)
{
    gstream_t *g = arg;
    const ttr_rec_t *s = m->send, *p = m->topic;
    if (!s)
        return 0;
    if (p && p->kind == ACTO_TRACE_DELIVER)
        return gs_add(g, edge(subject_node(g->m, p), (gnode_t){ s->v[2], false }));
    if (!p && s->v[3] < 0xFFFF0000u)
        return gs_add(g, edge((gnode_t){ s->v[1], false }, (gnode_t){ s->v[2], false }));
    return 0;
}

int cmd_graph_stream(ttr_lite_t *l, const tool_args_t *a, FILE *out)
{
    bool by_beh;
    if (graph_args(a, &by_beh))
        return 1;
    const ttr_model_t *m = &l->m;
    gstream_t g = { .m = m };
    size_t *group = NULL;
    int rc = -1;
    if (ttr_model_stream(l, false, gs_record, &g) || ttr_lite_messages(l, true, gs_message, &g) ||
        (by_beh && !(group = behaviour_groups(m))))
        goto out;
    for (size_t i = 0; i < g.n; i++) {  /* pids to nodes */
        if (!g.e[i].fsubj)
            g.e[i].from = node_of(m, g.e[i].from, group);
        if (!g.e[i].tsubj)
            g.e[i].to = node_of(m, g.e[i].to, group);
    }
    rc = graph_print(m, g.e, g.n, by_beh, out);
out:
    free(g.e);
    free(g.slot);
    free(g.later);
    free(group);
    return rc < 0 ? tool_error("out of memory") : rc;
}
