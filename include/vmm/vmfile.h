/* SPDX-License-Identifier: MIT */
/*
 * vmm/vmfile.h - VMFile.kdl: discovery, parsing, validation, path resolution.
 *
 * A VMFile is a KDL document of `vm "NAME" { ... }` blocks (the format is
 * documented in vmfile(5)). Loading one parses it (KDL 2.0, KDL 1.0 as a
 * fallback), checks every rule of the schema and collects ALL problems as
 * diagnostics with their source positions, rather than stopping at the
 * first. On success the result is fully resolved: defaults applied, every
 * local path made absolute (relative to the VMFile's directory, `~`
 * expanded) and, unless VMM_VMFILE_NO_FS_CHECKS is given, checked to exist.
 *
 * Typical use:
 *
 *     char *path;
 *     struct vmm_vmfile *vf;
 *     struct vmm_diags diags;
 *
 *     if (vmm_vmfile_discover(opt_file, &path, &err) < 0)
 *         ... print err ...
 *     vmm_diags_init(&diags);
 *     if (vmm_vmfile_load(path, 0, &vf, &diags, &err) < 0) {
 *         if (diags.n)  ... print vmm_diags_render(&diags, flags) ...
 *         else          ... print err ...
 *     }
 *     for (size_t i = 0; i < vf->n_vms; i++) ... vf->vms[i] ...
 *     vmm_vmfile_free(vf);
 *     vmm_diags_release(&diags);
 */
#ifndef VMM_VMFILE_H
#define VMM_VMFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/diag.h"
#include "vmm/error.h"
#include "vmm/vm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The file looked for in the current directory. */
#define VMM_VMFILE_DEFAULT_NAME "VMFile.kdl"

/* Defaults and limits of the schema. */
#define VMM_VMFILE_DEFAULT_VCPUS 1
#define VMM_VMFILE_DEFAULT_MEMORY_MB 1024
#define VMM_VMFILE_DEFAULT_BRIDGE "br0"
#define VMM_VMFILE_DEFAULT_SSH_USER "vm"
#define VMM_VMFILE_MAX_VCPUS VMM_VM_MAX_VCPUS
#define VMM_VMFILE_MAX_MEMORY_MB VMM_VM_MAX_MEMORY_MB
#define VMM_VMFILE_MAX_DISK_GB 65536                    /* 64 TiB */

/*
 * A local file named in the VMFile. raw is the text as written, path the
 * resolved absolute path; both NULL when the setting is absent. span points
 * at the value in the VMFile.
 */
struct vmm_vmfile_path {
	char *raw;
	char *path;
	struct vmm_span span;
};

enum vmm_image_kind {
	VMM_IMAGE_LOCAL = 0, /* `image "PATH"` */
	VMM_IMAGE_URL,       /* `image-url "URL" [sha256="HEX"]` */
};

struct vmm_vmfile_image {
	enum vmm_image_kind kind;
	struct vmm_vmfile_path local; /* VMM_IMAGE_LOCAL */
	char *url;                    /* VMM_IMAGE_URL: http, https or file URL */
	char *sha256;                 /* VMM_IMAGE_URL: 64 lowercase hex digits, or NULL */
	struct vmm_span span;         /* the image / image-url node */
};

struct vmm_vmfile_network {
	enum vmm_net_type type; /* default VMM_NET_USER */
	char *bridge;           /* tap: the bridge (default "br0"); else NULL */
	char *vnic;             /* vnic: the link name; else NULL */
	struct vmm_span span;   /* the network node (line 0 when defaulted) */
	struct vmm_forward *forwards;  /* user: the `forward HOST GUEST` children */
	struct vmm_span *forward_spans; /* each one's node */
	size_t n_forwards;
};

struct vmm_vmfile_cloud_init {
	char *hostname;                   /* NULL: not set */
	struct vmm_span hostname_span;
	struct vmm_vmfile_path ssh_key;   /* public key file */
	struct vmm_vmfile_path user_data; /* raw user-data file */
	struct vmm_span span;
};

struct vmm_vmfile_ssh {
	char *user;                         /* never NULL: default "vm" */
	struct vmm_span user_span;          /* line 0: defaulted */
	struct vmm_vmfile_path private_key; /* NULL path: not set */
	struct vmm_span span;
};

