/* actors/broker_impl.h - internal: what the broker actor (broker.c) and
 * the connection actors (broker_conn.c) share.  Public API:
 * include/acto/broker.h; protocol: docs/protocol.md.
 *
 * Actors and who owns what:
 *  - the BROKER actor owns the listener and the channel bus, and keeps the
 *    set of live connection actors (they JOIN at init and LEAVE in
 *    terminate), so shutdown can reach every one of them;
 *  - a CONNECTION actor per client owns its socket actor (RAW mode), its
 *    session, its subscriptions (sid -> pattern, for unsub) and its
 *    outbound accounting;
 *  - the handle (acto_broker_t) is shared, immutable after start except
 *    for atomics: the counters, the bound address (published once), the
 *    reference count.  Every actor that uses it holds a reference
 *    (B1 below), so it and the bus outlive all of them.
 *
 * B1 refs = 1 for the caller (until acto_broker_free) + 1 for the broker
 *    actor (until its terminate) + 1 per connection actor (init ..
 *    terminate).  The last release frees the bus (chan_bus_free: no actor
 *    can use it any more) and the handle.
 * B2 A connection's pending outbound bytes are written - sent: `written`
 *    counts every byte it handed to its socket, `sent` is the socket's
 *    ACTO_MSG_NET_SENT total.  Before a delivery it checks that pending
 *    stays <= max_pending; control replies may use CTRL_SLACK more; the
 *    socket's high_water is above both plus an err frame, so the socket
 *    never refuses a write (its own queue is <= pending).
 * B3 Inbound flow control (chan.h F1).  A connection's `inflight` is the
 *    body bytes of its CHAN_PUB_FLOW requests that the shards have not
 *    acknowledged (CHAN_PUB_DONE): added when a send succeeds, subtracted
 *    per DONE, and given back to the broker-wide total at exit (DONEs to a
 *    dead connection are dead letters).  After each input chunk, inflight
 *    > BRK_INFLIGHT_HIGH pauses the socket's reads; a DONE that takes it
 *    to BRK_INFLIGHT_LOW or less resumes them.  While paused no new chunk
 *    arrives once the socket has handled the pause (net.h, N3), so
 *    inflight <= HIGH + the chunks (<= 16 KiB each) the socket had already
 *    passed on: a publisher faster than its shards fills TCP's buffers and
 *    is slowed by TCP, not by broker memory.  Nothing is dropped or
 *    reordered: a pause only delays reading, and every request still goes
 *    through the shard's FIFO mailbox.
 * B4 Closing (a fatal err, a slow consumer, shutdown, the client's end of
 *    stream) never closes a socket whose peer may still be sending: unread
 *    bytes make the kernel answer with a reset, which can destroy the err
 *    frame before the client reads it.  The connection shuts its sending
 *    side down (a FIN once what is queued is sent) and reads on, discarding
 *    everything, until the client closes its side too (the socket then
 *    closes itself).  Bounded: after BRK_DRAIN_MAX bytes past max_frame it
 *    closes anyway, and after linger_ns its socket is killed; the bytes
 *    are dropped as they come, so memory is not at stake.
 */
#ifndef ACTO_ACTORS_BROKER_IMPL_H
#define ACTO_ACTORS_BROKER_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acto/broker.h"
#include "actors/chan.h"
#include "internal.h"
#include "net/addr.h"
#include "net/subject.h"

/* Reserved message types 0xFFFF05xx: broker internals. */
#define BRK_JOIN     0xFFFF0501u   /* conn -> broker: I live (empty) */
#define BRK_LEAVE    0xFFFF0502u   /* conn -> broker: I exit (empty) */
#define BRK_STOP     0xFFFF0503u   /* acto_broker_stop -> broker (empty) */
#define BRK_SHUTDOWN 0xFFFF0504u   /* broker -> conn: err 18 and close (empty) */

