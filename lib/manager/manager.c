/* SPDX-License-Identifier: MIT */
/*
 * The VM manager: the router between callers and backends. It owns locking
 * and the store; backends do the work.
 *
 * Lock order: the VM's lock, then the store lock; never the reverse. The
 * store lock is held only around a read-modify-write of vms.json, never
 * while a backend works, so slow operations on one VM (a 30 s stop) do not
 * block other VMs. Reads need no lock: writes replace vms.json atomically.
 */
#include "vmm/manager.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backends/backend.h"
#include "backends/qemu/ports.h"
#include "store/store.h"
#include "core/util.h"
#include "vmm/log.h"

#define MOD "manager"

const struct vmm_backend_ops *vmmi_backend_for(enum vmm_backend_tag tag, struct vmm_error *err)
{
#define OPS(t, state, ip, ops)                                                               \
	if (tag == (t))                                                                    \
		return &(ops);
	VMMI_BACKENDS(OPS)
#undef OPS
	vmmi_backend_unavailable(tag, err);
	return NULL;
}

static char *new_id(void)
{
	unsigned char b[16];
	char *s = malloc(33);

	if (!s)
		return NULL;
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
		/* getrandom on Linux >= 3.17 does not fail for 16 bytes; fall
		 * back to time and pid so the id stays unique per VM anyway */
		unsigned long long t = vmmi_now_ms() ^ ((unsigned long long)getpid() << 32);
		memcpy(b, &t, sizeof(t));
		memcpy(b + 8, &t, sizeof(t));
	}
	for (int i = 0; i < 16; i++)
		snprintf(s + 2 * i, 3, "%02x", b[i]);
	return s;
}

/*
 * Read-modify-write of vms.json under the store lock. fn returns <0 on
 * error, 0 if it changed nothing, >0 if the store must be written. The store
 * is the context's (read only if vms.json changed since this process last
 * read or wrote it).
 */
typedef int (*store_edit_fn)(struct vmmi_store *st, void *ud, struct vmm_error *err);

static int store_edit(struct vmm_ctx *ctx, store_edit_fn fn, void *ud, struct vmm_error *err)
{
	struct vmmi_store *st;
	int lock, rc;

	lock = vmmi_store_lock(&ctx->paths, err);
	if (lock < 0)
		return lock;
	rc = vmmi_ctx_store(ctx, &st, err);
	if (rc == 0) {
		rc = fn(st, ud, err);
		if (rc > 0) { /* changed: write back */
			rc = vmmi_store_save(ctx->paths.store_path, st, err);
			if (rc == 0)
				vmmi_ctx_store_saved(ctx);
		}
		if (rc < 0) /* the copy in memory may now differ from the file */
			vmmi_ctx_store_forget(ctx);
	}
	vmmi_unlock(lock);
	return rc < 0 ? rc : 0;
}

struct put_args {
	const struct vmm_vm *vm;
	bool must_be_new;
};

static int edit_put(struct vmmi_store *st, void *ud, struct vmm_error *err)
{
	struct put_args *a = ud;
	int rc;

	if (a->must_be_new && vmmi_store_find(st, a->vm->name))
		return vmm_error_set(err, VMM_E_VM_EXISTS, 0, NULL, "a VM named '%s' already exists",
				     a->vm->name);
	rc = vmmi_store_put(st, a->vm, err);
	return rc < 0 ? rc : 1;
}

static int edit_remove(struct vmmi_store *st, void *ud, struct vmm_error *err)
{
	(void)err;
	return vmmi_store_remove(st, ud);
}

static int store_put(struct vmm_ctx *ctx, const struct vmm_vm *vm, bool must_be_new,
		     struct vmm_error *err)
{
	struct put_args a = {vm, must_be_new};

	return store_edit(ctx, edit_put, &a, err);
}

/* The forwarded ports recorded for VMs other than `name`, from the store as
 * this context last saw it (malloc'd; ports of VMs created since then are
 * reserved in their work directories, which the allocator reads). */
static int ports_taken(struct vmm_ctx *ctx, const char *name, unsigned **ports, size_t *n,
		       struct vmm_error *err)
{
	struct vmmi_store *st;
	int rc;

	*ports = NULL;
	*n = 0;
	if ((rc = vmmi_ctx_store(ctx, &st, err)) < 0)
		return rc;
	if (!(*ports = calloc(st->n + 1, sizeof(**ports))))
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	for (size_t i = 0; i < st->n; i++)
		if (strcmp(st->vms[i]->name, name) != 0 && st->vms[i]->ssh_host_port)
			(*ports)[(*n)++] = st->vms[i]->ssh_host_port;
	return 0;
}

