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
#define ACTO_TRACE_VERSION 1

/* Record kinds (field lists in docs/trace-format.md). */
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
    /* Reserved for the proactor and pub/sub; no runtime writes them yet. */
    ACTO_TRACE_IO_SUBMIT = 16,  /* op, fd, request id, pid */
    ACTO_TRACE_IO_COMPLETE = 17,/* op, fd, request id, result, pid */
    ACTO_TRACE_TIMER_FIRE = 18, /* timer id, pid */
    ACTO_TRACE_PUBLISH = 19,    /* topic, msg id, subscribers */
    ACTO_TRACE_DELIVER = 20,    /* topic, msg id, pid */
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
