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

#include "store/store.h"
#include "vmm/manager.h"
#include "vmm/paths.h"
#include "vmm/vm.h"

struct vmm_ctx {
	struct vmm_paths paths;
	/* vms.json as this context last read or wrote it, and that file, held
	 * open (-1: there was none); see vmmi_ctx_store(). */
	struct vmmi_store store;
	int store_fd;
	bool store_cached;
};

/*
 * The store, read at most once per change: the cached copy while vms.json
 * is the file it was read from or written to, else read anew. The result
 * belongs to ctx (valid until the next call on ctx); a caller that changes
 * it must save it (then vmmi_ctx_store_saved) or vmmi_ctx_store_forget.
 */
int vmmi_ctx_store(struct vmm_ctx *ctx, struct vmmi_store **out, struct vmm_error *err);
/* ctx's store was just written to vms.json under the store lock. */
void vmmi_ctx_store_saved(struct vmm_ctx *ctx);
/* Drop the cached store (it may differ from the file). */
void vmmi_ctx_store_forget(struct vmm_ctx *ctx);

/* Where the steps inside an operation are reported (fn NULL: nowhere). */
struct vmmi_phases {
	vmm_phase_fn fn;
	void *userdata;
};

/* Report that `phase` of VM `vm` took since vmmi_now_ms() == start_ms. */
void vmmi_phase(const struct vmmi_phases *ph, const char *vm, const char *phase,
		uint64_t start_ms);

/* Host ports recorded in vms.json for other VMs: the manager hands them to a
 * backend that may have to choose a new forwarded port, so that no backend
 * reads the store. */
struct vmmi_ports_taken {
	const unsigned *ports;
	size_t n;
};

struct vmm_backend_ops {
	enum vmm_backend_tag tag;
	const char *name;

	/* Whether user networking forwards host ports to this backend's
	 * guests: the manager then reserves the SSH port before prepare. */
	bool host_ports;

	/*
	 * Allocate the VM's resources. On entry the manager has filled vm->id,
	 * name, backend, work_dir (created, 0700), image_path, image_url, vcpus,
	 * memory_mb, disk_gb, network, ssh_user, created_at and (host_ports,
	 * user networking) ssh_host_port, and holds the VM's lock. The backend
	 * fills what it allocates (overlay, seed ISO, sockets, MAC, key path)
	 * and reports its steps to ph. On failure the manager removes the work
	 * directory.
	 */
	int (*prepare)(struct vmm_ctx *ctx, const struct vmm_vm_spec *spec, struct vmm_vm *vm,
		       const struct vmmi_phases *ph, struct vmm_error *err);
	/* Optional: check, before a start touches the VM, what would make any
	 * start fail (settings from the environment, e.g. the accelerator; the
	 * host network the VM's network needs). vm: the VM to start, or the one
	 * about to be created (only its name and network set). */
	int (*check_start)(const struct vmm_vm *vm, struct vmm_error *err);
	/* Boot; fill pid, pid_starttime, vnc_addr. If the forwarded SSH port
	 * turns out to be taken, choose another one, avoiding `taken`. */
	int (*start)(struct vmm_ctx *ctx, struct vmm_vm *vm, const struct vmmi_ports_taken *taken,
		     struct vmm_error *err);
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

