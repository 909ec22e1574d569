/* tools/pubsub/pub.c - acto-pub: publish a message, or one per stdin line. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define FLUSH_TIMEOUT_MS 10000

static void usage(void)
{
    printf("Usage: acto-pub [OPTION]... SUBJECT [MSG]\n"
           "Publish MSG on SUBJECT through an acto pub/sub broker.  Without MSG,\n"
           "publish each line of standard input (newline removed) as one message.\n"
           "Exits once the broker has received every message.\n\n"
           "  --reply SUBJECT     ask receivers to answer on SUBJECT\n"
           PS_COMMON_HELP);
}

static int publish(const ps_common_t *pc, acto_client_t *cl, const char *subject,
                   const char *reply, const char *msg, size_t len)
{
    int rc = acto_client_publish(cl, subject, reply, msg, len);
    if (rc) {
        ps_fail(pc, cl, "publish", rc);
        return rc == ACTO_EINVAL ? EXIT_USAGE : EXIT_FAIL;   /* a bad subject is usage */
    }
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    ps_common_t pc = { .prog = "acto-pub", .server = ACTO_CLIENT_DEFAULT_ADDR };
    const char *reply = NULL;
    enum { OPT_REPLY = 1 };
    static const struct option longopts[] = {
        PS_COMMON_LONGOPTS, { "reply", required_argument, NULL, OPT_REPLY }, { 0 } };
    int opt, rc;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (opt == OPT_HELP) {
            usage();
            ps_common_free(&pc);
            return EXIT_OK;
        }
        if (opt == OPT_REPLY) {
            reply = optarg;
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
    int nargs = argc - optind;
    if (nargs < 1 || nargs > 2) {
        ps_common_free(&pc);
        return ps_usage_error(&pc, nargs < 1 ? "missing SUBJECT" : "too many arguments");
    }
    const char *subject = argv[optind];
    acto_client_t *cl = ps_connect(&pc, 0);
    if (!cl) {
        ps_common_free(&pc);
        return EXIT_FAIL;
    }
    rc = EXIT_OK;
    if (nargs == 2) {
        rc = publish(&pc, cl, subject, reply, argv[optind + 1], strlen(argv[optind + 1]));
    } else {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while (rc == EXIT_OK && (n = getline(&line, &cap, stdin)) >= 0) {
            if (n > 0 && line[n - 1] == '\n')
                n--;
            rc = publish(&pc, cl, subject, reply, line, (size_t)n);
        }
        free(line);
    }
    /* a ping round trip: the broker has handled every publish */
    int frc = rc == EXIT_OK ? acto_client_flush(cl, FLUSH_TIMEOUT_MS) : 0;
    if (frc) {
        ps_fail(&pc, cl, "flush", frc);
        rc = EXIT_FAIL;
    } else if (rc == EXIT_OK && acto_client_error(cl, NULL)) {
        ps_fail(&pc, cl, "broker", ACTO_EPROTO);  /* e.g. an err for a publish */
        rc = EXIT_FAIL;
    }
    acto_client_close(cl);
    ps_common_free(&pc);
    return rc;
}
