/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: the SSH module against a real OpenSSH sshd started here
 * (127.0.0.1, free high port, own host key and authorized_keys).
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sshd_fixture.h"
#include "vmm/error.h"
#include "vmm/keys.h"
#include "vmm/ssh.h"

static struct sshd_fixture fx;

/* VMCTL_TEST_VERBOSE=1 shows the errors the tests provoke. */
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

/* Open file descriptors of this process (to catch leaked sockets). */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* A pinned configuration for the fixture's sshd. */
static struct vmm_ssh_config base_cfg(void)
{
	struct vmm_ssh_config c = {0};

	c.host = "127.0.0.1";
	c.port = fx.port;
	c.user = fx.user;
	c.key_path = fx.client_key;
	c.known_hosts = fx.known_hosts;
	c.known_hosts_name = "vmctl-test";
	c.hostkey_policy = VMM_SSH_HOSTKEY_PINNED;
	return c;
}

static struct vmm_ssh *connect_ok(void)
{
	struct vmm_ssh_config c = base_cfg();
	struct vmm_ssh *s = NULL;
	struct vmm_error err;

	vmm_error_clear(&err);
	assert_int_equal(fx_pin(&fx, "vmctl-test", fx.host_key), 0);
	if (vmm_ssh_connect(&c, &s, &err) < 0)
		fail_msg("connect: %s (%s)", err.message, err.hint);
	return s;
}

static void test_exec_and_exit_codes(void **state)
{
	static const struct {
		const char *cmd;
		int status;
	} cases[] = {
		{"exit 0", 0},          {"exit 1", 1},         {"exit 42", 42},
		{"kill -9 $$", 128 + 9}, {"kill -TERM $$", 128 + 15}, {"false", 1},
	};
	struct vmm_ssh *s = connect_ok();
	struct vmm_error err;
	char *out = NULL, *errout = NULL;
	int status = -1;

	(void)state;
	assert_int_equal(vmm_ssh_exec(s, "echo hello; echo oops >&2; exit 3", &out, &errout,
				      &status, &err),
			 0);
	assert_string_equal(out, "hello\n");
	assert_string_equal(errout, "oops\n");
	assert_int_equal(status, 3);
	free(out);
	free(errout);
	for (size_t i = 0; i < VMMI_ARRAY_SIZE(cases); i++) {
		status = -1;
		assert_int_equal(vmm_ssh_exec(s, cases[i].cmd, NULL, NULL, &status, &err), 0);
		if (status != cases[i].status)
			fail_msg("'%s': exit %d, want %d", cases[i].cmd, status, cases[i].status);
	}
	/* The host key fingerprint matches what ssh-keygen says. */
	{
		char *fp = fx_fingerprint(fx.host_key);

		assert_non_null(fp);
		assert_string_equal(vmm_ssh_host_fingerprint(s), fp);
		free(fp);
	}
	vmm_ssh_free(s);
}

struct event {
	enum vmm_ssh_stream stream;
	char text[64];
	uint64_t at;
};

struct recorder {
	struct event ev[32];
	int n;
	uint64_t t0;
};

static int record(void *userdata, enum vmm_ssh_stream stream, const char *data, size_t len)
{
	struct recorder *r = userdata;
	struct event *e;

	/* Chunks of one stream in a row form one event. */
	if (r->n > 0 && r->ev[r->n - 1].stream == stream) {
		e = &r->ev[r->n - 1];
	} else {
		if (r->n == 32)
			return -1;
		e = &r->ev[r->n++];
		e->stream = stream;
		e->text[0] = '\0';
		e->at = vmmi_now_ms() - r->t0;
	}
	strncat(e->text, data, len < sizeof(e->text) - strlen(e->text) - 1
				       ? len
				       : sizeof(e->text) - strlen(e->text) - 1);
	return 0;
}

