/* SPDX-License-Identifier: MIT */
/* Unit tests: vms.json parsing, validation, round trips (every field of the
 * field table); the --json form; names; lifecycle. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

#include "store/fields.h"
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
		" \"work_dir\": \"vms/myvm\", \"overlay_path\": \"vms/myvm/overlay.qcow2\","
		" \"seed_iso_path\": null, \"pid\": 12345, \"qmp_socket\": \"vms/myvm/q.sock\","
		" \"console_socket\": \"vms/myvm/c.sock\", \"vnc_addr\": \"127.0.0.1:5900\","
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
		DIR *d = opendir(tmpdir);
		struct dirent *de;

		assert_non_null(d);
		while ((de = readdir(d)))
			if (strstr(de->d_name, ".tmp."))
				fail_msg("left behind: %s", de->d_name);
		closedir(d);
	}
	vmmi_store_release(&st2);
}

/* text is refused as corrupt with a message holding each needle (NULL
 * ends them) and a hint. */
static void expect_corrupt(const char *text, const char *needle, const char *needle2)
{
	struct vmmi_store st;
	struct vmm_error err;

	memset(&st, 0xa5, sizeof(st)); /* the parser resets it */
	if (parse(text, &st, &err) == 0)
		fail_msg("accepted: %s", text);
	assert_int_equal(err.code, VMM_E_STORE_CORRUPT);
	if (!strstr(err.message, needle) || (needle2 && !strstr(err.message, needle2)))
		fail_msg("message '%s' lacks '%s' or '%s' (input %s)", err.message, needle,
			 needle2 ? needle2 : "", text);
	assert_true(strlen(err.hint) > 0);
	assert_null(st.root); /* released */
	assert_null(st.vms);
	assert_int_equal(st.n, 0);
}

#define V1(handles) "{\"version\":1, \"vms\": {" handles "}}"

