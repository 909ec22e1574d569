/* tools/pubsub/req.c - acto-req: send a request, print the reply. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define TIMEOUT_DEFAULT_MS 2000

static void usage(void)
{
    printf("Usage: acto-req [OPTION]... SUBJECT MSG\n"
           "Publish MSG on SUBJECT with a fresh reply subject and print the first\n"
           "reply's payload.\n\n"
           "  --timeout MS        wait at most MS milliseconds (default %d)\n"
           PS_COMMON_HELP, TIMEOUT_DEFAULT_MS);
}

int main(int argc, char **argv)
{
    ps_common_t pc = { .prog = "acto-req", .server = ACTO_CLIENT_DEFAULT_ADDR };
    unsigned long long timeout = TIMEOUT_DEFAULT_MS;
    enum { OPT_TIMEOUT = 1 };
    static const struct option longopts[] = {
        PS_COMMON_LONGOPTS, { "timeout", required_argument, NULL, OPT_TIMEOUT }, { 0 } };
    int opt, rc;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (opt == OPT_HELP) {
            usage();
            ps_common_free(&pc);
            return EXIT_OK;
        }
        if (opt == OPT_TIMEOUT) {
            if (ps_parse_u64(optarg, &timeout) || timeout > 24ull * 3600 * 1000) {
                ps_common_free(&pc);
                return ps_usage_error(&pc, "--timeout: '%s' is not a number of ms", optarg);
            }
            continue;
        }
        if ((rc = ps_common_opt(&pc, opt, optarg)) >= 0) {
            if (rc) {
                ps_common_free(&pc);
                return rc;
            }
            continue;
        }
        ps_common_free(&pc);
        return ps_usage_error(&pc, "unknown or incomplete option '%s'", argv[optind - 1]);
    }
    if (argc - optind != 2) {
        ps_common_free(&pc);
        return ps_usage_error(&pc, argc - optind < 2 ? "missing SUBJECT or MSG"
                                                     : "too many arguments");
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    acto_client_t *cl = ps_connect(&pc, 0);
    if (!cl) {
        ps_common_free(&pc);
        return EXIT_FAIL;
    }
    const char *msg = argv[optind + 1];
    acto_client_msg_t reply;
    rc = acto_client_request(cl, argv[optind], msg, strlen(msg), (int)timeout, &reply);
    if (rc == 0) {
        fwrite(reply.payload, 1, reply.len, stdout);
        putchar('\n');
    } else {
        ps_fail(&pc, cl, rc == ACTO_ETIMEDOUT ? "no reply" : "request", rc);
    }
    acto_client_close(cl);
    ps_common_free(&pc);
    return rc == 0 ? EXIT_OK : rc == ACTO_EINVAL ? EXIT_USAGE : EXIT_FAIL;
}
