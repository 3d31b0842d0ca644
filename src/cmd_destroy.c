/* SPDX-License-Identifier: MIT */
/* vmctl destroy: stop the VM if it runs, remove its files and its entry. */
#include "cli.h"

static int do_destroy(struct vmm_ctx *ctx, const char *name, struct vmm_vm **out,
		      struct vmm_error *err)
{
	*out = NULL; /* nothing is left of it */
	return vmm_vm_destroy(ctx, name, err);
}

static int run(const struct cli_command *cmd, int argc, char **argv)
{
	return cli_run_vm_command(cmd, argc, argv, do_destroy, "Destroyed VM '%s'", false);
}

const struct cli_command cmd_destroy = {
	.name = "destroy",
	.summary = "Destroy a VM and remove all its files",
	.usage = "  vmctl destroy NAME",
	.help = "Kills the VM if it runs, removes its overlay, seed, keys, logs, sockets and\n"
		"work directory, and unregisters it. The base image stays in the cache.\n"
		"This cannot be undone.\n",
	.run = run,
};