static int check_spec(const struct vmm_vm_spec *spec, struct vmm_error *err)
{
	int rc;

	if ((rc = vmm_vm_name_validate(spec->name, err)) < 0)
		return rc;
	if (spec->vcpus < 1 || spec->vcpus > VMM_VM_MAX_VCPUS)
		return vmm_error_set(err, VMM_E_INVALID_CONFIG, 0, NULL,
				     "invalid vCPU count %u: use 1 to %u", spec->vcpus,
				     VMM_VM_MAX_VCPUS);
	if (spec->memory_mb < 1 || spec->memory_mb > VMM_VM_MAX_MEMORY_MB)
		return vmm_error_set(err, VMM_E_INVALID_CONFIG, 0, "give the memory in MB, e.g. 1024",
				     "invalid memory size %llu MB: use 1 to %llu",
				     (unsigned long long)spec->memory_mb,
				     (unsigned long long)VMM_VM_MAX_MEMORY_MB);
	if (!spec->image_path || !*spec->image_path)
		return vmm_error_set(err, VMM_E_INVALID_CONFIG, 0,
				     "give a local image (--image) or a URL (--image-url)",
				     "VM '%s' has no image", spec->name);
	if (access(spec->image_path, R_OK) < 0)
		return vmm_error_errno(err, VMM_E_IMAGE_NOT_FOUND,
				       "check the path of the image; relative paths are relative "
				       "to the current directory",
				       "cannot read image '%s'", spec->image_path);
	if (spec->network.type == VMM_NET_VNIC && (!spec->network.vnic || !*spec->network.vnic))
		return vmm_error_set(err, VMM_E_INVALID_CONFIG, 0, NULL,
				     "vnic networking needs a VNIC name");
	if ((rc = vmm_forwards_check(spec->forwards, spec->n_forwards, spec->network.type, err)) < 0)
		return rc;
	return 0;
}

static int fill_new_vm(struct vmm_ctx *ctx, const struct vmm_vm_spec *spec,
		       enum vmm_backend_tag backend, struct vmm_vm *vm, struct vmm_error *err)
{
	vm->id = new_id();
	vm->name = strdup(spec->name);
	vm->backend = backend;
	vm->state = VMM_STATE_PREPARING;
	vm->work_dir = vmm_paths_vm_dir(&ctx->paths, spec->name);
	vm->image_path = realpath(spec->image_path, NULL);
	vm->image_url = spec->image_url ? strdup(spec->image_url) : NULL;
	vm->vcpus = spec->vcpus;
	vm->memory_mb = spec->memory_mb;
	vm->disk_gb = spec->disk_gb;
	vm->network.type = spec->network.type;
	if (spec->network.type == VMM_NET_TAP)
		vm->network.bridge = strdup(spec->network.bridge ? spec->network.bridge : "br0");
	if (spec->network.type == VMM_NET_VNIC)
		vm->network.vnic = strdup(spec->network.vnic);
	vm->ssh_user = strdup(spec->ssh_user ? spec->ssh_user : "vm");
	if (spec->n_forwards) {
		if (!(vm->forwards = calloc(spec->n_forwards, sizeof(*vm->forwards))))
			return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		memcpy(vm->forwards, spec->forwards, spec->n_forwards * sizeof(*vm->forwards));
		vm->n_forwards = spec->n_forwards;
		for (size_t i = 0; i < vm->n_forwards; i++)
			vm->forwards[i].auto_port = vm->forwards[i].host_port == 0;
	}
	if (spec->n_shares && !(vm->shares.v = calloc(spec->n_shares, sizeof(*vm->shares.v))))
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	for (size_t i = 0; i < spec->n_shares; i++) {
		struct vmm_share *sh = &vm->shares.v[vm->shares.n++];

		*sh = spec->shares[i];
		sh->type = sh->readonly ? VMM_SHARE_9P : VMM_SHARE_VIRTIOFS;
		sh->host = strdup(spec->shares[i].host);
		sh->guest = strdup(spec->shares[i].guest);
		if (!sh->host || !sh->guest)
			return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	}
	if (backend == VMM_BACKEND_LIBVIRT) {
		/* no URI given: the one libvirt's own tools would use */
		const char *uri = spec->uri ? spec->uri : getenv("LIBVIRT_DEFAULT_URI");

		if (!uri || !*uri)
			return vmm_error_set(err, VMM_E_INVALID_CONFIG, 0,
					     "give the host's URI (`create --connect URI`, uri= "
					     "on the VMFile's host) or set LIBVIRT_DEFAULT_URI",
					     "VM '%s' goes to libvirt, but no URI says where",
					     spec->name);
		if (!(vm->uri = strdup(uri)) || (spec->host && !(vm->host = strdup(spec->host))))
			return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	}
	{
		char now[VMMI_RFC3339_LEN];

		vmmi_rfc3339_now(now, false);
		vm->created_at = strdup(now);
	}
	if (!vm->id || !vm->name || !vm->work_dir || !vm->image_path || !vm->ssh_user ||
	    !vm->created_at || (spec->image_url && !vm->image_url) ||
	    (spec->network.type == VMM_NET_TAP && !vm->network.bridge) ||
	    (spec->network.type == VMM_NET_VNIC && !vm->network.vnic)) {
		if (!vm->image_path && errno != ENOMEM)
			return vmm_error_errno(err, VMM_E_IMAGE_NOT_FOUND, NULL,
					       "cannot resolve image path '%s'", spec->image_path);
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	}
	return 0;
}

void vmm_create_opts_init(struct vmm_create_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->backend = vmm_default_backend();
}

/* Reserve the forwarded SSH port of a new VM (user networking on a backend
 * that forwards host ports), so that prepare receives it, and the host
 * ports of its forwards (another backend records them as given). */
static int reserve_ssh_port(struct vmm_ctx *ctx, const struct vmm_backend_ops *be,
			    struct vmm_vm *vm, struct vmm_error *err)
{
	unsigned *ports;
	size_t n;
	int rc;

