/* SPDX-License-Identifier: MIT */
/* Core VM types: states, the lifecycle table, names, handles (copied, freed
 * and put in their JSON form by the field table, store/fields.h). */
#include "vmm/vm.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/fields.h"

static const char *const state_names[] = {
	[VMM_STATE_PREPARING] = "preparing", [VMM_STATE_PREPARED] = "prepared",
	[VMM_STATE_RUNNING] = "running",     [VMM_STATE_SUSPENDED] = "suspended",
	[VMM_STATE_STOPPED] = "stopped",     [VMM_STATE_FAILED] = "failed",
	[VMM_STATE_DESTROYED] = "destroyed", [VMM_STATE_SAVED] = "saved",
	[VMM_STATE_UNKNOWN] = "unknown",
};

static const char *const op_names[] = {
	[VMM_OP_START] = "start",     [VMM_OP_STOP] = "stop",       [VMM_OP_SUSPEND] = "suspend",
	[VMM_OP_RESUME] = "resume",   [VMM_OP_DESTROY] = "destroy",
	[VMM_OP_SAVE] = "save",
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
	[VMM_OP_START] = {S(PREPARED) | S(STOPPED) | S(FAILED) | S(SAVED), VMM_STATE_RUNNING},
	[VMM_OP_STOP] = {S(RUNNING) | S(SUSPENDED) | S(FAILED) | S(SAVED), VMM_STATE_STOPPED},
	[VMM_OP_SUSPEND] = {S(RUNNING), VMM_STATE_SUSPENDED},
	[VMM_OP_RESUME] = {S(SUSPENDED), VMM_STATE_RUNNING},
	[VMM_OP_DESTROY] = {~0u, VMM_STATE_DESTROYED},
	[VMM_OP_SAVE] = {S(RUNNING) | S(SUSPENDED), VMM_STATE_SAVED},
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
		if (from == VMM_STATE_SAVED)
			return "its state is saved: `vmctl start NAME` restores it";
		if (from == VMM_STATE_SUSPENDED)
			return "it is already paused: run `vmctl resume NAME` to continue it";
		break;
	case VMM_OP_RESUME:
		if (from == VMM_STATE_RUNNING)
			return "it is already running";
		return "only a suspended VM can be resumed; `vmctl start NAME` boots a stopped one";
	case VMM_OP_SAVE:
		if (from == VMM_STATE_SAVED)
			return "its state is already saved: `vmctl start NAME` restores it";
		return "only a running VM has a state to save: `vmctl start NAME` first";
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

/* A name that becomes a file or directory name: `what` says which kind. */
static int name_validate(const char *what, enum vmm_errcode code, const char *name,
			 struct vmm_error *err)
{
	size_t len;

	if (!name || !*name)
		return vmm_error_set(err, code, 0, NULL, "%s is empty", what);
	len = strlen(name);
	if (len > VMM_NAME_MAX)
		return vmm_error_set(err, code, 0, NULL,
				     "%s '%.20s...' is %zu characters long; the limit is %d",
				     what, name, len, VMM_NAME_MAX);
	if (name[0] == '.' || name[0] == '-')
		return vmm_error_set(err, code, 0, NULL,
				     "%s '%s' must not start with '%c'", what, name, name[0]);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-')
			continue;
		if (c < 0x20 || c >= 0x7f)
			return vmm_error_set(err, code, 0, NULL,
					     "%s contains the byte 0x%02x at position %zu", what, c,
					     i + 1);
		return vmm_error_set(err, code, 0, NULL,
				     "%s '%s' contains '%c' at position %zu", what, name, c, i + 1);
	}
	return 0;
}

int vmm_vm_name_validate(const char *name, struct vmm_error *err)
{
	return name_validate("VM name", VMM_E_VM_INVALID_NAME, name, err);
}

int vmm_snapshot_tag_validate(const char *tag, struct vmm_error *err)
{
	int rc = name_validate("snapshot tag", VMM_E_INVALID_CONFIG, tag, err);

	if (rc < 0 && err)
		snprintf(err->hint, sizeof(err->hint),
			 "a tag is 1 to %d of A-Z a-z 0-9 . _ -, not starting with '.' or '-'",
			 VMM_NAME_MAX);
	return rc;
}

