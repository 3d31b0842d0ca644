/* SPDX-License-Identifier: MIT */
/*
 * lib/backends/qemu.h - pieces of the QEMU backend shared with its tests
 * (private to libvmm).
 *
 * A QEMU VM's work directory holds (names fixed, see VMMI_QEMU_*):
 *   overlay.qcow2  seed.iso  qmp.sock  console.sock  console.log
 *   pidfile  qemu.log (QEMU's stderr after it daemonized)
 *   qemu-start.log (its stderr while starting)  ssh-port (reserved port)
 *   id_ed25519_generated[.pub] (the per-VM client key, unless one was given)
 *   ssh_host_ed25519_key.pub (the guest's host key, set by the seed)
 *   saved.state saved.json (a saved state and what it needs to fit;
 *   qemu_save.c)
 */
#ifndef VMMI_BACKENDS_QEMU_H
#define VMMI_BACKENDS_QEMU_H

#include <stdbool.h>
#include <sys/types.h>

#include "vmm/error.h"
#include "vmm/vm.h"

#define VMMI_QEMU_OVERLAY "overlay.qcow2"
#define VMMI_QEMU_SEED "seed.iso"
#define VMMI_QEMU_QMP_SOCK "qmp.sock"
#define VMMI_QEMU_CONSOLE_SOCK "console.sock"
#define VMMI_QEMU_CONSOLE_LOG "console.log"
#define VMMI_QEMU_PIDFILE "pidfile"
#define VMMI_QEMU_LOG "qemu.log"
#define VMMI_QEMU_START_LOG "qemu-start.log"
#define VMMI_QEMU_SAVED_STATE "saved.state"
#define VMMI_QEMU_SAVED_META "saved.json"

enum vmmi_accel {
	VMMI_ACCEL_TCG = 0,
	VMMI_ACCEL_KVM,
};

/* Whether /dev/kvm can be opened read-write and answers KVM_GET_API_VERSION. */
bool vmmi_kvm_usable(void);

/* Whether the host's KVM is the nested "kvm-pvm" module, on which QEMU
 * stops a normal guest with "KVM internal error ... emulation failure". */
bool vmmi_kvm_is_pvm(void);

/*
 * The accelerator to use: $VMCTL_ACCEL ("kvm" or "tcg") if set, else KVM
 * when vmmi_kvm_usable() and not kvm-pvm, else TCG with a one-line warning (logged once per
 * process). A bad $VMCTL_ACCEL is VMM_E_INVALID_CONFIG.
 */
int vmmi_qemu_accel(enum vmmi_accel *out, struct vmm_error *err);

/* The QEMU binary: $VMCTL_QEMU if set, else "qemu-system-x86_64". */
const char *vmmi_qemu_binary(void);

/* A stable locally administered MAC "52:54:00:xx:yy:zz" derived from key
 * (the VM id). buf must hold 18 bytes. */
void vmmi_qemu_mac_from_id(const char *key, char buf[18]);

/*
 * Build QEMU's argument vector for vm (pure but for network "tap", see below).
 * Uses vm->work_dir, name, vcpus, memory_mb, overlay_path, seed_iso_path
 * (NULL: no seed), qmp_socket, console_socket, network, ssh_host_port and
 * mac_addr. *argv is NULL-terminated; free it with vmmi_qemu_args_free.
 */
int vmmi_qemu_build_args(const struct vmm_vm *vm, const char *qemu_binary,
			 enum vmmi_accel accel, char ***argv, struct vmm_error *err);
/* The same with network "tap"'s plan given (vmmi_qemu_build_args takes
 * vmmi_tap_plan's: it looks at this process's capabilities): -netdev
 * tap,ifname=IF,script=no,downscript=no for a TAP device vmctl made, else
 * -netdev bridge,br=BR,helper=HELPER. tap may be NULL for other networks;
 * network "none" is -nic none. */
struct vmmi_tap_plan;
int vmmi_qemu_build_args_net(const struct vmm_vm *vm, const char *qemu_binary,
			     enum vmmi_accel accel, const struct vmmi_tap_plan *tap, char ***argv,
			     struct vmm_error *err);
