/* SPDX-License-Identifier: MIT */
/*
 * vmm/vm.h - the core types: a VM's specification (input to create), its
 * handle (what vms.json records), its lifecycle states.
 */
#ifndef VMM_VM_H
#define VMM_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vmm/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VMM_NAME_MAX 63

/* The limits of a VM's size, the same for the VMFile schema, `vmctl create`
 * and the library: QEMU's q35 machine takes up to 255 vCPUs without an
 * IOMMU and x2APIC interrupt remapping, which vmctl does not configure. */
#define VMM_VM_MAX_VCPUS 255
#define VMM_VM_MAX_MEMORY_MB (16ULL * 1024 * 1024) /* 16 TiB */

/* Lifecycle states (see docs/ARCHITECTURE.md for the transition table). */
enum vmm_vm_state {
	VMM_STATE_PREPARING = 0,
	VMM_STATE_PREPARED,
	VMM_STATE_RUNNING,
	VMM_STATE_SUSPENDED,
	VMM_STATE_STOPPED,
	VMM_STATE_FAILED,
	VMM_STATE_DESTROYED,
	VMM_STATE_SAVED, /* not running; its RAM and devices saved to restore */
	VMM_STATE_UNKNOWN, /* only in a list: its host did not answer in time */
};

/* Lifecycle operations, for vmm_lifecycle_check. */
enum vmm_vm_op {
	VMM_OP_START = 0,
	VMM_OP_STOP,
	VMM_OP_SUSPEND,
	VMM_OP_RESUME,
	VMM_OP_DESTROY,
	VMM_OP_SAVE, /* stop --save: write the running state, then stop */
};

const char *vmm_vm_state_name(enum vmm_vm_state s); /* lowercase, e.g. "running" */
int vmm_vm_state_parse(const char *s, enum vmm_vm_state *out); /* 0 / -1 */
const char *vmm_vm_op_name(enum vmm_vm_op op);                  /* e.g. "start" */

/*
 * Whether op is allowed from state; on success stores the state the VM is in
 * after the operation. Returns 0, or VMM_E_INVALID_STATE filled in err with
 * the current state in the message and a hint naming what to do instead.
 */
int vmm_lifecycle_check(const char *vm_name, enum vmm_vm_state from, enum vmm_vm_op op,
			enum vmm_vm_state *to, struct vmm_error *err);

/* Validate a VM name: 1..63 of [A-Za-z0-9._-], not starting with '.' or '-'.
 * It becomes a directory name, so this is checked everywhere. */
int vmm_vm_name_validate(const char *name, struct vmm_error *err);

/* Validate a snapshot tag by the same rules (VMM_E_INVALID_CONFIG). */
int vmm_snapshot_tag_validate(const char *tag, struct vmm_error *err);

enum vmm_backend_tag {
	VMM_BACKEND_NOOP = 0,
	VMM_BACKEND_QEMU,
	VMM_BACKEND_PROPOLIS,
	VMM_BACKEND_LIBVIRT, /* a libvirt daemon, local or remote, by URI */
};
const char *vmm_backend_name(enum vmm_backend_tag t); /* "noop", "qemu", "propolis", "libvirt" */
int vmm_backend_parse(const char *s, enum vmm_backend_tag *out); /* 0 / -1 */

enum vmm_net_type {
	VMM_NET_USER = 0,
	VMM_NET_TAP,
	VMM_NET_VNIC,
	VMM_NET_NONE,
};
const char *vmm_net_type_name(enum vmm_net_type t); /* "user", "tap", "vnic", "none" */
int vmm_net_type_parse(const char *s, enum vmm_net_type *out);

struct vmm_network {
	enum vmm_net_type type;
	char *bridge; /* tap: bridge name (default "br0") */
	char *vnic;   /* vnic: link name */
};

/*
 * A port forward of user networking: host ADDRESS:HOST_PORT to the guest's
 * GUEST_PORT, TCP or UDP. A host port of 0 asks vmctl to pick one: the
 * record then holds the port picked (auto_port set), re-checked at each
 * start.
 */
