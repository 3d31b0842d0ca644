/* SPDX-License-Identifier: MIT */
/* vmctl provision: run the provisioners of a VMFile on running VMs again. */
#include <stdlib.h>

#include "cli.h"
#include "vmfile_cli.h"
#include "vmm/flow.h"

static int run(const struct cli_command *cmd, int argc, char **argv)
{
	struct cli_vmfile_cmd vc = {0};
	struct vmm_flow_events ev;
	struct cli_progress progress;
	struct vmm_error err;
	int rc;

	if ((rc = cli_vmfile_cmd_parse(cmd, argc, argv, &vc, NULL)) != 0)
		return rc;
	rc = CLI_EXIT_ERROR;
	if (cli_vmfile_cmd_open(&vc) < 0)
		goto out;
	cli_flow_events_init(&ev, &progress);
	for (size_t i = 0; i < vc.n; i++) {
		if (vc.targets[i]->n_provisions == 0) {
			printf("[%s] no provisioners\n", vc.targets[i]->name);
			continue;
		}
		if (vmm_flow_provision(vc.ctx, vc.vf, vc.targets[i], &ev, &err) < 0) {
			cli_error(&err);
			goto out;
		}
	}
	rc = CLI_EXIT_OK;
out:
	cli_vmfile_cmd_close(&vc);
	return rc;
}

const struct cli_command cmd_provision = {
	.name = "provision",
	.summary = "Run the provisioners of a VMFile.kdl again",
	.usage = "  vmctl provision [--file PATH] [--name NAME]",
	.help = "Runs every provision step of the VMFile on the running VMs, in order,\n"
		"streaming their output and appending it to provision.log. The VMs must be\n"
		"running and have an ssh block. The first failing step stops the run.\n"
		"\n"
		"Options:\n"
		CLI_VMFILE_OPTIONS_HELP,
	.run = run,
};
