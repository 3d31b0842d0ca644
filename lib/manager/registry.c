/* SPDX-License-Identifier: MIT */
/*
 * The manager's read side: the context, and the recorded VMs with their
 * live state (vmm_vm_lookup, vmm_vm_list) and the guest's address
 * (vmm_vm_guest_ip).
 *
 * Apart from manager.c, whose operations reach every part of the backends,
 * so that a program that only reads (vmctl list, status, log) links the
 * store, QMP and the backends' state operations, and none of libcurl,
 * libssh, libisofs or libcrypto: loading those costs more than listing a
 * thousand VMs.
 */
#include "vmm/manager.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/backend.h"
#include "store/store.h"
#include "core/util.h"
#include "vmm/log.h"

#define MOD "manager"

int vmmi_backend_unavailable(enum vmm_backend_tag tag, struct vmm_error *err)
{
	return vmm_error_set(err, VMM_E_BACKEND, 0, NULL,
			     "the %s backend is not available in this build or on this platform",
			     vmm_backend_name(tag));
}

typedef int (*vmmi_state_op)(struct vmm_ctx *ctx, const struct vmm_vm *vm,
			     enum vmm_vm_state *out, struct vmm_error *err);

/* The state operation of a backend, without the rest of its table. */
static vmmi_state_op state_op(enum vmm_backend_tag tag)
{
#define STATE(t, state, ip, ops)                                                             \
	if (tag == (t))                                                                    \
		return (state);
	VMMI_BACKENDS(STATE)
#undef STATE
	return NULL;
}

typedef int (*vmmi_guest_ip_op)(struct vmm_ctx *ctx, const struct vmm_vm *vm, char **ip,
				struct vmm_error *err);

/* The guest_ip operation of a backend, light too (`vmctl status` shows it). */
static vmmi_guest_ip_op guest_ip_op(enum vmm_backend_tag tag)
{
#define IP(t, state, ip, ops)                                                              \
	if (tag == (t))                                                                    \
		return (ip);
	VMMI_BACKENDS(IP)
#undef IP
	return NULL;
}

int vmm_vm_guest_ip(struct vmm_ctx *ctx, const struct vmm_vm *vm, char **ip,
		    struct vmm_error *err)
{
	vmmi_guest_ip_op op = guest_ip_op(vm->backend);

	*ip = NULL;
	if (!op)
		return vmmi_backend_unavailable(vm->backend, err);
	return op(ctx, vm, ip, err);
}

int vmm_ctx_new_at(struct vmm_ctx **out, const char *data_dir, struct vmm_error *err)
{
	struct vmm_ctx *ctx = calloc(1, sizeof(*ctx));
	int rc;

	if (!ctx)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	rc = data_dir ? vmm_paths_init_at(&ctx->paths, data_dir, err)
		      : vmm_paths_init(&ctx->paths, err);
	if (rc == 0)
		rc = vmm_paths_ensure(&ctx->paths, err);
	if (rc < 0) {
		vmm_ctx_free(ctx);
		return rc;
	}
	ctx->store_fd = -1;
	*out = ctx;
	return 0;
}

int vmm_ctx_new(struct vmm_ctx **out, struct vmm_error *err)
{
	return vmm_ctx_new_at(out, NULL, err);
}

void vmm_ctx_free(struct vmm_ctx *ctx)
{
	if (!ctx)
		return;
	vmmi_ctx_store_forget(ctx);
	vmm_paths_release(&ctx->paths);
	free(ctx);
}

const struct vmm_paths *vmm_ctx_paths(const struct vmm_ctx *ctx)
{
	return &ctx->paths;
}

void vmmi_phase(const struct vmmi_phases *ph, const char *vm, const char *phase,
		uint64_t start_ms)
{
	if (ph && ph->fn)
		ph->fn(ph->userdata, vm, phase, vmmi_now_ms() - start_ms);
}

/* ---- the store as this context knows it ---------------------------------- */

void vmmi_ctx_store_forget(struct vmm_ctx *ctx)
{
	if (ctx->store_cached)
		vmmi_store_release(&ctx->store);
	if (ctx->store_fd >= 0)
		close(ctx->store_fd);
	ctx->store_fd = -1;
	ctx->store_cached = false;
}

/*
 * Whether vms.json is still the file the cached store came from. Every
 * writer replaces the file by rename and never writes it in place, so the
 * same inode means the same content; the cache holds that file open, so its
 * inode cannot be freed and handed to another file while we compare.
 */
static bool store_cache_valid(const struct vmm_ctx *ctx)
{
	struct stat now, held;

	if (!ctx->store_cached)
		return false;
	if (stat(ctx->paths.store_path, &now) < 0)
		return errno == ENOENT && ctx->store_fd < 0;
	if (ctx->store_fd < 0 || fstat(ctx->store_fd, &held) < 0)
		return false;
	return now.st_dev == held.st_dev && now.st_ino == held.st_ino && held.st_nlink > 0;
}

/* Hold vms.json open as it is now (-1 if there is none). Opened before the
 * content is read, so the cache can only ever be older than the file, and an
 * older cache fails store_cache_valid(). */
