/* SPDX-License-Identifier: MIT */
/*
 * TAP networking on a host bridge: the TAP device vmctl makes (with
 * CAP_NET_ADMIN), or the checks that QEMU's bridge helper can make one
 * (without). See tap.h.
 */
#include "backends/qemu/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "core/util.h"
#include "vmm/log.h"

#define MOD "network"

/* include depth at which the reading stops (the helper would recurse on) */
#define CONF_MAX_DEPTH 16

void vmmi_tap_name(const char *vm_name, const char *work_dir, char out[16])
{
	uint32_t h = 2166136261u; /* FNV-1a, 32 bit */
	char pre[8];
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)vm_name; *p; p++) {
		h ^= *p;
		h *= 16777619u;
		if (n < sizeof(pre) - 1)
			pre[n++] = (char)*p;
	}
	pre[n] = '\0';
	for (const unsigned char *p = (const unsigned char *)(work_dir ? work_dir : ""); *p; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	snprintf(out, 16, "vt-%s-%04x", pre, (unsigned)((h >> 16) ^ (h & 0xffff)));
}

bool vmmi_have_net_admin(void)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) < 0)
		return false;
	return (data[CAP_NET_ADMIN / 32].effective >> (CAP_NET_ADMIN % 32)) & 1;
}

static const char *helper_path(void)
{
	const char *env = getenv("VMCTL_BRIDGE_HELPER");

	return env && *env ? env : VMMI_BRIDGE_HELPER;
}

