/* SPDX-License-Identifier: MIT */
/* vmctl up: bring the VMs of a VMFile up (create, start, provision). */
#include <stdlib.h>

#include "cli.h"
#include "vmfile_cli.h"
#include "vmm/flow.h"

enum { OPT_FILE = 256, OPT_NAME, OPT_NO_PROVISION };

static const struct option longopts[] = {
	{"file", required_argument, NULL, OPT_FILE},
	{"name", required_argument, NULL, OPT_NAME},
	{"no-provision", no_argument, NULL, OPT_NO_PROVISION},
	{0},
};

/* up, and reload (reload = true): each VM destroyed first, then brought up. */
int cli_up_or_reload(const struct cli_command *cmd, int argc, char **argv, bool reload)
{
	struct cli_vmfile_cmd vc = {0};
	struct vmm_flow_events ev;
	struct cli_progress progress;
	struct vmm_up_opts opts;
	struct vmm_error err;
	int c, rc = CLI_EXIT_ERROR;

	vmm_up_opts_init(&opts);
	while ((c = cli_getopt(cmd, argc, argv, "f:", longopts)) != -1) {
		if (c == OPT_FILE || c == 'f')
			vc.file = optarg;
		else if (c == OPT_NAME)
			vc.name = optarg;
		else if (c == OPT_NO_PROVISION)
			opts.provision = false;
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (cli_backend_from_env(&opts.backend) < 0)
		return CLI_EXIT_ERROR;
	/* The VMFile is checked before anything is destroyed. */
	if (cli_vmfile_cmd_open(&vc) < 0)
		goto out;
	cli_flow_events_init(&ev, &progress);
	for (size_t i = 0; i < vc.n; i++) {
		const char *name = vc.targets[i]->name;
		enum vmm_down_result down;
		enum vmm_up_result res;
		uint64_t t0 = cli_now_ms();

		if (reload) {
			if (vmm_flow_down(vc.ctx, name, true, &down, &err) < 0) {
				cli_error(&err);
				goto out;
			}
			if (down == VMM_DOWN_DESTROYED)
				printf("[%s] destroyed\n", name);
		}
		if (vmm_flow_up(vc.ctx, vc.vf, vc.targets[i], &opts, &ev, &res, &err) < 0) {
			cli_progress_finish(&progress);
			cli_error(&err);
			goto out;
		}
		if (res == VMM_UP_SKIPPED)
			printf("[%s] already running: skipped\n", name);
		else
			printf("[%s] %s in %.2fs (%s)\n", name, reload ? "reloaded" : "up",
			       (double)(cli_now_ms() - t0) / 1000.0,
			       res == VMM_UP_CREATED ? "created" : "restarted");
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
		"running one is skipped. Each phase is printed with its duration. Images\n"
		"named by image-url come from the image cache (downloaded once).\n"
		"\n"
		"Options:\n"
		"  -f, --file PATH         The VMFile (default: ./VMFile.kdl)\n"
		"      --name NAME         Only this VM of the VMFile\n"
		"      --no-provision      Do not run the provisioners\n",
	.run = run,
};
