/* SPDX-License-Identifier: MIT */
/* Unit tests: SSH port allocation (lib/ports.c) across processes. */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_concurrent_processes_get_distinct_ports, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_busy_and_after, setup, teardown),
		cmocka_unit_test_setup_teardown(test_taken_ports_are_skipped, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
