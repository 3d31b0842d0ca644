/* SPDX-License-Identifier: MIT */
/* vms.json: load, validate, save; the store and per-VM locks. */
#include "store/store.h"

#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yajl/yajl_parse.h>

#include "vmm/log.h"
#include "core/util.h"

#define MOD "store"

/* Keys of a handle that map to struct vmm_vm string fields. */
static const struct {
	const char *key;
	size_t off;
} string_fields[] = {
	{"id", offsetof(struct vmm_vm, id)},
	{"work_dir", offsetof(struct vmm_vm, work_dir)},
	{"image_path", offsetof(struct vmm_vm, image_path)},
	{"image_url", offsetof(struct vmm_vm, image_url)},
	{"overlay_path", offsetof(struct vmm_vm, overlay_path)},
	{"seed_iso_path", offsetof(struct vmm_vm, seed_iso_path)},
	{"qmp_socket", offsetof(struct vmm_vm, qmp_socket)},
	{"console_socket", offsetof(struct vmm_vm, console_socket)},
	{"vnc_addr", offsetof(struct vmm_vm, vnc_addr)},
	{"mac_addr", offsetof(struct vmm_vm, mac_addr)},
	{"ssh_user", offsetof(struct vmm_vm, ssh_user)},
	{"ssh_key_path", offsetof(struct vmm_vm, ssh_key_path)},
	{"created_at", offsetof(struct vmm_vm, created_at)},
};

/* Every key this version understands; anything else goes to vm->extra. */
static const char *const known_keys[] = {
	"id", "name", "backend", "state", "work_dir", "image_path", "image_url",
	"overlay_path", "seed_iso_path", "pid", "pid_starttime", "qmp_socket",
	"console_socket", "vnc_addr", "vcpus", "memory_mb", "disk_gb", "network",
	"ssh_host_port", "mac_addr", "ssh_user", "ssh_key_path", "created_at",
};

static bool is_known_key(const char *k)
{
	for (size_t i = 0; i < VMMI_ARRAY_SIZE(known_keys); i++)
		if (strcmp(k, known_keys[i]) == 0)
			return true;
	return false;
}

void vmmi_vm_extra_free(void *extra)
{
	json_decref((json_t *)extra);
}

void *vmmi_vm_extra_dup(const void *extra)
{
	return extra ? json_deep_copy((const json_t *)extra) : NULL;
}

static int bad_field(struct vmm_error *err, const char *file, const char *vm, const char *key,
		     const char *expected, const json_t *v)
{
	static const char *const type_names[] = {"an object", "an array", "a string",
						 "an integer", "a number",  "true",
						 "false",     "null"};
	const char *got = "a value";

	if (v && (unsigned)json_typeof(v) < VMMI_ARRAY_SIZE(type_names))
		got = type_names[json_typeof(v)];
	return vmm_error_set(err, VMM_E_STORE_CORRUPT, 0, NULL,
			     "%s: VM '%s': field \"%s\" must be %s, found %s", file, vm, key,
			     expected, got);
}

/* An integer field within [min, max]; absent or null keeps *out. */
static int get_int(const json_t *o, const char *key, long long min, long long max,
		   long long *out, bool *present, const char *file, const char *vm,
		   struct vmm_error *err)
{
	json_t *v = json_object_get(o, key);
	char expected[96];

	if (present)
		*present = false;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v) && json_integer_value(v) >= min && json_integer_value(v) <= max) {
		*out = json_integer_value(v);
		if (present)
			*present = true;
		return 0;
	}
	snprintf(expected, sizeof(expected), "an integer from %lld to %lld", min, max);
	return bad_field(err, file, vm, key, expected, v);
}

static int parse_network(const json_t *o, struct vmm_network *net, const char *file,
			 const char *vm, struct vmm_error *err)
{
	json_t *n = json_object_get(o, "network"), *t, *b;
	const char *type;

	net->type = VMM_NET_USER;
	if (!n || json_is_null(n))
		return 0;
	if (json_is_string(n)) { /* tolerate the short form "network": "user" */
		type = json_string_value(n);
	} else if (json_is_object(n)) {
		t = json_object_get(n, "type");
		if (!json_is_string(t))
			return bad_field(err, file, vm, "network.type", "a string", t);
		type = json_string_value(t);
	} else {
		return bad_field(err, file, vm, "network", "an object", n);
	}
	if (strcasecmp(type, "user") == 0) {
		net->type = VMM_NET_USER;
	} else if (strcasecmp(type, "none") == 0) {
		net->type = VMM_NET_NONE;
	} else if (strcasecmp(type, "tap") == 0) {
		net->type = VMM_NET_TAP;
		b = json_is_object(n) ? json_object_get(n, "bridge") : NULL;
		if (b && !json_is_string(b))
			return bad_field(err, file, vm, "network.bridge", "a string", b);
		net->bridge = strdup(b ? json_string_value(b) : "br0");
	} else if (strcasecmp(type, "vnic") == 0) {
		net->type = VMM_NET_VNIC;
		b = json_is_object(n) ? json_object_get(n, "name") : NULL;
		if (!json_is_string(b))
			return bad_field(err, file, vm, "network.name", "a string", b);
		net->vnic = strdup(json_string_value(b));
	} else {
		return vmm_error_set(err, VMM_E_STORE_CORRUPT, 0, NULL,
				     "%s: VM '%s': unknown network type \"%s\" (expected User, "
				     "Tap, Vnic or None)",
				     file, vm, type);
	}
	return 0;
}

