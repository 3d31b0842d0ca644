/* SPDX-License-Identifier: MIT */
/* Unit tests: QEMU's command line per network mode and accelerator, the
 * accelerator choice, the MAC, and the classification of start failures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/qemu/qemu.h"
#include "backends/qemu/tap.h"
#include "backends/qemu/ports.h"
#include "backends/qemu/virtiofs.h"
#include "vmm/vm.h"

static void fill_vm(struct vmm_vm *vm, enum vmm_net_type net)
{
	memset(vm, 0, sizeof(*vm));
	vm->name = "web";
	vm->id = "0123456789abcdef";
	vm->work_dir = "/d/vms/web";
	vm->overlay_path = "/d/vms/web/overlay.qcow2";
	vm->seed_iso_path = "/d/vms/web/seed.iso";
	vm->qmp_socket = "/d/vms/web/qmp.sock";
	vm->console_socket = "/d/vms/web/console.sock";
	vm->vcpus = 2;
	vm->memory_mb = 2048;
	vm->network.type = net;
	vm->network.bridge = net == VMM_NET_TAP ? "br7" : NULL;
	vm->ssh_host_port = net == VMM_NET_USER ? 10050 : 0;
	vm->mac_addr = "52:54:00:12:34:56";
}

/* Index of the option opt whose value is val (exact), or -1. */
static int find_pair(char **argv, const char *opt, const char *val)
{
	for (int i = 0; argv[i]; i++)
		if (strcmp(argv[i], opt) == 0 && argv[i + 1] && strcmp(argv[i + 1], val) == 0)
			return i;
	return -1;
}

static bool has_arg(char **argv, const char *s)
{
	for (int i = 0; argv[i]; i++)
		if (strcmp(argv[i], s) == 0)
			return true;
	return false;
}

static bool has_substr(char **argv, const char *s)
{
	for (int i = 0; argv[i]; i++)
		if (strstr(argv[i], s))
			return true;
	return false;
}

static char **build(struct vmm_vm *vm, enum vmmi_accel accel)
{
	struct vmm_error err;
	char **argv = NULL;

	assert_int_equal(vmmi_qemu_build_args(vm, "qemu-system-x86_64", accel, &argv, &err), 0);
	assert_non_null(argv);
	return argv;
}

static void test_user_tcg(void **state)
{
	struct vmm_vm vm;
	char **a;

	(void)state;
	fill_vm(&vm, VMM_NET_USER);
	a = build(&vm, VMMI_ACCEL_TCG);
	assert_string_equal(a[0], "qemu-system-x86_64");
	assert_true(find_pair(a, "-machine", "q35") > 0);
	assert_true(find_pair(a, "-accel", "tcg") > 0);
	assert_true(find_pair(a, "-cpu", "max") > 0);
	assert_false(has_substr(a, "kvm"));
	assert_true(find_pair(a, "-smp", "2") > 0);
	assert_true(find_pair(a, "-m", "2048") > 0);
	assert_true(has_arg(a, "-nodefaults"));
	assert_true(find_pair(a, "-drive", "file=/d/vms/web/overlay.qcow2,format=qcow2,if=none,"
					 "id=disk0,discard=unmap") > 0);
	assert_true(find_pair(a, "-device", "virtio-blk-pci,drive=disk0,bootindex=0") > 0);
	/* the seed is an IDE CD-ROM, not a second virtio disk */
	assert_true(find_pair(a, "-drive", "file=/d/vms/web/seed.iso,format=raw,if=none,id=seed0,"
					 "media=cdrom,readonly=on") > 0);
	assert_true(find_pair(a, "-device", "ide-cd,drive=seed0") > 0);
	assert_false(has_substr(a, "virtio-blk-pci,drive=seed0"));
	assert_true(find_pair(a, "-device", "virtio-rng-pci") > 0);
	assert_true(find_pair(a, "-chardev",
			      "socket,id=serial0,path=/d/vms/web/console.sock,server=on,wait=off,"
			      "logfile=/d/vms/web/console.log,logappend=on") > 0);
	assert_true(find_pair(a, "-serial", "chardev:serial0") > 0);
	assert_true(find_pair(a, "-netdev", "user,id=net0,hostfwd=tcp:127.0.0.1:10050-:22") > 0);
	assert_true(find_pair(a, "-device", "virtio-net-pci,netdev=net0,mac=52:54:00:12:34:56") > 0);
	assert_true(find_pair(a, "-vnc", "127.0.0.1:0,to=99") > 0);
	assert_true(find_pair(a, "-qmp", "unix:/d/vms/web/qmp.sock,server=on,wait=off") > 0);
	assert_true(find_pair(a, "-pidfile", "/d/vms/web/pidfile") > 0);
	assert_true(find_pair(a, "-D", "/d/vms/web/qemu.log") > 0);
	assert_true(has_arg(a, "-daemonize"));
	vmmi_qemu_args_free(a);
}

