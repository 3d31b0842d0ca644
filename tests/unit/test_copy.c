/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: the copy module (vmm/copy.h): the scp-notation operands, and
 * copies both ways against a real OpenSSH sshd started here (the "guest" is
 * this machine over SFTP, in its own directory).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sshd_fixture.h"
#include "tmpdir.h"
#include "vmm/copy.h"
#include "vmm/error.h"
#include "vmm/ssh.h"

static struct sshd_fixture fx;

static void show(const struct vmm_error *err)
{
	if (getenv("VMCTL_TEST_VERBOSE"))
		fprintf(stderr, "  error[%s]: %s\n  help: %s\n", vmm_errcode_name(err->code),
			err->message, err->hint);
}

static int group_setup(void **state)
{
	(void)state;
	return fx_start(&fx);
}

static int group_teardown(void **state)
{
	(void)state;
	fx_free(&fx);
	return 0;
}

static struct vmm_ssh *connect_ok(void)
{
	struct vmm_ssh_config c = {0};
	struct vmm_ssh *s = NULL;
	struct vmm_error err;

	c.port = fx.port;
	c.user = fx.user;
	c.key_path = fx.client_key;
	c.known_hosts = fx.known_hosts;
	c.known_hosts_name = "vmctl-test";
	assert_int_equal(fx_pin(&fx, "vmctl-test", fx.host_key), 0);
	if (vmm_ssh_connect(&c, &s, &err) < 0)
		fail_msg("connect: %s (%s)", err.message, err.hint);
	return s;
}

/* Run a shell command line here; its exit status. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	va_list ap;
	char cmd[2048];

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	char *argv[] = {"/bin/sh", "-c", cmd, NULL};

	return fx_run(argv);
}

static void test_parse_operand(void **state)
{
	struct vmm_copy_operand op;
	struct vmm_error err;

	(void)state;
	assert_int_equal(vmm_copy_parse_operand("web:/tmp/x", &op, &err), 0);
	assert_string_equal(op.vm, "web");
	assert_string_equal(op.path, "/tmp/x");
	vmm_copy_operand_release(&op);
	/* an empty guest path is the login directory */
	assert_int_equal(vmm_copy_parse_operand("db-1:", &op, &err), 0);
	assert_string_equal(op.vm, "db-1");
	assert_string_equal(op.path, ".");
	vmm_copy_operand_release(&op);
	assert_int_equal(vmm_copy_parse_operand("web:rel/a:b", &op, &err), 0);
	assert_string_equal(op.vm, "web");
	assert_string_equal(op.path, "rel/a:b");
	vmm_copy_operand_release(&op);
	/* host paths: no colon, a '/' before it, or a leading colon */
	const char *local[] = {"file.txt", "./a:b", "/abs/a:b", "dir/x:y", ":x", "a/"};

	for (size_t i = 0; i < sizeof(local) / sizeof(*local); i++) {
		assert_int_equal(vmm_copy_parse_operand(local[i], &op, &err), 0);
		assert_null(op.vm);
		assert_string_equal(op.path, local[i]);
		vmm_copy_operand_release(&op);
	}
	assert_true(vmm_copy_parse_operand("bad name:x", &op, &err) < 0);
	assert_int_equal(err.code, VMM_E_VM_INVALID_NAME);
	assert_non_null(strstr(err.hint, "./PATH"));
	assert_null(op.vm);
	assert_true(vmm_copy_parse_operand(".hidden:x", &op, &err) < 0);
	assert_true(vmm_copy_parse_operand("", &op, &err) < 0);
	assert_int_equal(err.code, VMM_E_USAGE);
}

static void test_parse_pair(void **state)
{
	struct vmm_copy_operand a, b;
	struct vmm_error err;

	(void)state;
	assert_int_equal(vmm_copy_parse_pair("./app.tar", "web:/tmp/", &a, &b, &err), 0);
	assert_null(a.vm);
	assert_string_equal(b.vm, "web");
	vmm_copy_operand_release(&a);
	vmm_copy_operand_release(&b);
	assert_int_equal(vmm_copy_parse_pair("web:/var/log/syslog", "./logs/", &a, &b, &err), 0);
	assert_string_equal(a.vm, "web");
	assert_null(b.vm);
	vmm_copy_operand_release(&a);
	vmm_copy_operand_release(&b);
	assert_true(vmm_copy_parse_pair("a", "b", &a, &b, &err) < 0);
	assert_int_equal(err.code, VMM_E_USAGE);
	assert_non_null(strstr(err.message, "neither"));
	assert_true(vmm_copy_parse_pair("w1:a", "w2:b", &a, &b, &err) < 0);
	assert_int_equal(err.code, VMM_E_USAGE);
	assert_non_null(strstr(err.hint, "host"));
	assert_null(a.path);
	assert_null(b.path);
	assert_true(vmm_copy_parse_pair("w1:a", "bad name:b", &a, &b, &err) < 0);
	assert_int_equal(err.code, VMM_E_VM_INVALID_NAME);
}

