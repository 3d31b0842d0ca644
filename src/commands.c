/* SPDX-License-Identifier: MIT */
/* The command table of vmctl-full: one line per subcommand, in the order
 * `vmctl --help` lists them. Commands that only read the registry are also
 * in commands_front.c, run by the `vmctl` front itself (see main.c). */
#include "cli.h"

extern const struct cli_command cmd_create;
extern const struct cli_command cmd_start;
extern const struct cli_command cmd_stop;
extern const struct cli_command cmd_suspend;
extern const struct cli_command cmd_resume;
extern const struct cli_command cmd_snapshot;
extern const struct cli_command cmd_destroy;
extern const struct cli_command cmd_list;
extern const struct cli_command cmd_status;
extern const struct cli_command cmd_port;
extern const struct cli_command cmd_log;
extern const struct cli_command cmd_image;
extern const struct cli_command cmd_console;
extern const struct cli_command cmd_validate;
extern const struct cli_command cmd_ssh;
extern const struct cli_command cmd_cp;
extern const struct cli_command cmd_up;
extern const struct cli_command cmd_down;
extern const struct cli_command cmd_reload;
extern const struct cli_command cmd_provision;
extern const struct cli_command cmd_version;

const struct cli_command *const cli_commands[] = {
	&cmd_create,
	&cmd_start,
	&cmd_stop,
	&cmd_destroy,
	&cmd_list,
	&cmd_status,
	&cmd_port,
	&cmd_suspend,
	&cmd_resume,
	&cmd_snapshot,
	&cmd_log,
	&cmd_image,
	&cmd_console,
	&cmd_ssh,
	&cmd_cp,
	&cmd_up,
	&cmd_down,
	&cmd_reload,
	&cmd_provision,
	&cmd_validate,
	&cmd_version,
	NULL,
};