static void test_corrupt_inputs(void **state)
{
	(void)state;
	/* JSON syntax: FILE:LINE:COL of the token, what */
	expect_corrupt("{\"version\":1, \"vms\": {\"a\": {}", "vms.json:1:29: invalid JSON: ",
		       "premature end of file");
	expect_corrupt("{\n\"version\":1,\n\"vms\": {\"a\": {\"vcpus\": }}}", "vms.json:3:24: ",
		       "unallowed token");
	expect_corrupt("{\"version\":1, \"vms\": {}} {}", "vms.json:1:26:",
		       "end of file expected");
	expect_corrupt("{\"version\":1, \"vms\": {}} \"", "vms.json:1:26:",
		       "end of file expected"); /* found by fuzzing */
	expect_corrupt("{\"a\": {}}\n\"x", "vms.json:2:1:", "end of file expected");
	expect_corrupt("{\"version\":1,\n \"vms\": {\"a\": {\"id\": \"a\tb\"}}}", "vms.json:2:24:",
		       "control character 0x09");
	expect_corrupt(V1("\"a\": {\"id\": \"\\u0000\"}"), "vms.json:1:42:", "NUL");
	/* white space that yajl takes and JSON does not (found by fuzzing) */
	expect_corrupt("{\"version\": 1,\n\v\"vms\": {}}", "vms.json:2:1:", "control character 0x0b");
	expect_corrupt("{\"version\": 1, \"vms\": {}}\f", "vms.json:1:26:", "control character 0x0c");
	expect_corrupt(V1("\"a\": {\"id\": \"x\\ud800y\"}"), "vms.json:1:44:",
		       "\\uD800: half a surrogate pair");
	expect_corrupt(V1("\"a\": {\"id\": \"\\udc00\\ud800\"}"), "\\uDC00", NULL);
	expect_corrupt(V1("\"a\": {\"id\": \"\\ude00\"}"), "\\uDE00", NULL); /* found by fuzzing */
	expect_corrupt(V1("\"a\": {\"\\ude00\": 1}"), "\\uDE00", NULL);
	expect_corrupt(V1("\"a\": {\"name\": \"a\xff\"}"), "vms.json:1:", "invalid UTF-8");
	/* UTF-8 that yajl lets through and jansson does not: overlong, a
	 * surrogate, past U+10FFFF; in a value and in a key */
	expect_corrupt(V1("\"a\": {\"id\": \"\xc0\x80\"}"), "invalid UTF-8", NULL);
	expect_corrupt(V1("\"a\": {\"id\": \"\xed\xa0\x80\"}"), "invalid UTF-8", NULL);
	expect_corrupt(V1("\"a\": {\"id\": \"\xf4\x90\x80\x80\"}"), "invalid UTF-8", NULL);
	expect_corrupt(V1("\"a\": {\"\xe0\x80\xaf\": 1}"), "invalid UTF-8", NULL);
	expect_corrupt(V1("\"a\": {\"pid\": 99999999999999999999}"), "vms.json:1:55:",
		       "too big integer");
	expect_corrupt(V1("\"a\": {\"x\": [-99999999999999999999]}"), "too big negative", NULL);
	expect_corrupt(V1("\"a\": {\"x\": 1e999}"), "vms.json:1:", "real number overflow");
	expect_corrupt("{\"version\":1, \"vms\": {}, /* c */}", "vms.json:1:", "invalid JSON");
	/* duplicate keys, everywhere: at the key */
	expect_corrupt(V1("\"a\": {}, \"a\": {}"), "vms.json:1:34: invalid JSON: duplicate key \"a\"",
		       NULL);
	expect_corrupt(V1("\"b\": {}, \"a\": {}, \"b\": {}"), "duplicate key \"b\"", NULL);
	expect_corrupt(V1("\"a\": {\"vcpus\": 1, \"vcpus\": 2}"), "vms.json:1:47:",
		       "duplicate key \"vcpus\"");
	expect_corrupt(V1("\"a\": {\"x\": 1, \"x\": 2}"), "duplicate key \"x\"", NULL);
	expect_corrupt(V1("\"a\": {\"x\": [{\"k\": 1, \"k\": 2}]}"), "duplicate key \"k\"", NULL);
	expect_corrupt(V1("\"a\": {\"network\": {\"type\": \"Tap\", \"type\": \"Tap\"}}"),
		       "duplicate key \"type\"", NULL);
	expect_corrupt(V1("\"a\": {\"network\": {\"mtu\": 1, \"mtu\": 2}}"), "duplicate key \"mtu\"",
		       NULL);
	expect_corrupt("{\"version\":1, \"version\":1, \"vms\": {}}", "duplicate key \"version\"",
		       NULL);
	expect_corrupt("{\"version\":1, \"vms\": {}, \"vms\": {}}", "duplicate key \"vms\"", NULL);
	expect_corrupt("{\"version\":1, \"t\": 1, \"t\": 2}", "duplicate key \"t\"", NULL);
	/* not a registry */
	expect_corrupt("", "is empty", NULL);
	expect_corrupt("  \n", "is empty", NULL);
	expect_corrupt("[1,2]", "vms.json:1:1: the top level must be a JSON object, found an array",
		       NULL);
	expect_corrupt("{\"version\":\"one\"}", "vms.json:1:16: ",
		       "\"version\" must be a positive integer, found a string");
	expect_corrupt("{\"version\":0}", "\"version\" must be a positive integer", NULL);
	expect_corrupt("{\"x\": 1, \"version\": 1.5}", "vms.json:1:23: ",
		       "\"version\" must be a positive integer, found a number");
	expect_corrupt("{\"version\":1, \"vms\": []}", "vms.json:1:22: ",
		       "\"vms\" must be an object mapping names to VMs, found an array");
	expect_corrupt("{\"version\":1, \"vms\": null}", "\"vms\" must be an object", NULL);
	/* a wrong value in a handle: the VM, the field, what it must be, where */
	expect_corrupt(V1("\"a\": 5"), "vms.json: VM 'a': the entry must be an object",
		       "found an integer (line 1, column 28)");
	expect_corrupt("{\"a\": [1]}", "VM 'a': the entry must be an object", "found an array");
	expect_corrupt(V1("\"a\": {\"vcpus\": \"two\"}"),
		       "vms.json: VM 'a': field \"vcpus\" must be an integer from 1 to 65535, found "
		       "a string (line 1, column 42)",
		       NULL);
	expect_corrupt(V1("\"a\": {\"vcpus\": 0}"), "field \"vcpus\" must be an integer from 1 to",
		       "found 0");
	expect_corrupt(V1("\"a\": {\"vcpus\": 1.0}"), "field \"vcpus\"", "found a number");
	expect_corrupt(V1("\"a\": {\"memory_mb\": true}"), "field \"memory_mb\"", "found true");
	expect_corrupt(V1("\"a\": {\"pid\": -1}"), "field \"pid\" must be an integer from 0 to "
		       "2147483647, found -1", NULL);
	expect_corrupt(V1("\"a\": {\"disk_gb\": 4294967296}"), "field \"disk_gb\"",
		       "found 4294967296");
	expect_corrupt(V1("\"a\": {\"ssh_host_port\": 70000}"), "field \"ssh_host_port\"",
		       "found 70000");
	expect_corrupt(V1("\"a\": {\"pid_starttime\": {}}"), "field \"pid_starttime\"",
		       "found an object");
	expect_corrupt(V1("\"a\": {\"backend\": \"xen\"}"),
		       "field \"backend\" must be \"qemu\", \"libvirt\", \"propolis\" or \"noop\", found \"xen\"",
		       NULL);
	expect_corrupt(V1("\"a\": {\"state\": \"dancing\"}"),
		       "field \"state\" must be a state name such as \"running\", found \"dancing\"",
		       NULL);
	expect_corrupt(V1("\"a\": {\"state\": \"Running\"}"), "field \"state\"", NULL);
	expect_corrupt(V1("\"a\": {\"state\": 3}"), "field \"state\"", "found an integer");
	expect_corrupt(V1("\"a\": {\"name\": \"b\"}"), "VM 'a': the entry has a different \"name\"",
		       NULL);
	expect_corrupt(V1("\"a\": {\"name\": \"ab\"}"), "different \"name\"", NULL);
	expect_corrupt(V1("\"a\": {\"name\": null}"), "different \"name\"", NULL);
	expect_corrupt(V1("\"a\": {\"work_dir\": 7}"),
		       "field \"work_dir\" must be a string, found an integer", NULL);
	expect_corrupt(V1("\"a\": {\"created_at\": [\"x\"]}"), "field \"created_at\"",
		       "found an array");
	expect_corrupt(V1("\"a\": {\"network\": {\"type\": \"Wifi\"}}"),
		       "VM 'a': unknown network type \"Wifi\" (expected User, Tap, Vnic or None)",
		       NULL);
	expect_corrupt(V1("\"a\": {\"network\": \"wifi\"}"), "unknown network type \"wifi\"", NULL);
	expect_corrupt(V1("\"a\": {\"network\": {\"type\": \"Vnic\"}}"),
		       "field \"network.name\" is missing", NULL);
	expect_corrupt(V1("\"a\": {\"network\": \"vnic\"}"), "field \"network.name\" is missing",
		       NULL);
	expect_corrupt(V1("\"a\": {\"network\": {\"type\": \"Vnic\", \"name\": 3}}"),
		       "field \"network.name\" must be a string, found an integer", NULL);
	expect_corrupt(V1("\"a\": {\"network\": {\"type\": \"tap\", \"bridge\": [\"br0\"]}}"),
		       "field \"network.bridge\" must be a string, found an array", NULL);
	expect_corrupt(V1("\"a\": {\"network\": {\"type\": \"tap\", \"bridge\": null}}"),
		       "field \"network.bridge\" must be a string, found null", NULL);
	expect_corrupt(V1("\"a\": {\"network\": {\"bridge\": \"b\"}}"),
		       "field \"network.type\" is missing", NULL);
	expect_corrupt(V1("\"a\": {\"network\": {\"type\": null}}"),
		       "field \"network.type\" must be a string, found null", NULL);
	expect_corrupt(V1("\"a\": {\"network\": 5}"), "field \"network\" must be an object", NULL);
	expect_corrupt(V1("\"a\": {\"forwards\": {}}"), "field \"forwards\" must be an array",
		       "found an object");
	expect_corrupt(V1("\"a\": {\"forwards\": [5]}"), "field \"forwards[0]\" must be an object",
		       NULL);
	expect_corrupt(V1("\"a\": {\"forwards\": [{\"protocol\": \"sctp\", \"address\": "
			  "\"127.0.0.1\", \"host_port\": 1, \"guest_port\": 1}]}"),
		       "\"forwards[0].protocol\" must be \"tcp\" or \"udp\"", NULL);
	expect_corrupt(V1("\"a\": {\"forwards\": [{\"protocol\": \"tcp\", \"address\": "
			  "\"::1\", \"host_port\": 1, \"guest_port\": 1}]}"),
		       "\"forwards[0].address\" must be a dotted IPv4 address", NULL);
	expect_corrupt(V1("\"a\": {\"forwards\": [{\"protocol\": \"tcp\", \"address\": "
			  "\"127.0.0.1\", \"host_port\": 70000, \"guest_port\": 1}]}"),
		       "\"forwards[0].host_port\" must be an integer from 0 to 65535", NULL);
	expect_corrupt(V1("\"a\": {\"forwards\": [{\"protocol\": \"tcp\", \"address\": "
			  "\"127.0.0.1\", \"host_port\": 1, \"guest_port\": 0}]}"),
		       "\"forwards[0].guest_port\" must be an integer from 1 to 65535", NULL);
	expect_corrupt(V1("\"a\": {\"forwards\": [{\"protocol\": \"tcp\", \"address\": "
			  "\"127.0.0.1\", \"host_port\": 1, \"guest_port\": 1, \"auto\": 1}]}"),
		       "\"forwards[0].auto\" must be true or false", NULL);
	/* in the reference's format too */
	expect_corrupt("{\"a\": {\"vcpus\": -2}}", "vms.json: VM 'a': field \"vcpus\"", "found -2");
	expect_corrupt("{\"a\": {}, \"a\": {}}", "duplicate key \"a\"", NULL);
}

