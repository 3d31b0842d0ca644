/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the libvirt backend against libvirt's test driver
 * (test:///default, a hypervisor simulated inside libvirt): the domain XML
 * vmctl builds is accepted by libvirt's own parser and reads back with the
 * devices it asked for; the lifecycle operations and the live state map
 * onto the domain's (start, suspend, resume, stop, destroy); `list` asks
 * the hosts in parallel and shows the VMs of a host that does not answer
 * as unknown, in bounded time; what a URI says about reaching its guests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "backends/backend.h"
#include "backends/libvirt/libvirt.h"
#include "core/util.h"
#include "store/store.h"
#include "tmpdir.h"
#include "vmm/manager.h"
#include "vmm/vm.h"

#define TEST_URI "test:///default"

static void quiet(void *ud, virErrorPtr e)
{
	(void)ud;
	(void)e;
}

static char *build_xml(const char *name, bool seed, const char *bridge)
{
	struct vmm_error err;
	char *xml = NULL;

	assert_int_equal(vmmi_libvirt_domain_xml(
				 &(struct vmmi_libvirt_domain){
					 .name = name,
					 .kvm = false,
					 .vcpus = 2,
					 .memory_mb = 768,
					 .pool = "default-pool",
					 .disk_volume = "vmctl-x.qcow2",
					 .seed_volume = seed ? "vmctl-x-seed.iso" : NULL,
					 .mac = "52:54:00:12:34:56",
					 .bridge = bridge,
					 .network = "default",
					 .console_log = "/var/log/libvirt/qemu/x-console.log",
				 },
				 &xml, &err),
			 0);
	assert_non_null(xml);
	return xml;
}

/* libvirt parses what vmctl writes and keeps every device of it. */
static void test_domain_xml_defines(void **state)
{
	virConnectPtr c;
	virDomainPtr d;
	char *xml = build_xml("vmctl-unit-xml", true, NULL), *back;

	(void)state;
	virSetErrorFunc(NULL, quiet);
	c = virConnectOpen(TEST_URI);
	assert_non_null(c);
	d = virDomainDefineXML(c, xml);
	if (!d)
		fail_msg("libvirt refused the domain XML: %s\n%s", virGetLastErrorMessage(), xml);
	back = virDomainGetXMLDesc(d, 0);
	assert_non_null(back);
	assert_non_null(strstr(back, "<domain type='qemu'"));
	assert_non_null(strstr(back, "machine='q35'"));
	assert_non_null(strstr(back, "<memory unit='KiB'>786432</memory>"));
	assert_non_null(strstr(back, ">2</vcpu>"));
	assert_non_null(strstr(back, "<source pool='default-pool' volume='vmctl-x.qcow2'/>"));
	assert_non_null(strstr(back, "<target dev='vda' bus='virtio'/>"));
	/* the seed on virtio-blk, never on AHCI: Debian's cloud kernel lacks it */
	assert_non_null(strstr(back, "<source pool='default-pool' volume='vmctl-x-seed.iso'/>"));
	assert_non_null(strstr(back, "<target dev='vdb' bus='virtio'/>"));
	assert_null(strstr(back, "bus='sata'"));
	assert_non_null(strstr(back, "<mac address='52:54:00:12:34:56'/>"));
	assert_non_null(strstr(back, "<source network='default'/>"));
	assert_non_null(strstr(back, "<model type='virtio'/>"));
	assert_non_null(strstr(back, "<log file='/var/log/libvirt/qemu/x-console.log'"));
	assert_non_null(strstr(back, "<graphics type='vnc'"));
	assert_non_null(strstr(back, "listen='127.0.0.1'"));
	assert_non_null(strstr(back, "<rng model='virtio'>"));
	free(back);
	assert_int_equal(virDomainUndefine(d), 0);
	virDomainFree(d);
	free(xml);

	/* a bridge instead of a network; no seed */
	xml = build_xml("vmctl-unit-br", false, "br0");
	assert_non_null(strstr(xml, "<interface type='bridge'>"));
	assert_non_null(strstr(xml, "<source bridge='br0'/>"));
	assert_null(strstr(xml, "seed"));
	d = virDomainDefineXML(c, xml);
	assert_non_null(d);
	assert_int_equal(virDomainUndefine(d), 0);
	virDomainFree(d);
	free(xml);
	virConnectClose(c);
}

/* Names and values are escaped, never spliced into the XML. */
static void test_xml_escapes(void **state)
{
	struct vmm_error err;
	char *xml = NULL;

	(void)state;
	assert_int_equal(vmmi_libvirt_volume_xml("a'<b>&\"", 1024, "raw", &xml, &err), 0);
	assert_non_null(strstr(xml, "<name>a&apos;&lt;b&gt;&amp;&quot;</name>"));
	assert_non_null(strstr(xml, "<capacity unit='bytes'>1024</capacity>"));
	free(xml);
	assert_int_equal(vmmi_libvirt_overlay_xml("vmctl-w.qcow2", 2147483648ULL,
						  "/pool/abc", "qcow2", &xml, &err),
			 0);
	assert_non_null(strstr(xml, "<backingStore>\n    <path>/pool/abc</path>"));
	assert_non_null(strstr(xml, "<format type='qcow2'/>"));
	free(xml);
}

static void test_state_map(void **state)
{
	(void)state;
	assert_int_equal(vmmi_libvirt_state_map(VIR_DOMAIN_RUNNING), VMM_STATE_RUNNING);
	assert_int_equal(vmmi_libvirt_state_map(VIR_DOMAIN_BLOCKED), VMM_STATE_RUNNING);
	assert_int_equal(vmmi_libvirt_state_map(VIR_DOMAIN_SHUTDOWN), VMM_STATE_RUNNING);
	assert_int_equal(vmmi_libvirt_state_map(VIR_DOMAIN_PAUSED), VMM_STATE_SUSPENDED);
	assert_int_equal(vmmi_libvirt_state_map(VIR_DOMAIN_PMSUSPENDED), VMM_STATE_SUSPENDED);
	assert_int_equal(vmmi_libvirt_state_map(VIR_DOMAIN_SHUTOFF), VMM_STATE_STOPPED);
	assert_int_equal(vmmi_libvirt_state_map(VIR_DOMAIN_CRASHED), VMM_STATE_FAILED);
	assert_int_equal(vmmi_libvirt_state_map(VIR_DOMAIN_NOSTATE), VMM_STATE_FAILED);
}

static enum vmm_vm_state live(const struct vmm_vm *vm)
{
	enum vmm_vm_state s = VMM_STATE_PREPARING;
	struct vmm_error err;

	if (vmmi_libvirt_state(NULL, vm, &s, &err) < 0)
		fail_msg("state: %s", err.message);
	return s;
}

/* The backend's operations drive a domain of the test driver through its
 * states, and the state is the daemon's. */
static void test_lifecycle(void **state)
{
	const struct vmm_backend_ops *be = &vmmi_backend_libvirt;
	struct vmm_vm *vm = vmm_vm_new();
	struct vmm_error err;
	virConnectPtr c;
	virDomainPtr d;
	char *xml = build_xml("vmctl-unit-life", true, NULL);
	bool missing_ok;

	(void)state;
	virSetErrorFunc(NULL, quiet);
	c = virConnectOpen(TEST_URI);
	assert_non_null(c);
	d = virDomainDefineXML(c, xml);
	assert_non_null(d);
	virDomainFree(d);
	vm->name = strdup("vmctl-unit-life");
	vm->backend = VMM_BACKEND_LIBVIRT;
	vm->uri = strdup(TEST_URI);
	vm->pool = strdup("default-pool");
	vm->state = VMM_STATE_PREPARED;

	/* defined, never started: the record's state stands */
	assert_int_equal(live(vm), VMM_STATE_PREPARED);
	assert_int_equal(be->start(NULL, vm, NULL, &err), 0);
	vm->state = VMM_STATE_RUNNING;
	assert_int_equal(live(vm), VMM_STATE_RUNNING);
	/* starting it twice is refused with a hint */
	assert_true(be->start(NULL, vm, NULL, &err) < 0);
	assert_int_equal(err.code, VMM_E_INVALID_STATE);
	assert_int_equal(be->suspend(NULL, vm, &err), 0);
	assert_int_equal(live(vm), VMM_STATE_SUSPENDED);
	assert_int_equal(be->resume(NULL, vm, &err), 0);
	assert_int_equal(live(vm), VMM_STATE_RUNNING);
	/* the test driver powers off at once on virDomainShutdown */
	assert_int_equal(be->stop(NULL, vm, 5, &err), 0);
	assert_int_equal(live(vm), VMM_STATE_STOPPED);
	/* a stopped VM cannot be suspended: libvirt's reason, and a hint */
	assert_true(be->suspend(NULL, vm, &err) < 0);
	assert_int_equal(err.code, VMM_E_BACKEND);
	assert_non_null(strstr(err.message, "cannot suspend VM 'vmctl-unit-life'"));
	assert_true(err.hint[0] != '\0');
	assert_int_equal(be->start(NULL, vm, NULL, &err), 0);
	/* destroy stops and undefines the domain */
	if (be->destroy(NULL, vm, &err) < 0)
		fail_msg("destroy: %s", err.message);
	d = virDomainLookupByName(c, "vmctl-unit-life");
	missing_ok = d == NULL && virGetLastErrorCode() == VIR_ERR_NO_DOMAIN;
	if (d)
		virDomainFree(d);
	assert_true(missing_ok);
	/* a domain that is gone: the VM failed, and a second destroy is a no-op */
	assert_int_equal(live(vm), VMM_STATE_FAILED);
	assert_int_equal(be->destroy(NULL, vm, &err), 0);
	assert_true(be->start(NULL, vm, NULL, &err) < 0);
	assert_int_equal(err.code, VMM_E_INVALID_STATE);
	vmm_vm_free(vm);
	free(xml);
	virConnectClose(c);
}

/* A daemon that is not there: libvirt's message, and the unreachable hint. */
static void test_unreachable(void **state)
{
	struct vmm_vm *vm = vmm_vm_new();
	struct vmm_error err;
	enum vmm_vm_state s;

	(void)state;
	vm->name = strdup("x");
	vm->backend = VMM_BACKEND_LIBVIRT;
	vm->uri = strdup("qemu+unix:///system?socket=/nonexistent/libvirt-sock");
	vm->state = VMM_STATE_RUNNING;
	assert_true(vmmi_libvirt_state(NULL, vm, &s, &err) < 0);
	assert_int_equal(err.code, VMM_E_BACKEND);
	assert_non_null(strstr(err.message, "cannot connect to libvirt at"));
	assert_non_null(strstr(err.message, "/nonexistent/libvirt-sock"));
	assert_non_null(strstr(err.hint, "unreachable"));
	vmm_vm_free(vm);
}

static struct vmm_vm *libvirt_vm(const char *name, const char *uri)
{
	struct vmm_vm *vm = vmm_vm_new();

	vm->name = strdup(name);
	vm->backend = VMM_BACKEND_LIBVIRT;
	vm->uri = strdup(uri);
	vm->state = VMM_STATE_RUNNING;
	return vm;
}

/* A host that accepts the connection and never answers (a listening
 * socket nobody reads) does not hang `list`: its VM is unknown once the
 * bound is over, and the VM of the host that answers has its live state. */
static void test_list_bounded(void **state)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	struct vmmi_store st;
	struct vmm_error err;
	struct vmm_ctx *ctx;
	struct vmm_vm **vms = NULL, *a, *b;
	virConnectPtr c;
	virDomainPtr d;
	char *dir = mktmpdir_prefix("vmctl-lv"), *xml, uri[128];
	uint64_t t0;
	size_t n = 0;
	int lfd;

	(void)state;
	virSetErrorFunc(NULL, quiet);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 8), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(uri, sizeof(uri), "qemu+tcp://127.0.0.1:%u/system", ntohs(sa.sin_port));

	c = virConnectOpen(TEST_URI);
	xml = build_xml("vmctl-unit-list", false, NULL);
	assert_non_null(d = virDomainDefineXML(c, xml));
	assert_int_equal(virDomainCreate(d), 0);
	assert_int_equal(virDomainSuspend(d), 0);
	assert_int_equal(vmm_ctx_new_at(&ctx, dir, &err), 0);
	assert_int_equal(vmmi_store_load(vmm_ctx_paths(ctx)->store_path, &st, &err), 0);
	a = libvirt_vm("vmctl-unit-list", TEST_URI);
	b = libvirt_vm("silent", uri);
	assert_int_equal(vmmi_store_put(&st, a, &err), 0);
	assert_int_equal(vmmi_store_put(&st, b, &err), 0);
	if (vmmi_store_save(vmm_ctx_paths(ctx)->store_path, &st, &err) < 0)
		fail_msg("save: %s", err.message);

	t0 = vmmi_now_ms();
	assert_int_equal(vmm_vm_list(ctx, &vms, &n, &err), 0);
	assert_true(vmmi_now_ms() - t0 < 15000);
	assert_int_equal(n, 2);
	assert_string_equal(vms[0]->name, "silent");
	assert_int_equal(vms[0]->state, VMM_STATE_UNKNOWN);
	assert_string_equal(vmm_vm_state_name(vms[0]->state), "unknown");
	assert_string_equal(vms[1]->name, "vmctl-unit-list");
	assert_int_equal(vms[1]->state, VMM_STATE_SUSPENDED);

	vmm_vm_list_free(vms, n);
	vmm_vm_free(a);
	vmm_vm_free(b);
	vmmi_store_release(&st);
	vmm_ctx_free(ctx);
	virDomainDestroy(d);
	virDomainUndefine(d);
	virDomainFree(d);
	virConnectClose(c);
	free(xml);
	rmtree(dir);
	/* lfd stays open: the thread still waiting on it must not get an
	 * answer (or an error) it could act on while the test goes on */
}

