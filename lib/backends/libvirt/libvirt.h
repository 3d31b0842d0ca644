/* SPDX-License-Identifier: MIT */
/*
 * lib/backends/libvirt/libvirt.h - pieces of the libvirt backend shared
 * with its tests and with the SSH path to its guests (private to libvmm).
 *
 * A libvirt VM lives on the daemon its URI names: a domain named like the
 * VM, and in the storage pool (vm->pool) three volumes:
 *   <sha256 of the base image>     the base image, uploaded once per host
 *   vmctl-NAME.qcow2               the VM's overlay, backed by the base
 *   vmctl-NAME-seed.iso            its NoCloud seed (built locally first)
 * Its work directory holds, as for a local VM, the seed and the keys.
 */
#ifndef VMMI_BACKENDS_LIBVIRT_H
#define VMMI_BACKENDS_LIBVIRT_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/error.h"
#include "vmm/ssh.h"
#include "vmm/vm.h"

#define VMMI_LIBVIRT_DEFAULT_POOL "default"
#define VMMI_LIBVIRT_DEFAULT_NETWORK "default"

/* What the domain XML is built from. Strings are borrowed. */
struct vmmi_libvirt_domain {
	const char *name;
	bool kvm;                /* type 'kvm', else 'qemu' (software emulation) */
	unsigned vcpus;
	uint64_t memory_mb;
	const char *pool;
	const char *disk_volume; /* the overlay volume (qcow2) */
	const char *seed_volume; /* NULL: no seed */
	const char *mac;
	const char *bridge;      /* set: the NIC on this host bridge */
	const char *network;     /* else on this libvirt network */
	const char *console_log; /* the serial console's log file on the host */
};

/* The domain XML (malloc'd) for d: q35, the overlay on virtio-blk, the
 * seed on a second virtio-blk disk (Debian's cloud kernel has no AHCI), a
 * virtio NIC, virtio-rng, the serial console logged to a file, VNC on the
 * host's localhost. */
int vmmi_libvirt_domain_xml(const struct vmmi_libvirt_domain *d, char **out,
			    struct vmm_error *err);

/* The volume XML of an overlay of capacity bytes backed by backing_path
 * (format backing_format), and of a plain volume (format raw or qcow2). */
int vmmi_libvirt_overlay_xml(const char *name, uint64_t capacity, const char *backing_path,
			     const char *backing_format, char **out, struct vmm_error *err);
int vmmi_libvirt_volume_xml(const char *name, uint64_t capacity, const char *format,
			    char **out, struct vmm_error *err);

/* libvirt_state.c: the connection to uri, opened once per process and
 * reused (the caller never closes it). */
typedef struct _virConnect *virConnectPtr;
typedef struct _virDomain *virDomainPtr;
int vmmi_libvirt_conn(const char *uri, virConnectPtr *out, struct vmm_error *err);
/* Set err from libvirt's last error: "<what>: <libvirt's message>", with
 * the hint for its code (or force_code's); returns the negative code. */
int vmmi_libvirt_fail(struct vmm_error *err, int force_code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The hint for a libvirt error code (virErrorNumber). */
const char *vmmi_libvirt_hint(int code);
/* The VM's domain in *d (free with virDomainFree); when it does not exist,
 * *missing and VMM_E_INVALID_STATE. */
int vmmi_libvirt_domain(const struct vmm_vm *vm, virDomainPtr *d, bool *missing,
			struct vmm_error *err);

/* A libvirt domain state (virDomainState) as a vmctl state. */
enum vmm_vm_state vmmi_libvirt_state_map(int vir_state);

/* The volume names of a VM (malloc'd). */
char *vmmi_libvirt_disk_volume(const char *vm_name);
char *vmmi_libvirt_seed_volume(const char *vm_name);

/*
 * How to reach a guest of this URI's host: 0 with *out empty (host NULL)
 * when the guest's address is reachable from here (a local daemon, or a
 * transport other than ssh), 1 with *out filled (malloc'd strings; free
 * with vmmi_libvirt_jump_release) when the way is an SSH session to the
 * URI's host: its user, host, port and keyfile, as libvirt's ssh transport
 * uses them. A URI that does not parse is VMM_E_INVALID_CONFIG.
 */
struct vmmi_libvirt_jump {
	char *user;     /* NULL: the local user */
	char *host;
	unsigned port;  /* 0: 22 */
	char *keyfile;  /* ?keyfile=; NULL: the user's agent and keys */
	bool no_verify; /* ?no_verify=1: the host's key is not checked */
};
int vmmi_libvirt_jump(const char *uri, struct vmmi_libvirt_jump *out, struct vmm_error *err);
void vmmi_libvirt_jump_release(struct vmmi_libvirt_jump *j);

#endif