/* A document using every field of the table, every network type, unknown
 * values of every JSON type (at the top level and in a handle, before and
 * after "version"), escapes and non-ASCII text. */
static const char every_field[] =
	"{\"aaa_top\": [1, -2.5e3, \"s\", {\"n\": null}], \"version\": 1,"
	" \"vms\": {"
	"\"full\": {\"id\": \"id\\\"1\", \"name\": \"full\", \"backend\": \"qemu\","
	" \"state\": \"suspended\", \"work_dir\": \"vms/\\u0066ull\", \"image_path\": \"/i/\xc3\xa9\","
	" \"image_url\": \"http://x/i\\/j\", \"overlay_path\": \"vms/full/o\\u00e9\","
	" \"seed_iso_path\": \"vms/full/s\", \"pid\": 2147483647,"
	" \"pid_starttime\": 9223372036854775807, \"qmp_socket\": \"vms/full/q\","
	" \"console_socket\": \"vms/full/.c\", \"vnc_addr\": \"127.0.0.1:5901\", \"vcpus\": 65535,"
	" \"memory_mb\": 9223372036854775807, \"disk_gb\": 4294967295,"
	" \"network\": {\"type\": \"tap\", \"bridge\": \"br7\", \"mtu\": {\"x\": [1]}},"
	" \"ssh_host_port\": 65535, \"forwards\": [{\"protocol\": \"tcp\", \"address\": \"127.0.0.1\","
	" \"host_port\": 8080, \"guest_port\": 80, \"auto\": false, \"later\": [1]}, {\"protocol\": \"udp\","
	" \"address\": \"0.0.0.0\", \"host_port\": 10500, \"guest_port\": 53, \"auto\": true}],"
	" \"mac_addr\": \"52:54:00:00:00:01\", \"ssh_user\": \"\\ud83d\\ude00\","
	" \"ssh_key_path\": \"/k\", \"created_at\": \"2026-01-01T00:00:00Z\","
	" \"shares\": [{\"host\": \"/h/src\", \"guest\": \"/g\", \"readonly\": true,"
	" \"type\": \"9p\"}, {\"host\": \"/a\", \"guest\": \"/b\"}],"
	" \"host\": \"lab\", \"uri\": \"qemu+ssh://h/system\", \"pool\": \"p\","
	" \"future\": {\"a\": [1, true, false, null, \"s\", {\"n\": []}, 0.5], \"b\": {}},"
	" \"note\": \"n\\t\", \"flag\": false, \"nothing\": null},"
	"\"vnic\": {\"network\": {\"type\": \"VNIC\", \"name\": \"v0\"}, \"state\": null, \"vcpus\": null},"
	"\"none\": {\"network\": \"None\"},"
	"\"user\": {\"network\": {\"type\": \"User\", \"bridge\": 5}, \"tags\": [\"x\", [\"y\"]]},"
	"\"dflt\": {}},"
	" \"zzz_top\": {\"k\": true}}";

/* Each field of a and b, by the table, and their unknown fields. */
static void assert_vm_equal(const struct vmm_vm *a, const struct vmm_vm *b)
{
	for (int i = 0; i < VMMI_F__COUNT; i++) {
		const struct vmmi_vm_field *f = &vmmi_vm_fields[i];
		const char *sa, *sb;

		switch (f->kind) {
		case VMMI_FK_NAME:
		case VMMI_FK_STR:
			sa = vmmi_vm_str_get(a, f);
			sb = vmmi_vm_str_get(b, f);
			if ((sa == NULL) != (sb == NULL) || (sa && strcmp(sa, sb) != 0))
				fail_msg("VM '%s': field %s differs", a->name, f->key);
			break;
		case VMMI_FK_INT:
			if (vmmi_vm_int_get(a, (enum vmmi_vm_field_id)i) !=
			    vmmi_vm_int_get(b, (enum vmmi_vm_field_id)i))
				fail_msg("VM '%s': field %s differs", a->name, f->key);
			break;
		case VMMI_FK_BACKEND:
			assert_int_equal(a->backend, b->backend);
			break;
		case VMMI_FK_STATE:
			assert_int_equal(a->state, b->state);
			break;
		case VMMI_FK_NET:
			assert_int_equal(a->network.type, b->network.type);
			for (int k = 0; k < VMMI_NF__COUNT; k++) {
				sa = vmmi_net_str_get(&a->network, &vmmi_net_fields[k]);
				sb = vmmi_net_str_get(&b->network, &vmmi_net_fields[k]);
				if ((sa == NULL) != (sb == NULL) || (sa && strcmp(sa, sb) != 0))
					fail_msg("VM '%s': network.%s differs", a->name,
						 vmmi_net_fields[k].key);
			}
			break;
		case VMMI_FK_FWD:
			assert_int_equal(a->n_forwards, b->n_forwards);
			for (size_t k = 0; k < a->n_forwards; k++)
				assert_memory_equal(&a->forwards[k], &b->forwards[k],
						    sizeof(a->forwards[k]));
			break;
		case VMMI_FK_SHARES:
			assert_int_equal(a->shares.n, b->shares.n);
			for (size_t k = 0; k < a->shares.n; k++) {
				assert_string_equal(a->shares.v[k].host, b->shares.v[k].host);
				assert_string_equal(a->shares.v[k].guest, b->shares.v[k].guest);
				assert_int_equal(a->shares.v[k].readonly, b->shares.v[k].readonly);
				assert_int_equal(a->shares.v[k].type, b->shares.v[k].type);
			}
			break;
		}
	}
	assert_true((a->extra == NULL) == (b->extra == NULL));
	if (a->extra)
		assert_true(json_equal(a->extra, b->extra));
}

