/* SPDX-License-Identifier: MIT */
/*
 * lib/store/fields.h - the fields of a VM's record (struct vmm_vm), declared
 * once (private to libvmm).
 *
 * VMMI_VM_FIELDS is the one list of them. It drives reading and writing
 * vms.json (lib/store/store.c), the `--json` form of `list` and `status`
 * (vmm_vm_to_json), copying and freeing a record (lib/core/vm.c). A new
 * field is a member of struct vmm_vm and a row here, nothing else.
 *
 *   X(KIND, member, key, cli_key, min, max, dflt)
 *
 * KIND     NAME     the VM's name (char *): in a handle, it must match the
 *                   name the handle is filed under
 *          STR      a string (char *), NULL when unset
 *          INT      an integer member, within [min, max]; dflt is what
 *                   vmm_vm_new sets. A field with min 0 is unset at 0: not
 *                   written to vms.json, null in the `--json` form
 *          BACKEND  enum vmm_backend_tag, by name
 *          STATE    enum vmm_vm_state, by name ("stopped" when absent: the
 *                   reference recorded none)
 *          NET      struct vmm_network, an object (VMMI_NET_FIELDS)
 *          FWD      struct vmm_forward * with its count n_<member>: an
 *                   array of {"protocol", "address", "host_port",
 *                   "guest_port", "auto"} objects, omitted when empty
 *          SHARES   struct vmm_shares, an array of {"host", "guest",
 *                   "readonly", "type"} objects; omitted when empty
 * key      its key in a handle in vms.json
 * cli_key  its key in the `--json` form, NULL for none. The rows are in the
 *          order of that form.
 *
 * Unknown keys of a handle are kept in struct vmm_vm::extra, a jansson
 * object (json_t *) or NULL, and written back as they were.
 */
#ifndef VMMI_STORE_FIELDS_H
#define VMMI_STORE_FIELDS_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/vm.h"

#define VMMI_VM_FIELDS(X)                                                              \
	X(NAME, name, "name", "name", 0, 0, 0)                                          \
	X(STR, id, "id", "id", 0, 0, 0)                                                 \
	X(BACKEND, backend, "backend", "backend", 0, 0, 0)                              \
	X(STATE, state, "state", "state", 0, 0, 0)                                      \
	X(INT, vcpus, "vcpus", "vcpus", 1, 65535, 1)                                    \
	X(INT, memory_mb, "memory_mb", "memory_mb", 1, INT64_MAX, 1024)                 \
	X(INT, disk_gb, "disk_gb", "disk_gb", 0, UINT32_MAX, 0)                         \
	X(NET, network, "network", "network", 0, 0, 0)                                  \
	X(INT, pid, "pid", "pid", 0, INT32_MAX, 0)                                      \
	X(INT, ssh_host_port, "ssh_host_port", "ssh_port", 0, 65535, 0)                 \
	X(STR, ssh_user, "ssh_user", "ssh_user", 0, 0, 0)                               \
	X(STR, mac_addr, "mac_addr", "mac_addr", 0, 0, 0)                               \
	X(STR, vnc_addr, "vnc_addr", "vnc_addr", 0, 0, 0)                               \
	X(STR, work_dir, "work_dir", "work_dir", 0, 0, 0)                               \
	X(STR, image_path, "image_path", "image_path", 0, 0, 0)                         \
	X(STR, image_url, "image_url", "image_url", 0, 0, 0)                            \
	X(STR, overlay_path, "overlay_path", "overlay_path", 0, 0, 0)                   \
	X(STR, seed_iso_path, "seed_iso_path", "seed_iso_path", 0, 0, 0)                \
	X(STR, ssh_key_path, "ssh_key_path", "ssh_key_path", 0, 0, 0)                   \
	X(STR, created_at, "created_at", "created_at", 0, 0, 0)                         \
	X(FWD, forwards, "forwards", "forwards", 0, 0, 0)                               \
	X(SHARES, shares, "shares", "shares", 0, 0, 0)                                  \
	X(STR, host, "host", "host", 0, 0, 0)                                           \
	X(STR, uri, "uri", "uri", 0, 0, 0)                                              \
	X(STR, pool, "pool", "pool", 0, 0, 0)                                           \
	X(INT, pid_starttime, "pid_starttime", NULL, 0, INT64_MAX, 0)                   \
	X(STR, qmp_socket, "qmp_socket", NULL, 0, 0, 0)                                 \
	X(STR, console_socket, "console_socket", NULL, 0, 0, 0)

