/* SPDX-License-Identifier: MIT */
/* Unit tests: vms.json parsing, validation, round trips; names; lifecycle. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "store/store.h"
#include "core/util.h"
#include "vmm/manager.h"
#include "vmm/vm.h"

static char tmpdir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/vmctl-test-store-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	struct vmm_error err;

	(void)state;
	return vmmi_rm_rf(tmpdir, &err);
}

static int parse(const char *text, struct vmmi_store *st, struct vmm_error *err)
{
	return vmmi_store_parse("vms.json", text, strlen(text), st, err);
}

static void test_missing_file_is_empty(void **state)
{
	struct vmmi_store st;
	struct vmm_error err;
	char path[128];

	(void)state;
	snprintf(path, sizeof(path), "%s/nope.json", tmpdir);
	assert_int_equal(vmmi_store_load(path, &st, &err), 0);
	assert_int_equal(st.n, 0);
	vmmi_store_release(&st);
}

static void test_defaults_for_missing_fields(void **state)
{
	struct vmmi_store st;
	struct vmm_error err;
	struct vmm_vm *vm;

	(void)state;
	assert_int_equal(parse("{\"version\":1,\"vms\":{\"a\":{}}}", &st, &err), 0);
	assert_int_equal(st.n, 1);
	vm = vmmi_store_find(&st, "a");
	assert_non_null(vm);
	assert_string_equal(vm->name, "a");
	assert_int_equal(vm->vcpus, 1);
	assert_int_equal(vm->memory_mb, 1024);
	assert_int_equal(vm->disk_gb, 0);
	assert_int_equal(vm->network.type, VMM_NET_USER);
	assert_int_equal(vm->backend, VMM_BACKEND_NOOP);
	assert_int_equal(vm->state, VMM_STATE_STOPPED);
	assert_int_equal(vm->pid, 0);
	assert_null(vm->overlay_path);
	vmmi_store_release(&st);
}

/* The reference's format: a plain map name -> handle, no version. */
static void test_reference_format(void **state)
{
	static const char text[] =
		"{\"myvm\": {\"id\": \"abc123\", \"name\": \"myvm\", \"backend\": \"qemu\","
		" \"work_dir\": \"/w/myvm\", \"overlay_path\": \"/w/myvm/overlay.qcow2\","
		" \"seed_iso_path\": null, \"pid\": 12345, \"qmp_socket\": \"/w/q.sock\","
		" \"console_socket\": \"/w/c.sock\", \"vnc_addr\": \"127.0.0.1:5900\","
		" \"vcpus\": 2, \"memory_mb\": 2048, \"disk_gb\": 20,"
		" \"network\": {\"type\": \"Tap\", \"bridge\": \"br1\"},"
		" \"ssh_host_port\": 10042, \"mac_addr\": \"52:54:00:ab:cd:ef\"}}";
	struct vmmi_store st;
	struct vmm_error err;
	struct vmm_vm *vm;

	(void)state;
	assert_int_equal(parse(text, &st, &err), 0);
	vm = vmmi_store_find(&st, "myvm");
	assert_non_null(vm);
	assert_string_equal(vm->id, "abc123");
	assert_int_equal(vm->backend, VMM_BACKEND_QEMU);
	assert_int_equal(vm->pid, 12345);
	assert_int_equal(vm->vcpus, 2);
	assert_int_equal(vm->memory_mb, 2048);
	assert_int_equal(vm->disk_gb, 20);
	assert_int_equal(vm->network.type, VMM_NET_TAP);
	assert_string_equal(vm->network.bridge, "br1");
	assert_int_equal(vm->ssh_host_port, 10042);
	assert_string_equal(vm->mac_addr, "52:54:00:ab:cd:ef");
	assert_string_equal(vm->vnc_addr, "127.0.0.1:5900");
	vmmi_store_release(&st);
}

