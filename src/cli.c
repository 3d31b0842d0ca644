/* SPDX-License-Identifier: MIT */
#include "cli.h"

#include "vmm/suggest.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const struct cli_command *cli_find_command(const char *name)
{
	for (const struct cli_command *const *c = cli_commands; *c; c++)
		if (strcmp((*c)->name, name) == 0)
			return *c;
	return NULL;
}

void cli_print_help(const struct cli_command *cmd, FILE *f)
{
	fprintf(f, "%s\n\nUsage:\n%s\n", cmd->summary, cmd->usage);
	if (cmd->help && *cmd->help)
		fprintf(f, "\n%s", cmd->help);
	fprintf(f, "%s  -h, --help              Show this help\n",
		cmd->help && strstr(cmd->help, "Options:") ? "" : "\nOptions:\n");
}

static void print_usage_short(const struct cli_command *cmd, FILE *f)
{
	fprintf(f, "Usage:\n%s\nTry 'vmctl %s --help' for more information.\n", cmd->usage,
		cmd->name);
}

int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vmctl %s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	print_usage_short(cmd, stderr);
	return CLI_EXIT_USAGE;
}

void cli_getopt_reset(void)
{
	optind = 0; /* 0 makes glibc re-initialise its state */
	opterr = 0;
}

int cli_getopt(const struct cli_command *cmd, int argc, char **argv, const char *shortopts,
	       const struct option *longopts)
{
	char opts[128];
	struct option lo[48];
	size_t n = 0;
	int c, longidx = -1;

	/* Options may follow operands (`vmctl stop vm --timeout 60`). A
	 * command whose operands end in a command of their own starts
	 * shortopts with '+' to stop at the first operand. ':' reports a
	 * missing option value as ':'. */
	if (shortopts && shortopts[0] == '+')
		snprintf(opts, sizeof(opts), "+:h%s", shortopts + 1);
	else
		snprintf(opts, sizeof(opts), ":h%s", shortopts ? shortopts : "");
	if (longopts)
		for (; longopts[n].name && n < sizeof(lo) / sizeof(lo[0]) - 2; n++)
			lo[n] = longopts[n];
	lo[n++] = (struct option){"help", no_argument, NULL, 'h'};
	lo[n] = (struct option){0};

	c = getopt_long(argc, argv, opts, lo, &longidx);
	if (c == 'h') {
		cli_print_help(cmd, stdout);
		exit(CLI_EXIT_OK);
	}
	if (c == '?') {
		const char *given = argv[optind - 1], *guess = NULL;
		const char *names[50];
		char word[64];
		size_t k = 0;

		if (optopt)
			exit(cli_usage_error(cmd, "unknown option '-%c'", optopt));
		/* "did you mean": the closest long option, compared without the
		 * dashes and any "=value" */
		snprintf(word, sizeof(word), "%s", given + strspn(given, "-"));
		word[strcspn(word, "=")] = '\0';
		for (size_t i = 0; i < n && k < sizeof(names) / sizeof(names[0]) - 1; i++)
			names[k++] = lo[i].name;
		names[k] = NULL;
		if (*word)
			guess = vmm_suggest(word, names);
		if (guess)
			exit(cli_usage_error(cmd, "unknown option '%s' (did you mean '--%s'?)", given,
					     guess));
		exit(cli_usage_error(cmd, "unknown option '%s'", given));
	}
	if (c == ':') {
		if (optopt && optopt < 256 && !(longidx >= 0))
			exit(cli_usage_error(cmd, "option '-%c' needs a value", optopt));
		exit(cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]));
	}
	return c;
}

uint64_t cli_parse_u64(const struct cli_command *cmd, const char *opt, const char *value,
		       uint64_t min, uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (!value || !*value || *value == '-' || *value == '+')
		goto bad;
	v = strtoull(value, &end, 10);
	if (errno || *end)
		goto bad;
	if (v < min || v > max)
		exit(cli_usage_error(cmd, "%s must be between %llu and %llu, got '%s'", opt,
				     (unsigned long long)min, (unsigned long long)max, value));
	return v;
bad:
	exit(cli_usage_error(cmd, "%s needs a whole number, got '%s'", opt, value ? value : ""));
}

const char *cli_one_operand(const struct cli_command *cmd, int argc, char **argv,
			    const char *what)
{
	if (optind >= argc)
		exit(cli_usage_error(cmd, "missing %s", what));
	if (optind + 1 < argc)
		exit(cli_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]));
	return argv[optind];
}

int cli_error(const struct vmm_error *err)
{
	fprintf(stderr, "error[%s]: %s\n", vmm_errcode_name(err->code),
		err->message[0] ? err->message : "unknown error");
	if (err->hint[0])
		fprintf(stderr, "help: %s\n", err->hint);
	return CLI_EXIT_ERROR;
}

int cli_errorf(enum vmm_errcode code, const char *hint, const char *fmt, ...)
{
	struct vmm_error err;
	va_list ap;

	vmm_error_clear(&err);
	err.code = code;
	va_start(ap, fmt);
	vsnprintf(err.message, sizeof(err.message), fmt, ap);
	va_end(ap);
	if (hint)
		snprintf(err.hint, sizeof(err.hint), "%s", hint);
	return cli_error(&err);
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;

	fputs("warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

bool cli_stdout_tty(void)
{
	return isatty(STDOUT_FILENO);
}

bool cli_stderr_tty(void)
{
	return isatty(STDERR_FILENO);
}

struct vmm_ctx *cli_ctx_open(void)
{
	struct vmm_ctx *ctx = NULL;
	struct vmm_error err;

	if (vmm_ctx_new(&ctx, &err) < 0) {
		cli_error(&err);
		return NULL;
	}
	return ctx;
}

int cli_backend_from_env(enum vmm_backend_tag *out)
{
	const char *s = getenv("VMCTL_BACKEND");

	if (!s || !*s) {
		*out = vmm_default_backend();
		return 0;
	}
	if (vmm_backend_parse(s, out) < 0) {
		cli_errorf(VMM_E_BACKEND, "use VMCTL_BACKEND=qemu, propolis, libvirt or noop, or unset it",
			   "VMCTL_BACKEND='%s' names no backend", s);
		return -1;
	}
	return 0;
}

const char *cli_human_size(unsigned long long bytes, char *buf, size_t len)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	unsigned u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", bytes);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

int cli_run_vm_command(const struct cli_command *cmd, int argc, char **argv, cli_vm_fn fn,
		       const char *done_fmt, bool show_ssh)
{
	struct vmm_ctx *ctx;
	struct vmm_vm *vm = NULL;
	struct vmm_error err;
	const char *name;
	int rc = CLI_EXIT_OK;

	while (cli_getopt(cmd, argc, argv, "", NULL) != -1)
		;
	name = cli_one_operand(cmd, argc, argv, "VM name");
	if (!(ctx = cli_ctx_open()))
		return CLI_EXIT_ERROR;
	if (fn(ctx, name, &vm, &err) < 0) {
		rc = cli_error(&err);
	} else {
		printf(done_fmt, name);
		if (show_ssh && vm && vm->ssh_host_port)
			printf(" (SSH on 127.0.0.1:%u)", vm->ssh_host_port);
		putchar('\n');
	}
	vmm_vm_free(vm);
	vmm_ctx_free(ctx);
	return rc;
}

uint64_t cli_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