/*
 * The paths of a record that vmctl removes, writes or binds: they must be
 * the VM's own directory (<data dir>/vms/NAME) or inside it, or the record
 * is refused when vms.json is read. image_path (the image cache or the
 * user's image) and ssh_key_path (the user's --key, or the generated key in
 * the work directory) are only read, and are not listed.
 *
 *   X(member, is_dir)   is_dir: the directory itself, else a file in it
 */
#define VMMI_VM_OWN_PATHS(X)                                                           \
	X(work_dir, true)                                                               \
	X(overlay_path, false)                                                          \
	X(seed_iso_path, false)                                                         \
	X(qmp_socket, false)                                                            \
	X(console_socket, false)

/*
 * The network object: {"type": "User"|"Tap"|"Vnic"|"None", ...} in
 * vms.json (the type is read in any case), the lowercase type name in the
 * `--json` form. Each row is a string member of struct vmm_network that
 * the network of one type has:
 *
 *   X(member, key, type, dflt)   dflt: taken when the key is absent; NULL:
 *                                the key is required
 */
#define VMMI_NET_FIELDS(X)                                                             \
	X(bridge, "bridge", VMM_NET_TAP, "br0")                                         \
	X(vnic, "name", VMM_NET_VNIC, NULL)

enum vmmi_field_kind {
	VMMI_FK_NAME,
	VMMI_FK_STR,
	VMMI_FK_INT,
	VMMI_FK_BACKEND,
	VMMI_FK_STATE,
	VMMI_FK_NET,
	VMMI_FK_FWD,
	VMMI_FK_SHARES,
};

#define VMMI_FIELD_ID(kind, member, ...) VMMI_F_##member,
enum vmmi_vm_field_id { VMMI_VM_FIELDS(VMMI_FIELD_ID) VMMI_F__COUNT };
#undef VMMI_FIELD_ID

struct vmmi_vm_field {
	const char *key;     /* in vms.json */
	const char *cli_key; /* in the `--json` form; NULL: not shown */
	enum vmmi_field_kind kind;
	size_t off;          /* offsetof(struct vmm_vm, member) */
	long long min, max, dflt; /* VMMI_FK_INT */
};

extern const struct vmmi_vm_field vmmi_vm_fields[VMMI_F__COUNT];

#define VMMI_NET_FIELD_ID(member, ...) VMMI_NF_##member,
enum vmmi_net_field_id { VMMI_NET_FIELDS(VMMI_NET_FIELD_ID) VMMI_NF__COUNT };
#undef VMMI_NET_FIELD_ID

struct vmmi_net_field {
	const char *key;
	enum vmm_net_type type; /* the network type that has it */
	size_t off;             /* offsetof(struct vmm_network, member) */
	const char *dflt;       /* NULL: required */
};

extern const struct vmmi_net_field vmmi_net_fields[VMMI_NF__COUNT];

/* The type's name in vms.json: "User", "Tap", "Vnic", "None". */
const char *vmmi_net_type_store_name(enum vmm_net_type t);

/* The two JSON forms of a record, both by the table: as vms.json records it
 * (keys, unset fields omitted, unknown fields kept, network type "User")
 * and as `list --json` / `status --json` show it (cli keys, unset fields
 * null, network type "user"). A new object, or NULL when out of memory. */
enum vmmi_vm_json_form {
	VMMI_JSON_STORE,
	VMMI_JSON_CLI,
};
struct json_t *vmmi_vm_json(const struct vmm_vm *vm, enum vmmi_vm_json_form form);

/* A forward as one object of the "forwards" array (both forms), and the
 * array of a record's forwards; NULL when out of memory. */
struct json_t *vmmi_forward_json(const struct vmm_forward *f);
struct json_t *vmmi_forwards_json(const struct vmm_forward *fw, size_t n);

/* A VMMI_FK_INT field's value, and setting it (v within its range). */
long long vmmi_vm_int_get(const struct vmm_vm *vm, enum vmmi_vm_field_id id);
void vmmi_vm_int_set(struct vmm_vm *vm, enum vmmi_vm_field_id id, long long v);

/* The slot of a VMMI_FK_STR or VMMI_FK_NAME field. */
static inline char **vmmi_vm_str(struct vmm_vm *vm, const struct vmmi_vm_field *f)
{
	return (char **)(void *)((char *)vm + f->off);
}

static inline char *vmmi_vm_str_get(const struct vmm_vm *vm, const struct vmmi_vm_field *f)
{
	return *(char *const *)(const void *)((const char *)vm + f->off);
}

static inline char **vmmi_net_str(struct vmm_network *net, const struct vmmi_net_field *f)
{
	return (char **)(void *)((char *)net + f->off);
}

static inline char *vmmi_net_str_get(const struct vmm_network *net,
				     const struct vmmi_net_field *f)
{
	return *(char *const *)(const void *)((const char *)net + f->off);
}

#endif
