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
	unsigned jobs;    /* -j/--parallel: VMs worked on at once (0: all) */
	bool fail_fast;   /* --fail-fast */
	bool no_deps;     /* --no-deps (for the commands that have it) */
	bool with_deps;   /* set by the command: --name brings its dependencies */
	struct vmm_vmfile *vf;
	const struct vmm_vmfile_vm **targets; /* each after what it depends on */
	size_t n;
	struct vmm_ctx *ctx;
};

/* The --help lines of the options every declarative command has. */
#define CLI_VMFILE_OPTIONS_HELP                                                            \
	"  -f, --file PATH         The VMFile (default: ./VMFile.kdl)\n"                      \
	"      --name NAME         Only this VM of the VMFile\n"                              \
	"  -j, --parallel N        Work on N VMs at once (default: all of them; 1: one\n"       \
	"                          after another, in file order)\n"                          \
	"      --fail-fast         After a VM fails, start no other and stop the running\n"   \
	"                          ones at their next step\n"

/* A flag option of one declarative command ("no-provision", "destroy"). */
struct cli_vmfile_flag {
	const char *name;
	bool *set; /* set to true when given */
};

/* The --help line of --no-deps (up, reload, provision). */
#define CLI_VMFILE_NO_DEPS_HELP                                                            \
	"      --no-deps           With --name, leave out the VMs it depends on\n"

/* The options of a declarative command: -f/--file, --name, -j/--parallel
 * and --fail-fast, which every one has, and its own flags (NULL-name terminated; may be NULL). Returns 0,
 * or the exit code of a usage error (printed). */
struct cli_command;
int cli_vmfile_cmd_parse(const struct cli_command *cmd, int argc, char **argv,
			 struct cli_vmfile_cmd *c, const struct cli_vmfile_flag *flags);

/* Load the VMFile, pick the targets (in dependency order; with_deps: with
 * what --name depends on, unless no_deps), open the context. Prints the
 * error and returns -1 on failure (release with cli_vmfile_cmd_close
 * anyway). */
int cli_vmfile_cmd_open(struct cli_vmfile_cmd *c);
void cli_vmfile_cmd_close(struct cli_vmfile_cmd *c);

/* `vmctl up` and `vmctl reload` (cmd_up.c): the same options and loop;
 * reload destroys each VM before bringing it up. */
struct cli_command;
int cli_up_or_reload(const struct cli_command *cmd, int argc, char **argv, bool reload);


#endif
