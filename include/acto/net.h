/* acto/net.h - TCP as actors: a listener actor and socket actors.
 *
 * A socket actor owns one TCP connection and reports to one owner actor.
 * The owner gets events as messages (types below, sender = the socket's
 * pid) and drives the socket with the acto_sock_* calls, which are sends.
 *
 *   static int conn_receive(acto_ctx_t *ctx, void *st, const acto_msg_t *msg) {
 *       const void *p; size_t n;
 *       switch (acto_msg_type(msg)) {
 *       case ACTO_MSG_NET_DATA:                            echo what came in
 *           acto_msg_bin(msg, &p, &n);
 *           return acto_sock_write(ctx, acto_msg_from(msg), p, n);
 *       case ACTO_MSG_NET_PEER_CLOSED: return acto_sock_close(ctx, acto_msg_from(msg));
 *       case ACTO_MSG_NET_CLOSED:      return acto_exit(ctx, ACTO_EXIT_NORMAL);
 *       }
 *       return 0;
 *   }
 *   acto_listen_opts_t lo = { .behavior = &conn };     one `conn` actor per connection
 *   acto_listen(ctx, "127.0.0.1:7000", &lo, &listener);
 *
 * Modes.  ACTO_NET_RAW: received bytes arrive as ACTO_MSG_NET_DATA (one
 * message per chunk the kernel returned; TCP keeps no message boundaries).
 * ACTO_NET_FRAMED: the stream carries acto messages (net/frame.h: each one
 * msgpack value [type, body]); each decoded message reaches the owner with
 * its own type and body, as if the peer had sent it locally; a malformed
 * frame, one longer than max_frame or a reserved type closes the
 * connection (ACTO_MSG_NET_CLOSED with ACTO_EPROTO or ACTO_ELIMIT).
 *
 * Outbound flow control.  Writes are queued in the socket actor and sent
 * in order, coalesced into one send while an earlier one is in flight.
 * A write is refused when the queue already holds bytes and accepting it
 * would take the queue over high_water: the owner gets ACTO_MSG_NET_ERROR
 * [ACTO_EAGAIN, 0] (the bytes are dropped), and once the queue has drained
 * to low_water or less it gets one ACTO_MSG_NET_WRITABLE.  So the queue
 * never holds more than max(high_water, one write); an owner that stops
 * writing after an EAGAIN until WRITABLE loses nothing.
 *
 * Lifetime.  The socket monitors its owner: the owner's exit closes it
 * (unsent bytes are dropped).  ACTO_MSG_NET_CLOSED is always the last
 * event; the socket actor has exited when it arrives.  Killing a socket
 * (acto_kill) closes it at once, dropping unsent bytes: CLOSED then says
 * [ACTO_ECLOSED, 0].
 *
 * Inbound flow control.  Reading is on (one receive armed) until the owner
 * calls acto_sock_pause_read; then the kernel's buffers fill and TCP slows
 * the peer down.  No byte is lost: bytes the socket read before the pause
 * took effect are held, and arrive (then PEER_CLOSED, if the peer ended
 * the stream meanwhile) after acto_sock_resume_read.
 */
#ifndef ACTO_NET_H
#define ACTO_NET_H

#include <stddef.h>
#include <stdint.h>
#include "actor.h"
#include "msg.h"
#include "pid.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- events, to the owner (reserved types: only the runtime sends them) ---- */
/* From a listener: it is bound. [address (str, "1.2.3.4:80"/"[::1]:80"), port (uint)] */
#define ACTO_MSG_NET_LISTENING   0xFFFF0201u
/* From a socket: connected (or accepted). [local address (str), peer address (str)] */
#define ACTO_MSG_NET_CONNECTED   0xFFFF0202u
/* Raw mode: bytes received (bin). */
#define ACTO_MSG_NET_DATA        0xFFFF0203u
/* The peer shut down its sending side (end of stream; nil body).  Writing
 * still works (half-close) until the owner closes the socket. */
#define ACTO_MSG_NET_PEER_CLOSED 0xFFFF0204u
/* The outbound queue drained to low_water after a refused write (nil). */
#define ACTO_MSG_NET_WRITABLE    0xFFFF0205u
/* Something failed but the sender lives on: [code (ACTO_E*), errno or 0].
 * A socket: ACTO_EAGAIN (a write was refused), ACTO_ECLOSED (a write after
 * shutdown/close).  A listener: accept failed (ACTO_ESYS, e.g. EMFILE;
 * accepting resumes after a back-off of ACTO_NET_ACCEPT_BACKOFF_MS), or a
 * connection could not be set up (its code). */
#define ACTO_MSG_NET_ERROR       0xFFFF0206u
/* The last event: the socket (or listener) is closed and its actor has
 * exited.  [code, errno or 0]: 0 = closed normally (acto_sock_close, or
 * both sides shut down); ACTO_ECLOSED = refused, reset or broken pipe
 * (errno ECONNREFUSED, ECONNRESET, EPIPE...); ACTO_ETIMEDOUT = the connect
 * timed out; ACTO_EPROTO / ACTO_ELIMIT = a bad or oversize frame; ACTO_ESYS
 * or ACTO_ENOMEM otherwise. */
