/* net/addr.h - socket addresses: parse "HOST:PORT", resolve names, format.
 *
 * Accepted text (PORT is 1 to 5 decimal digits, 0..65535; 0 = "any port"
 * for a listener):
 *   "1.2.3.4:PORT"        IPv4, strict dotted quad
 *   "[v6]:PORT"           IPv6, brackets required; "[fe80::1%eth0]:PORT"
 *                         takes a scope (interface name or index)
 *   ":PORT"               the IPv4 wildcard 0.0.0.0 (write "[::]:PORT"
 *                         for the IPv6 one, which is dual-stack unless the
 *                         socket sets IPV6_V6ONLY)
 *   "name:PORT"           a host name (letters, digits, '-', '_', dots; the
 *                         last label not all digits): needs addr_resolve
 * Anything else (empty text, missing or bad port, port > 65535, an IPv6
 * address without brackets, junk characters, text longer than
 * ADDR_TEXT_MAX) is ACTO_EINVAL.  Service names ("http") are not accepted.
 */
#ifndef ACTO_NET_ADDR_H
#define ACTO_NET_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* Longest text addr_parse accepts: a 253-byte name, ':', a port. */
#define ADDR_TEXT_MAX 260
/* Room for any address addr_format writes, NUL included:
 * '[' + IPv6 (45) + '%' + interface (15) + "]:" + port (5) + NUL. */
#define ADDR_STRLEN 80

typedef struct acto_addr {
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } u;
    socklen_t len;                  /* of the sockaddr in use */
} acto_addr_t;

/* Parse a numeric address without blocking.  0 on success; ACTO_EINVAL for
 * bad text; ACTO_EAGAIN if the host is a well-formed name, which only
 * addr_resolve can turn into addresses. */
int addr_parse(const char *text, acto_addr_t *out);

/* Parse, resolving a name with getaddrinfo: fills out[0..*n) (max >= 1)
 * in the resolver's order of preference.  A numeric address never reaches
 * the resolver.  A name BLOCKS the caller for as long as the resolver
 * takes (DNS: seconds): call it off the worker threads, or accept the
 * stall.  Errors: ACTO_EINVAL (bad text, or the name has no address),
 * ACTO_EAGAIN (temporary resolver failure), ACTO_ENOMEM, ACTO_ESYS. */
int addr_resolve(const char *text, acto_addr_t *out, size_t max, size_t *n);

/* Write "1.2.3.4:80" or "[::1]:80" (with "%scope" when set) into buf.
 * Returns the text length, ACTO_ELIMIT if len is too small (buf then holds
 * an empty string), ACTO_EINVAL for an unset or unknown family. */
int addr_format(const acto_addr_t *a, char *buf, size_t len);

/* Copy a sockaddr (e.g. from getsockname or accept).  ACTO_EINVAL unless it
 * is AF_INET or AF_INET6 of the right size. */
int addr_from_sockaddr(acto_addr_t *out, const struct sockaddr *sa, socklen_t len);

/* AF_INET or AF_INET6. */
static inline int addr_family(const acto_addr_t *a) { return a->u.sa.sa_family; }
uint16_t addr_port(const acto_addr_t *a);
void addr_set_port(acto_addr_t *a, uint16_t port);
/* Same family, address, port (and IPv6 scope). */
bool addr_equal(const acto_addr_t *a, const acto_addr_t *b);

#endif
