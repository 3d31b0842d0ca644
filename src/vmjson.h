/* SPDX-License-Identifier: MIT */
/* The stable JSON form of a VM for `list --json` and `status --json`. */
#ifndef VMCTL_VMJSON_H
#define VMCTL_VMJSON_H

#include <jansson.h>

#include "vmm/vm.h"

/* A new JSON object describing vm (the documented, stable fields). */
json_t *cli_vm_json(const struct vmm_vm *vm);

/* Print a JSON value to stdout, indented, with a final newline. */
int cli_print_json(json_t *v);

#endif
