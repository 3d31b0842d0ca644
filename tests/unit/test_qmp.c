/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: the QMP client. The peer is a small scripted fake QMP server
 * in a thread on a socketpair (the e2e tests talk to real QEMU); replies
 * include malformed and hostile ones.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "backends/qemu/qmp.h"
#include "core/util.h"

#define GREETING "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}}, " \
		 "\"capabilities\": [\"oob\"]}}\r\n"
#define CAPS_OK "{\"return\": {}, \"id\": %lld}\r\n"

/* One fake server: sends `greeting`, then for each request answers with
 * the next reply (a printf format that may use the request's id as %lld;
 * NULL: read the request and never answer). */
struct fake {
	int fd;
	const char *greeting;
	const char *replies[8];
	char requests[8][512];
	int nreq;
	bool hangup; /* close the write side after the last reply */
};

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	char buf[4096];
	size_t have = 0;

	if (f->greeting && write(f->fd, f->greeting, strlen(f->greeting)) < 0)
		return NULL;
	for (int i = 0; i < 8 && f->replies[i]; i++) {
		char *nl;
		json_t *req;
		long long id = -1;
		char out[8192];

		while (!(nl = memchr(buf, '\n', have))) {
			ssize_t n = read(f->fd, buf + have, sizeof(buf) - have - 1);

			if (n <= 0)
				return NULL;
			have += (size_t)n;
		}
		*nl = '\0';
		snprintf(f->requests[f->nreq++], sizeof(f->requests[0]), "%s", buf);
		req = json_loads(buf, 0, NULL);
		if (req && json_is_integer(json_object_get(req, "id")))
			id = json_integer_value(json_object_get(req, "id"));
		json_decref(req);
		memmove(buf, nl + 1, have - (size_t)(nl + 1 - buf));
		have -= (size_t)(nl + 1 - buf);
		if (strcmp(f->replies[i], "HANG") == 0) {
			sleep(2);
			return NULL;
		}
		snprintf(out, sizeof(out), f->replies[i], id);
		if (write(f->fd, out, strlen(out)) < 0)
			return NULL;
	}
	if (f->hangup)
		shutdown(f->fd, SHUT_WR);
	return NULL;
}

struct session {
	struct fake fake;
	pthread_t thread;
	struct vmmi_qmp *q;
};

static int open_session(struct session *s, unsigned timeout_ms, struct vmm_error *err)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	s->fake.fd = sv[1];
	assert_int_equal(pthread_create(&s->thread, NULL, fake_main, &s->fake), 0);
	return vmmi_qmp_open_fd(sv[0], timeout_ms, &s->q, err);
}

static void close_session(struct session *s)
{
	vmmi_qmp_close(s->q);
	pthread_join(s->thread, NULL);
	close(s->fake.fd);
}

static void test_handshake_and_execute(void **state)
{
	struct session s = {.fake = {.greeting = GREETING,
				     .replies = {CAPS_OK,
						 "{\"event\": \"RESUME\", \"timestamp\": {}}\r\n"
						 "{\"return\": {\"status\": \"running\", "
						 "\"running\": true}, \"id\": %lld}\r\n",
						 "{\"return\": {\"enabled\": true, \"host\": "
						 "\"127.0.0.1\", \"service\": \"5901\", \"family\": "
						 "\"ipv4\"}, \"id\": %lld}\n",
						 "{\"return\": {}, \"id\": %lld}\r\n"}}};
	struct vmm_error err;
	char *status = NULL, *vnc = NULL;
	bool running = false;

	(void)state;
	assert_int_equal(open_session(&s, 2000, &err), 0);
	assert_int_equal(vmmi_qmp_query_status(s.q, &status, &running, &err), 0);
	assert_string_equal(status, "running");
	assert_true(running);
	assert_int_equal(vmmi_qmp_query_vnc(s.q, &vnc, &err), 0);
	assert_string_equal(vnc, "127.0.0.1:5901");
	assert_int_equal(vmmi_qmp_execute(s.q, "system_powerdown", NULL, NULL, &err), 0);
	close_session(&s);
	assert_non_null(strstr(s.fake.requests[0], "\"qmp_capabilities\""));
	assert_non_null(strstr(s.fake.requests[1], "\"query-status\""));
	assert_non_null(strstr(s.fake.requests[3], "\"system_powerdown\""));
	free(status);
	free(vnc);
}

