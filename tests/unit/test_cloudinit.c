/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for lib/cloudinit.c: YAML quoting, the generated cloud-config
 * (parsed back with a real YAML parser, PyYAML, to prove that no value can
 * inject YAML), meta-data, and the seed ISO (read back with xorriso).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "tmpdir.h"
#include "core/util.h"
#include "vmm/cloudinit.h"
#include "vmm/keys.h"

#define PYTHON "/usr/bin/python3"

static char *mktmpdir(void)
{
	return mktmpdir_prefix("vmm-ci");
}

static void write_bytes(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void check_quote(const char *in, const char *expect)
{
	char *q = vmm_yaml_quote(in);

	assert_non_null(q);
	assert_string_equal(q, expect);
	free(q);
}

static void test_quote(void **state)
{
	(void)state;
	check_quote("", "\"\"");
	check_quote("vm", "\"vm\"");
	check_quote("a\"b", "\"a\\\"b\"");
	check_quote("a\\b", "\"a\\\\b\"");
	check_quote("x\ny: z", "\"x\\ny: z\"");
	check_quote("tab\there\r", "\"tab\\there\\r\"");
	check_quote("\x01\x1f\x7f", "\"\\x01\\x1f\\x7f\"");
	check_quote("caf\xc3\xa9", "\"caf\\u00e9\"");
	check_quote("\xe2\x98\x83", "\"\\u2603\"");
	check_quote("\xf0\x9f\x8e\x89", "\"\\U0001f389\"");
	check_quote("- a: b # c", "\"- a: b # c\"");
}

static void test_quote_rejects_invalid_utf8(void **state)
{
	static const char *bad[] = {
		"\xff", "a\xc3", "\xc0\xaf" /* overlong '/' */, "\xed\xa0\x80" /* surrogate */,
		"\xf4\x90\x80\x80" /* > U+10FFFF */, "\xe0\x80\xaf",
	};
	size_t i;

	(void)state;
	for (i = 0; i < VMMI_ARRAY_SIZE(bad); i++) {
		errno = 0;
		assert_null(vmm_yaml_quote(bad[i]));
		assert_int_equal(errno, EILSEQ);
	}
}

/* Values chosen to break naive YAML emitters. */
static const char *hostile[] = {
	"plain",
	"x\nroot: true",
	"a: b",
	"# comment",
	"- item",
	"* alias",
	"&anchor x",
	"!!python/object:os.system",
	"%TAG",
	"@at",
	"`tick",
	"|",
	">",
	"{a: 1}",
	"[1, 2]",
	"'single'",
	"\"double\"",
	"back\\slash\\",
	"tab\tand\rcr",
	"  leading and trailing  ",
	"yes",
	"null",
	"~",
	"0x1F",
	"1e3",
	"a #not a comment",
	"ctrl\x01\x07\x1b\x7f",
	"caf\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x8e\x89",
	"nel\xc2\x85line\xe2\x80\xa8sep",
	("\xef\xbb\xbf" "bom"),
	"---",
	"...",
	"x\n---\nusers: []",
	"\n",
};

/*
 * Parse user-data and meta-data with PyYAML (safe_load) and compare with the
 * expected values written as JSON; the script fails loudly on any mismatch
 * (an extra key, a second user, a changed value).
 */
static const char check_py[] =
	"import json, sys, yaml\n"
	"ud_raw = open(sys.argv[1], 'rb').read()\n"
	"assert ud_raw.startswith(b'#cloud-config\\n'), ud_raw[:40]\n"
	"ud_raw.decode('ascii')\n"
	"ud = yaml.safe_load(ud_raw)\n"
	"md = yaml.safe_load(open(sys.argv[2], 'rb').read())\n"
	"exp = json.load(open(sys.argv[3]))\n"
	"top = {'hostname', 'manage_etc_hosts', 'disable_root', 'ssh_pwauth', 'users'}\n"
	"if exp['host_pub'] is not None: top |= {'ssh_keys', 'ssh_genkeytypes'}\n"
	"if exp['hostname'] is None: top.discard('hostname')\n"
	"assert set(ud) == top, (sorted(ud), sorted(top))\n"
	"assert ud['manage_etc_hosts'] == 'localhost'\n"
	"assert ud['disable_root'] is True and ud['ssh_pwauth'] is False\n"
	"assert isinstance(ud['users'], list) and len(ud['users']) == 1, ud['users']\n"
	"u = ud['users'][0]\n"
	"fields = {'name', 'sudo', 'shell', 'lock_passwd'}\n"
	"if exp['keys']: fields.add('ssh_authorized_keys')\n"
	"assert set(u) == fields, sorted(u)\n"
	"assert u['name'] == exp['user'], (u['name'], exp['user'])\n"
	"assert u['sudo'] == 'ALL=(ALL) NOPASSWD:ALL' and u['shell'] == '/bin/bash'\n"
	"assert u['lock_passwd'] is True\n"
	"assert u.get('ssh_authorized_keys', []) == exp['keys'], (u.get('ssh_authorized_keys'), exp['keys'])\n"
	"if exp['hostname'] is not None:\n"
	"    assert ud['hostname'] == exp['hostname'], (ud['hostname'], exp['hostname'])\n"
	"    assert md['local-hostname'] == exp['hostname']\n"
	"    assert set(md) == {'instance-id', 'local-hostname'}, sorted(md)\n"
	"else:\n"
	"    assert set(md) == {'instance-id'}, sorted(md)\n"
	"assert md['instance-id'] == exp['iid'], md['instance-id']\n"
	"if exp['host_pub'] is not None:\n"
	"    assert ud['ssh_genkeytypes'] == []\n"
	"    assert ud['ssh_keys'] == {'ed25519_private': exp['host_priv'],\n"
	"                              'ed25519_public': exp['host_pub']}, ud['ssh_keys']\n"
	"print('ok')\n";

struct roundtrip {
	const char *user;
	const char *hostname;
	const char *authorized_keys; /* as given to the generator */
	json_t *keys;                /* expected list after parsing */
	const char *host_priv;
	const char *host_pub;
	const char *iid;
};

static void roundtrip_check(const char *dir, const struct roundtrip *r)
{
	struct vmm_seed_spec spec = {0};
	struct vmm_error err = {0};
	char *ud = NULL, *md = NULL, *ud_path, *md_path, *exp_path, *py_path, *out = NULL,
	     *errout = NULL;
	size_t ud_len = 0;
	json_t *exp;
	char *argv[6];
	int status = -1;

	spec.user = r->user;
	spec.hostname = r->hostname;
	spec.authorized_keys = r->authorized_keys;
	spec.host_key_private = r->host_priv;
	spec.host_key_public = r->host_pub;
	spec.instance_id = r->iid;
	assert_int_equal(vmm_cloudinit_user_data(&spec, &ud, &ud_len, &err), 0);
	assert_int_equal(ud_len, strlen(ud));
	assert_int_equal(vmm_cloudinit_meta_data(&spec, &md, &err), 0);

	ud_path = vmmi_path_join(dir, "user-data");
	md_path = vmmi_path_join(dir, "meta-data");
	exp_path = vmmi_path_join(dir, "expect.json");
	py_path = vmmi_path_join(dir, "check.py");
	write_bytes(ud_path, ud, ud_len);
	write_bytes(md_path, md, strlen(md));
	write_bytes(py_path, check_py, strlen(check_py));
	exp = json_pack("{s:s, s:s?, s:O, s:s?, s:s?, s:s}", "user", r->user ? r->user : "vm",
			"hostname", r->hostname, "keys", r->keys, "host_priv", r->host_priv,
			"host_pub", r->host_pub, "iid", r->iid);
	assert_non_null(exp);
	assert_int_equal(json_dump_file(exp, exp_path, 0), 0);
	json_decref(exp);

	argv[0] = PYTHON;
	argv[1] = py_path;
	argv[2] = ud_path;
	argv[3] = md_path;
	argv[4] = exp_path;
	argv[5] = NULL;
	assert_int_equal(vmmi_run(argv, &out, &errout, &status, &err), 0);
	if (status != 0)
		print_error("PyYAML check failed:\n%s\nuser-data:\n%s\nmeta-data:\n%s\n", errout, ud,
			    md);
	assert_int_equal(status, 0);
	assert_string_equal(out, "ok\n");
	free(out);
	free(errout);
	free(ud);
	free(md);
	free(ud_path);
	free(md_path);
	free(exp_path);
	free(py_path);
}

static void test_hostile_values_roundtrip(void **state)
{
	char *dir = mktmpdir();
	struct vmm_keypair host = {0};
	struct vmm_error err = {0};
	size_t i;

	(void)state;
	assert_int_equal(vmm_keypair_generate(&host, NULL, &err), 0);
	for (i = 0; i < VMMI_ARRAY_SIZE(hostile); i++) {
		const char *h = hostile[i];
		/* the key line's comment carries the hostile text (without the
		 * line breaks, which separate keys) */
		char *comment = strdup(h), *p, *keyline;
		struct roundtrip r = {0};

		for (p = comment; *p; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
		keyline = vmmi_asprintf("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey%zu %s", i, comment);
		r.user = h;
		r.hostname = h;
		r.authorized_keys = keyline;
		r.iid = h[0] ? h : "iid-x";
		{
			/* what a parser must see: the line with surrounding blanks trimmed */
			char *t = strdup(keyline);
			size_t l = strlen(t);

			while (l && strchr(" \t\r", t[l - 1]))
				t[--l] = '\0';
			r.keys = json_pack("[s]", t);
			free(t);
		}
		/* odd entries also carry a host key */
		if (i % 2) {
			r.host_priv = host.private_openssh;
			r.host_pub = host.public_line;
		}
		roundtrip_check(dir, &r);
		json_decref(r.keys);
		free(keyline);
		free(comment);
	}
	vmm_keypair_release(&host);
	rmtree(dir);
}

static void test_defaults_and_multiple_keys(void **state)
{
	char *dir = mktmpdir();
	struct vmm_keypair k1 = {0}, k2 = {0};
	struct vmm_error err = {0};
	struct roundtrip r = {0};
	char *keys;

	(void)state;
	assert_int_equal(vmm_keypair_generate(&k1, "one", &err), 0);
	assert_int_equal(vmm_keypair_generate(&k2, "two", &err), 0);
	keys = vmmi_asprintf("# comment\n\n%s\r\n  %s  \n", k1.public_line, k2.public_line);
	r.authorized_keys = keys;
	r.keys = json_pack("[s,s]", k1.public_line, k2.public_line);
	r.iid = "iid-1";
	roundtrip_check(dir, &r); /* user "vm", no hostname, no host key */

	r.authorized_keys = NULL;
	json_decref(r.keys);
	r.keys = json_array();
	r.user = "ubuntu";
	r.hostname = "web-1";
	roundtrip_check(dir, &r); /* no keys at all */
	json_decref(r.keys);
	free(keys);
	vmm_keypair_release(&k1);
	vmm_keypair_release(&k2);
	rmtree(dir);
}

static void test_generated_shape(void **state)
{
	struct vmm_keypair host = {0};
	struct vmm_seed_spec spec = {0};
	struct vmm_error err = {0};
	char *ud = NULL;

	(void)state;
	assert_int_equal(vmm_keypair_generate(&host, NULL, &err), 0);
	spec.hostname = "web";
	spec.authorized_keys = "ssh-ed25519 AAAA me@host";
	spec.host_key_private = host.private_openssh;
	spec.host_key_public = host.public_line;
	assert_int_equal(vmm_cloudinit_user_data(&spec, &ud, NULL, &err), 0);
	/* the line-oriented shape the test guest (and humans) read */
	assert_non_null(strstr(ud, "#cloud-config\n"));
	assert_non_null(strstr(ud, "\nhostname: \"web\"\n"));
	assert_non_null(strstr(ud, "\nmanage_etc_hosts: localhost\n"));
	assert_non_null(strstr(ud, "\ndisable_root: true\n"));
	assert_non_null(strstr(ud, "\nusers:\n  - name: \"vm\"\n"
				   "    sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n"
				   "    shell: \"/bin/bash\"\n"
				   "    lock_passwd: true\n"
				   "    ssh_authorized_keys:\n"
				   "      - \"ssh-ed25519 AAAA me@host\"\n"));
	assert_non_null(strstr(ud, "\nssh_keys:\n  ed25519_private: |\n"
				   "    -----BEGIN OPENSSH PRIVATE KEY-----\n"));
	assert_non_null(strstr(ud, "    -----END OPENSSH PRIVATE KEY-----\n"
				   "  ed25519_public: \"ssh-ed25519 AAAA"));
	free(ud);
	vmm_keypair_release(&host);
}

/* Shares become "mounts" entries: tag vmctl<i>, virtiofs or 9p over
 * virtio, ro for a readonly share, nofail; a bad mount point is refused. */
static void test_mounts(void **state)
{
	struct vmm_share sh[2] = {
		{"/h/src", "/home/vm/src", false, VMM_SHARE_VIRTIOFS},
		{"/h/data", "/srv/data", true, VMM_SHARE_9P},
	};
	struct vmm_seed_spec spec = {0};
	struct vmm_error err = {0};
	char *ud = NULL;

	(void)state;
	spec.hostname = "web";
	spec.authorized_keys = "ssh-ed25519 AAAA me@host";
	assert_int_equal(vmm_cloudinit_user_data(&spec, &ud, NULL, &err), 0);
	assert_null(strstr(ud, "mounts:"));
	free(ud);
	spec.shares = sh;
	spec.n_shares = 2;
	assert_int_equal(vmm_cloudinit_user_data(&spec, &ud, NULL, &err), 0);
	assert_non_null(strstr(ud, "\nmounts:\n"
				   "  - [\"vmctl0\", \"/home/vm/src\", \"virtiofs\", \"defaults,nofail\", "
				   "\"0\", \"0\"]\n"
				   "  - [\"vmctl1\", \"/srv/data\", \"9p\", "
				   "\"trans=virtio,version=9p2000.L,msize=262144,ro,nofail\", \"0\", "
				   "\"0\"]\n"));
	free(ud);
	sh[1].guest = "/srv/a b";
	assert_true(vmm_cloudinit_user_data(&spec, &ud, NULL, &err) < 0);
	assert_int_equal(err.code, VMM_E_CLOUDINIT);
	sh[1].guest = "relative";
	assert_true(vmm_cloudinit_user_data(&spec, &ud, NULL, &err) < 0);
}

static void test_invalid_inputs(void **state)
{
	struct vmm_keypair host = {0};
	struct vmm_seed_spec spec = {0};
	struct vmm_error err = {0};
	char *out = NULL;

	(void)state;
	spec.user = "";
	assert_true(vmm_cloudinit_user_data(&spec, &out, NULL, &err) < 0);
	assert_int_equal(err.code, VMM_E_CLOUDINIT);
	assert_true(err.hint[0] != '\0');

	spec.user = "bad\xff";
	assert_true(vmm_cloudinit_user_data(&spec, &out, NULL, &err) < 0);
	assert_int_equal(err.code, VMM_E_CLOUDINIT);
	assert_non_null(strstr(err.message, "UTF-8"));

	spec.user = NULL;
	spec.hostname = "h\xc3";
	assert_true(vmm_cloudinit_meta_data(&spec, &out, &err) < 0);
	assert_int_equal(err.code, VMM_E_CLOUDINIT);

	spec.hostname = NULL;
	spec.authorized_keys = "ssh-ed25519 AAAA \xfe";
	assert_true(vmm_cloudinit_user_data(&spec, &out, NULL, &err) < 0);
	assert_int_equal(err.code, VMM_E_CLOUDINIT);

	/* half a host keypair, or not a key */
	assert_int_equal(vmm_keypair_generate(&host, NULL, &err), 0);
	spec.authorized_keys = NULL;
	spec.host_key_private = host.private_openssh;
	assert_true(vmm_cloudinit_user_data(&spec, &out, NULL, &err) < 0);
	assert_int_equal(err.code, VMM_E_CLOUDINIT);
	spec.host_key_public = host.public_line;
	spec.host_key_private = "-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n";
	assert_true(vmm_cloudinit_user_data(&spec, &out, NULL, &err) < 0);
	assert_int_equal(err.code, VMM_E_CLOUDINIT);
	spec.host_key_private = host.private_openssh;
	spec.host_key_public = "ssh-ed25519 !!!";
	assert_true(vmm_cloudinit_user_data(&spec, &out, NULL, &err) < 0);
	assert_int_equal(err.code, VMM_E_CLOUDINIT);
	assert_null(out);
	vmm_keypair_release(&host);
}

static void test_instance_id(void **state)
{
	struct vmm_seed_spec spec = {0};
	struct vmm_error err = {0};
	char *a = NULL, *b = NULL, *md = NULL;
	size_t i;

	(void)state;
	assert_int_equal(vmm_cloudinit_instance_id(&a, &err), 0);
	assert_int_equal(vmm_cloudinit_instance_id(&b, &err), 0);
	assert_int_equal(strlen(a), 4 + 32);
	assert_int_equal(strncmp(a, "iid-", 4), 0);
	for (i = 4; i < strlen(a); i++)
		assert_non_null(strchr("0123456789abcdef", a[i]));
	assert_string_not_equal(a, b);

	/* meta-data gets a fresh one each time unless given */
	spec.hostname = "h";
	assert_int_equal(vmm_cloudinit_meta_data(&spec, &md, &err), 0);
	assert_int_equal(strncmp(md, "instance-id: \"iid-", 18), 0);
	assert_non_null(strstr(md, "\nlocal-hostname: \"h\"\n"));
	free(md);
	spec.instance_id = "iid-fixed";
	assert_int_equal(vmm_cloudinit_meta_data(&spec, &md, &err), 0);
	assert_string_equal(md, "instance-id: \"iid-fixed\"\nlocal-hostname: \"h\"\n");
	free(md);
	free(a);
	free(b);
}

static void test_raw_user_data_untouched(void **state)
{
	static const char raw[] = "#cloud-config\nusers: [\"x\"]\n\0\xff binary tail";
	struct vmm_seed_spec spec = {0};
	struct vmm_error err = {0};
	char *out = NULL;
	size_t len = 0;

	(void)state;
	spec.user_data = raw;
	spec.user_data_len = sizeof(raw) - 1;
	spec.user = ""; /* ignored with raw user-data */
	spec.authorized_keys = "ssh-ed25519 AAAA ignored";
	assert_int_equal(vmm_cloudinit_user_data(&spec, &out, &len, &err), 0);
	assert_int_equal(len, sizeof(raw) - 1);
	assert_memory_equal(out, raw, len);
	free(out);
}

/* xorriso's view of the ISO: "-find / -type f" with Rock Ridge or Joliet. */
static char *xorriso(const char *iso, const char *mode, const char *cmd, const char *arg)
{
	struct vmm_error err = {0};
	char *argv[12];
	char *out = NULL;
	int status = -1, n = 0;

	argv[n++] = "xorriso";
	argv[n++] = "-abort_on";
	argv[n++] = "FAILURE";
	if (strcmp(mode, "joliet") == 0) {
		argv[n++] = "-rockridge";
		argv[n++] = "off";
	}
	argv[n++] = "-indev";
	argv[n++] = (char *)iso;
	argv[n++] = (char *)cmd;
	if (arg)
		argv[n++] = (char *)arg;
	argv[n] = NULL;
	assert_int_equal(vmmi_run(argv, &out, NULL, &status, &err), 0);
	assert_int_equal(status, 0);
	return out;
}

static void test_iso_roundtrip(void **state)
{
	char *dir = mktmpdir();
	struct vmm_seed_spec spec = {0};
	struct vmm_error err = {0};
	static const char raw[] = "#cloud-config\nhostname: iso\n\0\xff\n";
	char *iso = vmmi_path_join(dir, "seed.iso");
	char *out, *ud_out = vmmi_path_join(dir, "ud.out"), *md_out = vmmi_path_join(dir, "md.out");
	char *data = NULL, *argv[12];
	size_t len;
	struct stat st;
	int status = -1;

	(void)state;
	spec.user_data = raw;
	spec.user_data_len = sizeof(raw) - 1;
	spec.hostname = "iso";
	spec.instance_id = "iid-iso";
	assert_int_equal(vmm_cloudinit_write_seed(&spec, iso, &err), 0);
	assert_int_equal(stat(iso, &st), 0);
	assert_int_equal(st.st_size % 2048, 0);

	/* names under Rock Ridge and under Joliet */
	out = xorriso(iso, "rr", "-find", "/");
	assert_non_null(strstr(out, "'/user-data'"));
	assert_non_null(strstr(out, "'/meta-data'"));
	free(out);
	out = xorriso(iso, "joliet", "-find", "/");
	assert_non_null(strstr(out, "'/user-data'"));
	assert_non_null(strstr(out, "'/meta-data'"));
	free(out);
	{
		/* the Joliet directory records themselves, as isoinfo prints them */
		char *errout = NULL;

		argv[0] = "isoinfo";
		argv[1] = "-J";
		argv[2] = "-l";
		argv[3] = "-i";
		argv[4] = iso;
		argv[5] = NULL;
		/* isoinfo is in tools/deps.txt (genisoimage): its absence fails */
		assert_int_equal(vmmi_run(argv, &out, &errout, &status, &err), 0);
		assert_int_equal(status, 0);
		assert_non_null(strstr(out, "]  user-data \n"));
		assert_non_null(strstr(out, "]  meta-data \n"));
		free(out);
		free(errout);
	}

	/* the label */
	{
		char *errout = NULL;

		argv[0] = "xorriso";
		argv[1] = "-indev";
		argv[2] = iso;
		argv[3] = "-pvd_info";
		argv[4] = NULL;
		assert_int_equal(vmmi_run(argv, &out, &errout, &status, &err), 0);
		assert_int_equal(status, 0);
		/* lower case, exactly: the label guests look for */
		assert_true(strstr(out, "Volume Id    : cidata\n") ||
			    strstr(errout, "Volume id    : 'cidata'\n"));
		free(out);
		free(errout);
	}

	/* the bytes */
	argv[0] = "xorriso";
	argv[1] = "-osirrox";
	argv[2] = "on";
	argv[3] = "-indev";
	argv[4] = iso;
	argv[5] = "-extract";
	argv[6] = "/user-data";
	argv[7] = ud_out;
	argv[8] = "-extract";
	argv[9] = "/meta-data";
	argv[10] = md_out;
	argv[11] = NULL;
	assert_int_equal(vmmi_run(argv, NULL, NULL, &status, &err), 0);
	assert_int_equal(status, 0);
	assert_int_equal(vmmi_read_file(ud_out, &data, &len, &err), 0);
	assert_int_equal(len, sizeof(raw) - 1);
	assert_memory_equal(data, raw, len);
	free(data);
	assert_int_equal(vmmi_read_file(md_out, &data, &len, &err), 0);
	assert_string_equal(data, "instance-id: \"iid-iso\"\nlocal-hostname: \"iso\"\n");
	free(data);

	/* rewriting replaces it atomically: no temp files left */
	assert_int_equal(vmm_cloudinit_write_seed(&spec, iso, &err), 0);
	{
		char *cmd = vmmi_asprintf("ls -A '%s' | grep -c tmp", dir);
		FILE *p = popen(cmd, "r");
		int c = -1;

		assert_non_null(p);
		assert_int_equal(fscanf(p, "%d", &c), 1);
		pclose(p);
		assert_int_equal(c, 0);
		free(cmd);
	}

	/* an unwritable place is a clear VMM_E_ISO */
	assert_true(vmm_cloudinit_write_seed(&spec, "/nonexistent-vmctl/seed.iso", &err) < 0);
	assert_int_equal(err.code, VMM_E_ISO);
	assert_non_null(strstr(err.message, "/nonexistent-vmctl/seed.iso"));

	free(iso);
	free(ud_out);
	free(md_out);
	rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quote),
		cmocka_unit_test(test_quote_rejects_invalid_utf8),
		cmocka_unit_test(test_generated_shape),
		cmocka_unit_test(test_hostile_values_roundtrip),
		cmocka_unit_test(test_defaults_and_multiple_keys),
		cmocka_unit_test(test_mounts),
		cmocka_unit_test(test_invalid_inputs),
		cmocka_unit_test(test_instance_id),
		cmocka_unit_test(test_raw_user_data_untouched),
		cmocka_unit_test(test_iso_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
