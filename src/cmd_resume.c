/* SPDX-License-Identifier: MIT */
/* vmctl resume. */
#include "cli.h"

static int run(const struct cli_command *cmd, int argc, char **argv)
{
	return cli_run_vm_command(cmd, argc, argv, vmm_vm_resume, "Resumed VM '%s'", false);
}

const struct cli_command cmd_resume = {
	.name = "resume",
	.summary = "Resume a suspended VM",
	.usage = "  vmctl resume NAME",
	.help = "Continues a VM paused by `vmctl suspend` from exactly where it was.\n",
	.run = run,
};
