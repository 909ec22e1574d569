/* tools/pubsub/common.c - see common.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static int read_token_file(ps_common_t *c, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "%s: --token-file %s: %s\n", c->prog, path, strerror(errno));
        return EXIT_USAGE;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, f);
    fclose(f);
    if (n <= 0) {
        free(line);
        fprintf(stderr, "%s: --token-file %s: empty\n", c->prog, path);
        return EXIT_USAGE;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    free(c->token);
    c->token = line;
    return 0;
}

int ps_common_opt(ps_common_t *c, int opt, const char *arg)
{
    switch (opt) {
    case OPT_SERVER:
        c->server = arg;
        return 0;
    case OPT_TOKEN:
        free(c->token);
        c->token = strdup(arg);
        return c->token ? 0 : EXIT_FAIL;
    case OPT_TOKEN_FILE:
        return read_token_file(c, arg);
    default:
        return -1;
    }
}

int ps_usage_error(const ps_common_t *c, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", c->prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s --help'.\n", c->prog);
    return EXIT_USAGE;
}

int ps_parse_u64(const char *s, unsigned long long *out)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

acto_client_t *ps_connect(const ps_common_t *c, int reconnect)
{
    char err[1200] = "";
    acto_client_opts_t o = { .name = c->prog, .token = c->token,
                             .reconnect = reconnect ? ACTO_CLIENT_RECONNECT_ON
                                                    : ACTO_CLIENT_RECONNECT_OFF,
                             .errbuf = err, .errbuf_len = sizeof err };
    acto_client_t *cl;
    int rc = acto_client_connect(c->server, &o, &cl);
    if (rc) {
        fprintf(stderr, "%s: %s: %s\n", c->prog, err[0] ? err : c->server, acto_strerror(rc));
        return NULL;
    }
    return cl;
}

void ps_fail(const ps_common_t *c, acto_client_t *cl, const char *what, int rc)
{
    const char *text = NULL;
    acto_client_error(cl, &text);
    if (text && *text)
        fprintf(stderr, "%s: %s: %s (%s)\n", c->prog, what, acto_strerror(rc), text);
    else
        fprintf(stderr, "%s: %s: %s\n", c->prog, what, acto_strerror(rc));
}

void ps_common_free(ps_common_t *c)
{
    free(c->token);
    c->token = NULL;
}