#define VMM_FORWARD_ADDR_MAX 16 /* a dotted IPv4 address and its NUL */
#define VMM_FORWARD_DEFAULT_ADDR "127.0.0.1"
#define VMM_FORWARDS_MAX 64

struct vmm_forward {
	char address[VMM_FORWARD_ADDR_MAX]; /* host address, dotted IPv4 */
	unsigned host_port;                 /* 0: vmctl picks one */
	unsigned guest_port;                /* 1..65535 */
	bool udp;                           /* else TCP */
	bool auto_port;                     /* host port picked by vmctl */
};

/*
 * Parse Docker's notation: [IP:][HOSTPORT:]GUESTPORT[/tcp|/udp] ("80",
 * "8080:80", "127.0.0.1:5353:53/udp", "0.0.0.0:8443:443", "127.0.0.1::80");
 * a host port omitted or 0 is picked by vmctl. VMM_E_INVALID_CONFIG saying
 * which part is wrong, with a hint.
 */
int vmm_forward_parse(const char *s, struct vmm_forward *out, struct vmm_error *err);
/* A host port with an optional protocol, as `vmctl port --rm` takes it:
 * "8080", "5353/udp". */
int vmm_forward_parse_host(const char *s, unsigned *port, bool *udp, struct vmm_error *err);
/* "tcp" / "udp". */
const char *vmm_forward_proto(const struct vmm_forward *f);
/* "8080->80/tcp", "0.0.0.0:8443->443/tcp" (the address when it is not
 * 127.0.0.1), as the PORTS column of `vmctl list` shows it; "80/tcp" for
 * a forward without a host port (a backend that forwards none). */
void vmm_forward_format(const struct vmm_forward *f, char *buf, size_t size);
/*
 * Check a VM's forwards together: at most VMM_FORWARDS_MAX, no host port
 * (with its protocol) twice, only with user networking. VMM_E_INVALID_CONFIG
 * naming the forward, with a hint.
 */
int vmm_forwards_check(const struct vmm_forward *fw, size_t n, enum vmm_net_type net,
		       struct vmm_error *err);
/* How a shared folder reaches the guest. */
enum vmm_share_type {
	VMM_SHARE_VIRTIOFS = 0, /* virtiofsd + vhost-user-fs-pci */
	VMM_SHARE_9P,           /* virtio-9p-pci (QEMU's own server) */
};
const char *vmm_share_type_name(enum vmm_share_type t); /* "virtiofs", "9p" */

/* A host directory shared with the guest, mounted at guest. */
struct vmm_share {
	char *host;    /* absolute directory on the host */
	char *guest;   /* absolute mount point in the guest */
	bool readonly;
	/* Chosen when the VM is created: 9p for a readonly share (QEMU refuses
	 * the guest's writes; virtiofsd has no read-only mode) and where
	 * virtiofsd cannot run, else virtiofs. */
	enum vmm_share_type type;
};

/* The shares of a VM, in order; the guest finds share i under the tag
 * "vmctl<i>". */
struct vmm_shares {
	struct vmm_share *v;
	size_t n;
};

/*
 * Parse "HOST:GUEST[:ro]" (--share): HOST made absolute against the current
 * directory, GUEST absolute. *out's strings are malloc'd (free with
 * vmm_share_release); type is left VMM_SHARE_VIRTIOFS. VMM_E_USAGE on a
 * malformed value.
 */
int vmm_share_parse(const char *text, struct vmm_share *out, struct vmm_error *err);
void vmm_share_release(struct vmm_share *sh);

/* Cloud-init input, resolved (files already read). */
struct vmm_cloud_init {
	char *user_data;       /* raw user-data to pass through untouched, or NULL to
				  generate vmctl's cloud-config */
	size_t user_data_len;
	char *hostname;        /* NULL: the VM name */
	char *ssh_pubkey;      /* explicit public key (OpenSSH line), or NULL to
				  generate a per-VM keypair */
};