void vmmi_qemu_args_free(char **argv);

/*
 * Classify QEMU's start-up failure output: VMM_E_QEMU_KVM for the KVM
 * "internal error ... emulation failure", VMM_E_PORT_ALLOC for a host
 * forwarding rule that could not be set up, else VMM_E_QEMU_SPAWN.
 */
enum vmm_errcode vmmi_qemu_classify_failure(const char *stderr_text);

/* Live state (qemu_state.c), apart from the rest of the backend so that
 * reading states needs neither libssh nor libisofs nor libcrypto. */
struct vmm_ctx;
/* <work dir>/name (NULL if out of memory). */
char *vmmi_qemu_wd_file(const struct vmm_vm *vm, const char *name);
/* The NoCloud seed of a new VM in its work directory (VMMI_QEMU_SEED), with
 * the generated client key and the guest's host key; none without
 * spec->cloud_init. Also used by the propolis backend and the libvirt
 * backend (which uploads it). */
int vmmi_qemu_write_seed(const struct vmm_vm_spec *spec, struct vmm_vm *vm,
			 struct vmm_error *err);
/* Whether pid is this VM's QEMU: pid > 1, alive, its executable named
 * qemu-system-*, its argv holding the VM's exact -pidfile and -qmp
 * arguments, and (unless starttime is 0) started at starttime. Empty
 * work_dir or qmp_socket never match. */
bool vmmi_qemu_is_our_process(const struct vmm_vm *vm, pid_t pid, unsigned long long starttime);
/* Whether the recorded process is alive and ours. */
bool vmmi_qemu_alive(const struct vmm_vm *vm);
/* The pid in the work directory's pidfile; -1 if there is none. */
int vmmi_qemu_read_pidfile(const struct vmm_vm *vm, pid_t *pid);

/* qemu.c, for qemu_save.c. */
struct vmmi_ports_taken;
/* Start QEMU as the start operation does, with extra arguments appended
 * (NULL-terminated; NULL: none), e.g. "-incoming", "defer". */
int vmmi_qemu_start_with(struct vmm_ctx *ctx, struct vmm_vm *vm,
			 const struct vmmi_ports_taken *taken, const char *const *extra,
			 struct vmm_error *err);
/* Wait up to wait_ms for QEMU to exit (then SIGTERM, SIGKILL) and forget
 * its process and runtime files. */
int vmmi_qemu_reap(struct vmm_vm *vm, unsigned wait_ms, struct vmm_error *err);
/* Take the pidfile's process if the record has none (see qemu.c). */
void vmmi_qemu_adopt(struct vmm_vm *vm);

/* Saved state and snapshots (qemu_save.c), the operations of the table. */
struct vmm_snapshot;
int vmmi_qemu_save(struct vmm_ctx *ctx, struct vmm_vm *vm, struct vmm_error *err);
int vmmi_qemu_saved_fits(struct vmm_ctx *ctx, const struct vmm_vm *vm, char *why, size_t n);
int vmmi_qemu_restore(struct vmm_ctx *ctx, struct vmm_vm *vm,
		      const struct vmmi_ports_taken *taken, struct vmm_error *err);
void vmmi_qemu_saved_discard(struct vmm_ctx *ctx, const struct vmm_vm *vm);
int vmmi_qemu_snapshot_create(struct vmm_ctx *ctx, struct vmm_vm *vm, const char *tag, bool live,
			      struct vmm_error *err);
int vmmi_qemu_snapshot_list(struct vmm_ctx *ctx, const struct vmm_vm *vm,
			    struct vmm_snapshot **out, size_t *n, struct vmm_error *err);
int vmmi_qemu_snapshot_restore(struct vmm_ctx *ctx, struct vmm_vm *vm, const char *tag, bool live,
			       const struct vmmi_ports_taken *taken, bool *started,
			       struct vmm_error *err);
int vmmi_qemu_snapshot_delete(struct vmm_ctx *ctx, struct vmm_vm *vm, const char *tag, bool live,
			      struct vmm_error *err);
#endif