static void progress(const struct vmm_copy_progress *p, void *userdata)
{
	unsigned *finished = userdata;

	assert_true(p->done <= p->total);
	if (p->finished)
		(*finished)++;
}

/* A file both ways: content, mode, "into" a directory, a new name, and
 * replacing an existing file. */
static void test_file_both_ways(void **state)
{
	struct vmm_ssh *s = connect_ok();
	char *d = mktmpdir_prefix("vmctl-copy");
	struct vmm_error err;
	unsigned finished = 0;
	unsigned long long files = 0, bytes = 0;
	struct vmm_copy_opts o = {false, progress, &finished, &files, &bytes};
	char src[512], dst[512];

	(void)state;
	assert_int_equal(sh("cd %s && mkdir host guest back && "
			    "head -c 3000000 /dev/urandom > host/f.bin && chmod 0751 host/f.bin",
			    d),
			 0);
	snprintf(src, sizeof(src), "%s/host/f.bin", d);
	snprintf(dst, sizeof(dst), "%s/guest/", d);
	assert_int_equal(vmm_copy_to_guest(s, src, dst, &o, &err), 0);
	assert_int_equal(finished, 1);
	assert_int_equal(files, 1);
	assert_int_equal(bytes, 3000000);
	assert_int_equal(sh("cd %s && cmp host/f.bin guest/f.bin && "
			    "test \"$(stat -c %%a guest/f.bin)\" = 751",
			    d),
			 0);
	/* to a new name, then over an existing file */
	snprintf(dst, sizeof(dst), "%s/guest/g.bin", d);
	assert_int_equal(vmm_copy_to_guest(s, src, dst, NULL, &err), 0);
	assert_int_equal(sh("echo old > %s/back/g.bin", d), 0);
	snprintf(src, sizeof(src), "%s/guest/g.bin", d);
	snprintf(dst, sizeof(dst), "%s/back", d);
	assert_int_equal(vmm_copy_from_guest(s, src, dst, NULL, &err), 0);
	assert_int_equal(sh("cd %s && cmp host/f.bin back/g.bin && "
			    "test \"$(stat -c %%a back/g.bin)\" = 751",
			    d),
			 0);
	/* no temporary names left anywhere */
	assert_int_equal(sh("test -z \"$(find %s -name '.*vmctl-*')\"", d), 0);
	vmm_ssh_free(s);
	rmtree(d);
}

static void test_tree_both_ways(void **state)
{
	struct vmm_ssh *s = connect_ok();
	char *d = mktmpdir_prefix("vmctl-copy");
	struct vmm_error err;
	struct vmm_copy_opts o = {.recursive = true};
	char src[512], dst[512];

	(void)state;
	assert_int_equal(sh("cd %s && mkdir -p host/t/a/b host/t/empty guest back && "
			    "echo one > host/t/one && printf '' > host/t/a/zero && "
			    "head -c 70000 /dev/urandom > host/t/a/b/rand && chmod 0700 host/t/a && "
			    "chmod 0555 host/t/a/b && chmod 0640 host/t/one && "
			    "ln -s ../one host/t/a/link && ln -s /nonexistent host/t/dangling",
			    d),
			 0);
	snprintf(src, sizeof(src), "%s/host/t", d);
	snprintf(dst, sizeof(dst), "%s/guest", d);
	assert_int_equal(vmm_copy_to_guest(s, src, dst, &o, &err), 0);
	snprintf(src, sizeof(src), "%s/guest/t", d);
	snprintf(dst, sizeof(dst), "%s/back/t2", d);
	assert_int_equal(vmm_copy_from_guest(s, src, dst, &o, &err), 0);
	/* same names, contents, links and modes on both sides */
	assert_int_equal(sh("cd %s && diff -r --no-dereference host/t guest/t && "
			    "diff -r --no-dereference host/t back/t2 && "
			    "test \"$(readlink back/t2/a/link)\" = ../one && "
			    "test \"$(readlink guest/t/dangling)\" = /nonexistent && "
			    "(cd host/t && find . -printf '%%p %%m %%y\\n' | sort) > m1 && "
			    "(cd guest/t && find . -printf '%%p %%m %%y\\n' | sort) > m2 && "
			    "(cd back/t2 && find . -printf '%%p %%m %%y\\n' | sort) > m3 && "
			    "cmp m1 m2 && cmp m1 m3",
			    d),
			 0);
	/* again into the existing tree: it is merged, files replaced */
	assert_int_equal(sh("echo two > %s/host/t/one", d), 0);
	snprintf(src, sizeof(src), "%s/host/t", d);
	snprintf(dst, sizeof(dst), "%s/guest/", d);
	if (vmm_copy_to_guest(s, src, dst, &o, &err) < 0)
		fail_msg("%s (%s)", err.message, err.hint);
	assert_int_equal(sh("cd %s && cmp host/t/one guest/t/one && "
			    "test -z \"$(find . -name '.*vmctl-*')\"",
			    d),
			 0);
	assert_int_equal(sh("chmod -R u+w %s", d), 0);
	vmm_ssh_free(s);
	rmtree(d);
}

