/* SPDX-License-Identifier: MIT */
/*
 * lib/store.h - the VM registry, vms.json (private to libvmm).
 *
 * Format (version 1):
 *
 *   {"version": 1, "vms": {"<name>": {<handle fields>}, ...}, ...}
 *
 * Handle fields are the reference's (id, name, backend, work_dir,
 * overlay_path, seed_iso_path, pid, qmp_socket, console_socket, vnc_addr,
 * vcpus, memory_mb, disk_gb, network {"type": "User"|"Tap"|"Vnic"|"None", ...},
 * ssh_host_port, mac_addr) plus state, image_path, image_url, pid_starttime,
 * ssh_user, ssh_key_path and created_at. Missing fields take defaults;
 * unknown fields, in a handle or at the top level, are kept on rewrite. A
 * file without "version" is read as the reference's plain name->handle map.
 *
 * Writes are crash-safe (temp file, fsync, rename, fsync of the directory).
 * Every read-modify-write holds the store lock (<locks>/store.lock); callers
 * that also hold a per-VM lock take the VM lock first.
 */
#ifndef VMMI_STORE_H
#define VMMI_STORE_H

#include <stddef.h>

#include "vmm/error.h"
#include "vmm/paths.h"
#include "vmm/vm.h"

#define VMMI_STORE_VERSION 1

/* The largest vms.json read: a thousand VMs take about 400 KB. A larger
 * file is refused before it is read into memory. */
#define VMMI_STORE_MAX_SIZE (64u << 20)

struct vmmi_store {
	void *root;          /* json_t*: the document, minus "vms" */
	struct vmm_vm **vms; /* sorted by name */
	size_t n;
};

/* Load path into st. A missing file is an empty store. A corrupt file is
 * VMM_E_STORE_CORRUPT naming the file, the position and what is wrong.
 *
 * Nothing in it is trusted: a key of "vms" must be a valid VM name, and
 * the paths vmctl removes or writes (work_dir, overlay_path,
 * seed_iso_path, qmp_socket, console_socket) must be the VM's own
 * directory, DIR/vms/NAME where DIR is the directory of path, or lexically
 * inside it (no "..", ".", or empty component); a file over
 * VMMI_STORE_MAX_SIZE is refused unread. */
int vmmi_store_load(const char *path, struct vmmi_store *st, struct vmm_error *err);
/* Parse a document held in memory (name is used in messages, and its
 * directory is DIR above: "vms.json" is checked against "vms/NAME"). */
int vmmi_store_parse(const char *name, const char *data, size_t len, struct vmmi_store *st,
		     struct vmm_error *err);
int vmmi_store_save(const char *path, const struct vmmi_store *st, struct vmm_error *err);
/* The text vmmi_store_save writes (malloc'd, NUL-terminated). */
int vmmi_store_dump(const struct vmmi_store *st, char **text, size_t *len,
		    struct vmm_error *err);
void vmmi_store_release(struct vmmi_store *st);

struct vmm_vm *vmmi_store_find(const struct vmmi_store *st, const char *name);
/* Insert or replace (by name) a copy of vm. */
int vmmi_store_put(struct vmmi_store *st, const struct vmm_vm *vm, struct vmm_error *err);
/* Remove by name; returns 1 if removed, 0 if absent. */
int vmmi_store_remove(struct vmmi_store *st, const char *name);

/* Locks (flock on files in paths->locks_dir); return fd or <0. */
int vmmi_store_lock(const struct vmm_paths *paths, struct vmm_error *err);
int vmmi_vm_lock(const struct vmm_paths *paths, const char *name, struct vmm_error *err);

#endif
