/* SPDX-License-Identifier: MIT */
/* Loading a VMFile for a command, and the events printer of the flow. */
#ifndef VMCTL_VMFILE_CLI_H
#define VMCTL_VMFILE_CLI_H

#include <stdbool.h>

#include "progress.h"
#include "vmm/flow.h"
#include "vmm/vmfile.h"

/*
 * Discover (file: --file or NULL for ./VMFile.kdl) and load the VMFile.
 * On failure prints the error or every diagnostic and returns NULL.
 * *path_out (may be NULL) receives the path used.
 */
struct vmm_vmfile *cli_vmfile_load(const char *file, char **path_out);

/*
 * The VMs a declarative command acts on: all of them in file order, or the
 * one named (--name). Prints the error and returns -1 for an unknown name.
 * *out is malloc'd (free it, not its elements).
 */
int cli_vmfile_targets(const struct vmm_vmfile *vf, const char *name,
		       const struct vmm_vmfile_vm ***out, size_t *n);

/*
 * What the declarative commands (up, down, reload, provision) share: the
 * VMFile (--file), the VMs they act on (--name), the library context.
 */
struct cli_vmfile_cmd {
	const char *file; /* --file, or NULL */
	const char *name; /* --name, or NULL for every VM */
	struct vmm_vmfile *vf;
	const struct vmm_vmfile_vm **targets;
	size_t n;
	struct vmm_ctx *ctx;
};

/* The --help lines of the options every declarative command has. */
#define CLI_VMFILE_OPTIONS_HELP                                                            \
	"  -f, --file PATH         The VMFile (default: ./VMFile.kdl)\n"                      \
	"      --name NAME         Only this VM of the VMFile\n"

/* A flag option of one declarative command ("no-provision", "destroy"). */
struct cli_vmfile_flag {
	const char *name;
	bool *set; /* set to true when given */
};

/* The options of a declarative command: -f/--file and --name, which every
 * one has, and its own flags (NULL-name terminated; may be NULL). Returns 0,
 * or the exit code of a usage error (printed). */
struct cli_command;
int cli_vmfile_cmd_parse(const struct cli_command *cmd, int argc, char **argv,
			 struct cli_vmfile_cmd *c, const struct cli_vmfile_flag *flags);

/* Load the VMFile, pick the targets, open the context. Prints the error
 * and returns -1 on failure (release with cli_vmfile_cmd_close anyway). */
int cli_vmfile_cmd_open(struct cli_vmfile_cmd *c);
void cli_vmfile_cmd_close(struct cli_vmfile_cmd *c);

/* `vmctl up` and `vmctl reload` (cmd_up.c): the same options and loop;
 * reload destroys each VM before bringing it up. */
struct cli_command;
int cli_up_or_reload(const struct cli_command *cmd, int argc, char **argv, bool reload);

/* Flow events that print each phase with its duration, provisioner output
 * as it arrives, and image download progress (drawn with *progress). */
void cli_flow_events_init(struct vmm_flow_events *ev, struct cli_progress *progress);

#endif
