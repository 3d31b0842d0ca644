/* SPDX-License-Identifier: MIT */
/* vmctl start: boot a prepared or stopped VM, or continue a saved one. */
#include "cli.h"
#include "vmm/flow.h"

enum { OPT_COLD = 256 };

static const struct option longopts[] = {
	{"cold", no_argument, NULL, OPT_COLD},
	{0},
};

static int run(const struct cli_command *cmd, int argc, char **argv)
{
	struct vmm_start_opts opts = {0};
	enum vmm_start_result how;
	struct vmm_ctx *ctx;
	struct vmm_vm *vm = NULL;
	struct vmm_error err;
	const char *name;
	int c, rc = CLI_EXIT_OK;

	while ((c = cli_getopt(cmd, argc, argv, "", longopts)) != -1)
		if (c == OPT_COLD)
			opts.cold = true;
	name = cli_one_operand(cmd, argc, argv, "VM name");
	if (!(ctx = cli_ctx_open()))
		return CLI_EXIT_ERROR;
	if (vmm_flow_start(ctx, name, &opts, &vm, &how, &err) < 0) {
		rc = cli_error(&err);
	} else {
		printf("%s VM '%s'", how == VMM_START_RESTORED ? "Restored" : "Started", name);
		if (vm && vm->ssh_host_port)
			printf(" (SSH on 127.0.0.1:%u)", vm->ssh_host_port);
		putchar('\n');
	}
	vmm_vm_free(vm);
	vmm_ctx_free(ctx);
	return rc;
}

const struct cli_command cmd_start = {
	.name = "start",
	.summary = "Start an existing VM",
	.usage = "  vmctl start [--cold] NAME",
	.help = "Boots a VM that is prepared (just created), stopped or failed. A VM saved\n"
		"with `vmctl stop --save` continues from its saved state instead; if that\n"
		"state no longer fits the VM (QEMU changed, vCPUs, memory or devices changed,\n"
		"the file is missing or truncated), the VM boots with a warning saying why.\n"
		"A restored VM's clock is stepped to the host's over SSH.\n"
		"\n"
		"Options:\n"
		"      --cold              Discard a saved state and boot\n",
	.run = run,
};