static void test_error_reply_carries_desc(void **state)
{
	struct session s = {.fake = {.greeting = GREETING,
				     .replies = {CAPS_OK,
						 "{\"error\": {\"class\": \"GenericError\", \"desc\": "
						 "\"The command foo has not been found\"}, \"id\": "
						 "%lld}\r\n"}}};
	struct vmm_error err;

	(void)state;
	assert_int_equal(open_session(&s, 2000, &err), 0);
	assert_true(vmmi_qmp_execute(s.q, "foo", NULL, NULL, &err) < 0);
	assert_int_equal(err.code, VMM_E_QMP_COMMAND);
	assert_non_null(strstr(err.message, "The command foo has not been found"));
	assert_non_null(strstr(err.message, "'foo'"));
	close_session(&s);
}

static void test_arguments_are_sent(void **state)
{
	struct session s = {.fake = {.greeting = GREETING,
				     .replies = {CAPS_OK, "{\"return\": 42, \"id\": %lld}\n"}}};
	struct vmm_error err;
	json_t *args = json_pack("{s:s}", "device", "seed0"), *ret = NULL;

	(void)state;
	assert_int_equal(open_session(&s, 2000, &err), 0);
	assert_int_equal(vmmi_qmp_execute(s.q, "eject", args, &ret, &err), 0);
	assert_int_equal(json_integer_value(ret), 42);
	close_session(&s);
	assert_non_null(strstr(s.fake.requests[1], "\"arguments\":{\"device\":\"seed0\"}"));
	json_decref(args);
	json_decref(ret);
}

/* hostfwd_add / hostfwd_remove through human-monitor-command: HMP says
 * what went wrong in a successful reply's text (QEMU 7.2's wording). */
static void test_hostfwd_reply_text(void **state)
{
	struct session s = {
		.fake = {.greeting = GREETING,
			 .replies = {CAPS_OK, "{\"return\": \"\", \"id\": %lld}\r\n",
				     "{\"return\": \"Could not set up host forwarding rule "
				     "'tcp:127.0.0.1:8080-:80'\\r\\n\", \"id\": %lld}\r\n",
				     "{\"return\": \"host forwarding rule for tcp:127.0.0.1:8080 "
				     "removed\\r\\n\", \"id\": %lld}\r\n",
				     "{\"return\": \"host forwarding rule for tcp:127.0.0.1:8080 not "
				     "found\\r\\n\", \"id\": %lld}\r\n",
				     "{\"return\": 5, \"id\": %lld}\r\n"}}};
	struct vmm_error err;

	(void)state;
	assert_int_equal(open_session(&s, 2000, &err), 0);
	assert_int_equal(vmmi_qmp_hostfwd(s.q, "net0", "tcp:127.0.0.1:8080-:80", true, &err), 0);
	assert_int_equal(vmmi_qmp_hostfwd(s.q, "net0", "tcp:127.0.0.1:8080-:80", true, &err),
			 -(int)VMM_E_QMP_COMMAND);
	assert_string_equal(err.message, "QEMU refused `hostfwd_add net0 tcp:127.0.0.1:8080-:80`: "
					 "Could not set up host forwarding rule "
					 "'tcp:127.0.0.1:8080-:80'");
	assert_int_equal(vmmi_qmp_hostfwd(s.q, "net0", "tcp:127.0.0.1:8080", false, &err), 0);
	assert_int_equal(vmmi_qmp_hostfwd(s.q, "net0", "tcp:127.0.0.1:8080", false, &err),
			 -(int)VMM_E_QMP_COMMAND);
	assert_non_null(strstr(err.message, "not found"));
	assert_int_equal(vmmi_qmp_hostfwd(s.q, "net0", "tcp:127.0.0.1:8080", false, &err),
			 -(int)VMM_E_QMP_COMMAND);
	assert_non_null(strstr(err.message, "not a string"));
	close_session(&s);
	assert_non_null(strstr(s.fake.requests[1], "\"execute\":\"human-monitor-command\""));
	assert_non_null(strstr(s.fake.requests[1],
			       "\"command-line\":\"hostfwd_add net0 tcp:127.0.0.1:8080-:80\""));
	assert_non_null(strstr(s.fake.requests[3],
			       "\"command-line\":\"hostfwd_remove net0 tcp:127.0.0.1:8080\""));
}

