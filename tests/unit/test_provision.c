/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: provisioners (inline, script, file) over a real OpenSSH sshd
 * started here; order, live output with step numbers, provision.log, and
 * the first failure stopping the run.
 */
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sshd_fixture.h"
#include "vmm/error.h"
#include "vmm/provision.h"
#include "vmm/ssh.h"

static struct sshd_fixture fx;
static struct vmm_ssh *sess;

static int group_setup(void **state)
{
	struct vmm_ssh_config c = {0};
	struct vmm_error err;

	(void)state;
	if (fx_start(&fx) < 0 || fx_pin(&fx, "vmctl-prov", fx.host_key) < 0)
		return -1;
	c.port = fx.port;
	c.user = fx.user;
	c.key_path = fx.client_key;
	c.known_hosts = fx.known_hosts;
	c.known_hosts_name = "vmctl-prov";
	if (vmm_ssh_connect(&c, &sess, &err) < 0) {
		fprintf(stderr, "connect: %s\n", err.message);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	vmm_ssh_free(sess);
	fx_free(&fx);
	return 0;
}

struct rec {
	struct vmmi_buf out; /* "B1/4 ", "O1:text", "E1:text", "X1=0 " in order */
	unsigned begins, ends;
	int last; /* tag of the last output chunk: chunks of one stream merge */
};

static void rec_begin(void *ud, unsigned step, unsigned total, const struct vmm_provision_step *s)
{
	struct rec *r = ud;

	(void)s;
	r->begins++;
	r->last = 0;
	vmmi_buf_printf(&r->out, "B%u/%u ", step, total);
}

static void rec_output(void *ud, unsigned step, enum vmm_ssh_stream stream, const char *data,
		       size_t len)
{
	struct rec *r = ud;
	int tag = (int)step * 4 + (int)stream;

	if (tag != r->last)
		vmmi_buf_printf(&r->out, "%c%u:", stream == VMM_SSH_STDOUT ? 'O' : 'E', step);
	r->last = tag;
	vmmi_buf_append(&r->out, data, len);
}

static void rec_end(void *ud, unsigned step, const struct vmm_provision_step *s, int status,
		    uint64_t ms)
{
	struct rec *r = ud;

	(void)s;
	(void)ms;
	r->ends++;
	r->last = 0;
	vmmi_buf_printf(&r->out, "X%u=%d ", step, status);
}

static char *make_file(const char *name, const char *text, mode_t mode)
{
	char *p = fx_path(&fx, name);

	assert_int_equal(fx_write(p, text), 0);
	chmod(p, mode);
	return p;
}

static char *read_text(const char *path)
{
	char *d = NULL;
	size_t len;

	if (vmmi_read_file(path, &d, &len, NULL) < 0)
		fail_msg("cannot read %s", path);
	return d;
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("'%s' not found in:\n%s", needle, hay);
}

static void test_all_kinds_in_order(void **state)
{
	char *script = make_file("setup.sh",
				 "#!/bin/sh\n"
				 "echo \"script $0\"\n"
				 "test -x \"$0\" && echo executable\n"
				 "sleep 0.2\n"
				 "echo to-stderr >&2\n"
				 "sleep 0.2\n"
				 "printf partial\n",
				 0644);
	char *src = make_file("app.conf", "key = value\n", 0640);
	char *dest = fx_path(&fx, "guest-app.conf");
	char *log = fx_path(&fx, "provision.log");
	char *check = vmmi_asprintf("stat -c %%a '%s'; cat '%s'", dest, dest);
	struct vmm_provision_step steps[] = {
		{.kind = VMM_PROVISION_STEP_INLINE, .inline_cmd = "echo inline-out; echo inline-err >&2"},
		{.kind = VMM_PROVISION_STEP_SCRIPT, .script = script},
		{.kind = VMM_PROVISION_STEP_FILE, .source = src, .destination = dest},
		{.kind = VMM_PROVISION_STEP_INLINE, .inline_cmd = check},
	};
	struct rec r;
	struct vmm_provision_callbacks cb = {rec_begin, rec_output, rec_end, &r};
	struct vmm_error err;
	char *text, *want;
	regex_t re;
	int lock, rc;

	(void)state;
	vmmi_buf_init(&r.out);
	r.begins = r.ends = 0;
	r.last = 0;
	unlink(log);
	/* The script goes to the fixed /tmp/vmctl-provision-2.sh: keep
	 * concurrent runs of this test apart, and remove it afterwards so no
	 * stale file of one user blocks another. */
	{
		char *lp = vmmi_asprintf("/tmp/vmctl-provision-test-%u.lock", (unsigned)getuid());

		lock = vmmi_lock_path(lp, NULL);
		free(lp);
	}
	rc = vmm_provision_run(sess, steps, 4, log, &cb, &err);
	{
		int st = -1;

		vmm_ssh_exec(sess, "rm -f /tmp/vmctl-provision-2.sh", NULL, NULL, &st, NULL);
	}
	vmmi_unlock(lock);
	if (rc < 0)
		fail_msg("%s", err.message);
	assert_int_equal(r.begins, 4);
	assert_int_equal(r.ends, 4);
	/* Steps in order, each output tagged with its step. */
	want = vmmi_asprintf("B1/4 O1:inline-out\nE1:inline-err\nX1=0 "
			     "B2/4 O2:script /tmp/vmctl-provision-2.sh\nexecutable\n"
			     "E2:to-stderr\nO2:partialX2=0 "
			     "B3/4 X3=0 "
			     "B4/4 O4:640\nkey = value\nX4=0 ");
	assert_string_equal(r.out.data, want);
	free(want);
	/* provision.log: timestamped lines, step headers, output, results. */
	text = read_text(log);
	if (getenv("VMCTL_TEST_VERBOSE"))
		fprintf(stderr, "%s", text);
	assert_contains(text, "=== step 1/4: shell inline 'echo inline-out; echo inline-err >&2'\n");
	assert_contains(text, "[1] out: inline-out\n");
	assert_contains(text, "[1] err: inline-err\n");
	assert_contains(text, "=== step 2/4: shell script ");
	assert_contains(text, "[2] uploaded ");
	assert_contains(text, "[2] out: executable\n");
	assert_contains(text, "[2] err: to-stderr\n");
	assert_contains(text, "[2] out: partial\n");
	assert_contains(text, "=== step 3/4: file ");
	assert_contains(text, "[4] out: key = value\n");
	assert_contains(text, "=== provisioning done: 4 steps");
	assert_int_equal(regcomp(&re,
				 "^([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
				 "[^\n]*\n)+$",
				 REG_EXTENDED),
			 0);
	assert_int_equal(regexec(&re, text, 0, NULL, 0), 0);
	regfree(&re);
	free(text);
	/* A second run appends to the log. */
	assert_int_equal(vmm_provision_run(sess, steps, 1, log, NULL, &err), 0);
	{
		char *again = NULL;
		size_t len = 0;
		const char *p1, *p2;

		assert_int_equal(vmmi_read_file(log, &again, &len, NULL), 0);
		p1 = strstr(again, "provisioning done: 4 steps");
		p2 = strstr(again, "provisioning done: 1 step");
		assert_true(p1 && p2 && p1 < p2);
		free(again);
	}
	vmmi_buf_release(&r.out);
	free(script);
	free(src);
	free(dest);
	free(log);
	free(check);
}

static void test_failure_stops_at_step(void **state)
{
	char *marker = fx_path(&fx, "marker"), *log = fx_path(&fx, "fail.log");
	char *touch = vmmi_asprintf("touch '%s'", marker);
	struct vmm_provision_step steps[] = {
		{.kind = VMM_PROVISION_STEP_INLINE, .inline_cmd = "true"},
		{.kind = VMM_PROVISION_STEP_INLINE, .inline_cmd = "echo before; exit 3"},
		{.kind = VMM_PROVISION_STEP_INLINE, .inline_cmd = touch},
	};
	struct rec r;
	struct vmm_provision_callbacks cb = {rec_begin, rec_output, rec_end, &r};
	struct vmm_error err;
	char *text;

	(void)state;
	vmmi_buf_init(&r.out);
	r.begins = r.ends = 0;
	r.last = 0;
	assert_int_equal(vmm_provision_run(sess, steps, 3, log, &cb, &err), -(int)VMM_E_PROVISION);
	if (getenv("VMCTL_TEST_VERBOSE"))
		fprintf(stderr, "  error: %s\n  help: %s\n", err.message, err.hint);
	assert_int_equal(err.code, VMM_E_PROVISION);
	assert_string_equal(err.message,
			    "provision step 2 (shell inline 'echo before; exit 3') failed with exit "
			    "status 3");
	assert_int_equal(r.ends, 2);
	assert_string_equal(r.out.data, "B1/3 X1=0 B2/3 O2:before\nX2=3 ");
	assert_int_equal(access(marker, F_OK), -1);
	text = read_text(log);
	assert_contains(text, "[2] out: before\n");
	assert_contains(text, "=== step 2/3 failed with exit status 3");
	assert_contains(text, "=== provisioning stopped at step 2/3");
	assert_null(strstr(text, "step 3/3"));
	free(text);
	vmmi_buf_release(&r.out);
	free(marker);
	free(log);
	free(touch);
}

static void test_script_and_file_failures(void **state)
{
	char *script = make_file("fail.sh", "#!/bin/sh\necho failing\nexit 5\n", 0600);
	char *src = make_file("payload.txt", "data\n", 0644);
	char *remote = fx_path(&fx, "remote-fail.sh");
	struct vmm_provision_step s1[] = {
		{.kind = VMM_PROVISION_STEP_FILE, .source = src, .destination = "/tmp"},
		{.kind = VMM_PROVISION_STEP_SCRIPT, .script = script, .remote_script = remote},
	};
	struct vmm_provision_step s2[] = {
		{.kind = VMM_PROVISION_STEP_FILE, .source = src, .destination = "/nonexistent-dir/x"},
	};
	struct vmm_provision_step s3[] = {
		{.kind = VMM_PROVISION_STEP_INLINE, .inline_cmd = "true"},
		{.kind = VMM_PROVISION_STEP_FILE, .source = src, .destination = "relative/path"},
	};
	struct vmm_error err;
	char *want;

	(void)state;
	/* Uploading onto a directory fails at step 1. */
	assert_int_equal(vmm_provision_run(sess, s1, 2, NULL, NULL, &err), -(int)VMM_E_PROVISION);
	assert_contains(err.message, "provision step 1 (file ");
	/* A failing script: its number, kind and exit status. */
	assert_int_equal(vmm_provision_run(sess, s1 + 1, 1, NULL, NULL, &err),
			 -(int)VMM_E_PROVISION);
	want = vmmi_asprintf("provision step 1 (shell script %s) failed with exit status 5", script);
	assert_string_equal(err.message, want);
	free(want);
	assert_int_equal(access(remote, X_OK), 0);
	free(remote);
	/* A missing destination directory. */
	assert_int_equal(vmm_provision_run(sess, s2, 1, NULL, NULL, &err), -(int)VMM_E_PROVISION);
	if (getenv("VMCTL_TEST_VERBOSE"))
		fprintf(stderr, "  error: %s\n  help: %s\n", err.message, err.hint);
	assert_contains(err.message, "provision step 1 (file ");
	assert_contains(err.message, "-> /nonexistent-dir/x) failed: ");
	assert_contains(err.message, "no such file");
	/* An incomplete step is refused before anything runs. */
	assert_int_equal(vmm_provision_run(sess, s3, 2, NULL, NULL, &err), -(int)VMM_E_USAGE);
	assert_contains(err.message, "provision step 2 (file) is incomplete");
	/* A log that cannot be opened is an error before anything runs. */
	assert_int_equal(vmm_provision_run(sess, s1, 1, "/nonexistent-dir/provision.log", NULL, &err),
			 -(int)VMM_E_IO);
	free(script);
	free(src);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_kinds_in_order),
		cmocka_unit_test(test_failure_stops_at_step),
		cmocka_unit_test(test_script_and_file_failures),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