void vmmi_tap_plan(const struct vmm_vm *vm, struct vmmi_tap_plan *p)
{
	memset(p, 0, sizeof(*p));
	vmmi_tap_name(vm->name ? vm->name : "", vm->work_dir, p->ifname);
	p->own_tap = vmmi_have_net_admin();
	p->helper = p->own_tap ? NULL : helper_path();
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* One bridge.conf (depth 0: the top-level file, whose errors count). */
static int conf_read(const char *path, const char *bridge, int depth, bool *allowed,
		     bool *denied, struct vmm_error *err)
{
	FILE *f;
	char line[512];
	unsigned lineno = 0;
	int rc = 0;

	if (depth > CONF_MAX_DEPTH)
		return 0;
	if (!(f = fopen(path, "re"))) {
		if (depth > 0)
			return 0;
		return vmm_error_errno(err, VMM_E_INVALID_CONFIG, NULL,
				       "QEMU's bridge helper cannot read '%s'", path);
	}
	while (fgets(line, sizeof(line), f)) {
		char *cmd = line, *arg, *end;

		lineno++;
		while (is_space(*cmd))
			cmd++;
		if (*cmd == '#' || *cmd == '\0')
			continue;
		arg = cmd + strcspn(cmd, " \t");
		if (*arg == '\0') {
			rc = vmm_error_set(err, VMM_E_INVALID_CONFIG, 0, NULL,
					   "%s:%u: invalid line (a command and its argument "
					   "expected)",
					   path, lineno);
			break;
		}
		*arg++ = '\0';
		while (is_space(*arg))
			arg++;
		end = arg + strlen(arg);
		while (end > arg && is_space(end[-1]))
			*--end = '\0';
		if (strcmp(cmd, "include") == 0) {
			/* the helper ignores what an included file does wrong */
			conf_read(arg, bridge, depth + 1, allowed, denied, NULL);
			continue;
		}
		if (strlen(arg) >= IFNAMSIZ) {
			rc = vmm_error_set(err, VMM_E_INVALID_CONFIG, 0, NULL,
					   "%s:%u: interface name '%s' is too long", path, lineno,
					   arg);
			break;
		}
		if (strcmp(cmd, "allow") == 0) {
			if (strcmp(arg, "all") == 0 || strcmp(arg, bridge) == 0)
				*allowed = true;
		} else if (strcmp(cmd, "deny") == 0) {
			if (strcmp(arg, "all") == 0 || strcmp(arg, bridge) == 0)
				*denied = true;
		} else {
			rc = vmm_error_set(err, VMM_E_INVALID_CONFIG, 0, NULL,
					   "%s:%u: unknown command '%s'", path, lineno, cmd);
			break;
		}
	}
	fclose(f);
	if (rc < 0 && depth > 0)
		return 0;
	if (rc < 0 && err)
		snprintf(err->hint, sizeof(err->hint),
			 "QEMU's bridge helper refuses every bridge while its configuration "
			 "is invalid: fix the line (e.g. `allow %s`)",
			 bridge);
	return rc;
}

int vmmi_bridge_conf_allows(const char *path, const char *bridge, bool *allowed, bool *denied,
			    struct vmm_error *err)
{
	*allowed = *denied = false;
	return conf_read(path, bridge, 0, allowed, denied, err);
}

static int check_bridge(const char *br, struct vmm_error *err)
{
	char path[64], hint[160];
	struct stat st;

	if (!*br || strlen(br) >= IFNAMSIZ || strchr(br, '/') || strcmp(br, ".") == 0 ||
	    strcmp(br, "..") == 0)
		return vmm_error_set(err, VMM_E_INVALID_CONFIG, 0,
				     "a bridge name is 1 to 15 characters without '/'",
				     "'%s' is not a network interface name", br);
	snprintf(hint, sizeof(hint),
		 "create it: `ip link add %s type bridge && ip link set %s up`", br, br);
	snprintf(path, sizeof(path), "/sys/class/net/%s", br);
	if (stat(path, &st) < 0)
		return vmm_error_set(err, VMM_E_INVALID_CONFIG, 0, hint,
				     "bridge '%s' does not exist (no such network interface)",
				     br);
	snprintf(path, sizeof(path), "/sys/class/net/%s/bridge", br);
	if (stat(path, &st) < 0)
		return vmm_error_set(err, VMM_E_INVALID_CONFIG, 0,
				     "name a bridge (`ip -d link show type bridge` lists them)",
				     "network interface '%s' is not a bridge", br);
	return 0;
}

static int check_helper(const char *helper, const char *br, struct vmm_error *err)
{
	bool allowed, denied;
	struct stat st;
	char hint[512];
	int rc;

	if (stat(helper, &st) < 0 || !S_ISREG(st.st_mode) || access(helper, X_OK) < 0)
		return vmm_error_errno(err, VMM_E_INVALID_CONFIG,
				       "run vmctl as root (with CAP_NET_ADMIN, vmctl makes the "
				       "TAP device itself), or install qemu-system-common, or "
				       "name the helper in VMCTL_BRIDGE_HELPER",
				       "QEMU's bridge helper '%s' is not an executable file",
				       helper);
	if (!((st.st_mode & S_ISUID) && st.st_uid == 0) &&
	    getxattr(helper, "security.capability", NULL, 0) <= 0) {
		snprintf(hint, sizeof(hint),
			 "run vmctl as root (it then makes the TAP device itself), or let the "
			 "helper create TAP devices: `chmod u+s %s` or `setcap cap_net_admin+ep "
			 "%s`",
			 helper, helper);
		return vmm_error_set(err, VMM_E_INVALID_CONFIG, 0, hint,
				     "vmctl has no CAP_NET_ADMIN to make a TAP device, and QEMU's "
				     "bridge helper '%s' cannot either (neither setuid root nor "
				     "given file capabilities)",
				     helper);
	}
	if (access(VMMI_BRIDGE_CONF, F_OK) < 0) {
		snprintf(hint, sizeof(hint),
			 "as root: `mkdir -p /etc/qemu && echo 'allow %s' >> %s`", br,
			 VMMI_BRIDGE_CONF);
		return vmm_error_set(err, VMM_E_INVALID_CONFIG, 0, hint,
				     "QEMU's bridge helper allows no bridge: %s does not exist",
				     VMMI_BRIDGE_CONF);
	}
	if ((rc = vmmi_bridge_conf_allows(VMMI_BRIDGE_CONF, br, &allowed, &denied, err)) < 0)
		return rc;
	if (allowed && !denied)
		return 0;
	if (denied)
		snprintf(hint, sizeof(hint),
			 "a `deny %s` or `deny all` line in %s (or a file it includes) refuses "
			 "it: remove it, and keep the line `allow %s`",
			 br, VMMI_BRIDGE_CONF, br);
	else
		snprintf(hint, sizeof(hint), "add the line `allow %s` to %s (as root)", br,
			 VMMI_BRIDGE_CONF);
	return vmm_error_set(err, VMM_E_INVALID_CONFIG, 0, hint,
			     "QEMU's bridge helper may not use bridge '%s': %s does not allow it",
			     br, VMMI_BRIDGE_CONF);
}

int vmmi_tap_check(const struct vmm_vm *vm, const struct vmmi_tap_plan *p, struct vmm_error *err)
{
	const char *br = vm->network.bridge ? vm->network.bridge : "br0";
	int rc;

	if ((rc = check_bridge(br, err)) < 0)
		return rc;
	if (!p->own_tap)
		return check_helper(p->helper ? p->helper : helper_path(), br, err);
	return 0;
}

/* Open the TAP device name on /dev/net/tun (creating it if new). */
static int tun_open(const char *name, struct vmm_error *err)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return vmm_error_errno(err, VMM_E_IO, "load the tun module: `modprobe tun`",
				       "cannot open /dev/net/tun");
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int rc = vmm_error_errno(err, VMM_E_IO, NULL, "cannot make TAP device '%s'", name);

		close(fd);
		return rc;
	}
	return fd;
}

