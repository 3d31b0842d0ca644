/* SPDX-License-Identifier: MIT */
/* vmctl down: stop (or destroy) the VMs of a VMFile. */
#include <stdlib.h>

#include "cli.h"
#include "runner.h"
#include "vmfile_cli.h"
#include "vmm/flow.h"

static int run(const struct cli_command *cmd, int argc, char **argv)
{
	struct cli_vmfile_cmd vc = {0};
	struct cli_run run = {CLI_RUN_DOWN, &vc};
	bool destroy = false, save = false;
	const struct cli_vmfile_flag flags[] = {{"destroy", &destroy}, {"save", &save}, {0}};
	int rc;

	if ((rc = cli_vmfile_cmd_parse(cmd, argc, argv, &vc, flags)) != 0)
		return rc;
	if (destroy && save)
		return cli_usage_error(cmd, "--destroy and --save cannot be combined");
	run.down = destroy ? VMM_DOWN_DESTROY : save ? VMM_DOWN_SAVE : VMM_DOWN_STOP;
	rc = CLI_EXIT_ERROR;
	if (cli_vmfile_cmd_open(&vc) == 0)
		rc = cli_run_vms(&run);
	cli_vmfile_cmd_close(&vc);
	return rc;
}

const struct cli_command cmd_down = {
	.name = "down",
	.summary = "Stop (or save, or destroy) the VMs of a VMFile.kdl",
	.usage = "  vmctl down [--file PATH] [--name NAME] [-j N] [--fail-fast] [--save | --destroy]",
	.help = "Stops each VM of the VMFile gracefully (ACPI power-down; forced after 30\n"
		"seconds). `vmctl up` or `vmctl start` starts them again. With --destroy the\n"
		"VMs are destroyed instead: every file removed, unregistered. That cannot be\n"
		"undone. With --save their running state is saved instead of shutting them\n"
		"down (see `vmctl stop --save`): the next `vmctl up` continues them where\n"
		"they were, without provisioning them again. The VMs go down at the same\n"
		"time, in the reverse of the dependency order: a VM stops only after the\n"
		"VMs that depend on it. --name NAME acts on NAME alone.\n"
		"\n"
		"Options:\n"
		CLI_VMFILE_OPTIONS_HELP
		"      --save              Save the VMs' running state instead of stopping them\n"
		"      --destroy           Destroy the VMs instead of stopping them\n",
	.run = run,
};
