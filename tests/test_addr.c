/* tests/test_addr.c - net/addr: parsing "HOST:PORT", resolving, formatting.
 * Only loopback and /etc/hosts names are used: no DNS traffic. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <net/if.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "net/addr.h"

/* ---- tables ----------------------------------------------------------------- */

typedef struct {
    const char *text;
    int family;
    uint16_t port;
    const char *formatted;   /* addr_format's output; NULL: checked otherwise */
} valid_t;

static const valid_t valid[] = {
    { "127.0.0.1:80", AF_INET, 80, "127.0.0.1:80" },
    { "0.0.0.0:0", AF_INET, 0, "0.0.0.0:0" },
    { ":8080", AF_INET, 8080, "0.0.0.0:8080" },
    { ":0", AF_INET, 0, "0.0.0.0:0" },
    { "255.255.255.255:65535", AF_INET, 65535, "255.255.255.255:65535" },
    { "10.1.2.3:00080", AF_INET, 80, "10.1.2.3:80" },
    { "[::1]:443", AF_INET6, 443, "[::1]:443" },
    { "[::]:0", AF_INET6, 0, "[::]:0" },
    { "[2001:db8::1]:1", AF_INET6, 1, "[2001:db8::1]:1" },
    { "[2001:DB8:0:0:0:0:0:2]:65535", AF_INET6, 65535, "[2001:db8::2]:65535" },
    { "[::ffff:1.2.3.4]:5", AF_INET6, 5, "[::ffff:1.2.3.4]:5" },
    { "[fe80::1%1]:22", AF_INET6, 22, NULL },
    { "[fe80::1%lo]:22", AF_INET6, 22, NULL },
};

static const char *const invalid[] = {
    "", ":", "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:99999",
    "1.2.3.4:123456", "1.2.3.4:-1", "1.2.3.4:+80", "1.2.3.4:8 0", "1.2.3.4:80 ",
    " 1.2.3.4:80", "1.2.3.4 :80", "1.2.3:80", "256.1.1.1:80", "1.2.3.4.5:80",
    "01.2.3.4:80", "1.2.3.04:80", "::1:80", "::1", "[::1]", "[::1]80", "[::1]:",
    "[]:80", "[1.2.3.4]:80", "[::1:80", "::1]:80", "[::g]:80", "[::1]:80:",
    "[[::1]]:80", "[fe80::1%]:80", "[fe80::1%nosuchif0]:80", "[fe80::1%99999999999]:80",
    "[localhost]:80", "host name:80", "-host:80", "host-:80", "a..b:80", ".a:80",
    "ho$t:80", "h\xc3\xa9:80", "1.2.3.4:http", "localhost:http", "\x01:80",
    "1.2.3.4:80\n", "1.2.3.4:0x50", "a.b.:80:", "a:b:80", "..:80", ".:80",
};

/* Well-formed names: addr_parse says "resolve me". */
static const char *const names[] = {
    "localhost:80", "example.com:443", "a:1", "my_host.local.:9", "x-1.y:0",
    "1a.2b:65535", "xn--bcher-kva.example:80",
};

/* ---- tests -------------------------------------------------------------------- */

static void test_valid_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof valid / sizeof *valid; i++) {
        const valid_t *v = &valid[i];
        acto_addr_t a, b;
        char buf[ADDR_STRLEN];
        if (addr_parse(v->text, &a) != 0)
            fail_msg("'%s' should parse", v->text);
        assert_int_equal(addr_family(&a), v->family);
        assert_int_equal(addr_port(&a), v->port);
        assert_int_equal(a.len, v->family == AF_INET ? sizeof(struct sockaddr_in)
                                                     : sizeof(struct sockaddr_in6));
        int n = addr_format(&a, buf, sizeof buf);
        assert_true(n > 0);
        assert_int_equal((size_t)n, strlen(buf));
        if (v->formatted)
            assert_string_equal(buf, v->formatted);
        /* The formatted text names the same address. */
        assert_int_equal(addr_parse(buf, &b), 0);
        assert_true(addr_equal(&a, &b));
    }
}