#define ACTO_MSG_NET_CLOSED      0xFFFF0207u
/* Only with acto_sock_opts_t.notify_sent: a send completed; [total (uint)]
 * = every byte this socket has sent so far.  One per completed send (sends
 * are coalesced, so far fewer than writes): an owner that counts the bytes
 * it wrote knows its exact queue, written - total, and can bound it itself
 * instead of meeting refusals (the broker's slow-consumer rule). */
#define ACTO_MSG_NET_SENT        0xFFFF0208u

#define ACTO_NET_ACCEPT_BACKOFF_MS 100

enum { ACTO_NET_RAW = 0, ACTO_NET_FRAMED = 1 };

/* Zero means "the default" for every field. */
typedef struct acto_sock_opts {
    acto_pid_t owner;        /* gets the events; 0 = the calling actor */
    int mode;                /* ACTO_NET_RAW or ACTO_NET_FRAMED */
    size_t high_water;       /* refuse writes above this; 0 = 1 MiB */
    size_t low_water;        /* WRITABLE at or below this; 0 = high_water / 4 */
    size_t max_frame;        /* framed mode, per frame; 0 = 1 MiB */
    int notify_sent;         /* nonzero: ACTO_MSG_NET_SENT after each send */
} acto_sock_opts_t;

typedef struct acto_listen_opts {
    acto_pid_t owner;        /* gets LISTENING, accept errors and CLOSED, and
                                (with no behavior) every accepted socket's
                                events; 0 = the calling actor */
    int backlog;             /* 0 = 128 */
    /* If set, each accepted connection spawns an actor of this behaviour
     * (spawn argument `arg`) that owns the new socket; its first message is
     * ACTO_MSG_NET_CONNECTED from the socket. */
    const acto_behavior_t *behavior;
    const void *arg;
    acto_sock_opts_t sock;   /* for accepted sockets (sock.owner is ignored) */
} acto_listen_opts_t;

/* Listen on "host:port" (net/addr.h syntax: "1.2.3.4:80", "[::1]:80",
 * ":80" for every IPv4 address, "[::]:80" for IPv6 and IPv4; port 0 picks
 * one; a host name is resolved here, blocking).  SO_REUSEADDR is set.  The
 * owner is monitored (its exit closes the listener) and gets
 * ACTO_MSG_NET_LISTENING with the bound address.  opts may be NULL.
 * Errors: ACTO_EINVAL (bad address or options, no owner and no behavior),
 * ACTO_ESYS (socket, bind or listen failed: e.g. address in use). */
int acto_listen(acto_ctx_t *ctx, const char *addr, const acto_listen_opts_t *opts,
                acto_pid_t *pid);

/* Connect to "host:port" (a name is resolved here, blocking; each address
 * is tried in turn).  timeout_ms = 0: no limit but the kernel's.  The owner
 * gets ACTO_MSG_NET_CONNECTED, or ACTO_MSG_NET_CLOSED with ACTO_ECLOSED
 * (refused) or ACTO_ETIMEDOUT.  Writes made before the connection is up
 * are queued.  opts may be NULL. */
int acto_connect(acto_ctx_t *ctx, const char *addr, unsigned timeout_ms,
                 const acto_sock_opts_t *opts, acto_pid_t *pid);

/* Queue bytes for sending (copied).  Any actor may write; refusals go to
 * the owner.  Returns the send's result (ACTO_ENOACTOR: socket gone). */
int acto_sock_write(acto_ctx_t *ctx, acto_pid_t sock, const void *data, size_t len);
/* Queue one framed message (type below ACTO_MSG_SYSTEM, body one msgpack
 * value or empty): the peer's framed socket delivers it as type + body. */
int acto_sock_send(acto_ctx_t *ctx, acto_pid_t sock, uint32_t type, const void *body,
                   size_t len);
/* The same for an existing message (not consumed): forward an acto message
 * over TCP unchanged. */
int acto_sock_send_msg(acto_ctx_t *ctx, acto_pid_t sock, const acto_msg_t *msg);
/* Shut down the sending side once the queue is sent (the peer reads end
 * of stream).  The socket stays open for reading. */
int acto_sock_shutdown(acto_ctx_t *ctx, acto_pid_t sock);
/* Close once the queue is sent; ACTO_MSG_NET_CLOSED follows.  Also closes
 * a listener. */
int acto_sock_close(acto_ctx_t *ctx, acto_pid_t sock);
/* Pause / resume reading (see "Inbound flow control").  Commands, in order
 * with the caller's other commands: once the socket has handled a pause,
 * the owner gets no DATA (or framed message) and no PEER_CLOSED until it
 * handles a resume.  Both are idempotent. */
int acto_sock_pause_read(acto_ctx_t *ctx, acto_pid_t sock);
int acto_sock_resume_read(acto_ctx_t *ctx, acto_pid_t sock);

#ifdef __cplusplus
}
#endif
#endif
