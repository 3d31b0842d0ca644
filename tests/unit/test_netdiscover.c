/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: finding a bridged guest's IP address by its MAC
 * (lib/backends/qemu/netdiscover.c) from files in the formats the tools
 * write them (`ip -j neigh show`, dnsmasq's lease file, libvirt's status
 * file), the whole look-up with $VMCTL_LEASES, and QEMU's bridge.conf read
 * as its bridge helper reads it (lib/backends/qemu/tap.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/qemu/netdiscover.h"
#include "backends/qemu/tap.h"
#include "core/util.h"
#include "tmpdir.h"

#define MAC "52:54:00:ab:cd:ef"
#define NOW ((time_t)1800000000)

static char *put(const char *dir, const char *name, const char *text)
{
	char *p = vmmi_path_join(dir, name);
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	fclose(f);
	return p;
}

static char *slurp(const char *path)
{
	struct vmm_error err;
	char *text = NULL;

	assert_int_equal(vmmi_read_file(path, &text, NULL, &err), 0);
	return text;
}

static void test_neigh(void **state)
{
	char *dir = mktmpdir_prefix("vmctl-test-neigh"), *p, *text, *ip;

	(void)state;
	/* as `ip -j neigh show` prints it: IPv6 first, a failed entry, a stale one */
	p = put(dir, "neigh.json",
		"[{\"dst\":\"fe80::5054:ff:feab:cdef\",\"dev\":\"br0\",\"lladdr\":\"52:54:00:ab:cd:ef\","
		"\"router\":null,\"state\":[\"STALE\"]},"
		"{\"dst\":\"2001:db8::7\",\"dev\":\"br0\",\"lladdr\":\"52:54:00:AB:CD:EF\","
		"\"state\":[\"REACHABLE\"]},"
		"{\"dst\":\"10.0.0.9\",\"dev\":\"br0\",\"lladdr\":\"52:54:00:ab:cd:ef\","
		"\"state\":[\"FAILED\"]},"
		"{\"dst\":\"10.0.0.1\",\"dev\":\"eth0\",\"lladdr\":\"02:00:00:00:00:01\","
		"\"state\":[\"REACHABLE\"]},"
		"{\"dst\":\"10.0.0.55\",\"dev\":\"br0\",\"lladdr\":\"52:54:00:ab:cd:ef\","
		"\"state\":[\"STALE\"]},"
		"{\"dst\":\"10.0.0.77\",\"dev\":\"br0\",\"state\":[\"INCOMPLETE\"]}]\n");
	text = slurp(p);
	ip = vmmi_neigh_find(text, MAC);
	assert_non_null(ip);
	assert_string_equal(ip, "10.0.0.55"); /* IPv4 first, never the failed one */
	free(ip);
	ip = vmmi_neigh_find(text, "52:54:00:AB:CD:EF"); /* case-insensitive */
	assert_string_equal(ip, "10.0.0.55");
	free(ip);
	assert_null(vmmi_neigh_find(text, "52:54:00:00:00:00"));
	/* only IPv6: the global address, not the link-local one */
	assert_null(vmmi_neigh_find("[]", MAC));
	ip = vmmi_neigh_find("[{\"dst\":\"fe80::1\",\"lladdr\":\"" MAC "\"},"
			     "{\"dst\":\"2001:db8::7\",\"lladdr\":\"" MAC "\"}]",
			     MAC);
	assert_string_equal(ip, "2001:db8::7");
	free(ip);
	/* not JSON, not an array */
	assert_null(vmmi_neigh_find("10.0.0.55 dev br0 lladdr " MAC " STALE\n", MAC));
	assert_null(vmmi_neigh_find("{}", MAC));
	assert_null(vmmi_neigh_find("", MAC));
	free(text);
	free(p);
	rmtree(dir);
}

static void test_dnsmasq_leases(void **state)
{
	char *dir = mktmpdir_prefix("vmctl-test-leases"), *p, *text, *ip;

	(void)state;
	/* dnsmasq's format, with a DHCPv6 part, an expired lease of the MAC and
	 * a renewed one (the later expiry wins) */
	p = put(dir, "dnsmasq.leases",
		"1800003600 02:00:00:00:00:01 10.0.0.101 other *\n"
		"1700000000 52:54:00:ab:cd:ef 10.0.0.102 web 01:52:54:00:ab:cd:ef\n"
		"1800000600 52:54:00:ab:cd:ef 10.0.0.103 web 01:52:54:00:ab:cd:ef\n"
		"1800007200 52:54:00:AB:CD:EF 10.0.0.104 web *\n"
		"duid 00:01:00:01:2c:5e:7f:a1:52:54:00:12:34:56\n"
		"1800007200 1234 2001:db8::1 web 00:01:00:01\n"
		"garbage line\n");
	text = slurp(p);
	ip = vmmi_leases_find(text, MAC, NOW);
	assert_non_null(ip);
	assert_string_equal(ip, "10.0.0.104");
	free(ip);
	ip = vmmi_leases_find(text, "02:00:00:00:00:01", NOW);
	assert_string_equal(ip, "10.0.0.101");
	free(ip);
	/* after every lease of the MAC expired */
	assert_null(vmmi_leases_find(text, MAC, (time_t)1900000000));
	assert_null(vmmi_leases_find(text, "52:54:00:00:00:00", NOW));
	free(text);
	/* expiry 0: an infinite lease */
	ip = vmmi_leases_find("0 " MAC " 192.168.1.5 * *\n", MAC, NOW);
	assert_string_equal(ip, "192.168.1.5");
	free(ip);
	assert_null(vmmi_leases_find("", MAC, NOW));
	assert_null(vmmi_leases_find(NULL, MAC, NOW));
	free(p);
	rmtree(dir);
}

static void test_libvirt_status(void **state)
{
	char *dir = mktmpdir_prefix("vmctl-test-lvstatus"), *p, *text, *ip;

	(void)state;
	p = put(dir, "virbr0.status",
		"[\n"
		"  {\n"
		"    \"ip-address\": \"192.168.122.50\",\n"
		"    \"mac-address\": \"52:54:00:ab:cd:ef\",\n"
		"    \"hostname\": \"web\",\n"
		"    \"expiry-time\": 1700000000\n"
		"  },\n"
		"  {\n"
		"    \"ip-address\": \"192.168.122.51\",\n"
		"    \"mac-address\": \"52:54:00:ab:cd:ef\",\n"
		"    \"expiry-time\": 1800003600\n"
		"  },\n"
		"  {\n"
		"    \"ip-address\": \"192.168.122.60\",\n"
		"    \"mac-address\": \"52:54:00:11:22:33\",\n"
		"    \"expiry-time\": 1800003600\n"
		"  }\n"
		"]\n");
	text = slurp(p);
	ip = vmmi_leases_find(text, MAC, NOW);
	assert_non_null(ip);
	assert_string_equal(ip, "192.168.122.51");
	free(ip);
	assert_null(vmmi_leases_find(text, "52:54:00:00:00:00", NOW));
	assert_null(vmmi_leases_find("[ {\"ip-address\": 5} ]", MAC, NOW));
	assert_null(vmmi_leases_find("[ not json", MAC, NOW));
	free(text);
	free(p);
	rmtree(dir);
}

/* The whole look-up: the real neighbour table (which has no entry for a
 * made-up MAC), then $VMCTL_LEASES. */
static void test_discover(void **state)
{
	char *dir = mktmpdir_prefix("vmctl-test-discover"), *p, *missing, *env, *ip, *searched;
	struct vmm_error err;

	(void)state;
	missing = vmmi_path_join(dir, "missing.leases");
	p = put(dir, "x.leases", "0 52:54:00:fe:dc:ba 10.9.8.7 web *\n");
	env = vmmi_asprintf("%s:%s", missing, p);
	setenv("VMCTL_LEASES", env, 1);
	assert_int_equal(vmmi_guest_ip_discover("52:54:00:fe:dc:ba", &ip, &searched, &err), 0);
	assert_string_equal(ip, "10.9.8.7");
	assert_null(searched);
	free(ip);
	/* not found: every place named, with what was there */
	assert_int_equal(vmmi_guest_ip_discover("52:54:00:fe:dc:bb", &ip, &searched, &err), 1);
	assert_null(ip);
	assert_non_null(strstr(searched, "the neighbour table"));
	assert_non_null(strstr(searched, "missing.leases (absent)"));
	assert_non_null(strstr(searched, "x.leases (no lease for it)"));
	assert_non_null(strstr(searched, "/var/lib/misc/dnsmasq.leases"));
	assert_non_null(strstr(searched, "/var/lib/dnsmasq/"));
	/* the pattern, or the files it matched */
	assert_non_null(strstr(searched, "/var/lib/libvirt/dnsmasq/"));
	free(searched);
	unsetenv("VMCTL_LEASES");
	free(env);
	free(missing);
	free(p);
	rmtree(dir);
}

static void conf_is(const char *path, const char *br, bool allowed, bool denied)
{
	struct vmm_error err;
	bool a = !allowed, d = !denied;

	assert_int_equal(vmmi_bridge_conf_allows(path, br, &a, &d, &err), 0);
	assert_int_equal(a, allowed);
	assert_int_equal(d, denied);
}

static void test_bridge_conf(void **state)
{
	char *dir = mktmpdir_prefix("vmctl-test-bridgeconf"), *main_conf, *inc, *bad, *loop;
	char *text, *missing;
	struct vmm_error err;
	bool a, d;

	(void)state;
	inc = put(dir, "inc.conf", "allow br-inc\ndeny br-no\nbogus line here\nallow br-late\n");
	missing = vmmi_path_join(dir, "missing.conf");
	text = vmmi_asprintf("# QEMU bridge helper ACL\n"
			     "\n"
			     "   allow\tbr0   \n"
			     "allow br1\n"
			     "include %s\n"
			     "include %s\n"
			     "allow br-no\n",
			     inc, missing);
	main_conf = put(dir, "bridge.conf", text);
	free(text);
	conf_is(main_conf, "br0", true, false);
	conf_is(main_conf, "br1", true, false);
	conf_is(main_conf, "br2", false, false);
	/* from the included file, up to the line it stops at */
	conf_is(main_conf, "br-inc", true, false);
	conf_is(main_conf, "br-late", false, false);
	/* a deny anywhere wins over an allow */
	conf_is(main_conf, "br-no", true, true);
	/* allow all, deny all */
	loop = put(dir, "all.conf", "allow all\n");
	conf_is(loop, "anything", true, false);
	free(loop);
	loop = put(dir, "deny.conf", "allow br0\ndeny all\n");
	conf_is(loop, "br0", true, true);
	free(loop);
	/* a file that includes itself ends */
	loop = vmmi_path_join(dir, "loop.conf");
	text = vmmi_asprintf("allow br9\ninclude %s\n", loop);
	free(put(dir, "loop.conf", text));
	free(text);
	conf_is(loop, "br9", true, false);
	/* the helper refuses everything for an invalid or unreadable top file */
	bad = put(dir, "bad.conf", "allow br0\npermit br0\n");
	assert_true(vmmi_bridge_conf_allows(bad, "br0", &a, &d, &err) < 0);
	assert_int_equal(err.code, VMM_E_INVALID_CONFIG);
	assert_non_null(strstr(err.message, "bad.conf:2: unknown command 'permit'"));
	assert_non_null(strstr(err.hint, "allow br0"));
	free(bad);
	bad = put(dir, "bad2.conf", "allow\n");
	assert_true(vmmi_bridge_conf_allows(bad, "br0", &a, &d, &err) < 0);
	assert_non_null(strstr(err.message, "bad2.conf:1: invalid line"));
	free(bad);
	bad = put(dir, "bad3.conf", "allow a-name-far-too-long\n");
	assert_true(vmmi_bridge_conf_allows(bad, "br0", &a, &d, &err) < 0);
	assert_non_null(strstr(err.message, "too long"));
	free(bad);
	assert_true(vmmi_bridge_conf_allows(missing, "br0", &a, &d, &err) < 0);
	assert_non_null(strstr(err.message, "missing.conf"));
	free(loop);
	free(missing);
	free(inc);
	free(main_conf);
	rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_neigh),
		cmocka_unit_test(test_dnsmasq_leases),
		cmocka_unit_test(test_libvirt_status),
		cmocka_unit_test(test_discover),
		cmocka_unit_test(test_bridge_conf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
