/* SPDX-License-Identifier: MIT */
/* Unit tests for lib/keys.c: Ed25519 keypairs, key files, known_hosts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libssh/libssh.h>

#include "tmpdir.h"
#include "core/util.h"
#include "vmm/keys.h"

static char *mktmpdir(void)
{
	return mktmpdir_prefix("vmm-keys");
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* First two fields ("type base64") of a key line. */
static char *key_fields(const char *line)
{
	const char *sp = strchr(line, ' ');
	const char *end;

	assert_non_null(sp);
	end = strpbrk(sp + 1, " \n");
	return strndup(line, end ? (size_t)(end - line) : strlen(line));
}

static void test_generate_in_memory(void **state)
{
	struct vmm_keypair kp = {0};
	struct vmm_error err = {0};
	ssh_key priv = NULL, pub = NULL;
	char *type = NULL, *b64 = NULL;

	(void)state;
	assert_int_equal(vmm_keypair_generate(&kp, "vmctl@web", &err), 0);
	assert_non_null(strstr(kp.private_openssh, "-----BEGIN OPENSSH PRIVATE KEY-----\n"));
	assert_non_null(strstr(kp.private_openssh, "-----END OPENSSH PRIVATE KEY-----\n"));
	assert_int_equal(strncmp(kp.public_line, "ssh-ed25519 AAAA", 16), 0);
	assert_non_null(strstr(kp.public_line, " vmctl@web"));
	assert_null(strchr(kp.public_line, '\n'));

	/* the private key loads back with libssh and matches the public line */
	assert_int_equal(ssh_pki_import_privkey_base64(kp.private_openssh, NULL, NULL, NULL, &priv),
			 SSH_OK);
	assert_int_equal(ssh_key_type(priv), SSH_KEYTYPE_ED25519);
	assert_int_equal(vmm_pubkey_parse(kp.public_line, &type, &b64, &err), 0);
	assert_string_equal(type, "ssh-ed25519");
	assert_int_equal(ssh_pki_import_pubkey_base64(b64, SSH_KEYTYPE_ED25519, &pub), SSH_OK);
	assert_int_equal(ssh_key_cmp(priv, pub, SSH_KEY_CMP_PUBLIC), 0);

	/* two keys are different */
	{
		struct vmm_keypair kp2 = {0};

		assert_int_equal(vmm_keypair_generate(&kp2, NULL, &err), 0);
		assert_string_not_equal(kp.public_line, kp2.public_line);
		assert_null(strchr(strchr(kp2.public_line, ' ') + 1, ' ')); /* no comment */
		vmm_keypair_release(&kp2);
	}
	ssh_key_free(priv);
	ssh_key_free(pub);
	free(type);
	free(b64);
	vmm_keypair_release(&kp);
	vmm_keypair_release(&kp); /* twice is harmless */
	vmm_keypair_release(NULL);
}

static void test_comment_with_newline_refused(void **state)
{
	struct vmm_keypair kp = {0};
	struct vmm_error err = {0};

	(void)state;
	assert_true(vmm_keypair_generate(&kp, "evil\nssh-rsa AAAA", &err) < 0);
	assert_int_equal(err.code, VMM_E_KEYGEN);
	assert_null(kp.private_openssh);
	assert_null(kp.public_line);
}

