/* SPDX-License-Identifier: MIT */
/* vmctl up: bring the VMs of a VMFile up (create, start, provision). */
#include <stdlib.h>

#include "cli.h"
#include "runner.h"
#include "vmfile_cli.h"
#include "vmm/flow.h"

/* up, and reload (reload = true): each VM destroyed first, then brought up. */
int cli_up_or_reload(const struct cli_command *cmd, int argc, char **argv, bool reload)
{
	struct cli_vmfile_cmd vc = {0};
	struct cli_run run = {reload ? CLI_RUN_RELOAD : CLI_RUN_UP, &vc};
	bool no_provision = false;
	const struct cli_vmfile_flag flags[] = {
		{"no-provision", &no_provision}, {"no-deps", &vc.no_deps}, {0}};
	int rc;

	vmm_up_opts_init(&run.up);
	if ((rc = cli_vmfile_cmd_parse(cmd, argc, argv, &vc, flags)) != 0)
		return rc;
	rc = CLI_EXIT_ERROR;
	run.up.provision = !no_provision;
	vc.with_deps = true;
	if (cli_backend_from_env(&run.up.backend) < 0)
		return CLI_EXIT_ERROR;
	/* The VMFile is checked before anything is destroyed. */
	if (cli_vmfile_cmd_open(&vc) == 0)
		rc = cli_run_vms(&run);
	cli_vmfile_cmd_close(&vc);
	return rc;
}

static int run(const struct cli_command *cmd, int argc, char **argv)
{
	return cli_up_or_reload(cmd, argc, argv, false);
}

const struct cli_command cmd_up = {
	.name = "up",
	.summary = "Bring up the VMs of a VMFile.kdl",
	.usage = "  vmctl up [--file PATH] [--name NAME] [-j N] [--fail-fast] [--no-deps]\n"
		 "           [--no-provision]",
	.help = "For each VM of the VMFile: a VM that does not exist is created, started\n"
		"and provisioned; a stopped one is started and provisioned again; a saved\n"
		"one (`vmctl down --save`) continues from its saved state, without\n"
		"provisioning; a running one is skipped. Each phase is printed with its\n"
		"duration. Images named by image-url come from the image cache (downloaded\n"
		"once, also when several VMs share one).\n"
		"\n"
		"The VMs come up at the same time (-j limits how many), each only after the\n"
		"VMs it depends on (depends-on) are up and provisioned; --name NAME brings\n"
		"up what NAME depends on first. With several VMs every line is prefixed with\n"
		"its VM, and a summary ends the output. A failure does not stop the other\n"
		"VMs (only those depending on it are skipped); the exit status is 1 if any\n"
		"failed. Ctrl-C (or --fail-fast after a failure) starts no more VMs and stops\n"
		"the others at their next step: a download, create, boot or provision step\n"
		"under way finishes, and the VM stays as that step left it (`vmctl list`).\n"
		"After Ctrl-C the exit status is 130.\n"
		"\n"
		"Options:\n"
		CLI_VMFILE_OPTIONS_HELP
		CLI_VMFILE_NO_DEPS_HELP
		"      --no-provision      Do not run the provisioners\n",
	.run = run,
};