int vmmi_tap_create(const char *ifname, const char *bridge, struct vmm_error *err)
{
	struct ifreq ifr;
	int fd, sock = -1, rc = 0;

	if ((fd = tun_open(ifname, err)) < 0)
		return fd;
	if (ioctl(fd, TUNSETPERSIST, 1) < 0) {
		rc = vmm_error_errno(err, VMM_E_IO, NULL, "cannot make TAP device '%s' persistent",
				     ifname);
		close(fd);
		return rc;
	}
	close(fd);
	if ((sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
		rc = vmm_error_errno(err, VMM_E_IO, NULL, "socket");
		goto fail;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", bridge);
	ifr.ifr_ifindex = (int)if_nametoindex(ifname);
	if (ifr.ifr_ifindex == 0 || ioctl(sock, SIOCBRADDIF, &ifr) < 0) {
		rc = vmm_error_errno(err, VMM_E_IO, NULL,
				     "cannot attach TAP device '%s' to bridge '%s'", ifname,
				     bridge);
		goto fail;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0 ||
	    (ifr.ifr_flags |= IFF_UP, ioctl(sock, SIOCSIFFLAGS, &ifr) < 0)) {
		rc = vmm_error_errno(err, VMM_E_IO, NULL, "cannot bring TAP device '%s' up",
				     ifname);
		goto fail;
	}
	close(sock);
	vmm_debug(MOD, "TAP device '%s' made on bridge '%s'", ifname, bridge);
	return 0;
fail:
	if (sock >= 0)
		close(sock);
	vmmi_tap_remove(ifname);
	return rc;
}

void vmmi_tap_remove(const char *ifname)
{
	struct vmm_error err;
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/sys/class/net/%s/tun_flags", ifname);
	if (access(path, F_OK) < 0)
		return;
	if ((fd = tun_open(ifname, &err)) < 0) {
		vmm_warn(MOD, "TAP device '%s' is left: %s", ifname, err.message);
		return;
	}
	if (ioctl(fd, TUNSETPERSIST, 0) < 0)
		vmm_warn(MOD, "TAP device '%s' is left: TUNSETPERSIST: %s", ifname,
			 strerror(errno));
	else
		vmm_debug(MOD, "TAP device '%s' removed", ifname);
	close(fd);
}