static void test_ipv6_scope(void **state)
{
    (void)state;
    acto_addr_t a, b;
    unsigned lo = if_nametoindex("lo");
    assert_true(lo > 0);
    assert_int_equal(addr_parse("[fe80::1%lo]:22", &a), 0);
    assert_int_equal(a.u.in6.sin6_scope_id, lo);
    char text[64];
    snprintf(text, sizeof text, "[fe80::1%%%u]:22", lo);
    assert_int_equal(addr_parse(text, &b), 0);
    assert_true(addr_equal(&a, &b));
    char buf[ADDR_STRLEN];
    assert_true(addr_format(&a, buf, sizeof buf) > 0);
    assert_string_equal(buf, "[fe80::1%lo]:22");
    /* Without the scope it is another address. */
    assert_int_equal(addr_parse("[fe80::1]:22", &b), 0);
    assert_false(addr_equal(&a, &b));
}

static void test_invalid_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++) {
        acto_addr_t a;
        size_t n = 99;
        if (addr_parse(invalid[i], &a) != ACTO_EINVAL)
            fail_msg("'%s' should be ACTO_EINVAL", invalid[i]);
        /* addr_resolve refuses it too, without reaching the resolver. */
        if (addr_resolve(invalid[i], &a, 1, &n) != ACTO_EINVAL || n != 0)
            fail_msg("resolve '%s' should be ACTO_EINVAL", invalid[i]);
    }
}

static void test_null_and_length_limits(void **state)
{
    (void)state;
    acto_addr_t a[2];
    size_t n;
    assert_int_equal(addr_parse(NULL, a), ACTO_EINVAL);
    assert_int_equal(addr_parse("1.2.3.4:5", NULL), ACTO_EINVAL);
    assert_int_equal(addr_resolve("1.2.3.4:5", a, 0, &n), ACTO_EINVAL);
    assert_int_equal(addr_resolve("1.2.3.4:5", a, 1, NULL), ACTO_EINVAL);

    /* Labels of 63 bytes are fine, 64 is too long; names up to 253. */
    char text[ADDR_TEXT_MAX + 64];
    memset(text, 'a', 63);
    strcpy(text + 63, ".b:80");
    assert_int_equal(addr_parse(text, a), ACTO_EAGAIN);
    memset(text, 'a', 64);
    strcpy(text + 64, ".b:80");
    assert_int_equal(addr_parse(text, a), ACTO_EINVAL);
    size_t len = 0;
    while (len + 4 <= 253) {            /* "aaa." repeated: 252 bytes */
        memcpy(text + len, "aaa.", 4);
        len += 4;
    }
    text[len] = 'b';                     /* 253 */
    strcpy(text + len + 1, ":80");
    assert_int_equal(addr_parse(text, a), ACTO_EAGAIN);
    text[len + 1] = 'c';                 /* 254 */
    strcpy(text + len + 2, ":80");
    assert_int_equal(addr_parse(text, a), ACTO_EINVAL);
    /* Text longer than ADDR_TEXT_MAX. */
    memset(text, '1', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    assert_int_equal(addr_parse(text, a), ACTO_EINVAL);
}

static void test_names_need_resolving(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        acto_addr_t a;
        if (addr_parse(names[i], &a) != ACTO_EAGAIN)
            fail_msg("'%s' should be a name (ACTO_EAGAIN)", names[i]);
    }
}