static void test_stream_order_and_liveness(void **state)
{
	struct vmm_ssh *s = connect_ok();
	struct recorder r = {0};
	struct vmm_error err;
	int status = -1;
	uint64_t total;

	(void)state;
	r.t0 = vmmi_now_ms();
	assert_int_equal(vmm_ssh_exec_stream(s,
					     "echo out1; sleep 0.3; echo err1 >&2; sleep 0.3; "
					     "echo out2; sleep 1; echo err2 >&2; exit 7",
					     record, &r, &status, &err),
			 0);
	total = vmmi_now_ms() - r.t0;
	assert_int_equal(status, 7);
	assert_int_equal(r.n, 4);
	assert_int_equal(r.ev[0].stream, VMM_SSH_STDOUT);
	assert_string_equal(r.ev[0].text, "out1\n");
	assert_int_equal(r.ev[1].stream, VMM_SSH_STDERR);
	assert_string_equal(r.ev[1].text, "err1\n");
	assert_int_equal(r.ev[2].stream, VMM_SSH_STDOUT);
	assert_string_equal(r.ev[2].text, "out2\n");
	assert_int_equal(r.ev[3].stream, VMM_SSH_STDERR);
	assert_string_equal(r.ev[3].text, "err2\n");
	/* Output arrives as produced, not at the end. */
	assert_true(total >= 1500);
	if (r.ev[0].at > 500 || r.ev[2].at > total - 700)
		fail_msg("output came late: out1 at %llu ms, out2 at %llu ms of %llu",
			 (unsigned long long)r.ev[0].at, (unsigned long long)r.ev[2].at,
			 (unsigned long long)total);
	vmm_ssh_free(s);
}

