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

/*
 * Whether the process's executable is a QEMU system emulator: the name of
 * /proc/PID/exe starts with "qemu-system-". Deliberately not a comparison
 * with the binary vmctl would run now ($VMCTL_QEMU, else PATH's
 * qemu-system-x86_64): $VMCTL_QEMU may be a wrapper script that execs
 * QEMU (the process's exe is then QEMU, not the script), the environment
 * of `vmctl stop` need not be the one of `vmctl start` (another shell, a
 * service), and a package upgrade replaces the file under a running QEMU
 * (its exe then reads ".../qemu-system-x86_64 (deleted)": neither the path
 * nor the inode of the new file match, the name still does). The name
 * alone rules out init, shells, sleep and interpreters whatever argv they
 * were given; with the exact arguments and the start time what is left is
 * a QEMU that holds this VM's pidfile and QMP socket, which is the VM. A
 * process of the same user could copy some program to a qemu-system-*
 * name, but such a process can signal the VM's QEMU itself: it gains
 * nothing; another user's process cannot pass for a vmctl run by a user
 * (its exe is unreadable).
 */
static bool exe_is_qemu(pid_t pid)
{
	char *exe = vmmi_pid_exe(pid);
	const char *base;
	bool ok;

	if (!exe)
		return false;
	base = strrchr(exe, '/');
	base = base ? base + 1 : exe;
	ok = strncmp(base, "qemu-system-", strlen("qemu-system-")) == 0;
	free(exe);
	return ok;
}

/*
 * Whether a -qmp value is "unix:<path>" or "unix:<path>,<options>" for
 * exactly this path, with QEMU's escaping (a comma in the path is
 * doubled; see qemu_args.c).
 */
static bool qmp_value_is(const char *val, const char *sock)
{
	const char *p;

	if (strncmp(val, "unix:", 5) != 0)
		return false;
	for (p = val + 5; *p; p++, sock++) {
		if (*p == ',') {
			if (p[1] != ',')
				break; /* the end of the path: options follow */
			p++;
		}
		if (*p != *sock)
			return false;
	}
	return *sock == '\0';
}

/* Whether argv (after argv[0]) has "-pidfile PIDFILE" and "-qmp unix:SOCK..."
 * as whole elements. */
static bool argv_is_ours(char **argv, const char *pidfile, const char *sock)
{
	bool has_pidfile = false, has_qmp = false;

	for (size_t i = 1; argv[i] && argv[i + 1]; i++) {
		if (strcmp(argv[i], "-pidfile") == 0 && strcmp(argv[i + 1], pidfile) == 0)
			has_pidfile = true;
		else if (strcmp(argv[i], "-qmp") == 0 && qmp_value_is(argv[i + 1], sock))
			has_qmp = true;
	}
	return has_pidfile && has_qmp;
}

/*
 * Whether this pid is the VM's QEMU. A process is ours only if we can
 * prove it: pid > 1; alive; its executable is QEMU (exe_is_qemu); its
 * argv holds this VM's exact -pidfile and -qmp arguments; its start time
 * is the recorded one when there is one. Empty paths never match. What is
 * read comes from one process: its start time is the same before and
 * after, so a pid recycled meanwhile is not taken for the VM.
 */
bool vmmi_qemu_is_our_process(const struct vmm_vm *vm, pid_t pid, unsigned long long starttime)
{
	unsigned long long t0;
	char *pidfile;
	char **argv;
	bool ours;

	if (pid <= 1 || !vm->work_dir || !*vm->work_dir || !vm->qmp_socket || !*vm->qmp_socket ||
	    !vmmi_pid_alive(pid))
		return false;
	t0 = vmmi_pid_starttime(pid);
	if (t0 == 0 || (starttime && t0 != starttime) || !exe_is_qemu(pid))
		return false;
	pidfile = vmmi_qemu_wd_file(vm, VMMI_QEMU_PIDFILE);
	argv = vmmi_pid_argv(pid);
	ours = pidfile && argv && argv_is_ours(argv, pidfile, vm->qmp_socket) &&
	       vmmi_pid_starttime(pid) == t0;
	free(argv);
	free(pidfile);
	return ours;
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
	if (path && vm->work_dir[0] && vmmi_read_file(path, &data, &len, NULL) == 0) {
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
	 * recorded): believe the pidfile only if that process is this VM's
	 * QEMU (vmmi_qemu_is_our_process). */
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
