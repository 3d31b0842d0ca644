/* SPDX-License-Identifier: MIT */
/* vmctl resume. */
#include "cli.h"

static int do_resume(struct vmm_ctx *ctx, const char *name, struct vmm_error *err)
{
	return vmm_vm_resume(ctx, name, NULL, err);
}

static int run(const struct cli_command *cmd, int argc, char **argv)
{
	return cli_run_vm_command(cmd, argc, argv, do_resume, "Resumed VM '%s'");
}

const struct cli_command cmd_resume = {
	.name = "resume",
	.summary = "Resume a suspended VM",
	.usage = "  vmctl resume NAME",
	.help = "Continues a VM paused by `vmctl suspend` from exactly where it was.\n",
	.run = run,
};
