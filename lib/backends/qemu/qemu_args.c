/* SPDX-License-Identifier: MIT */
/*
 * QEMU's command line for a VM, the accelerator choice and the MAC: the
 * pure parts of the QEMU backend (unit-tested in tests/unit/test_qemu_args.c).
 */
#include "backends/qemu/qemu.h"
#include "backends/qemu/ports.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "backends/qemu/tap.h"
#include "backends/qemu/virtiofs.h"
#include "core/util.h"
#include "vmm/log.h"

#define MOD "qemu"

bool vmmi_kvm_usable(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	int v;

	if (fd < 0)
		return false;
	v = ioctl(fd, KVM_GET_API_VERSION, 0);
	close(fd);
	return v == KVM_API_VERSION;
}

bool vmmi_kvm_is_pvm(void)
{
	return access("/sys/module/kvm_pvm", F_OK) == 0;
}

int vmmi_qemu_accel(enum vmmi_accel *out, struct vmm_error *err)
{
	static atomic_bool warned; /* once per process, whichever thread asks first */
	const char *env = getenv("VMCTL_ACCEL");

	if (env && *env) {
		if (strcmp(env, "kvm") == 0)
			*out = VMMI_ACCEL_KVM;
		else if (strcmp(env, "tcg") == 0)
			*out = VMMI_ACCEL_TCG;
		else
			return vmm_error_set(err, VMM_E_INVALID_CONFIG, 0,
					     "set VMCTL_ACCEL to kvm or tcg, or unset it to "
					     "detect KVM",
					     "VMCTL_ACCEL='%s' is not an accelerator", env);
		return 0;
	}
	if (vmmi_kvm_usable() && !vmmi_kvm_is_pvm()) {
		*out = VMMI_ACCEL_KVM;
		return 0;
	}
	*out = VMMI_ACCEL_TCG;
	if (!atomic_exchange(&warned, true)) {
		if (vmmi_kvm_usable())
			vmm_warn(MOD, "/dev/kvm is nested kvm-pvm, which stops normal guests with "
				      "an emulation failure: running QEMU with software emulation "
				      "(TCG) (VMCTL_ACCEL=kvm forces KVM, VMCTL_ACCEL=tcg silences "
				      "this)");
		else
			vmm_warn(MOD, "/dev/kvm is not usable: running QEMU with software "
				      "emulation (TCG), which is much slower (set VMCTL_ACCEL=tcg "
				      "to silence this)");
	}
	return 0;
}

const char *vmmi_qemu_binary(void)
{
	const char *env = getenv("VMCTL_QEMU");

	return env && *env ? env : "qemu-system-x86_64";
}

void vmmi_qemu_mac_from_id(const char *key, char buf[18])
{
	/* FNV-1a, 64 bit: stable across runs and platforms. */
	uint64_t h = 0xcbf29ce484222325ULL;

	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ULL;
	}
	snprintf(buf, 18, "52:54:00:%02x:%02x:%02x", (unsigned)(h >> 16) & 0xff,
		 (unsigned)(h >> 8) & 0xff, (unsigned)h & 0xff);
}

/* A growable NULL-terminated argv. */
struct argv_b {
	char **v;
	size_t n, cap;
	bool oom;
};

