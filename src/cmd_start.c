/* SPDX-License-Identifier: MIT */
/* vmctl start: boot a prepared or stopped VM. */
#include "cli.h"

static int run(const struct cli_command *cmd, int argc, char **argv)
{
	return cli_run_vm_command(cmd, argc, argv, vmm_vm_start, "Started VM '%s'", true);
}

const struct cli_command cmd_start = {
	.name = "start",
	.summary = "Start an existing VM",
	.usage = "  vmctl start NAME",
	.help = "Boots a VM that is prepared (just created), stopped or failed.\n",
	.run = run,
};
