/* SPDX-License-Identifier: MIT */
/* Core VM types: states, the lifecycle table, names, handles. */
#include "vmm/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "core/util.h"

static const char *const state_names[] = {
	[VMM_STATE_PREPARING] = "preparing", [VMM_STATE_PREPARED] = "prepared",
	[VMM_STATE_RUNNING] = "running",     [VMM_STATE_SUSPENDED] = "suspended",
	[VMM_STATE_STOPPED] = "stopped",     [VMM_STATE_FAILED] = "failed",
	[VMM_STATE_DESTROYED] = "destroyed",
};

static const char *const op_names[] = {
	[VMM_OP_START] = "start",     [VMM_OP_STOP] = "stop",       [VMM_OP_SUSPEND] = "suspend",
	[VMM_OP_RESUME] = "resume",   [VMM_OP_DESTROY] = "destroy",
};

const char *vmm_vm_state_name(enum vmm_vm_state s)
{
	if ((unsigned)s >= VMMI_ARRAY_SIZE(state_names))
		return "unknown";
	return state_names[s];
}

int vmm_vm_state_parse(const char *s, enum vmm_vm_state *out)
{
	for (unsigned i = 0; i < VMMI_ARRAY_SIZE(state_names); i++) {
		if (strcmp(s, state_names[i]) == 0) {
			*out = (enum vmm_vm_state)i;
			return 0;
		}
	}
	return -1;
}

const char *vmm_vm_op_name(enum vmm_vm_op op)
{
	if ((unsigned)op >= VMMI_ARRAY_SIZE(op_names))
		return "unknown";
	return op_names[op];
}

/*
 * The lifecycle table. A row per operation: the states it may start from
 * and the state it leads to. Failed VMs may be started again (a failed start
 * leaves nothing running) and stopped (to clean up a half-dead process).
 */
struct transition {
	unsigned from_mask;
	enum vmm_vm_state to;
};

#define S(x) (1u << VMM_STATE_##x)
static const struct transition transitions[] = {
	[VMM_OP_START] = {S(PREPARED) | S(STOPPED) | S(FAILED), VMM_STATE_RUNNING},
	[VMM_OP_STOP] = {S(RUNNING) | S(SUSPENDED) | S(FAILED), VMM_STATE_STOPPED},
	[VMM_OP_SUSPEND] = {S(RUNNING), VMM_STATE_SUSPENDED},
	[VMM_OP_RESUME] = {S(SUSPENDED), VMM_STATE_RUNNING},
	[VMM_OP_DESTROY] = {~0u, VMM_STATE_DESTROYED},
};
#undef S

static const char *invalid_hint(enum vmm_vm_state from, enum vmm_vm_op op)
{
	switch (op) {
	case VMM_OP_START:
		if (from == VMM_STATE_RUNNING)
			return "it is already running; `vmctl stop NAME` first to restart it";
		if (from == VMM_STATE_SUSPENDED)
			return "it is paused: run `vmctl resume NAME`";
		break;
	case VMM_OP_STOP:
	case VMM_OP_SUSPEND:
		if (from == VMM_STATE_PREPARED || from == VMM_STATE_STOPPED)
			return "it is not running: run `vmctl start NAME` first";
		if (from == VMM_STATE_SUSPENDED)
			return "it is already paused: run `vmctl resume NAME` to continue it";
		break;
	case VMM_OP_RESUME:
		if (from == VMM_STATE_RUNNING)
			return "it is already running";
		return "only a suspended VM can be resumed; `vmctl start NAME` boots a stopped one";
	case VMM_OP_DESTROY:
		break;
	}
	if (from == VMM_STATE_PREPARING)
		return "it is still being created; if that was interrupted, `vmctl destroy NAME` "
		       "removes it";
	return "run `vmctl status NAME` to see the VM's state";
}

int vmm_lifecycle_check(const char *vm_name, enum vmm_vm_state from, enum vmm_vm_op op,
			enum vmm_vm_state *to, struct vmm_error *err)
{
	if ((unsigned)op >= VMMI_ARRAY_SIZE(transitions))
		return vmm_error_set(err, VMM_E_INTERNAL, 0, NULL, "unknown operation %d", (int)op);
	if ((unsigned)from < 32 && (transitions[op].from_mask & (1u << from))) {
		if (to)
			*to = transitions[op].to;
		return 0;
	}
	return vmm_error_set(err, VMM_E_INVALID_STATE, 0, invalid_hint(from, op),
			     "cannot %s VM '%s': it is %s", vmm_vm_op_name(op), vm_name,
			     vmm_vm_state_name(from));
}