	vm->ssh_host_port = 0;
	if (!be->host_ports || vm->network.type != VMM_NET_USER)
		return 0;
	if ((rc = ports_taken(ctx, vm->name, &ports, &n, err)) < 0)
		return rc;
	rc = vmmi_port_allocate(&ctx->paths, vm->name, 0,
				&(struct vmmi_ports_taken){ports, n}, &vm->ssh_host_port, err);
	/* the forwarded ports too, so that a create without a start holds them */
	if (rc == 0 && vm->n_forwards)
		rc = vmmi_forwards_reserve(&ctx->paths, vm->name, vm->ssh_host_port, vm->forwards,
					   vm->n_forwards, 0, false,
					   &(struct vmmi_ports_taken){ports, n}, err);
	free(ports);
	return rc;
}

static int boot(struct vmm_ctx *ctx, const struct vmm_backend_ops *be, struct vmm_vm *vm,
		struct vmm_error *err)
{
	unsigned *ports;
	size_t n;
	int rc;

	if ((rc = ports_taken(ctx, vm->name, &ports, &n, err)) < 0)
		return rc;
	rc = be->start(ctx, vm, &(struct vmmi_ports_taken){ports, n}, err);
	free(ports);
	return rc;
}

/* A start failed: record the VM as failed (the backend has cleaned up the
 * process). */
static void record_failed_start(struct vmm_ctx *ctx, struct vmm_vm *vm)
{
	struct vmm_error rec_err;

	vm->state = VMM_STATE_FAILED;
	vm->pid = 0;
	vm->pid_starttime = 0;
	if (store_put(ctx, vm, false, &rec_err) < 0)
		vmm_warn(MOD, "could not record VM '%s' as failed: %s", vm->name, rec_err.message);
}

int vmm_vm_create(struct vmm_ctx *ctx, const struct vmm_vm_spec *spec,
		  const struct vmm_create_opts *opts, struct vmm_vm **out, struct vmm_error *err)
{
	const struct vmm_backend_ops *be;
	struct vmm_create_opts defaults;
	struct vmmi_phases ph;
	struct vmm_vm *vm = NULL;
	struct vmm_error cleanup_err;
	bool registered = false;
	uint64_t t0;
	int lock, rc;

	if (out)
		*out = NULL;
	if (!opts) {
		vmm_create_opts_init(&defaults);
		opts = &defaults;
	}
	ph = (struct vmmi_phases){opts->phase, opts->phase_userdata};
	if ((rc = check_spec(spec, err)) < 0)
		return rc;
	/* a VM placed on a libvirt daemon is that backend's, whatever the default */
	if ((spec->uri || spec->host) && opts->backend != VMM_BACKEND_LIBVIRT) {
		defaults = *opts;
		defaults.backend = VMM_BACKEND_LIBVIRT;
		opts = &defaults;
	}
	if (!(be = vmmi_backend_for(opts->backend, err)))
		return -(int)VMM_E_BACKEND;
	if (opts->start && be->check_start &&
	    (rc = be->check_start(&(struct vmm_vm){.name = (char *)spec->name,
						   .network = spec->network},
				  err)) < 0)
		return rc;
	t0 = vmmi_now_ms();
	lock = vmmi_vm_lock(&ctx->paths, spec->name, err);
	if (lock < 0)
		return lock;
	vm = vmm_vm_new();
	if (!vm) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto out;
	}
	if ((rc = fill_new_vm(ctx, spec, opts->backend, vm, err)) < 0)
		goto out;
	/* Record first, so a crash from here on leaves a "preparing" entry
	 * that `vmctl destroy` can clean up, never an orphan directory. */
	if ((rc = store_put(ctx, vm, true, err)) < 0)
		goto out;
	registered = true;
	/* A directory without an entry is the remains of a destroy that was
	 * interrupted: it is ours (under vms/) and no VM uses it. */
	if ((rc = vmmi_rm_rf(vm->work_dir, err)) < 0 ||
	    (rc = vmmi_mkdir_p(vm->work_dir, 0700, err)) < 0)
		goto out;
	if ((rc = reserve_ssh_port(ctx, be, vm, err)) < 0)
		goto out;
	vmm_debug(MOD, "preparing VM '%s' with the %s backend", vm->name, be->name);
	if ((rc = be->prepare(ctx, spec, vm, &ph, err)) < 0)
		goto out;
	vm->state = VMM_STATE_PREPARED;
	vmmi_phase(&ph, vm->name, "create", t0);
	if (opts->start) {
		/* Prepared and booted are recorded in one write. */
		registered = false; /* from here on, a failure is a failed start */
		t0 = vmmi_now_ms();
		if ((rc = boot(ctx, be, vm, err)) < 0) {
			record_failed_start(ctx, vm);
			goto out;
		}
		vmmi_phase(&ph, vm->name, "boot", t0);
		vm->state = VMM_STATE_RUNNING;
	}
	if ((rc = store_put(ctx, vm, false, err)) < 0)
		goto out;
	vmm_info(MOD, "created VM '%s'%s", vm->name, opts->start ? " and started it" : "");
	if (out) {
		*out = vm;
		vm = NULL;
	}
