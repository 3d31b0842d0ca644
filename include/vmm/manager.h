/* SPDX-License-Identifier: MIT */
/*
 * vmm/manager.h - the VM lifecycle API: create, start, stop, suspend,
 * resume, destroy, look up and list VMs.
 *
 * Each call takes the locks it needs (the store lock around every
 * read-modify-write of vms.json, and a per-VM lock around every mutating
 * operation on one VM), asks the VM's recorded backend to do the work and
 * records the outcome. Concurrent processes never lose an entry.
 */
#ifndef VMM_MANAGER_H
#define VMM_MANAGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/error.h"
#include "vmm/paths.h"
#include "vmm/vm.h"

#ifdef __cplusplus
extern "C" {
#endif

struct vmm_ctx;

/* A context with the paths from the environment; creates the data
 * directories (0700) if missing. */
int vmm_ctx_new(struct vmm_ctx **out, struct vmm_error *err);
/* The same below an explicit data directory (…/vmctl). */
int vmm_ctx_new_at(struct vmm_ctx **out, const char *data_dir, struct vmm_error *err);
void vmm_ctx_free(struct vmm_ctx *ctx);
const struct vmm_paths *vmm_ctx_paths(const struct vmm_ctx *ctx);

/* The backend a new VM gets when the caller does not say: qemu on Linux. */
enum vmm_backend_tag vmm_default_backend(void);

/* A step inside an operation took duration_ms: inside create, "overlay"
 * and "seed" (the backend's), then "create" (all of the above: registering
 * and preparing) and, with start, "boot". */
typedef void (*vmm_phase_fn)(void *userdata, const char *vm, const char *phase,
			     uint64_t duration_ms);

struct vmm_create_opts {
	enum vmm_backend_tag backend; /* vmm_create_opts_init: vmm_default_backend() */
	bool start;                   /* boot the VM once it is prepared */
	vmm_phase_fn phase;           /* NULL: steps are not reported */
	void *phase_userdata;
};
void vmm_create_opts_init(struct vmm_create_opts *opts);

/*
 * Register a new VM and prepare its resources with opts->backend (opts NULL:
 * the defaults). The VM is recorded as "preparing" first, then "prepared"
 * (or, with opts->start, booted and recorded "running"); on a failure to
 * prepare nothing is left behind (no entry, no work directory); a failure to
 * boot leaves the VM registered as "failed", as vmm_vm_start does. *out (may
 * be NULL) receives the new handle, NULL on failure. VMM_E_VM_EXISTS if the
 * name is taken.
 */
int vmm_vm_create(struct vmm_ctx *ctx, const struct vmm_vm_spec *spec,
		  const struct vmm_create_opts *opts, struct vmm_vm **out, struct vmm_error *err);

/* Lifecycle operations on a registered VM. Each checks the transition
 * against the VM's live state (vmm_lifecycle_check) first. *out (may be
 * NULL) receives the updated handle. */
int vmm_vm_start(struct vmm_ctx *ctx, const char *name, struct vmm_vm **out,
		 struct vmm_error *err);
int vmm_vm_stop(struct vmm_ctx *ctx, const char *name, unsigned timeout_s,
		struct vmm_vm **out, struct vmm_error *err);
int vmm_vm_suspend(struct vmm_ctx *ctx, const char *name, struct vmm_vm **out,
		   struct vmm_error *err);
int vmm_vm_resume(struct vmm_ctx *ctx, const char *name, struct vmm_vm **out,
		  struct vmm_error *err);

/* How to start a VM (vmm_vm_start_ex). */
struct vmm_start_opts {
	bool cold; /* discard a saved state and boot */
};

/* How a start went. */
enum vmm_start_result {
	VMM_START_BOOTED = 0, /* booted cold (there was no saved state) */
	VMM_START_RESTORED,   /* continued from its saved state */
	VMM_START_COLD,       /* a saved state was discarded (--cold, or it did not
				 fit: the warning says why) and the VM booted */
};

/*
 * Start a VM; a VM whose state is saved continues from it, unless opts->cold
 * (opts may be NULL). A saved state that no longer fits the VM (binary,
 * vCPUs, memory, devices, a missing or truncated file) is found before the
 * hypervisor starts: the VM then boots cold with a warning saying why.
 * *result (may be NULL) says which.
 */
int vmm_vm_start_ex(struct vmm_ctx *ctx, const char *name, const struct vmm_start_opts *opts,
		    struct vmm_vm **out, enum vmm_start_result *result, struct vmm_error *err);

/* Save a running or paused VM's RAM and device state in its work directory
 * and end its process: the VM is "saved" until the next start. */
int vmm_vm_save(struct vmm_ctx *ctx, const char *name, struct vmm_vm **out,
		struct vmm_error *err);

/*
 * Snapshots. On a running (or paused) VM, disk and RAM together; on a
 * stopped one, the disk only. tag is validated like a VM name
 * (vmm_snapshot_tag_validate); NULL to create: one made of the time. A VM
 * whose state is saved must be started first (its disk belongs to that
 * state). Restoring a snapshot with RAM onto a VM that is not running
 * starts it from that moment (*started, may be NULL).
 */
int vmm_snapshot_create(struct vmm_ctx *ctx, const char *name, const char *tag, char **tag_out,
			struct vmm_error *err);
int vmm_snapshot_list(struct vmm_ctx *ctx, const char *name, struct vmm_snapshot **out,
		      size_t *n, struct vmm_error *err);
int vmm_snapshot_restore(struct vmm_ctx *ctx, const char *name, const char *tag, bool *started,
			 struct vmm_error *err);
int vmm_snapshot_delete(struct vmm_ctx *ctx, const char *name, const char *tag,
			struct vmm_error *err);

/*
 * Port forwards of a VM with user networking, changed under its lock and
 * recorded. Add: the host port is reserved as at create (0: vmctl picks
 * one; held by another VM or process: VMM_E_PORT_ALLOC naming it); on a
 * VM that runs (or is paused) it is forwarded at once, else from its next
 * start. *out (may be NULL) receives the forward as added. Remove: the
 * forward of that host port and protocol (none: VMM_E_INVALID_CONFIG),
 * live too; *out (may be NULL) receives it.
 */
int vmm_vm_forward_add(struct vmm_ctx *ctx, const char *name, const struct vmm_forward *fw,
		       struct vmm_forward *out, struct vmm_error *err);
int vmm_vm_forward_remove(struct vmm_ctx *ctx, const char *name, unsigned host_port, bool udp,
			  struct vmm_forward *out, struct vmm_error *err);

/* Stop (if running), remove every file of the VM and its store entry. */
int vmm_vm_destroy(struct vmm_ctx *ctx, const char *name, struct vmm_error *err);

/* One VM's handle, with its state refreshed from the live process. */
int vmm_vm_lookup(struct vmm_ctx *ctx, const char *name, struct vmm_vm **out,
		  struct vmm_error *err);

/* Every registered VM, sorted by name, states refreshed. Free with
 * vmm_vm_list_free. */
int vmm_vm_list(struct vmm_ctx *ctx, struct vmm_vm ***out, size_t *n, struct vmm_error *err);

/* Whether a VM of this name is registered (no state refresh). */
int vmm_vm_exists(struct vmm_ctx *ctx, const char *name, bool *exists, struct vmm_error *err);

/* The address to reach the guest at (127.0.0.1 for user networking). */
int vmm_vm_guest_ip(struct vmm_ctx *ctx, const struct vmm_vm *vm, char **ip,
		    struct vmm_error *err);

enum vmm_console_kind {
	VMM_CONSOLE_NONE = 0,
	VMM_CONSOLE_UNIX,      /* path: a unix stream socket */
	VMM_CONSOLE_WEBSOCKET, /* path: a ws:// URL */
};
struct vmm_console_endpoint {
	enum vmm_console_kind kind;
	char *path;
};
int vmm_vm_console_endpoint(struct vmm_ctx *ctx, const struct vmm_vm *vm,
			    struct vmm_console_endpoint *out, struct vmm_error *err);
void vmm_console_endpoint_release(struct vmm_console_endpoint *ep);

#ifdef __cplusplus
}
#endif
#endif
