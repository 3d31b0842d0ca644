/* SPDX-License-Identifier: MIT */
/*
 * src/cli.h - the vmctl command-line layer.
 *
 * One file per subcommand (cmd_<verb>.c), each defining a struct cli_command
 * listed in the table in commands.c. The CLI prints and exits; the library
 * below it (include/vmm/) does neither. The CLI reaches only the public
 * headers of libvmm.
 */
#ifndef VMCTL_CLI_H
#define VMCTL_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vmm/error.h"

/* Exit codes. */
enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_ERROR = 1,
	CLI_EXIT_USAGE = 2,
};

struct cli_command {
	const char *name;
	const char *summary; /* one line, for `vmctl --help` */
	const char *usage;   /* synopsis lines, e.g. "vmctl start NAME" */
	const char *help;    /* description and options, for `vmctl CMD --help` */
	/* argv[0] is the command name. Returns the process exit code. */
	int (*run)(const struct cli_command *cmd, int argc, char **argv);
};

/* The command table (commands.c), NULL-terminated. */
extern const struct cli_command *const cli_commands[];

const struct cli_command *cli_find_command(const char *name);

/* Print `vmctl CMD --help` to f. */
void cli_print_help(const struct cli_command *cmd, FILE *f);

/*
 * getopt_long for a subcommand: handles -h/--help (help to stdout, exit 0)
 * and unknown options or missing arguments (message and usage to stderr,
 * exit 2). Returns the option like getopt_long, -1 at the end. Call with
 * optind reset by cli_getopt_reset() first (main does). Options may follow
 * operands unless shortopts begins with '+' (stop at the first operand).
 * Do not put ':' first or 'h' in shortopts: they are added for you.
 */
void cli_getopt_reset(void);
int cli_getopt(const struct cli_command *cmd, int argc, char **argv, const char *shortopts,
	       const struct option *longopts);

/* Usage error: "vmctl CMD: message" + usage on stderr; returns CLI_EXIT_USAGE. */
int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Parse an unsigned integer option value within [min, max]. On failure
 * prints a usage error naming the option and exits 2. */
uint64_t cli_parse_u64(const struct cli_command *cmd, const char *opt, const char *value,
		       uint64_t min, uint64_t max);

/* Exactly one NAME operand at argv[optind] (the rest is a usage error). */
const char *cli_one_operand(const struct cli_command *cmd, int argc, char **argv,
			    const char *what);

/* Render a library error on stderr and return CLI_EXIT_ERROR:
 *   error[vm_manager::...]: message
 *   help: hint                                                             */
int cli_error(const struct vmm_error *err);

/* Render an error made here (code, hint or NULL, message) the same way;
 * returns CLI_EXIT_ERROR. */
int cli_errorf(enum vmm_errcode code, const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Print a warning line "warning: ..." on stderr. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Whether stdout / stderr is a terminal (colors, progress bars). */
bool cli_stdout_tty(void);
bool cli_stderr_tty(void);
#include "vmm/manager.h"

/* Open the library context (data directory from the environment). On
 * failure prints the error and returns NULL. */
struct vmm_ctx *cli_ctx_open(void);

/* The backend for new VMs: $VMCTL_BACKEND if set (qemu, noop), else the
 * library's default. Returns -1 (after printing an error) if the variable
 * names no backend. */
int cli_backend_from_env(enum vmm_backend_tag *out);

/*
 * The shape shared by commands that take exactly one VM NAME and no options
 * (start, suspend, resume, destroy): parse, open the context, call fn (the
 * library's vmm_vm_start & co.), print done_fmt (with %s for the name) on
 * success, followed with show_ssh by the forwarded SSH port the VM now has,
 * or the error on failure. Returns the exit code.
 */
typedef int (*cli_vm_fn)(struct vmm_ctx *ctx, const char *name, struct vmm_vm **out,
			 struct vmm_error *err);
int cli_run_vm_command(const struct cli_command *cmd, int argc, char **argv, cli_vm_fn fn,
		       const char *done_fmt, bool show_ssh);

/* Milliseconds from a monotonic clock. */
uint64_t cli_now_ms(void);

/* Format a size in bytes for humans ("1.5 GiB"). */
const char *cli_human_size(unsigned long long bytes, char *buf, size_t len);
#endif
