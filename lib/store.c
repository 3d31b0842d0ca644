/* SPDX-License-Identifier: MIT */
/* vms.json: load, validate, save; the store and per-VM locks. */
#include "store.h"

#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "vmm/log.h"
#include "util.h"

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
		return 0;
	}
	if ((rc = vmmi_read_file(path, &data, &len, err)) < 0) {
		err->code = VMM_E_STORE_CORRUPT;
		snprintf(err->hint, sizeof(err->hint), "check the permissions of %s", path);
		return rc;
	}
	rc = vmmi_store_parse(path, data, len, st, err);
	free(data);
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
