/* SPDX-License-Identifier: MIT */
/*
 * The illumos side of the Propolis backend: running zfs, zonecfg, zoneadm,
 * zlogin and dladm with errors that name the command, its status and its
 * stderr; a zone's state; the backend's record of a VM in its work
 * directory (propolis.json: the server's URL, the zone, the datasets).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "backends/propolis/propolis.h"
#include "core/util.h"

static char *command_line(char *const argv[])
{
	struct vmmi_buf b;

	vmmi_buf_init(&b);
	for (char *const *a = argv; *a; a++) {
		bool quote = strpbrk(*a, " ;\"'") != NULL || !**a;

		vmmi_buf_printf(&b, "%s%s%s%s", a == argv ? "" : " ", quote ? "\"" : "", *a,
				quote ? "\"" : "");
	}
	return vmmi_buf_steal(&b);
}

/* The last line of a command's stderr with text in it, trimmed. */
static void last_line(char *s)
{
	size_t n = s ? strlen(s) : 0;
	char *p;

	while (n > 0 && strchr(" \t\r\n", s[n - 1]))
		s[--n] = '\0';
	if (n && (p = strrchr(s, '\n')))
		memmove(s, p + 1, strlen(p + 1) + 1);
}

/* Where to look when a command fails and the caller has no better hint. */
static const char *default_hint(const char *tool)
{
	if (strcmp(tool, "zfs") == 0)
		return "the datasets as ZFS sees them: `zfs list -t all -r POOL`";
	if (strcmp(tool, "zoneadm") == 0 || strcmp(tool, "zonecfg") == 0 ||
	    strcmp(tool, "zlogin") == 0)
		return "the zones and their states: `zoneadm list -cv`; a zone's "
		       "configuration: `zonecfg -z NAME info`";
	if (strcmp(tool, "dladm") == 0)
		return "the VNICs: `dladm show-vnic`";
	return NULL;
}

int vmmi_zone_run(char *const argv[], char **out, const char *hint, struct vmm_error *err)
{
	char *o = NULL, *e = NULL, *line;
	struct vmm_error run_err;
	int status, rc;

	if (out)
		*out = NULL;
	rc = vmmi_run(argv, &o, &e, &status, &run_err);
	if (rc < 0) {
		rc = vmm_error_set(err, VMM_E_BACKEND, run_err.sys_errno,
				   "the propolis backend needs illumos with zones, ZFS and "
				   "the nebula-vm brand; on other systems use --backend qemu",
				   "cannot run '%s': %s", argv[0],
				   run_err.sys_errno == ENOENT ? "not found on PATH"
							       : run_err.message);
		goto out;
	}
	if (status != 0) {
		line = command_line(argv);
		last_line(e);
		rc = vmm_error_set(err, VMM_E_BACKEND, 0, hint ? hint : default_hint(argv[0]),
				   "`%s` failed (exit %d): %s", line ? line : argv[0], status,
				   e && *e ? e : "no message");
		free(line);
		goto out;
	}
	if (out) {
		*out = o;
		o = NULL;
	}
out:
	free(o);
	free(e);
	return rc;
}

bool vmmi_zone_ok(char *const argv[], char **out)
{
	struct vmm_error err;
	char *o = NULL;
	int status;

	if (out)
		*out = NULL;
	if (vmmi_run(argv, &o, NULL, &status, &err) < 0 || status != 0) {
		free(o);
		return false;
	}
	if (out)
		*out = o;
	else
		free(o);
	return true;
}

char *vmmi_zone_state(const char *zone, bool *missing)
{
	char *argv[] = {"zoneadm", "-z", (char *)zone, "list", "-p", NULL};
	char *out = NULL, *res = NULL, *f, *save = NULL;
	struct vmm_error err;
	int status, i = 0;

	*missing = false;
	if (vmmi_run(argv, &out, NULL, &status, &err) < 0) {
		*missing = true;
		return NULL;
	}
	/* zoneid:zonename:state:zonepath:uuid:brand:ip-type */
	if (status == 0 && out)
		for (f = strtok_r(out, ":\n", &save); f; f = strtok_r(NULL, ":\n", &save))
			if (++i == 3) {
				res = strdup(f);
				break;
			}
	free(out);
	return res;
}

/* ---- the record --------------------------------------------------------- */

void vmmi_propolis_vm_release(struct vmmi_propolis_vm *p)
{
	free(p->url);
	free(p->zone);
	free(p->pool);
	free(p->image_dataset);
	free(p->dataset);
	free(p->zvol);
	*p = (struct vmmi_propolis_vm){0};
}

#define FIELDS(X) X(url) X(zone) X(pool) X(image_dataset) X(dataset) X(zvol)

int vmmi_propolis_vm_load(const struct vmm_vm *vm, struct vmmi_propolis_vm *p,
			  struct vmm_error *err)
{
	char *path = vm->work_dir ? vmmi_path_join(vm->work_dir, VMMI_PROPOLIS_RECORD) : NULL;
	json_error_t je;
	json_t *j;

	*p = (struct vmmi_propolis_vm){0};
	if (!path)
		return vmm_error_set(err, VMM_E_STORE_CORRUPT, 0, NULL,
				     "VM '%s' has no work directory", vm->name);
	j = json_load_file(path, 0, &je);
	if (!j) {
		int rc = vmm_error_set(err, VMM_E_STORE_CORRUPT, 0,
				       "destroy the VM and create it again",
				       "cannot read the propolis record of VM '%s' (%s): %s",
				       vm->name, path, je.text);

		free(path);
		return rc;
	}
	free(path);
#define GET(f)                                                                             \
	{                                                                                  \
		const char *s = json_string_value(json_object_get(j, #f));                 \
		if (s && !(p->f = strdup(s)))                                              \
			goto oom;                                                          \
	}
	FIELDS(GET)
#undef GET
	json_decref(j);
	if (!p->url || !p->zone) {
		vmmi_propolis_vm_release(p);
		return vmm_error_set(err, VMM_E_STORE_CORRUPT, 0, "destroy the VM and create it again",
				     "the propolis record of VM '%s' has no url or zone", vm->name);
	}
	return 0;
oom:
	json_decref(j);
	vmmi_propolis_vm_release(p);
	return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
}

int vmmi_propolis_vm_save(const struct vmm_vm *vm, const struct vmmi_propolis_vm *p,
			  struct vmm_error *err)
{
	char *path = vmmi_path_join(vm->work_dir, VMMI_PROPOLIS_RECORD), *text = NULL;
	json_t *j = json_object();
	int rc;

#define PUT(f)                                                                             \
	if (p->f)                                                                          \
		json_object_set_new(j, #f, json_string(p->f));
	FIELDS(PUT)
#undef PUT
	text = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	if (!path || !text)
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	else
		rc = vmmi_write_file_atomic(path, text, strlen(text), 0600, err);
	json_decref(j);
	free(text);
	free(path);
	return rc;
}