static void test_large_output_and_fds(void **state)
{
	struct vmm_ssh *s = connect_ok();
	struct vmm_error err;
	char *big = fx_path(&fx, "big.bin"), *cmd, *out = NULL, *local = NULL, *outf, *errf;
	size_t len = 0, olen = 0;
	int status = -1, ofd, efd;
	char *dd[] = {"dd", "if=/dev/urandom", NULL, "bs=1M", "count=17", "status=none", NULL};

	(void)state;
	dd[2] = vmmi_asprintf("of=%s", big);
	assert_int_equal(fx_run(dd), 0);
	assert_int_equal(vmmi_read_file(big, &local, &len, NULL), 0);
	assert_int_equal(len, 17u << 20);
	/* 17 MiB on stdout while stderr also talks. */
	cmd = vmmi_asprintf("echo start >&2; cat '%s'; echo end >&2", big);
	{
		char *errout = NULL;

		assert_int_equal(vmm_ssh_exec(s, cmd, &out, &errout, &status, &err), 0);
		assert_int_equal(status, 0);
		assert_string_equal(errout, "start\nend\n");
		free(errout);
	}
	assert_memory_equal(out, local, len);
	free(out);
	/* The same through file descriptors. */
	outf = fx_path(&fx, "out.txt");
	errf = fx_path(&fx, "err.txt");
	ofd = open(outf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	efd = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_int_equal(vmm_ssh_exec_fds(s, cmd, ofd, efd, &status, &err), 0);
	close(ofd);
	close(efd);
	assert_int_equal(vmmi_read_file(outf, &out, &olen, NULL), 0);
	assert_int_equal(olen, len);
	assert_memory_equal(out, local, len);
	free(out);
	assert_int_equal(vmmi_read_file(errf, &out, &olen, NULL), 0);
	assert_string_equal(out, "start\nend\n");
	free(out);
	unlink(big);
	free(local);
	free(cmd);
	free(big);
	free(outf);
	free(errf);
	free(dd[2]);
	vmm_ssh_free(s);
}

static char *remote_out(struct vmm_ssh *s, const char *fmt, const char *arg)
{
	char *cmd = vmmi_asprintf(fmt, arg), *out = NULL;
	struct vmm_error err;
	int status = -1;

	assert_int_equal(vmm_ssh_exec(s, cmd, &out, NULL, &status, &err), 0);
	assert_int_equal(status, 0);
	free(cmd);
	return out;
}

static void test_sftp_upload(void **state)
{
	struct vmm_ssh *s = connect_ok();
	struct vmm_error err;
	char *src = fx_path(&fx, "payload.bin"), *dst = fx_path(&fx, "uploaded.bin");
	char *dst2 = fx_path(&fx, "data.txt"), *out, *want;
	char *dd[] = {"dd", "if=/dev/urandom", NULL, "bs=1000", "count=5311", "status=none",
		      NULL};
	char *sum[] = {"sha256sum", src, NULL};

	(void)state;
	dd[2] = vmmi_asprintf("of=%s", src);
	assert_int_equal(fx_run(dd), 0);
	chmod(src, 0751);
	assert_int_equal(vmm_ssh_upload(s, src, dst, -1, &err), 0);
	assert_int_equal(vmmi_run(sum, &want, NULL, &(int){0}, NULL), 0);
	out = remote_out(s, "sha256sum < '%s'", dst);
	assert_memory_equal(out, want, 64);
	free(out);
	free(want);
	out = remote_out(s, "stat -c %%a '%s'", dst);
	assert_string_equal(out, "751\n");
	free(out);
	/* An explicit mode; replacing an existing file; from memory. */
	assert_int_equal(vmm_ssh_upload(s, src, dst, 0600, &err), 0);
	out = remote_out(s, "stat -c %%a '%s'", dst);
	assert_string_equal(out, "600\n");
	free(out);
	assert_int_equal(vmm_ssh_upload_data(s, "hi\n", 3, dst2, 0755, &err), 0);
	out = remote_out(s, "cat '%s'", dst2);
	assert_string_equal(out, "hi\n");
	free(out);
	out = remote_out(s, "stat -c %%a '%s'", dst2);
	assert_string_equal(out, "755\n");
	free(out);
	/* Errors name the destination and the cause. */
	assert_true(vmm_ssh_upload(s, src, "/nonexistent-dir/x", -1, &err) < 0);
	assert_int_equal(err.code, VMM_E_SSH);
	assert_non_null(strstr(err.message, "/nonexistent-dir/x"));
	show(&err);
	assert_non_null(strstr(err.message, "no such file"));
	assert_true(vmm_ssh_upload(s, src, "relative/x", -1, &err) < 0);
	assert_int_equal(err.code, VMM_E_USAGE);
	assert_true(vmm_ssh_upload(s, "/nonexistent-src", dst, -1, &err) < 0);
	assert_int_equal(err.code, VMM_E_IO);
	/* The session still works after failures. */
	out = remote_out(s, "echo %s", "alive");
	assert_string_equal(out, "alive\n");
	free(out);
	free(dd[2]);
	free(src);
	free(dst);
	free(dst2);
	vmm_ssh_free(s);
}

static void test_hostkey_mismatch_refused(void **state)
{
	struct vmm_ssh_config c = base_cfg();
	struct vmm_ssh_retry r = {.timeout_ms = 3000};
	struct vmm_ssh *s = NULL;
	struct vmm_error err;
	char *want = fx_fingerprint(fx.other_key), *got = fx_fingerprint(fx.host_key);
	uint64_t t0;

	(void)state;
	assert_int_equal(fx_pin(&fx, "vmctl-test", fx.other_key), 0);
	t0 = vmmi_now_ms();
	/* Not retried: fails at once even with a deadline. */
	assert_int_equal(vmm_ssh_connect_retry(&c, &r, &s, &err), -(int)VMM_E_SSH_HOSTKEY);
	assert_true(vmmi_now_ms() - t0 < 2000);
	assert_null(s);
	show(&err);
	assert_int_equal(err.code, VMM_E_SSH_HOSTKEY);
	assert_non_null(strstr(err.message, want));
	assert_non_null(strstr(err.message, got));
	assert_non_null(strstr(err.message, "expected"));
	/* Pinned with no entry at all: refused too. */
	unlink(fx.known_hosts);
	assert_int_equal(vmm_ssh_connect(&c, &s, &err), -(int)VMM_E_SSH_HOSTKEY);
	show(&err);
	assert_non_null(strstr(err.message, "no pinned host key"));
	/* The same entry under another name does not count. */
	assert_int_equal(fx_pin(&fx, "other-name", fx.host_key), 0);
	assert_int_equal(vmm_ssh_connect(&c, &s, &err), -(int)VMM_E_SSH_HOSTKEY);
	free(want);
	free(got);
}

static void test_tofu_records_then_pins(void **state)
{
	struct vmm_ssh_config c = base_cfg();
	struct vmm_ssh *s = NULL;
	struct vmm_error err;
	char *kh = NULL, *portarg, *dest;
	size_t len;

	(void)state;
	unlink(fx.known_hosts);
	c.hostkey_policy = VMM_SSH_HOSTKEY_TOFU;
	c.known_hosts_name = NULL; /* "[127.0.0.1]:port", as OpenSSH names it */
	if (vmm_ssh_connect(&c, &s, &err) < 0)
		fail_msg("%s", err.message);
	vmm_ssh_free(s);
	s = NULL;
	assert_int_equal(vmmi_read_file(fx.known_hosts, &kh, &len, NULL), 0);
	{
		char *name = vmmi_asprintf("[127.0.0.1]:%u ", fx.port);

		assert_true(strncmp(kh, name, strlen(name)) == 0);
		free(name);
	}
	free(kh);
	/* Now pinned: the system ssh accepts the recorded key strictly. */
	portarg = vmmi_asprintf("%u", fx.port);
	dest = vmmi_asprintf("%s@127.0.0.1", fx.user);
	{
		char *khopt = vmmi_asprintf("UserKnownHostsFile=%s", fx.known_hosts);
		char *argv[] = {"ssh", "-o", "StrictHostKeyChecking=yes", "-o", khopt,
				"-o", "GlobalKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
				"-o", "IdentitiesOnly=yes", "-i", fx.client_key, "-p", portarg,
				dest, "echo", "system-ssh-ok", NULL};
		char *out = NULL;
		int status = -1;

		assert_int_equal(vmmi_run(argv, &out, NULL, &status, NULL), 0);
		assert_int_equal(status, 0);
		assert_string_equal(out, "system-ssh-ok\n");
		free(out);
		free(khopt);
	}
	c.hostkey_policy = VMM_SSH_HOSTKEY_PINNED;
	assert_int_equal(vmm_ssh_connect(&c, &s, &err), 0);
	vmm_ssh_free(s);
	s = NULL;
	/* A different key afterwards is refused even under TOFU. */
	{
		char *name = vmmi_asprintf("[127.0.0.1]:%u", fx.port);

		assert_int_equal(fx_pin(&fx, name, fx.other_key), 0);
		free(name);
	}
	c.hostkey_policy = VMM_SSH_HOSTKEY_TOFU;
	assert_int_equal(vmm_ssh_connect(&c, &s, &err), -(int)VMM_E_SSH_HOSTKEY);
	/* An alias pinned by vmctl works for the system ssh with HostKeyAlias. */
	assert_int_equal(fx_pin(&fx, "vmctl-alias", fx.host_key), 0);
	{
		char *khopt = vmmi_asprintf("UserKnownHostsFile=%s", fx.known_hosts);
		char *argv[] = {"ssh", "-o", "StrictHostKeyChecking=yes", "-o", khopt,
				"-o", "HostKeyAlias=vmctl-alias", "-o", "BatchMode=yes",
				"-o", "GlobalKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes",
				"-i", fx.client_key, "-p", portarg, dest, "true", NULL};
		int status = -1;

		assert_int_equal(vmmi_run(argv, NULL, NULL, &status, NULL), 0);
		assert_int_equal(status, 0);
		free(khopt);
	}
	c.known_hosts_name = "vmctl-alias";
	c.hostkey_policy = VMM_SSH_HOSTKEY_PINNED;
	assert_int_equal(vmm_ssh_connect(&c, &s, &err), 0);
	vmm_ssh_free(s);
	free(portarg);
	free(dest);
}

/* The known_hosts line from the keys module pins what this module checks. */
static void test_known_hosts_line_from_keys_module(void **state)
{
	struct vmm_ssh_config c = base_cfg();
	struct vmm_ssh *s = NULL;
	struct vmm_error err;
	char *pubpath = vmmi_asprintf("%s.pub", fx.host_key), *pub = NULL, *line = NULL, *text;
	size_t len;

	(void)state;
	assert_int_equal(vmmi_read_file(pubpath, &pub, &len, NULL), 0);
	pub[strcspn(pub, "\n")] = '\0';
	/* by address and port */
	assert_int_equal(vmm_known_hosts_line("127.0.0.1", fx.port, pub, &line, &err), 0);
	text = vmmi_asprintf("%s\n", line);
	assert_int_equal(fx_write(fx.known_hosts, text), 0);
	c.known_hosts_name = NULL;
	if (vmm_ssh_connect(&c, &s, &err) < 0)
		fail_msg("%s", err.message);
	vmm_ssh_free(s);
	s = NULL;
	free(line);
	free(text);
	/* by alias (port 22 gives the bare name) */
	assert_int_equal(vmm_known_hosts_line("vmctl-web", 22, pub, &line, &err), 0);
	text = vmmi_asprintf("%s\n", line);
	assert_int_equal(fx_write(fx.known_hosts, text), 0);
	c.known_hosts_name = "vmctl-web";
	if (vmm_ssh_connect(&c, &s, &err) < 0)
		fail_msg("%s", err.message);
	vmm_ssh_free(s);
	free(line);
	free(text);
	free(pub);
	free(pubpath);
}

static char *console_context(void *userdata)
{
	(void)userdata;
	return strdup("last console lines:\n  cloud-init: applying seed");
}

static void test_auth_failure_retried_then_reported(void **state)
{
	struct vmm_ssh_config c = base_cfg();
	struct vmm_ssh_retry r = {.timeout_ms = 1500, .interval_ms = 200,
				  .context = console_context};
	struct vmm_ssh *s = NULL;
	struct vmm_error err;
	uint64_t t0, dt;
	unsigned attempts = 0;
	const char *p;

	int fds0 = count_fds();

	(void)state;
	assert_int_equal(fx_pin(&fx, "vmctl-test", fx.host_key), 0);
	c.key_path = fx.wrong_key;
	t0 = vmmi_now_ms();
	assert_int_equal(vmm_ssh_connect_retry(&c, &r, &s, &err), -(int)VMM_E_SSH_AUTH);
	dt = vmmi_now_ms() - t0;
	assert_null(s);
	show(&err);
	assert_int_equal(err.code, VMM_E_SSH_AUTH);
	assert_true(dt >= 1300 && dt < 4000);
	p = strstr(err.message, " attempts)");
	assert_non_null(p);
	while (p > err.message && p[-1] >= '0' && p[-1] <= '9')
		p--;
	attempts = (unsigned)atoi(p);
	if (attempts < 3)
		fail_msg("only %u attempts in %llu ms: %s", attempts, (unsigned long long)dt,
			 err.message);
	assert_non_null(strstr(err.message, "refused the key"));
	assert_non_null(strstr(err.hint, "authorized_keys"));
	assert_non_null(strstr(err.hint, "cloud-init: applying seed"));
	/* The right key in memory works, and a guest that becomes ready is
	 * noticed at once. */
	{
		char *pem = NULL;
		size_t len;

		assert_int_equal(vmmi_read_file(fx.client_key, &pem, &len, NULL), 0);
		c.key_path = NULL;
		c.key_data = pem;
		t0 = vmmi_now_ms();
		assert_int_equal(vmm_ssh_connect_retry(&c, &r, &s, &err), 0);
		assert_true(vmmi_now_ms() - t0 < 1000);
		vmm_ssh_free(s);
		s = NULL;
		c.key_data = "not a key";
		assert_int_equal(vmm_ssh_connect(&c, &s, &err), -(int)VMM_E_SSH_AUTH);
		free(pem);
	}
	/* A missing key file fails at once. */
	c.key_data = NULL;
	c.key_path = "/nonexistent/key";
	t0 = vmmi_now_ms();
	assert_int_equal(vmm_ssh_connect_retry(&c, &r, &s, &err), -(int)VMM_E_SSH_AUTH);
	assert_true(vmmi_now_ms() - t0 < 500);
	/* Failed and finished sessions closed their sockets. */
	assert_int_equal(count_fds(), fds0);
}

static void test_closed_and_silent_ports_retried_until_deadline(void **state)
{
	struct vmm_ssh_config c = base_cfg();
	struct vmm_ssh_retry r = {.timeout_ms = 1000, .interval_ms = 100,
				  .context = console_context};
	struct vmm_ssh *s = NULL;
	struct vmm_error err;
	uint64_t t0, dt;
	int lfd;
	struct sockaddr_in a = {0};
	socklen_t l = sizeof(a);

	int fds0 = count_fds();

	(void)state;
	c.port = fx_free_port();
	t0 = vmmi_now_ms();
	assert_int_equal(vmm_ssh_connect_retry(&c, &r, &s, &err), -(int)VMM_E_SSH);
	dt = vmmi_now_ms() - t0;
	assert_true(dt >= 900 && dt < 2500);
	show(&err);
	assert_non_null(strstr(err.message, "not ready after"));
	assert_non_null(strstr(err.message, "refused"));
	assert_non_null(strstr(err.hint, "cloud-init: applying seed"));
	/* A port that accepts TCP but never speaks SSH (like slirp's hostfwd
	 * before the guest is up): each attempt is bounded. */
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lfd, 64), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &l), 0);
	c.port = ntohs(a.sin_port);
	c.attempt_timeout_ms = 300;
	r.timeout_ms = 1200;
	t0 = vmmi_now_ms();
	assert_int_equal(vmm_ssh_connect_retry(&c, &r, &s, &err), -(int)VMM_E_SSH);
	dt = vmmi_now_ms() - t0;
	close(lfd);
	assert_int_equal(count_fds(), fds0);
	assert_true(dt >= 1100 && dt < 2500);
	show(&err);
	assert_non_null(strstr(err.message, "no SSH banner"));
}