static void test_roundtrip_keeps_unknown_fields(void **state)
{
	static const char text[] =
		"{\"version\":1, \"future_top\": [1,2],"
		" \"vms\":{\"b\":{\"vcpus\":3, \"future_field\":{\"x\":true}, \"state\":\"running\"},"
		" \"a\":{\"memory_mb\": 512}}}";
	struct vmmi_store st, st2;
	struct vmm_error err;
	char path[128], *data;
	size_t len;

	(void)state;
	snprintf(path, sizeof(path), "%s/vms.json", tmpdir);
	assert_int_equal(parse(text, &st, &err), 0);
	assert_int_equal(st.n, 2);
	assert_string_equal(st.vms[0]->name, "a"); /* sorted */
	assert_int_equal(vmmi_store_save(path, &st, &err), 0);
	vmmi_store_release(&st);
	assert_int_equal(vmmi_read_file(path, &data, &len, &err), 0);
	assert_non_null(strstr(data, "\"future_field\""));
	assert_non_null(strstr(data, "\"future_top\""));
	assert_non_null(strstr(data, "\"version\": 1"));
	free(data);
	assert_int_equal(vmmi_store_load(path, &st2, &err), 0);
	assert_int_equal(st2.n, 2);
	assert_int_equal(vmmi_store_find(&st2, "b")->vcpus, 3);
	assert_int_equal(vmmi_store_find(&st2, "b")->state, VMM_STATE_RUNNING);
	assert_int_equal(vmmi_store_find(&st2, "a")->memory_mb, 512);
	/* the file is private */
	{
		struct stat sb;

		assert_int_equal(stat(path, &sb), 0);
		assert_int_equal(sb.st_mode & 0777, 0600);
	}
	/* no temp file is left behind */
	{
		char tmp[160];

		snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
		assert_int_equal(access(tmp, F_OK), -1);
	}
	vmmi_store_release(&st2);
}

static void expect_corrupt(const char *text, const char *needle)
{
	struct vmmi_store st;
	struct vmm_error err;

	assert_true(parse(text, &st, &err) < 0);
	assert_int_equal(err.code, VMM_E_STORE_CORRUPT);
	if (!strstr(err.message, needle))
		fail_msg("message '%s' lacks '%s'", err.message, needle);
	assert_true(strlen(err.hint) > 0);
}