out:
	if (rc < 0 && registered) {
		/* Nothing is left behind by a failed create. */
		vmmi_rm_rf(vm->work_dir, &cleanup_err);
		store_edit(ctx, edit_remove, vm->name, &cleanup_err);
	}
	vmm_vm_free(vm);
	vmmi_unlock(lock);
	return rc;
}

/*
 * Validate the name, take the VM's lock and read its record. Returns the
 * lock (release with vmmi_unlock) and *vm, or <0 with nothing held.
 */
static int lock_recorded(struct vmm_ctx *ctx, const char *name, struct vmm_vm **vm,
			 struct vmm_error *err)
{
	int lock, rc;

	if ((rc = vmm_vm_name_validate(name, err)) < 0)
		return rc;
	if ((lock = vmmi_vm_lock(&ctx->paths, name, err)) < 0)
		return lock;
	if ((rc = vmmi_vm_recorded(ctx, name, vm, err)) < 0) {
		vmmi_unlock(lock);
		return rc;
	}
	return lock;
}

/* The hint for an operation the VM's backend does not have. */
static int not_available(const struct vmm_backend_ops *be, const char *what,
			 struct vmm_error *err)
{
	return vmm_error_set(err, VMM_E_BACKEND, 0,
			     "saved states and snapshots need the qemu backend; "
			     "`vmctl stop NAME` stops the VM without saving it",
			     "the %s backend cannot %s", be->name, what);
}

/*
 * Start a VM whose state is saved: restore it if it still fits, else (or
 * with cold) discard it and boot. A restore that fails once QEMU runs is
 * also turned into a cold boot, with a warning: never a hung VM.
 */
static int start_saved(struct vmm_ctx *ctx, const struct vmm_backend_ops *be, struct vmm_vm *vm,
		       bool cold, enum vmm_start_result *result, struct vmm_error *err)
{
	char why[512] = "";
	unsigned *ports;
	size_t n;
	int rc;

	*result = VMM_START_COLD;
	if (cold || !be->restore || !be->saved_fits) {
		vmm_info(MOD, "VM '%s': discarding its saved state, booting cold", vm->name);
	} else if (be->saved_fits(ctx, vm, why, sizeof(why)) != 1) {
		vmm_warn(MOD, "VM '%s': its saved state cannot be restored (%s); booting cold",
			 vm->name, why);
	} else {
		struct vmm_error rerr;

		if ((rc = ports_taken(ctx, vm->name, &ports, &n, err)) < 0)
			return rc;
		vmm_error_clear(&rerr);
		rc = be->restore(ctx, vm, &(struct vmmi_ports_taken){ports, n}, &rerr);
		free(ports);
		if (rc == 0) {
			*result = VMM_START_RESTORED;
			return 0;
		}
		vmm_warn(MOD, "VM '%s': restoring its saved state failed (%s); booting cold",
			 vm->name, rerr.message);
	}
	if (be->saved_discard)
		be->saved_discard(ctx, vm);
	return boot(ctx, be, vm, err);
}

/* The common shape of start/stop/suspend/resume/save: lock the VM, read its
 * live state, check the transition, let the backend act, record the result. */
static int lifecycle_op_ex(struct vmm_ctx *ctx, const char *name, enum vmm_vm_op op,
			   unsigned timeout_s, const struct vmm_start_opts *sopts,
			   enum vmm_start_result *result, struct vmm_vm **out,
			   struct vmm_error *err);

static int lifecycle_op(struct vmm_ctx *ctx, const char *name, enum vmm_vm_op op,
			unsigned timeout_s, struct vmm_vm **out, struct vmm_error *err)
{
	return lifecycle_op_ex(ctx, name, op, timeout_s, NULL, NULL, out, err);
}

static int lifecycle_op_ex(struct vmm_ctx *ctx, const char *name, enum vmm_vm_op op,
			   unsigned timeout_s, const struct vmm_start_opts *sopts,
			   enum vmm_start_result *result, struct vmm_vm **out,
			   struct vmm_error *err)
{
	enum vmm_start_result started = VMM_START_BOOTED;
	const struct vmm_backend_ops *be;
	struct vmm_vm *vm = NULL;
	enum vmm_vm_state to;
	int lock, rc;

