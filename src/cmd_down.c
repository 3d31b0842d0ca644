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
		[VMM_DOWN_SAVED] = "saved: `vmctl up` continues it",
	};
	struct cli_vmfile_cmd vc = {0};
	struct vmm_error err;
	bool destroy = false, save = false;
	const struct cli_vmfile_flag flags[] = {{"destroy", &destroy}, {"save", &save}, {0}};
	int rc;

	if ((rc = cli_vmfile_cmd_parse(cmd, argc, argv, &vc, flags)) != 0)
		return rc;
	if (destroy && save) {
		rc = cli_usage_error(cmd, "--destroy and --save cannot be combined");
		goto out;
	}
	rc = CLI_EXIT_ERROR;
	if (cli_vmfile_cmd_open(&vc) < 0)
		goto out;
	for (size_t i = 0; i < vc.n; i++) {
		enum vmm_down_result res;

		if (vmm_flow_down_ex(vc.ctx, vc.targets[i]->name,
				     destroy ? VMM_DOWN_DESTROY : save ? VMM_DOWN_SAVE : VMM_DOWN_STOP,
				     &res, &err) < 0) {
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
	.summary = "Stop (or save, or destroy) the VMs of a VMFile.kdl",
	.usage = "  vmctl down [--file PATH] [--name NAME] [--save | --destroy]",
	.help = "Stops each VM of the VMFile gracefully (ACPI power-down; forced after 30\n"
		"seconds). `vmctl up` or `vmctl start` starts them again. With --destroy the\n"
		"VMs are destroyed instead: every file removed, unregistered. That cannot be\n"
		"undone. With --save their running state is saved instead of shutting them\n"
		"down (see `vmctl stop --save`): the next `vmctl up` continues them where\n"
		"they were, without provisioning them again.\n"
		"\n"
		"Options:\n"
		CLI_VMFILE_OPTIONS_HELP
		"      --save              Save the VMs' running state instead of stopping them\n"
		"      --destroy           Destroy the VMs instead of stopping them\n",
	.run = run,
};
