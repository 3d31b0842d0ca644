/* SPDX-License-Identifier: MIT */
/*
 * lib/backend.h - the hypervisor interface (private to libvmm).
 *
 * Each backend (lib/backends/<name>.c) provides one struct vmm_backend_ops.
 * The manager (lib/manager.c) dispatches on the backend recorded in the VM's
 * handle (the "router") and owns locking and the store; backends only do
 * the work and fill in the handle.
 */
#ifndef VMMI_BACKEND_H
#define VMMI_BACKEND_H

#include <stdint.h>

#include "vmm/manager.h"
#include "vmm/paths.h"
#include "vmm/vm.h"

/* Reports the duration of a step inside an operation (e.g. "overlay" and
 * "seed" inside prepare), for callers that show progress. */
typedef void (*vmmi_phase_fn)(void *userdata, const char *vm, const char *phase,
			      uint64_t duration_ms);

struct vmm_ctx {
	struct vmm_paths paths;
	vmmi_phase_fn phase;  /* NULL: nobody listens */
	void *phase_userdata;
};

/* Report that `phase` of VM `vm` took since vmmi_now_ms() == start_ms. */
void vmmi_phase(struct vmm_ctx *ctx, const char *vm, const char *phase, uint64_t start_ms);

struct vmm_backend_ops {
	enum vmm_backend_tag tag;
	const char *name;

	/*
	 * Allocate the VM's resources. On entry the manager has filled vm->id,
	 * name, backend, work_dir (created, 0700), image_path, image_url, vcpus,
	 * memory_mb, disk_gb, network, ssh_user and created_at, and holds the
	 * VM's lock. The backend fills what it allocates (overlay, seed ISO,
	 * sockets, MAC, SSH port, key path). On failure the manager removes
	 * the work directory.
	 */
	int (*prepare)(struct vmm_ctx *ctx, const struct vmm_vm_spec *spec, struct vmm_vm *vm,
		       struct vmm_error *err);
	/* Boot; fill pid, pid_starttime, vnc_addr. */
	int (*start)(struct vmm_ctx *ctx, struct vmm_vm *vm, struct vmm_error *err);
	/* Graceful stop, forced after timeout_s seconds. */
	int (*stop)(struct vmm_ctx *ctx, struct vmm_vm *vm, unsigned timeout_s,
		    struct vmm_error *err);
	int (*suspend)(struct vmm_ctx *ctx, struct vmm_vm *vm, struct vmm_error *err);
	int (*resume)(struct vmm_ctx *ctx, struct vmm_vm *vm, struct vmm_error *err);
	/* Kill the VM if it runs and free backend resources outside the work
	 * directory; the manager removes the work directory and the entry. */
	int (*destroy)(struct vmm_ctx *ctx, struct vmm_vm *vm, struct vmm_error *err);
	/*
	 * The live state. recorded is vm->state as stored; a backend that
	 * cannot observe the process returns it unchanged. A backend that can
	 * reports RUNNING/SUSPENDED from the live process, and STOPPED if the
	 * recorded process is gone.
	 */
	int (*state)(struct vmm_ctx *ctx, const struct vmm_vm *vm, enum vmm_vm_state *out,
		     struct vmm_error *err);
	int (*guest_ip)(struct vmm_ctx *ctx, const struct vmm_vm *vm, char **ip,
			struct vmm_error *err);
	int (*console_endpoint)(struct vmm_ctx *ctx, const struct vmm_vm *vm,
				struct vmm_console_endpoint *out, struct vmm_error *err);
};

extern const struct vmm_backend_ops vmmi_backend_noop;
extern const struct vmm_backend_ops vmmi_backend_qemu;

/* The backend for a tag, or NULL with VMM_E_BACKEND in err if it is not
 * built into this library or cannot run on this platform. */
const struct vmm_backend_ops *vmmi_backend_for(enum vmm_backend_tag tag, struct vmm_error *err);

/* registry.c, the manager's read side. */
/* Set err to "the X backend is not available"; returns its negative code. */
int vmmi_backend_unavailable(enum vmm_backend_tag tag, struct vmm_error *err);
/* A copy of VM name's record as stored (VMM_E_VM_NOT_FOUND if none). */
int vmmi_vm_recorded(struct vmm_ctx *ctx, const char *name, struct vmm_vm **out,
		     struct vmm_error *err);
/* Replace vm->state with the live state its backend reports. */
int vmmi_vm_live_state(struct vmm_ctx *ctx, struct vmm_vm *vm, struct vmm_error *err);

#endif
