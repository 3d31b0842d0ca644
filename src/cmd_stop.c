/* SPDX-License-Identifier: MIT */
/* vmctl stop: ACPI power-down, then SIGTERM, then SIGKILL; or, with --save,
 * save the VM's running state for the next start to continue from. */
#include "cli.h"

enum { OPT_TIMEOUT = 256, OPT_SAVE };

static const struct option longopts[] = {
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"save", no_argument, NULL, OPT_SAVE},
	{0},
};

static int run(const struct cli_command *cmd, int argc, char **argv)
{
	struct vmm_ctx *ctx;
	struct vmm_error err;
	unsigned timeout = 30;
	bool save = false, timeout_set = false;
	const char *name;
	int c, rc = CLI_EXIT_OK;

	while ((c = cli_getopt(cmd, argc, argv, "t:", longopts)) != -1) {
		if (c == OPT_TIMEOUT || c == 't') {
			timeout = (unsigned)cli_parse_u64(cmd, "--timeout", optarg, 0, 86400);
			timeout_set = true;
		} else if (c == OPT_SAVE) {
			save = true;
		}
	}
	name = cli_one_operand(cmd, argc, argv, "VM name");
	if (save && timeout_set)
		return cli_usage_error(cmd, "--timeout has no effect with --save (the guest is "
					    "not shut down)");
	if (!(ctx = cli_ctx_open()))
		return CLI_EXIT_ERROR;
	if (save) {
		uint64_t t0 = cli_now_ms();

		if (vmm_vm_save(ctx, name, NULL, &err) < 0)
			rc = cli_error(&err);
		else
			printf("Saved VM '%s' in %.1fs; `vmctl start %s` continues it\n", name,
			       (double)(cli_now_ms() - t0) / 1000.0, name);
	} else if (vmm_vm_stop(ctx, name, timeout, NULL, &err) < 0) {
		rc = cli_error(&err);
	} else {
		printf("Stopped VM '%s'\n", name);
	}
	vmm_ctx_free(ctx);
	return rc;
}

const struct cli_command cmd_stop = {
	.name = "stop",
	.summary = "Stop a running VM (or save its state)",
	.usage = "  vmctl stop [--timeout SECONDS] NAME\n"
		 "  vmctl stop --save NAME",
	.help = "Sends an ACPI power-down to the guest. If it has not shut down within the\n"
		"timeout, the VM's process gets SIGTERM, then SIGKILL. Stopping a saved VM\n"
		"discards its saved state.\n"
		"\n"
		"With --save, the guest is not shut down: its memory and devices are written\n"
		"to its work directory and its process ends; the VM is then \"saved\", and\n"
		"the next `vmctl start` (or `vmctl up`) continues it where it was, with its\n"
		"processes and files in memory. `vmctl start --cold` discards the state.\n"
		"\n"
		"Options:\n"
		"  -t, --timeout SECONDS   Graceful shutdown timeout (default: 30)\n"
		"      --save              Save the running state instead of shutting down\n",
	.run = run,
};
