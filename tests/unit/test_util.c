/* SPDX-License-Identifier: MIT */
/* Unit tests: the core helpers' contracts, above all what a failed call
 * leaves in its outputs (NULL / -1, never a stale pointer). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/util.h"
#include "tmpdir.h"

static void test_run_captures_output(void **state)
{
	char *argv[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
	char *out = NULL, *errout = NULL;
	int status = 0;
	struct vmm_error err = {0};

	(void)state;
	assert_int_equal(vmmi_run(argv, &out, &errout, &status, &err), 0);
	assert_int_equal(status, 3);
	assert_string_equal(out, "out\n");
	assert_string_equal(errout, "err\n");
	free(out);
	free(errout);
}

/* A program that cannot be started: the outputs are reset, not left as the
 * caller had them (a caller that frees them again must not double-free). */
static void test_run_failure_resets_outputs(void **state)
{
	char *argv[] = {"vmctl-test-no-such-program", NULL};
	char sentinel[] = "previous";
	char *out = sentinel, *errout = sentinel;
	int status = 42;
	struct vmm_error err = {0};

	(void)state;
	assert_true(vmmi_run(argv, &out, &errout, &status, &err) < 0);
	assert_null(out);
	assert_null(errout);
	assert_int_equal(status, -1);
	assert_int_equal(err.code, VMM_E_IO);
	assert_non_null(strstr(err.message, "vmctl-test-no-such-program"));
	vmm_error_clear(&err);
}

static void test_read_file_failure_resets_outputs(void **state)
{
	char sentinel[] = "previous";
	char *data = sentinel;
	size_t len = 7;
	struct vmm_error err = {0};

	(void)state;
	assert_true(vmmi_read_file("/nonexistent/vmctl-test", &data, &len, &err) < 0);
	assert_null(data);
	assert_int_equal(len, 0);
	vmm_error_clear(&err);
}

static void test_read_file_reads_whole_file(void **state)
{
	char *dir = mktmpdir_prefix("vmctl-util"), *path = vmmi_path_join(dir, "f");
	char *data = NULL;
	size_t len = 0;
	struct vmm_error err = {0};

	(void)state;
	assert_int_equal(vmmi_write_file_atomic(path, "a\0b\n", 4, 0600, &err), 0);
	assert_int_equal(vmmi_read_file(path, &data, &len, &err), 0);
	assert_int_equal(len, 4);
	assert_memory_equal(data, "a\0b\n", 5); /* NUL-terminated */
	free(data);
	free(path);
	rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_captures_output),
		cmocka_unit_test(test_run_failure_resets_outputs),
		cmocka_unit_test(test_read_file_failure_resets_outputs),
		cmocka_unit_test(test_read_file_reads_whole_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