static void test_kvm(void **state)
{
	struct vmm_vm vm;
	char **a;

	(void)state;
	fill_vm(&vm, VMM_NET_USER);
	a = build(&vm, VMMI_ACCEL_KVM);
	assert_true(find_pair(a, "-accel", "kvm") > 0);
	assert_true(find_pair(a, "-cpu", "host") > 0);
	assert_false(has_substr(a, "tcg"));
	vmmi_qemu_args_free(a);
}

static char **build_tap(struct vmm_vm *vm, const struct vmmi_tap_plan *tp)
{
	struct vmm_error err;
	char **argv = NULL;

	assert_int_equal(vmmi_qemu_build_args_net(vm, "qemu-system-x86_64", VMMI_ACCEL_TCG, tp,
						  &argv, &err),
			 0);
	assert_non_null(argv);
	return argv;
}

static void test_tap(void **state)
{
	struct vmmi_tap_plan own = {.own_tap = true, .ifname = "vt-web-1234"};
	struct vmmi_tap_plan helper = {.own_tap = false, .helper = "/opt/q,b/bridge-helper"};
	struct vmm_error err;
	struct vmm_vm vm;
	char **a = NULL;

	(void)state;
	fill_vm(&vm, VMM_NET_TAP);
	/* vmctl's own TAP device: QEMU only opens it */
	a = build_tap(&vm, &own);
	assert_true(find_pair(a, "-netdev", "tap,id=net0,ifname=vt-web-1234,script=no,"
					  "downscript=no") > 0);
	assert_true(find_pair(a, "-device", "virtio-net-pci,netdev=net0,mac=52:54:00:12:34:56") > 0);
	assert_false(has_substr(a, "hostfwd"));
	assert_false(has_substr(a, "br7"));
	vmmi_qemu_args_free(a);
	/* the bridge helper, its path escaped */
	a = build_tap(&vm, &helper);
	assert_true(find_pair(a, "-netdev", "bridge,id=net0,br=br7,helper=/opt/q,,b/bridge-helper") >
		    0);
	assert_true(find_pair(a, "-device", "virtio-net-pci,netdev=net0,mac=52:54:00:12:34:56") > 0);
	vmmi_qemu_args_free(a);
	/* the default bridge and helper */
	vm.network.bridge = NULL;
	helper.helper = NULL;
	a = build_tap(&vm, &helper);
	assert_true(find_pair(a, "-netdev", "bridge,id=net0,br=br0,"
					  "helper=/usr/lib/qemu/qemu-bridge-helper") > 0);
	vmmi_qemu_args_free(a);
	/* a TAP network needs a plan */
	a = NULL;
	assert_true(vmmi_qemu_build_args_net(&vm, "q", VMMI_ACCEL_TCG, NULL, &a, &err) < 0);
	assert_int_equal(err.code, VMM_E_INTERNAL);
	assert_null(a);
	/* the plain builder plans for this process: either way one of the two */
	a = build(&vm, VMMI_ACCEL_TCG);
	assert_true(has_substr(a, "tap,id=net0,ifname=vt-web-") ||
		    has_substr(a, "bridge,id=net0,br=br0,helper="));
	vmmi_qemu_args_free(a);
}

static void test_tap_name(void **state)
{
	char a[16], b[16], c[16];

	(void)state;
	vmmi_tap_name("web", "/d/vms/web", a);
	assert_int_equal(strncmp(a, "vt-web-", 7), 0);
	assert_int_equal(strlen(a), 11);
	/* long names: a 7-character prefix and the hash of the whole name */
	vmmi_tap_name("a-very-long-vm-name-indeed-1", NULL, b);
	vmmi_tap_name("a-very-long-vm-name-indeed-2", NULL, c);
	assert_int_equal(strlen(b), 15);
	assert_int_equal(strncmp(b, "vt-a-very--", 11), 0);
	assert_string_not_equal(b, c);
	vmmi_tap_name("web", "/d/vms/web", c);
	assert_string_equal(a, c);
	/* the same name in another data directory */
	vmmi_tap_name("web", "/e/vms/web", c);
	assert_int_equal(strncmp(c, "vt-web-", 7), 0);
	assert_string_not_equal(a, c);
}