/* Control replies may take a connection this far past max_pending (B2). */
#define BRK_CTRL_SLACK (64u * 1024u)
/* Room for one err frame past everything else (B2). */
#define BRK_ERR_ROOM 1024u

/* B4: a closing connection discards at most max_frame + this much input
 * (the rest of an oversize frame plus what a pipelining client had sent
 * after it). */
#define BRK_DRAIN_MAX (4u * 1024u * 1024u)

/* B3: pause reading above HIGH bytes unacknowledged, resume at LOW. */
#ifndef BRK_INFLIGHT_HIGH
#define BRK_INFLIGHT_HIGH (256u * 1024u)
#endif
#define BRK_INFLIGHT_LOW (BRK_INFLIGHT_HIGH / 4u)

/* A growable byte buffer. */
typedef struct bk_buf {
    uint8_t *p;
    size_t len, cap;
    uint32_t n;                 /* items in it (publishes) */
} bk_buf_t;

/* Per worker: the publishes of the chunk being parsed, one CHAN_PUB_BATCH
 * message per shard (built in place: actors/chan.h gives its format), the
 * last subject that passed the checks with its shard, and room to compact
 * outbound frames.  Only the actor running on that worker touches its
 * scratch, and only during one receive (the batches are sent before it
 * returns; the subject cache is just bytes). */
typedef struct bk_scratch {
    acto_msg_t *batch[CHAN_SHARDS_MAX];
    uint32_t bn[CHAN_SHARDS_MAX];       /* publishes in batch[i] */
    uint64_t used;                      /* bit i: batch[i] is being filled */
    size_t last_len;                    /* 0: none */
    unsigned last_shard;
    uint8_t last[SUBJECT_MAX];
    bk_buf_t out;
} bk_scratch_t;

/* Counters, apart so publishers and subscribers on different cores do not
 * write the same cache line. */
typedef struct bk_counters {
    uint64_t msgs_in, bytes_in;
    char pad1_[ACTO_CACHELINE - 16];
    uint64_t msgs_out, bytes_out;
    char pad2_[ACTO_CACHELINE - 16];
    uint64_t connections, subscriptions, slow_consumers, drops;
    char pad3_[ACTO_CACHELINE - 32];
    uint64_t queued, queued_max;  /* B3: every connection's inflight, and its peak */
} bk_counters_t;

struct acto_broker {
    bk_counters_t st __attribute__((aligned(ACTO_CACHELINE)));
    uint64_t refs;              /* B1 */
    acto_pid_t pid;             /* the broker actor */
    acto_pid_t owner;           /* gets LISTENING */
    chan_bus_t *bus;
    char *listen;
    size_t max_payload, max_frame, max_pending;
    uint32_t max_conns, max_subs;
    char *token;                /* NULL: auth off */
    size_t token_len;
    int slow;                   /* ACTO_BROKER_SLOW_* */
    uint64_t ping_ns, linger_ns;
    char *server_name;
    unsigned shards;
    uint32_t addr_ready;        /* atomic: addr is set */
    char addr[ADDR_STRLEN];
    unsigned nscratch;
    bk_scratch_t *scratch;      /* [nscratch], one per worker */
};

/* The connection actor (broker_conn.c); spawn argument: the handle, whose
 * reference the actor takes in init. */
extern const acto_behavior_t bk_conn_behavior;

void bk_ref(acto_broker_t *b);
void bk_unref(acto_broker_t *b);

/* An internal message with an empty body, sent as the calling actor. */
int bk_send_empty(acto_ctx_t *ctx, acto_pid_t to, uint32_t type);

/* Append len bytes to a buffer: 0 or ACTO_ENOMEM. */
int bk_buf_put(bk_buf_t *b, const void *p, size_t len);
void bk_buf_free(bk_buf_t *b);

static inline void bk_add(uint64_t *c, uint64_t d)
{
    if (d)
        (void)at_faa_u64(c, d);
}

#endif