int vmm_vm_name_validate(const char *name, struct vmm_error *err)
{
	size_t len;

	if (!name || !*name)
		return vmm_error_set(err, VMM_E_VM_INVALID_NAME, 0, NULL, "VM name is empty");
	len = strlen(name);
	if (len > VMM_NAME_MAX)
		return vmm_error_set(err, VMM_E_VM_INVALID_NAME, 0, NULL,
				     "VM name '%.20s...' is %zu characters long; the limit is %d",
				     name, len, VMM_NAME_MAX);
	if (name[0] == '.' || name[0] == '-')
		return vmm_error_set(err, VMM_E_VM_INVALID_NAME, 0, NULL,
				     "VM name '%s' must not start with '%c'", name, name[0]);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-')
			continue;
		if (c < 0x20 || c >= 0x7f)
			return vmm_error_set(err, VMM_E_VM_INVALID_NAME, 0, NULL,
					     "VM name contains the byte 0x%02x at position %zu", c,
					     i + 1);
		return vmm_error_set(err, VMM_E_VM_INVALID_NAME, 0, NULL,
				     "VM name '%s' contains '%c' at position %zu", name, c, i + 1);
	}
	return 0;
}

static const char *const backend_names[] = {
	[VMM_BACKEND_NOOP] = "noop",
	[VMM_BACKEND_QEMU] = "qemu",
	[VMM_BACKEND_PROPOLIS] = "propolis",
};

const char *vmm_backend_name(enum vmm_backend_tag t)
{
	if ((unsigned)t >= VMMI_ARRAY_SIZE(backend_names))
		return "unknown";
	return backend_names[t];
}

int vmm_backend_parse(const char *s, enum vmm_backend_tag *out)
{
	for (unsigned i = 0; i < VMMI_ARRAY_SIZE(backend_names); i++) {
		if (strcmp(s, backend_names[i]) == 0) {
			*out = (enum vmm_backend_tag)i;
			return 0;
		}
	}
	return -1;
}

static const char *const net_names[] = {
	[VMM_NET_USER] = "user",
	[VMM_NET_TAP] = "tap",
	[VMM_NET_VNIC] = "vnic",
	[VMM_NET_NONE] = "none",
};

const char *vmm_net_type_name(enum vmm_net_type t)
{
	if ((unsigned)t >= VMMI_ARRAY_SIZE(net_names))
		return "unknown";
	return net_names[t];
}

int vmm_net_type_parse(const char *s, enum vmm_net_type *out)
{
	for (unsigned i = 0; i < VMMI_ARRAY_SIZE(net_names); i++) {
		if (strcmp(s, net_names[i]) == 0) {
			*out = (enum vmm_net_type)i;
			return 0;
		}
	}
	return -1;
}

void vmm_vm_spec_init(struct vmm_vm_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	spec->vcpus = 1;
	spec->memory_mb = 1024;
	spec->network.type = VMM_NET_USER;
}

struct vmm_vm *vmm_vm_new(void)
{
	struct vmm_vm *vm = calloc(1, sizeof(*vm));

	if (vm) {
		vm->vcpus = 1;
		vm->memory_mb = 1024;
		vm->state = VMM_STATE_PREPARED;
	}
	return vm;
}

void vmm_vm_free(struct vmm_vm *vm)
{
	if (!vm)
		return;
	free(vm->id);
	free(vm->name);
	free(vm->work_dir);
	free(vm->image_path);
	free(vm->image_url);
	free(vm->overlay_path);
	free(vm->seed_iso_path);
	free(vm->qmp_socket);
	free(vm->console_socket);
	free(vm->vnc_addr);
	free(vm->network.bridge);
	free(vm->network.vnic);
	free(vm->mac_addr);
	free(vm->ssh_user);
	free(vm->ssh_key_path);
	free(vm->created_at);
	vmmi_vm_extra_free(vm->extra);
	free(vm);
}

struct vmm_vm *vmm_vm_dup(const struct vmm_vm *src)
{
	struct vmm_vm *vm;
	bool oom = false;

	if (!src || !(vm = malloc(sizeof(*vm))))
		return NULL;
	*vm = *src;
#define DUP(f)                                      \
	do {                                        \
		vm->f = src->f ? strdup(src->f) : NULL; \
		if (src->f && !vm->f)               \
			oom = true;                 \
	} while (0)
	DUP(id);
	DUP(name);
	DUP(work_dir);
	DUP(image_path);
	DUP(image_url);
	DUP(overlay_path);
	DUP(seed_iso_path);
	DUP(qmp_socket);
	DUP(console_socket);
	DUP(vnc_addr);
	DUP(network.bridge);
	DUP(network.vnic);
	DUP(mac_addr);
	DUP(ssh_user);
	DUP(ssh_key_path);
	DUP(created_at);
#undef DUP
	vm->extra = vmmi_vm_extra_dup(src->extra);
	if (src->extra && !vm->extra)
		oom = true;
	if (oom) {
		vmm_vm_free(vm);
		return NULL;
	}
	return vm;
}

void vmm_vm_list_free(struct vmm_vm **vms, size_t n)
{
	if (!vms)
		return;
	for (size_t i = 0; i < n; i++)
		vmm_vm_free(vms[i]);
	free(vms);
}