enum vmm_provision_kind {
	VMM_PROVISION_SHELL = 0,
	VMM_PROVISION_FILE,
};

struct vmm_vmfile_provision {
	enum vmm_provision_kind kind;
	char *inline_cmd;              /* shell: the command, or NULL */
	struct vmm_vmfile_path script; /* shell: script file (path NULL if inline) */
	struct vmm_vmfile_path source; /* file: local source */
	char *destination;             /* file: absolute path on the guest */
	struct vmm_span span;          /* the provision node */
	struct vmm_span inline_span;   /* shell: the inline command's value */
	struct vmm_span destination_span;
};

/* `share "HOST" "GUEST" [readonly=#true]`: a host directory mounted in
 * the guest. */
struct vmm_vmfile_share {
	struct vmm_vmfile_path host; /* resolved like every path; must be a directory */
	char *guest;                 /* absolute */
	bool readonly;
	struct vmm_span span;        /* the share node */
};

/* A VM another depends on (`depends-on "db"`). */
struct vmm_vmfile_dep {
	char *name;
	size_t index;         /* of that VM in vmm_vmfile.vms */
	struct vmm_span span; /* the name's value in the VMFile */
};

/* A libvirt host: `host "NAME" uri="qemu+ssh://..." pool="..." network="..."`. */
struct vmm_vmfile_host {
	char *name;
	char *uri;     /* NULL: LIBVIRT_DEFAULT_URI when a VM is created */
	char *pool;    /* NULL: "default" */
	char *network; /* NULL: "default" */
	struct vmm_span span;
};

struct vmm_vmfile_vm {
	char *name;
	struct vmm_span span;      /* the vm node */
	struct vmm_span name_span; /* its name argument */
	struct vmm_vmfile_image image;
	unsigned vcpus;            /* default 1 */
	uint64_t memory_mb;        /* default 1024 */
	unsigned disk_gb;          /* 0: not set (the base image's size) */
	/* Where vcpus, memory and disk were set (line 0: defaulted). */
	struct vmm_span vcpus_span, memory_span, disk_span;
	struct vmm_vmfile_network network;
	struct vmm_vmfile_cloud_init *cloud_init; /* NULL: no cloud-init block */
	struct vmm_vmfile_ssh *ssh;               /* NULL: no ssh block */
	struct vmm_vmfile_provision *provisions;  /* in file order */
	size_t n_provisions;
	/* `backend "propolis"`: the backend the VM is created with (else the
	 * caller's, $VMCTL_BACKEND or the platform's default). */
	bool backend_set;
	enum vmm_backend_tag backend;
	struct vmm_vmfile_share *shares;          /* in file order */
	size_t n_shares;
	/* The same shares as create takes them (strings borrowed from shares;
	 * NULL when there are none or one is invalid). */
	struct vmm_share *share_specs;
	/* The VMs it needs up and provisioned before it starts (depends-on),
	 * as written; each names another VM of the file, and the graph has no
	 * cycle (both checked by validation). */
	struct vmm_vmfile_dep *deps;
	size_t n_deps;
	/* `host "NAME"`: the VM goes to that libvirt host (an entry of the
	 * VMFile's hosts); NULL: the local QEMU backend. */
	const struct vmm_vmfile_host *host;
	struct vmm_span host_span;
};

struct vmm_vmfile {
	char *path;     /* absolute path of the VMFile ("" for an in-memory one) */
	char *base_dir; /* absolute directory relative paths are resolved against */
	unsigned kdl_version; /* the KDL grammar it is written in: 1 or 2 */
	struct vmm_vmfile_vm *vms; /* in file order, at least one */
	size_t n_vms;
	struct vmm_vmfile_host *hosts; /* in file order */
	size_t n_hosts;
};

/* Flags for vmm_vmfile_load / vmm_vmfile_parse. */
#define VMM_VMFILE_NO_FS_CHECKS 0x1 /* don't check that referenced files exist */

/*
 * Find the VMFile: explicit (from --file) if given, else
 * ./VMFile.kdl. *out is a malloc'd copy of the path to use (as the user
 * should see it). A missing file is VMM_E_VMFILE_NOT_FOUND with the hint to
 * create one or pass --file; a directory is VMM_E_VMFILE_NOT_FOUND too.
 */
int vmm_vmfile_discover(const char *explicit_path, char **out, struct vmm_error *err);