static void test_none_and_no_seed(void **state)
{
	struct vmm_vm vm;
	char **a;

	(void)state;
	fill_vm(&vm, VMM_NET_NONE);
	vm.seed_iso_path = NULL;
	a = build(&vm, VMMI_ACCEL_TCG);
	assert_false(has_arg(a, "-netdev"));
	assert_false(has_substr(a, "virtio-net"));
	assert_true(find_pair(a, "-nic", "none") > 0);
	assert_false(has_substr(a, "seed0"));
	assert_true(has_arg(a, "-nodefaults"));
	vmmi_qemu_args_free(a);
}

static void test_commas_are_escaped(void **state)
{
	struct vmm_vm vm;
	char **a;

	(void)state;
	fill_vm(&vm, VMM_NET_USER);
	vm.overlay_path = "/d/a,b/overlay.qcow2";
	vm.work_dir = "/d/a,b";
	vm.console_socket = "/d/a,b/console.sock";
	a = build(&vm, VMMI_ACCEL_TCG);
	assert_true(has_substr(a, "file=/d/a,,b/overlay.qcow2,format=qcow2"));
	assert_true(has_substr(a, "path=/d/a,,b/console.sock,server=on"));
	assert_true(has_substr(a, "logfile=/d/a,,b/console.log,logappend"));
	/* -pidfile takes a plain file name */
	assert_true(find_pair(a, "-pidfile", "/d/a,b/pidfile") > 0);
	vmmi_qemu_args_free(a);
}

/* Shares: none leaves the argv as it was; virtiofs adds the shared-memory
 * backend and a vhost-user-fs device per share; 9p its fsdev (readonly=on
 * for a readonly share). */
static void test_shares(void **state)
{
	struct vmm_vm vm;
	struct vmm_share sh[3] = {
		{"/home/u/src", "/src", false, VMM_SHARE_VIRTIOFS},
		{"/home/u/a,b", "/data", true, VMM_SHARE_9P},
		{"/home/u/rw9p", "/rw", false, VMM_SHARE_9P},
	};
	char **plain, **a;
	int n_plain = 0, n = 0;

	(void)state;
	fill_vm(&vm, VMM_NET_USER);
	plain = build(&vm, VMMI_ACCEL_TCG);
	assert_false(has_substr(plain, "memory-backend"));
	assert_false(has_arg(plain, "-numa"));
	assert_false(has_arg(plain, "-fsdev"));
	/* 9p only: no shared memory needed */
	vm.shares.v = sh + 1;
	vm.shares.n = 2;
	a = build(&vm, VMMI_ACCEL_TCG);
	assert_false(has_substr(a, "memory-backend"));
	assert_true(find_pair(a, "-fsdev", "local,id=fs0,path=/home/u/a,,b,security_model=none,"
					   "readonly=on") > 0);
	assert_true(find_pair(a, "-device", "virtio-9p-pci,fsdev=fs0,mount_tag=vmctl0") > 0);
	assert_true(find_pair(a, "-fsdev", "local,id=fs1,path=/home/u/rw9p,security_model=none") >
		    0);
	vmmi_qemu_args_free(a);
	vm.shares.v = sh;
	vm.shares.n = 3;
	a = build(&vm, VMMI_ACCEL_TCG);
	assert_true(find_pair(a, "-object", "memory-backend-memfd,id=mem,size=2048M,share=on") > 0);
	assert_true(find_pair(a, "-numa", "node,memdev=mem") > 0);
	assert_true(find_pair(a, "-m", "2048") > 0);
	assert_true(find_pair(a, "-chardev", "socket,id=vfs0,path=/d/vms/web/virtiofsd0.sock") > 0);
	assert_true(find_pair(a, "-device", "vhost-user-fs-pci,chardev=vfs0,tag=vmctl0") > 0);
	assert_true(find_pair(a, "-device", "virtio-9p-pci,fsdev=fs1,mount_tag=vmctl1") > 0);
	assert_true(find_pair(a, "-device", "virtio-9p-pci,fsdev=fs2,mount_tag=vmctl2") > 0);
	/* everything else as without shares, in the same order */
	for (; plain[n_plain]; n_plain++)
		;
	for (; a[n]; n++)
		;
	assert_int_equal(n, n_plain + 4 + 4 + 4 + 4);
	for (int i = 0, j = 0; plain[i]; i++, j++) {
		while (strcmp(plain[i], a[j]) != 0)
			j++;
		assert_true(j < n);
	}
	vmmi_qemu_args_free(a);
	vmmi_qemu_args_free(plain);
}

