/* SPDX-License-Identifier: MIT */
/* Unit tests: port forwards in Docker's notation (lib/core/vm.c): parsing,
 * formatting and the checks of a VM's forwards together. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/vm.h"

static struct vmm_forward parse_ok(const char *s)
{
	struct vmm_forward f;
	struct vmm_error err;

	if (vmm_forward_parse(s, &f, &err) < 0)
		fail_msg("'%s': %s", s, err.message);
	return f;
}

static void parse_bad(const char *s, const char *message, const char *hint)
{
	struct vmm_forward f;
	struct vmm_error err;

	assert_int_equal(vmm_forward_parse(s, &f, &err), -(int)VMM_E_INVALID_CONFIG);
	if (!strstr(err.message, message))
		fail_msg("'%s': message '%s' lacks '%s'", s, err.message, message);
	if (hint && !strstr(err.hint, hint))
		fail_msg("'%s': hint '%s' lacks '%s'", s, err.hint, hint);
}

static void test_notation(void **state)
{
	struct vmm_forward f;

	(void)state;
	f = parse_ok("8080:80");
	assert_string_equal(f.address, "127.0.0.1");
	assert_int_equal(f.host_port, 8080);
	assert_int_equal(f.guest_port, 80);
	assert_false(f.udp);
	assert_false(f.auto_port);
	f = parse_ok("127.0.0.1:5353:53/udp");
	assert_int_equal(f.host_port, 5353);
	assert_int_equal(f.guest_port, 53);
	assert_true(f.udp);
	f = parse_ok("0.0.0.0:8443:443/tcp");
	assert_string_equal(f.address, "0.0.0.0");
	assert_false(f.udp);
	/* host port omitted or 0: vmctl picks it */
	f = parse_ok("80");
	assert_int_equal(f.host_port, 0);
	assert_int_equal(f.guest_port, 80);
	assert_true(f.auto_port);
	f = parse_ok("0:80");
	assert_true(f.auto_port);
	f = parse_ok("10.1.2.3::3000/udp");
	assert_string_equal(f.address, "10.1.2.3");
	assert_int_equal(f.host_port, 0);
	assert_true(f.udp);
	f = parse_ok("65535:65535");
	assert_int_equal(f.host_port, 65535);
	f = parse_ok("53/udp");
	assert_true(f.udp);
	assert_int_equal(f.guest_port, 53);
}

static void test_notation_errors(void **state)
{
	(void)state;
	parse_bad("", "it is empty", "8080:80");
	parse_bad("80/sctp", "unknown protocol 'sctp'", "/tcp or /udp");
	parse_bad("8080:80/", "unknown protocol ''", NULL);
	parse_bad("8080:0", "the guest port '0' is not a number from 1 to 65535", "8080:80");
	parse_bad("65536:80", "the host port '65536' is not a number from 0 to 65535", NULL);
	parse_bad("x:80", "the host port 'x'", NULL);
	parse_bad(":80", "the host port ''", NULL);
	parse_bad("8080:", "the guest port ''", NULL);
	parse_bad("8080:+80", "the guest port '+80'", NULL);
	parse_bad("8000-8010:80", "port ranges (8000-8010) are not supported", "one -p per port");
	parse_bad("::1:80:80", "too many ':'", "IPv4");
	parse_bad("localhost:80:80", "'localhost' is not an IPv4 address", "0.0.0.0");
	parse_bad("1.2.3:80:80", "'1.2.3' is not an IPv4 address", NULL);
	parse_bad(":8080:80", "'' is not an IPv4 address", NULL);
	parse_bad("127.0.0.1:8080:80:1", "too many ':'", NULL);
}

static void test_host_port(void **state)
{
	struct vmm_error err;
	unsigned p;
	bool udp;

	(void)state;
	assert_int_equal(vmm_forward_parse_host("8080", &p, &udp, &err), 0);
	assert_int_equal(p, 8080);
	assert_false(udp);
	assert_int_equal(vmm_forward_parse_host("5353/udp", &p, &udp, &err), 0);
	assert_int_equal(p, 5353);
	assert_true(udp);
	assert_int_equal(vmm_forward_parse_host("0", &p, &udp, &err), -(int)VMM_E_INVALID_CONFIG);
	assert_int_equal(vmm_forward_parse_host("8080:80", &p, &udp, &err),
			 -(int)VMM_E_INVALID_CONFIG);
	assert_non_null(strstr(err.hint, "vmctl port NAME"));
	assert_int_equal(vmm_forward_parse_host("1/icmp", &p, &udp, &err),
			 -(int)VMM_E_INVALID_CONFIG);
}

static void test_format(void **state)
{
	struct vmm_forward f = {.address = "127.0.0.1", .host_port = 8080, .guest_port = 80};
	char buf[64];

	(void)state;
	vmm_forward_format(&f, buf, sizeof(buf));
	assert_string_equal(buf, "8080->80/tcp");
	snprintf(f.address, sizeof(f.address), "0.0.0.0");
	f.udp = true;
	vmm_forward_format(&f, buf, sizeof(buf));
	assert_string_equal(buf, "0.0.0.0:8080->80/udp");
	f.host_port = 0;
	vmm_forward_format(&f, buf, sizeof(buf));
	assert_string_equal(buf, "80/udp");
}

static void test_check(void **state)
{
	struct vmm_forward fw[3] = {parse_ok("8080:80"), parse_ok("8080:81/udp"), parse_ok("0:82")};
	struct vmm_forward many[VMM_FORWARDS_MAX + 1];
	struct vmm_error err;

	(void)state;
	assert_int_equal(vmm_forwards_check(fw, 3, VMM_NET_USER, &err), 0);
	assert_int_equal(vmm_forwards_check(NULL, 0, VMM_NET_TAP, &err), 0);
	/* two ports 0 are two picks, not a duplicate */
	fw[1] = parse_ok("82");
	assert_int_equal(vmm_forwards_check(fw, 3, VMM_NET_USER, &err), 0);
	fw[2] = parse_ok("127.0.0.1:8080:90");
	assert_int_equal(vmm_forwards_check(fw, 3, VMM_NET_USER, &err), -(int)VMM_E_INVALID_CONFIG);
	assert_string_equal(err.message,
			    "host port 8080/tcp is forwarded twice (to guest ports 80 and 90)");
	assert_int_equal(vmm_forwards_check(fw, 1, VMM_NET_TAP, &err), -(int)VMM_E_INVALID_CONFIG);
	assert_string_equal(err.message, "port forwards do not apply to tap networking");
	assert_non_null(strstr(err.hint, "network \"user\""));
	assert_int_equal(vmm_forwards_check(fw, 1, VMM_NET_NONE, &err), -(int)VMM_E_INVALID_CONFIG);
	for (size_t i = 0; i < VMM_FORWARDS_MAX + 1; i++)
		many[i] = parse_ok("80");
	assert_int_equal(vmm_forwards_check(many, VMM_FORWARDS_MAX, VMM_NET_USER, &err), 0);
	assert_int_equal(vmm_forwards_check(many, VMM_FORWARDS_MAX + 1, VMM_NET_USER, &err),
			 -(int)VMM_E_INVALID_CONFIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_notation),
		cmocka_unit_test(test_notation_errors),
		cmocka_unit_test(test_host_port),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
