/* tools/bench-pubsub/bench_pubsub.h - acto-bench-pubsub's shared types.
 *
 * One thread drives every connection (publishers and subscribers) with
 * epoll.  main.c owns the connections, the run and the figures; wire.c
 * knows the three protocols (acto, NATS, Redis): what a connection sends
 * to get ready, the bytes of one publish, and how to cut the received
 * byte stream into deliveries and control replies, in place.
 */
#ifndef ACTO_BENCH_PUBSUB_H
#define ACTO_BENCH_PUBSUB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum wire_proto { WIRE_ACTO, WIRE_NATS, WIRE_REDIS };
enum conn_role { ROLE_PUB, ROLE_SUB };

/* The bytes at the start of every payload; the rest is a fixed pattern
 * (wire_fill_pattern) that the receiver checks. */
typedef struct stamp {
    uint32_t pub;           /* publisher index */
    uint32_t seq;           /* message index within that publisher */
    uint64_t t_ns;          /* CLOCK_MONOTONIC when it was queued for sending */
} stamp_t;
#define STAMP_SIZE sizeof(stamp_t)      /* = the smallest --size */

typedef struct conn {
    int fd;
    uint32_t idx;           /* publisher or subscriber index */
    uint8_t role;           /* enum conn_role */
    uint8_t connected;      /* TCP handshake done */
    uint8_t ready;          /* subscribed / greeted: its barrier came back */
    uint8_t closed;         /* the server closed it, or it failed */
    uint8_t want_out;       /* registered for EPOLLOUT */
    uint32_t acks;          /* barrier replies (PONG, subscribe confirmations) */
    /* outbound: out[out_pos, out_len) not yet written */
    uint8_t *out;
    size_t out_len, out_pos, out_cap;
    /* inbound: the start of a frame that has not fully arrived */
    uint8_t *carry;
    size_t carry_len, carry_cap;
    /* subscriber */
    uint64_t received;
    /* publisher */
    uint64_t sent, target;  /* messages queued so far / to queue in all */
    uint64_t replies;       /* Redis: PUBLISH replies */
    uint64_t next_subject;  /* round-robin position over the subjects */
    uint32_t final_ack;     /* acks value that means "all published handled" */
} conn_t;

/* ---- main.c: what the parsers report --------------------------------------- */

/* A delivery to subscriber c; now_ns = when its bytes were read. */
void on_delivery(conn_t *c, const uint8_t *payload, size_t len, uint64_t now_ns);
/* A barrier came back (PONG, or a Redis subscribe confirmation). */
void on_ack(conn_t *c);
/* The server reported an error on c (text is not NUL-terminated). */
void on_server_error(conn_t *c, const char *text, size_t len);
/* The server announced the largest payload it accepts (acto welcome,
 * NATS INFO). */
void on_max_payload(uint64_t max);
/* Queue bytes on c (e.g. PONG for a server PING). */
void conn_queue(conn_t *c, const void *p, size_t n);

/* ---- wire.c ------------------------------------------------------------------ */

/* Queue on c what it sends once connected: for a subscriber the
 * subscription to subject and a barrier, for a publisher a greeting and a
 * barrier.  0, or -1 (message on stderr). */
int wire_greet(int proto, conn_t *c, const char *subject);
/* Queue a barrier (PING) on c: on_ack once the server has handled
 * everything c sent before it.  Redis publishers use PUBLISH replies. */
void wire_barrier(int proto, conn_t *c);
/* The complete bytes of one publish of `size` payload bytes on subject,
 * payload filled with the pattern; *payload_off = where the payload starts.
 * malloc'd; NULL on error (message on stderr). */
uint8_t *wire_pub_template(int proto, const char *subject, size_t size, size_t *len,
                           size_t *payload_off);
/* Byte i of every payload at offset >= STAMP_SIZE. */
void wire_fill_pattern(uint8_t *payload, size_t size);
/* Parse complete frames from p[0, n) received on c, reporting them.
 * Returns the bytes consumed (the rest is an incomplete frame), or -1 on
 * bytes that break the protocol (message on stderr). */
ssize_t wire_parse(int proto, conn_t *c, const uint8_t *p, size_t n, uint64_t now_ns);
/* Largest frame a delivery of `size` payload bytes can take, for bounding
 * what one connection may hold of an incomplete frame. */
size_t wire_max_frame(size_t size);
/* Free what the parsers keep between calls. */
void wire_cleanup(void);

#endif
