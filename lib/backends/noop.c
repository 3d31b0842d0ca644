/* SPDX-License-Identifier: MIT */
/*
 * The noop backend: every operation succeeds at once and changes nothing
 * outside the VM's work directory. It lets the whole lifecycle, the store
 * and the CLI run without a hypervisor (tests: VMCTL_BACKEND=noop). Its
 * snapshots are lines "TAG<TAB>DATE" in the work directory's
 * noop-snapshots, so that listing and removing them can be tested.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/backend.h"
#include "core/util.h"
#include "vmm/log.h"

#define MOD "noop"

static int noop_prepare(struct vmm_ctx *ctx, const struct vmm_vm_spec *spec, struct vmm_vm *vm,
			const struct vmmi_phases *ph, struct vmm_error *err)
{
	(void)ctx;
	(void)spec;
	(void)ph;
	(void)err;
	vmm_debug(MOD, "prepare '%s'", vm->name);
	return 0;
}

static int noop_start(struct vmm_ctx *ctx, struct vmm_vm *vm, const struct vmmi_ports_taken *taken,
		      struct vmm_error *err)
{
	(void)ctx;
	(void)taken;
	(void)err;
	vmm_debug(MOD, "start '%s'", vm->name);
	return 0;
}

static int noop_stop(struct vmm_ctx *ctx, struct vmm_vm *vm, unsigned timeout_s,
		     struct vmm_error *err)
{
	(void)ctx;
	(void)err;
	vmm_debug(MOD, "stop '%s' (timeout %us)", vm->name, timeout_s);
	return 0;
}

static int noop_suspend(struct vmm_ctx *ctx, struct vmm_vm *vm, struct vmm_error *err)
{
	(void)ctx;
	(void)err;
	vmm_debug(MOD, "suspend '%s'", vm->name);
	return 0;
}

static int noop_resume(struct vmm_ctx *ctx, struct vmm_vm *vm, struct vmm_error *err)
{
	(void)ctx;
	(void)err;
	vmm_debug(MOD, "resume '%s'", vm->name);
	return 0;
}

static int noop_destroy(struct vmm_ctx *ctx, struct vmm_vm *vm, struct vmm_error *err)
{
	(void)ctx;
	(void)err;
	vmm_debug(MOD, "destroy '%s'", vm->name);
	return 0;
}

/* Nothing runs, so the recorded state is the truth. */
static int noop_state(struct vmm_ctx *ctx, const struct vmm_vm *vm, enum vmm_vm_state *out,
		      struct vmm_error *err)
{
	(void)ctx;
	(void)err;
	*out = vm->state;
	return 0;
}

static int noop_guest_ip(struct vmm_ctx *ctx, const struct vmm_vm *vm, char **ip,
			 struct vmm_error *err)
{
	(void)ctx;
	*ip = NULL;
	/* Not a discovery that timed out: there is nothing to discover. */
	return vmm_error_set(err, VMM_E_BACKEND, 0,
			     "the noop backend runs no guest; create the VM with the qemu backend "
			     "to reach it over SSH",
			     "VM '%s' has no guest to reach (noop backend)", vm->name);
}

static int noop_console_endpoint(struct vmm_ctx *ctx, const struct vmm_vm *vm,
				 struct vmm_console_endpoint *out, struct vmm_error *err)
{
	(void)ctx;
	(void)vm;
	(void)err;
	out->kind = VMM_CONSOLE_NONE;
	out->path = NULL;
	return 0;
}

static int noop_save(struct vmm_ctx *ctx, struct vmm_vm *vm, struct vmm_error *err)
{
	(void)ctx;
	(void)err;
	vmm_debug(MOD, "save '%s'", vm->name);
	return 0;
}

/* There is nothing to restore, so nothing that could not fit. */
static int noop_saved_fits(struct vmm_ctx *ctx, const struct vmm_vm *vm, char *why, size_t n)
{
	(void)ctx;
	(void)vm;
	(void)why;
	(void)n;
	return 1;
}

static int noop_restore(struct vmm_ctx *ctx, struct vmm_vm *vm,
			const struct vmmi_ports_taken *taken, struct vmm_error *err)
{
	(void)ctx;
	(void)taken;
	(void)err;
	vmm_debug(MOD, "restore '%s'", vm->name);
	return 0;
}

static void noop_saved_discard(struct vmm_ctx *ctx, const struct vmm_vm *vm)
{
	(void)ctx;
	(void)vm;
}