static int vm_from_json(const char *file, const char *name, const json_t *o,
			struct vmm_vm **out, struct vmm_error *err)
{
	struct vmm_vm *vm;
	json_t *v, *extra = NULL;
	const char *key;
	long long x;
	bool present;
	int rc;

	if (!json_is_object(o))
		return bad_field(err, file, name, "(handle)", "an object", o);
	vm = vmm_vm_new();
	if (!vm)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	vm->name = strdup(name);
	v = json_object_get(o, "name");
	if (v && !(json_is_string(v) && strcmp(json_string_value(v), name) == 0)) {
		rc = vmm_error_set(err, VMM_E_STORE_CORRUPT, 0, NULL,
				   "%s: the entry for VM '%s' has a different \"name\"", file, name);
		goto fail;
	}
	for (size_t i = 0; i < VMMI_ARRAY_SIZE(string_fields); i++) {
		v = json_object_get(o, string_fields[i].key);
		if (!v || json_is_null(v))
			continue;
		if (!json_is_string(v)) {
			rc = bad_field(err, file, name, string_fields[i].key, "a string", v);
			goto fail;
		}
		*(char **)((char *)vm + string_fields[i].off) = strdup(json_string_value(v));
	}
	v = json_object_get(o, "backend");
	if (v && !json_is_null(v)) {
		if (!json_is_string(v) || vmm_backend_parse(json_string_value(v), &vm->backend) < 0) {
			rc = bad_field(err, file, name, "backend", "\"qemu\", \"propolis\" or \"noop\"",
				       v);
			goto fail;
		}
	}
	v = json_object_get(o, "state");
	vm->state = VMM_STATE_STOPPED; /* the reference did not record a state */
	if (v && !json_is_null(v)) {
		if (!json_is_string(v) || vmm_vm_state_parse(json_string_value(v), &vm->state) < 0) {
			rc = bad_field(err, file, name, "state", "a state name such as \"running\"",
				       v);
			goto fail;
		}
	}
	x = 0;
	if ((rc = get_int(o, "pid", 0, INT32_MAX, &x, NULL, file, name, err)) < 0)
		goto fail;
	vm->pid = (pid_t)x;
	x = 0;
	if ((rc = get_int(o, "pid_starttime", 0, INT64_MAX, &x, NULL, file, name, err)) < 0)
		goto fail;
	vm->pid_starttime = (unsigned long long)x;
	x = 1;
	if ((rc = get_int(o, "vcpus", 1, 65535, &x, NULL, file, name, err)) < 0)
		goto fail;
	vm->vcpus = (unsigned)x;
	x = 1024;
	if ((rc = get_int(o, "memory_mb", 1, INT64_MAX, &x, NULL, file, name, err)) < 0)
		goto fail;
	vm->memory_mb = (uint64_t)x;
	x = 0;
	if ((rc = get_int(o, "disk_gb", 0, UINT32_MAX, &x, &present, file, name, err)) < 0)
		goto fail;
	vm->disk_gb = (unsigned)x;
	x = 0;
	if ((rc = get_int(o, "ssh_host_port", 0, 65535, &x, NULL, file, name, err)) < 0)
		goto fail;
	vm->ssh_host_port = (unsigned)x;
	if ((rc = parse_network(o, &vm->network, file, name, err)) < 0)
		goto fail;

	json_object_foreach((json_t *)o, key, v) {
		if (is_known_key(key))
			continue;
		if (!extra && !(extra = json_object()))
			goto oom;
		json_object_set(extra, key, v);
	}
	vm->extra = extra;
	*out = vm;
	return 0;
oom:
	rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
fail:
	json_decref(extra);
	vmm_vm_free(vm);
	return rc;
}

/* Unset fields are omitted (readers take the defaults): half the size,
 * twice as fast to parse with a thousand VMs. */
static int set_str(json_t *o, const char *key, const char *s)
{
	return s ? json_object_set_new(o, key, json_string(s)) : 0;
}

static int set_int(json_t *o, const char *key, long long v)
{
	return v ? json_object_set_new(o, key, json_integer(v)) : 0;
}