	if (out)
		*out = NULL;
	if ((lock = lock_recorded(ctx, name, &vm, err)) < 0)
		return lock;
	if ((rc = vmmi_vm_live_state(ctx, vm, err)) < 0)
		goto out;
	if ((rc = vmm_lifecycle_check(name, vm->state, op, &to, err)) < 0)
		goto out;
	be = vmmi_backend_for(vm->backend, err);
	if (!be) {
		rc = -(int)VMM_E_BACKEND;
		goto out;
	}
	/* Settings that are wrong fail before the VM is touched. */
	if (op == VMM_OP_START && be->check_start && (rc = be->check_start(vm, err)) < 0)
		goto out;
	switch (op) {
	case VMM_OP_START:
		if (vm->state == VMM_STATE_SAVED) {
			rc = start_saved(ctx, be, vm, sopts && sopts->cold, &started, err);
			break;
		}
		/* A state saved by a run that was not recorded as saved belongs
		 * to another disk than this one: never restore it later. */
		if (be->saved_discard)
			be->saved_discard(ctx, vm);
		rc = boot(ctx, be, vm, err);
		break;
	case VMM_OP_STOP:
		if (be->saved_discard)
			be->saved_discard(ctx, vm);
		rc = be->stop(ctx, vm, timeout_s, err);
		break;
	case VMM_OP_SAVE:
		rc = be->save ? be->save(ctx, vm, err) : not_available(be, "save a VM's state", err);
		break;
	case VMM_OP_SUSPEND:
		rc = be->suspend(ctx, vm, err);
		break;
	case VMM_OP_RESUME:
		rc = be->resume(ctx, vm, err);
		break;
	case VMM_OP_DESTROY:
		rc = vmm_error_set(err, VMM_E_INTERNAL, 0, NULL, "destroy is not a lifecycle_op");
		break;
	}
	if (rc < 0) {
		if (op == VMM_OP_START)
			record_failed_start(ctx, vm);
		goto out;
	}
	vm->state = to;
	if (result)
		*result = started;
	if (to == VMM_STATE_STOPPED || to == VMM_STATE_SAVED) {
		vm->pid = 0;
		vm->pid_starttime = 0;
	}
	if ((rc = store_put(ctx, vm, false, err)) < 0)
		goto out;
	vmm_info(MOD, "VM '%s': %s done, now %s", name, vmm_vm_op_name(op),
		 vmm_vm_state_name(to));
	if (out) {
		*out = vm;
		vm = NULL;
	}
out:
	vmm_vm_free(vm);
	vmmi_unlock(lock);
	return rc;
}

int vmm_vm_start(struct vmm_ctx *ctx, const char *name, struct vmm_vm **out,
		 struct vmm_error *err)
{
	return lifecycle_op(ctx, name, VMM_OP_START, 0, out, err);
}

int vmm_vm_start_ex(struct vmm_ctx *ctx, const char *name, const struct vmm_start_opts *opts,
		    struct vmm_vm **out, enum vmm_start_result *result, struct vmm_error *err)
{
	return lifecycle_op_ex(ctx, name, VMM_OP_START, 0, opts, result, out, err);
}

int vmm_vm_save(struct vmm_ctx *ctx, const char *name, struct vmm_vm **out,
		struct vmm_error *err)
{
	return lifecycle_op(ctx, name, VMM_OP_SAVE, 0, out, err);
}

int vmm_vm_stop(struct vmm_ctx *ctx, const char *name, unsigned timeout_s,
		struct vmm_vm **out, struct vmm_error *err)
{
	return lifecycle_op(ctx, name, VMM_OP_STOP, timeout_s, out, err);
}

int vmm_vm_suspend(struct vmm_ctx *ctx, const char *name, struct vmm_vm **out,
		   struct vmm_error *err)
{
	return lifecycle_op(ctx, name, VMM_OP_SUSPEND, 0, out, err);
}

int vmm_vm_resume(struct vmm_ctx *ctx, const char *name, struct vmm_vm **out,
		  struct vmm_error *err)
{
	return lifecycle_op(ctx, name, VMM_OP_RESUME, 0, out, err);
}

int vmm_vm_destroy(struct vmm_ctx *ctx, const char *name, struct vmm_error *err)
{
	const struct vmm_backend_ops *be;
	struct vmm_vm *vm = NULL;
	int lock, rc;

	if ((lock = lock_recorded(ctx, name, &vm, err)) < 0)
		return lock;
	if (!(be = vmmi_backend_for(vm->backend, err))) {
		rc = -(int)VMM_E_BACKEND;
		goto out;
	}
	if ((rc = be->destroy(ctx, vm, err)) < 0)
		goto out;
	/* Files first, then the entry: an interruption leaves an entry that a
	 * second destroy finishes, never files nobody knows about. What is
	 * removed is the VM's own directory, never a path from the record
	 * (the store refuses a work_dir that is not that directory). */
	if (vm->work_dir) {
		char *dir = vmm_paths_vm_dir(&ctx->paths, name);

		if (!dir) {
			rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
			goto out;
		}
		rc = vmmi_rm_rf(dir, err);
		free(dir);
		if (rc < 0)
			goto out;
	}
	if ((rc = store_edit(ctx, edit_remove, (void *)name, err)) < 0)
		goto out;
	vmm_info(MOD, "destroyed VM '%s'", name);
out:
	vmm_vm_free(vm);
	vmmi_unlock(lock);
	return rc;
}

int vmm_vm_console_endpoint(struct vmm_ctx *ctx, const struct vmm_vm *vm,
			    struct vmm_console_endpoint *out, struct vmm_error *err)
{
	const struct vmm_backend_ops *be = vmmi_backend_for(vm->backend, err);

	memset(out, 0, sizeof(*out));
	if (!be)
		return -(int)VMM_E_BACKEND;
	return be->console_endpoint(ctx, vm, out, err);
}

void vmm_console_endpoint_release(struct vmm_console_endpoint *ep)
{
	if (!ep)
		return;
	free(ep->path);
	ep->path = NULL;
	ep->kind = VMM_CONSOLE_NONE;
}

/* ---- snapshots ------------------------------------------------------------ */

enum snap_op { SNAP_CREATE, SNAP_LIST, SNAP_RESTORE, SNAP_DELETE };

