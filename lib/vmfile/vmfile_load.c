/* SPDX-License-Identifier: MIT */
/*
 * VMFile discovery, reading and lookups. The schema itself lives in
 * vmfile.c, path resolution (used by both) in resolve.c.
 */
#include "vmfile/vmfile_int.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"
#include "vmm/log.h"
#include "vmm/suggest.h"

#define MOD "vmfile"

const char *vmm_image_kind_name(enum vmm_image_kind kind)
{
	return kind == VMM_IMAGE_URL ? "url" : "local";
}

const char *vmm_provision_kind_name(enum vmm_provision_kind kind)
{
	return kind == VMM_PROVISION_FILE ? "file" : "shell";
}

int vmm_vmfile_discover(const char *explicit_path, char **out, struct vmm_error *err)
{
	struct stat st;
	char *p;

	*out = NULL;
	if (!explicit_path) {
		if (stat(VMM_VMFILE_DEFAULT_NAME, &st) < 0 || S_ISDIR(st.st_mode))
			return vmm_error_set(err, VMM_E_VMFILE_NOT_FOUND, errno, NULL,
					     "%s not found in the current directory",
					     VMM_VMFILE_DEFAULT_NAME);
		p = strdup(VMM_VMFILE_DEFAULT_NAME);
	} else {
		if (!*explicit_path)
			return vmm_error_set(err, VMM_E_VMFILE_NOT_FOUND, 0,
					     "give the path of a VMFile (or of the directory "
					     "holding its VMFile.kdl)",
					     "the VMFile path is empty");
		if (stat(explicit_path, &st) < 0) {
			int e = errno;
			char hint[VMM_ERROR_HINT_MAX];

			/* The user named the file: "use --file" would not help. */
			snprintf(hint, sizeof(hint),
				 "check the path: '%s' is taken from the current directory "
				 "unless it is absolute; a directory stands for its %s",
				 explicit_path, VMM_VMFILE_DEFAULT_NAME);
			return vmm_error_set(err, VMM_E_VMFILE_NOT_FOUND, e, hint,
					     "VMFile '%s' not found: %s", explicit_path,
					     strerror(e));
		}
		if (S_ISDIR(st.st_mode)) {
			/* A directory: its VMFile.kdl. */
			p = vmmi_path_join(explicit_path, VMM_VMFILE_DEFAULT_NAME);
			if (p && (stat(p, &st) < 0 || S_ISDIR(st.st_mode))) {
				int rc = vmm_error_set(err, VMM_E_VMFILE_NOT_FOUND, ENOENT,
						       "create the VMFile there, or give the path of "
						       "the file itself",
						       "'%s' is a directory without a %s",
						       explicit_path, VMM_VMFILE_DEFAULT_NAME);

				free(p);
				return rc;
			}
		} else {
			p = strdup(explicit_path);
		}
	}
	if (!p)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	vmm_debug(MOD, "using VMFile %s", p);
	*out = p;
	return 0;
}

static int parse_into(const char *text, size_t len, const char *display_name,
		      const char *base_dir, unsigned flags, struct vmm_vmfile **out,
		      struct vmm_diags *diags, struct vmm_error *err)
{
	struct vmm_kdl_document *doc = NULL;
	struct vmm_kdl_error kerr;
	const char *name = display_name ? display_name : "<input>";
	char *base = NULL;
	int rc;

	*out = NULL;
	if (vmm_diags_set_source(diags, name, text, len) < 0) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto out;
	}
	base = vmm_vmfile_resolve_path(".", base_dir);
	if (!base) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto out;
	}
	memset(&kerr, 0, sizeof(kerr));
	rc = vmm_kdl_parse(text, len, VMM_KDL_AUTO, &doc, &kerr);
	if (rc < 0) {
		if (kerr.code == VMM_E_VMFILE_PARSE) {
			struct vmm_span s = {kerr.span.offset, kerr.span.length, kerr.span.line,
					     kerr.span.column};
			struct vmm_diag *g;

			g = vmm_diags_add(diags, VMM_E_VMFILE_PARSE, s,
					  kerr.hint[0] ? kerr.hint
						       : vmm_errcode_default_hint(VMM_E_VMFILE_PARSE),
					  "%s", kerr.message);
			if (kerr.related.line) {
				struct vmm_span r = {kerr.related.offset, kerr.related.length,
						     kerr.related.line, kerr.related.column};

				vmm_diag_set_related(diags, g, r, kerr.related_label);
			}
		}
		rc = vmm_kdl_error_to_vmm(&kerr, name, err);
		goto out;
	}
	if (doc->fell_back)
		vmm_debug(MOD, "%s: parsed as KDL 1.0", name);
	rc = vmmi_vmfile_from_document(doc, base, flags, diags, out);
	if (rc == -VMM_E_VMFILE_VALIDATION) {
		size_t n = diags->n;

		vmm_error_set(err, VMM_E_VMFILE_VALIDATION, 0, NULL, "%s has %zu error%s", name, n,
			      n == 1 ? "" : "s");
	} else if (rc < 0) {
		vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory checking %s", name);
	} else {
		(*out)->base_dir = base;
		base = NULL;
	}
out:
	vmm_kdl_document_free(doc);
	free(base);
	return rc;
}

int vmm_vmfile_parse(const char *text, size_t len, const char *display_name,
		     const char *base_dir, unsigned flags, struct vmm_vmfile **out,
		     struct vmm_diags *diags, struct vmm_error *err)
{
	struct vmm_diags local;
	int rc;

