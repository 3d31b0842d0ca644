/* SPDX-License-Identifier: MIT */
/*
 * The noop backend: every operation succeeds at once and changes nothing
 * outside the VM's work directory. It lets the whole lifecycle, the store
 * and the CLI run without a hypervisor (tests: VMCTL_BACKEND=noop).
 */
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
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
};
