/* SPDX-License-Identifier: MIT */
/*
 * Running a declarative command (up, reload, provision, down) over the VMs
 * of a VMFile: a worker thread per VM, at most -j at once, each after the
 * VMs it depends on (down: before them); every output line whole and
 * prefixed with its VM; a summary at the end; Ctrl-C and --fail-fast stop
 * the VMs at their next step.
 */
#ifndef VMCTL_RUNNER_H
#define VMCTL_RUNNER_H

#include "vmfile_cli.h"
#include "vmm/flow.h"

enum cli_run_kind {
	CLI_RUN_UP = 0,
	CLI_RUN_RELOAD,
	CLI_RUN_PROVISION,
	CLI_RUN_DOWN,
};

struct cli_run {
	enum cli_run_kind kind;
	struct cli_vmfile_cmd *vc; /* opened: the VMFile, the targets in order */
	struct vmm_up_opts up;     /* up, reload */
	enum vmm_down_how down;    /* down */
};

/*
 * Run the command on every target of run->vc. One target: the output is
 * the one-VM output (phases prefixed, provisioner output as it is, errors
 * as `error[...]`), no summary. Several: each line prefixed with its VM,
 * then a summary. Returns the exit code: 0 if every VM succeeded, 1 if
 * one failed, was skipped or was not started, 130 after Ctrl-C.
 */
int cli_run_vms(const struct cli_run *run);

#endif
