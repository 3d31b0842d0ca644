/* SPDX-License-Identifier: MIT */
/* The command table of the `vmctl` front (see main.c): the commands that
 * only read the registry. Every other command is run by vmctl-full, which
 * has them all (commands.c). */
#include "cli.h"

extern const struct cli_command cmd_list;
extern const struct cli_command cmd_status;
extern const struct cli_command cmd_log;
extern const struct cli_command cmd_version;

const struct cli_command *const cli_commands[] = {
	&cmd_list,
	&cmd_status,
	&cmd_log,
	&cmd_version,
	NULL,
};