static char *snapshots_path(const struct vmm_vm *vm)
{
	return vm->work_dir ? vmmi_path_join(vm->work_dir, "noop-snapshots") : NULL;
}

static int noop_snapshot_list(struct vmm_ctx *ctx, const struct vmm_vm *vm,
			      struct vmm_snapshot **out, size_t *n, struct vmm_error *err)
{
	char *path = snapshots_path(vm), *data = NULL, *line, *save = NULL;
	size_t len, cap = 0;

	(void)ctx;
	*out = NULL;
	*n = 0;
	if (!path)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	if (vmmi_read_file(path, &data, &len, NULL) < 0) {
		free(path);
		return 0; /* none yet */
	}
	free(path);
	for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *tab = strchr(line, '\t');

		if (*n == cap) {
			struct vmm_snapshot *v = realloc(*out, (cap = cap ? 2 * cap : 8) * sizeof(*v));

			if (!v)
				goto oom;
			*out = v;
		}
		if (tab)
			*tab = '\0';
		(*out)[*n] = (struct vmm_snapshot){strdup(line), tab ? strdup(tab + 1) : NULL, 0,
						   false};
		if (!(*out)[(*n)++].tag)
			goto oom;
	}
	free(data);
	return 0;
oom:
	free(data);
	vmm_snapshot_list_free(*out, *n);
	*out = NULL;
	*n = 0;
	return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
}

/* Write the list back without `drop` and with `add` (each may be NULL). */
static int snapshots_write(struct vmm_ctx *ctx, const struct vmm_vm *vm, const char *drop,
			   const char *add, struct vmm_error *err)
{
	struct vmm_snapshot *s;
	struct vmmi_buf b;
	char *path;
	size_t n;
	int rc;

	if ((rc = noop_snapshot_list(ctx, vm, &s, &n, err)) < 0)
		return rc;
	vmmi_buf_init(&b);
	for (size_t i = 0; i < n; i++)
		if (!drop || strcmp(s[i].tag, drop) != 0)
			vmmi_buf_printf(&b, "%s\t%s\n", s[i].tag, s[i].date ? s[i].date : "");
	if (add) {
		char now[VMMI_RFC3339_LEN];

		vmmi_rfc3339_now(now, false);
		vmmi_buf_printf(&b, "%s\t%s\n", add, now);
	}
	vmm_snapshot_list_free(s, n);
	if (!(path = snapshots_path(vm)))
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	else
		rc = vmmi_write_file_atomic(path, b.data ? b.data : "", b.len, 0600, err);
	free(path);
	vmmi_buf_release(&b);
	return rc;
}

static int noop_snapshot_create(struct vmm_ctx *ctx, struct vmm_vm *vm, const char *tag,
				bool live, struct vmm_error *err)
{
	(void)live;
	return snapshots_write(ctx, vm, NULL, tag, err);
}

static int noop_snapshot_restore(struct vmm_ctx *ctx, struct vmm_vm *vm, const char *tag,
				 bool live, const struct vmmi_ports_taken *taken, bool *started,
				 struct vmm_error *err)
{
	(void)ctx;
	(void)live;
	(void)taken;
	(void)err;
	*started = false;
	vmm_debug(MOD, "restore snapshot '%s' of '%s'", tag, vm->name);
	return 0;
}

static int noop_snapshot_delete(struct vmm_ctx *ctx, struct vmm_vm *vm, const char *tag,
				bool live, struct vmm_error *err)
{
	(void)live;
	return snapshots_write(ctx, vm, tag, NULL, err);
}

const struct vmm_backend_ops vmmi_backend_noop = {
	.tag = VMM_BACKEND_NOOP,
	.name = "noop",
	.prepare = noop_prepare,
	.start = noop_start,
	.stop = noop_stop,
	.suspend = noop_suspend,
	.resume = noop_resume,
	.destroy = noop_destroy,
	.state = noop_state,
	.guest_ip = noop_guest_ip,
	.console_endpoint = noop_console_endpoint,
	.save = noop_save,
	.saved_fits = noop_saved_fits,
	.restore = noop_restore,
	.saved_discard = noop_saved_discard,
	.snapshot_create = noop_snapshot_create,
	.snapshot_list = noop_snapshot_list,
	.snapshot_restore = noop_snapshot_restore,
	.snapshot_delete = noop_snapshot_delete,
};
