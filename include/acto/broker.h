/* acto/broker.h - the pub/sub broker (docs/protocol.md) inside a runtime.
 *
 *   acto_broker_opts_t o;
 *   acto_broker_opts_init(&o);                       every field's default
 *   o.listen = "127.0.0.1:0";                        port 0: any free port
 *   acto_broker_t *b;
 *   acto_broker_start(acto_root(rt), &o, &b);        binds now (errors here)
 *   ... acto_runtime_run(rt) on some thread ...
 *   char addr[80]; acto_broker_address(b, addr, sizeof addr);   once bound
 *   acto_broker_stop(acto_root(rt), b);              graceful, asynchronous
 *   ... run returns once everything has closed (quiescent) ...
 *   acto_broker_free(b);
 *
 * The broker is actors: one broker actor (owns the listener and the
 * channel bus), one connection actor per client (its socket actor feeds it
 * bytes), and the channel shards (actors/chan.h) that route publishes.
 *
 * The handle (acto_broker_t) is shared memory, reference counted: the
 * caller's reference ends with acto_broker_free, which may be called at
 * any time after start (the broker's actors keep what they need alive).
 * acto_broker_stats and acto_broker_address are safe from any thread.
 */
#ifndef ACTO_BROKER_H
#define ACTO_BROKER_H

#include <stddef.h>
#include <stdint.h>
#include "actor.h"
#include "pid.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The address acto-broker listens on by default (docs/protocol.md, 1). */
#define ACTO_BROKER_DEFAULT_LISTEN "127.0.0.1:7470"

/* max_subs: no limit. */
#define ACTO_BROKER_UNLIMITED UINT32_MAX

/* Slow-consumer policies (docs/protocol.md section 5). */
enum { ACTO_BROKER_SLOW_DISCONNECT = 0, ACTO_BROKER_SLOW_DROP = 1 };

/* Zero (or NULL) means "the default" for every field. */
typedef struct acto_broker_opts {
    const char *listen;       /* "HOST:PORT" (acto/net.h syntax); ACTO_BROKER_DEFAULT_LISTEN */
    size_t max_payload;       /* largest pub payload; 1 MiB */
    size_t max_frame;         /* largest inbound frame; 0 = max_payload + 1024 */
    uint32_t max_conns;       /* client connections; 65536 */
    uint32_t max_subs;        /* subscriptions per connection; 65536;
                                 ACTO_BROKER_UNLIMITED: no limit (welcome says 0) */
    const char *token;        /* auth token (copied); NULL = auth off */
    size_t token_len;         /* 0 = strlen(token) */
    int slow_consumer;        /* ACTO_BROKER_SLOW_*; disconnect */
    size_t max_pending;       /* outbound bytes per connection; 8 MiB; at least max_frame */
    uint64_t ping_interval_ms;/* keep-alive ping period; 2 minutes */
    uint64_t linger_ms;       /* a closing connection gets this long to send what is
                                 queued and see the client close its side; 2 s */
    unsigned shards;          /* channel shards; 0 = 4 per worker (actors/chan.h) */
    const char *server_name;  /* in welcome; "acto-broker" */
    acto_pid_t owner;         /* gets ACTO_MSG_NET_LISTENING [address, port] once
                                 bound (sender: the broker actor); 0 = the
                                 calling actor, if any */
} acto_broker_opts_t;

/* The protocol's eight counters (docs/protocol.md 4.10). */
typedef struct acto_broker_stats {
    uint64_t connections, subscriptions;
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out;
    uint64_t slow_consumers, drops;
} acto_broker_stats_t;

typedef struct acto_broker acto_broker_t;

void acto_broker_opts_init(acto_broker_opts_t *o);

/* Start a broker from ctx: resolves and binds the listen address now
 * (ACTO_EINVAL: bad options or address; ACTO_ESYS: bind failed, e.g.
 * address in use; ACTO_ENOMEM).  *out is the handle. */
int acto_broker_start(acto_ctx_t *ctx, const acto_broker_opts_t *opts, acto_broker_t **out);

/* The broker actor's pid (monitor it to learn when it has exited). */
acto_pid_t acto_broker_pid(const acto_broker_t *b);

/* The bound address ("127.0.0.1:7470") into buf: 0, ACTO_EAGAIN until the
 * listener has reported it (the runtime must be running), ACTO_ELIMIT if
 * len is too small.  Any thread. */
int acto_broker_address(const acto_broker_t *b, char *buf, size_t len);

/* A snapshot of the counters.  Any thread; each counter is exact at some
 * instant (they are read one by one). */
int acto_broker_stats(const acto_broker_t *b, acto_broker_stats_t *out);

/* Graceful shutdown (asynchronous): the listener closes, every client gets
 * err 18 (server shutting down), what is queued for it is sent, the stream
 * ended and the client's own end awaited (all within linger_ms; see
 * docs/protocol.md section 5), its connection closes, then the channel
 * shards and the broker actor exit, so the runtime can go quiescent.
 * Idempotent. */
int acto_broker_stop(acto_ctx_t *ctx, acto_broker_t *b);

/* Drop the caller's reference to the handle. */
void acto_broker_free(acto_broker_t *b);

#ifdef __cplusplus
}
#endif
#endif
