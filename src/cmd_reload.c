/* SPDX-License-Identifier: MIT */
/* vmctl reload: destroy and recreate the VMs of a VMFile. */
#include "cli.h"
#include "vmfile_cli.h"

static int run(const struct cli_command *cmd, int argc, char **argv)
{
	return cli_up_or_reload(cmd, argc, argv, true);
}

const struct cli_command cmd_reload = {
	.name = "reload",
	.summary = "Destroy and recreate the VMs of a VMFile.kdl",
	.usage = "  vmctl reload [--file PATH] [--name NAME] [-j N] [--fail-fast] [--no-deps]\n"
		 "               [--no-provision]",
	.help = "For each VM of the VMFile: destroys it (if it exists), then creates,\n"
		"starts and provisions a fresh one from the current definition. The VMFile\n"
		"is validated before anything is destroyed. The VMs are reloaded at the\n"
		"same time and in dependency order, as `vmctl up` brings them up.\n"
		"\n"
		"Options:\n"
		CLI_VMFILE_OPTIONS_HELP
		CLI_VMFILE_NO_DEPS_HELP
		"      --no-provision      Do not run the provisioners\n",
	.run = run,
};