	vmm_diags_init(&local);
	rc = parse_into(text, len, display_name, base_dir, flags, out, diags ? diags : &local,
			err);
	vmm_diags_release(&local);
	if (rc == 0 && !((*out)->path = strdup(""))) {
		vmm_vmfile_free(*out);
		*out = NULL;
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	}
	return rc;
}

int vmm_vmfile_load(const char *path, unsigned flags, struct vmm_vmfile **out,
		    struct vmm_diags *diags, struct vmm_error *err)
{
	struct vmm_diags local;
	struct vmm_diags *d = diags ? diags : &local;
	char *text = NULL, *dir = NULL, *absdir = NULL, *abspath = NULL;
	const char *slash;
	size_t len = 0;
	struct stat st;
	int rc;

	*out = NULL;
	vmm_diags_init(&local);
	if (stat(path, &st) < 0) {
		rc = vmm_error_set(err, VMM_E_VMFILE_NOT_FOUND, errno, NULL,
				   "VMFile '%s' not found: %s", path, strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = vmm_error_set(err, VMM_E_VMFILE_NOT_FOUND, EISDIR, NULL,
				   "VMFile '%s' is a directory", path);
		goto out;
	}
	rc = vmmi_read_file(path, &text, &len, err);
	if (rc < 0)
		goto out;
	/* The directory relative paths are resolved against: the file's own,
	 * made absolute with symlinks resolved once here. */
	slash = strrchr(path, '/');
	dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
	if (!dir) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto out;
	}
	absdir = realpath(dir, NULL);
	if (!absdir) {
		rc = vmm_error_errno(err, VMM_E_IO, NULL, "cannot resolve the directory of '%s'",
				     path);
		goto out;
	}
	abspath = vmmi_path_join(absdir, slash ? slash + 1 : path);
	if (!abspath) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto out;
	}
	rc = parse_into(text, len, path, absdir, flags, out, d, err);
	if (rc == 0) {
		(*out)->path = abspath;
		abspath = NULL;
	}
out:
	vmm_diags_release(&local);
	free(text);
	free(dir);
	free(absdir);
	free(abspath);
	return rc;
}

const struct vmm_vmfile_vm *vmm_vmfile_find(const struct vmm_vmfile *vf, const char *name)
{
	if (!vf || !name)
		return NULL;
	for (size_t i = 0; i < vf->n_vms; i++)
		if (vf->vms[i].name && strcmp(vf->vms[i].name, name) == 0)
			return &vf->vms[i];
	return NULL;
}

void vmm_vmfile_vm_spec(const struct vmm_vmfile_vm *vm, struct vmm_vm_spec *spec)
{
	vmm_vm_spec_init(spec);
	spec->name = vm->name;
	if (vm->image.kind == VMM_IMAGE_LOCAL)
		spec->image_path = vm->image.local.path;
	else
		spec->image_url = vm->image.url;
	spec->vcpus = vm->vcpus;
	spec->memory_mb = vm->memory_mb;
	spec->disk_gb = vm->disk_gb;
	spec->network.type = vm->network.type;
	spec->network.bridge = vm->network.bridge;
	spec->network.vnic = vm->network.vnic;
	spec->forwards = vm->network.forwards;
	spec->n_forwards = vm->network.n_forwards;
	spec->ssh_user = vm->ssh ? vm->ssh->user : NULL;
	spec->shares = vm->share_specs;
	spec->n_shares = vm->share_specs ? vm->n_shares : 0;
	if (vm->host) {
		spec->host = vm->host->name;
		spec->uri = vm->host->uri;
		spec->pool = vm->host->pool;
		spec->libvirt_network = vm->host->network;
	}
}

/* "web, db, cache" */
static char *vm_names(const struct vmm_vmfile *vf)
{
	struct vmmi_buf b;

	vmmi_buf_init(&b);
	for (size_t i = 0; i < vf->n_vms; i++)
		if (vmmi_buf_printf(&b, "%s%s", i ? ", " : "", vf->vms[i].name) < 0) {
			vmmi_buf_release(&b);
			return NULL;
		}
	return vmmi_buf_steal(&b);
}

int vmm_vmfile_select(const struct vmm_vmfile *vf, const char *name,
		      const struct vmm_vmfile_vm **out, struct vmm_error *err)
{
	char *names, *hint;
	int rc;

	*out = NULL;
	if (name) {
		*out = vmm_vmfile_find(vf, name);
		if (*out)
			return 0;
	} else if (vf->n_vms == 1) {
		*out = &vf->vms[0];
		return 0;
	}
	names = vm_names(vf);
	if (name) {
		const char **cands = calloc(vf->n_vms + 1, sizeof(*cands));
		const char *guess = NULL;

		if (cands) {
			for (size_t i = 0; i < vf->n_vms; i++)
				cands[i] = vf->vms[i].name;
			guess = vmm_suggest(name, cands);
		}
		hint = guess ? vmmi_asprintf("did you mean '%s'? The VMFile defines: %s", guess,
					     names ? names : "")
			     : vmmi_asprintf("the VMFile defines: %s", names ? names : "");
		rc = vmm_error_set(err, VMM_E_VM_NOT_FOUND, 0, hint,
				   "the VMFile defines no VM named '%s'", name);
		free(cands);
	} else {
		hint = vmmi_asprintf("name one of them: %s", names ? names : "");
		rc = vmm_error_set(err, VMM_E_USAGE, 0, hint,
				   "the VMFile defines %zu VMs; say which one", vf->n_vms);
	}
	free(hint);
	free(names);
	return rc;
}