static void test_corrupt_inputs(void **state)
{
	(void)state;
	expect_corrupt("{\"version\":1, \"vms\": {\"a\": {}", "vms.json:1:");
	expect_corrupt("{\n\"version\":1,\n\"vms\": {\"a\": {\"vcpus\": }}}", "vms.json:3:");
	expect_corrupt("", "is empty");
	expect_corrupt("  \n", "is empty");
	expect_corrupt("[1,2]", "top level must be a JSON object");
	expect_corrupt("{\"version\":\"one\"}", "\"version\" must be a positive integer");
	expect_corrupt("{\"version\":1, \"vms\": []}", "\"vms\" must be an object");
	expect_corrupt("{\"version\":1, \"vms\": {\"a\": 5}}", "VM 'a'");
	expect_corrupt("{\"version\":1, \"vms\": {\"a\": {\"vcpus\": \"two\"}}}",
		       "field \"vcpus\" must be an integer from 1 to 65535, found a string");
	expect_corrupt("{\"version\":1, \"vms\": {\"a\": {\"vcpus\": 0}}}", "\"vcpus\"");
	expect_corrupt("{\"version\":1, \"vms\": {\"a\": {\"ssh_host_port\": 70000}}}",
		       "\"ssh_host_port\"");
	expect_corrupt("{\"version\":1, \"vms\": {\"a\": {\"backend\": \"xen\"}}}", "\"backend\"");
	expect_corrupt("{\"version\":1, \"vms\": {\"a\": {\"state\": \"dancing\"}}}", "\"state\"");
	expect_corrupt("{\"version\":1, \"vms\": {\"a\": {\"name\": \"b\"}}}",
		       "different \"name\"");
	expect_corrupt("{\"version\":1, \"vms\": {\"a\": {\"network\": {\"type\": \"Wifi\"}}}}",
		       "unknown network type \"Wifi\"");
	expect_corrupt("{\"version\":1, \"vms\": {\"a\": {\"work_dir\": 7}}}",
		       "field \"work_dir\" must be a string, found an integer");
	expect_corrupt("{\"version\":1, \"vms\": {\"a\": {}, \"a\": {}}}", "duplicate");
	expect_corrupt("{\"version\":1, \"vms\": {\"a\": {\"name\": \"a\xff\"}}}", "invalid");
	/* Documents the fast reader refuses; jansson's verdict still counts. */
	expect_corrupt("{\"version\":1, \"vms\": {\"a\": {\"vcpus\": 1, \"vcpus\": 2}}}",
		       "duplicate");
	expect_corrupt("{\"version\":1, \"version\":1, \"vms\": {}}", "duplicate");
	expect_corrupt("{\"version\":1, \"vms\": {\"a\": {\"x\": [{\"k\": 1, \"k\": 2}]}}}",
		       "duplicate");
	expect_corrupt("{\"version\":1, \"vms\": {\"a\": {\"vcpus\": 1.0}}}", "found a number");
	expect_corrupt("{\"version\":1, \"vms\": {\"a\": {\"pid\": 99999999999999999999}}}",
		       "too big");
	expect_corrupt("{\"version\":1, \"vms\": {\"a\": {\"id\": \"a\tb\"}}}", "control");
	expect_corrupt("{\"version\":1, \"vms\": {\"a\": {\"id\": \"\\u0000\"}}}", "NUL");
	expect_corrupt("{\"version\":1, \"vms\": {}} {}", "end of file expected");
	expect_corrupt("{\"version\":1, \"vms\": {\"a\": {\"network\": {\"type\": \"Vnic\"}}}}",
		       "\"network.name\"");
	expect_corrupt("{\"version\":1, \"vms\": {\"a\": {\"network\": {\"bridge\": \"b\"}}}}",
		       "\"network.type\"");
	expect_corrupt("{\"version\":1, \"vms\": {\"a\": {\"network\": 5}}}", "\"network\"");
	expect_corrupt("{\"version\":1, \"vms\": {\"a\": {\"name\": null}}}", "different");
}

/* Save what text parses to, as the document vmmi_store_save writes. */
static json_t *parsed_and_saved(const char *text, const char *name)
{
	struct vmmi_store st;
	struct vmm_error err;
	json_error_t jerr;
	char path[128];
	json_t *doc;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	if (parse(text, &st, &err) < 0)
		fail_msg("%s", err.message);
	assert_int_equal(vmmi_store_save(path, &st, &err), 0);
	vmmi_store_release(&st);
	doc = json_load_file(path, 0, &jerr);
	assert_non_null(doc);
	return doc;
}

/* The fast reader (yajl) and jansson's give the same store: the second
 * document has an escape, which leaves it to jansson. */
