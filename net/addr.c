/* net/addr.c - parse, resolve and format socket addresses (net/addr.h). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "acto/error.h"
#include "net/addr.h"

/* ---- splitting "HOST:PORT" -------------------------------------------------- */

/* Decimal 0..65535, 1 to 5 digits, nothing else. */
static int parse_port(const char *s, uint16_t *port)
{
    size_t n = strlen(s);
    if (n == 0 || n > 5)
        return ACTO_EINVAL;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return ACTO_EINVAL;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return ACTO_EINVAL;
    *port = (uint16_t)v;
    return 0;
}

/* Split text into host (copied into buf, NUL-terminated) and port.
 * *v6 tells whether the host was bracketed. */
static int split(const char *text, char *buf, size_t cap, uint16_t *port, bool *v6)
{
    const char *colon;
    size_t hlen;
    *v6 = text[0] == '[';
    if (*v6) {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':')
            return ACTO_EINVAL;
        hlen = (size_t)(close - text - 1);
        text++;
        colon = close + 1;
    } else {
        colon = strchr(text, ':');
        if (!colon || strchr(colon + 1, ':'))
            return ACTO_EINVAL;   /* no port, or IPv6 without brackets */
        hlen = (size_t)(colon - text);
    }
    if (hlen >= cap || (*v6 && hlen == 0))
        return ACTO_EINVAL;
    memcpy(buf, text, hlen);
    buf[hlen] = '\0';
    return parse_port(colon + 1, port);
}

/* ---- hosts ------------------------------------------------------------------ */

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Host-name syntax (RFC 1123 labels, '_' tolerated): labels of 1..63
 * letters, digits, '-' or '_', not starting or ending with '-', one
 * optional trailing dot; the last label must not be all digits, so that
 * "1.2.3" or "256.1.1.1" is refused here instead of being read by the
 * resolver as a legacy IPv4 form. */
static bool valid_name(const char *h)
{
    size_t n = strlen(h);
    if (n > 0 && h[n - 1] == '.')
        n--;
    if (n == 0 || n > 253)
        return false;
    size_t label = 0;
    bool all_digits = true;
    for (size_t i = 0; i <= n; i++) {
        char c = i < n ? h[i] : '.';
        if (c == '.') {
            if (label == 0 || label > 63 || h[i - 1] == '-')
                return false;
            if (i == n && all_digits)
                return false;
            label = 0;
            all_digits = true;
            continue;
        }
        if (!is_alnum(c) && c != '-' && c != '_')
            return false;
        if (c == '-' && label == 0)
            return false;
        if (c < '0' || c > '9')
            all_digits = false;
        label++;
    }
    return true;
}

/* "fe80::1%eth0" / "fe80::1%2": cut the scope off host, return its index. */
static int parse_scope(char *host, uint32_t *scope)
{
    char *pct = strchr(host, '%');
    *scope = 0;
    if (!pct)
        return 0;
    *pct = '\0';
    const char *s = pct + 1;
    if (*s == '\0')
        return ACTO_EINVAL;
    if (*s >= '0' && *s <= '9') {
        unsigned long v = 0;
        for (; *s; s++) {
            if (*s < '0' || *s > '9' || v > UINT32_MAX / 10)
                return ACTO_EINVAL;
            v = v * 10 + (unsigned long)(*s - '0');
        }
        if (v > UINT32_MAX)
            return ACTO_EINVAL;
        *scope = (uint32_t)v;
        return 0;
    }
    if (strlen(s) >= IF_NAMESIZE || !(*scope = if_nametoindex(s)))
        return ACTO_EINVAL;
    return 0;
}

static void set_v4(acto_addr_t *out, const struct in_addr *ip, uint16_t port)
{
    memset(out, 0, sizeof *out);
    out->u.in4.sin_family = AF_INET;
    out->u.in4.sin_port = htons(port);
    out->u.in4.sin_addr = *ip;
    out->len = sizeof out->u.in4;
}

static void set_v6(acto_addr_t *out, const struct in6_addr *ip, uint32_t scope, uint16_t port)
{
    memset(out, 0, sizeof *out);
    out->u.in6.sin6_family = AF_INET6;
    out->u.in6.sin6_port = htons(port);
    out->u.in6.sin6_addr = *ip;
    out->u.in6.sin6_scope_id = scope;
    out->len = sizeof out->u.in6;
}

/* ---- public -------------------------------------------------------------------- */

/* Parse text; on ACTO_EAGAIN, host/port hold the name to resolve. */
static int parse(const char *text, acto_addr_t *out, char *host, size_t cap, uint16_t *port)
{
    bool v6;
    if (!text || !out || strnlen(text, ADDR_TEXT_MAX + 1) > ADDR_TEXT_MAX)
        return ACTO_EINVAL;
    int rc = split(text, host, cap, port, &v6);
    if (rc)
        return rc;
    if (v6) {
        struct in6_addr ip;
        uint32_t scope;
        if (parse_scope(host, &scope) || inet_pton(AF_INET6, host, &ip) != 1)
            return ACTO_EINVAL;
        set_v6(out, &ip, scope, *port);
        return 0;
    }
    struct in_addr ip4;
    if (host[0] == '\0') {
        ip4.s_addr = htonl(INADDR_ANY);
        set_v4(out, &ip4, *port);
        return 0;
    }
    if (inet_pton(AF_INET, host, &ip4) == 1) {
        set_v4(out, &ip4, *port);
        return 0;
    }
    return valid_name(host) ? ACTO_EAGAIN : ACTO_EINVAL;
}