static void assert_store_equal(const struct vmmi_store *a, const struct vmmi_store *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		assert_string_equal(a->vms[i]->name, b->vms[i]->name);
		assert_vm_equal(a->vms[i], b->vms[i]);
	}
	json_object_del(a->root, "version");
	json_object_del(b->root, "version");
	assert_true(json_equal(a->root, b->root));
}

/* Read every_field, check what each field became, write it, read that
 * again: the same store; writing that gives the same bytes. */
/* "shares" is an array of {host, guest (absolute), readonly (boolean),
 * type ("virtiofs" or "9p")}: anything else is refused, naming the item. */
static void test_shares_checked(void **state)
{
	struct vmmi_store st;
	struct vmm_error err;

	(void)state;
	expect_corrupt(V1("\"a\": {\"shares\": 5}"), "field \"shares\" must be an array",
		       "found an integer");
	expect_corrupt(V1("\"a\": {\"shares\": {}}"), "field \"shares\" must be an array", NULL);
	expect_corrupt(V1("\"a\": {\"shares\": [1]}"), "field \"shares[0]\" must be an object",
		       NULL);
	expect_corrupt(V1("\"a\": {\"shares\": [{\"host\": \"/h\", \"guest\": \"/g\"}, "
			  "{\"host\": \"rel\", \"guest\": \"/g\"}]}"),
		       "field \"shares[1].host\" must be an absolute path", NULL);
	expect_corrupt(V1("\"a\": {\"shares\": [{\"host\": \"/h\"}]}"),
		       "field \"shares[0].guest\" must be an absolute path", "found nothing");
	expect_corrupt(V1("\"a\": {\"shares\": [{\"host\": \"/h\", \"guest\": \"/g\", "
			  "\"readonly\": 1}]}"),
		       "field \"shares[0].readonly\" must be true or false", NULL);
	expect_corrupt(V1("\"a\": {\"shares\": [{\"host\": \"/h\", \"guest\": \"/g\", "
			  "\"type\": \"nfs\"}]}"),
		       "field \"shares[0].type\" must be \"virtiofs\" or \"9p\"", NULL);
	/* null is absent; nested values inside an item are read past */
	assert_int_equal(parse(V1("\"a\": {\"shares\": null}, \"b\": {\"shares\": [{\"host\": "
				  "\"/h\", \"guest\": \"/g\", \"later\": {\"x\": [1]}}], "
				  "\"vcpus\": 3}"),
			       &st, &err),
			 0);
	assert_int_equal(st.vms[0]->shares.n, 0);
	assert_int_equal(st.vms[1]->shares.n, 1);
	assert_string_equal(st.vms[1]->shares.v[0].guest, "/g");
	assert_int_equal(st.vms[1]->shares.v[0].type, VMM_SHARE_VIRTIOFS);
	assert_int_equal(st.vms[1]->vcpus, 3);
	vmmi_store_release(&st);
}

