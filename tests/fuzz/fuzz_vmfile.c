/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the VMFile layer: the schema checks and the
 * diagnostic renderer on arbitrary input. Every input must either load or
 * produce at least one diagnostic whose span lies inside the input, and the
 * rendering of every diagnostic must succeed and contain no raw control
 * character (the renderer's promise that garbage cannot reach a terminal).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/diag.h"
#include "vmm/vmfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_render(const char *text)
{
	if (!text)
		abort();
	for (const unsigned char *p = (const unsigned char *)text; *p; p++)
		if (*p < 0x20 && *p != '\n' && *p != '\033')
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmm_vmfile *vf = NULL;
	struct vmm_diags diags;
	struct vmm_error err;
	int rc;

	vmm_diags_init(&diags);
	rc = vmm_vmfile_parse((const char *)data, size, "VMFile.kdl", "/fuzz/base",
			      VMM_VMFILE_NO_FS_CHECKS, &vf, &diags, &err);
	if (rc == 0) {
		const struct vmm_vmfile_vm *vm = NULL;

		if (!vf || vf->n_vms == 0 || diags.n != 0)
			abort();
		for (size_t i = 0; i < vf->n_vms; i++) {
			if (vmm_vmfile_find(vf, vf->vms[i].name) == NULL)
				abort();
			if (vf->vms[i].vcpus == 0 || vf->vms[i].memory_mb == 0)
				abort();
		}
		(void)vmm_vmfile_select(vf, NULL, &vm, &err);
		(void)vmm_vmfile_select(vf, "no-such-vm", &vm, &err);
	} else if (rc != -VMM_E_NOMEM) {
		char *all;

		if (vf || diags.n == 0)
			abort();
		for (size_t i = 0; i < diags.n; i++) {
			const struct vmm_span *s = &diags.items[i].span;

			if (s->line == 0 || s->offset > size || s->length > size - s->offset)
				abort();
		}
		all = vmm_diags_render(&diags, 0);
		check_render(all);
		free(all);
		all = vmm_diags_render(&diags, VMM_DIAG_COLOR);
		check_render(all);
		free(all);
	}
	vmm_vmfile_free(vf);
	vmm_diags_release(&diags);
	return 0;
}