static void add(struct argv_b *a, char *s)
{
	if (!s) {
		a->oom = true;
		return;
	}
	if (a->n + 2 > a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 32;
		char **v = realloc(a->v, cap * sizeof(*v));

		if (!v) {
			free(s);
			a->oom = true;
			return;
		}
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

static void add2(struct argv_b *a, const char *opt, char *val)
{
	add(a, strdup(opt));
	add(a, val);
}

/* QEMU option values are comma-separated: a literal comma is doubled. */
static char *qesc(const char *s)
{
	struct vmmi_buf b;

	vmmi_buf_init(&b);
	for (; *s; s++) {
		if (vmmi_buf_append(&b, s, 1) < 0 || (*s == ',' && vmmi_buf_append(&b, ",", 1) < 0)) {
			vmmi_buf_release(&b);
			return NULL;
		}
	}
	return vmmi_buf_steal(&b);
}

/*
 * The shared folders: share i is the tag "vmctl<i>". virtiofs needs the
 * guest's RAM in shared memory (a memfd backend as NUMA node 0) so that
 * virtiofsd can reach it; 9p is QEMU's own server ("none": the guest's
 * owners and modes go to the host as far as QEMU's user may set them).
 * A VM without shares gets none of this: its argv stays what it was.
 */
static void add_shares(struct argv_b *a, const struct vmm_vm *vm)
{
	if (vmmi_shares_have(vm, VMM_SHARE_VIRTIOFS)) {
		add2(a, "-object", vmmi_asprintf("memory-backend-memfd,id=mem,size=%lluM,share=on",
						  (unsigned long long)(vm->memory_mb ? vm->memory_mb
										     : 1024)));
		add2(a, "-numa", strdup("node,memdev=mem"));
	}
	for (size_t i = 0; i < vm->shares.n; i++) {
		const struct vmm_share *sh = &vm->shares.v[i];
		char *e = NULL, *p;

		if (sh->type == VMM_SHARE_VIRTIOFS) {
			p = vmmi_virtiofs_file(vm, i, "sock");
			add2(a, "-chardev", vmmi_asprintf("socket,id=vfs%zu,path=%s", i,
							  p && (e = qesc(p)) ? e : ""));
			add2(a, "-device",
			     vmmi_asprintf("vhost-user-fs-pci,chardev=vfs%zu,tag=vmctl%zu", i, i));
			free(p);
		} else {
			add2(a, "-fsdev",
			     vmmi_asprintf("local,id=fs%zu,path=%s,security_model=none%s", i,
					   (e = qesc(sh->host)) ? e : "",
					   sh->readonly ? ",readonly=on" : ""));
			add2(a, "-device",
			     vmmi_asprintf("virtio-9p-pci,fsdev=fs%zu,mount_tag=vmctl%zu", i, i));
		}
		if (!e)
			a->oom = true;
		free(e);
	}
}

void vmmi_qemu_args_free(char **argv)
{
	if (!argv)
		return;
	for (char **p = argv; *p; p++)
		free(*p);
	free(argv);
}

char *vmmi_qemu_hostfwd(const struct vmm_forward *f, bool with_guest)
{
	if (!with_guest)
		return vmmi_asprintf("%s:%s:%u", vmm_forward_proto(f), f->address, f->host_port);
	return vmmi_asprintf("%s:%s:%u-:%u", vmm_forward_proto(f), f->address, f->host_port,
			     f->guest_port);
}

/* -netdev user: the SSH forward, then the VM's port forwards. */
static char *user_netdev(const struct vmm_vm *vm)
{
	struct vmmi_buf b;
	bool oom = false;

	vmmi_buf_init(&b);
	oom |= vmmi_buf_printf(&b, "user,id=%s,hostfwd=tcp:127.0.0.1:%u-:22", VMMI_QEMU_NETDEV,
			       vm->ssh_host_port) < 0;
	for (size_t i = 0; i < vm->n_forwards; i++) {
		char *rule = vmmi_qemu_hostfwd(&vm->forwards[i], true);

		oom |= !rule || vmmi_buf_printf(&b, ",hostfwd=%s", rule) < 0;
		free(rule);
	}
	if (oom) {
		vmmi_buf_release(&b);
		return NULL;
	}
	return vmmi_buf_steal(&b);
}

int vmmi_qemu_build_args(const struct vmm_vm *vm, const char *qemu_binary,
			 enum vmmi_accel accel, char ***argv, struct vmm_error *err)
{
	struct vmmi_tap_plan tp;

	if (vm->network.type == VMM_NET_TAP)
		vmmi_tap_plan(vm, &tp);
	return vmmi_qemu_build_args_net(vm, qemu_binary, accel,
					vm->network.type == VMM_NET_TAP ? &tp : NULL, argv, err);
}

/* -netdev for network "tap": vmctl's own TAP device, or the bridge helper. */
static char *tap_netdev(const struct vmm_vm *vm, const struct vmmi_tap_plan *tp)
{
	char *br = qesc(vm->network.bridge ? vm->network.bridge : "br0"), *h = NULL, *s;

	if (tp->own_tap)
		s = vmmi_asprintf("tap,id=net0,ifname=%s,script=no,downscript=no", tp->ifname);
	else if (br && (h = qesc(tp->helper ? tp->helper : VMMI_BRIDGE_HELPER)))
		s = vmmi_asprintf("bridge,id=net0,br=%s,helper=%s", br, h);
	else
		s = NULL;
	free(br);
	free(h);
	return s;
}

int vmmi_qemu_build_args_net(const struct vmm_vm *vm, const char *qemu_binary,
			     enum vmmi_accel accel, const struct vmmi_tap_plan *tap, char ***argv,
			     struct vmm_error *err)
{
	struct argv_b a = {0};
	char *e1 = NULL, *e2 = NULL, *e3 = NULL, *pidfile = NULL, *log = NULL, *clog = NULL;
	int rc = 0;

	*argv = NULL;
	if (!vm->work_dir || !vm->overlay_path || !vm->qmp_socket || !vm->console_socket)
		return vmm_error_set(err, VMM_E_INTERNAL, 0, NULL,
				     "VM '%s' has no work directory, overlay or sockets recorded",
				     vm->name ? vm->name : "?");
	if (vm->network.type == VMM_NET_USER && vm->ssh_host_port == 0)
		return vmm_error_set(err, VMM_E_INTERNAL, 0, NULL,
				     "VM '%s' uses user networking but has no SSH port", vm->name);
	if (vm->network.type == VMM_NET_TAP && !tap)
		return vmm_error_set(err, VMM_E_INTERNAL, 0, NULL,
				     "VM '%s' uses TAP networking but has no TAP plan", vm->name);
	if (vm->network.type == VMM_NET_VNIC)
		return vmm_error_set(err, VMM_E_INVALID_CONFIG, 0,
				     "use network \"user\", \"tap\" or \"none\" with QEMU",
				     "VNIC networking is only available on the propolis backend");
	pidfile = vmmi_path_join(vm->work_dir, VMMI_QEMU_PIDFILE);
	log = vmmi_path_join(vm->work_dir, VMMI_QEMU_LOG);
	e1 = vmmi_path_join(vm->work_dir, VMMI_QEMU_CONSOLE_LOG);
	clog = e1 ? qesc(e1) : NULL;
	free(e1);
	e1 = NULL;
	if (!pidfile || !log || !clog)
		goto oom;

	add(&a, strdup(qemu_binary));
	add2(&a, "-name", vmmi_asprintf("%s", (e1 = qesc(vm->name)) ? e1 : ""));
	free(e1);
	e1 = NULL;
	add2(&a, "-machine", strdup("q35"));
	if (accel == VMMI_ACCEL_KVM) {
		add2(&a, "-accel", strdup("kvm"));
		add2(&a, "-cpu", strdup("host"));
	} else {
		add2(&a, "-accel", strdup("tcg"));
		add2(&a, "-cpu", strdup("max"));
	}
	add2(&a, "-smp", vmmi_asprintf("%u", vm->vcpus ? vm->vcpus : 1));
	add2(&a, "-m", vmmi_asprintf("%llu", (unsigned long long)(vm->memory_mb ? vm->memory_mb
										 : 1024)));
	add(&a, strdup("-nodefaults"));
	/* The boot disk: the overlay on virtio-blk. */
	add2(&a, "-drive", vmmi_asprintf("file=%s,format=qcow2,if=none,id=disk0,discard=unmap",
					 (e1 = qesc(vm->overlay_path)) ? e1 : ""));
	add2(&a, "-device", strdup("virtio-blk-pci,drive=disk0,bootindex=0"));
	/* The seed as an IDE (AHCI on q35) CD-ROM: a second virtio disk would
	 * shift the guest's disk names and some images then miss their root. */
	if (vm->seed_iso_path) {
		add2(&a, "-drive", vmmi_asprintf("file=%s,format=raw,if=none,id=seed0,media=cdrom,"
						 "readonly=on",
						 (e2 = qesc(vm->seed_iso_path)) ? e2 : ""));
		add2(&a, "-device", strdup("ide-cd,drive=seed0"));
	}
	add2(&a, "-device", strdup("virtio-rng-pci"));
	/* Serial console: a unix socket, everything also logged to console.log. */
	add2(&a, "-chardev",
	     vmmi_asprintf("socket,id=serial0,path=%s,server=on,wait=off,logfile=%s,logappend=on",
			   (e3 = qesc(vm->console_socket)) ? e3 : "", clog));
	add2(&a, "-serial", strdup("chardev:serial0"));
	free(e1);
	free(e2);
	free(e3);
	e1 = e2 = e3 = NULL;
	switch (vm->network.type) {
	case VMM_NET_USER:
		add2(&a, "-netdev", user_netdev(vm));
		break;
	case VMM_NET_TAP:
		add2(&a, "-netdev", tap_netdev(vm, tap));
		break;
	case VMM_NET_NONE:
		add2(&a, "-nic", strdup("none"));
		break;
	case VMM_NET_VNIC:
		break;
	}
	if (vm->network.type == VMM_NET_USER || vm->network.type == VMM_NET_TAP) {
		if (vm->mac_addr)
			add2(&a, "-device",
			     vmmi_asprintf("virtio-net-pci,netdev=net0,mac=%s", vm->mac_addr));
		else
			add2(&a, "-device", strdup("virtio-net-pci,netdev=net0"));
	}
	add_shares(&a, vm);
	add2(&a, "-vnc", strdup("127.0.0.1:0,to=99"));
	add2(&a, "-qmp", vmmi_asprintf("unix:%s,server=on,wait=off",
				       (e2 = qesc(vm->qmp_socket)) ? e2 : ""));
	add2(&a, "-pidfile", strdup(pidfile));
	/* -D keeps QEMU's stderr (e.g. KVM errors) in a file after it daemonized. */
	add2(&a, "-D", strdup(log));
	add(&a, strdup("-daemonize"));
	if (a.oom)
		goto oom;
	*argv = a.v;
	a.v = NULL;
	goto out;
oom:
	rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory building QEMU's arguments");
out:
	vmmi_qemu_args_free(a.v);
	free(e1);
	free(e2);
	free(e3);
	free(pidfile);
	free(log);
	free(clog);
	return rc;
}

enum vmm_errcode vmmi_qemu_classify_failure(const char *text)
{
	if (!text)
		return VMM_E_QEMU_SPAWN;
	/* KVM stopping the guest later (emulation failure), or refusing the
	 * vCPU state while QEMU starts (nested kvm-pvm hosts do both) */
	if (strstr(text, "KVM internal error") ||
	    (strstr(text, "emulation failure") && strstr(text, "KVM")) ||
	    strstr(text, "failed to set MSR") || strstr(text, "kvm_buf_set_msrs") ||
	    strstr(text, "kvm_arch_init_vcpu"))
		return VMM_E_QEMU_KVM;
	if (strstr(text, "Could not set up host forwarding rule"))
		return VMM_E_PORT_ALLOC;
	return VMM_E_QEMU_SPAWN;
}