static void test_every_field_roundtrips(void **state)
{
	struct vmmi_store st, st2;
	struct vmm_error err;
	struct vmm_vm *vm, *copy;
	char path[128], path2[128], cwd[4096], *text, *text2;
	size_t len, len2;
	json_t *v;

	(void)state;
	/* read and written in the temp dir by relative names, so that the VMs'
	 * directories are "vms/NAME" there too */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(tmpdir), 0);
	snprintf(path, sizeof(path), "every.json");
	snprintf(path2, sizeof(path2), "every2.json");
	if (parse(every_field, &st, &err) < 0)
		fail_msg("%s", err.message);
	assert_int_equal(st.n, 5);
	assert_string_equal(st.vms[0]->name, "dflt"); /* sorted */
	assert_string_equal(st.vms[4]->name, "vnic");
	vm = vmmi_store_find(&st, "full");
	assert_non_null(vm);
	assert_string_equal(vm->id, "id\"1");
	assert_int_equal(vm->backend, VMM_BACKEND_QEMU);
	assert_int_equal(vm->state, VMM_STATE_SUSPENDED);
	assert_string_equal(vm->work_dir, "vms/full");
	assert_string_equal(vm->image_path, "/i/\xc3\xa9");
	assert_string_equal(vm->image_url, "http://x/i/j");
	assert_string_equal(vm->overlay_path, "vms/full/o\xc3\xa9");
	assert_string_equal(vm->seed_iso_path, "vms/full/s");
	assert_int_equal(vm->pid, 2147483647);
	assert_true(vm->pid_starttime == 9223372036854775807ULL);
	assert_string_equal(vm->qmp_socket, "vms/full/q");
	assert_string_equal(vm->console_socket, "vms/full/.c");
	assert_string_equal(vm->vnc_addr, "127.0.0.1:5901");
	assert_int_equal(vm->vcpus, 65535);
	assert_true(vm->memory_mb == 9223372036854775807ULL);
	assert_int_equal(vm->disk_gb, 4294967295U);
	assert_int_equal(vm->network.type, VMM_NET_TAP);
	assert_string_equal(vm->network.bridge, "br7");
	assert_int_equal(vm->ssh_host_port, 65535);
	assert_int_equal(vm->n_forwards, 2);
	assert_string_equal(vm->forwards[0].address, "127.0.0.1");
	assert_int_equal(vm->forwards[0].host_port, 8080);
	assert_int_equal(vm->forwards[0].guest_port, 80);
	assert_false(vm->forwards[0].udp);
	assert_false(vm->forwards[0].auto_port);
	assert_string_equal(vm->forwards[1].address, "0.0.0.0");
	assert_true(vm->forwards[1].udp);
	assert_true(vm->forwards[1].auto_port);
	assert_string_equal(vm->mac_addr, "52:54:00:00:00:01");
	assert_string_equal(vm->ssh_user, "\xf0\x9f\x98\x80");
	assert_string_equal(vm->ssh_key_path, "/k");
	assert_string_equal(vm->created_at, "2026-01-01T00:00:00Z");
	assert_string_equal(vm->host, "lab");
	assert_string_equal(vm->uri, "qemu+ssh://h/system");
	assert_string_equal(vm->pool, "p");
	/* every field of the table was set from the document: a new field
	 * needs a value in every_field */
	{
		for (int i = 0; i < VMMI_F__COUNT; i++) {
			const struct vmmi_vm_field *f = &vmmi_vm_fields[i];
			bool set = true;

			if (f->kind == VMMI_FK_STR || f->kind == VMMI_FK_NAME)
				set = vmmi_vm_str_get(vm, f) != NULL;
			else if (f->kind == VMMI_FK_INT)
				set = vmmi_vm_int_get(vm, (enum vmmi_vm_field_id)i) != f->dflt;
			else if (f->kind == VMMI_FK_FWD)
				set = vm->n_forwards > 0;
			if (!set)
				fail_msg("every_field does not set \"%s\"", f->key);
		}
	}
	assert_int_equal(json_object_size(vm->extra), 4);
	v = json_object_get(vm->extra, "future");
	assert_int_equal(json_array_size(json_object_get(v, "a")), 7);
	assert_true(json_is_real(json_array_get(json_object_get(v, "a"), 6)));
	assert_string_equal(json_string_value(json_object_get(vm->extra, "note")), "n\t");
	assert_true(json_is_null(json_object_get(vm->extra, "nothing")));
	/* the other networks, and the defaults */
	vm = vmmi_store_find(&st, "vnic");
	assert_int_equal(vm->network.type, VMM_NET_VNIC);
	assert_string_equal(vm->network.vnic, "v0");
	assert_int_equal(vm->state, VMM_STATE_STOPPED);
	assert_int_equal(vm->vcpus, 1);
	assert_null(vm->extra);
	assert_int_equal(vmmi_store_find(&st, "none")->network.type, VMM_NET_NONE);
	vm = vmmi_store_find(&st, "user");
	assert_int_equal(vm->network.type, VMM_NET_USER);
	assert_null(vm->network.bridge); /* a User network has no bridge */
	assert_non_null(json_object_get(vm->extra, "tags"));
	vm = vmmi_store_find(&st, "dflt");
	assert_int_equal(vm->memory_mb, 1024);
	assert_int_equal(vm->backend, VMM_BACKEND_NOOP);
	assert_null(vm->id);
	/* the top level's unknown values */
	assert_int_equal(json_array_size(json_object_get(st.root, "aaa_top")), 4);
	assert_true(json_real_value(json_array_get(json_object_get(st.root, "aaa_top"), 1)) ==
		    -2500.0);
	assert_true(json_is_true(json_object_get(json_object_get(st.root, "zzz_top"), "k")));
	/* a copy is equal, field by field */
	copy = vmm_vm_dup(vmmi_store_find(&st, "full"));
	assert_non_null(copy);
	assert_vm_equal(vmmi_store_find(&st, "full"), copy);
	assert_ptr_not_equal(copy->id, vmmi_store_find(&st, "full")->id);
	vmm_vm_free(copy);

	assert_int_equal(vmmi_store_save(path, &st, &err), 0);
	assert_int_equal(vmmi_store_load(path, &st2, &err), 0);
	assert_store_equal(&st, &st2);
	assert_int_equal(vmmi_store_save(path2, &st2, &err), 0);
	assert_int_equal(vmmi_read_file(path, &text, &len, &err), 0);
	assert_int_equal(vmmi_read_file(path2, &text2, &len2, &err), 0);
	assert_int_equal(len, len2);
	assert_memory_equal(text, text2, len);
	/* what the writer leaves out: unset fields, unknown network keys */
	assert_null(strstr(text, "\"mtu\""));
	assert_non_null(strstr(text, "\"bridge\": \"br7\""));
	assert_non_null(strstr(text, "\"type\": \"Vnic\""));
	free(text);
	free(text2);
	vmmi_store_release(&st);
	vmmi_store_release(&st2);
	assert_int_equal(chdir(cwd), 0);
}