static void test_malformed_replies(void **state)
{
	static const char *const bad[] = {
		"{\"return\": \r\n",                    /* truncated JSON */
		"[1, 2, 3]\r\n",                         /* not an object */
		"{\"error\": 7}\r\n",                    /* error without desc */
		"{\"hello\": 1}\r\n",                    /* unknown shape */
		"{\"return\": {}, \"return\": {}}\r\n", /* duplicate key */
		"\xff\xfe{}\r\n",                        /* not UTF-8 / JSON */
		"{\"return\": {\"status\": 5, \"running\": \"yes\"}, \"id\": %lld}\r\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct session s = {.fake = {.greeting = GREETING, .replies = {CAPS_OK, bad[i]}}};
		struct vmm_error err;
		char *status = NULL;
		bool running;

		assert_int_equal(open_session(&s, 2000, &err), 0);
		assert_true(vmmi_qmp_query_status(s.q, &status, &running, &err) < 0);
		assert_int_equal(err.code, VMM_E_QMP_COMMAND);
		assert_true(strlen(err.message) > 0);
		assert_null(status);
		close_session(&s);
	}
}

static void test_timeout_and_eof(void **state)
{
	struct session s = {.fake = {.greeting = GREETING, .replies = {CAPS_OK, "HANG"}}};
	struct session s2 = {
		.fake = {.greeting = GREETING, .replies = {CAPS_OK, ""}, .hangup = true}};
	struct vmm_error err;
	uint64_t t0;

	(void)state;
	assert_int_equal(open_session(&s, 2000, &err), 0);
	vmmi_qmp_set_timeout(s.q, 200);
	t0 = vmmi_now_ms();
	assert_true(vmmi_qmp_execute(s.q, "query-status", NULL, NULL, &err) < 0);
	assert_true(vmmi_now_ms() - t0 < 1500);
	assert_int_equal(err.code, VMM_E_QMP_COMMAND);
	assert_int_equal(err.sys_errno, ETIMEDOUT);
	close_session(&s);

	/* the peer closes after the command */
	assert_int_equal(open_session(&s2, 2000, &err), 0);
	assert_true(vmmi_qmp_execute(s2.q, "query-status", NULL, NULL, &err) < 0);
	assert_non_null(strstr(err.message, "closed"));
	close_session(&s2);
}

static void test_handshake_failures(void **state)
{
	struct session nogreet = {.fake = {.greeting = NULL}};
	struct session garbage = {.fake = {.greeting = "this is not QMP\r\n"}};
	struct session refuse = {.fake = {.greeting = GREETING,
					  .replies = {"{\"error\": {\"class\": \"x\", \"desc\": "
						      "\"nope\"}, \"id\": %lld}\n"}}};
	struct vmm_error err;

	(void)state;
	assert_true(open_session(&nogreet, 200, &err) < 0);
	assert_int_equal(err.code, VMM_E_QMP_CONNECT);
	close_session(&nogreet);
	assert_true(open_session(&garbage, 1000, &err) < 0);
	assert_int_equal(err.code, VMM_E_QMP_CONNECT);
	assert_non_null(strstr(err.message, "malformed"));
	close_session(&garbage);
	assert_true(open_session(&refuse, 1000, &err) < 0);
	assert_int_equal(err.code, VMM_E_QMP_CONNECT);
	assert_non_null(strstr(err.message, "nope"));
	close_session(&refuse);
}