static json_t *vm_to_json(const struct vmm_vm *vm)
{
	json_t *o = vm->extra ? json_deep_copy(vm->extra) : json_object();
	json_t *net;
	int rc = 0;

	if (!o)
		return NULL;
	rc |= set_str(o, "id", vm->id);
	rc |= set_str(o, "name", vm->name);
	rc |= set_str(o, "backend", vmm_backend_name(vm->backend));
	rc |= set_str(o, "state", vmm_vm_state_name(vm->state));
	for (size_t i = 0; i < VMMI_ARRAY_SIZE(string_fields); i++)
		if (strcmp(string_fields[i].key, "id") != 0)
			rc |= set_str(o, string_fields[i].key,
				      *(char *const *)((const char *)vm + string_fields[i].off));
	rc |= set_int(o, "pid", vm->pid);
	rc |= set_int(o, "pid_starttime", (long long)vm->pid_starttime);
	rc |= json_object_set_new(o, "vcpus", json_integer(vm->vcpus));
	rc |= json_object_set_new(o, "memory_mb", json_integer((json_int_t)vm->memory_mb));
	rc |= set_int(o, "disk_gb", vm->disk_gb);
	switch (vm->network.type) {
	case VMM_NET_TAP:
		net = json_pack("{s:s, s:s}", "type", "Tap", "bridge",
				vm->network.bridge ? vm->network.bridge : "br0");
		break;
	case VMM_NET_VNIC:
		net = json_pack("{s:s, s:s}", "type", "Vnic", "name",
				vm->network.vnic ? vm->network.vnic : "");
		break;
	case VMM_NET_NONE:
		net = json_pack("{s:s}", "type", "None");
		break;
	default:
		net = json_pack("{s:s}", "type", "User");
		break;
	}
	rc |= json_object_set_new(o, "network", net);
	rc |= set_int(o, "ssh_host_port", vm->ssh_host_port);
	if (rc || !net) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int cmp_vm(const void *a, const void *b)
{
	return strcmp((*(struct vmm_vm *const *)a)->name, (*(struct vmm_vm *const *)b)->name);
}

void vmmi_store_release(struct vmmi_store *st)
{
	if (!st)
		return;
	json_decref((json_t *)st->root);
	vmm_vm_list_free(st->vms, st->n);
	memset(st, 0, sizeof(*st));
}

/* ---- the fast read path ---------------------------------------------------
 *
 * jansson builds a tree of every value before vm_from_json reads it; with a
 * thousand VMs that is most of the time `vmctl list` takes. yajl's callback
 * parser hands us the values in order, so the common document (what
 * vmmi_store_save writes) goes straight into struct vmm_vm. The fast path
 * only accepts what vm_from_json accepts, with the same result; anything
 * else (an error, an escape, a non-ASCII byte, a duplicate key, a real
 * number, the reference's format) makes it give up, and the jansson path
 * above reads the document again and reports what is wrong, with the same
 * messages as always. Unknown fields are built as jansson values, so they
 * are kept on rewrite as before. */

enum { FP_KEY_MAX = 256, FP_STACK_MAX = 32 };

struct fast {
	struct vmmi_store *st;
	size_t cap;
	int depth; /* 1: top object, 2: "vms", 3: a handle, 4: its network */
	bool seen_version, seen_vms;
	char topkey[FP_KEY_MAX], name[FP_KEY_MAX], hkey[FP_KEY_MAX], nkey[FP_KEY_MAX];
	struct vmm_vm *vm; /* the handle being read */
	json_t *extra;     /* its unknown fields */
	int hidx;          /* index of hkey in fp_keys, -1 if unknown */
	int hnext;         /* where to look for the next key in fp_keys */
	uint32_t seen;     /* bit i: fp_keys[i] seen in this handle */
	unsigned net_seen; /* 1 type, 2 bridge, 4 name */
	bool net_obj;      /* "network" is an object */
	char *net_type, *net_bridge, *net_name;
	json_t *stack[FP_STACK_MAX]; /* containers of an unknown value being built */
	size_t sp;
	char *bkey; /* pending key in the innermost object being built */
};

/* The integer fields of a handle and their ranges, as vm_from_json reads
 * them (absent ones keep vmm_vm_new's defaults, as there). */
static const struct {
	const char *key;
	long long min, max;
} int_fields[] = {
	{"pid", 0, INT32_MAX},	      {"pid_starttime", 0, INT64_MAX},
	{"vcpus", 1, 65535},	      {"memory_mb", 1, INT64_MAX},
	{"disk_gb", 0, UINT32_MAX},   {"ssh_host_port", 0, 65535},
};

static void fp_set_int(struct vmm_vm *vm, size_t i, long long x)
{
	switch (i) {
	case 0: vm->pid = (pid_t)x; break;
	case 1: vm->pid_starttime = (unsigned long long)x; break;
	case 2: vm->vcpus = (unsigned)x; break;
	case 3: vm->memory_mb = (uint64_t)x; break;
	case 4: vm->disk_gb = (unsigned)x; break;
	default: vm->ssh_host_port = (unsigned)x; break;
	}
}

static bool fp_copy(char *dst, const unsigned char *s, size_t len)
{
	if (len >= FP_KEY_MAX)
		return false;
	memcpy(dst, s, len);
	dst[len] = '\0';
	return true;
}

/* A JSON integer as jansson reads it; false for reals and overflows. */
static bool fp_integer(const char *s, size_t len, long long *out)
{
	char buf[32], *end;

	if (len >= sizeof(buf) || memchr(s, '.', len) || memchr(s, 'e', len) ||
	    memchr(s, 'E', len))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	*out = strtoll(buf, &end, 10);
	return errno == 0 && *end == '\0';
}

/* Kinds of scalar events. */
enum { FP_NULL, FP_TRUE, FP_FALSE, FP_NUMBER, FP_STRING };

static json_t *fp_json_scalar(int kind, const char *s, size_t len)
{
	long long x;

	switch (kind) {
	case FP_NULL: return json_null();
	case FP_TRUE: return json_true();
	case FP_FALSE: return json_false();
	case FP_NUMBER: return fp_integer(s, len, &x) ? json_integer(x) : NULL;
	default: return json_stringn(s, len);
	}
}

/* Put a value of an unknown field where it belongs: into the container
 * being built, or into the top-level document or the handle's extras. */
static int fp_attach(struct fast *f, json_t *v)
{
	json_t *obj;
	const char *key;

	if (!v)
		return 0;
	if (f->sp) {
		obj = f->stack[f->sp - 1];
		if (json_is_array(obj))
			return json_array_append_new(obj, v) == 0;
		key = f->bkey;
	} else if (f->depth == 1) {
		obj = (json_t *)f->st->root;
		key = f->topkey;
	} else {
		if (!f->extra && !(f->extra = json_object())) {
			json_decref(v);
			return 0;
		}
		obj = f->extra;
		key = f->hkey;
	}
	if (!key || json_object_get(obj, key)) { /* duplicate: let jansson say so */
		json_decref(v);
		return 0;
	}
	return json_object_set_new(obj, key, v) == 0;
}

/* What each known key of a handle is, sorted by key for bsearch; the same
 * keys as known_keys. */
enum { FK_NAME, FK_STRING, FK_INT, FK_BACKEND, FK_STATE, FK_NETWORK };

#define FK_STR(field) FK_STRING, offsetof(struct vmm_vm, field)
static const struct fp_key {
	const char *key;
	int kind;
	size_t arg; /* FK_STRING: offset of the field; FK_INT: index in int_fields */
} fp_keys[] = {
	{"backend", FK_BACKEND, 0},
	{"console_socket", FK_STR(console_socket)},
	{"created_at", FK_STR(created_at)},
	{"disk_gb", FK_INT, 4},
	{"id", FK_STR(id)},
	{"image_path", FK_STR(image_path)},
	{"image_url", FK_STR(image_url)},
	{"mac_addr", FK_STR(mac_addr)},
	{"memory_mb", FK_INT, 3},
	{"name", FK_NAME, 0},
	{"network", FK_NETWORK, 0},
	{"overlay_path", FK_STR(overlay_path)},
	{"pid", FK_INT, 0},
	{"pid_starttime", FK_INT, 1},
	{"qmp_socket", FK_STR(qmp_socket)},
	{"seed_iso_path", FK_STR(seed_iso_path)},
	{"ssh_host_port", FK_INT, 5},
	{"ssh_key_path", FK_STR(ssh_key_path)},
	{"ssh_user", FK_STR(ssh_user)},
	{"state", FK_STATE, 0},
	{"vcpus", FK_INT, 2},
	{"vnc_addr", FK_STR(vnc_addr)},
	{"work_dir", FK_STR(work_dir)},
};
#undef FK_STR

static int fp_key_cmp(const void *key, const void *entry)
{
	return strcmp(key, ((const struct fp_key *)entry)->key);
}

/* The index of a known key in fp_keys, -1 for an unknown one. vmmi_store_save
 * writes a handle's keys sorted, so the key is looked for after the previous
 * one first (*next: the index after it), then anywhere. */
static int fp_known_index(const char *key, int *next)
{
	const struct fp_key *k;

	for (int i = *next; i < (int)VMMI_ARRAY_SIZE(fp_keys); i++) {
		int c = (unsigned char)key[0] - (unsigned char)fp_keys[i].key[0];

		if (c == 0)
			c = strcmp(key, fp_keys[i].key);

		if (c == 0) {
			*next = i + 1;
			return i;
		}
		if (c < 0)
			break;
	}
	k = bsearch(key, fp_keys, VMMI_ARRAY_SIZE(fp_keys), sizeof(fp_keys[0]), fp_key_cmp);
	return k ? (int)(k - fp_keys) : -1;
}

static int fp_handle_scalar(struct fast *f, int kind, const char *s, size_t len)
{
	struct vmm_vm *vm = f->vm;
	int k = f->hidx;
	char buf[FP_KEY_MAX];
	size_t i;
	long long x;

	if (k < 0)
		return fp_attach(f, fp_json_scalar(kind, s, len));
	if (f->seen & (1u << k))
		return 0;
	f->seen |= 1u << k;
	if (fp_keys[k].kind == FK_NAME)
		return kind == FP_STRING && strlen(vm->name) == len && memcmp(vm->name, s, len) == 0;
	if (kind == FP_NULL)
		return 1; /* absent: the default */
	switch (fp_keys[k].kind) {
	case FK_INT:
		i = fp_keys[k].arg;
		if (kind != FP_NUMBER || !fp_integer(s, len, &x) || x < int_fields[i].min ||
		    x > int_fields[i].max)
			return 0;
		fp_set_int(vm, i, x);
		return 1;
	case FK_STRING:
		return kind == FP_STRING &&
		       (*(char **)((char *)vm + fp_keys[k].arg) = strndup(s, len)) != NULL;
	default:
		break;
	}
	if (kind != FP_STRING || !fp_copy(buf, (const unsigned char *)s, len))
		return 0;
	switch (fp_keys[k].kind) {
	case FK_BACKEND:
		return vmm_backend_parse(buf, &vm->backend) == 0;
	case FK_STATE:
		return vmm_vm_state_parse(buf, &vm->state) == 0;
	default: /* the network's short form "network": "user" */
		return (f->net_type = strdup(buf)) != NULL;
	}
}

static int fp_net_scalar(struct fast *f, int kind, const char *s, size_t len)
{
	static const char *const keys[] = {"type", "bridge", "name"};
	char **slot[] = {&f->net_type, &f->net_bridge, &f->net_name};

	for (unsigned i = 0; i < 3; i++) {
		if (strcmp(f->nkey, keys[i]) != 0)
			continue;
		if (kind != FP_STRING || (f->net_seen & (1u << i)))
			return 0;
		f->net_seen |= 1u << i;
		return (*slot[i] = strndup(s, len)) != NULL;
	}
	return 0;
}

/* parse_network for the values gathered; false where it would fail. */
static bool fp_network(struct fast *f)
{
	struct vmm_network *net = &f->vm->network;
	const char *type = f->net_type;

	net->type = VMM_NET_USER;
	if (!type) /* absent or null is User; an object needs a type */
		return !f->net_obj;
	if (strcasecmp(type, "user") == 0) {
		net->type = VMM_NET_USER;
	} else if (strcasecmp(type, "none") == 0) {
		net->type = VMM_NET_NONE;
	} else if (strcasecmp(type, "tap") == 0) {
		net->type = VMM_NET_TAP;
		net->bridge = strdup(f->net_bridge ? f->net_bridge : "br0");
		return net->bridge != NULL;
	} else if (strcasecmp(type, "vnic") == 0 && f->net_name) {
		net->type = VMM_NET_VNIC;
		net->vnic = strdup(f->net_name);
		return net->vnic != NULL;
	} else {
		return false;
	}
	return true;
}

static void fp_net_reset(struct fast *f)
{
	free(f->net_type);
	free(f->net_bridge);
	free(f->net_name);
	f->net_type = f->net_bridge = f->net_name = NULL;
	f->net_seen = 0;
	f->net_obj = false;
}

static int fp_scalar(struct fast *f, int kind, const char *s, size_t len)
{
	long long x;

	if (f->sp)
		return fp_attach(f, fp_json_scalar(kind, s, len));
	switch (f->depth) {
	case 1:
		if (strcmp(f->topkey, "version") == 0) {
			if (f->seen_version || kind != FP_NUMBER || !fp_integer(s, len, &x) ||
			    x < 1 || x > VMMI_STORE_VERSION)
				return 0;
			f->seen_version = true;
			return json_object_set_new((json_t *)f->st->root, "version",
						   json_integer(x)) == 0;
		}
		if (strcmp(f->topkey, "vms") == 0)
			return 0;
		return fp_attach(f, fp_json_scalar(kind, s, len));
	case 3:
		return fp_handle_scalar(f, kind, s, len);
	case 4:
		return fp_net_scalar(f, kind, s, len);
	default:
		return 0;
	}
}

static int fp_null(void *ctx)
{
	return fp_scalar(ctx, FP_NULL, NULL, 0);
}

static int fp_boolean(void *ctx, int b)
{
	return fp_scalar(ctx, b ? FP_TRUE : FP_FALSE, NULL, 0);
}

static int fp_number(void *ctx, const char *s, size_t len)
{
	return fp_scalar(ctx, FP_NUMBER, s, len);
}

static int fp_string(void *ctx, const unsigned char *s, size_t len)
{
	return fp_scalar(ctx, FP_STRING, (const char *)s, len);
}

/* Start building an unknown value that is a container; the stack borrows
 * it from the value it went into. */
static int fp_push(struct fast *f, json_t *c)
{
	if (!c || f->sp == FP_STACK_MAX) {
		json_decref(c);
		return 0;
	}
	if (!fp_attach(f, c))
		return 0;
	f->stack[f->sp++] = c;
	return 1;
}

static int fp_start_map(void *ctx)
{
	struct fast *f = ctx;

	if (f->sp)
		return fp_push(f, json_object());
	switch (f->depth) {
	case 0:
		f->depth = 1;
		return 1;
	case 1:
		if (strcmp(f->topkey, "vms") == 0) {
			if (!f->seen_version || f->seen_vms)
				return 0;
			f->seen_vms = true;
			f->depth = 2;
			return 1;
		}
		return strcmp(f->topkey, "version") != 0 && fp_push(f, json_object());
	case 2:
		if (!(f->vm = vmm_vm_new()) || !(f->vm->name = strdup(f->name)))
			return 0;
		f->vm->state = VMM_STATE_STOPPED; /* as vm_from_json */
		f->seen = 0;
		f->hnext = 0;
		f->depth = 3;
		return 1;
	case 3:
		if (f->hidx >= 0 && fp_keys[f->hidx].kind == FK_NETWORK) {
			if (f->seen & (1u << f->hidx))
				return 0;
			f->seen |= 1u << f->hidx;
			f->net_obj = true;
			f->depth = 4;
			return 1;
		}
		return f->hidx < 0 && fp_push(f, json_object());
	default:
		return 0;
	}
}

static int fp_map_key(void *ctx, const unsigned char *key, size_t len)
{
	struct fast *f = ctx;

	if (f->sp) {
		free(f->bkey);
		return (f->bkey = strndup((const char *)key, len)) != NULL;
	}
	switch (f->depth) {
	case 1:
		/* "version" first, as vmmi_store_save writes it: the format of
		 * the document is known before anything is read. */
		return fp_copy(f->topkey, key, len) &&
		       (f->seen_version || strcmp(f->topkey, "version") == 0);
	case 2: return fp_copy(f->name, key, len);
	case 3:
		if (!fp_copy(f->hkey, key, len))
			return 0;
		f->hidx = fp_known_index(f->hkey, &f->hnext);
		return 1;
	default: return fp_copy(f->nkey, key, len);
	}
}

static int fp_end_map(void *ctx)
{
	struct fast *f = ctx;

	if (f->sp) {
		f->sp--;
		return 1;
	}
	switch (f->depth) {
	case 4:
		f->depth = 3;
		return 1;
	case 3:
		f->depth = 2;
		if (!fp_network(f)) {
			fp_net_reset(f);
			return 0;
		}
		fp_net_reset(f);
		if (f->st->n == f->cap) {
			size_t cap = f->cap ? 2 * f->cap : 64;
			struct vmm_vm **grown = realloc(f->st->vms, cap * sizeof(*grown));

			if (!grown)
				return 0;
			f->st->vms = grown;
			f->cap = cap;
		}
		f->vm->extra = f->extra;
		f->extra = NULL;
		f->st->vms[f->st->n++] = f->vm;
		f->vm = NULL;
		return 1;
	default:
		f->depth--;
		return 1;
	}
}

static int fp_start_array(void *ctx)
{
	struct fast *f = ctx;

	if (f->sp || (f->depth == 1 && strcmp(f->topkey, "vms") != 0 &&
		      strcmp(f->topkey, "version") != 0) ||
	    (f->depth == 3 && f->hidx < 0))
		return fp_push(f, json_array());
	return 0;
}

static int fp_end_array(void *ctx)
{
	struct fast *f = ctx;

	if (!f->sp)
		return 0;
	f->sp--;
	return 1;
}

static const yajl_callbacks fp_callbacks = {
	.yajl_null = fp_null,
	.yajl_boolean = fp_boolean,
	.yajl_number = fp_number,
	.yajl_string = fp_string,
	.yajl_start_map = fp_start_map,
	.yajl_map_key = fp_map_key,
	.yajl_end_map = fp_end_map,
	.yajl_start_array = fp_start_array,
	.yajl_end_array = fp_end_array,
};

/* Read data into st the fast way; false (st released) to ask jansson. */
static bool store_parse_fast(const char *data, size_t len, struct vmmi_store *st)
{
	struct fast f = {.st = st};
	yajl_handle h;
	bool ok;

	uint64_t high = 0, word;
	size_t i = 0;

	/* Escapes, NULs and non-ASCII text: jansson's rules for them are the
	 * ones that count, so leave those documents to it. */
	for (; i + sizeof(word) <= len; i += sizeof(word)) {
		memcpy(&word, data + i, sizeof(word));
		high |= word;
	}
	for (; i < len; i++)
		high |= (unsigned char)data[i];
	if ((high & UINT64_C(0x8080808080808080)) || memchr(data, '\\', len) ||
	    memchr(data, '\0', len))
		return false;
	memset(st, 0, sizeof(*st));
	if (!(st->root = json_object()) || !(h = yajl_alloc(&fp_callbacks, NULL, &f))) {
		json_decref((json_t *)st->root);
		st->root = NULL;
		return false;
	}
	ok = yajl_parse(h, (const unsigned char *)data, len) == yajl_status_ok &&
	     yajl_complete_parse(h) == yajl_status_ok && f.depth == 0 && f.seen_version;
	yajl_free(h);
	if (ok && !st->vms)
		ok = (st->vms = calloc(1, sizeof(*st->vms))) != NULL;
	if (ok) {
		/* vmmi_store_save writes them sorted: sort only if they are not. */
		i = 1;
		while (i < st->n && cmp_vm(&st->vms[i - 1], &st->vms[i]) < 0)
			i++;
		if (i < st->n) {
			qsort(st->vms, st->n, sizeof(*st->vms), cmp_vm);
			for (i = 1; i < st->n && ok; i++) /* a name twice */
				ok = cmp_vm(&st->vms[i - 1], &st->vms[i]) != 0;
		}
	}
	vmm_vm_free(f.vm);
	json_decref(f.extra);
	fp_net_reset(&f);
	free(f.bkey);
	if (!ok)
		vmmi_store_release(st);
	return ok;
}

int vmmi_store_parse(const char *file, const char *data, size_t len, struct vmmi_store *st,
		     struct vmm_error *err)
{
	json_error_t jerr;
	json_t *root, *vms, *ver, *v;
	const char *name;
	size_t cap;
	int rc;

	memset(st, 0, sizeof(*st));
	if (len == 0 || strspn(data, " \t\r\n") == len) {
		/* An empty file cannot come from our writes (they are atomic); it
		 * is most likely a truncated copy. Refuse rather than forget VMs. */
		return vmm_error_set(err, VMM_E_STORE_CORRUPT, 0,
				     "restore it from a backup, or move it aside to start with "
				     "an empty registry; vmctl never overwrites it",
				     "%s is empty", file);
	}
	if (store_parse_fast(data, len, st))
		return 0;
	root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return vmm_error_set(err, VMM_E_STORE_CORRUPT, 0,
				     "fix the JSON at that position, or move the file aside to "
				     "start with an empty registry; vmctl never overwrites it",
				     "%s:%d:%d: invalid JSON: %s", file, jerr.line, jerr.column,
				     jerr.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return vmm_error_set(err, VMM_E_STORE_CORRUPT, 0, NULL,
				     "%s: the top level must be a JSON object", file);
	}
	ver = json_object_get(root, "version");
	if (ver) {
		if (!json_is_integer(ver) || json_integer_value(ver) < 1) {
			json_decref(root);
			return vmm_error_set(err, VMM_E_STORE_CORRUPT, 0, NULL,
					     "%s: \"version\" must be a positive integer", file);
		}
		if (json_integer_value(ver) > VMMI_STORE_VERSION) {
			long long found = (long long)json_integer_value(ver);

			json_decref(root);
			return vmm_error_set(err, VMM_E_STORE_VERSION, 0, NULL,
					     "%s has format version %lld; this vmctl reads up to "
					     "version %d",
					     file, found, VMMI_STORE_VERSION);
		}
		vms = json_incref(json_object_get(root, "vms"));
		json_object_del(root, "vms");
		if (vms && !json_is_object(vms)) {
			json_decref(vms);
			json_decref(root);
			return vmm_error_set(err, VMM_E_STORE_CORRUPT, 0, NULL,
					     "%s: \"vms\" must be an object mapping names to VMs",
					     file);
		}
	} else {
		/* The reference's format: the whole object maps names to VMs. */
		vms = root;
		root = json_object();
	}
	cap = vms ? json_object_size(vms) : 0;
	st->root = root;
	st->vms = calloc(cap ? cap : 1, sizeof(*st->vms));
	if (!st->vms) {
		json_decref(vms);
		vmmi_store_release(st);
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	}
	if (vms) {
		json_object_foreach(vms, name, v) {
			struct vmm_vm *vm = NULL;

			if ((rc = vm_from_json(file, name, v, &vm, err)) < 0) {
				json_decref(vms);
				vmmi_store_release(st);
				return rc;
			}
			st->vms[st->n++] = vm;
		}
	}
	json_decref(vms);
	qsort(st->vms, st->n, sizeof(*st->vms), cmp_vm);
	return 0;
}

int vmmi_store_load(const char *path, struct vmmi_store *st, struct vmm_error *err)
{
	char *data = NULL;
	size_t len = 0;
	int rc;

	memset(st, 0, sizeof(*st));
	if (access(path, F_OK) < 0 && errno == ENOENT) {
		st->root = json_object();
		st->vms = calloc(1, sizeof(*st->vms));
		if (!st->root || !st->vms) {
			vmmi_store_release(st);
			return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		}
		vmm_trace(MOD, "read %s (absent: no VMs)", path);
		return 0;
	}
	if ((rc = vmmi_read_file(path, &data, &len, err)) < 0) {
		err->code = VMM_E_STORE_CORRUPT;
		snprintf(err->hint, sizeof(err->hint), "check the permissions of %s", path);
		return rc;
	}
	rc = vmmi_store_parse(path, data, len, st, err);
	free(data);
	if (rc == 0)
		vmm_trace(MOD, "read %s (%zu VMs)", path, st->n);
	return rc;
}

int vmmi_store_save(const char *path, const struct vmmi_store *st, struct vmm_error *err)
{
	json_t *root = json_deep_copy((json_t *)st->root), *vms = json_object();
	char *text = NULL;
	int rc;

	if (!root || !vms)
		goto oom;
	for (size_t i = 0; i < st->n; i++) {
		json_t *o = vm_to_json(st->vms[i]);

		if (!o || json_object_set_new(vms, st->vms[i]->name, o) < 0)
			goto oom;
	}
	if (json_object_set_new(root, "version", json_integer(VMMI_STORE_VERSION)) < 0 ||
	    json_object_set(root, "vms", vms) < 0)
		goto oom;
	text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!text)
		goto oom;
	{
		/* json_dumps writes no trailing newline; add one for cat and diff. */
		char *withnl = vmmi_asprintf("%s\n", text);

		if (!withnl)
			goto oom;
		rc = vmmi_write_file_atomic(path, withnl, strlen(withnl), 0600, err);
		free(withnl);
	}
	vmm_trace(MOD, "wrote %s (%zu VMs)", path, st->n);
	free(text);
	json_decref(vms);
	json_decref(root);
	return rc;
oom:
	free(text);
	json_decref(vms);
	json_decref(root);
	return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory writing %s", path);
}

