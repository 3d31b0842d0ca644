/* SPDX-License-Identifier: MIT */
/*
 * vmctl - entry point: global options, logging set-up, command dispatch.
 *
 * Built twice. vmctl-full (commands.c) has every command. vmctl, the
 * program users run, is built with VMCTL_FRONT and the commands that only
 * read the registry (commands_front.c): it runs those itself and hands
 * everything else, help included, to vmctl-full by exec, the way git runs
 * git-remote-https. The front links neither libcurl nor libssh, libisofs or
 * libcrypto: loading them (some thirty libraries) took longer than listing
 * a thousand VMs.
 */
#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "vmm/log.h"
#include "vmm/suggest.h"
#include "vmm_config.h"

static void stderr_sink(enum vmm_log_level level, const char *module, const char *message,
			void *userdata)
{
	(void)userdata;
	if (level == VMM_LOG_WARN)
		fprintf(stderr, "warning: %s\n", message);
	else
		fprintf(stderr, "%s %s: %s\n", vmm_log_level_name(level), module, message);
}

static void print_main_help(FILE *f)
{
	fprintf(f, "vmctl %s - manage QEMU virtual machines, imperatively or from a VMFile.kdl\n\n"
		   "Usage:\n  vmctl <COMMAND> [OPTIONS] [ARGS]\n\nCommands:\n",
		VMM_VERSION);
	for (const struct cli_command *const *c = cli_commands; *c; c++)
		fprintf(f, "  %-10s %s\n", (*c)->name, (*c)->summary);
	fprintf(f, "\nOptions:\n"
		   "  -h, --help     Show this help\n"
		   "  -V, --version  Show the version\n"
		   "\nRun 'vmctl <COMMAND> --help' for a command's options.\n"
		   "\nEnvironment:\n"
		   "  VMCTL_LOG      log filter, e.g. debug, info,ssh=trace (default: warn)\n"
		   "  XDG_DATA_HOME  data directory (default: ~/.local/share); vmctl keeps its\n"
		   "                 state in $XDG_DATA_HOME/vmctl\n"
		   "  VMCTL_ACCEL    kvm or tcg: force the accelerator (default: KVM when\n"
		   "                 /dev/kvm can run guests, else software emulation)\n"
		   "  VMCTL_QEMU     the QEMU binary (default: qemu-system-x86_64)\n"
		   "  VMCTL_BACKEND  backend of new VMs: qemu (default), propolis, libvirt or\n"
		   "                 noop (runs nothing)\n"
		   "  VMCTL_ZFS_POOL, VMCTL_PROPOLIS_URL\n"
		   "                 the propolis backend's ZFS pool (default: rpool) and server\n"
		   "                 (default: http://127.0.0.1:12400); see vmctl(1)\n");
}

#ifdef VMCTL_FRONT
/* Replace this process with vmctl-full: first the one beside this program
 * (a build tree), then the installed one. Returns only on failure. */
static int run_full(char **argv)
{
	char self[PATH_MAX], path[PATH_MAX + 16], *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/'))) {
			*slash = '\0';
			snprintf(path, sizeof(path), "%s/vmctl-full", self);
			if (access(path, X_OK) == 0)
				execv(path, argv);
		}
	}
	snprintf(path, sizeof(path), "%s/vmctl-full", VMCTL_LIBEXECDIR);
	execv(path, argv);
	fprintf(stderr, "vmctl: cannot run %s: %s\n"
			"help: vmctl is installed incompletely; reinstall it\n",
		path, strerror(errno));
	return CLI_EXIT_ERROR;
}
#endif

int main(int argc, char **argv)
{
	const struct cli_command *cmd;
	const char *log_spec = getenv("VMCTL_LOG");
	const char *names[64];
	size_t n = 0;

#ifdef VMCTL_FRONT
	if (argc < 2 || !(cli_find_command(argv[1]) || strcmp(argv[1], "-V") == 0 ||
			  strcmp(argv[1], "--version") == 0))
		return run_full(argv);
#endif
	setlocale(LC_CTYPE, "");
	vmm_log_set_sink(stderr_sink, NULL);
	if (vmm_log_configure(log_spec) < 0) {
		fprintf(stderr, "warning: VMCTL_LOG='%s' is not understood; use e.g. "
				"VMCTL_LOG=debug or VMCTL_LOG=info,ssh=trace\n",
			log_spec);
	}

	if (argc < 2) {
		print_main_help(stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		if (argc > 2 && strcmp(argv[1], "help") == 0 && (cmd = cli_find_command(argv[2]))) {
			cli_print_help(cmd, stdout);
			return CLI_EXIT_OK;
		}
		print_main_help(stdout);
		return CLI_EXIT_OK;
	}
	if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("vmctl %s\n", VMM_VERSION);
		return CLI_EXIT_OK;
	}
	if (argv[1][0] == '-') {
		fprintf(stderr, "vmctl: unknown option '%s'\n"
				"Usage: vmctl <COMMAND> [OPTIONS] [ARGS]\n"
				"Try 'vmctl --help' for more information.\n",
			argv[1]);
		return CLI_EXIT_USAGE;
	}
	cmd = cli_find_command(argv[1]);
	if (!cmd) {
		const char *hint;

		for (const struct cli_command *const *c = cli_commands; *c && n < 63; c++)
			names[n++] = (*c)->name;
		names[n] = NULL;
		hint = vmm_suggest(argv[1], names);
		fprintf(stderr, "vmctl: unknown command '%s'\n", argv[1]);
		if (hint)
			fprintf(stderr, "help: did you mean '%s'?\n", hint);
		fprintf(stderr, "Try 'vmctl --help' for the list of commands.\n");
		return CLI_EXIT_USAGE;
	}
	cli_getopt_reset();
	return cmd->run(cmd, argc - 1, argv + 1);
}
