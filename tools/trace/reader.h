/* tools/trace/reader.h - reading acto trace files (docs/trace-format.md)
 * and the indexes every acto-trace subcommand works from. */
#ifndef ACTO_TRACE_READER_H
#define ACTO_TRACE_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TTR_NONE SIZE_MAX
#define TTR_NV 6

/* One record.  v[] holds the numeric fields after `track`, in the order of
 * the format, strings left out; str/slen is the record's string field (a
 * spawn's behaviour name, a track's role), pointing into the file image. */
typedef struct ttr_rec {
    uint64_t ts;            /* ns since the header's start_ns */
    uint32_t kind, track;
    uint64_t v[TTR_NV];     /* signed fields (exit reason) stored as int64 */
    const char *str;
    uint32_t slen;
    uint32_t ord;           /* position in the file: sort tie-break */
} ttr_rec_t;

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
} ttr_trace_t;

/* Read path.  0: read (check damaged); -1: not readable at all (error[]
 * says why).  Warnings (unknown kinds) go to warn if not NULL. */
int  ttr_load(ttr_trace_t *t, const char *path, FILE *warn);
/* The same from bytes in memory (copied). */
int  ttr_load_mem(ttr_trace_t *t, const void *buf, size_t len, FILE *warn);
void ttr_free(ttr_trace_t *t);

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

typedef struct ttr_msg {
    uint64_t id;
    size_t send, begin, end;   /* record indexes or TTR_NONE */
    size_t first_child;        /* messages it caused: a list through */
    size_t next_sibling;       /* these two (indexes into msgs) */
    size_t topic;              /* pub/sub: its DELIVER, else its first PUBLISH, or TTR_NONE */
    uint32_t npublish;         /* PUBLISH records it carried */
} ttr_msg_t;

typedef struct ttr_worker {
    uint64_t busy, handled, steals, stolen, sleeps, wakes;
    const char *role;          /* from its TRACK record, or NULL */
    uint32_t rlen, index;
} ttr_worker_t;

typedef struct ttr_map { uint64_t *key; size_t *val; size_t cap, n; } ttr_map_t;

typedef struct ttr_model {
    const ttr_trace_t *t;
    ttr_actor_t *actors;
    size_t nactors;
    ttr_msg_t *msgs;
    size_t nmsgs;
    ttr_worker_t *tracks;      /* indexed by track */
    size_t ntracks;
    uint64_t duration;         /* ns from the first to the last record */
    ttr_map_t actor_ix, msg_ix;
    bool oom;
} ttr_model_t;

int  ttr_model_build(ttr_model_t *m, const ttr_trace_t *t);
void ttr_model_free(ttr_model_t *m);
ttr_actor_t *ttr_actor(const ttr_model_t *m, uint64_t pid);
ttr_msg_t *ttr_message(const ttr_model_t *m, uint64_t id);

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