/* The documented --json form, key by key in order. */
static void test_vm_json_form(void **state)
{
	static const char want_full[] =
		"{\"name\": \"full\", \"id\": \"id\\\"1\", \"backend\": \"qemu\", \"state\": "
		"\"suspended\", \"vcpus\": 65535, \"memory_mb\": 9223372036854775807, \"disk_gb\": "
		"4294967295, \"network\": {\"type\": \"tap\", \"bridge\": \"br7\"}, \"pid\": "
		"2147483647, \"ssh_port\": 65535, \"ssh_user\": \"\\uD83D\\uDE00\", \"mac_addr\": "
		"\"52:54:00:00:00:01\", \"vnc_addr\": \"127.0.0.1:5901\", \"work_dir\": "
		"\"vms/full\", \"image_path\": \"/i/\\u00E9\", \"image_url\": \"http://x/i/j\", "
		"\"overlay_path\": \"vms/full/o\\u00E9\", \"seed_iso_path\": \"vms/full/s\", "
		"\"ssh_key_path\": \"/k\", "
		"\"created_at\": \"2026-01-01T00:00:00Z\", \"forwards\": [{\"protocol\": \"tcp\", "
		"\"address\": \"127.0.0.1\", \"host_port\": 8080, \"guest_port\": 80, \"auto\": false}, "
		"{\"protocol\": \"udp\", \"address\": \"0.0.0.0\", \"host_port\": 10500, "
		"\"guest_port\": 53, \"auto\": true}], \"shares\": [{\"host\": \"/h/src\", "
		"\"guest\": \"/g\", \"readonly\": true, \"type\": \"9p\"}, {\"host\": \"/a\", "
		"\"guest\": \"/b\", \"readonly\": false, \"type\": \"virtiofs\"}], "
		"\"host\": \"lab\", \"uri\": \"qemu+ssh://h/system\", \"pool\": \"p\"}";
	static const char want_dflt[] =
		"{\"name\": \"dflt\", \"id\": null, \"backend\": \"noop\", \"state\": \"stopped\", "
		"\"vcpus\": 1, \"memory_mb\": 1024, \"disk_gb\": null, \"network\": {\"type\": "
		"\"user\"}, \"pid\": null, \"ssh_port\": null, \"ssh_user\": null, \"mac_addr\": "
		"null, \"vnc_addr\": null, \"work_dir\": null, \"image_path\": null, \"image_url\": "
		"null, \"overlay_path\": null, \"seed_iso_path\": null, \"ssh_key_path\": null, "
		"\"created_at\": null, \"forwards\": [], \"shares\": [], "
		"\"host\": null, \"uri\": null, \"pool\": null}";
	struct vmmi_store st;
	struct vmm_error err;
	json_t *o;
	char *text;

	(void)state;
	assert_int_equal(parse(every_field, &st, &err), 0);
	o = vmm_vm_to_json(vmmi_store_find(&st, "full"));
	text = json_dumps(o, JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
	assert_string_equal(text, want_full);
	free(text);
	json_decref(o);
	o = vmm_vm_to_json(vmmi_store_find(&st, "dflt"));
	text = json_dumps(o, JSON_PRESERVE_ORDER);
	assert_string_equal(text, want_dflt);
	free(text);
	json_decref(o);
	o = vmm_vm_to_json(vmmi_store_find(&st, "vnic"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "network"), "name")),
			    "v0");
	json_decref(o);
	vmmi_store_release(&st);
}

/* Unknown values nest as deep as jansson allows (2048, the top-level
 * object counting 1), and no deeper. */
static void test_nesting_limit(void **state)
{
	static const char *const heads[] = {
		"{\"version\": 1, \"vms\": {\"a\": {\"x\": ", /* depth 3 holds it */
		"{\"version\": 1, \"x\": ",                    /* depth 1 */
		"{\"a\": {\"network\": {\"type\": \"user\", \"x\": ", /* depth 3 */
	};
	static const int holder[] = {3, 1, 3};

	(void)state;
	for (size_t h = 0; h < VMMI_ARRAY_SIZE(heads); h++) {
		for (int extra = 0; extra <= 1; extra++) {
			int n = 2048 - holder[h] + extra; /* arrays under the holder */
			size_t hl = strlen(heads[h]), len = hl + 2 * (size_t)n + 8;
			char *doc = malloc(len);
			struct vmmi_store st;
			struct vmm_error err;
			json_error_t jerr;
			json_t *j;
			int rc, closers = h == 1 ? 1 : 3;

			assert_non_null(doc);
			memcpy(doc, heads[h], hl);
			memset(doc + hl, '[', (size_t)n);
			memset(doc + hl + n, ']', (size_t)n);
			memset(doc + hl + 2 * n, '}', (size_t)closers);
			doc[hl + 2 * n + closers] = '\0';
			j = json_loadb(doc, strlen(doc), 0, &jerr);
			rc = parse(doc, &st, &err);
			assert_int_equal(j != NULL, !extra);
			if (extra) {
				assert_true(rc < 0);
				assert_non_null(strstr(err.message, "maximum nesting depth (2048)"));
			} else {
				if (rc < 0)
					fail_msg("%s", err.message);
				vmmi_store_release(&st);
			}
			json_decref(j);
			free(doc);
		}
	}
}

/* "version" need not come first: after an unknown key (as a sorted write
 * puts it) or after "vms". A newer version is refused before any handle is
 * judged by this version's rules. */
static void test_version_anywhere(void **state)
{
	struct vmmi_store st;
	struct vmm_error err;

	(void)state;
	assert_int_equal(parse("{\"vms\": {\"a\": {\"vcpus\": 2}}, \"b_top\": 1, \"version\": 1}",
			       &st, &err),
			 0);
	assert_int_equal(st.n, 1);
	assert_int_equal(st.vms[0]->vcpus, 2);
	assert_non_null(json_object_get(st.root, "b_top"));
	assert_null(vmmi_store_find(&st, "b_top"));
	vmmi_store_release(&st);
	assert_true(parse("{\"vms\": {\"a\": {\"vcpus\": \"many\"}}, \"version\": 2}", &st, &err) < 0);
	assert_int_equal(err.code, VMM_E_STORE_VERSION);
	assert_non_null(strstr(err.message, "format version 2"));
	/* an empty object: no VMs */
	assert_int_equal(parse("{}", &st, &err), 0);
	assert_int_equal(st.n, 0);
	assert_non_null(st.vms);
	vmmi_store_release(&st);
}

/* The reference's format is upgraded on the next write, its handles'
 * unknown fields kept. */
