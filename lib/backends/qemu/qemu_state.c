/* SPDX-License-Identifier: MIT */
/*
 * QEMU backend: the live state of a VM (process, pidfile, QMP status).
 *
 * Apart from the rest of the backend so that reading states (vmctl list,
 * status) links no more than QMP: the rest needs libssh, libisofs and
 * libcrypto, whose loading would cost more than the listing itself.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "backends/qemu/qmp.h"
#include "core/util.h"
#include "backends/qemu/qemu.h"
#include "vmm/log.h"

#define MOD "qemu"

char *vmmi_qemu_wd_file(const struct vmm_vm *vm, const char *name)
{
	return vmmi_path_join(vm->work_dir, name);
}

/* Whether /proc/PID/cmdline mentions needle (our QMP socket path). */
static bool cmdline_has(pid_t pid, const char *needle)
{
	char path[64];
	char *data = NULL;
	size_t len;
	bool found = false;

	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
	if (vmmi_read_file(path, &data, &len, NULL) < 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (data[i] == '\0')
			data[i] = ' ';
	found = needle && strstr(data, needle) != NULL;
	free(data);
	return found;
}

/* Whether this pid is our QEMU: alive, and the same process we started
 * (its start time matches), so a recycled pid is not taken for the VM. */
bool vmmi_qemu_is_our_process(const struct vmm_vm *vm, pid_t pid, unsigned long long starttime)
{
	if (pid <= 0 || !vmmi_pid_alive(pid))
		return false;
	if (starttime)
		return vmmi_pid_starttime(pid) == starttime;
	return cmdline_has(pid, vm->qmp_socket);
}

bool vmmi_qemu_alive(const struct vmm_vm *vm)
{
	return vmmi_qemu_is_our_process(vm, vm->pid, vm->pid_starttime);
}

int vmmi_qemu_read_pidfile(const struct vmm_vm *vm, pid_t *pid)
{
	char *path = vmmi_qemu_wd_file(vm, VMMI_QEMU_PIDFILE), *data = NULL;
	size_t len;
	long v;
	int rc = -1;

	*pid = 0;
	if (path && vmmi_read_file(path, &data, &len, NULL) == 0) {
		char *end;

		errno = 0;
		v = strtol(data, &end, 10);
		if (errno == 0 && end != data && v > 0 && v < (1L << 30)) {
			*pid = (pid_t)v;
			rc = 0;
		}
	}
	free(data);
	free(path);
	return rc;
}

/* A guest stopped by the host's KVM long after start shows up here: say
 * why, since the state alone ("failed") does not. */
static void warn_kvm_failure(const struct vmm_vm *vm)
{
	char *log = vmmi_qemu_wd_file(vm, VMMI_QEMU_LOG), *text = NULL;
	size_t len;

	if (log && vmmi_read_file(log, &text, &len, NULL) == 0 &&
	    vmmi_qemu_classify_failure(text) == VMM_E_QEMU_KVM)
		vmm_warn(MOD, "VM '%s' was stopped by a KVM internal error (emulation failure; "
			      "see %s): this host's KVM cannot run the guest; destroy it and "
			      "recreate it with software emulation: VMCTL_ACCEL=tcg",
			 vm->name, log);
	free(text);
	free(log);
}

int vmmi_qemu_state(struct vmm_ctx *ctx, const struct vmm_vm *vm, enum vmm_vm_state *out,
		      struct vmm_error *err)
{
	struct vmmi_qmp *q = NULL;
	struct vmm_error qerr;
	char *status = NULL;
	bool running, alive;
	pid_t pid;

	(void)ctx;
	(void)err;
	*out = vm->state;
	alive = vmmi_qemu_alive(vm);
	/* No process recorded (e.g. start was interrupted before it was
	 * recorded): believe the pidfile only if that process is QEMU
	 * running with this VM's QMP socket. */
	if (!alive && vm->pid == 0 && vm->work_dir && vmmi_qemu_read_pidfile(vm, &pid) == 0)
		alive = vmmi_qemu_is_our_process(vm, pid, 0);
	if (!alive) {
		if (vm->state == VMM_STATE_RUNNING || vm->state == VMM_STATE_SUSPENDED)
			*out = VMM_STATE_STOPPED;
		return 0;
	}
	vmm_error_clear(&qerr);
	if (vmmi_qmp_connect(vm->qmp_socket, 3000, &q, &qerr) < 0 ||
	    vmmi_qmp_query_status(q, &status, &running, &qerr) < 0) {
		vmm_debug(MOD, "VM '%s': process alive but QMP unanswered: %s", vm->name,
			  qerr.message);
		if (vm->state != VMM_STATE_SUSPENDED)
			*out = VMM_STATE_RUNNING;
		goto out;
	}
	if (running)
		*out = VMM_STATE_RUNNING;
	else if (strcmp(status, "internal-error") == 0 || strcmp(status, "guest-panicked") == 0 ||
		 strcmp(status, "io-error") == 0) {
		*out = VMM_STATE_FAILED;
		warn_kvm_failure(vm);
	}
	else if (strcmp(status, "shutdown") == 0)
		*out = VMM_STATE_STOPPED;
	else
		*out = VMM_STATE_SUSPENDED;
out:
	free(status);
	vmmi_qmp_close(q);
	return 0;
}
