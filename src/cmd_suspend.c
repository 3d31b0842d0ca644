/* SPDX-License-Identifier: MIT */
/* vmctl suspend. */
#include "cli.h"

static int run(const struct cli_command *cmd, int argc, char **argv)
{
	return cli_run_vm_command(cmd, argc, argv, vmm_vm_suspend, "Suspended VM '%s'", false);
}

const struct cli_command cmd_suspend = {
	.name = "suspend",
	.summary = "Suspend (pause) a running VM",
	.usage = "  vmctl suspend NAME",
	.help = "Pauses the VM's vCPUs; it stays in memory. `vmctl resume` continues it.\n",
	.run = run,
};