static void test_errors(void **state)
{
	struct vmm_ssh *s = connect_ok();
	char *d = mktmpdir_prefix("vmctl-copy");
	struct vmm_error err;
	struct vmm_copy_opts rec = {.recursive = true};
	char a[512], b[512];

	(void)state;
	assert_int_equal(sh("cd %s && mkdir -p dir/sub out && echo x > dir/f && echo y > file && "
			    "mkfifo dir/sub/fifo",
			    d),
			 0);
	/* a missing source, both ways */
	snprintf(a, sizeof(a), "%s/missing", d);
	snprintf(b, sizeof(b), "%s/out/", d);
	assert_true(vmm_copy_to_guest(s, a, b, NULL, &err) < 0);
	show(&err);
	assert_int_equal(err.code, VMM_E_IO);
	assert_non_null(strstr(err.message, "on the host does not exist"));
	assert_non_null(strstr(err.message, a));
	assert_true(vmm_copy_from_guest(s, a, b, NULL, &err) < 0);
	show(&err);
	assert_non_null(strstr(err.message, "in the guest does not exist"));
	assert_non_null(strstr(err.hint, "home directory"));
	/* a directory without recursive */
	snprintf(a, sizeof(a), "%s/dir", d);
	assert_true(vmm_copy_from_guest(s, a, b, NULL, &err) < 0);
	show(&err);
	assert_int_equal(err.code, VMM_E_USAGE);
	assert_non_null(strstr(err.hint, "-r"));
	/* a destination directory that does not exist: "into" or as a name */
	snprintf(a, sizeof(a), "%s/file", d);
	snprintf(b, sizeof(b), "%s/nodir/", d);
	assert_true(vmm_copy_to_guest(s, a, b, NULL, &err) < 0);
	show(&err);
	assert_non_null(strstr(err.message, "destination directory"));
	assert_non_null(strstr(err.hint, "trailing '/'"));
	snprintf(b, sizeof(b), "%s/nodir/x", d);
	assert_true(vmm_copy_from_guest(s, a, b, NULL, &err) < 0);
	show(&err);
	assert_non_null(strstr(err.message, "nodir' on the host does not exist"));
	/* "into" a file */
	snprintf(b, sizeof(b), "%s/file/", d);
	assert_true(vmm_copy_to_guest(s, a, b, NULL, &err) < 0);
	assert_non_null(strstr(err.message, "not a directory"));
	/* a file over a directory */
	assert_int_equal(sh("mkdir -p %s/out/file", d), 0);
	snprintf(b, sizeof(b), "%s/out", d);
	assert_true(vmm_copy_to_guest(s, a, b, NULL, &err) < 0);
	show(&err);
	assert_non_null(strstr(err.message, "cannot replace the directory"));
	/* a special file in a tree: an error naming it, no temporary left */
	snprintf(a, sizeof(a), "%s/dir", d);
	snprintf(b, sizeof(b), "%s/out/copy", d);
	assert_true(vmm_copy_to_guest(s, a, b, &rec, &err) < 0);
	show(&err);
	assert_non_null(strstr(err.message, "fifo"));
	assert_int_equal(sh("test -z \"$(find %s -name '.*vmctl-*')\"", d), 0);
	vmm_ssh_free(s);
	rmtree(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_operand),
		cmocka_unit_test(test_parse_pair),
		cmocka_unit_test(test_file_both_ways),
		cmocka_unit_test(test_tree_both_ways),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
