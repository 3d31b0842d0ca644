/* SPDX-License-Identifier: MIT */
/*
 * The Propolis backend's state operation, apart from the rest of its table
 * (as QEMU's) so that the registry links only this, the HTTP client and
 * the zone commands: GET /instance mapped onto vmctl's states, and the
 * zone's state from `zoneadm list -p` when the server does not answer.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "backends/backend.h"
#include "backends/propolis/propolis.h"
#include "vmm/log.h"

#define MOD "propolis"

enum vmm_vm_state vmmi_propolis_map_state(const char *s)
{
	static const char *const running[] = {"Creating", "Starting",  "Running",
					      "Rebooting", "Migrating", "Repairing"};

	if (!s)
		return VMM_STATE_STOPPED;
	for (size_t i = 0; i < sizeof(running) / sizeof(*running); i++)
		if (strcmp(s, running[i]) == 0)
			return VMM_STATE_RUNNING;
	if (strcmp(s, "Failed") == 0)
		return VMM_STATE_FAILED;
	return VMM_STATE_STOPPED; /* Stopping, Stopped, Destroyed */
}

void vmmi_propolis_uuid(const char *id, char out[37])
{
	size_t n = id ? strlen(id) : 0, j = 0;

	for (size_t i = 0; i < 32; i++) {
		char c = i < n ? id[i] : '0';

		if (i == 8 || i == 12 || i == 16 || i == 20)
			out[j++] = '-';
		out[j++] = strchr("0123456789abcdefABCDEF", c) && c ? c : '0';
	}
	out[j] = '\0';
}

/* A stopped, failed or prepared record stays as it is when nothing runs. */
static enum vmm_vm_state not_running(const struct vmm_vm *vm)
{
	return vm->state == VMM_STATE_RUNNING || vm->state == VMM_STATE_SUSPENDED
		       ? VMM_STATE_STOPPED
		       : vm->state;
}

int vmmi_propolis_state(struct vmm_ctx *ctx, const struct vmm_vm *vm, enum vmm_vm_state *out,
			struct vmm_error *err)
{
	struct vmmi_propolis_vm p;
	struct vmmi_http_reply r;
	struct vmm_error e;
	char *zs;
	bool missing;

	(void)ctx;
	(void)err;
	*out = vm->state;
	if (vmmi_propolis_vm_load(vm, &p, &e) < 0) {
		vmm_debug(MOD, "VM '%s': %s", vm->name, e.message);
		return 0; /* nothing was allocated: the record is the truth */
	}
	if (vmmi_http_request(p.url, "GET", "/instance", NULL, 3000, &r, &e) == 0) {
		json_t *j = r.status == 200 ? json_loadb(r.body, r.len, 0, NULL) : NULL;
		const char *s =
			json_string_value(json_object_get(json_object_get(j, "instance"), "state"));

		if (s)
			*out = vmmi_propolis_map_state(s);
		else if (r.status == 424) /* NoInstance: the server runs, no VM */
			*out = not_running(vm);
		json_decref(j);
		vmmi_http_reply_release(&r);
		if (s || r.status == 424)
			goto out;
	}
	/* The server does not answer: the zone tells whether anything runs. */
	zs = vmmi_zone_state(p.zone, &missing);
	if (!missing && (!zs || strcmp(zs, "running") != 0))
		*out = not_running(vm);
	vmm_debug(MOD, "VM '%s': server unreachable, zone %s", vm->name,
		  missing ? "(zoneadm missing)" : zs ? zs : "(none)");
	free(zs);
out:
	vmmi_propolis_vm_release(&p);
	return 0;
}

/* The guest's address, from inside its zone (light too: `vmctl status`). */
int vmmi_propolis_guest_ip(struct vmm_ctx *ctx, const struct vmm_vm *vm, char **ip,
			   struct vmm_error *err)
{
	char *argv[] = {"zlogin", (char *)vm->name, "ipadm", "show-addr", "-p", "-o", "ADDR", NULL};
	char *out = NULL, *line, *save = NULL;
	int rc;

	(void)ctx;
	*ip = NULL;
	if ((rc = vmmi_zone_run(argv, &out, NULL, err)) < 0)
		return rc;
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *slash = strchr(line, '/');

		if (slash)
			*slash = '\0';
		if (*line && strcmp(line, "127.0.0.1") != 0 && strcmp(line, "::1") != 0) {
			*ip = strdup(line);
			break;
		}
	}
	free(out);
	if (!*ip)
		return vmm_error_set(err, VMM_E_IP_DISCOVERY, 0,
				     "wait for the guest's network to come up",
				     "zone '%s' has no address yet (zlogin %s ipadm show-addr)",
				     vm->name, vm->name);
	return 0;
}
