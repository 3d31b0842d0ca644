/* SPDX-License-Identifier: MIT */
/* Unit tests: the core helpers' contracts, above all what a failed call
 * leaves in its outputs (NULL / -1, never a stale pointer). */
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

#include "core/util.h"
#include "tmpdir.h"

/* vmmi_set_str replaces the string with a copy, or with NULL. */
static void test_set_str(void **state)
{
	struct vmm_error err;
	char src[] = "first";
	char *s = NULL;

	(void)state;
	assert_int_equal(vmmi_set_str(&s, src, &err), 0);
	assert_non_null(s);
	assert_ptr_not_equal(s, src);
	assert_string_equal(s, "first");
	assert_int_equal(vmmi_set_str(&s, "second", &err), 0);
	assert_string_equal(s, "second");
	assert_int_equal(vmmi_set_str(&s, NULL, &err), 0);
	assert_null(s);
}

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

/* The text of a small file ("" if it cannot be read). */
static void slurp(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f) {
		n = fread(buf, 1, size - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Links planted at every name a temporary file of the old scheme could have
 * (PATH.tmp.<pid>, this process's pid and the ones around it), and at the
 * target itself: the write goes to the target, and no victim changes. */
static void test_atomic_write_ignores_planted_links(void **state)
{
	char *dir = mktmpdir_prefix("vmctl-util"), *path = vmmi_path_join(dir, "vms.json");
	char *victim = vmmi_path_join(dir, "victim"), *absent = vmmi_path_join(dir, "absent");
	char *target_victim = vmmi_path_join(dir, "victim2"), buf[64];
	struct vmm_error err = {0};
	long pid = (long)getpid();
	struct stat sb;
	mode_t old;

	(void)state;
	old = umask(022);
	put(victim, "precious");
	put(target_victim, "precious too");
	for (long p = pid - 64; p <= pid + 64; p++) {
		char *tmp = vmmi_asprintf("%s.tmp.%ld", path, p);

		assert_non_null(tmp);
		assert_int_equal(symlink(p % 2 ? victim : absent, tmp), 0);
		free(tmp);
	}
	assert_int_equal(vmmi_write_file_atomic(path, "new", 3, 0600, &err), 0);
	slurp(victim, buf, sizeof(buf));
	assert_string_equal(buf, "precious");
	assert_int_equal(access(absent, F_OK), -1); /* not created through a link */
	slurp(path, buf, sizeof(buf));
	assert_string_equal(buf, "new");
	assert_int_equal(lstat(path, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_mode & 0777, 0600);
	/* a link at the target itself is replaced, not written through */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink(target_victim, path), 0);
	assert_int_equal(vmmi_write_file_atomic(path, "pub", 3, 0644, &err), 0);
	slurp(target_victim, buf, sizeof(buf));
	assert_string_equal(buf, "precious too");
	assert_int_equal(lstat(path, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_mode & 0777, 0644);
	umask(old);
	free(path);
	free(victim);
	free(absent);
	free(target_victim);
	rmtree(dir);
}

/* A lock file that is a symbolic link is refused, whether its target
 * exists or not (O_CREAT would create it), and the target is untouched. */
static void test_lock_refuses_symlink(void **state)
{
	char *dir = mktmpdir_prefix("vmctl-util"), *lock = vmmi_path_join(dir, "store.lock");
	char *victim = vmmi_path_join(dir, "victim"), *absent = vmmi_path_join(dir, "absent");
	struct vmm_error err = {0};
	char buf[64];
	int fd;

	(void)state;
	put(victim, "precious");
	assert_int_equal(symlink(victim, lock), 0);
	assert_true(vmmi_lock_path(lock, &err) < 0);
	assert_int_equal(err.code, VMM_E_LOCK);
	assert_non_null(strstr(err.message, "store.lock"));
	assert_non_null(strstr(err.message, "symbolic link"));
	assert_true(strlen(err.hint) > 0);
	slurp(victim, buf, sizeof(buf));
	assert_string_equal(buf, "precious");
	assert_int_equal(unlink(lock), 0);
	assert_int_equal(symlink(absent, lock), 0);
	assert_true(vmmi_lock_path(lock, &err) < 0);
	assert_int_equal(access(absent, F_OK), -1);
	/* a plain lock file works */
	assert_int_equal(unlink(lock), 0);
	fd = vmmi_lock_path(lock, &err);
	assert_true(fd >= 0);
	vmmi_unlock(fd);
	free(lock);
	free(victim);
	free(absent);
	rmtree(dir);
}

/* rm -rf of a tree with links in it to a victim directory and file, and of
 * a link itself: the links go, what they point at stays. */
static void test_rm_rf_never_follows_links(void **state)
{
	char *dir = mktmpdir_prefix("vmctl-util");
	char *victim = vmmi_path_join(dir, "victim"), *vfile = vmmi_path_join(dir, "victim/f");
	char *top = vmmi_path_join(dir, "top"), *sub = vmmi_path_join(dir, "top/a/b");
	char *l1 = vmmi_path_join(dir, "top/link"), *l2 = vmmi_path_join(dir, "top/a/file");
	char *l3 = vmmi_path_join(dir, "top/a/b/dangling"), *f = vmmi_path_join(dir, "top/a/b/x");
	char *ltop = vmmi_path_join(dir, "ltop"), *slash = vmmi_path_join(dir, "top/");
	struct vmm_error err = {0};
	char buf[64];

	(void)state;
	assert_int_equal(vmmi_mkdir_p(victim, 0700, &err), 0);
	put(vfile, "precious");
	assert_int_equal(vmmi_mkdir_p(sub, 0700, &err), 0);
	put(f, "x");
	assert_int_equal(symlink(victim, l1), 0);
	assert_int_equal(symlink(vfile, l2), 0);
	assert_int_equal(symlink("../../../victim", l3), 0);
	assert_int_equal(vmmi_rm_rf(slash, &err), 0);
	assert_int_equal(access(top, F_OK), -1);
	slurp(vfile, buf, sizeof(buf));
	assert_string_equal(buf, "precious");
	/* the top itself a link: the link is removed */
	assert_int_equal(symlink(victim, ltop), 0);
	assert_int_equal(vmmi_rm_rf(ltop, &err), 0);
	assert_int_equal(access(ltop, F_OK), -1);
	slurp(vfile, buf, sizeof(buf));
	assert_string_equal(buf, "precious");
	/* absent: success */
	assert_int_equal(vmmi_rm_rf(top, &err), 0);
	free(victim);
	free(vfile);
	free(top);
	free(sub);
	free(l1);
	free(l2);
	free(l3);
	free(f);
	free(ltop);
	free(slash);
	rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_str),
		cmocka_unit_test(test_run_captures_output),
		cmocka_unit_test(test_run_failure_resets_outputs),
		cmocka_unit_test(test_read_file_failure_resets_outputs),
		cmocka_unit_test(test_read_file_reads_whole_file),
		cmocka_unit_test(test_atomic_write_ignores_planted_links),
		cmocka_unit_test(test_lock_refuses_symlink),
		cmocka_unit_test(test_rm_rf_never_follows_links),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
