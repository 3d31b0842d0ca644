/* SPDX-License-Identifier: MIT */
/* Unit tests: host port allocation (backends/qemu/ports.c) for SSH and for
 * port forwards, across processes. */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/qemu/ports.h"
#include "core/util.h"
#include "vmm/paths.h"

static char tmpl[64];
static struct vmm_paths paths;

static int setup(void **state)
{
	struct vmm_error err;
	char *data;

	(void)state;
	snprintf(tmpl, sizeof(tmpl), "/tmp/vmt-ports-XXXXXX");
	assert_non_null(mkdtemp(tmpl));
	data = vmmi_path_join(tmpl, "vmctl");
	assert_int_equal(vmm_paths_init_at(&paths, data, &err), 0);
	assert_int_equal(vmm_paths_ensure(&paths, &err), 0);
	free(data);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	vmmi_rm_rf(tmpl, NULL);
	vmm_paths_release(&paths);
	return 0;
}

static void make_vm_dir(const char *name)
{
	char *d = vmm_paths_vm_dir(&paths, name);

	assert_int_equal(mkdir(d, 0700), 0);
	free(d);
}

static unsigned reserved(const char *name)
{
	char *d = vmm_paths_vm_dir(&paths, name), *f = vmmi_path_join(d, VMMI_PORT_FILE), *txt;
	size_t len;
	unsigned p;

	assert_int_equal(vmmi_read_file(f, &txt, &len, NULL), 0);
	p = (unsigned)strtoul(txt, NULL, 10);
	free(txt);
	free(f);
	free(d);
	return p;
}

static void test_concurrent_processes_get_distinct_ports(void **state)
{
	enum { N = 16 };
	unsigned ports[N];
	pid_t pids[N];

	(void)state;
	for (int i = 0; i < N; i++) {
		char name[16];

		snprintf(name, sizeof(name), "vm%02d", i);
		make_vm_dir(name);
	}
	for (int i = 0; i < N; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct vmm_error err;
			char name[16];
			unsigned p;

			snprintf(name, sizeof(name), "vm%02d", i);
			_exit(vmmi_port_allocate(&paths, name, 0, NULL, &p, &err) == 0 ? 0 : 1);
		}
	}
	for (int i = 0; i < N; i++) {
		int st;

		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	for (int i = 0; i < N; i++) {
		char name[16];

		snprintf(name, sizeof(name), "vm%02d", i);
		ports[i] = reserved(name);
		assert_true(ports[i] >= VMMI_PORT_FIRST && ports[i] <= VMMI_PORT_LAST);
		for (int j = 0; j < i; j++)
			assert_int_not_equal(ports[i], ports[j]);
	}
}

static void test_busy_and_after(void **state)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct vmm_error err;
	unsigned p1, p2, p3;
	int fd;

	(void)state;
	make_vm_dir("a");
	make_vm_dir("b");
	assert_int_equal(vmmi_port_allocate(&paths, "a", 0, NULL, &p1, &err), 0);
	assert_int_equal(reserved("a"), p1);
	/* a's own reservation does not block a, but blocks b */
	assert_int_equal(vmmi_port_allocate(&paths, "b", 0, NULL, &p2, &err), 0);
	assert_int_not_equal(p1, p2);
	/* a port someone listens on is skipped */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)(p2 + 1));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 1) == 0) {
		assert_false(vmmi_port_bindable(p2 + 1));
		assert_int_equal(vmmi_port_allocate(&paths, "b", p2, NULL, &p3, &err), 0);
		assert_int_not_equal(p3, p2 + 1);
		assert_int_not_equal(p3, p2);
		assert_int_not_equal(p3, p1);
	}
	close(fd);
	/* "after" the last port wraps around to the start of the range */
	assert_int_equal(vmmi_port_allocate(&paths, "b", VMMI_PORT_LAST, NULL, &p3, &err), 0);
	assert_true(p3 >= VMMI_PORT_FIRST && p3 < VMMI_PORT_LAST);
	assert_false(vmmi_port_bindable(0));
	assert_false(vmmi_port_bindable(70000));
}

/* Ports the caller says are recorded for other VMs (vms.json) are skipped. */
static void test_taken_ports_are_skipped(void **state)
{
	unsigned taken[3] = {VMMI_PORT_FIRST, VMMI_PORT_FIRST + 1, VMMI_PORT_FIRST + 2};
	struct vmmi_ports_taken t = {taken, 3};
	struct vmm_error err;
	unsigned p;

	(void)state;
	make_vm_dir("c");
	assert_int_equal(vmmi_port_allocate(&paths, "c", 0, &t, &p, &err), 0);
	for (size_t i = 0; i < 3; i++)
		assert_int_not_equal(p, taken[i]);
	/* without them, the first free port of the range is taken again */
	assert_int_equal(vmmi_port_allocate(&paths, "c", 0, NULL, &p, &err), 0);
	if (vmmi_port_bindable(VMMI_PORT_FIRST))
		assert_int_equal(p, VMMI_PORT_FIRST);
}

