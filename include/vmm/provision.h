/* SPDX-License-Identifier: MIT */
/*
 * vmm/provision.h - provisioners: run a VM's provision steps in order over an
 * SSH session.
 *
 *   shell inline   run the command
 *   shell script   upload the local script to /tmp/vmctl-provision-<step>.sh
 *                  (mode 0755), run it
 *   file           upload the local file to an absolute guest path (SFTP)
 *
 * Output is delivered live to the caller's callbacks with the step number
 * (the library never prints) and appended, with timestamps, to provision.log.
 * The first failing step stops the run.
 */
#ifndef VMM_PROVISION_H
#define VMM_PROVISION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/error.h"
#include "vmm/ssh.h"

#ifdef __cplusplus
extern "C" {
#endif

enum vmm_provision_step_kind {
	VMM_PROVISION_STEP_INLINE,
	VMM_PROVISION_STEP_SCRIPT,
	VMM_PROVISION_STEP_FILE,
};

/* One step, with paths already resolved (absolute). Strings are borrowed. */
struct vmm_provision_step {
	enum vmm_provision_step_kind kind;
	const char *inline_cmd;   /* SHELL_INLINE: the command */
	const char *script;       /* SHELL_SCRIPT: local script path */
	const char *remote_script; /* SHELL_SCRIPT: where to put it on the guest;
				    * NULL: /tmp/vmctl-provision-<step>.sh */
	const char *source;       /* FILE: local file path */
	const char *destination;  /* FILE: absolute path on the guest */
};

/* "shell inline", "shell script" or "file". */
const char *vmm_provision_step_kind_name(enum vmm_provision_step_kind kind);

/* Callbacks; every member may be NULL. Steps are numbered from 1. */
struct vmm_provision_callbacks {
	/* Before step `step` of `total` runs. */
	void (*step_begin)(void *userdata, unsigned step, unsigned total,
			   const struct vmm_provision_step *s);
	/* Output of a shell step, as it arrives, stdout and stderr apart. */
	void (*output)(void *userdata, unsigned step, enum vmm_ssh_stream stream,
		       const char *data, size_t len);
	/* After a step: exit_status is the command's (0 for a file step that
	 * worked, -1 if the step could not run at all). */
	void (*step_end)(void *userdata, unsigned step, const struct vmm_provision_step *s,
			 int exit_status, uint64_t duration_ms);
	void *userdata;
	/* Asked before each step; true stops the run there (VMM_E_PROVISION,
	 * "interrupted before step N/M"). Called with cancel_userdata. */
	bool (*cancelled)(void *cancel_userdata);
	void *cancel_userdata;
};

/*
 * Run steps[0..n) in order over the connected session. log_path (may be NULL)
 * is the VM's provision.log: each step's header, every output line (prefixed
 * with a UTC timestamp, the step number and the stream) and the result are
 * appended to it. The first failure stops the run with VMM_E_PROVISION, its
 * message naming the step number, its kind and the exit status (or the
 * upload error). Returns 0 when every step succeeded.
 */
int vmm_provision_run(struct vmm_ssh *s, const struct vmm_provision_step *steps, size_t n,
		      const char *log_path, const struct vmm_provision_callbacks *cb,
		      struct vmm_error *err);

#ifdef __cplusplus
}
#endif
#endif /* VMM_PROVISION_H */
