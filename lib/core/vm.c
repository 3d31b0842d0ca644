/* SPDX-License-Identifier: MIT */
/* Core VM types: states, the lifecycle table, names, handles (copied, freed
 * and put in their JSON form by the field table, store/fields.h). */
#include "vmm/vm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
#define CHECK_FWD(m)                                                                    \
	_Static_assert(__builtin_types_compatible_p(__typeof__(((struct vmm_vm *)0)->m),  \
						    struct vmm_forward *),                \
		       #m " is an array of forwards");
#define CHECK_SHARES(m)                                                                 \
	_Static_assert(__builtin_types_compatible_p(__typeof__(((struct vmm_vm *)0)->m),  \
						    struct vmm_shares),                   \
		       #m " is a list of shares");
#define CHECK_ARGS_INT(m, min, max) CHECK_INT(m, min, max)
#define CHECK_ARGS_NAME(m, min, max) CHECK_NAME(m)
#define CHECK_ARGS_STR(m, min, max) CHECK_STR(m)
#define CHECK_ARGS_BACKEND(m, min, max) CHECK_BACKEND(m)
#define CHECK_ARGS_STATE(m, min, max) CHECK_STATE(m)
#define CHECK_ARGS_NET(m, min, max) CHECK_NET(m)
#define CHECK_ARGS_FWD(m, min, max) CHECK_FWD(m)
#define CHECK_ARGS_SHARES(m, min, max) CHECK_SHARES(m)
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
#define IF_INT_FWD(op, m)
#define IF_INT_SHARES(op, m)
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
	free(vm->forwards);
	for (size_t i = 0; i < vm->shares.n; i++)
		vmm_share_release(&vm->shares.v[i]);
	free(vm->shares.v);
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
	vm->forwards = NULL;
	if (src->n_forwards) {
		vm->forwards = malloc(src->n_forwards * sizeof(*vm->forwards));
		if (vm->forwards)
			memcpy(vm->forwards, src->forwards, src->n_forwards * sizeof(*vm->forwards));
		else
			ok = false;
	}
	vm->shares.v = NULL;
	if (src->shares.n) {
		vm->shares.v = calloc(src->shares.n, sizeof(*vm->shares.v));
		if (!vm->shares.v) {
			vm->shares.n = 0;
			ok = false;
		}
	}
	for (size_t i = 0; vm->shares.v && i < src->shares.n; i++) {
		vm->shares.v[i] = src->shares.v[i];
		ok &= dup_str(&vm->shares.v[i].host, src->shares.v[i].host);
		ok &= dup_str(&vm->shares.v[i].guest, src->shares.v[i].guest);
	}
	vm->extra = src->extra ? json_deep_copy((const json_t *)src->extra) : NULL;
	if (src->extra && !vm->extra)
		ok = false;
	if (!ok) {
		vmm_vm_free(vm);
		return NULL;
	}
	return vm;
}

struct json_t *vmmi_forward_json(const struct vmm_forward *f)
{
	return json_pack("{s:s, s:s, s:i, s:i, s:b}", "protocol", vmm_forward_proto(f), "address",
			 f->address, "host_port", (json_int_t)f->host_port, "guest_port",
			 (json_int_t)f->guest_port, "auto", f->auto_port);
}

struct json_t *vmmi_forwards_json(const struct vmm_forward *fw, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++) {
		if (json_array_append_new(a, vmmi_forward_json(&fw[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
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

static json_t *shares_to_json(const struct vmm_shares *sh)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < sh->n; i++) {
		const struct vmm_share *x = &sh->v[i];
		json_t *o = json_pack("{s:s?, s:s?, s:b, s:s}", "host", x->host, "guest", x->guest,
				      "readonly", x->readonly, "type", vmm_share_type_name(x->type));

		if (!o || json_array_append_new(a, o) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
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
		case VMMI_FK_FWD:
			if (!vm->n_forwards && store)
				continue;
			v = vmmi_forwards_json(vm->forwards, vm->n_forwards);
			break;
		case VMMI_FK_SHARES:
			if (!vm->shares.n && store)
				continue;
			v = shares_to_json(&vm->shares);
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

const char *vmm_share_type_name(enum vmm_share_type t)
{
	return t == VMM_SHARE_9P ? "9p" : "virtiofs";
}

void vmm_share_release(struct vmm_share *sh)
{
	if (!sh)
		return;
	free(sh->host);
	free(sh->guest);
	sh->host = sh->guest = NULL;
}

int vmm_share_parse(const char *text, struct vmm_share *out, struct vmm_error *err)
{
	static const char hint[] = "write --share HOST_DIR:GUEST_DIR or HOST_DIR:GUEST_DIR:ro "
				   "(GUEST_DIR absolute)";
	const char *c1 = text ? strchr(text, ':') : NULL, *c2;
	char cwd[4096];
	size_t glen;

	memset(out, 0, sizeof(*out));
	if (!c1 || c1 == text)
		return vmm_error_set(err, VMM_E_USAGE, 0, hint, "--share '%s': no HOST:GUEST",
				     text ? text : "");
	c2 = strchr(c1 + 1, ':');
	glen = c2 ? (size_t)(c2 - c1 - 1) : strlen(c1 + 1);
	if (c2 && strcmp(c2 + 1, "ro") != 0 && strcmp(c2 + 1, "rw") != 0)
		return vmm_error_set(err, VMM_E_USAGE, 0, hint,
				     "--share '%s': '%s' is not ro or rw", text, c2 + 1);
	if (glen == 0 || c1[1] != '/')
		return vmm_error_set(err, VMM_E_USAGE, 0, hint,
				     "--share '%s': the guest path must be absolute", text);
	out->readonly = c2 && strcmp(c2 + 1, "ro") == 0;
	if (text[0] == '/')
		out->host = strndup(text, (size_t)(c1 - text));
	else if (errno = 0, getcwd(cwd, sizeof(cwd)))
		out->host = vmmi_asprintf("%s/%.*s", cwd, (int)(c1 - text), text);
	else
		return vmm_error_errno(err, VMM_E_IO, NULL, "cannot resolve '%s'", text);
	out->guest = strndup(c1 + 1, glen);
	if (!out->host || !out->guest) {
		vmm_share_release(out);
		return vmm_error_set(err, VMM_E_NOMEM, 0, NULL, "out of memory");
	}
	struct stat st;

	errno = 0;
	if (stat(out->host, &st) < 0 || !S_ISDIR(st.st_mode)) {
		if (!errno)
			errno = ENOTDIR;
		vmm_error_errno(err, VMM_E_USAGE, "share an existing directory (mkdir -p it first)",
				"--share '%s': host directory '%s'", text, out->host);
		vmm_share_release(out);
		return -1;
	}
	return 0;
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

/* ---- port forwards ---------------------------------------------------- */

#define FWD_HINT "write it as [IP:]HOSTPORT:GUESTPORT[/udp], e.g. 8080:80, 80 or 127.0.0.1:5353:53/udp"

/* A decimal port of len bytes in [min, 65535]; -1 if it is not one. */
static long port_value(const char *s, size_t len, long min)
{
	long v = 0;

	if (len == 0 || len > 5)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v >= min && v <= 65535 ? v : -1;
}

static int bad_port(const char *spec, const char *what, const char *s, size_t len, long min,
		    struct vmm_error *err)
{
	if (memchr(s, '-', len))
		return vmm_error_set(err, VMM_E_INVALID_CONFIG, 0,
				     "forward each port on its own (one -p per port)",
				     "invalid port forward '%s': port ranges (%.*s) are not "
				     "supported",
				     spec, (int)len, s);
	return vmm_error_set(err, VMM_E_INVALID_CONFIG, 0, FWD_HINT,
			     "invalid port forward '%s': the %s '%.*s' is not a number from %ld "
			     "to 65535",
			     spec, what, (int)len, s, min);
}

/* "/tcp" or "/udp" at the end of s (its length *len, shortened). */
static int forward_proto(const char *spec, const char *s, size_t *len, bool *udp,
			 struct vmm_error *err)
{
	const char *slash = memchr(s, '/', *len);

	*udp = false;
	if (!slash)
		return 0;
	if (strcmp(slash + 1, "udp") == 0)
		*udp = true;
	else if (strcmp(slash + 1, "tcp") != 0)
		return vmm_error_set(err, VMM_E_INVALID_CONFIG, 0,
				     "end it with /tcp or /udp, or with nothing for TCP",
				     "invalid port forward '%s': unknown protocol '%s'", spec,
				     slash + 1);
	*len = (size_t)(slash - s);
	return 0;
}

int vmm_forward_parse(const char *s, struct vmm_forward *out, struct vmm_error *err)
{
	const char *parts[3], *c;
	size_t lens[3], len = strlen(s), n = 0, at = 0;
	long host = 0, guest;
	bool udp;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len == 0)
		return vmm_error_set(err, VMM_E_INVALID_CONFIG, 0, FWD_HINT,
				     "invalid port forward '': it is empty");
	if ((rc = forward_proto(s, s, &len, &udp, err)) < 0)
		return rc;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != ':')
			continue;
		if (n == 3)
			return vmm_error_set(err, VMM_E_INVALID_CONFIG, 0,
					     "the host address is an IPv4 address; " FWD_HINT,
					     "invalid port forward '%s': too many ':'", s);
		parts[n] = s + at;
		lens[n++] = i - at;
		at = i + 1;
	}
	if ((guest = port_value(parts[n - 1], lens[n - 1], 1)) < 0)
		return bad_port(s, "guest port", parts[n - 1], lens[n - 1], 1, err);
	if (n >= 2 && !(n == 3 && lens[1] == 0) &&
	    (host = port_value(parts[n - 2], lens[n - 2], 0)) < 0)
		return bad_port(s, "host port", parts[n - 2], lens[n - 2], 0, err);
	if (n == 3) {
		char addr[VMM_FORWARD_ADDR_MAX];
		struct in_addr in;

		c = parts[0];
		if (lens[0] == 0 || lens[0] >= sizeof(addr))
			goto bad_addr;
		memcpy(addr, c, lens[0]);
		addr[lens[0]] = '\0';
		if (inet_pton(AF_INET, addr, &in) != 1)
			goto bad_addr;
		inet_ntop(AF_INET, &in, out->address, sizeof(out->address));
	} else {
		snprintf(out->address, sizeof(out->address), "%s", VMM_FORWARD_DEFAULT_ADDR);
	}
	out->host_port = (unsigned)host;
	out->guest_port = (unsigned)guest;
	out->udp = udp;
	out->auto_port = host == 0;
	return 0;
bad_addr:
	return vmm_error_set(err, VMM_E_INVALID_CONFIG, 0,
			     "give a dotted IPv4 address of this host, e.g. 127.0.0.1 (the "
			     "default) or 0.0.0.0 (every address)",
			     "invalid port forward '%s': '%.*s' is not an IPv4 address", s,
			     (int)(lens[0] > 64 ? 64 : lens[0]), parts[0]);
}

int vmm_forward_parse_host(const char *s, unsigned *port, bool *udp, struct vmm_error *err)
{
	size_t len = strlen(s);
	long p;
	int rc;

	if ((rc = forward_proto(s, s, &len, udp, err)) < 0)
		return rc;
	if ((p = port_value(s, len, 1)) < 0)
		return vmm_error_set(err, VMM_E_INVALID_CONFIG, 0,
				     "give the host port of the forward, e.g. 8080 or 5353/udp "
				     "(see `vmctl port NAME`)",
				     "invalid host port '%s': not a number from 1 to 65535", s);
	*port = (unsigned)p;
	return 0;
}

const char *vmm_forward_proto(const struct vmm_forward *f)
{
	return f->udp ? "udp" : "tcp";
}

void vmm_forward_format(const struct vmm_forward *f, char *buf, size_t size)
{
	if (f->host_port == 0) /* not forwarded (yet): as Docker shows it */
		snprintf(buf, size, "%u/%s", f->guest_port, vmm_forward_proto(f));
	else if (strcmp(f->address, VMM_FORWARD_DEFAULT_ADDR) == 0)
		snprintf(buf, size, "%u->%u/%s", f->host_port, f->guest_port, vmm_forward_proto(f));
	else
		snprintf(buf, size, "%s:%u->%u/%s", f->address, f->host_port, f->guest_port,
			 vmm_forward_proto(f));
}

int vmm_forwards_check(const struct vmm_forward *fw, size_t n, enum vmm_net_type net,
		       struct vmm_error *err)
{
	if (n == 0)
		return 0;
	if (net != VMM_NET_USER)
		return vmm_error_set(err, VMM_E_INVALID_CONFIG, 0,
				     "forwards need user networking: remove them, or use "
				     "network \"user\" and reach the guest's own address instead",
				     "port forwards do not apply to %s networking",
				     vmm_net_type_name(net));
	if (n > VMM_FORWARDS_MAX)
		return vmm_error_set(err, VMM_E_INVALID_CONFIG, 0, "forward fewer ports",
				     "%zu port forwards: at most %d", n, VMM_FORWARDS_MAX);
	for (size_t i = 0; i < n; i++) {
		if (fw[i].guest_port < 1 || fw[i].guest_port > 65535 || fw[i].host_port > 65535)
			return vmm_error_set(err, VMM_E_INVALID_CONFIG, 0, FWD_HINT,
					     "port forward %u->%u: a port is out of range",
					     fw[i].host_port, fw[i].guest_port);
		for (size_t j = 0; j < i && fw[i].host_port; j++)
			if (fw[j].host_port == fw[i].host_port && fw[j].udp == fw[i].udp)
				return vmm_error_set(err, VMM_E_INVALID_CONFIG, 0,
						     "give each forward its own host port (0 "
						     "lets vmctl pick one)",
						     "host port %u/%s is forwarded twice (to guest "
						     "ports %u and %u)",
						     fw[i].host_port, vmm_forward_proto(&fw[i]),
						     fw[j].guest_port, fw[i].guest_port);
	}
	return 0;
}