/* The transport of each share: readonly ones are 9p; read-write ones
 * virtiofs where virtiofsd can run (installed, root), 9p otherwise. The
 * not-root case runs in a child that gave up root (seteuid). */
static void test_shares_choose(void **state)
{
	struct vmm_share sh[2] = {
		{"/h/rw", "/rw", false, VMM_SHARE_9P},
		{"/h/ro", "/ro", true, VMM_SHARE_VIRTIOFS},
	};
	struct vmm_vm vm;
	char why[256] = "";
	pid_t pid;
	int status;

	(void)state;
	fill_vm(&vm, VMM_NET_USER);
	vm.shares.v = sh;
	vm.shares.n = 2;
	/* virtiofsd is a dependency (tools/deps.txt: qemu-system-common) */
	assert_int_equal(access(VMMI_VIRTIOFSD, X_OK), 0);
	if (geteuid() == 0) {
		assert_true(vmmi_virtiofs_usable(why, sizeof(why)));
		vmmi_shares_choose(&vm);
		assert_int_equal(sh[0].type, VMM_SHARE_VIRTIOFS);
		assert_int_equal(sh[1].type, VMM_SHARE_9P);
		assert_true(vmmi_shares_have(&vm, VMM_SHARE_VIRTIOFS));
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		bool ok;

		if (geteuid() == 0 && seteuid(65534) < 0)
			_exit(10);
		ok = !vmmi_virtiofs_usable(why, sizeof(why)) && strstr(why, "needs root");
		vmmi_shares_choose(&vm);
		if (!ok)
			_exit(11);
		_exit(sh[0].type == VMM_SHARE_9P && sh[1].type == VMM_SHARE_9P ? 0 : 12);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_refused(void **state)
{
	struct vmm_error err;
	struct vmm_vm vm;
	char **a = NULL;

	(void)state;
	fill_vm(&vm, VMM_NET_VNIC);
	assert_true(vmmi_qemu_build_args(&vm, "q", VMMI_ACCEL_TCG, &a, &err) < 0);
	assert_int_equal(err.code, VMM_E_INVALID_CONFIG);
	assert_null(a);
	fill_vm(&vm, VMM_NET_USER);
	vm.ssh_host_port = 0;
	assert_true(vmmi_qemu_build_args(&vm, "q", VMMI_ACCEL_TCG, &a, &err) < 0);
	assert_null(a);
	fill_vm(&vm, VMM_NET_USER);
	vm.qmp_socket = NULL;
	assert_true(vmmi_qemu_build_args(&vm, "q", VMMI_ACCEL_TCG, &a, &err) < 0);
}

static void test_accel_env(void **state)
{
	struct vmm_error err;
	enum vmmi_accel ac;

	(void)state;
	setenv("VMCTL_ACCEL", "kvm", 1);
	assert_int_equal(vmmi_qemu_accel(&ac, &err), 0);
	assert_int_equal(ac, VMMI_ACCEL_KVM);
	setenv("VMCTL_ACCEL", "tcg", 1);
	assert_int_equal(vmmi_qemu_accel(&ac, &err), 0);
	assert_int_equal(ac, VMMI_ACCEL_TCG);
	setenv("VMCTL_ACCEL", "hvf", 1);
	assert_true(vmmi_qemu_accel(&ac, &err) < 0);
	assert_int_equal(err.code, VMM_E_INVALID_CONFIG);
	assert_non_null(strstr(err.message, "hvf"));
	unsetenv("VMCTL_ACCEL");
	assert_int_equal(vmmi_qemu_accel(&ac, &err), 0);
	assert_int_equal(ac, vmmi_kvm_usable() && !vmmi_kvm_is_pvm() ? VMMI_ACCEL_KVM
								 : VMMI_ACCEL_TCG);
}

static void test_binary_env(void **state)
{
	(void)state;
	unsetenv("VMCTL_QEMU");
	assert_string_equal(vmmi_qemu_binary(), "qemu-system-x86_64");
	setenv("VMCTL_QEMU", "/opt/q/qemu", 1);
	assert_string_equal(vmmi_qemu_binary(), "/opt/q/qemu");
	unsetenv("VMCTL_QEMU");
}

static void test_mac(void **state)
{
	char a[18], b[18], c[18];
	unsigned x[6];

	(void)state;
	vmmi_qemu_mac_from_id("vm-id-1", a);
	vmmi_qemu_mac_from_id("vm-id-1", b);
	vmmi_qemu_mac_from_id("vm-id-2", c);
	assert_string_equal(a, b); /* stable */
	assert_string_not_equal(a, c);
	assert_int_equal(strlen(a), 17);
	assert_int_equal(sscanf(a, "%2x:%2x:%2x:%2x:%2x:%2x", &x[0], &x[1], &x[2], &x[3], &x[4],
				&x[5]),
			 6);
	assert_true(x[0] & 0x02);    /* locally administered */
	assert_false(x[0] & 0x01);   /* unicast */
}

static void test_classify(void **state)
{
	(void)state;
	assert_int_equal(vmmi_qemu_classify_failure(
				 "KVM internal error. Suberror: 1\nextra data[0]: 0x0\n"
				 "emulation failure\nEAX=00000000"),
			 VMM_E_QEMU_KVM);
	assert_int_equal(vmmi_qemu_classify_failure(
				 "qemu-system-x86_64: -netdev user,id=net0,hostfwd=tcp:127.0.0.1:"
				 "10022-:22: Could not set up host forwarding rule "
				 "'tcp:127.0.0.1:10022-:22'"),
			 VMM_E_PORT_ALLOC);
	assert_int_equal(vmmi_qemu_classify_failure("qemu-system-x86_64: -drive x: No such file"),
			 VMM_E_QEMU_SPAWN);
	assert_int_equal(vmmi_qemu_classify_failure(NULL), VMM_E_QEMU_SPAWN);
	/* what QEMU 7.2 prints at once when kvm-pvm refuses the vCPU's MSRs */
	assert_int_equal(vmmi_qemu_classify_failure(
				 "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69 | "
				 "qemu-system-x86_64: ../../target/i386/kvm/kvm.c:3183: "
				 "kvm_buf_set_msrs: Assertion `ret == cpu->kvm_msr_buf->nmsrs' "
				 "failed."),
			 VMM_E_QEMU_KVM);
}

/* The VM's forwards follow the SSH forward in -netdev user, and the rules
 * for hostfwd_add / hostfwd_remove are the same text. */
static void test_forwards(void **state)
{
	struct vmm_forward fw[2] = {
		{.address = "127.0.0.1", .host_port = 8080, .guest_port = 80},
		{.address = "0.0.0.0", .host_port = 5353, .guest_port = 53, .udp = true},
	};
	struct vmm_vm vm;
	char **a, *r;

	(void)state;
	fill_vm(&vm, VMM_NET_USER);
	vm.forwards = fw;
	vm.n_forwards = 2;
	a = build(&vm, VMMI_ACCEL_TCG);
	assert_true(find_pair(a, "-netdev",
			      "user,id=net0,hostfwd=tcp:127.0.0.1:10050-:22,"
			      "hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=udp:0.0.0.0:5353-:53") > 0);
	vmmi_qemu_args_free(a);
	r = vmmi_qemu_hostfwd(&fw[1], true);
	assert_string_equal(r, "udp:0.0.0.0:5353-:53");
	free(r);
	r = vmmi_qemu_hostfwd(&fw[0], false);
	assert_string_equal(r, "tcp:127.0.0.1:8080");
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_user_tcg),
		cmocka_unit_test(test_forwards),
		cmocka_unit_test(test_kvm),
		cmocka_unit_test(test_tap),
		cmocka_unit_test(test_tap_name),
		cmocka_unit_test(test_none_and_no_seed),
		cmocka_unit_test(test_commas_are_escaped),
		cmocka_unit_test(test_shares),
		cmocka_unit_test(test_shares_choose),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_accel_env),
		cmocka_unit_test(test_binary_env),
		cmocka_unit_test(test_mac),
		cmocka_unit_test(test_classify),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
