/* tools/trace/reader.h - reading acto trace files (docs/trace-format.md)
 * and the indexes every acto-trace subcommand works from. */
#ifndef ACTO_TRACE_READER_H
#define ACTO_TRACE_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <acto/trace.h>

/* "No record / no message": indexes are below it (a trace holds fewer than
 * 2^32 - 1 records; the reader refuses more), so they fit in 32 bits. */
#define TTR_NONE ((size_t)UINT32_MAX)
#define TTR_NV 6

/* One record, 64 bytes (a big trace holds millions).  v[] holds the numeric
 * fields after `track`, in the order of the format, strings left out;
 * str/slen is the record's string field (a spawn's behaviour name, a
 * track's role, a pub/sub subject), pointing into the file image.  Only
 * the kinds with a string have str: it shares v[5]'s place, which those
 * kinds (at most 3 numeric fields) never use; ttr_rec_has_str says which. */
typedef struct ttr_rec {
    uint64_t ts;            /* ns since the header's start_ns */
    uint8_t kind;           /* < 256: the reader skips larger (unknown) kinds */
    uint8_t unused_;
    uint16_t track;         /* < 65535 (docs/trace-format.md, Tracks) */
    uint32_t slen;
    union {
        uint64_t v[TTR_NV]; /* signed fields (exit reason) stored as int64 */
        struct {
            uint64_t v_before_str_[TTR_NV - 1];
            const char *str;
        };
    };
} ttr_rec_t;

static inline bool ttr_rec_has_str(const ttr_rec_t *r)
{
    return r->kind == ACTO_TRACE_SPAWN || r->kind == ACTO_TRACE_TRACK ||
           r->kind == ACTO_TRACE_PUBLISH || r->kind == ACTO_TRACE_DELIVER;
}

/* Receives records one at a time (ttr_scan, ttr_stream); ord is the
 * record's position in the file's order.  0, or -1: out of memory. */
typedef int (*ttr_sink_t)(void *arg, const ttr_rec_t *r, uint64_t ord);

typedef struct ttr_trace {
    /* header */
    uint64_t version, start_ns, start_unix_ns, workers, pid;
    uint64_t tick0;         /* v2: the clock at start_ns, modulo 2^56 */
    char program[64], clock[16];
    /* records, sorted by (ts, file order) */
    ttr_rec_t *rec;
    size_t n;
    uint64_t skipped;       /* records (v2: units) of unknown kinds */
    uint64_t lost_words;    /* v2: gaps in a track's blocks (warned about) */
    /* damage: the records before it are in rec[] */
    bool damaged;
    uint64_t damage_offset;
    char error[256];
    char *image;            /* the file's bytes */
    size_t size;
    bool mapped;            /* image is a read-only mmap of the file (else malloc'd) */
    /* ttr_scan: the blocks, for ttr_stream; false if the file has version-1
     * records (they are not in blocks: only ttr_load reads such a file) */
    struct ttr_blocks *blocks;
    bool streamable;
} ttr_trace_t;

/* Read path.  0: read (check damaged); -1: not readable at all (error[]
 * says why).  Warnings (unknown kinds) go to warn if not NULL. */
int  ttr_load(ttr_trace_t *t, const char *path, FILE *warn);
/* The same from bytes in memory (copied). */
int  ttr_load_mem(ttr_trace_t *t, const void *buf, size_t len, FILE *warn);
void ttr_free(ttr_trace_t *t);

/* For traces too big to hold (docs/tracing.md, "Big traces"): ttr_scan
 * reads path as ttr_load does (header, damage, warnings, t->n counts the
 * records) but keeps no record: each goes to sink, in the file's order,
 * and the trace keeps an index of its blocks.  ttr_stream then hands the
 * same records to sink in ttr_load's order (time, then file position),
 * decoding each track's blocks as the merge reaches them, in memory that
 * does not grow with the trace (t->streamable must be true).  ttr_scan's
 * sink returns 0 or -1 (out of memory: ttr_scan fails); a nonzero return
 * of ttr_stream's stops it, and ttr_stream returns that value (or -1: out
 * of memory), else 0.  ttr_free releases it all. */
int  ttr_scan(ttr_trace_t *t, const char *path, FILE *warn, ttr_sink_t sink, void *arg);
int  ttr_stream(const ttr_trace_t *t, ttr_sink_t sink, void *arg);

/* ---- the model: actors, messages, workers ------------------------------- */

typedef struct ttr_samples {  /* a sample set: durations in ns */
    uint64_t *v;
    size_t n, cap;
} ttr_samples_t;

typedef struct ttr_actor {
    uint64_t pid, parent;
    const char *name;       /* "?" if the spawn was not traced */
    uint32_t nlen;
    size_t spawn, exit;     /* record indexes or TTR_NONE */
    uint64_t in, out;       /* messages received / sent */
    uint64_t busy;          /* ns spent handling */
    uint64_t depth, max_depth;
    ttr_samples_t wait, handle;
} ttr_actor_t;

/* 40 bytes: indexes are 32-bit (TTR_NONE), one of these per message. */
typedef struct ttr_msg {
    uint64_t id;
    uint32_t send, begin, end; /* record indexes or TTR_NONE */
    uint32_t first_child;      /* messages it caused: a list through */
    uint32_t next_sibling;     /* these two (indexes into msgs) */
    uint32_t topic;            /* pub/sub: its DELIVER, else its first PUBLISH, or TTR_NONE */
    uint32_t npublish;         /* PUBLISH records it carried */
} ttr_msg_t;

typedef struct ttr_worker {
    uint64_t busy, handled, steals, stolen, sleeps, wakes;
    const char *role;          /* from its TRACK record, or NULL */
    uint32_t rlen, index;
} ttr_worker_t;