static void test_server_coming_up_is_noticed_fast(void **state)
{
	struct vmm_ssh_config c = base_cfg();
	struct vmm_ssh_retry r = {.timeout_ms = 10000};
	struct vmm_ssh *s = NULL;
	struct vmm_error err;
	char *cfg = fx_path(&fx, "sshd_config"), *portopt, *pidopt, *pid2 = fx_path(&fx, "sshd2.pid");
	uint64_t t0, dt;
	pid_t child;

	(void)state;
	assert_int_equal(fx_pin(&fx, "vmctl-test", fx.host_key), 0);
	c.port = fx_free_port();
	portopt = vmmi_asprintf("Port=%u", c.port);
	pidopt = vmmi_asprintf("PidFile=%s", pid2);
	t0 = vmmi_now_ms();
	/* A second sshd on another port appears 800 ms from now. */
	child = fork();
	if (child == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		dup2(devnull, 1);
		dup2(devnull, 2);
		usleep(800 * 1000);
		execl(SSHD_BIN, SSHD_BIN, "-D", "-e", "-f", cfg, "-o", portopt, "-o", pidopt,
		      (char *)NULL);
		_exit(127);
	}
	if (vmm_ssh_connect_retry(&c, &r, &s, &err) < 0)
		fail_msg("%s", err.message);
	dt = vmmi_now_ms() - t0;
	vmm_ssh_free(s);
	kill(child, SIGTERM);
	waitpid(child, NULL, 0);
	if (getenv("VMCTL_TEST_VERBOSE"))
		fprintf(stderr, "  sshd started at +800 ms, connected at +%llu ms\n",
			(unsigned long long)dt);
	/* Started after 800 ms; sshd needs some ms to listen; one 200 ms
	 * interval plus slack for a loaded machine. */
	assert_true(dt >= 800);
	assert_true(dt < 800 + 1200);
	free(cfg);
	free(portopt);
	free(pidopt);
	free(pid2);
}

