/* runtime/trace_inline.h - the per-message trace hooks (send, receive
 * begin and end), inlined into the send path and the actor loop: a call
 * per hook was a fifth of the tracing cost of a message that does nothing.
 * Included at the end of internal.h, whose structures they read; the rest
 * of the recording (long forms, hand-over, the writer) is in trace.c. */
#ifndef ACTO_TRACE_INLINE_H
#define ACTO_TRACE_INLINE_H

/* Out of line, in trace.c. */
uint64_t *trace_words_slow(trace_ctx_t *tc, unsigned n);     /* hands the buffer over */
uint64_t trace_mono_ns(void);
void trace_send_x(trace_ctx_t *tc, struct acto_msg *m, acto_pid_t to);
void trace_recv_x(trace_ctx_t *tc, struct acto_actor *a, struct acto_msg *m);
void trace_depth(trace_ctx_t *tc, struct acto_actor *a);

#define TRACE_DEPTH_EVERY 256u   /* sample a mailbox every N receives */

static inline uint64_t *trace_words(trace_ctx_t *tc, unsigned n)
{
    if (ACTO_UNLIKELY((size_t)(tc->end - tc->pos) < n))
        return trace_words_slow(tc, n);
    uint64_t *w = tc->pos;
    tc->pos += n;
    return w;
}

static inline uint64_t trace_ticks(const trace_ctx_t *tc)
{
#if defined(__x86_64__) || defined(__i386__)
    if (ACTO_LIKELY(tc->tsc))
        return __builtin_ia32_rdtsc();
#endif
    (void)tc;
    return trace_mono_ns();
}

/* A unit's first word: kind in the low byte, the clock's low 56 bits above
 * it (the reader counts from the header's tick0, modulo 2^56). */
static inline uint64_t trace_stamp(const trace_ctx_t *tc, uint32_t kind)
{
    return trace_ticks(tc) << 8 | kind;
}

/* Inside a receive (the bracket), the common send is one unit of two
 * words with no clock read: the reader stamps it with the bracket's begin
 * and takes its sender and cause from the bracket, its id from the send
 * count.  Anything else takes the long form. */
static inline void trace_send(acto_ctx_t *ctx, acto_msg_t *m, acto_pid_t to)
{
    trace_ctx_t *tc = ctx->tr;
    if (ACTO_UNLIKELY(!tc->self || tc->self != m->from || m->size >= (1u << 24))) {
        trace_send_x(tc, m, to);
        return;
    }
    uint64_t *w = trace_words(tc, 2);
    w[0] = (uint64_t)m->size << 40 | (uint64_t)m->type << 8 | ACTO_TRACE_U_SEND;
    w[1] = to;
    m->id = tc->idbase | ++tc->seq;   /* after the words: T4 */
}

/* A message this track sent in this trace (T5) has its send earlier in
 * the track's own stream, so the reader finds its receiver and type
 * there: one unit, of one word if it is the track's latest send (a
 * request/reply hand-off on one worker), else of two. */
static inline void trace_recv_begin(acto_ctx_t *ctx, acto_actor_t *a, acto_msg_t *m)
{
    trace_ctx_t *tc = ctx->tr;
    if (ACTO_UNLIKELY(m->id - tc->idlo >= tc->idn)) {
        trace_recv_x(tc, a, m);
    } else {
        uint64_t w0;
        if (ACTO_LIKELY(m->id == (tc->idbase | tc->seq))) {
            uint64_t *w = trace_words(tc, 1);
            w[0] = w0 = trace_stamp(tc, ACTO_TRACE_U_RECV_LAST);
        } else {
            uint64_t *w = trace_words(tc, 2);
            w[0] = w0 = trace_stamp(tc, ACTO_TRACE_U_RECV);
            w[1] = m->id;
        }
        tc->cause = m->id;
        tc->self = a->pid;
        tc->bts = w0 >> 8;
    }
    if (ACTO_UNLIKELY(++tc->nrecv % TRACE_DEPTH_EVERY == 0))
        trace_depth(tc, a);
}

static inline void trace_recv_end(acto_ctx_t *ctx)
{
    trace_ctx_t *tc = ctx->tr;
    *trace_words(tc, 1) = trace_stamp(tc, ACTO_TRACE_U_RECV_END);
    tc->self = 0;             /* cause and bts mean nothing without it */
}

#endif