static void test_jump(void **state)
{
	struct vmmi_libvirt_jump j;
	struct vmm_error err;

	(void)state;
	assert_int_equal(vmmi_libvirt_jump("qemu:///system", &j, &err), 0);
	assert_null(j.host);
	assert_int_equal(vmmi_libvirt_jump("qemu+tls://h/system", &j, &err), 0);
	assert_null(j.host);
	assert_int_equal(vmmi_libvirt_jump("qemu+ssh://admin@build1/system", &j, &err), 1);
	assert_string_equal(j.host, "build1");
	assert_string_equal(j.user, "admin");
	assert_int_equal(j.port, 0);
	assert_null(j.keyfile);
	assert_false(j.no_verify);
	vmmi_libvirt_jump_release(&j);
	assert_int_equal(vmmi_libvirt_jump("qemu+ssh://root@127.0.0.1:2222/system?keyfile=/k%20"
					   "ey&no_verify=1",
					   &j, &err),
			 1);
	assert_string_equal(j.host, "127.0.0.1");
	assert_string_equal(j.user, "root");
	assert_int_equal(j.port, 2222);
	assert_string_equal(j.keyfile, "/k ey");
	assert_true(j.no_verify);
	vmmi_libvirt_jump_release(&j);
	assert_int_equal(vmmi_libvirt_jump("qemu+ssh://host/system", &j, &err), 1);
	assert_null(j.user);
	vmmi_libvirt_jump_release(&j);
	assert_true(vmmi_libvirt_jump("not a uri", &j, &err) < 0);
	assert_int_equal(err.code, VMM_E_INVALID_CONFIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_domain_xml_defines),
		cmocka_unit_test(test_xml_escapes),
		cmocka_unit_test(test_state_map),
		cmocka_unit_test(test_lifecycle),
		cmocka_unit_test(test_unreachable),
		cmocka_unit_test(test_list_bounded),
		cmocka_unit_test(test_jump),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
