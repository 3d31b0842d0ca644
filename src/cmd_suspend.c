/* SPDX-License-Identifier: MIT */
/* vmctl suspend. */
#include "cli.h"

static int do_suspend(struct vmm_ctx *ctx, const char *name, struct vmm_error *err)
{
	return vmm_vm_suspend(ctx, name, NULL, err);
}

static int run(const struct cli_command *cmd, int argc, char **argv)
{
	return cli_run_vm_command(cmd, argc, argv, do_suspend, "Suspended VM '%s'");
}

const struct cli_command cmd_suspend = {
	.name = "suspend",
	.summary = "Suspend (pause) a running VM",
	.usage = "  vmctl suspend NAME",
	.help = "Pauses the VM's vCPUs; it stays in memory. `vmctl resume` continues it.\n",
	.run = run,
};
