/* SPDX-License-Identifier: MIT */
/*
 * lib/backends/qemu/tap.h - TAP networking on a host bridge (private to
 * libvmm). With CAP_NET_ADMIN vmctl makes a persistent TAP device named
 * after the VM, attaches it to the bridge and hands it to QEMU (`-netdev
 * tap`); it is removed when QEMU is gone. Without it QEMU's bridge helper
 * makes one (`-netdev bridge`), if /etc/qemu/bridge.conf allows the
 * bridge. Both are checked before QEMU runs.
 */
#ifndef VMMI_TAP_H
#define VMMI_TAP_H

#include <stdbool.h>

#include "vmm/error.h"
#include "vmm/vm.h"

#define VMMI_BRIDGE_HELPER "/usr/lib/qemu/qemu-bridge-helper"
#define VMMI_BRIDGE_CONF "/etc/qemu/bridge.conf"

/* How a VM on network "tap" reaches its bridge. */
struct vmmi_tap_plan {
	bool own_tap;       /* vmctl makes the TAP device ifname */
	char ifname[16];    /* its name (also set when !own_tap) */
	const char *helper; /* !own_tap: QEMU's bridge helper ($VMCTL_BRIDGE_HELPER) */
};

/* The TAP device name of a VM: "vt-" + up to 7 characters of the name +
 * "-" + 4 hex digits of a hash of the whole name and the work directory
 * (NULL: none), so that VMs of one name in two data directories differ
 * (at most 15 characters). */
void vmmi_tap_name(const char *vm_name, const char *work_dir, char out[16]);

/* Whether this process has CAP_NET_ADMIN (effective). */
bool vmmi_have_net_admin(void);

/* The plan for vm (no side effects): own TAP with CAP_NET_ADMIN, else the
 * bridge helper. */
void vmmi_tap_plan(const struct vmm_vm *vm, struct vmmi_tap_plan *p);

/*
 * Whether QEMU's bridge helper may use bridge, reading path as the helper
 * reads its bridge.conf: "allow NAME", "deny NAME", "allow all", "deny
 * all", "include PATH" (a file that cannot be read is skipped), comments
 * (#) and blank lines; any deny that matches wins. 0 with *allowed (and
 * *denied: a deny rule matched); an unreadable or invalid top-level file
 * is VMM_E_INVALID_CONFIG (the helper refuses everything then).
 */
int vmmi_bridge_conf_allows(const char *path, const char *bridge, bool *allowed, bool *denied,
			    struct vmm_error *err);

/* Everything the plan needs before QEMU runs: the bridge exists (and is a
 * bridge); for the helper, that it exists, can create TAP devices
 * (setuid root or file capabilities) and that bridge.conf allows the
 * bridge. Errors name what is missing, with the command that fixes it. */
int vmmi_tap_check(const struct vmm_vm *vm, const struct vmmi_tap_plan *p, struct vmm_error *err);

/* Make the persistent TAP device ifname, attach it to bridge, bring it up
 * (TUNSETIFF/TUNSETPERSIST, SIOCBRADDIF, SIOCSIFFLAGS). On failure nothing
 * is left. */
int vmmi_tap_create(const char *ifname, const char *bridge, struct vmm_error *err);

/* Remove the TAP device ifname if it exists (a failure is logged). */
void vmmi_tap_remove(const char *ifname);

#endif
