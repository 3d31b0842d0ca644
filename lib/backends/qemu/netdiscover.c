/* SPDX-License-Identifier: MIT */
/*
 * A bridged guest's IP address by its MAC: the host's neighbour table
 * (`ip -j neigh show`, parsed with jansson), then DHCP lease files. See
 * netdiscover.h.
 */
#include "backends/qemu/netdiscover.h"

#include <errno.h>
#include <glob.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backends/backend.h"
#include "core/util.h"
#include "vmm/log.h"

#define MOD "network"

static bool state_counts(json_t *state)
{
	size_t i;
	json_t *s;

	if (!json_is_array(state))
		return true;
	json_array_foreach(state, i, s) {
		const char *v = json_string_value(s);

		if (v && (strcmp(v, "FAILED") == 0 || strcmp(v, "INCOMPLETE") == 0))
			return false;
	}
	return true;
}

char *vmmi_neigh_find(const char *json_text, const char *mac)
{
	json_t *root = json_loads(json_text ? json_text : "", 0, NULL), *e;
	const char *v4 = NULL, *v6 = NULL;
	char *out = NULL;
	size_t i;

	if (!json_is_array(root)) {
		json_decref(root);
		return NULL;
	}
	json_array_foreach(root, i, e) {
		const char *dst = json_string_value(json_object_get(e, "dst"));
		const char *ll = json_string_value(json_object_get(e, "lladdr"));

		if (!dst || !ll || strcasecmp(ll, mac) != 0 ||
		    !state_counts(json_object_get(e, "state")))
			continue;
		if (strchr(dst, ':')) {
			if (!v6 && strncasecmp(dst, "fe80:", 5) != 0)
				v6 = dst;
		} else if (!v4) {
			v4 = dst;
		}
	}
	if (v4 || v6)
		out = strdup(v4 ? v4 : v6);
	json_decref(root);
	return out;
}

/* libvirt's dnsmasq status file: a JSON array of leases. */
static char *libvirt_find(json_t *root, const char *mac, time_t now)
{
	const char *best = NULL;
	long long best_exp = -1;
	json_t *e;
	size_t i;

	json_array_foreach(root, i, e) {
		const char *ip = json_string_value(json_object_get(e, "ip-address"));
		const char *m = json_string_value(json_object_get(e, "mac-address"));
		json_t *x = json_object_get(e, "expiry-time");
		long long exp = json_is_integer(x) ? json_integer_value(x) : 0;

		if (!ip || !m || strcasecmp(m, mac) != 0 || (exp != 0 && exp < (long long)now))
			continue;
		if (exp == 0)
			exp = (long long)1 << 62;
		if (exp > best_exp) {
			best = ip;
			best_exp = exp;
		}
	}
	return best ? strdup(best) : NULL;
}