#define L(s) (s), strlen(s)

static void test_parse(void **state)
{
	struct vmm_error err;
	enum vmmi_qmp_kind kind;
	json_t *p = NULL;
	char *desc = NULL;
	long long id;
	char *big;

	(void)state;
	assert_int_equal(vmmi_qmp_parse(L("{\"return\": {}, \"id\": 9}"), &kind, &p, &desc, &id,
					&err),
			 0);
	assert_int_equal(kind, VMMI_QMP_RETURN);
	assert_int_equal(id, 9);
	json_decref(p);
	assert_int_equal(vmmi_qmp_parse(L("{\"event\": \"STOP\"}"), &kind, NULL, NULL, &id, &err),
			 0);
	assert_int_equal(kind, VMMI_QMP_EVENT);
	assert_int_equal(id, -1);
	assert_true(vmmi_qmp_parse(L("{\"event\": 3}"), &kind, NULL, NULL, NULL, &err) < 0);
	assert_true(vmmi_qmp_parse("", 0, &kind, NULL, NULL, NULL, &err) < 0);
	assert_true(vmmi_qmp_parse(L("{\"QMP\": []}"), &kind, NULL, NULL, NULL, &err) < 0);
	{
		const char *e = "{\"error\": {\"desc\": \"d\"}, \"id\": \"x\"}";

		assert_int_equal(vmmi_qmp_parse(e, strlen(e), &kind, NULL, &desc, &id, &err), 0);
	}
	assert_int_equal(kind, VMMI_QMP_ERROR);
	assert_string_equal(desc, "d");
	assert_int_equal(id, -1);
	free(desc);
	/* deep nesting is refused or parsed, never a crash */
	big = malloc(200001);
	memset(big, '[', 200000);
	big[200000] = '\0';
	assert_true(vmmi_qmp_parse(big, 200000, &kind, NULL, NULL, NULL, &err) < 0);
	free(big);
}

static void *flood_main(void *arg)
{
	int fd = *(int *)arg;
	size_t len = VMMI_QMP_LINE_MAX + 65536, off = 0;
	char *junk = malloc(len), line[4096];

	memset(junk, 'a', len);
	(void)!read(fd, line, sizeof(line)); /* the request */
	while (off < len) {
		ssize_t n = send(fd, junk + off, len - off, MSG_NOSIGNAL);

		if (n <= 0)
			break;
		off += (size_t)n;
	}
	free(junk);
	return NULL;
}

static void test_overlong_line(void **state)
{
	struct session s = {.fake = {.greeting = GREETING, .replies = {CAPS_OK}}};
	struct vmm_error err;
	pthread_t t;

	(void)state;
	assert_int_equal(open_session(&s, 2000, &err), 0);
	pthread_join(s.thread, NULL);
	/* the fake is done: a writer floods a line without a newline */
	assert_int_equal(pthread_create(&t, NULL, flood_main, &s.fake.fd), 0);
	assert_true(vmmi_qmp_execute(s.q, "query-status", NULL, NULL, &err) < 0);
	assert_non_null(strstr(err.message, "longer than"));
	vmmi_qmp_close(s.q);
	shutdown(s.fake.fd, SHUT_RDWR);
	pthread_join(t, NULL);
	close(s.fake.fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_and_execute),
		cmocka_unit_test(test_error_reply_carries_desc),
		cmocka_unit_test(test_arguments_are_sent),
		cmocka_unit_test(test_malformed_replies),
		cmocka_unit_test(test_hostfwd_reply_text),
		cmocka_unit_test(test_timeout_and_eof),
		cmocka_unit_test(test_handshake_failures),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_overlong_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