	/*
	 * Saved state and snapshots; NULL in a backend that cannot (the
	 * manager then reports backend::not_available with a hint).
	 *
	 * save: write the running VM's RAM and device state beside it
	 * (crash-safe), then end its process. saved_fits: 1 if the saved state
	 * can be restored as the VM is configured now, else 0 with the reason
	 * in why (checked before any process is started). restore: start the
	 * VM from its saved state, which is consumed. saved_discard: remove the
	 * saved state, if any.
	 */
	int (*save)(struct vmm_ctx *ctx, struct vmm_vm *vm, struct vmm_error *err);
	int (*saved_fits)(struct vmm_ctx *ctx, const struct vmm_vm *vm, char *why, size_t n);
	int (*restore)(struct vmm_ctx *ctx, struct vmm_vm *vm, const struct vmmi_ports_taken *taken,
		       struct vmm_error *err);
	void (*saved_discard)(struct vmm_ctx *ctx, const struct vmm_vm *vm);
	/*
	 * Snapshots of the VM's disk, with its RAM when live (the VM runs or
	 * is paused). Restoring a snapshot with RAM onto a VM that does not
	 * run starts it from that moment (*started).
	 */
	int (*snapshot_create)(struct vmm_ctx *ctx, struct vmm_vm *vm, const char *tag, bool live,
			       struct vmm_error *err);
	int (*snapshot_list)(struct vmm_ctx *ctx, const struct vmm_vm *vm,
			     struct vmm_snapshot **out, size_t *n, struct vmm_error *err);
	int (*snapshot_restore)(struct vmm_ctx *ctx, struct vmm_vm *vm, const char *tag, bool live,
				const struct vmmi_ports_taken *taken, bool *started,
				struct vmm_error *err);
	int (*snapshot_delete)(struct vmm_ctx *ctx, struct vmm_vm *vm, const char *tag, bool live,
			       struct vmm_error *err);
	/* Optional: add (add) or remove a port forward on the network of the
	 * running (or paused) VM; NULL in a backend that forwards nothing
	 * (the manager then only records the change). */
	int (*forward_live)(struct vmm_ctx *ctx, const struct vmm_vm *vm,
			    const struct vmm_forward *fw, bool add, struct vmm_error *err);
};

extern const struct vmm_backend_ops vmmi_backend_noop;
extern const struct vmm_backend_ops vmmi_backend_qemu;
extern const struct vmm_backend_ops vmmi_backend_propolis;
extern const struct vmm_backend_ops vmmi_backend_libvirt;

/* QEMU's state operation lives apart from the rest of its table (in
 * backends/qemu/qemu_state.c) so that programs that only read the registry
 * link none of the heavy libraries the other operations need. */
int vmmi_qemu_state(struct vmm_ctx *ctx, const struct vmm_vm *vm, enum vmm_vm_state *out,
		    struct vmm_error *err);
/* Its guest_ip operation too (backends/qemu/netdiscover.c), for `status`. */
int vmmi_qemu_guest_ip(struct vmm_ctx *ctx, const struct vmm_vm *vm, char **ip,
		       struct vmm_error *err);
/* Propolis's, likewise (backends/propolis/propolis_state.c). */
int vmmi_propolis_state(struct vmm_ctx *ctx, const struct vmm_vm *vm, enum vmm_vm_state *out,
			struct vmm_error *err);
int vmmi_propolis_guest_ip(struct vmm_ctx *ctx, const struct vmm_vm *vm, char **ip,
			   struct vmm_error *err);
/* The libvirt backend's, asked of the daemon (backends/libvirt/libvirt.c). */
int vmmi_libvirt_state(struct vmm_ctx *ctx, const struct vmm_vm *vm, enum vmm_vm_state *out,
		       struct vmm_error *err);
int vmmi_libvirt_guest_ip(struct vmm_ctx *ctx, const struct vmm_vm *vm, char **ip,
			  struct vmm_error *err);

/*
 * Every backend built into the library, once: its tag, its state and
 * guest_ip operations and its operations table. The manager (every
 * operation) and the registry (live state and guest address only) both
 * dispatch through this list; a backend that is not listed is "not
 * available".
 */
#define VMMI_BACKENDS(X)                                                                   \
	X(VMM_BACKEND_NOOP, vmmi_backend_noop.state, vmmi_backend_noop.guest_ip,           \
	  vmmi_backend_noop)                                                               \
	X(VMM_BACKEND_QEMU, vmmi_qemu_state, vmmi_qemu_guest_ip, vmmi_backend_qemu)      \
	X(VMM_BACKEND_PROPOLIS, vmmi_propolis_state, vmmi_propolis_guest_ip,              \
	  vmmi_backend_propolis)                                                           \
	X(VMM_BACKEND_LIBVIRT, vmmi_libvirt_state, vmmi_libvirt_guest_ip, vmmi_backend_libvirt)

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