struct vmm_vm *vmmi_store_find(const struct vmmi_store *st, const char *name)
{
	for (size_t i = 0; i < st->n; i++)
		if (strcmp(st->vms[i]->name, name) == 0)
			return st->vms[i];
	return NULL;
}

int vmmi_store_put(struct vmmi_store *st, const struct vmm_vm *vm, struct vmm_error *err)
{
	struct vmm_vm *copy = vmm_vm_dup(vm), **grown;

	if (!copy)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	for (size_t i = 0; i < st->n; i++) {
		if (strcmp(st->vms[i]->name, vm->name) == 0) {
			vmm_vm_free(st->vms[i]);
			st->vms[i] = copy;
			return 0;
		}
	}
	grown = realloc(st->vms, (st->n + 1) * sizeof(*st->vms));
	if (!grown) {
		vmm_vm_free(copy);
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	}
	st->vms = grown;
	st->vms[st->n++] = copy;
	qsort(st->vms, st->n, sizeof(*st->vms), cmp_vm);
	return 0;
}

int vmmi_store_remove(struct vmmi_store *st, const char *name)
{
	for (size_t i = 0; i < st->n; i++) {
		if (strcmp(st->vms[i]->name, name) == 0) {
			vmm_vm_free(st->vms[i]);
			memmove(&st->vms[i], &st->vms[i + 1], (st->n - i - 1) * sizeof(*st->vms));
			st->n--;
			return 1;
		}
	}
	return 0;
}

int vmmi_store_lock(const struct vmm_paths *paths, struct vmm_error *err)
{
	char *p = vmmi_path_join(paths->locks_dir, "store.lock");
	int fd;

	if (!p)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	fd = vmmi_lock_path(p, err);
	free(p);
	return fd;
}

int vmmi_vm_lock(const struct vmm_paths *paths, const char *name, struct vmm_error *err)
{
	char *p = vmmi_asprintf("%s/vm-%s.lock", paths->locks_dir, name);
	int fd;

	if (!p)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	fd = vmmi_lock_path(p, err);
	free(p);
	return fd;
}
