/* SPDX-License-Identifier: MIT */
/* vmctl up: bring the VMs of a VMFile up (create, start, provision). */
#include <stdlib.h>

#include "cli.h"
#include "vmfile_cli.h"
#include "vmm/flow.h"

/* up, and reload (reload = true): each VM destroyed first, then brought up. */
int cli_up_or_reload(const struct cli_command *cmd, int argc, char **argv, bool reload)
{
	struct cli_vmfile_cmd vc = {0};
	struct vmm_flow_events ev;
	struct cli_progress progress;
	struct vmm_up_opts opts;
	struct vmm_error err;
	bool no_provision = false;
	const struct cli_vmfile_flag flags[] = {{"no-provision", &no_provision}, {0}};
	int rc = CLI_EXIT_ERROR;

	vmm_up_opts_init(&opts);
	if ((rc = cli_vmfile_cmd_parse(cmd, argc, argv, &vc, flags)) != 0)
		return rc;
	rc = CLI_EXIT_ERROR;
	opts.provision = !no_provision;
	if (cli_backend_from_env(&opts.backend) < 0)
		return CLI_EXIT_ERROR;
	/* The VMFile is checked before anything is destroyed. */
	if (cli_vmfile_cmd_open(&vc) < 0)
		goto out;
	cli_flow_events_init(&ev, &progress);
	for (size_t i = 0; i < vc.n; i++) {
		const char *name = vc.targets[i]->name;
		enum vmm_up_result res;
		uint64_t t0 = cli_now_ms();
		int r;

		if (reload)
			r = vmm_flow_reload(vc.ctx, vc.vf, vc.targets[i], &opts, &ev, &res, &err);
		else
			r = vmm_flow_up(vc.ctx, vc.vf, vc.targets[i], &opts, &ev, &res, &err);
		if (r < 0) {
			cli_progress_finish(&progress);
			cli_error(&err);
			goto out;
		}
		if (res == VMM_UP_SKIPPED)
			printf("[%s] already running: skipped\n", name);
		else
			printf("[%s] %s in %.2fs (%s)\n", name, reload ? "reloaded" : "up",
			       (double)(cli_now_ms() - t0) / 1000.0,
			       res == VMM_UP_CREATED    ? "created"
			       : res == VMM_UP_RESTORED ? "restored"
							: "restarted");
	}
	rc = CLI_EXIT_OK;
out:
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
	.usage = "  vmctl up [--file PATH] [--name NAME] [--no-provision]",
	.help = "For each VM of the VMFile, in order: a VM that does not exist is created,\n"
		"started and provisioned; a stopped one is started and provisioned again; a\n"
		"saved one (`vmctl down --save`) continues from its saved state, without\n"
		"provisioning; a running one is skipped. Each phase is printed with its\n"
		"duration. Images named by image-url come from the image cache (downloaded\n"
		"once).\n"
		"\n"
		"Options:\n"
		CLI_VMFILE_OPTIONS_HELP
		"      --no-provision      Do not run the provisioners\n",
	.run = run,
};
