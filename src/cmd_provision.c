/* SPDX-License-Identifier: MIT */
/* vmctl provision: run the provisioners of a VMFile on running VMs again. */
#include <stdlib.h>

#include "cli.h"
#include "runner.h"
#include "vmfile_cli.h"
#include "vmm/flow.h"

static int run(const struct cli_command *cmd, int argc, char **argv)
{
	struct cli_vmfile_cmd vc = {0};
	struct cli_run run = {CLI_RUN_PROVISION, &vc};
	const struct cli_vmfile_flag flags[] = {{"no-deps", &vc.no_deps}, {0}};
	int rc;

	if ((rc = cli_vmfile_cmd_parse(cmd, argc, argv, &vc, flags)) != 0)
		return rc;
	rc = CLI_EXIT_ERROR;
	vc.with_deps = true;
	if (cli_vmfile_cmd_open(&vc) == 0)
		rc = cli_run_vms(&run);
	cli_vmfile_cmd_close(&vc);
	return rc;
}

const struct cli_command cmd_provision = {
	.name = "provision",
	.summary = "Run the provisioners of a VMFile.kdl again",
	.usage = "  vmctl provision [--file PATH] [--name NAME] [-j N] [--fail-fast] [--no-deps]",
	.help = "Runs every provision step of the VMFile on the running VMs, streaming\n"
		"their output and appending it to provision.log. The VMs must be running\n"
		"and have an ssh block. The first failing step stops that VM's run. The\n"
		"VMs are provisioned at the same time, each after the VMs it depends on\n"
		"(a VM whose dependency failed is skipped); --name NAME provisions what\n"
		"NAME depends on first.\n"
		"\n"
		"Options:\n"
		CLI_VMFILE_OPTIONS_HELP
		CLI_VMFILE_NO_DEPS_HELP,
	.run = run,
};
