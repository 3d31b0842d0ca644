/* SPDX-License-Identifier: MIT */
/* The command table: one line per subcommand, in the order `vmctl --help`
 * lists them. */
#include "cli.h"

extern const struct cli_command cmd_version;

const struct cli_command *const cli_commands[] = {
	&cmd_version,
	NULL,
};