int addr_parse(const char *text, acto_addr_t *out)
{
    char host[ADDR_TEXT_MAX + 1];
    uint16_t port;
    return parse(text, out, host, sizeof host, &port);
}

static int resolve_error(int e)
{
    switch (e) {
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY:
#endif
        return ACTO_EINVAL;
    case EAI_AGAIN:  return ACTO_EAGAIN;
    case EAI_MEMORY: return ACTO_ENOMEM;
    default:         return ACTO_ESYS;
    }
}

int addr_resolve(const char *text, acto_addr_t *out, size_t max, size_t *n)
{
    char host[ADDR_TEXT_MAX + 1];
    uint16_t port;
    if (!out || !n || max == 0)
        return ACTO_EINVAL;
    *n = 0;
    int rc = parse(text, &out[0], host, sizeof host, &port);
    if (rc == 0)
        *n = 1;
    if (rc != ACTO_EAGAIN)
        return rc;
    /* SOCK_STREAM: one answer per address, not one per socket type.  No
     * AI_ADDRCONFIG: it hides "localhost" on hosts with only loopback. */
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int e = getaddrinfo(host, NULL, &hints, &res);
    if (e)
        return resolve_error(e);
    for (struct addrinfo *ai = res; ai && *n < max; ai = ai->ai_next) {
        acto_addr_t a;
        if (addr_from_sockaddr(&a, ai->ai_addr, ai->ai_addrlen))
            continue;
        addr_set_port(&a, port);
        bool dup = false;
        for (size_t i = 0; i < *n && !dup; i++)
            dup = addr_equal(&out[i], &a);
        if (!dup)
            out[(*n)++] = a;
    }
    freeaddrinfo(res);
    return *n ? 0 : ACTO_EINVAL;
}

int addr_format(const acto_addr_t *a, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN], scope[IF_NAMESIZE + 12] = "";
    int n;
    if (!a || !buf || len == 0)
        return ACTO_EINVAL;
    buf[0] = '\0';
    if (addr_family(a) == AF_INET) {
        inet_ntop(AF_INET, &a->u.in4.sin_addr, ip, sizeof ip);
        n = snprintf(buf, len, "%s:%u", ip, (unsigned)ntohs(a->u.in4.sin_port));
    } else if (addr_family(a) == AF_INET6) {
        inet_ntop(AF_INET6, &a->u.in6.sin6_addr, ip, sizeof ip);
        uint32_t sid = a->u.in6.sin6_scope_id;
        char ifname[IF_NAMESIZE];
        if (sid && if_indextoname(sid, ifname))
            snprintf(scope, sizeof scope, "%%%s", ifname);
        else if (sid)
            snprintf(scope, sizeof scope, "%%%u", (unsigned)sid);
        n = snprintf(buf, len, "[%s%s]:%u", ip, scope, (unsigned)ntohs(a->u.in6.sin6_port));
    } else {
        return ACTO_EINVAL;
    }
    if (n < 0 || (size_t)n >= len) {
        buf[0] = '\0';
        return ACTO_ELIMIT;
    }
    return n;
}

int addr_from_sockaddr(acto_addr_t *out, const struct sockaddr *sa, socklen_t len)
{
    if (!out || !sa)
        return ACTO_EINVAL;
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof out->u.in4) {
        memset(out, 0, sizeof *out);
        memcpy(&out->u.in4, sa, sizeof out->u.in4);
        out->len = sizeof out->u.in4;
        return 0;
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof out->u.in6) {
        memset(out, 0, sizeof *out);
        memcpy(&out->u.in6, sa, sizeof out->u.in6);
        out->len = sizeof out->u.in6;
        return 0;
    }
    return ACTO_EINVAL;
}

uint16_t addr_port(const acto_addr_t *a)
{
    if (addr_family(a) == AF_INET)
        return ntohs(a->u.in4.sin_port);
    if (addr_family(a) == AF_INET6)
        return ntohs(a->u.in6.sin6_port);
    return 0;
}

void addr_set_port(acto_addr_t *a, uint16_t port)
{
    if (addr_family(a) == AF_INET)
        a->u.in4.sin_port = htons(port);
    else if (addr_family(a) == AF_INET6)
        a->u.in6.sin6_port = htons(port);
}

bool addr_equal(const acto_addr_t *a, const acto_addr_t *b)
{
    if (addr_family(a) != addr_family(b))
        return false;
    if (addr_family(a) == AF_INET)
        return a->u.in4.sin_port == b->u.in4.sin_port &&
               a->u.in4.sin_addr.s_addr == b->u.in4.sin_addr.s_addr;
    if (addr_family(a) == AF_INET6)
        return a->u.in6.sin6_port == b->u.in6.sin6_port &&
               a->u.in6.sin6_scope_id == b->u.in6.sin6_scope_id &&
               memcmp(&a->u.in6.sin6_addr, &b->u.in6.sin6_addr, sizeof a->u.in6.sin6_addr) == 0;
    return false;
}