static const char *const backend_names[] = {
	[VMM_BACKEND_NOOP] = "noop",
	[VMM_BACKEND_QEMU] = "qemu",
	[VMM_BACKEND_PROPOLIS] = "propolis",
	[VMM_BACKEND_LIBVIRT] = "libvirt",
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

/* ---- the field table ---------------------------------------------------- */

/* Each row's member has the type its kind says, and an integer's range fits
 * its member. */
#define CHECK_NAME(m) CHECK_STR(m)
#define CHECK_STR(m)                                                                    \
	_Static_assert(__builtin_types_compatible_p(__typeof__(((struct vmm_vm *)0)->m),  \
						    char *),                              \
		       #m " is a string");
#define CHECK_INT(m, min, max)                                                          \
	_Static_assert((__typeof__(((struct vmm_vm *)0)->m))(max) == (max) &&            \
			       (__typeof__(((struct vmm_vm *)0)->m))(min) == (min),      \
		       #m " holds its range");
#define CHECK_BACKEND(m)                                                                \
	_Static_assert(__builtin_types_compatible_p(__typeof__(((struct vmm_vm *)0)->m),  \
						    enum vmm_backend_tag),                \
		       #m " is a backend");
#define CHECK_STATE(m)                                                                  \
	_Static_assert(__builtin_types_compatible_p(__typeof__(((struct vmm_vm *)0)->m),  \
						    enum vmm_vm_state),                   \
		       #m " is a state");
#define CHECK_NET(m)                                                                    \
	_Static_assert(__builtin_types_compatible_p(__typeof__(((struct vmm_vm *)0)->m),  \
						    struct vmm_network),                  \
		       #m " is a network");
#define CHECK_ARGS_INT(m, min, max) CHECK_INT(m, min, max)
#define CHECK_ARGS_NAME(m, min, max) CHECK_NAME(m)
#define CHECK_ARGS_STR(m, min, max) CHECK_STR(m)
#define CHECK_ARGS_BACKEND(m, min, max) CHECK_BACKEND(m)
#define CHECK_ARGS_STATE(m, min, max) CHECK_STATE(m)
#define CHECK_ARGS_NET(m, min, max) CHECK_NET(m)
#define CHECK(kind, m, key, cli_key, min, max, dflt) CHECK_ARGS_##kind(m, min, max)
VMMI_VM_FIELDS(CHECK)
#undef CHECK

#define NET_CHECK(m, key, type, dflt)                                                   \
	_Static_assert(__builtin_types_compatible_p(                                      \
			       __typeof__(((struct vmm_network *)0)->m), char *),          \
		       #m " is a string");
VMMI_NET_FIELDS(NET_CHECK)
#undef NET_CHECK

#define ROW(kind, m, key, cli_key, min, max, dflt)                                       \
	[VMMI_F_##m] = {key, cli_key, VMMI_FK_##kind, offsetof(struct vmm_vm, m), min, max, dflt},
const struct vmmi_vm_field vmmi_vm_fields[VMMI_F__COUNT] = {VMMI_VM_FIELDS(ROW)};
#undef ROW

#define NET_ROW(m, key, type, dflt)                                                      \
	[VMMI_NF_##m] = {key, type, offsetof(struct vmm_network, m), dflt},
const struct vmmi_net_field vmmi_net_fields[VMMI_NF__COUNT] = {VMMI_NET_FIELDS(NET_ROW)};
#undef NET_ROW

const char *vmmi_net_type_store_name(enum vmm_net_type t)
{
	static const char *const names[] = {
		[VMM_NET_USER] = "User",
		[VMM_NET_TAP] = "Tap",
		[VMM_NET_VNIC] = "Vnic",
		[VMM_NET_NONE] = "None",
	};

	return (unsigned)t < VMMI_ARRAY_SIZE(names) ? names[t] : "User";
}

/* The integer members by id, each through its own type. */
#define GET_INT(m) case VMMI_F_##m: return (long long)vm->m;
#define SET_INT(m) case VMMI_F_##m: vm->m = (__typeof__(vm->m))v; break;
#define IF_INT_INT(op, m) op(m)
#define IF_INT_NAME(op, m)
#define IF_INT_STR(op, m)
#define IF_INT_BACKEND(op, m)
#define IF_INT_STATE(op, m)
#define IF_INT_NET(op, m)
#define GET(kind, m, ...) IF_INT_##kind(GET_INT, m)
#define SET(kind, m, ...) IF_INT_##kind(SET_INT, m)

long long vmmi_vm_int_get(const struct vmm_vm *vm, enum vmmi_vm_field_id id)
{
	switch (id) {
	VMMI_VM_FIELDS(GET)
	default:
		return 0;
	}
}

void vmmi_vm_int_set(struct vmm_vm *vm, enum vmmi_vm_field_id id, long long v)
{
	switch (id) {
	VMMI_VM_FIELDS(SET)
	default:
		break;
	}
}

struct vmm_vm *vmm_vm_new(void)
{
	struct vmm_vm *vm = calloc(1, sizeof(*vm));

	if (!vm)
		return NULL;
	for (int i = 0; i < VMMI_F__COUNT; i++)
		if (vmmi_vm_fields[i].kind == VMMI_FK_INT)
			vmmi_vm_int_set(vm, (enum vmmi_vm_field_id)i, vmmi_vm_fields[i].dflt);
	vm->state = VMM_STATE_PREPARED;
	vm->network.type = VMM_NET_USER;
	return vm;
}

void vmm_vm_free(struct vmm_vm *vm)
{
	if (!vm)
		return;
	for (int i = 0; i < VMMI_F__COUNT; i++)
		if (vmmi_vm_fields[i].kind == VMMI_FK_STR || vmmi_vm_fields[i].kind == VMMI_FK_NAME)
			free(*vmmi_vm_str(vm, &vmmi_vm_fields[i]));
	for (int i = 0; i < VMMI_NF__COUNT; i++)
		free(*vmmi_net_str(&vm->network, &vmmi_net_fields[i]));
	json_decref((json_t *)vm->extra);
	free(vm);
}

/* *slot = a copy of s; false when out of memory. */
static bool dup_str(char **slot, const char *s)
{
	*slot = s ? strdup(s) : NULL;
	return !s || *slot;
}

struct vmm_vm *vmm_vm_dup(const struct vmm_vm *src)
{
	struct vmm_vm *vm;
	bool ok = true;

	if (!src || !(vm = malloc(sizeof(*vm))))
		return NULL;
	*vm = *src;
	/* Every pointer is replaced, even after a failure, before any is freed. */
	for (int i = 0; i < VMMI_F__COUNT; i++) {
		const struct vmmi_vm_field *f = &vmmi_vm_fields[i];

		if (f->kind == VMMI_FK_STR || f->kind == VMMI_FK_NAME)
			ok &= dup_str(vmmi_vm_str(vm, f), vmmi_vm_str_get(src, f));
	}
	for (int i = 0; i < VMMI_NF__COUNT; i++)
		ok &= dup_str(vmmi_net_str(&vm->network, &vmmi_net_fields[i]),
			      vmmi_net_str_get(&src->network, &vmmi_net_fields[i]));
	vm->extra = src->extra ? json_deep_copy((const json_t *)src->extra) : NULL;
	if (src->extra && !vm->extra)
		ok = false;
	if (!ok) {
		vmm_vm_free(vm);
		return NULL;
	}
	return vm;
}

static json_t *network_to_json(const struct vmm_network *net, enum vmmi_vm_json_form form)
{
	bool store = form == VMMI_JSON_STORE;
	json_t *o = json_object();

	if (!o || json_object_set_new(o, "type",
				      json_string(store ? vmmi_net_type_store_name(net->type)
							: vmm_net_type_name(net->type))) < 0)
		goto fail;
	for (int i = 0; i < VMMI_NF__COUNT; i++) {
		const struct vmmi_net_field *f = &vmmi_net_fields[i];
		const char *s = vmmi_net_str_get(net, f);
		json_t *v;

		if (f->type != net->type)
			continue;
		if (store)
			v = json_string(s ? s : f->dflt ? f->dflt : "");
		else
			v = s ? json_string(s) : json_null();
		if (json_object_set_new(o, f->key, v) < 0)
			goto fail;
	}
	return o;
fail:
	json_decref(o);
	return NULL;
}

struct json_t *vmmi_vm_json(const struct vmm_vm *vm, enum vmmi_vm_json_form form)
{
	bool store = form == VMMI_JSON_STORE;
	json_t *o = store && vm->extra ? json_deep_copy(vm->extra) : json_object();

	if (!o)
		return NULL;
	for (int i = 0; i < VMMI_F__COUNT; i++) {
		const struct vmmi_vm_field *f = &vmmi_vm_fields[i];
		const char *key = store ? f->key : f->cli_key, *s;
		json_t *v = NULL;
		long long x;

		if (!key)
			continue;
		switch (f->kind) {
		case VMMI_FK_NAME:
		case VMMI_FK_STR:
			/* vms.json omits unset fields (readers take the defaults:
			 * half the size, twice as fast to read with a thousand VMs) */
			if (!(s = vmmi_vm_str_get(vm, f)) && store)
				continue;
			v = s ? json_string(s) : json_null();
			break;
		case VMMI_FK_INT:
			x = vmmi_vm_int_get(vm, (enum vmmi_vm_field_id)i);
			if (!x && f->min <= 0 && store)
				continue;
			v = x || f->min > 0 ? json_integer(x) : json_null();
			break;
		case VMMI_FK_BACKEND:
			v = json_string(vmm_backend_name(vm->backend));
			break;
		case VMMI_FK_STATE:
			v = json_string(vmm_vm_state_name(vm->state));
			break;
		case VMMI_FK_NET:
			v = network_to_json(&vm->network, form);
			break;
		}
		if (json_object_set_new(o, key, v) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

struct json_t *vmm_vm_to_json(const struct vmm_vm *vm)
{
	return vmmi_vm_json(vm, VMMI_JSON_CLI);
}

void vmm_vm_list_free(struct vmm_vm **vms, size_t n)
{
	if (!vms)
		return;
	for (size_t i = 0; i < n; i++)
		vmm_vm_free(vms[i]);
	free(vms);
}

void vmm_snapshot_list_free(struct vmm_snapshot *snaps, size_t n)
{
	if (!snaps)
		return;
	for (size_t i = 0; i < n; i++) {
		free(snaps[i].tag);
		free(snaps[i].date);
	}
	free(snaps);
}
