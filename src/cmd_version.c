/* SPDX-License-Identifier: MIT */
#include "cli.h"
#include "vmm_config.h"

static int run(const struct cli_command *cmd, int argc, char **argv)
{
	int c;

	while ((c = cli_getopt(cmd, argc, argv, "", NULL)) != -1)
		;
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	printf("vmctl %s\n", VMM_VERSION);
	return CLI_EXIT_OK;
}

const struct cli_command cmd_version = {
	.name = "version",
	.summary = "Show the version of vmctl",
	.usage = "  vmctl version",
	.help = "",
	.run = run,
};