/* Which states a snapshot operation takes; live: the VM's process runs. */
static int snapshot_state(const struct vmm_vm *vm, enum snap_op op, bool *live,
			  struct vmm_error *err)
{
	static const char *const verbs[] = {"snapshot", "list the snapshots of", "restore a snapshot of",
					    "delete a snapshot of"};

	switch (vm->state) {
	case VMM_STATE_RUNNING:
	case VMM_STATE_SUSPENDED:
		*live = true;
		return 0;
	case VMM_STATE_PREPARED:
	case VMM_STATE_STOPPED:
		*live = false;
		return 0;
	case VMM_STATE_SAVED:
		*live = false;
		if (op == SNAP_LIST)
			return 0;
		return vmm_error_set(err, VMM_E_INVALID_STATE, 0,
				     "its disk belongs to the saved state: `vmctl start NAME` "
				     "(or `vmctl start --cold NAME` to discard the state) first",
				     "cannot %s VM '%s': it is saved", verbs[op], vm->name);
	default:
		break;
	}
	return vmm_error_set(err, VMM_E_INVALID_STATE, 0,
			     "run `vmctl status NAME`; `vmctl stop NAME` cleans up a failed VM",
			     "cannot %s VM '%s': it is %s", verbs[op], vm->name,
			     vmm_vm_state_name(vm->state));
}

static bool snapshot_exists(const struct vmm_snapshot *s, size_t n, const char *tag,
			    const struct vmm_snapshot **found)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(s[i].tag, tag) == 0) {
			if (found)
				*found = &s[i];
			return true;
		}
	}
	return false;
}

/* A tag made of the time: "snap-YYYYMMDD-HHMMSS". */
static char *default_tag(void)
{
	char buf[32];
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "snap-%Y%m%d-%H%M%S", &tm);
	return strdup(buf);
}

/* Lock the VM, read its live state and check it for op; *be its backend. */
static int snapshot_begin(struct vmm_ctx *ctx, const char *name, enum snap_op op,
			  struct vmm_vm **vm, const struct vmm_backend_ops **be, bool *live,
			  struct vmm_error *err)
{
	int lock, rc;

	if ((lock = lock_recorded(ctx, name, vm, err)) < 0)
		return lock;
	if ((rc = vmmi_vm_live_state(ctx, *vm, err)) < 0 ||
	    (rc = snapshot_state(*vm, op, live, err)) < 0)
		goto fail;
	if (!(*be = vmmi_backend_for((*vm)->backend, err))) {
		rc = -(int)VMM_E_BACKEND;
		goto fail;
	}
	if (!(*be)->snapshot_list) {
		rc = not_available(*be, "take snapshots", err);
		goto fail;
	}
	return lock;
fail:
	vmm_vm_free(*vm);
	*vm = NULL;
	vmmi_unlock(lock);
	return rc;
}

int vmm_snapshot_list(struct vmm_ctx *ctx, const char *name, struct vmm_snapshot **out,
		      size_t *n, struct vmm_error *err)
{
	const struct vmm_backend_ops *be;
	struct vmm_vm *vm;
	bool live;
	int lock, rc;

	*out = NULL;
	*n = 0;
	if ((lock = snapshot_begin(ctx, name, SNAP_LIST, &vm, &be, &live, err)) < 0)
		return lock;
	rc = be->snapshot_list(ctx, vm, out, n, err);
	vmm_vm_free(vm);
	vmmi_unlock(lock);
	return rc;
}

int vmm_snapshot_create(struct vmm_ctx *ctx, const char *name, const char *tag, char **tag_out,
			struct vmm_error *err)
{
	const struct vmm_backend_ops *be;
	struct vmm_snapshot *snaps = NULL;
	struct vmm_vm *vm;
	char *t = NULL;
	size_t n = 0;
	bool live;
	int lock, rc;

	if (tag_out)
		*tag_out = NULL;
	if (tag && (rc = vmm_snapshot_tag_validate(tag, err)) < 0)
		return rc;
	if (!(t = tag ? strdup(tag) : default_tag()))
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	if ((lock = snapshot_begin(ctx, name, SNAP_CREATE, &vm, &be, &live, err)) < 0) {
		free(t);
		return lock;
	}
	if ((rc = be->snapshot_list(ctx, vm, &snaps, &n, err)) < 0)
		goto out;
	if (snapshot_exists(snaps, n, t, NULL)) {
		rc = vmm_error_set(err, VMM_E_INVALID_CONFIG, 0,
				   "choose another tag, or remove the old one with `vmctl snapshot "
				   "rm NAME TAG`",
				   "VM '%s' already has a snapshot tagged '%s'", name, t);
		goto out;
	}
	if ((rc = be->snapshot_create(ctx, vm, t, live, err)) < 0)
		goto out;
	vmm_info(MOD, "VM '%s': snapshot '%s' created (%s)", name, t,
		 live ? "disk and RAM" : "disk only");
	if (tag_out) {
		*tag_out = t;
		t = NULL;
	}
out:
	vmm_snapshot_list_free(snaps, n);
	free(t);
	vmm_vm_free(vm);
	vmmi_unlock(lock);
	return rc;
}

/* The snapshot tagged tag, or VMM_E_INVALID_CONFIG naming the VM. */
static int find_snapshot(struct vmm_ctx *ctx, const struct vmm_backend_ops *be,
			 const struct vmm_vm *vm, const char *tag, bool *ram,
			 struct vmm_error *err)
{
	struct vmm_snapshot *snaps = NULL;
	const struct vmm_snapshot *s = NULL;
	size_t n = 0;
	int rc;