static void test_resolve_numeric(void **state)
{
    (void)state;
    acto_addr_t a[4];
    size_t n = 0;
    assert_int_equal(addr_resolve("127.0.0.1:5", a, 4, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(addr_family(&a[0]), AF_INET);
    assert_int_equal(addr_port(&a[0]), 5);
    assert_int_equal(addr_resolve("[::1]:6", a, 1, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(addr_family(&a[0]), AF_INET6);
}

static bool is_loopback(const acto_addr_t *a)
{
    if (addr_family(a) == AF_INET)
        return (ntohl(a->u.in4.sin_addr.s_addr) >> 24) == 127;
    return IN6_IS_ADDR_LOOPBACK(&a->u.in6.sin6_addr);
}

/* "localhost" comes from /etc/hosts: loopback addresses with our port, no
 * duplicates; max bounds the count. */
static void test_resolve_localhost(void **state)
{
    (void)state;
    acto_addr_t a[8];
    size_t n = 0;
    assert_int_equal(addr_resolve("localhost:8080", a, 8, &n), 0);
    assert_true(n >= 1);
    for (size_t i = 0; i < n; i++) {
        assert_true(is_loopback(&a[i]));
        assert_int_equal(addr_port(&a[i]), 8080);
        for (size_t j = 0; j < i; j++)
            assert_false(addr_equal(&a[i], &a[j]));
    }
    assert_int_equal(addr_resolve("localhost:1", a, 1, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(addr_port(&a[0]), 1);
}

static void test_format_limits(void **state)
{
    (void)state;
    acto_addr_t a;
    char buf[ADDR_STRLEN];
    assert_int_equal(addr_parse("[2001:db8::1]:65535", &a), 0);
    size_t need = strlen("[2001:db8::1]:65535");
    assert_int_equal(addr_format(&a, buf, need), ACTO_ELIMIT);
    assert_string_equal(buf, "");
    assert_int_equal(addr_format(&a, buf, need + 1), (int)need);
    assert_int_equal(addr_format(&a, buf, 0), ACTO_EINVAL);
    assert_int_equal(addr_format(NULL, buf, sizeof buf), ACTO_EINVAL);
    /* The longest text fits ADDR_STRLEN. */
    assert_int_equal(addr_parse("[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255%4294967295]:65535", &a), 0);
    int n = addr_format(&a, buf, sizeof buf);
    assert_true(n > 0 && n < ADDR_STRLEN);
    memset(&a, 0, sizeof a);             /* no family */
    assert_int_equal(addr_format(&a, buf, sizeof buf), ACTO_EINVAL);
}

static void test_from_sockaddr_and_port(void **state)
{
    (void)state;
    acto_addr_t a;
    struct sockaddr_in in4;
    memset(&in4, 0, sizeof in4);
    in4.sin_family = AF_INET;
    in4.sin_port = htons(9);
    in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(addr_from_sockaddr(&a, (struct sockaddr *)&in4, sizeof in4), 0);
    assert_int_equal(addr_port(&a), 9);
    addr_set_port(&a, 10);
    assert_int_equal(addr_port(&a), 10);
    assert_int_equal(addr_from_sockaddr(&a, (struct sockaddr *)&in4, sizeof in4 - 1), ACTO_EINVAL);
    struct sockaddr un = { .sa_family = AF_UNIX };
    assert_int_equal(addr_from_sockaddr(&a, &un, sizeof un), ACTO_EINVAL);
    assert_int_equal(addr_from_sockaddr(&a, NULL, 0), ACTO_EINVAL);
}

/* Bind to port 0 on loopback, read the chosen port back with getsockname,
 * format it, and connect to the formatted text. */
static void bind_connect(const char *text)
{
    acto_addr_t a, bound, target;
    char buf[ADDR_STRLEN];
    assert_int_equal(addr_parse(text, &a), 0);
    int ls = socket(addr_family(&a), SOCK_STREAM, 0);
    assert_true(ls >= 0);
    assert_int_equal(bind(ls, &a.u.sa, a.len), 0);
    assert_int_equal(listen(ls, 1), 0);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    assert_int_equal(getsockname(ls, (struct sockaddr *)&ss, &sl), 0);
    assert_int_equal(addr_from_sockaddr(&bound, (struct sockaddr *)&ss, sl), 0);
    assert_true(addr_port(&bound) != 0);
    assert_true(addr_format(&bound, buf, sizeof buf) > 0);
    assert_int_equal(addr_parse(buf, &target), 0);
    assert_true(addr_equal(&bound, &target));
    int cs = socket(addr_family(&target), SOCK_STREAM, 0);
    assert_true(cs >= 0);
    assert_int_equal(connect(cs, &target.u.sa, target.len), 0);
    close(cs);
    close(ls);
}

static void test_loopback_sockets(void **state)
{
    (void)state;
    bind_connect("127.0.0.1:0");
    int s6 = socket(AF_INET6, SOCK_STREAM, 0);
    if (s6 >= 0) {   /* IPv6 may be disabled in a container */
        close(s6);
        bind_connect("[::1]:0");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_table),
        cmocka_unit_test(test_ipv6_scope),
        cmocka_unit_test(test_invalid_table),
        cmocka_unit_test(test_null_and_length_limits),
        cmocka_unit_test(test_names_need_resolving),
        cmocka_unit_test(test_resolve_numeric),
        cmocka_unit_test(test_resolve_localhost),
        cmocka_unit_test(test_format_limits),
        cmocka_unit_test(test_from_sockaddr_and_port),
        cmocka_unit_test(test_loopback_sockets),
    };
    return cmocka_run_group_tests_name("addr", tests, NULL, NULL);
}