static void test_fast_and_jansson_readers_agree(void **state)
{
	static const char *const handles =
		"\"vms\": {"
		"\"b\": {\"name\": \"b\", \"backend\": \"noop\", \"state\": \"running\","
		" \"pid\": 42, \"pid_starttime\": 123456789012, \"vcpus\": 4,"
		" \"memory_mb\": 2048, \"disk_gb\": 20, \"ssh_host_port\": 2222,"
		" \"id\": \"i\", \"work_dir\": \"/w\", \"image_path\": \"/i\","
		" \"image_url\": \"http://x/i\", \"overlay_path\": \"/o\", \"seed_iso_path\": \"/s\","
		" \"qmp_socket\": \"/q\", \"console_socket\": \"/c\", \"vnc_addr\": \"127.0.0.1:5900\","
		" \"mac_addr\": \"52:54:00:00:00:01\", \"ssh_user\": \"u\", \"ssh_key_path\": \"/k\","
		" \"created_at\": \"2026-01-01T00:00:00Z\","
		" \"network\": {\"type\": \"tap\", \"bridge\": \"br7\"},"
		" \"future\": {\"a\": [1, true, false, null, \"s\", {\"n\": []}], \"b\": {}},"
		" \"note\": \"n\", \"flag\": false, \"nothing\": null},"
		"\"a\": {\"network\": {\"type\": \"Vnic\", \"name\": \"v0\"}, \"state\": null,"
		" \"vcpus\": null},"
		"\"c\": {\"network\": \"none\"},"
		"\"d\": {\"network\": \"Tap\", \"tags\": [\"x\", [\"y\"]]},"
		"\"e\": {}}";
	char fast[2048], slow[2048];
	json_t *a, *b;

	(void)state;
	snprintf(fast, sizeof(fast), "{\"version\": 1, \"top\": [1, {\"k\": null}], %s}", handles);
	snprintf(slow, sizeof(slow),
		 "{\"version\": 1, \"top\": [1, {\"k\": null}], \"esc\": \"\\/\", %s}", handles);
	a = parsed_and_saved(fast, "fast.json");
	b = parsed_and_saved(slow, "slow.json");
	assert_int_equal(json_object_del(b, "esc"), 0);
	if (!json_equal(a, b)) {
		char *ta = json_dumps(a, JSON_SORT_KEYS), *tb = json_dumps(b, JSON_SORT_KEYS);

		fail_msg("fast reader: %s\njansson:     %s", ta, tb);
	}
	assert_int_equal(json_array_size(json_object_get(a, "top")), 2);
	assert_int_equal(json_object_size(json_object_get(a, "vms")), 5);
	json_decref(a);
	json_decref(b);
}

static void test_newer_version_refused(void **state)
{
	struct vmmi_store st;
	struct vmm_error err;

	(void)state;
	assert_true(parse("{\"version\": 99, \"vms\": {}}", &st, &err) < 0);
	assert_int_equal(err.code, VMM_E_STORE_VERSION);
	assert_non_null(strstr(err.message, "version 99"));
}

static void test_put_find_remove(void **state)
{
	struct vmmi_store st;
	struct vmm_error err;
	struct vmm_vm *vm = vmm_vm_new();

	(void)state;
	assert_int_equal(parse("{\"version\":1,\"vms\":{}}", &st, &err), 0);
	vm->name = strdup("zeta");
	assert_int_equal(vmmi_store_put(&st, vm, &err), 0);
	free(vm->name);
	vm->name = strdup("alpha");
	vm->vcpus = 4;
	assert_int_equal(vmmi_store_put(&st, vm, &err), 0);
	assert_int_equal(st.n, 2);
	assert_string_equal(st.vms[0]->name, "alpha");
	vm->vcpus = 8;
	assert_int_equal(vmmi_store_put(&st, vm, &err), 0); /* replace */
	assert_int_equal(st.n, 2);
	assert_int_equal(vmmi_store_find(&st, "alpha")->vcpus, 8);
	assert_int_equal(vmmi_store_remove(&st, "alpha"), 1);
	assert_int_equal(vmmi_store_remove(&st, "alpha"), 0);
	assert_null(vmmi_store_find(&st, "alpha"));
	assert_int_equal(st.n, 1);
	vmm_vm_free(vm);
	vmmi_store_release(&st);
}

static void test_name_validation(void **state)
{
	static const char *const good[] = {"a", "web-1", "db_2", "x.y", "A9", "0start",
					   "a-", NULL};
	static const char *const bad[] = {"", ".hidden", "-x", "a/b", "a b", "..", "a\nb",
					  "é", "a:b", "a*", NULL};
	char longname[80];
	struct vmm_error err;

	(void)state;
	for (int i = 0; good[i]; i++)
		assert_int_equal(vmm_vm_name_validate(good[i], &err), 0);
	for (int i = 0; bad[i]; i++) {
		assert_true(vmm_vm_name_validate(bad[i], &err) < 0);
		assert_int_equal(err.code, VMM_E_VM_INVALID_NAME);
		assert_true(strlen(err.hint) > 0);
	}
	memset(longname, 'a', 63);
	longname[63] = '\0';
	assert_int_equal(vmm_vm_name_validate(longname, &err), 0);
	longname[63] = 'a';
	longname[64] = '\0';
	assert_true(vmm_vm_name_validate(longname, &err) < 0);
	assert_non_null(strstr(err.message, "64 characters"));
	assert_true(vmm_vm_name_validate(NULL, &err) < 0);
}