	if ((rc = be->snapshot_list(ctx, vm, &snaps, &n, err)) < 0)
		return rc;
	if (!snapshot_exists(snaps, n, tag, &s))
		rc = vmm_error_set(err, VMM_E_INVALID_CONFIG, 0,
				   "run `vmctl snapshot list NAME` to see its snapshots",
				   "VM '%s' has no snapshot tagged '%s'", vm->name, tag);
	else if (ram)
		*ram = s->ram;
	vmm_snapshot_list_free(snaps, n);
	return rc;
}

int vmm_snapshot_restore(struct vmm_ctx *ctx, const char *name, const char *tag, bool *started,
			 struct vmm_error *err)
{
	const struct vmm_backend_ops *be;
	struct vmm_vm *vm;
	unsigned *ports = NULL;
	size_t n = 0;
	bool live, ram = false, st = false;
	int lock, rc;

	if (started)
		*started = false;
	if ((rc = vmm_snapshot_tag_validate(tag, err)) < 0)
		return rc;
	if ((lock = snapshot_begin(ctx, name, SNAP_RESTORE, &vm, &be, &live, err)) < 0)
		return lock;
	if ((rc = find_snapshot(ctx, be, vm, tag, &ram, err)) < 0)
		goto out;
	if (live && !ram) {
		rc = vmm_error_set(err, VMM_E_INVALID_STATE, 0,
				   "stop the VM first (`vmctl stop NAME`), then restore it",
				   "snapshot '%s' of VM '%s' holds the disk only: it cannot be "
				   "restored under a running VM",
				   tag, name);
		goto out;
	}
	if (!live && ram && be->check_start && (rc = be->check_start(vm, err)) < 0)
		goto out;
	if ((rc = ports_taken(ctx, vm->name, &ports, &n, err)) < 0)
		goto out;
	rc = be->snapshot_restore(ctx, vm, tag, live, &(struct vmmi_ports_taken){ports, n}, &st,
				  err);
	free(ports);
	if (rc < 0) {
		if (!live && ram)
			record_failed_start(ctx, vm);
		goto out;
	}
	if (st) {
		vm->state = VMM_STATE_RUNNING;
		if ((rc = store_put(ctx, vm, false, err)) < 0)
			goto out;
	}
	if (started)
		*started = st;
	vmm_info(MOD, "VM '%s': snapshot '%s' restored%s", name, tag, st ? ", VM started" : "");
out:
	vmm_vm_free(vm);
	vmmi_unlock(lock);
	return rc;
}

int vmm_snapshot_delete(struct vmm_ctx *ctx, const char *name, const char *tag,
			struct vmm_error *err)
{
	const struct vmm_backend_ops *be;
	struct vmm_vm *vm;
	bool live;
	int lock, rc;

	if ((rc = vmm_snapshot_tag_validate(tag, err)) < 0)
		return rc;
	if ((lock = snapshot_begin(ctx, name, SNAP_DELETE, &vm, &be, &live, err)) < 0)
		return lock;
	if ((rc = find_snapshot(ctx, be, vm, tag, NULL, err)) == 0 &&
	    (rc = be->snapshot_delete(ctx, vm, tag, live, err)) == 0)
		vmm_info(MOD, "VM '%s': snapshot '%s' deleted", name, tag);
	vmm_vm_free(vm);
	vmmi_unlock(lock);
	return rc;
}

/* ---- port forwards ------------------------------------------------------ */

/* Lock VM name for a change of its forwards; *live: its process runs (or
 * is paused), so the change is made on it too. */
static int forward_begin(struct vmm_ctx *ctx, const char *name, struct vmm_vm **vm,
			 const struct vmm_backend_ops **be, bool *live, struct vmm_error *err)
{
	enum vmm_vm_state recorded;
	int lock, rc;

	if ((lock = lock_recorded(ctx, name, vm, err)) < 0)
		return lock;
	recorded = (*vm)->state;
	if ((*vm)->network.type != VMM_NET_USER) {
		rc = vmm_error_set(err, VMM_E_INVALID_CONFIG, 0,
				   "forwards need user networking; reach a VM on a bridge at its "
				   "own address",
				   "VM '%s' uses %s networking: it has no port forwards", name,
				   vmm_net_type_name((*vm)->network.type));
		goto fail;
	}
	if (recorded == VMM_STATE_PREPARING) {
		rc = vmm_error_set(err, VMM_E_INVALID_STATE, 0,
				   "wait for the create to finish, or `vmctl destroy` an "
				   "interrupted one",
				   "VM '%s' is still being created", name);
		goto fail;
	}
	if (!(*be = vmmi_backend_for((*vm)->backend, err))) {
		rc = -(int)VMM_E_BACKEND;
		goto fail;
	}
	if ((rc = vmmi_vm_live_state(ctx, *vm, err)) < 0)
		goto fail;
	*live = (*vm)->state == VMM_STATE_RUNNING || (*vm)->state == VMM_STATE_SUSPENDED;
	(*vm)->state = recorded; /* what is recorded stays as it was */
	return lock;
fail:
	vmm_vm_free(*vm);
	*vm = NULL;
	vmmi_unlock(lock);
	return rc;
}

