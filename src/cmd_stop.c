/* SPDX-License-Identifier: MIT */
/* vmctl stop: ACPI power-down, then SIGTERM, then SIGKILL. */
#include "cli.h"

enum { OPT_TIMEOUT = 256 };

static const struct option longopts[] = {
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{0},
};

static int run(const struct cli_command *cmd, int argc, char **argv)
{
	struct vmm_ctx *ctx;
	struct vmm_error err;
	unsigned timeout = 30;
	const char *name;
	int c, rc = CLI_EXIT_OK;

	while ((c = cli_getopt(cmd, argc, argv, "t:", longopts)) != -1)
		if (c == OPT_TIMEOUT || c == 't')
			timeout = (unsigned)cli_parse_u64(cmd, "--timeout", optarg, 0, 86400);
	name = cli_one_operand(cmd, argc, argv, "VM name");
	if (!(ctx = cli_ctx_open()))
		return CLI_EXIT_ERROR;
	if (vmm_vm_stop(ctx, name, timeout, NULL, &err) < 0)
		rc = cli_error(&err);
	else
		printf("Stopped VM '%s'\n", name);
	vmm_ctx_free(ctx);
	return rc;
}

const struct cli_command cmd_stop = {
	.name = "stop",
	.summary = "Stop a running VM",
	.usage = "  vmctl stop [--timeout SECONDS] NAME",
	.help = "Sends an ACPI power-down to the guest. If it has not shut down within the\n"
		"timeout, the VM's process gets SIGTERM, then SIGKILL.\n"
		"\n"
		"Options:\n"
		"  -t, --timeout SECONDS   Graceful shutdown timeout (default: 30)\n",
	.run = run,
};
