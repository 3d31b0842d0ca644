/* SPDX-License-Identifier: MIT */
/* Unit tests: the error model, the logger's filter and "did you mean". */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/error.h"
#include "vmm/log.h"
#include "vmm/suggest.h"

static void test_every_code_has_name_and_hint(void **state)
{
	(void)state;
	for (int c = 1; c < VMM_E__COUNT; c++) {
		const char *name = vmm_errcode_name((enum vmm_errcode)c);

		assert_non_null(name);
		assert_true(strncmp(name, "vm_manager::", 12) == 0);
		assert_string_not_equal(name, "vm_manager::unknown");
		assert_true(strlen(vmm_errcode_default_hint((enum vmm_errcode)c)) > 0);
		/* names are unique */
		for (int d = 1; d < c; d++)
			assert_string_not_equal(name, vmm_errcode_name((enum vmm_errcode)d));
	}
	assert_string_equal(vmm_errcode_name(VMM_E_VM_NOT_FOUND), "vm_manager::vm::not_found");
	assert_string_equal(vmm_errcode_name(VMM_E_QEMU_SPAWN), "vm_manager::qemu::spawn_failed");
	assert_string_equal(vmm_errcode_name((enum vmm_errcode)9999), "vm_manager::unknown");
}

static void test_set_returns_negative_code(void **state)
{
	struct vmm_error err;

	(void)state;
	vmm_error_clear(&err);
	assert_int_equal(vmm_error_set(&err, VMM_E_VM_NOT_FOUND, 0, NULL, "VM '%s' missing", "a"),
			 -(int)VMM_E_VM_NOT_FOUND);
	assert_int_equal(err.code, VMM_E_VM_NOT_FOUND);
	assert_string_equal(err.message, "VM 'a' missing");
	assert_string_equal(err.hint, vmm_errcode_default_hint(VMM_E_VM_NOT_FOUND));
	vmm_error_set(&err, VMM_E_IO, 0, "custom hint", "x");
	assert_string_equal(err.hint, "custom hint");
	/* NULL error is allowed */
	assert_int_equal(vmm_error_set(NULL, VMM_E_IO, 0, NULL, "x"), -(int)VMM_E_IO);
}

static void test_errno_and_prefix(void **state)
{
	struct vmm_error err;
	char big[4000];

	(void)state;
	errno = ENOENT;
	vmm_error_errno(&err, VMM_E_IO, NULL, "cannot open '%s'", "/x");
	assert_int_equal(err.sys_errno, ENOENT);
	assert_string_equal(err.message, "cannot open '/x': No such file or directory");
	vmm_error_prefix(&err, "while loading %s", "store");
	assert_string_equal(err.message,
			    "while loading store: cannot open '/x': No such file or directory");
	/* over-long messages are truncated, not overflowed */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	vmm_error_set(&err, VMM_E_IO, 0, big, "%s", big);
	assert_int_equal(strlen(err.message), VMM_ERROR_MSG_MAX - 1);
	assert_int_equal(strlen(err.hint), VMM_ERROR_HINT_MAX - 1);
	vmm_error_clear(&err);
	assert_int_equal(err.code, VMM_OK);
	assert_string_equal(err.message, "");
}

static int sink_calls;
static char sink_last[256];
static void sink(enum vmm_log_level level, const char *module, const char *msg, void *ud)
{
	(void)level;
	(void)ud;
	sink_calls++;
	snprintf(sink_last, sizeof(sink_last), "%s:%s", module, msg);
}

static void test_log_filters(void **state)
{
	(void)state;
	vmm_log_set_sink(NULL, NULL);
	assert_false(vmm_log_enabled(VMM_LOG_ERROR, "store"));
	vmm_log_set_sink(sink, NULL);
	assert_int_equal(vmm_log_configure(NULL), 0);
	assert_true(vmm_log_enabled(VMM_LOG_WARN, "store"));
	assert_false(vmm_log_enabled(VMM_LOG_INFO, "store"));
	assert_int_equal(vmm_log_configure("debug"), 0);
	assert_true(vmm_log_enabled(VMM_LOG_DEBUG, "x"));
	assert_false(vmm_log_enabled(VMM_LOG_TRACE, "x"));
	assert_int_equal(vmm_log_configure("store=trace"), 0);
	assert_true(vmm_log_enabled(VMM_LOG_TRACE, "store"));
	assert_false(vmm_log_enabled(VMM_LOG_INFO, "ssh"));
	assert_int_equal(vmm_log_configure("error,vm_manager::ssh=debug"), 0);
	assert_true(vmm_log_enabled(VMM_LOG_DEBUG, "ssh"));
	assert_false(vmm_log_enabled(VMM_LOG_WARN, "qemu"));
	assert_int_equal(vmm_log_configure("loud"), -1);
	assert_int_equal(vmm_log_configure("ssh=loud"), -1);
	vmm_log_configure("info");
	sink_calls = 0;
	vmm_log(VMM_LOG_INFO, "qemu", "hello %d", 42);
	vmm_log(VMM_LOG_DEBUG, "qemu", "hidden");
	assert_int_equal(sink_calls, 1);
	assert_string_equal(sink_last, "qemu:hello 42");
	vmm_log_set_sink(NULL, NULL);
}

static void test_suggest(void **state)
{
	static const char *const cmds[] = {"create", "start", "stop", "status", "list",
					   "destroy", NULL};
	static const char *const nodes[] = {"vcpus", "memory", "disk", "image", NULL};

	(void)state;
	assert_int_equal(vmm_edit_distance("kitten", "sitting"), 3);
	assert_int_equal(vmm_edit_distance("", "abc"), 3);
	assert_int_equal(vmm_edit_distance("ab", "ba"), 1);
	assert_string_equal(vmm_suggest("strat", cmds), "start");
	assert_string_equal(vmm_suggest("lst", cmds), "list");
	assert_string_equal(vmm_suggest("destory", cmds), "destroy");
	assert_string_equal(vmm_suggest("cpus", nodes), "vcpus");
	assert_string_equal(vmm_suggest("mem", nodes), "memory");
	assert_null(vmm_suggest("frobnicate", cmds));
	assert_null(vmm_suggest("", cmds));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_code_has_name_and_hint),
		cmocka_unit_test(test_set_returns_negative_code),
		cmocka_unit_test(test_errno_and_prefix),
		cmocka_unit_test(test_log_filters),
		cmocka_unit_test(test_suggest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
