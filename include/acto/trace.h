/* acto/trace.h - recording what actors do, for the acto-trace tool.
 *
 * Tracing is off by default.  Turn it on with the environment variable
 * ACTO_TRACE=path, with acto_config_t.trace_path, or with acto_trace_start.
 * The file format is docs/trace-format.md; the record kinds below are its
 * `kind` values, for readers written in C.
 *
 * Start and stop only while no thread uses the runtime (before or between
 * acto_runtime_run calls, with no attached thread sending): the hot paths
 * read the per-context trace pointer without synchronisation.
 */
#ifndef ACTO_TRACE_H
#define ACTO_TRACE_H

#include "runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ACTO_TRACE_MAGIC "ACTOTRC\n"   /* 8 bytes at offset 0 */
#define ACTO_TRACE_VERSION 2     /* readers also read version 1 */

/* Record kinds (field lists in docs/trace-format.md).  A version-2 writer
 * writes only ACTO_TRACE_BLOCK records, each carrying one thread's events
 * as packed units (below); a reader expands them into the per-event kinds
 * 1..20, which version 1 wrote as records of their own. */
enum {
    ACTO_TRACE_SPAWN = 1,       /* pid, parent, behaviour name, cause */
    ACTO_TRACE_EXIT = 2,        /* pid, reason */
    ACTO_TRACE_SEND = 3,        /* msg id, from, to, type, size, cause */
    ACTO_TRACE_RECV_BEGIN = 4,  /* msg id, pid, type */
    ACTO_TRACE_RECV_END = 5,    /* msg id */
    ACTO_TRACE_DEPTH = 6,       /* pid, mailbox depth (sampled) */
    ACTO_TRACE_STEAL = 7,       /* victim worker, actors moved */
    ACTO_TRACE_SLEEP = 8,       /* (worker parks) */
    ACTO_TRACE_WAKE = 9,        /* (worker resumes) */
    ACTO_TRACE_TRACK = 10,      /* role ("worker", "root", "thread"), index */
    ACTO_TRACE_BLOCK = 11,      /* v2: track's clock span, state, packed units */
    /* Reserved for the proactor; no runtime writes them yet. */
    ACTO_TRACE_IO_SUBMIT = 16,  /* op, fd, request id, pid */
    ACTO_TRACE_IO_COMPLETE = 17,/* op, fd, request id, result, pid */
    ACTO_TRACE_TIMER_FIRE = 18, /* timer id, pid */
    /* Pub/sub: written by the channel actors (units U_PUBLISH, U_DELIVER). */
    ACTO_TRACE_PUBLISH = 19,    /* topic, msg id, subscribers */
    ACTO_TRACE_DELIVER = 20,    /* topic, msg id, pid */
};

/* Version 2 packed units, inside a BLOCK record's bin: little-endian 64-bit
 * words; the low byte of a unit's first word is one of these (layouts in
 * docs/trace-format.md).  Kinds ACTO_TRACE_U_EXT and up carry their length
 * in words in the second byte, so a reader can skip kinds it does not know. */
enum {
    ACTO_TRACE_U_SPAWN = 1,     /* ts; pid; parent; name length; name words */
    ACTO_TRACE_U_EXIT = 2,      /* ts; pid; reason */
    ACTO_TRACE_U_SEND = 3,      /* type, size (< 2^24); to  -- inside a receive */
    ACTO_TRACE_U_RECV = 4,      /* ts; id  -- of a message sent on this track */
    ACTO_TRACE_U_RECV_END = 5,  /* ts */
    ACTO_TRACE_U_DEPTH = 6,     /* depth; pid  -- inside a receive */
    ACTO_TRACE_U_STEAL = 7,     /* ts; victim, count */
    ACTO_TRACE_U_SLEEP = 8,     /* ts */
    ACTO_TRACE_U_WAKE = 9,      /* ts */
    ACTO_TRACE_U_TRACK = 10,    /* ts; role, index */
    ACTO_TRACE_U_SEND_X = 11,   /* ts; from; type, size; to */
    ACTO_TRACE_U_RECV_X = 12,   /* ts; id; pid; type */
    ACTO_TRACE_U_RECV_LAST = 13,/* ts  -- of this track's latest send */
    ACTO_TRACE_U_IO_SUBMIT = 16,   /* ts; op, fd; request; pid */
    ACTO_TRACE_U_IO_COMPLETE = 17, /* ts; op, fd; request; result; pid */
    ACTO_TRACE_U_TIMER_FIRE = 18,  /* ts; timer; pid */
    ACTO_TRACE_U_EXT = 64,      /* first kind with a length byte */
    ACTO_TRACE_U_PUBLISH = 64,  /* deliveries, subject length; subject words  -- inside a receive */
    ACTO_TRACE_U_DELIVER = 65,  /* subject length; pid; subject words  -- of the latest send */
};

/* Start recording into a new file at path (truncated if it exists).
 * ACTO_ESTATE if run is executing or tracing is already on, ACTO_ESYS if
 * the file cannot be created, ACTO_EINVAL for NULL arguments. */
int acto_trace_start(acto_runtime_t *rt, const char *path);

/* Write out every buffered record and close the file.  ACTO_ESTATE if run
 * is executing or tracing is off; ACTO_ESYS if a write failed at any time
 * since start (the file then holds what was written before the failure).
 * acto_runtime_free stops tracing by itself. */
int acto_trace_stop(acto_runtime_t *rt);

/* 1 if this runtime is recording, else 0. */
int acto_trace_enabled(const acto_runtime_t *rt);

#ifdef __cplusplus
}
#endif
#endif