/* Record vm's forwards in its reservation file: fw[first..] checked (and
 * picked), the others kept. */
static int forwards_record(struct vmm_ctx *ctx, const struct vmm_backend_ops *be,
			   struct vmm_vm *vm, size_t first, struct vmm_error *err)
{
	unsigned *ports;
	size_t n;
	int rc;

	if (!be->host_ports)
		return 0;
	if ((rc = ports_taken(ctx, vm->name, &ports, &n, err)) < 0)
		return rc;
	rc = vmmi_forwards_reserve(&ctx->paths, vm->name, vm->ssh_host_port, vm->forwards,
				   vm->n_forwards, first, false, &(struct vmmi_ports_taken){ports, n},
				   err);
	free(ports);
	return rc;
}

int vmm_vm_forward_add(struct vmm_ctx *ctx, const char *name, const struct vmm_forward *fw,
		       struct vmm_forward *out, struct vmm_error *err)
{
	const struct vmm_backend_ops *be;
	struct vmm_forward *grown;
	struct vmm_error undo;
	struct vmm_vm *vm;
	size_t n;
	bool live = false;
	int lock, rc;

	if ((lock = forward_begin(ctx, name, &vm, &be, &live, err)) < 0)
		return lock;
	n = vm->n_forwards;
	for (size_t i = 0; i < n && fw->host_port; i++) {
		if (vm->forwards[i].host_port == fw->host_port && vm->forwards[i].udp == fw->udp) {
			char hint[VMM_ERROR_HINT_MAX];

			snprintf(hint, sizeof(hint),
				 "remove it first (`vmctl port %s --rm %u%s`), or pick another host "
				 "port",
				 name, fw->host_port, fw->udp ? "/udp" : "");
			rc = vmm_error_set(err, VMM_E_INVALID_CONFIG, 0, hint,
					   "VM '%s' already forwards host port %u/%s (to guest port "
					   "%u)",
					   name, fw->host_port, vmm_forward_proto(fw),
					   vm->forwards[i].guest_port);
			goto out;
		}
	}
	if (!(grown = realloc(vm->forwards, (n + 1) * sizeof(*grown)))) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto out;
	}
	vm->forwards = grown;
	grown[n] = *fw;
	grown[n].auto_port = fw->host_port == 0;
	vm->n_forwards = n + 1;
	if ((rc = vmm_forwards_check(vm->forwards, n + 1, vm->network.type, err)) < 0 ||
	    (rc = forwards_record(ctx, be, vm, n, err)) < 0)
		goto out;
	if (live && be->forward_live && (rc = be->forward_live(ctx, vm, &grown[n], true, err)) < 0)
		goto undo;
	if ((rc = store_put(ctx, vm, false, err)) < 0) {
		if (live && be->forward_live)
			be->forward_live(ctx, vm, &grown[n], false, &undo);
		goto undo;
	}
	vmm_info(MOD, "VM '%s': forwarding host port %u/%s to guest port %u%s", name,
		 grown[n].host_port, vmm_forward_proto(&grown[n]), grown[n].guest_port,
		 live ? "" : " from its next start");
	if (out)
		*out = grown[n];
	goto out;
undo:
	vm->n_forwards = n; /* the reservation as it was */
	forwards_record(ctx, be, vm, n, &undo);
out:
	vmm_vm_free(vm);
	vmmi_unlock(lock);
	return rc;
}

int vmm_vm_forward_remove(struct vmm_ctx *ctx, const char *name, unsigned host_port, bool udp,
			  struct vmm_forward *out, struct vmm_error *err)
{
	const struct vmm_backend_ops *be;
	struct vmm_forward gone;
	struct vmm_vm *vm;
	size_t i;
	bool live = false;
	int lock, rc;

	if ((lock = forward_begin(ctx, name, &vm, &be, &live, err)) < 0)
		return lock;
	for (i = 0; i < vm->n_forwards; i++)
		if (vm->forwards[i].host_port == host_port && vm->forwards[i].udp == udp)
			break;
	if (i == vm->n_forwards) {
		char hint[VMM_ERROR_HINT_MAX];

		snprintf(hint, sizeof(hint), "`vmctl port %s` lists its forwards", name);
		rc = vmm_error_set(err, VMM_E_INVALID_CONFIG, 0, hint,
				   "VM '%s' forwards no host port %u/%s", name, host_port,
				   udp ? "udp" : "tcp");
		goto out;
	}
	gone = vm->forwards[i];
	if (live && be->forward_live && (rc = be->forward_live(ctx, vm, &gone, false, err)) < 0)
		goto out;
	memmove(&vm->forwards[i], &vm->forwards[i + 1],
		(vm->n_forwards - i - 1) * sizeof(*vm->forwards));
	vm->n_forwards--;
	if ((rc = store_put(ctx, vm, false, err)) < 0 ||
	    (rc = forwards_record(ctx, be, vm, vm->n_forwards, err)) < 0)
		goto out;
	vmm_info(MOD, "VM '%s': host port %u/%s no longer forwarded", name, host_port,
		 udp ? "udp" : "tcp");
	if (out)
		*out = gone;
out:
	vmm_vm_free(vm);
	vmmi_unlock(lock);
	return rc;
}