static void test_generate_vm_files(void **state)
{
	char *dir = mktmpdir();
	struct vmm_error err = {0};
	char *pub = NULL, *priv_path = NULL, *pub_path, *pub_file = NULL, *cmd, *out = NULL;
	char *argv[6];
	size_t len;
	struct stat st;
	ssh_key priv = NULL;
	int status = -1;
	char *a, *b;

	(void)state;
	assert_int_equal(vmm_keys_generate_vm(dir, "vmctl@test", &pub, &priv_path, &err), 0);
	cmd = vmmi_path_join(dir, VMM_GENERATED_KEY_NAME);
	assert_string_equal(priv_path, cmd);
	free(cmd);
	pub_path = vmmi_asprintf("%s.pub", priv_path);

	assert_int_equal(stat(priv_path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(pub_path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);

	assert_int_equal(vmmi_read_file(pub_path, &pub_file, &len, &err), 0);
	assert_int_equal(len, strlen(pub) + 1);
	assert_int_equal(strncmp(pub_file, pub, strlen(pub)), 0);
	assert_int_equal(pub_file[len - 1], '\n');

	/* libssh loads the file */
	assert_int_equal(ssh_pki_import_privkey_file(priv_path, NULL, NULL, NULL, &priv), SSH_OK);
	ssh_key_free(priv);

	/* OpenSSH derives the same public key from it */
	argv[0] = "ssh-keygen";
	argv[1] = "-y";
	argv[2] = "-f";
	argv[3] = priv_path;
	argv[4] = NULL;
	assert_int_equal(vmmi_run(argv, &out, NULL, &status, &err), 0);
	assert_int_equal(status, 0);
	a = key_fields(out);
	b = key_fields(pub);
	assert_string_equal(a, b);
	free(a);
	free(b);

	/* regenerating replaces the pair */
	{
		char *pub2 = NULL;

		assert_int_equal(vmm_keys_generate_vm(dir, NULL, &pub2, NULL, &err), 0);
		assert_string_not_equal(pub, pub2);
		free(pub2);
	}

	free(out);
	free(pub_file);
	free(pub_path);
	free(priv_path);
	free(pub);
	rmtree(dir);
}

static void test_write_to_missing_dir_fails(void **state)
{
	struct vmm_keypair kp = {0};
	struct vmm_error err = {0};

	(void)state;
	assert_int_equal(vmm_keypair_generate(&kp, NULL, &err), 0);
	assert_true(vmm_keypair_write(&kp, "/nonexistent-dir-vmctl/key", &err) < 0);
	assert_int_equal(err.code, VMM_E_IO);
	assert_non_null(strstr(err.message, "/nonexistent-dir-vmctl/key"));
	vmm_keypair_release(&kp);
}

static void test_known_hosts_line(void **state)
{
	struct vmm_keypair kp = {0};
	struct vmm_error err = {0};
	char *line = NULL, *expect, *fields;

	(void)state;
	assert_int_equal(vmm_keypair_generate(&kp, "a comment", &err), 0);
	fields = key_fields(kp.public_line);

	assert_int_equal(vmm_known_hosts_line("127.0.0.1", 2222, kp.public_line, &line, &err), 0);
	expect = vmmi_asprintf("[127.0.0.1]:2222 %s", fields);
	assert_string_equal(line, expect);
	free(expect);
	free(line);

	assert_int_equal(vmm_known_hosts_line("guest", 22, kp.public_line, &line, &err), 0);
	expect = vmmi_asprintf("guest %s", fields);
	assert_string_equal(line, expect);
	free(expect);
	free(line);

	assert_true(vmm_known_hosts_line("127.0.0.1", 2222, "ssh-ed25519 notbase64!", &line,
					 &err) < 0);
	assert_int_equal(err.code, VMM_E_CLOUDINIT);
	assert_null(line);
	assert_true(vmm_known_hosts_line("bad host", 2222, kp.public_line, &line, &err) < 0);
	assert_true(vmm_known_hosts_line("127.0.0.1", 0, kp.public_line, &line, &err) < 0);
	assert_true(vmm_known_hosts_line("127.0.0.1", 70000, kp.public_line, &line, &err) < 0);
	free(fields);
	vmm_keypair_release(&kp);
}

static void test_known_hosts_works_with_ssh_keygen(void **state)
{
	char *dir = mktmpdir();
	struct vmm_keypair kp = {0};
	struct vmm_error err = {0};
	char *line = NULL, *kh, *text, *out = NULL;
	char *argv[6];
	int status = -1;

	(void)state;
	assert_int_equal(vmm_keypair_generate(&kp, NULL, &err), 0);
	assert_int_equal(vmm_known_hosts_line("127.0.0.1", 40022, kp.public_line, &line, &err), 0);
	kh = vmmi_path_join(dir, "known_hosts");
	text = vmmi_asprintf("%s\n", line);
	write_text(kh, text);
	argv[0] = "ssh-keygen";
	argv[1] = "-F";
	argv[2] = "[127.0.0.1]:40022";
	argv[3] = "-f";
	argv[4] = kh;
	argv[5] = NULL;
	assert_int_equal(vmmi_run(argv, &out, NULL, &status, &err), 0);
	assert_int_equal(status, 0); /* found */
	free(out);
	out = NULL;
	argv[2] = "[127.0.0.1]:40023";
	assert_int_equal(vmmi_run(argv, &out, NULL, &status, &err), 0);
	assert_int_not_equal(status, 0); /* another port is another host */
	free(out);
	free(text);
	free(kh);
	free(line);
	vmm_keypair_release(&kp);
	rmtree(dir);
}

static void test_fingerprint_matches_ssh_keygen(void **state)
{
	char *dir = mktmpdir();
	struct vmm_error err = {0};
	char *pub = NULL, *priv = NULL, *fp = NULL, *out = NULL, *pub_path;
	char *argv[5];
	int status = -1;

	(void)state;
	assert_int_equal(vmm_keys_generate_vm(dir, NULL, &pub, &priv, &err), 0);
	assert_int_equal(vmm_pubkey_fingerprint(pub, &fp, &err), 0);
	assert_int_equal(strncmp(fp, "SHA256:", 7), 0);
	pub_path = vmmi_asprintf("%s.pub", priv);
	argv[0] = "ssh-keygen";
	argv[1] = "-l";
	argv[2] = "-f";
	argv[3] = pub_path;
	argv[4] = NULL;
	assert_int_equal(vmmi_run(argv, &out, NULL, &status, &err), 0);
	assert_int_equal(status, 0);
	assert_non_null(strstr(out, fp));
	free(out);
	free(pub_path);
	free(fp);
	free(priv);
	free(pub);
	rmtree(dir);
}

static void test_pubkey_file_read(void **state)
{
	char *dir = mktmpdir();
	struct vmm_keypair k1 = {0}, k2 = {0};
	struct vmm_error err = {0};
	char *path = vmmi_path_join(dir, "keys.pub");
	char *text, *lines = NULL, *expect;

	(void)state;
	assert_int_equal(vmm_keypair_generate(&k1, "one", &err), 0);
	assert_int_equal(vmm_keypair_generate(&k2, "two words", &err), 0);

	/* comments, blank lines, CRLF and surrounding blanks are dropped */
	text = vmmi_asprintf("# my keys\r\n\n  %s \r\n%s\n\n", k1.public_line, k2.public_line);
	write_text(path, text);
	assert_int_equal(vmm_pubkey_file_read(path, &lines, &err), 0);
	expect = vmmi_asprintf("%s\n%s", k1.public_line, k2.public_line);
	assert_string_equal(lines, expect);
	free(expect);
	free(lines);
	free(text);

	/* a private key is not a public key */
	write_text(path, k1.private_openssh);
	assert_true(vmm_pubkey_file_read(path, &lines, &err) < 0);
	assert_int_equal(err.code, VMM_E_CLOUDINIT);
	assert_non_null(strstr(err.message, ":1"));
	assert_non_null(strstr(err.hint, ".pub"));

	/* nothing in it */
	write_text(path, "# nothing\n\n");
	assert_true(vmm_pubkey_file_read(path, &lines, &err) < 0);
	assert_int_equal(err.code, VMM_E_CLOUDINIT);
	assert_non_null(strstr(err.message, "no SSH public key"));

	/* a missing file */
	assert_true(vmm_pubkey_file_read("/nonexistent-vmctl.pub", &lines, &err) < 0);
	assert_int_equal(err.code, VMM_E_IO);
	assert_null(lines);

	free(path);
	vmm_keypair_release(&k1);
	vmm_keypair_release(&k2);
	rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generate_in_memory),
		cmocka_unit_test(test_comment_with_newline_refused),
		cmocka_unit_test(test_generate_vm_files),
		cmocka_unit_test(test_write_to_missing_dir_fails),
		cmocka_unit_test(test_known_hosts_line),
		cmocka_unit_test(test_known_hosts_works_with_ssh_keygen),
		cmocka_unit_test(test_fingerprint_matches_ssh_keygen),
		cmocka_unit_test(test_pubkey_file_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
