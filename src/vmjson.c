/* SPDX-License-Identifier: MIT */
#include "vmjson.h"

#include <stdio.h>
#include <stdlib.h>

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

json_t *cli_vm_json(const struct vmm_vm *vm)
{
	json_t *net = json_pack("{s:s}", "type", vmm_net_type_name(vm->network.type));

	if (net && vm->network.type == VMM_NET_TAP)
		json_object_set_new(net, "bridge", str_or_null(vm->network.bridge));
	if (net && vm->network.type == VMM_NET_VNIC)
		json_object_set_new(net, "name", str_or_null(vm->network.vnic));
	return json_pack("{s:o, s:o, s:s, s:s, s:i, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o,"
			 " s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
			 "name", str_or_null(vm->name),
			 "id", str_or_null(vm->id),
			 "backend", vmm_backend_name(vm->backend),
			 "state", vmm_vm_state_name(vm->state),
			 "vcpus", (int)vm->vcpus,
			 "memory_mb", (json_int_t)vm->memory_mb,
			 "disk_gb", vm->disk_gb ? json_integer(vm->disk_gb) : json_null(),
			 "network", net ? net : json_null(),
			 "pid", vm->pid ? json_integer(vm->pid) : json_null(),
			 "ssh_port", vm->ssh_host_port ? json_integer(vm->ssh_host_port) : json_null(),
			 "ssh_user", str_or_null(vm->ssh_user),
			 "mac_addr", str_or_null(vm->mac_addr),
			 "vnc_addr", str_or_null(vm->vnc_addr),
			 "work_dir", str_or_null(vm->work_dir),
			 "image_path", str_or_null(vm->image_path),
			 "image_url", str_or_null(vm->image_url),
			 "overlay_path", str_or_null(vm->overlay_path),
			 "seed_iso_path", str_or_null(vm->seed_iso_path),
			 "ssh_key_path", str_or_null(vm->ssh_key_path),
			 "created_at", str_or_null(vm->created_at));
}

int cli_print_json(json_t *v)
{
	char *s;

	if (!v)
		return -1;
	s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (!s)
		return -1;
	puts(s);
	free(s);
	return 0;
}