/* The whole lifecycle table, cell by cell. */
static void test_lifecycle_table(void **state)
{
	/* expected[op][state]: resulting state, or -1 if refused */
	static const int expected[5][7] = {
		/*            PREPARING PREPARED RUNNING SUSPENDED STOPPED FAILED DESTROYED */
		[VMM_OP_START] = {-1, VMM_STATE_RUNNING, -1, -1, VMM_STATE_RUNNING,
				  VMM_STATE_RUNNING, -1},
		[VMM_OP_STOP] = {-1, -1, VMM_STATE_STOPPED, VMM_STATE_STOPPED, -1,
				 VMM_STATE_STOPPED, -1},
		[VMM_OP_SUSPEND] = {-1, -1, VMM_STATE_SUSPENDED, -1, -1, -1, -1},
		[VMM_OP_RESUME] = {-1, -1, -1, VMM_STATE_RUNNING, -1, -1, -1},
		[VMM_OP_DESTROY] = {VMM_STATE_DESTROYED, VMM_STATE_DESTROYED,
				    VMM_STATE_DESTROYED, VMM_STATE_DESTROYED,
				    VMM_STATE_DESTROYED, VMM_STATE_DESTROYED,
				    VMM_STATE_DESTROYED},
	};
	struct vmm_error err;

	(void)state;
	for (int op = 0; op < 5; op++) {
		for (int s = 0; s < 7; s++) {
			enum vmm_vm_state to = VMM_STATE_DESTROYED;
			int rc = vmm_lifecycle_check("v", (enum vmm_vm_state)s, (enum vmm_vm_op)op,
						     &to, &err);

			if (expected[op][s] < 0) {
				char want[64];

				assert_true(rc < 0);
				assert_int_equal(err.code, VMM_E_INVALID_STATE);
				snprintf(want, sizeof(want), "it is %s",
					 vmm_vm_state_name((enum vmm_vm_state)s));
				assert_non_null(strstr(err.message, want));
			} else {
				assert_int_equal(rc, 0);
				assert_int_equal(to, expected[op][s]);
			}
		}
	}
}

static void test_names_roundtrip(void **state)
{
	enum vmm_vm_state s;
	enum vmm_backend_tag b;
	enum vmm_net_type n;

	(void)state;
	for (int i = 0; i <= VMM_STATE_DESTROYED; i++) {
		assert_int_equal(vmm_vm_state_parse(vmm_vm_state_name((enum vmm_vm_state)i), &s), 0);
		assert_int_equal(s, i);
	}
	assert_int_equal(vmm_vm_state_parse("Running", &s), -1);
	for (int i = 0; i <= VMM_BACKEND_PROPOLIS; i++) {
		assert_int_equal(vmm_backend_parse(vmm_backend_name((enum vmm_backend_tag)i), &b), 0);
		assert_int_equal(b, i);
	}
	for (int i = 0; i <= VMM_NET_NONE; i++) {
		assert_int_equal(vmm_net_type_parse(vmm_net_type_name((enum vmm_net_type)i), &n), 0);
		assert_int_equal(n, i);
	}
	assert_int_equal(vmm_backend_parse("xen", &b), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_missing_file_is_empty),
		cmocka_unit_test(test_defaults_for_missing_fields),
		cmocka_unit_test(test_reference_format),
		cmocka_unit_test(test_roundtrip_keeps_unknown_fields),
		cmocka_unit_test(test_corrupt_inputs),
		cmocka_unit_test(test_fast_and_jansson_readers_agree),
		cmocka_unit_test(test_newer_version_refused),
		cmocka_unit_test(test_put_find_remove),
		cmocka_unit_test(test_name_validation),
		cmocka_unit_test(test_lifecycle_table),
		cmocka_unit_test(test_names_roundtrip),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
