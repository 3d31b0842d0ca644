/* SPDX-License-Identifier: MIT */
/* vmctl down: stop (or destroy) the VMs of a VMFile. */
#include <stdlib.h>

#include "cli.h"
#include "vmfile_cli.h"
#include "vmm/flow.h"

static int run(const struct cli_command *cmd, int argc, char **argv)
{
	static const char *const said[] = {
		[VMM_DOWN_STOPPED] = "stopped",
		[VMM_DOWN_DESTROYED] = "destroyed",
		[VMM_DOWN_ALREADY_STOPPED] = "not running: nothing to do",
		[VMM_DOWN_ABSENT] = "does not exist: nothing to do",
	};
	struct cli_vmfile_cmd vc = {0};
	struct vmm_error err;
	bool destroy = false;
	const struct cli_vmfile_flag flags[] = {{"destroy", &destroy}, {0}};
	int rc;

	if ((rc = cli_vmfile_cmd_parse(cmd, argc, argv, &vc, flags)) != 0)
		return rc;
	rc = CLI_EXIT_ERROR;
	if (cli_vmfile_cmd_open(&vc) < 0)
		goto out;
	for (size_t i = 0; i < vc.n; i++) {
		enum vmm_down_result res;

		if (vmm_flow_down(vc.ctx, vc.targets[i]->name, destroy, &res, &err) < 0) {
			cli_error(&err);
			goto out;
		}
		printf("[%s] %s\n", vc.targets[i]->name, said[res]);
	}
	rc = CLI_EXIT_OK;
out:
	cli_vmfile_cmd_close(&vc);
	return rc;
}

const struct cli_command cmd_down = {
	.name = "down",
	.summary = "Stop (or destroy) the VMs of a VMFile.kdl",
	.usage = "  vmctl down [--file PATH] [--name NAME] [--destroy]",
	.help = "Stops each VM of the VMFile gracefully (ACPI power-down; forced after 30\n"
		"seconds). `vmctl up` or `vmctl start` starts them again. With --destroy the\n"
		"VMs are destroyed instead: every file removed, unregistered. That cannot be\n"
		"undone.\n"
		"\n"
		"Options:\n"
		CLI_VMFILE_OPTIONS_HELP
		"      --destroy           Destroy the VMs instead of stopping them\n",
	.run = run,
};