char *vmmi_leases_find(const char *text, const char *mac, time_t now)
{
	char best[64] = "";
	long long best_exp = -1;
	const char *line, *p;

	if (!text)
		return NULL;
	for (p = text; *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'; p++)
		;
	if (*p == '[') {
		json_t *root = json_loads(text, 0, NULL);
		char *ip = json_is_array(root) ? libvirt_find(root, mac, now) : NULL;

		json_decref(root);
		return ip;
	}
	for (line = text; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		char l[512], m[64], ip[64];
		long long exp;
		char *end;

		if (len < sizeof(l)) {
			memcpy(l, line, len);
			l[len] = '\0';
			errno = 0;
			exp = strtoll(l, &end, 10);
			/* "duid ..." (DHCPv6) and junk lines have no leading number */
			if (end != l && errno == 0 && exp >= 0 &&
			    sscanf(end, "%63s %63s", m, ip) == 2 && strcasecmp(m, mac) == 0 &&
			    (exp == 0 || exp >= (long long)now)) {
				if (exp == 0)
					exp = (long long)1 << 62;
				if (exp > best_exp) {
					best_exp = exp;
					snprintf(best, sizeof(best), "%s", ip);
				}
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	return *best ? strdup(best) : NULL;
}

/* Look in one lease file; note what was found in *s. */
static char *try_file(const char *path, const char *mac, struct vmmi_buf *s)
{
	char *text = NULL, *ip = NULL;
	struct vmm_error e;

	if (vmmi_read_file(path, &text, NULL, &e) < 0) {
		int en = e.sys_errno ? e.sys_errno : EIO;

		vmmi_buf_printf(s, ", %s (%s)", path, en == ENOENT ? "absent" : strerror(en));
		return NULL;
	}
	ip = vmmi_leases_find(text, mac, time(NULL));
	free(text);
	if (ip)
		vmm_debug(MOD, "MAC %s: %s from the lease file %s", mac, ip, path);
	else
		vmmi_buf_printf(s, ", %s (no lease for it)", path);
	return ip;
}

/* Every file matching pattern (a plain path stands for itself). */
static char *try_pattern(const char *pattern, const char *mac, struct vmmi_buf *s)
{
	glob_t g;
	char *ip = NULL;

	if (!strpbrk(pattern, "*?["))
		return try_file(pattern, mac, s);
	if (glob(pattern, 0, NULL, &g) != 0) {
		vmmi_buf_printf(s, ", %s (no such file)", pattern);
		return NULL;
	}
	for (size_t i = 0; i < g.gl_pathc && !ip; i++)
		ip = try_file(g.gl_pathv[i], mac, s);
	globfree(&g);
	return ip;
}

int vmmi_guest_ip_discover(const char *mac, char **ip, char **searched, struct vmm_error *err)
{
	static const char *const places[] = VMMI_LEASE_PLACES;
	char *argv[] = {"ip", "-j", "neigh", "show", NULL};
	const char *env = getenv("VMCTL_LEASES");
	char *out = NULL;
	struct vmmi_buf s;
	int status;

	*ip = NULL;
	*searched = NULL;
	vmmi_buf_init(&s);
	if (vmmi_run(argv, &out, NULL, &status, NULL) == 0 && status == 0) {
		*ip = vmmi_neigh_find(out, mac);
		vmmi_buf_printf(&s, "the neighbour table (`ip neigh`: no entry)");
	} else {
		vmmi_buf_printf(&s, "the neighbour table (`ip -j neigh show` failed: is "
				    "iproute2 installed?)");
	}
	free(out);
	if (*ip) {
		vmm_debug(MOD, "MAC %s: %s from the neighbour table", mac, *ip);
		vmmi_buf_release(&s);
		return 0;
	}
	if (env && *env) {
		char *list = strdup(env), *save = NULL;

		if (!list)
			goto oom;
		for (char *p = strtok_r(list, ":", &save); p && !*ip;
		     p = strtok_r(NULL, ":", &save))
			*ip = try_pattern(p, mac, &s);
		free(list);
	}
	for (size_t i = 0; i < VMMI_ARRAY_SIZE(places) && !*ip; i++)
		*ip = try_pattern(places[i], mac, &s);
	if (*ip) {
		vmmi_buf_release(&s);
		return 0;
	}
	if (!s.data)
		goto oom;
	*searched = vmmi_buf_steal(&s);
	return 1;
oom:
	vmmi_buf_release(&s);
	return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
}

/* The QEMU backend's guest_ip operation (light: `vmctl status` runs it). */
int vmmi_qemu_guest_ip(struct vmm_ctx *ctx, const struct vmm_vm *vm, char **ip,
		       struct vmm_error *err)
{
	(void)ctx;
	*ip = NULL;
	switch (vm->network.type) {
	case VMM_NET_USER:
		*ip = strdup("127.0.0.1");
		return *ip ? 0 : vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	case VMM_NET_TAP: {
		char *searched = NULL;
		int rc;

		if (!vm->mac_addr)
			break;
		if ((rc = vmmi_guest_ip_discover(vm->mac_addr, ip, &searched, err)) <= 0)
			return rc;
		rc = vmm_error_set(err, VMM_E_IP_DISCOVERY, 0,
				   "check that a DHCP server (e.g. dnsmasq) serves the bridge, and "
				   "name its lease file in VMCTL_LEASES if it keeps it elsewhere",
				   "no IP address for VM '%s' (MAC %s) yet; searched %s", vm->name,
				   vm->mac_addr, searched);
		free(searched);
		return rc;
	}
	case VMM_NET_NONE:
	case VMM_NET_VNIC:
		break;
	}
	return vmm_error_set(err, VMM_E_IP_DISCOVERY, 0,
			     "give the VM a network (user or tap) to reach it",
			     "VM '%s' has no network to reach it by", vm->name);
}
