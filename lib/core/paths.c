/* SPDX-License-Identifier: MIT */
#include "vmm/paths.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

void vmm_paths_release(struct vmm_paths *p)
{
	if (!p)
		return;
	free(p->data_dir);
	free(p->store_path);
	free(p->images_dir);
	free(p->vms_dir);
	free(p->locks_dir);
	memset(p, 0, sizeof(*p));
}

int vmm_paths_init_at(struct vmm_paths *p, const char *data_dir, struct vmm_error *err)
{
	memset(p, 0, sizeof(*p));
	p->data_dir = strdup(data_dir);
	p->store_path = vmmi_path_join(data_dir, "vms.json");
	p->images_dir = vmmi_path_join(data_dir, "images");
	p->vms_dir = vmmi_path_join(data_dir, "vms");
	p->locks_dir = vmmi_path_join(data_dir, "locks");
	if (!p->data_dir || !p->store_path || !p->images_dir || !p->vms_dir || !p->locks_dir) {
		vmm_paths_release(p);
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	}
	return 0;
}

int vmm_paths_init(struct vmm_paths *p, struct vmm_error *err)
{
	const char *xdg = getenv("XDG_DATA_HOME");
	char *dir;
	int rc;

	/* The XDG spec says a relative XDG_DATA_HOME is invalid and is ignored. */
	if (xdg && xdg[0] == '/')
		dir = vmmi_path_join(xdg, "vmctl");
	else
		dir = vmmi_asprintf("%s/.local/share/vmctl", vmmi_home());
	if (!dir)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	rc = vmm_paths_init_at(p, dir, err);
	free(dir);
	return rc;
}

int vmm_paths_ensure(const struct vmm_paths *p, struct vmm_error *err)
{
	int rc;

	if ((rc = vmmi_mkdir_p(p->data_dir, 0700, err)) < 0 ||
	    (rc = vmmi_mkdir_p(p->images_dir, 0700, err)) < 0 ||
	    (rc = vmmi_mkdir_p(p->vms_dir, 0700, err)) < 0 ||
	    (rc = vmmi_mkdir_p(p->locks_dir, 0700, err)) < 0)
		return rc;
	return 0;
}

char *vmm_paths_vm_dir(const struct vmm_paths *p, const char *vm_name)
{
	return vmmi_path_join(p->vms_dir, vm_name);
}
