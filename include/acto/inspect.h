/* acto/inspect.h - live inspection: snapshots of a running runtime.
 *
 * Off by default.  With acto_config_t.inspect = "127.0.0.1:7070" (or the
 * environment variable ACTO_INSPECT=127.0.0.1:7070) acto_runtime_new binds
 * a TCP listener and a daemon actor answers snapshot requests on it:
 * workers' load, totals, and the top actors by mailbox depth, messages/s
 * or busy time.  `acto-trace top --connect 127.0.0.1:7070` shows them as a
 * refreshing table.  Protocol (framed msgpack, net/frame.h): docs/inspect.md.
 *
 * Address: "HOST:PORT" as for acto_listen; a bare "PORT" or ":PORT" means
 * 127.0.0.1 (loopback: write "0.0.0.0:PORT" to be reachable from other
 * hosts, and mind that anyone who can connect sees the snapshots).  Port 0
 * picks a free port: read it back with acto_inspect_address.  Started from
 * the environment, the runtime prints "acto: inspect: listening on ADDR"
 * on stderr (or why it could not, and runs without).
 *
 * Lifetime.  The endpoint's actors are daemons: they never keep
 * acto_runtime_run from returning, which happens when the user's actors are
 * done, as without inspection.  Between runs the endpoint does not answer
 * (the listener and its connections stay open; the kernel queues new
 * connections and requests, answered when the next run starts; a reply
 * being written when a run ends may be cut off, closing that connection).
 * acto_runtime_free closes the listener and every inspection connection.
 * The endpoint's actors ("acto.inspect", "acto.listener", "acto.socket")
 * show in snapshots but not in acto_runtime_stats.
 *
 * Cost.  Off: one predictable branch per send and per actor turn.  On: a
 * counter per send (no shared atomic on worker sends), two clock reads per
 * turn, and 64 + 8 x (workers + 1) bytes of counters per actor slot
 * (virtual memory reserved up front, touched as slots are used).
 */
#ifndef ACTO_INSPECT_H
#define ACTO_INSPECT_H

#include <stddef.h>
#include "runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Frame types (the message type of each frame; bodies in docs/inspect.md). */
#define ACTO_INSPECT_SNAPSHOT 1u   /* request: optional map {"top", "sort"} */
#define ACTO_INSPECT_REPLY    2u   /* the snapshot: a map */
#define ACTO_INSPECT_ERROR    3u   /* [code (ACTO_E*), message (str)] */

#define ACTO_INSPECT_VERSION  1    /* "version" in every reply */
#define ACTO_INSPECT_TOP_MAX  1000 /* most actors one reply lists */

/* The address the endpoint is bound to ("127.0.0.1:40521"), NUL-terminated
 * in buf.  ACTO_ESTATE if inspection is off, ACTO_ELIMIT if len is too
 * small (80 bytes always suffice), ACTO_EINVAL for NULL arguments. */
int acto_inspect_address(const acto_runtime_t *rt, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