static void test_reference_format_upgraded(void **state)
{
	struct vmmi_store st;
	struct vmm_error err;
	char path[128];
	json_t *doc, *one;
	json_error_t jerr;

	(void)state;
	snprintf(path, sizeof(path), "%s/ref.json", tmpdir);
	assert_int_equal(parse("{\"z\": {\"vcpus\": 2, \"x\": [1]}, \"a\": {\"network\": \"Tap\"}}", &st,
			       &err),
			 0);
	assert_int_equal(st.n, 2);
	assert_string_equal(st.vms[0]->name, "a");
	assert_string_equal(st.vms[0]->network.bridge, "br0");
	assert_int_equal(vmmi_store_save(path, &st, &err), 0);
	vmmi_store_release(&st);
	doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	assert_non_null(doc);
	assert_int_equal(json_integer_value(json_object_get(doc, "version")), 1);
	assert_int_equal(json_object_size(doc), 2);
	one = json_pack("[i]", 1);
	assert_true(json_equal(json_object_get(json_object_get(json_object_get(doc, "vms"), "z"),
					       "x"),
			       one));
	json_decref(one);
	json_decref(doc);
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
	static const int expected[6][8] = {
		/*            PREPARING PREPARED RUNNING SUSPENDED STOPPED FAILED DESTROYED SAVED */
		[VMM_OP_START] = {-1, VMM_STATE_RUNNING, -1, -1, VMM_STATE_RUNNING,
				  VMM_STATE_RUNNING, -1, VMM_STATE_RUNNING},
		[VMM_OP_STOP] = {-1, -1, VMM_STATE_STOPPED, VMM_STATE_STOPPED, -1,
				 VMM_STATE_STOPPED, -1, VMM_STATE_STOPPED},
		[VMM_OP_SUSPEND] = {-1, -1, VMM_STATE_SUSPENDED, -1, -1, -1, -1, -1},
		[VMM_OP_RESUME] = {-1, -1, -1, VMM_STATE_RUNNING, -1, -1, -1, -1},
		[VMM_OP_DESTROY] = {VMM_STATE_DESTROYED, VMM_STATE_DESTROYED,
				    VMM_STATE_DESTROYED, VMM_STATE_DESTROYED,
				    VMM_STATE_DESTROYED, VMM_STATE_DESTROYED,
				    VMM_STATE_DESTROYED, VMM_STATE_DESTROYED},
		[VMM_OP_SAVE] = {-1, -1, VMM_STATE_SAVED, VMM_STATE_SAVED, -1, -1, -1, -1},
	};
	struct vmm_error err;

	(void)state;
	for (int op = 0; op <= VMM_OP_SAVE; op++) {
		for (int s = 0; s <= VMM_STATE_SAVED; s++) {
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
	for (int i = 0; i <= VMM_STATE_SAVED; i++) {
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

/* The paths vmctl removes or writes must be the VM's own: its directory,
 * "vms/NAME" beside "vms.json", or a file lexically inside it. */
static void test_paths_must_be_the_vms_own(void **state)
{
	static const char *const bad_dir[] = {
		"/tmp/victim", "", "/", "vms", "vms/", "vms/b", "vms/ab", "vms/a/", "vms/a/.",
		"vms/a/..", "vms//a", "./vms/a", "vms/./a", "vms/a/../a", "/vms/a", "xvms/a",
	};
	static const char *const bad_file[] = {
		"/etc/passwd", "", "vms/a", "vms/a/", "vms/a//x", "vms/a/./x", "vms/a/../b/x",
		"vms/a/x/..", "vms/a/x/", "vms/ab/x", "vms/b/x", "vms//a/x", "/tmp/vms/a/x",
		"vms/a/..", "vms/a/.",
	};
	static const char *const fields[] = {"overlay_path", "seed_iso_path", "qmp_socket",
					     "console_socket"};
	struct vmmi_store st;
	struct vmm_error err;
	char text[512], want[128];

	(void)state;
	for (size_t i = 0; i < VMMI_ARRAY_SIZE(bad_dir); i++) {
		snprintf(text, sizeof(text),
			 "{\"version\":1, \"vms\": {\"a\": {\"backend\": \"noop\", \"work_dir\": "
			 "\"%s\"}}}",
			 bad_dir[i]);
		expect_corrupt(text, "vms.json: VM 'a': field \"work_dir\"",
			       "it must be vms/a, the VM's own directory");
		assert_int_equal(parse(text, &st, &err), -(int)VMM_E_STORE_CORRUPT);
		assert_non_null(strstr(err.hint, "edited by hand"));
	}
	for (size_t k = 0; k < VMMI_ARRAY_SIZE(fields); k++) {
		for (size_t i = 0; i < VMMI_ARRAY_SIZE(bad_file); i++) {
			snprintf(text, sizeof(text), V1("\"a\": {\"%s\": \"%s\"}"), fields[k],
				 bad_file[i]);
			snprintf(want, sizeof(want), "VM 'a': field \"%s\"", fields[k]);
			expect_corrupt(text, want, "it must be a file in vms/a");
		}
	}
	/* in the reference's format, and with an escape that spells "..": the
	 * decoded text is checked */
	expect_corrupt("{\"a\": {\"work_dir\": \"/etc\"}}", "field \"work_dir\"", NULL);
	expect_corrupt(V1("\"a\": {\"overlay_path\": \"vms/a/\\u002e\\u002e/x\"}"),
		       "field \"overlay_path\" is \"vms/a/../x\"", NULL);
	/* the VM's own */
	assert_int_equal(parse(V1("\"a\": {\"work_dir\": \"vms/a\", \"overlay_path\": "
				  "\"vms/a/overlay.qcow2\", \"seed_iso_path\": \"vms/a/d/seed.iso\", "
				  "\"qmp_socket\": \"vms/a/..q\", \"console_socket\": \"vms/a/.c\", "
				  "\"image_path\": \"/anywhere/img\", \"ssh_key_path\": \"/home/k\"}"),
			       &st, &err),
			 0);
	vmmi_store_release(&st);
}

/* A file read from disk: the VMs' directories are beside it. */
static void test_paths_checked_on_load(void **state)
{
	struct vmmi_store st;
	struct vmm_error err;
	char path[128], text[512];

	(void)state;
	snprintf(path, sizeof(path), "%s/vms.json", tmpdir);
	snprintf(text, sizeof(text),
		 "{\"version\":1, \"vms\": {\"a\": {\"work_dir\": \"%s/vms/a\", \"qmp_socket\": "
		 "\"%s/vms/a/qmp.sock\"}}}\n",
		 tmpdir, tmpdir);
	assert_int_equal(vmmi_write_file_atomic(path, text, strlen(text), 0600, &err), 0);
	assert_int_equal(vmmi_store_load(path, &st, &err), 0);
	assert_int_equal(st.n, 1);
	vmmi_store_release(&st);
	/* the reproduction */
	snprintf(text, sizeof(text), "{\"version\":1,\"vms\":{\"evil\":{\"backend\":\"noop\","
				     "\"state\":\"stopped\",\"work_dir\":\"/tmp/victim\"}}}");
	assert_int_equal(vmmi_write_file_atomic(path, text, strlen(text), 0600, &err), 0);
	assert_true(vmmi_store_load(path, &st, &err) < 0);
	assert_int_equal(err.code, VMM_E_STORE_CORRUPT);
	assert_non_null(strstr(err.message, path));
	assert_non_null(strstr(err.message, "VM 'evil': field \"work_dir\" is \"/tmp/victim\""));
	assert_non_null(strstr(err.message, "vms/evil"));
	assert_null(st.vms);
}

/* A key of "vms" must be a valid VM name; a message never carries a
 * control character from the file raw. */
static void test_keys_must_be_vm_names(void **state)
{
	struct vmmi_store st;
	struct vmm_error err;

	(void)state;
	expect_corrupt(V1("\"../../etc\": {}"),
		       "vms.json:1:33: the key \"../../etc\" of \"vms\" is not a valid VM name",
		       "must not start with '.'");
	expect_corrupt(V1("\"etc/../..\": {}"), "key \"etc/../..\"", "contains '/'");
	expect_corrupt(V1("\"ok\": {}, \"a/b\": {}"), "key \"a/b\"", NULL);
	expect_corrupt(V1("\".hidden\": {}"), "key \".hidden\"", "must not start with '.'");
	expect_corrupt(V1("\"-x\": {}"), "key \"-x\"", NULL);
	expect_corrupt(V1("\"\": {}"), "key \"\" of \"vms\"", "empty");
	expect_corrupt(V1("\"caf\xc3\xa9\": {}"), "not a valid VM name", NULL);
	expect_corrupt("{\"../x\": {}}", "key \"../x\"", NULL); /* the reference's format */
	assert_true(parse(V1("\"a\\u001b[2Jb\": {}"), &st, &err) < 0);
	assert_non_null(strstr(err.message, "a\\x1b[2Jb"));
	assert_null(strchr(err.message, '\x1b'));
	assert_non_null(strstr(err.hint, "rename or remove that entry"));
	/* C1 controls (U+009B is CSI) and DEL in another field's message */
	assert_true(parse(V1("\"a\": {\"state\": \"\\u009b2J\\u007f\"}"), &st, &err) < 0);
	assert_non_null(strstr(err.message, "\\u009b2J\\x7f"));
	assert_null(strstr(err.message, "\xc2\x9b"));
	assert_null(strchr(err.message, 0x7f));
}

static int parse_n(const char *text, size_t len, struct vmmi_store *st, struct vmm_error *err)
{
	return vmmi_store_parse("vms.json", text, len, st, err);
}

/* RFC 8259 and nothing more: what yajl alone would take is refused, with
 * FILE:LINE:COL, and no such input is rewritten away. */
static void test_strict_json(void **state)
{
	static const char nul[] = "{\"version\":1,\0\"vms\":{}}";
	struct vmmi_store st;
	struct vmm_error err;

	(void)state;
	expect_corrupt("{\"version\":1, \"vms\": {}} x", "vms.json:1:26: invalid JSON:",
		       "end of file expected");
	expect_corrupt("{\"version\":1, \"vms\": {}}{}", "vms.json:1:25: invalid JSON:",
		       "end of file expected");
	expect_corrupt("{\"version\":1,\f\"vms\": {}}", "vms.json:1:14: invalid JSON:",
		       "control character 0x0c");
	expect_corrupt("{\"version\":1, // c\n\"vms\": {}}", "vms.json:1:", "invalid JSON");
	expect_corrupt("{\"version\":1, \"vms\": {}} /* c */", "vms.json:1:", "invalid JSON");
	expect_corrupt("{\"version\":1, \"vms\": {}}\n// c\n", "vms.json:2:", "invalid JSON");
	assert_true(parse_n(nul, sizeof(nul) - 1, &st, &err) < 0);
	assert_int_equal(err.code, VMM_E_STORE_CORRUPT);
	assert_non_null(strstr(err.message, "vms.json:1:"));
	assert_non_null(strstr(err.message, "invalid JSON"));
	assert_true(parse_n("{\"version\":1, \"vms\": {}}\0", 25, &st, &err) < 0);
	assert_non_null(strstr(err.message, "vms.json:1:25: invalid JSON"));
}

/* A registry over VMMI_STORE_MAX_SIZE is refused before it is read. */
static void test_size_cap(void **state)
{
	struct vmmi_store st;
	struct vmm_error err;
	char path[128];
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/vms.json", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{}", 2), 2);
	assert_int_equal(ftruncate(fd, (off_t)VMMI_STORE_MAX_SIZE + 1), 0); /* sparse */
	close(fd);
	assert_true(vmmi_store_load(path, &st, &err) < 0);
	assert_int_equal(err.code, VMM_E_STORE_CORRUPT);
	assert_non_null(strstr(err.message, path));
	assert_non_null(strstr(err.message, "is 67108865 bytes"));
	assert_non_null(strstr(err.message, "up to 64 MiB"));
	assert_true(strlen(err.hint) > 0);
	assert_null(st.vms);
	/* at the cap itself it is read (and judged as JSON) */
	assert_int_equal(truncate(path, (off_t)VMMI_STORE_MAX_SIZE), 0);
	assert_true(vmmi_store_load(path, &st, &err) < 0);
	assert_non_null(strstr(err.message, "invalid JSON"));
	/* not a regular file */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_true(vmmi_store_load(path, &st, &err) < 0);
	assert_non_null(strstr(err.message, "is not a regular file"));
	assert_int_equal(unlink(path), 0);
	/* in memory, the same limit */
	assert_true(parse_n("{}", (size_t)VMMI_STORE_MAX_SIZE + 1, &st, &err) < 0);
	assert_non_null(strstr(err.message, "up to 64 MiB"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_missing_file_is_empty),
		cmocka_unit_test(test_defaults_for_missing_fields),
		cmocka_unit_test(test_shares_checked),
		cmocka_unit_test(test_reference_format),
		cmocka_unit_test(test_roundtrip_keeps_unknown_fields),
		cmocka_unit_test(test_corrupt_inputs),
		cmocka_unit_test(test_every_field_roundtrips),
		cmocka_unit_test(test_vm_json_form),
		cmocka_unit_test(test_version_anywhere),
		cmocka_unit_test(test_nesting_limit),
		cmocka_unit_test(test_reference_format_upgraded),
		cmocka_unit_test(test_newer_version_refused),
		cmocka_unit_test(test_put_find_remove),
		cmocka_unit_test(test_name_validation),
		cmocka_unit_test(test_lifecycle_table),
		cmocka_unit_test(test_names_roundtrip),
		cmocka_unit_test(test_paths_must_be_the_vms_own),
		cmocka_unit_test(test_paths_checked_on_load),
		cmocka_unit_test(test_keys_must_be_vm_names),
		cmocka_unit_test(test_strict_json),
		cmocka_unit_test(test_size_cap),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