static void test_resolve_key_order(void **state)
{
	char *work = fx_path(&fx, "work"), *home = fx_path(&fx, "home"), *p = NULL, *want;
	char *sshdir = vmmi_path_join(home, ".ssh");
	char *oldhome = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
	struct vmm_error err;

	(void)state;
	assert_int_equal(vmmi_mkdir_p(work, 0700, NULL), 0);
	assert_int_equal(vmmi_mkdir_p(sshdir, 0700, NULL), 0);
	setenv("HOME", home, 1);
	/* nothing anywhere */
	assert_int_equal(vmm_ssh_resolve_key(work, NULL, &p, &err), -(int)VMM_E_SSH_AUTH);
	/* ~/.ssh: id_rsa, then id_ecdsa beats it, then id_ed25519 */
	want = vmmi_path_join(sshdir, "id_rsa");
	fx_write(want, "k");
	assert_int_equal(vmm_ssh_resolve_key(work, NULL, &p, &err), 0);
	assert_string_equal(p, want);
	free(p);
	free(want);
	want = vmmi_path_join(sshdir, "id_ecdsa");
	fx_write(want, "k");
	assert_int_equal(vmm_ssh_resolve_key(NULL, NULL, &p, &err), 0);
	assert_string_equal(p, want);
	free(p);
	free(want);
	want = vmmi_path_join(sshdir, "id_ed25519");
	fx_write(want, "k");
	assert_int_equal(vmm_ssh_resolve_key(work, NULL, &p, &err), 0);
	assert_string_equal(p, want);
	free(p);
	free(want);
	/* an explicit key ("~/" expanded) beats ~/.ssh; a missing one is an error */
	want = vmmi_path_join(home, "mykey");
	fx_write(want, "k");
	assert_int_equal(vmm_ssh_resolve_key(work, "~/mykey", &p, &err), 0);
	assert_string_equal(p, want);
	free(p);
	free(want);
	assert_int_equal(vmm_ssh_resolve_key(work, "~/missing", &p, &err), -(int)VMM_E_SSH_AUTH);
	assert_non_null(strstr(err.message, "missing"));
	/* the generated key in the work dir beats everything */
	want = vmmi_path_join(work, "id_ed25519_generated");
	fx_write(want, "k");
	assert_int_equal(vmm_ssh_resolve_key(work, "~/mykey", &p, &err), 0);
	assert_string_equal(p, want);
	free(p);
	free(want);
	if (oldhome)
		setenv("HOME", oldhome, 1);
	else
		unsetenv("HOME");
	free(oldhome);
	free(work);
	free(home);
	free(sshdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exec_and_exit_codes),
		cmocka_unit_test(test_stream_order_and_liveness),
		cmocka_unit_test(test_large_output_and_fds),
		cmocka_unit_test(test_sftp_upload),
		cmocka_unit_test(test_hostkey_mismatch_refused),
		cmocka_unit_test(test_tofu_records_then_pins),
		cmocka_unit_test(test_known_hosts_line_from_keys_module),
		cmocka_unit_test(test_auth_failure_retried_then_reported),
		cmocka_unit_test(test_closed_and_silent_ports_retried_until_deadline),
		cmocka_unit_test(test_server_coming_up_is_noticed_fast),
		cmocka_unit_test(test_resolve_key_order),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
