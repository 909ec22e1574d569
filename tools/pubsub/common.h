/* tools/pubsub/common.h - what acto-pub, acto-sub and acto-req share:
 * the common flags (--server, --token, --token-file, --help), connecting,
 * and the exit codes. */
#ifndef ACTO_TOOLS_PUBSUB_COMMON_H
#define ACTO_TOOLS_PUBSUB_COMMON_H

#include <acto/acto.h>
#include <acto/client.h>

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* Options every tool takes; the tool adds its own. */
typedef struct ps_common {
    const char *prog;            /* "acto-pub" */
    const char *server;          /* --server, default ACTO_CLIENT_DEFAULT_ADDR */
    char *token;                 /* --token or the first line of --token-file */
} ps_common_t;

/* getopt_long entries for the common flags, and their codes. */
enum { OPT_SERVER = 0x1000, OPT_TOKEN, OPT_TOKEN_FILE, OPT_HELP };
#define PS_COMMON_LONGOPTS                                        \
    { "server", required_argument, NULL, OPT_SERVER },           \
    { "token", required_argument, NULL, OPT_TOKEN },             \
    { "token-file", required_argument, NULL, OPT_TOKEN_FILE },   \
    { "help", no_argument, NULL, OPT_HELP }

#define PS_COMMON_HELP                                                              \
    "  --server HOST:PORT  the broker (default " ACTO_CLIENT_DEFAULT_ADDR ")\n"      \
    "  --token TOKEN       authorization token\n"                                    \
    "  --token-file FILE   read the token from the first line of FILE\n"             \
    "  --help              show this help and exit\n"                                \
    "Exit status: 0 ok, 1 failure (connection, timeout, broker error),\n"          \
    "2 usage (bad flags or arguments, an invalid subject).\n"

/* Handle a common option: 0 if handled, EXIT_USAGE (message printed) on a
 * bad value, -1 if opt is not a common option. */
int ps_common_opt(ps_common_t *c, int opt, const char *arg);
/* Print "prog: message" to stderr and return EXIT_USAGE, with a hint. */
int ps_usage_error(const ps_common_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Parse a non-negative decimal number into *out: 0, or -1 if bad. */
int ps_parse_u64(const char *s, unsigned long long *out);
/* Connect with the common options (reconnect on or off); prints the
 * failure to stderr and returns NULL. */
acto_client_t *ps_connect(const ps_common_t *c, int reconnect);
/* Print "prog: what: acto error / broker error" to stderr. */
void ps_fail(const ps_common_t *c, acto_client_t *cl, const char *what, int rc);
void ps_common_free(ps_common_t *c);

#endif