/* Pub/sub: one row per subject seen in PUBLISH or DELIVER records (the
 * empty subject: deliveries of broker batches that mixed subjects). */
typedef struct ttr_subject {
    const char *name;
    uint32_t nlen;
    uint64_t publishes;        /* PUBLISH records: publishes routed by a shard */
    uint64_t deliveries;       /* DELIVER records: delivery messages sent */
    uint64_t reached;          /* sum of the publishes' subscriber counts */
    ttr_samples_t fanout;      /* subscribers per publish */
    ttr_samples_t wait;        /* deliveries: send (the shard's receive begin) to
                                  the subscriber's receive begin, ns */
} ttr_subject_t;

typedef struct ttr_map { uint64_t *key; uint32_t *val; size_t cap, n; } ttr_map_t;

typedef struct ttr_model {
    const ttr_trace_t *t;
    ttr_actor_t *actors;
    size_t nactors;
    ttr_msg_t *msgs;
    size_t nmsgs;
    ttr_worker_t *tracks;      /* indexed by track */
    size_t ntracks;
    uint64_t duration;         /* ns from the first to the last record */
    uint64_t nsent;            /* messages with a send record */
    ttr_subject_t *subjects;   /* in order of first appearance */
    size_t nsubjects;
    size_t *subj_slot, subj_cap;   /* open addressing: subject index + 1, 0 empty */
    ttr_map_t actor_ix, msg_ix;
    bool oom;
} ttr_model_t;

int  ttr_model_build(ttr_model_t *m, const ttr_trace_t *t);
void ttr_model_free(ttr_model_t *m);
ttr_actor_t *ttr_actor(const ttr_model_t *m, uint64_t pid);
ttr_msg_t *ttr_message(const ttr_model_t *m, uint64_t id);
/* The subject row of a PUBLISH or DELIVER record's subject, or NULL. */
ttr_subject_t *ttr_subject(const ttr_model_t *m, const char *name, uint32_t nlen);
/* qsort order for an array of ttr_subject_t pointers: most traffic
 * (publishes + deliveries) first, then by name. */
int ttr_subject_cmp_traffic(const void *pa, const void *pb);

/* ---- streaming: messages and export on traces too big to hold ------------- */

/* Name what a streamed record refers to: the actors' behaviour names and
 * the tracks' roles (the rest of the model stays empty). */
int ttr_model_note(ttr_model_t *m, const ttr_rec_t *r, size_t *acap);

/* A message as its records describe it (NULL: no such record). */
typedef struct ttr_smsg {
    uint64_t id;
    const ttr_rec_t *send, *begin, *end;
    const ttr_rec_t *topic;    /* its DELIVER, else its first PUBLISH */
    uint32_t npublish;
} ttr_smsg_t;
typedef int (*ttr_smsg_fn)(void *arg, const ttr_smsg_t *g);   /* 0 go on, 1 stop, -1 error */

typedef struct ttr_lite {
    ttr_trace_t t;
    ttr_model_t m;             /* names only (ttr_model_note); m.t = &t, without records */
    uint64_t first_ts, last_ts;   /* the earliest and the latest record's ts */
    struct ttr_ids *ids;       /* records per message id, from the first pass */
    size_t acap;
} ttr_lite_t;

/* First pass over path (ttr_scan): names, and how many records each message
 * has.  0, or -1 (l->t.error says why). */
int  ttr_lite_load(ttr_lite_t *l, const char *path, FILE *warn);
/* Second pass (ttr_stream): fn gets each message once all its records are
 * in (at the end, the ones still missing some), in the order of the
 * message's first record (by_first), or else of its send (its receive
 * begin if it was not sent in this trace; messages with neither are left
 * out): the orders of the model's messages and of `acto-trace messages`.
 * Memory: the messages begun and not yet handed out.  0, -1 (no memory). */
int  ttr_lite_messages(ttr_lite_t *l, bool by_first, ttr_smsg_fn fn, void *arg);
/* Second pass, record by record in time order: each gets every record,
 * with (for a record of a message) what the message's earlier records
 * were, else NULL; it returns 0 or -1 (stops: no memory).  0 or -1. */
typedef int (*ttr_srec_fn)(void *arg, const ttr_rec_t *r, const ttr_smsg_t *before);
int  ttr_lite_records(ttr_lite_t *l, ttr_srec_fn each, void *arg);
/* The model of a streamed trace, for summary and graph: actors (numbered
 * in ttr_model_build's order), tracks and subjects with their counters and
 * (if samples) samples as ttr_model_build gives them, and no messages
 * (m->nmsgs 0; m->nsent counts them).  also (if not NULL) gets each record
 * after the model took it.  0 or -1 (no memory). */
int  ttr_model_stream(ttr_lite_t *l, bool samples, ttr_srec_fn also, void *arg);
void ttr_lite_free(ttr_lite_t *l);

/* Samples: sort once, then read percentiles (0..100). */
void ttr_samples_sort(ttr_samples_t *s);
uint64_t ttr_pct(const ttr_samples_t *s, double pct);

/* Text helpers shared by the subcommands. */
const char *ttr_fmt_pid(uint64_t pid, char buf[32]);          /* "<slot.gen>" */
const char *ttr_fmt_ns(uint64_t ns, char buf[32]);            /* "1.23ms" */
int ttr_parse_pid(const char *s, uint64_t *pid);              /* 0 ok */
int ttr_parse_time(const char *s, uint64_t *ns);              /* "5ms" */
const char *ttr_kind_name(uint32_t kind);
void ttr_json_str(FILE *f, const char *s, size_t n);          /* quoted, escaped */

#endif
