/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the propolis backend's pure parts: propolis-server's
 * instance states onto vmctl's, a VM id as a UUID, the InstanceEnsureRequest
 * it builds (the shape API 5.0.0 takes; the server double in
 * tests/propolis/ validates it against the OpenAPI document), the errors
 * made of the server's answers, and the backend's record in a work
 * directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>

#include "backends/propolis/propolis.h"
#include "core/util.h"
#include "tmpdir.h"
#include "vmm/vm.h"

static void test_state_mapping(void **state)
{
	static const struct {
		const char *in;
		enum vmm_vm_state out;
	} cases[] = {
		{"Creating", VMM_STATE_RUNNING},  {"Starting", VMM_STATE_RUNNING},
		{"Running", VMM_STATE_RUNNING},   {"Rebooting", VMM_STATE_RUNNING},
		{"Migrating", VMM_STATE_RUNNING}, {"Repairing", VMM_STATE_RUNNING},
		{"Stopping", VMM_STATE_STOPPED},  {"Stopped", VMM_STATE_STOPPED},
		{"Destroyed", VMM_STATE_STOPPED}, {"Failed", VMM_STATE_FAILED},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
		assert_int_equal(vmmi_propolis_map_state(cases[i].in), cases[i].out);
	assert_int_equal(vmmi_propolis_map_state(NULL), VMM_STATE_STOPPED);
}

static void test_uuid(void **state)
{
	char u[37];

	(void)state;
	vmmi_propolis_uuid("0123456789abcdef0123456789abcdef", u);
	assert_string_equal(u, "01234567-89ab-cdef-0123-456789abcdef");
	/* a short or odd id still gives a well-formed UUID */
	vmmi_propolis_uuid("abc", u);
	assert_string_equal(u, "abc00000-0000-0000-0000-000000000000");
	vmmi_propolis_uuid("zz", u);
	assert_string_equal(u, "00000000-0000-0000-0000-000000000000");
}

static json_t *component(json_t *spec, const char *key, const char *type)
{
	json_t *c = json_object_get(json_object_get(spec, "components"), key);

	assert_non_null(c);
	assert_string_equal(json_string_value(json_object_get(c, "type")), type);
	return json_object_get(c, "component");
}

static void test_ensure_body(void **state)
{
	struct vmm_vm vm = {.id = "0123456789abcdef0123456789abcdef", .name = "web", .vcpus = 4,
			    .memory_mb = 4096};
	char *text;
	json_t *j, *spec, *c;

	(void)state;
	text = vmmi_propolis_ensure_body(&vm, "/dev/zvol/rdsk/rpool/vms/web", "Y2lkYXRh",
					 "vnic0");
	assert_non_null(text);
	j = json_loads(text, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(j, "properties"), "id")),
			    "01234567-89ab-cdef-0123-456789abcdef");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "init"),
							      "method")),
			    "Spec");
	spec = json_object_get(json_object_get(json_object_get(j, "init"), "value"), "spec");
	assert_int_equal(json_integer_value(
				 json_object_get(json_object_get(spec, "board"), "cpus")),
			 4);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(spec, "board"),
							    "memory_mb")),
			 4096);
	c = component(spec, "disk0-backend", "file_storage_backend");
	assert_string_equal(json_string_value(json_object_get(c, "path")),
			    "/dev/zvol/rdsk/rpool/vms/web");
	c = component(spec, "cloud-init-backend", "blob_storage_backend");
	assert_string_equal(json_string_value(json_object_get(c, "base64")), "Y2lkYXRh");
	assert_true(json_is_true(json_object_get(c, "readonly")));
	c = component(spec, "net0-backend", "virtio_network_backend");
	assert_string_equal(json_string_value(json_object_get(c, "vnic_name")), "vnic0");
	component(spec, "com1", "serial_port");
	component(spec, "boot-settings", "boot_settings");
	json_decref(j);
	free(text);

	/* no seed, no VNIC: no such components */
	text = vmmi_propolis_ensure_body(&vm, "/z", NULL, NULL);
	j = json_loads(text, 0, NULL);
	spec = json_object_get(json_object_get(json_object_get(j, "init"), "value"), "spec");
	assert_null(json_object_get(json_object_get(spec, "components"), "cloud-init"));
	assert_null(json_object_get(json_object_get(spec, "components"), "net0"));
	assert_int_equal(json_object_size(json_object_get(spec, "components")), 4);
	json_decref(j);
	free(text);
}

static void test_http_error(void **state)
{
	char body[] = "{\"error_code\":\"NoInstance\",\"message\":\"Server not initialized\","
		      "\"request_id\":\"1\"}";
	char version[] = "{\"message\":\"server does not support this API version: 5.0.0\","
			 "\"request_id\":\"2\"}";
	struct vmmi_http_reply r = {.status = 424, .body = body, .len = strlen(body)};
	struct vmm_error err;
	char *code;

	(void)state;
	assert_true(vmmi_http_error("GET", "/instance", &r, &err) < 0);
	assert_string_equal(err.message,
			    "propolis-server answered GET /instance with 424 NoInstance: Server "
			    "not initialized");
	assert_non_null(strstr(err.hint, "no instance"));
	code = vmmi_http_error_code(&r);
	assert_string_equal(code, "NoInstance");
	free(code);
	r = (struct vmmi_http_reply){.status = 400, .body = version, .len = strlen(version)};
	assert_true(vmmi_http_error("PUT", "/instance", &r, &err) < 0);
	assert_non_null(strstr(err.message, "400: server does not support this API version"));
	assert_non_null(strstr(err.hint, "API 5.0.0"));
	assert_null(vmmi_http_error_code(&r));
}

static void test_record_roundtrip(void **state)
{
	char *dir = mktmpdir_prefix("vmm-propolis");
	struct vmm_vm vm = {.name = "web", .work_dir = dir};
	struct vmmi_propolis_vm p = {.url = "http://127.0.0.1:12400", .zone = "web",
				     .pool = "rpool", .image_dataset = "rpool/vmctl/images/x",
				     .dataset = "rpool/vms/web", .zvol = "/dev/zvol/rdsk/rpool/vms/web"};
	struct vmmi_propolis_vm q;
	struct vmm_error err;

	(void)state;
	assert_true(vmmi_propolis_vm_load(&vm, &q, &err) < 0); /* none yet */
	assert_int_equal(err.code, VMM_E_STORE_CORRUPT);
	assert_int_equal(vmmi_propolis_vm_save(&vm, &p, &err), 0);
	assert_int_equal(vmmi_propolis_vm_load(&vm, &q, &err), 0);
	assert_string_equal(q.url, p.url);
	assert_string_equal(q.zone, p.zone);
	assert_string_equal(q.dataset, p.dataset);
	assert_string_equal(q.zvol, p.zvol);
	vmmi_propolis_vm_release(&q);
	rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_mapping), cmocka_unit_test(test_uuid),
		cmocka_unit_test(test_ensure_body),   cmocka_unit_test(test_http_error),
		cmocka_unit_test(test_record_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