static int open_store_file(const struct vmm_ctx *ctx)
{
	return open(ctx->paths.store_path, O_RDONLY | O_CLOEXEC);
}

int vmmi_ctx_store(struct vmm_ctx *ctx, struct vmmi_store **out, struct vmm_error *err)
{
	int fd, rc;

	if (store_cache_valid(ctx)) {
		vmm_trace(MOD, "%s unchanged since it was last read or written",
			  ctx->paths.store_path);
		*out = &ctx->store;
		return 0;
	}
	vmmi_ctx_store_forget(ctx);
	fd = open_store_file(ctx);
	if ((rc = vmmi_store_load(ctx->paths.store_path, &ctx->store, err)) < 0) {
		if (fd >= 0)
			close(fd);
		*out = NULL;
		return rc;
	}
	ctx->store_fd = fd;
	ctx->store_cached = true;
	*out = &ctx->store;
	return 0;
}

void vmmi_ctx_store_saved(struct vmm_ctx *ctx)
{
	/* the caller holds the store lock: the file now there is the one it wrote */
	if (ctx->store_fd >= 0)
		close(ctx->store_fd);
	ctx->store_fd = open_store_file(ctx);
	if (ctx->store_fd < 0)
		vmmi_ctx_store_forget(ctx);
}

enum vmm_backend_tag vmm_default_backend(void)
{
#ifdef __illumos__
	return VMM_BACKEND_PROPOLIS;
#else
	return VMM_BACKEND_QEMU;
#endif
}

/* Read one VM's recorded handle (no lock needed: writes are atomic). */
int vmmi_vm_recorded(struct vmm_ctx *ctx, const char *name, struct vmm_vm **out,
		     struct vmm_error *err)
{
	struct vmmi_store *st;
	struct vmm_vm *vm;
	int rc;

	*out = NULL;
	if ((rc = vmmi_ctx_store(ctx, &st, err)) < 0)
		return rc;
	vm = vmmi_store_find(st, name);
	if (!vm)
		return vmm_error_set(err, VMM_E_VM_NOT_FOUND, 0, NULL, "no VM named '%s'", name);
	*out = vmm_vm_dup(vm);
	return *out ? 0 : vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
}

/* The live state of a recorded VM, from its backend. */
int vmmi_vm_live_state(struct vmm_ctx *ctx, struct vmm_vm *vm, struct vmm_error *err)
{
	vmmi_state_op state;
	enum vmm_vm_state s = vm->state;
	int rc;

	/* Preparing/failed/prepared are facts of the record, not of a process. */
	if (vm->state == VMM_STATE_PREPARING || vm->state == VMM_STATE_PREPARED)
		return 0;
	if (!(state = state_op(vm->backend)))
		return vmmi_backend_unavailable(vm->backend, err);
	rc = state(ctx, vm, &s, err);
	if (rc < 0)
		return rc;
	if (s != vm->state) {
		vmm_debug(MOD, "VM '%s': recorded %s, live %s", vm->name,
			  vmm_vm_state_name(vm->state), vmm_vm_state_name(s));
		vm->state = s;
		if (s == VMM_STATE_STOPPED) {
			vm->pid = 0;
			vm->pid_starttime = 0;
		}
	}
	return 0;
}

int vmm_vm_lookup(struct vmm_ctx *ctx, const char *name, struct vmm_vm **out,
		  struct vmm_error *err)
{
	struct vmm_vm *vm;
	int rc;

	if ((rc = vmm_vm_name_validate(name, err)) < 0)
		return rc;
	if ((rc = vmmi_vm_recorded(ctx, name, &vm, err)) < 0)
		return rc;
	if ((rc = vmmi_vm_live_state(ctx, vm, err)) < 0) {
		vmm_vm_free(vm);
		return rc;
	}
	*out = vm;
	return 0;
}

int vmm_vm_exists(struct vmm_ctx *ctx, const char *name, bool *exists, struct vmm_error *err)
{
	struct vmmi_store *st;
	int rc;

	*exists = false;
	if ((rc = vmmi_ctx_store(ctx, &st, err)) < 0)
		return rc;
	*exists = vmmi_store_find(st, name) != NULL;
	return 0;
}

int vmm_vm_list(struct vmm_ctx *ctx, struct vmm_vm ***out, size_t *n, struct vmm_error *err)
{
	struct vmmi_store st;
	int rc;

	if ((rc = vmmi_store_load(ctx->paths.store_path, &st, err)) < 0)
		return rc;
	for (size_t i = 0; i < st.n; i++) {
		struct vmm_error e;

		/* One VM whose state cannot be read does not hide the others. */
		if (vmmi_vm_live_state(ctx, st.vms[i], &e) < 0)
			vmm_warn(MOD, "VM '%s': %s", st.vms[i]->name, e.message);
	}
	*out = st.vms; /* already sorted by name */
	*n = st.n;
	st.vms = NULL;
	st.n = 0;
	vmmi_store_release(&st);
	return 0;
}
