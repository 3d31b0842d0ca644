/* SPDX-License-Identifier: MIT */
/* vmctl start: boot a prepared or stopped VM. */
#include "cli.h"

static int run(const struct cli_command *cmd, int argc, char **argv)
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
	if (vmm_vm_start(ctx, name, &vm, &err) < 0) {
		rc = cli_error(&err);
	} else {
		printf("Started VM '%s'", name);
		if (vm->ssh_host_port)
			printf(" (SSH on 127.0.0.1:%u)", vm->ssh_host_port);
		printf("\n");
	}
	vmm_vm_free(vm);
	vmm_ctx_free(ctx);
	return rc;
}

const struct cli_command cmd_start = {
	.name = "start",
	.summary = "Start an existing VM",
	.usage = "  vmctl start NAME",
	.help = "Boots a VM that is prepared (just created), stopped or failed.\n",
	.run = run,
};
