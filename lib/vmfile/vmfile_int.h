/* SPDX-License-Identifier: MIT */
/* lib/vmfile_int.h - private interface between the VMFile modules. */
#ifndef VMMI_VMFILE_INT_H
#define VMMI_VMFILE_INT_H

#include "vmm/diag.h"
#include "vmm/kdl.h"
#include "vmm/vmfile.h"

/*
 * Check a parsed KDL document against the VMFile schema and build the
 * result (path and base_dir left NULL for the caller). Every problem is
 * appended to diags. Returns 0 and sets *out, or -VMM_E_VMFILE_VALIDATION
 * (diagnostics sorted by position) or -VMM_E_NOMEM with *out NULL.
 */
int vmmi_vmfile_from_document(const struct vmm_kdl_document *doc, const char *base_dir,
			      unsigned flags, struct vmm_diags *diags, struct vmm_vmfile **out);

#endif
