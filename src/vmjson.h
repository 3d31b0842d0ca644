/* SPDX-License-Identifier: MIT */
/* Printing JSON for the `--json` options; the JSON form of a VM is the
 * library's (vmm_vm_to_json). */
#ifndef VMCTL_VMJSON_H
#define VMCTL_VMJSON_H

#include <jansson.h>

#include "vmm/vm.h"

/* Print a JSON value to stdout, indented, with a final newline. */
int cli_print_json(json_t *v);

#endif
