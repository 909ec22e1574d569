/* tools/trace/tool.h - the acto-trace subcommands. */
#ifndef ACTO_TRACE_TOOL_H
#define ACTO_TRACE_TOOL_H

#include "reader.h"

/* Command-line options after the subcommand's FILE (and -o, taken out). */
typedef struct tool_args {
    int argc;
    char **argv;
} tool_args_t;

/* Value of option `name` at argv[*i] ("--name V" or "--name=V"), advancing
 * *i past it; NULL if argv[*i] is not that option. */
const char *tool_opt(const tool_args_t *a, int *i, const char *name);
/* Print "acto-trace: ..." to stderr; returns 1 (usage error status). */
int tool_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Each returns the process exit status. */
int cmd_summary(const ttr_model_t *m, const char *path, const tool_args_t *a, FILE *out);
int cmd_messages(const ttr_model_t *m, const tool_args_t *a, FILE *out);
int cmd_flow(const ttr_model_t *m, const tool_args_t *a, FILE *out);
int cmd_graph(const ttr_model_t *m, const tool_args_t *a, FILE *out);
int cmd_export(const ttr_model_t *m, const tool_args_t *a, FILE *out);
int cmd_report(const ttr_model_t *m, const tool_args_t *a, FILE *out);
/* messages, export and graph on a streamed trace (little memory). */
int cmd_messages_stream(ttr_lite_t *l, const tool_args_t *a, FILE *out);
int cmd_export_stream(ttr_lite_t *l, const tool_args_t *a, FILE *out);
int cmd_graph_stream(ttr_lite_t *l, const tool_args_t *a, FILE *out);
int cmd_report_stream(ttr_lite_t *l, const tool_args_t *a, FILE *out);
/* top reads no trace: it talks to a live runtime (argv: its options). */
int cmd_top(int argc, char **argv);

/* Shared by messages and flow: one line describing message g. */
void tool_msg_line(const ttr_model_t *m, const ttr_msg_t *g, FILE *out);

#endif