/* A socket holding 127.0.0.1:port (TCP listening, or UDP bound); -1 if
 * the port could not be had. */
static int hold(unsigned port, bool udp)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int fd = socket(AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    (!udp && listen(fd, 1) < 0)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* A free port above the SSH range, for an explicit forward (a new one at
 * each call). */
static unsigned free_port(bool udp)
{
	static unsigned next;

	if (!next)
		next = 20000 + (unsigned)(getpid() % 20000);
	for (unsigned p = next; p < 65000; p++)
		if (vmmi_port_probe("127.0.0.1", p, udp) == 0) {
			next = p + 1;
			return p;
		}
	fail_msg("no free port");
	return 0;
}

static struct vmm_forward fwd(unsigned host, unsigned guest, bool udp)
{
	struct vmm_forward f = {.address = "127.0.0.1", .host_port = host, .guest_port = guest,
				.udp = udp};

	return f;
}

static char *forward_file(const char *name)
{
	char *d = vmm_paths_vm_dir(&paths, name), *f = vmmi_path_join(d, VMMI_FWD_FILE), *txt;
	size_t len;

	assert_int_equal(vmmi_read_file(f, &txt, &len, NULL), 0);
	free(f);
	free(d);
	return txt;
}

/* A host port another VM forwards is refused naming that VM; one another
 * program holds, naming "another process"; TCP and UDP apart. */
static void test_forward_conflicts(void **state)
{
	unsigned port = free_port(false), uport, ssh;
	struct vmm_forward a[2], b;
	struct vmm_error err;
	char *txt, expect[64];
	int fd;

	(void)state;
	make_vm_dir("web");
	make_vm_dir("db");
	a[0] = fwd(port, 80, false);
	a[1] = fwd(0, 3000, false);
	assert_int_equal(vmmi_forwards_reserve(&paths, "web", 0, a, 2, 0, false, NULL, &err), 0);
	assert_true(a[1].host_port >= VMMI_PORT_FIRST && a[1].host_port <= VMMI_PORT_LAST);
	assert_true(a[1].auto_port);
	assert_false(a[0].auto_port);
	txt = forward_file("web");
	snprintf(expect, sizeof(expect), "tcp %u\ntcp %u\n", port, a[1].host_port);
	assert_string_equal(txt, expect);
	free(txt);
	/* db may not have them */
	b = fwd(port, 8080, false);
	assert_int_equal(vmmi_forwards_reserve(&paths, "db", 0, &b, 1, 0, false, NULL, &err),
			 -(int)VMM_E_PORT_ALLOC);
	snprintf(expect, sizeof(expect), "host port %u/tcp is held by VM 'web'", port);
	assert_string_equal(err.message, expect);
	assert_non_null(strstr(err.hint, "vmctl port web"));
	b = fwd(a[1].host_port, 1, false);
	assert_int_equal(vmmi_forwards_reserve(&paths, "db", 0, &b, 1, 0, false, NULL, &err),
			 -(int)VMM_E_PORT_ALLOC);
	assert_non_null(strstr(err.message, "held by VM 'web'"));
	/* the same port in UDP is another port */
	b = fwd(port, 53, true);
	if (vmmi_port_probe("127.0.0.1", port, true) == 0)
		assert_int_equal(vmmi_forwards_reserve(&paths, "db", 0, &b, 1, 0, false, NULL,
						       &err),
				 0);
	/* a port picked for db is none of web's, nor db's own SSH port */
	assert_int_equal(vmmi_port_allocate(&paths, "db", 0, NULL, &ssh, &err), 0);
	assert_int_not_equal(ssh, a[1].host_port);
	b = fwd(0, 22, false);
	assert_int_equal(vmmi_forwards_reserve(&paths, "db", ssh, &b, 1, 0, false, NULL, &err), 0);
	assert_int_not_equal(b.host_port, ssh);
	assert_int_not_equal(b.host_port, a[1].host_port);
	/* db's own SSH port, forwarded again */
	b = fwd(ssh, 22, false);
	assert_int_equal(vmmi_forwards_reserve(&paths, "db", ssh, &b, 1, 0, false, NULL, &err),
			 -(int)VMM_E_PORT_ALLOC);
	assert_non_null(strstr(err.message, "this VM's own SSH port"));
	/* another program's TCP listener, and UDP socket */
	port = free_port(false);
	fd = hold(port, false);
	assert_true(fd >= 0);
	b = fwd(port, 80, false);
	assert_int_equal(vmmi_forwards_reserve(&paths, "db", 0, &b, 1, 0, false, NULL, &err),
			 -(int)VMM_E_PORT_ALLOC);
	snprintf(expect, sizeof(expect), "host port %u/tcp on 127.0.0.1 is held by another process",
		 port);
	assert_string_equal(err.message, expect);
	assert_non_null(strstr(err.hint, "ss -ltnp"));
	/* on every address too (0.0.0.0 takes 127.0.0.1's port) */
	snprintf(b.address, sizeof(b.address), "0.0.0.0");
	assert_int_equal(vmmi_forwards_reserve(&paths, "db", 0, &b, 1, 0, false, NULL, &err),
			 -(int)VMM_E_PORT_ALLOC);
	assert_non_null(strstr(err.message, "another process"));
	close(fd);
	uport = free_port(true);
	fd = hold(uport, true);
	assert_true(fd >= 0);
	b = fwd(uport, 53, true);
	assert_int_equal(vmmi_forwards_reserve(&paths, "db", 0, &b, 1, 0, false, NULL, &err),
			 -(int)VMM_E_PORT_ALLOC);
	assert_non_null(strstr(err.message, "/udp on 127.0.0.1 is held by another process"));
	close(fd);
	/* an address that is not this host's */
	b = fwd(free_port(false), 80, false);
	snprintf(b.address, sizeof(b.address), "192.0.2.1");
	assert_int_equal(vmmi_forwards_reserve(&paths, "db", 0, &b, 1, 0, false, NULL, &err),
			 -(int)VMM_E_PORT_ALLOC);
	assert_non_null(strstr(err.message, "not an address of this host"));
	/* a failed reservation left db's file as it was: web's port is free
	 * for db only once web lets it go */
	assert_int_equal(vmmi_forwards_reserve(&paths, "web", 0, a, 1, 1, false, NULL, &err), 0);
	b = fwd(a[1].host_port, 1, false);
	assert_int_equal(vmmi_forwards_reserve(&paths, "db", 0, &b, 1, 0, false, NULL, &err), 0);
}

/* At a start (repick), a port vmctl picked that is taken now is picked
 * anew; one the user gave is an error. */
static void test_forward_repick(void **state)
{
	struct vmm_forward f = fwd(0, 80, false), g;
	struct vmm_error err;
	unsigned old;
	int fd;

	(void)state;
	make_vm_dir("r");
	assert_int_equal(vmmi_forwards_reserve(&paths, "r", 0, &f, 1, 0, false, NULL, &err), 0);
	old = f.host_port;
	fd = hold(old, false);
	assert_true(fd >= 0);
	assert_int_equal(vmmi_forwards_reserve(&paths, "r", 0, &f, 1, 0, true, NULL, &err), 0);
	assert_int_not_equal(f.host_port, old);
	assert_true(f.auto_port);
	g = fwd(old, 80, false);
	assert_int_equal(vmmi_forwards_reserve(&paths, "r", 0, &g, 1, 0, true, NULL, &err),
			 -(int)VMM_E_PORT_ALLOC);
	assert_non_null(strstr(err.message, "another process"));
	close(fd);
	/* the SSH allocator skips the VM's own forwards and others' */
	make_vm_dir("s");
	for (int i = 0; i < 5; i++) {
		unsigned p;

		assert_int_equal(vmmi_port_allocate(&paths, "r", 0, NULL, &p, &err), 0);
		assert_int_not_equal(p, f.host_port);
		assert_int_equal(vmmi_port_allocate(&paths, "s", 0, NULL, &p, &err), 0);
		assert_int_not_equal(p, f.host_port);
	}
}

/* 16 processes, each picking a forwarded port for its VM at once: 16
 * distinct ports. */
static void test_concurrent_forwards_distinct(void **state)
{
	enum { N = 16 };
	unsigned ports[N];
	pid_t pids[N];

	(void)state;
	for (int i = 0; i < N; i++) {
		char name[16];

		snprintf(name, sizeof(name), "f%02d", i);
		make_vm_dir(name);
	}
	for (int i = 0; i < N; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct vmm_forward f = fwd(0, 80, false);
			struct vmm_error err;
			char name[16];

			snprintf(name, sizeof(name), "f%02d", i);
			_exit(vmmi_forwards_reserve(&paths, name, 0, &f, 1, 0, false, NULL, &err) == 0
				      ? 0
				      : 1);
		}
	}
	for (int i = 0; i < N; i++) {
		int st;

		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	for (int i = 0; i < N; i++) {
		char name[16], *txt;

		snprintf(name, sizeof(name), "f%02d", i);
		txt = forward_file(name);
		assert_int_equal(sscanf(txt, "tcp %u", &ports[i]), 1);
		free(txt);
		for (int j = 0; j < i; j++)
			assert_int_not_equal(ports[i], ports[j]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_concurrent_processes_get_distinct_ports, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_busy_and_after, setup, teardown),
		cmocka_unit_test_setup_teardown(test_taken_ports_are_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forward_conflicts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forward_repick, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_forwards_distinct, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