/*
 * Read, parse and validate the VMFile at path. Relative paths inside it are
 * resolved against the file's directory. On success returns 0 and sets
 * *out (free with vmm_vmfile_free). On failure returns a negative code and
 * sets *out to NULL:
 *   - VMM_E_VMFILE_NOT_FOUND / VMM_E_IO: the file cannot be read (err only);
 *   - VMM_E_VMFILE_PARSE: a KDL syntax error (one diagnostic);
 *   - VMM_E_VMFILE_VALIDATION: the schema is violated (all diagnostics);
 *   - VMM_E_NOMEM.
 * diags (may be NULL) receives the diagnostics with the file name as given
 * in path and a copy of the text, ready for vmm_diags_render; err gets a
 * one-line summary ("VMFile.kdl has 3 errors").
 */
int vmm_vmfile_load(const char *path, unsigned flags, struct vmm_vmfile **out,
		    struct vmm_diags *diags, struct vmm_error *err);

/*
 * The same on a text in memory. display_name is the file name used in
 * diagnostics; base_dir the directory relative paths are resolved against
 * (NULL: the current directory). Any bytes are accepted: invalid UTF-8 or
 * binary data is a diagnostic, never a crash.
 */
int vmm_vmfile_parse(const char *text, size_t len, const char *display_name,
		     const char *base_dir, unsigned flags, struct vmm_vmfile **out,
		     struct vmm_diags *diags, struct vmm_error *err);

/* Free a VMFile. NULL is a no-op. */
void vmm_vmfile_free(struct vmm_vmfile *vf);

/* The VM named name, or NULL. */
const struct vmm_vmfile_vm *vmm_vmfile_find(const struct vmm_vmfile *vf, const char *name);

/*
 * Pick the VM a command acts on: the one named name, or, with name NULL,
 * the only VM of the file. Errors: VMM_E_VM_NOT_FOUND naming the VMs the
 * file defines (unknown name, with a "did you mean"), or VMM_E_USAGE when
 * name is NULL and the file defines several VMs (hint: --name / NAME).
 */
int vmm_vmfile_select(const struct vmm_vmfile *vf, const char *name,
		      const struct vmm_vmfile_vm **out, struct vmm_error *err);

/*
 * Fill *spec from a VM of the VMFile, for vmm_vm_create: name, vcpus,
 * memory, disk, network, ssh_user (NULL without an ssh block), image_url,
 * the libvirt host's name, uri, pool and network (NULL without `host`),
 * and image_path for a local image (NULL for image-url: the caller
 * downloads it and sets image_path). cloud_init is left NULL: reading the
 * key and user-data files is the caller's step. Strings are borrowed from
 * vm (network.bridge/vnic too: never free them); spec is valid while the
 * VMFile lives.
 */
void vmm_vmfile_vm_spec(const struct vmm_vmfile_vm *vm, struct vmm_vm_spec *spec);

/*
 * Resolve a path as the VMFile does: "~" and "~/..." become the home
 * directory ($HOME), "~user/..." that user's home; an absolute path stays;
 * anything else is joined to base_dir (NULL: the current directory). The
 * result is absolute, with "." components and duplicate '/' removed; ".."
 * is kept (folding it would be wrong across symlinks). malloc'd; NULL on
 * allocation failure.
 */
char *vmm_vmfile_resolve_path(const char *raw, const char *base_dir);

/*
 * The VMs in an order where each comes after every VM it depends on, and
 * otherwise in file order (of the VMs ready at a step, the first in the
 * file goes first). order receives vf->n_vms indexes into vf->vms.
 * Returns 0, or -VMM_E_NOMEM.
 */
int vmm_vmfile_order(const struct vmm_vmfile *vf, size_t *order, struct vmm_error *err);

/*
 * Mark in sel (vf->n_vms flags) the VM at index i and every VM it depends
 * on, directly or through others. Flags already set stay set.
 */
void vmm_vmfile_with_deps(const struct vmm_vmfile *vf, size_t i, bool *sel);

/* "local" / "url". */
const char *vmm_image_kind_name(enum vmm_image_kind kind);
/* "shell" / "file". */
const char *vmm_provision_kind_name(enum vmm_provision_kind kind);

#ifdef __cplusplus
}
#endif
#endif /* VMM_VMFILE_H */