/* What to create. Strings are borrowed for the duration of the call. */
struct vmm_vm_spec {
	const char *name;
	const char *image_path;  /* local base image (already downloaded) */
	const char *image_url;   /* where it came from, for the record; may be NULL */
	unsigned vcpus;          /* default 1 */
	uint64_t memory_mb;      /* default 1024 */
	unsigned disk_gb;        /* 0: same as the base image */
	struct vmm_network network;
	struct vmm_cloud_init *cloud_init; /* NULL: no seed */
	const char *ssh_user;    /* NULL: "vm" */
	const struct vmm_forward *forwards; /* user networking: host ports */
	size_t n_forwards;
	/* Shared folders (borrowed); each type is chosen at create. */
	const struct vmm_share *shares;
	size_t n_shares;
	/* libvirt: set uri to place the VM on that libvirt daemon (the libvirt
	 * backend); host is its name in the VMFile (NULL: none), pool the
	 * storage pool (NULL: "default"), libvirt_network the network the NIC
	 * joins unless network is a bridge (NULL: "default"). */
	const char *uri;
	const char *host;
	const char *pool;
	const char *libvirt_network;
};

void vmm_vm_spec_init(struct vmm_vm_spec *spec); /* defaults: 1 vCPU, 1024 MB, user */

/*
 * A VM's handle, as recorded in vms.json. All strings are owned (malloc'd);
 * NULL means "not set". pid 0 means no process recorded.
 */
struct vmm_vm {
	char *id;
	char *name;
	enum vmm_backend_tag backend;
	enum vmm_vm_state state;
	char *work_dir;
	char *image_path;
	char *image_url;
	char *overlay_path;
	char *seed_iso_path;
	pid_t pid;
	unsigned long long pid_starttime; /* to tell a recycled pid from ours */
	char *qmp_socket;
	char *console_socket;
	char *vnc_addr;
	unsigned vcpus;
	uint64_t memory_mb;
	unsigned disk_gb;
	struct vmm_network network;
	unsigned ssh_host_port; /* 0: none */
	char *mac_addr;
	char *ssh_user;
	char *ssh_key_path;     /* private key vmctl generated or was given */
	char *created_at;       /* RFC 3339 UTC */
	struct vmm_forward *forwards; /* malloc'd, n_forwards of them */
	size_t n_forwards;
	struct vmm_shares shares; /* shared folders, owned */
	char *host;             /* libvirt: the VMFile's host name (NULL: none) */
	char *uri;              /* libvirt: the connection URI */
	char *pool;             /* libvirt: the storage pool of its volumes */
	void *extra;            /* unknown JSON fields, kept verbatim (opaque) */
};

/* A snapshot of a VM (internal to its disk; see vmm_snapshot_list). */
struct vmm_snapshot {
	char *tag;
	char *date;             /* "YYYY-MM-DD HH:MM:SS" UTC; may be NULL */
	uint64_t vm_state_size; /* bytes of RAM and device state; 0: disk only */
	bool ram;               /* includes RAM: restoring it continues the VM */
};
void vmm_snapshot_list_free(struct vmm_snapshot *snaps, size_t n);

struct vmm_vm *vmm_vm_new(void);
void vmm_vm_free(struct vmm_vm *vm);  /* NULL is a no-op */
struct vmm_vm *vmm_vm_dup(const struct vmm_vm *vm);
void vmm_vm_list_free(struct vmm_vm **vms, size_t n);

/*
 * The documented JSON form of a VM, as `vmctl list --json` and `vmctl
 * status --json` print it: a new jansson object (json_t *) with the keys in
 * their documented order (print it with JSON_PRESERVE_ORDER); unset fields
 * are null. NULL when out of memory.
 */
struct json_t;
struct json_t *vmm_vm_to_json(const struct vmm_vm *vm);

#ifdef __cplusplus
}
#endif
#endif
