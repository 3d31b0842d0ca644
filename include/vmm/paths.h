/* SPDX-License-Identifier: MIT */
/*
 * vmm/paths.h - where vmctl keeps its state.
 *
 *   $XDG_DATA_HOME/vmctl/          (default ~/.local/share/vmctl/), mode 0700
 *     vms.json                     the VM registry
 *     images/                      the image cache
 *     vms/<name>/                  one work directory per VM
 *     locks/                       lock files (store, per-VM, per-image)
 */
#ifndef VMM_PATHS_H
#define VMM_PATHS_H

#include "vmm/error.h"

#ifdef __cplusplus
extern "C" {
#endif

struct vmm_paths {
	char *data_dir;   /* .../vmctl */
	char *store_path; /* .../vmctl/vms.json */
	char *images_dir; /* .../vmctl/images */
	char *vms_dir;    /* .../vmctl/vms */
	char *locks_dir;  /* .../vmctl/locks */
};

/* Compute the paths from the environment. Creates nothing. */
int vmm_paths_init(struct vmm_paths *p, struct vmm_error *err);

/* Compute the paths below an explicit data directory (…/vmctl). */
int vmm_paths_init_at(struct vmm_paths *p, const char *data_dir, struct vmm_error *err);

void vmm_paths_release(struct vmm_paths *p);

/* Create data_dir, images_dir, vms_dir and locks_dir (mode 0700) if missing. */
int vmm_paths_ensure(const struct vmm_paths *p, struct vmm_error *err);

/* malloc'd path of a VM's work directory; NULL on allocation failure. */
char *vmm_paths_vm_dir(const struct vmm_paths *p, const char *vm_name);

#ifdef __cplusplus
}
#endif
#endif
