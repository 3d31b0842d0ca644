/* SPDX-License-Identifier: MIT */
/* QMP client: see lib/qmp.h. */
#include "backends/qemu/qmp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/util.h"
#include "vmm/log.h"

#define MOD "qmp"

struct vmmi_qmp {
	int fd;
	unsigned timeout_ms;
	long long next_id;
	struct vmmi_buf in; /* bytes read but not yet consumed */
};

static int fail(struct vmm_error *err, const char *fmt, const char *what)
{
	return vmm_error_set(err, VMM_E_QMP_COMMAND, 0, NULL, fmt, what);
}

int vmmi_qmp_parse(const char *line, size_t len, enum vmmi_qmp_kind *kind, json_t **payload,
		   char **desc, long long *id, struct vmm_error *err)
{
	json_error_t jerr;
	json_t *root, *v;
	int rc = 0;

	if (payload)
		*payload = NULL;
	if (desc)
		*desc = NULL;
	if (id)
		*id = -1;
	root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return vmm_error_set(err, VMM_E_QMP_COMMAND, 0, NULL,
				     "malformed QMP message from QEMU: %s (column %d)", jerr.text,
				     jerr.column);
	if (!json_is_object(root)) {
		rc = fail(err, "malformed QMP message from QEMU: %s", "not a JSON object");
		goto out;
	}
	v = json_object_get(root, "id");
	if (v && id)
		*id = json_is_integer(v) ? (long long)json_integer_value(v) : -1;
	if ((v = json_object_get(root, "return"))) {
		*kind = VMMI_QMP_RETURN;
		if (payload)
			*payload = json_incref(v);
	} else if ((v = json_object_get(root, "error"))) {
		json_t *d = json_is_object(v) ? json_object_get(v, "desc") : NULL;

		if (!json_is_string(d)) {
			rc = fail(err, "malformed QMP error reply from QEMU: %s",
				  "no \"desc\" string");
			goto out;
		}
		*kind = VMMI_QMP_ERROR;
		if (desc) {
			*desc = strdup(json_string_value(d));
			if (!*desc) {
				rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL,
						   "out of memory parsing a QMP reply");
				goto out;
			}
		}
		if (payload)
			*payload = json_incref(v);
	} else if ((v = json_object_get(root, "event"))) {
		if (!json_is_string(v)) {
			rc = fail(err, "malformed QMP event from QEMU: %s", "\"event\" is not a string");
			goto out;
		}
		*kind = VMMI_QMP_EVENT;
		if (payload)
			*payload = json_incref(root);
	} else if ((v = json_object_get(root, "QMP"))) {
		if (!json_is_object(v)) {
			rc = fail(err, "malformed QMP greeting from QEMU: %s", "\"QMP\" is not an object");
			goto out;
		}
		*kind = VMMI_QMP_GREETING;
		if (payload)
			*payload = json_incref(v);
	} else {
		rc = fail(err, "unexpected QMP message from QEMU: %s",
			  "none of return, error, event or QMP");
	}
out:
	json_decref(root);
	return rc;
}

/* Read one line (without the newline) before deadline_ms. */
static int read_line(struct vmmi_qmp *q, uint64_t deadline_ms, char **line, size_t *len,
		     struct vmm_error *err)
{
	for (;;) {
		char *nl = q->in.data ? memchr(q->in.data, '\n', q->in.len) : NULL;
		char chunk[4096];
		struct pollfd pfd = {q->fd, POLLIN, 0};
		uint64_t now;
		ssize_t n;
		int pr;

		if (nl) {
			size_t l = (size_t)(nl - q->in.data);

			*line = malloc(l + 1);
			if (!*line)
				return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL,
						     "out of memory reading QMP");
			memcpy(*line, q->in.data, l);
			(*line)[l] = '\0';
			*len = (l > 0 && (*line)[l - 1] == '\r') ? l - 1 : l;
			memmove(q->in.data, nl + 1, q->in.len - l - 1);
			q->in.len -= l + 1;
			q->in.data[q->in.len] = '\0';
			return 0;
		}
		if (q->in.len > VMMI_QMP_LINE_MAX)
			return vmm_error_set(err, VMM_E_QMP_COMMAND, 0, NULL,
					     "QMP message from QEMU longer than %d bytes",
					     VMMI_QMP_LINE_MAX);
		now = vmmi_now_ms();
		if (now >= deadline_ms)
			return vmm_error_set(err, VMM_E_QMP_COMMAND, ETIMEDOUT,
					     "QEMU may be hung; check `vmctl status NAME`",
					     "no reply from QEMU's QMP socket within the timeout");
		pr = poll(&pfd, 1, (int)(deadline_ms - now));
		if (pr < 0) {
			if (errno == EINTR)
				continue;
			return vmm_error_errno(err, VMM_E_QMP_COMMAND, NULL, "poll on QMP socket");
		}
		if (pr == 0)
			continue;
		n = read(q->fd, chunk, sizeof(chunk));
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return vmm_error_errno(err, VMM_E_QMP_COMMAND, NULL,
					       "cannot read from QMP socket");
		}
		if (n == 0)
			return vmm_error_set(err, VMM_E_QMP_COMMAND, 0,
					     "QEMU may have exited; see `vmctl status NAME`",
					     "QEMU closed the QMP connection");
		if (vmmi_buf_append(&q->in, chunk, (size_t)n) < 0)
			return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL,
					     "out of memory reading QMP");
	}
}

static int write_all(struct vmmi_qmp *q, const char *data, size_t len, uint64_t deadline_ms,
		     struct vmm_error *err)
{
	while (len > 0) {
		struct pollfd pfd = {q->fd, POLLOUT, 0};
		uint64_t now = vmmi_now_ms();
		ssize_t n;
		int pr;

		if (now >= deadline_ms)
			return vmm_error_set(err, VMM_E_QMP_COMMAND, ETIMEDOUT, NULL,
					     "QEMU did not accept a QMP command within the timeout");
		pr = poll(&pfd, 1, (int)(deadline_ms - now));
		if (pr < 0 && errno != EINTR)
			return vmm_error_errno(err, VMM_E_QMP_COMMAND, NULL, "poll on QMP socket");
		if (pr <= 0)
			continue;
		n = send(q->fd, data, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return vmm_error_errno(err, VMM_E_QMP_COMMAND,
					       "QEMU may have exited; see `vmctl status NAME`",
					       "cannot write to QMP socket");
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static int execute_until(struct vmmi_qmp *q, const char *command, json_t *args, json_t **ret,
			 uint64_t deadline, struct vmm_error *err)
{
	long long id = ++q->next_id;
	json_t *msg = json_object();
	char *text = NULL, *line = NULL;
	int rc;

	if (ret)
		*ret = NULL;
	if (!msg || json_object_set_new(msg, "execute", json_string(command)) < 0 ||
	    json_object_set_new(msg, "id", json_integer(id)) < 0 ||
	    (args && json_object_set(msg, "arguments", args) < 0) ||
	    !(text = json_dumps(msg, JSON_COMPACT))) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory building QMP");
		goto out;
	}
	vmm_trace(MOD, "-> %s", text);
	{
		size_t tl = strlen(text);
		char *t2 = realloc(text, tl + 2);

		if (!t2) {
			rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
			goto out;
		}
		text = t2;
		text[tl] = '\n';
		text[tl + 1] = '\0';
		rc = write_all(q, text, tl + 1, deadline, err);
		if (rc < 0)
			goto out;
	}
	for (;;) {
		enum vmmi_qmp_kind kind;
		json_t *payload = NULL;
		char *desc = NULL;
		long long rid;
		size_t len;

		free(line);
		line = NULL;
		rc = read_line(q, deadline, &line, &len, err);
		if (rc < 0)
			goto out;
		vmm_trace(MOD, "<- %s", line);
		rc = vmmi_qmp_parse(line, len, &kind, &payload, &desc, &rid, err);
		if (rc < 0)
			goto out;
		if (kind == VMMI_QMP_EVENT || kind == VMMI_QMP_GREETING ||
		    (rid >= 0 && rid != id)) {
			json_decref(payload);
			free(desc);
			continue; /* async event, or a reply to a command we gave up on */
		}
		if (kind == VMMI_QMP_ERROR) {
			rc = vmm_error_set(err, VMM_E_QMP_COMMAND, 0, NULL,
					   "QMP command '%s' failed: %s", command, desc);
			json_decref(payload);
			free(desc);
			goto out;
		}
		if (ret)
			*ret = payload;
		else
			json_decref(payload);
		rc = 0;
		goto out;
	}
out:
	if (rc < 0 && err && err->code == VMM_E_QMP_COMMAND &&
	    strncmp(err->message, "QMP command", 11) != 0)
		vmm_error_prefix(err, "QMP command '%s'", command);
	free(line);
	free(text);
	json_decref(msg);
	return rc;
}

int vmmi_qmp_execute(struct vmmi_qmp *q, const char *command, json_t *args, json_t **ret,
		     struct vmm_error *err)
{
	return execute_until(q, command, args, ret, vmmi_now_ms() + q->timeout_ms, err);
}

int vmmi_qmp_open_fd(int fd, unsigned timeout_ms, struct vmmi_qmp **out, struct vmm_error *err)
{
	uint64_t deadline = vmmi_now_ms() + timeout_ms;
	struct vmmi_qmp *q = calloc(1, sizeof(*q));
	json_t *payload = NULL;
	char *line = NULL;
	enum vmmi_qmp_kind kind;
	size_t len;
	int rc;

	*out = NULL;
	if (!q) {
		close(fd);
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	}
	q->fd = fd;
	q->timeout_ms = VMMI_QMP_TIMEOUT_MS;
	vmmi_buf_init(&q->in);
	/* The greeting comes first; skip events that could precede it. */
	do {
		free(line);
		line = NULL;
		rc = read_line(q, deadline, &line, &len, err);
		if (rc == 0)
			rc = vmmi_qmp_parse(line, len, &kind, &payload, NULL, NULL, err);
		if (rc < 0)
			goto out;
		json_decref(payload);
		payload = NULL;
		if (kind == VMMI_QMP_RETURN || kind == VMMI_QMP_ERROR) {
			rc = vmm_error_set(err, VMM_E_QMP_CONNECT, 0, NULL,
					   "QMP peer sent a reply before its greeting");
			goto out;
		}
	} while (kind != VMMI_QMP_GREETING);
	rc = execute_until(q, "qmp_capabilities", NULL, NULL, deadline, err);
out:
	free(line);
	if (rc < 0) {
		if (err && err->code == VMM_E_QMP_COMMAND) {
			err->code = VMM_E_QMP_CONNECT;
			snprintf(err->hint, sizeof(err->hint), "%s",
				 vmm_errcode_default_hint(VMM_E_QMP_CONNECT));
		}
		vmm_error_prefix(err, "QMP handshake");
		vmmi_qmp_close(q);
		return rc;
	}
	*out = q;
	return 0;
}

int vmmi_qmp_connect(const char *path, unsigned timeout_ms, struct vmmi_qmp **out,
		     struct vmm_error *err)
{
	uint64_t deadline = vmmi_now_ms() + timeout_ms;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	*out = NULL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return vmm_error_set(err, VMM_E_QMP_CONNECT, ENAMETOOLONG,
				     "use a shorter data directory (XDG_DATA_HOME)",
				     "QMP socket path '%s' is longer than %zu bytes", path,
				     sizeof(sa.sun_path) - 1);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return vmm_error_errno(err, VMM_E_QMP_CONNECT, NULL, "socket");
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		if ((errno != ENOENT && errno != ECONNREFUSED && errno != EAGAIN) ||
		    vmmi_now_ms() >= deadline) {
			int rc = vmm_error_errno(err, VMM_E_QMP_CONNECT, NULL,
						 "cannot connect to QMP socket '%s'", path);

			close(fd);
			return rc;
		}
		close(fd);
		vmmi_sleep_ms(50);
	}
	{
		uint64_t now = vmmi_now_ms();
		unsigned left = now < deadline ? (unsigned)(deadline - now) : 1000;

		return vmmi_qmp_open_fd(fd, left < 1000 ? 1000 : left, out, err);
	}
}

void vmmi_qmp_close(struct vmmi_qmp *q)
{
	if (!q)
		return;
	if (q->fd >= 0)
		close(q->fd);
	vmmi_buf_release(&q->in);
	free(q);
}

void vmmi_qmp_set_timeout(struct vmmi_qmp *q, unsigned timeout_ms)
{
	q->timeout_ms = timeout_ms;
}

int vmmi_qmp_query_status(struct vmmi_qmp *q, char **status, bool *running,
			  struct vmm_error *err)
{
	json_t *ret = NULL, *s, *r;
	int rc;

	*status = NULL;
	rc = vmmi_qmp_execute(q, "query-status", NULL, &ret, err);
	if (rc < 0)
		return rc;
	s = json_object_get(ret, "status");
	r = json_object_get(ret, "running");
	if (!json_is_string(s) || !json_is_boolean(r)) {
		rc = vmm_error_set(err, VMM_E_QMP_COMMAND, 0, NULL,
				   "malformed query-status reply from QEMU (no status/running)");
		goto out;
	}
	*status = strdup(json_string_value(s));
	if (!*status) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto out;
	}
	*running = json_is_true(r);
out:
	json_decref(ret);
	return rc;
}

int vmmi_qmp_query_vnc(struct vmmi_qmp *q, char **addr, struct vmm_error *err)
{
	json_t *ret = NULL, *h, *s, *e;
	int rc;

	*addr = NULL;
	rc = vmmi_qmp_execute(q, "query-vnc", NULL, &ret, err);
	if (rc < 0)
		return rc;
	e = json_object_get(ret, "enabled");
	if (!json_is_boolean(e)) {
		rc = vmm_error_set(err, VMM_E_QMP_COMMAND, 0, NULL,
				   "malformed query-vnc reply from QEMU (no \"enabled\")");
		goto out;
	}
	if (!json_is_true(e))
		goto out;
	h = json_object_get(ret, "host");
	s = json_object_get(ret, "service");
	if (!json_is_string(h) || !json_is_string(s)) {
		rc = vmm_error_set(err, VMM_E_QMP_COMMAND, 0, NULL,
				   "malformed query-vnc reply from QEMU (no host/service)");
		goto out;
	}
	*addr = vmmi_asprintf("%s:%s", json_string_value(h), json_string_value(s));
	if (!*addr)
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
out:
	json_decref(ret);
	return rc;
}

int vmmi_qmp_hmp(struct vmmi_qmp *q, const char *cmdline, char **out, struct vmm_error *err)
{
	json_t *args = json_pack("{s:s}", "command-line", cmdline), *ret = NULL;
	const char *text;
	int rc;

	*out = NULL;
	if (!args)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	rc = vmmi_qmp_execute(q, "human-monitor-command", args, &ret, err);
	json_decref(args);
	if (rc < 0)
		return rc;
	text = json_string_value(ret);
	if (!text)
		rc = vmm_error_set(err, VMM_E_QMP_COMMAND, 0, NULL,
				   "malformed human-monitor-command reply from QEMU (not a string)");
	else if (!(*out = strdup(text)))
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	json_decref(ret);
	return rc;
}

/* The reply's text without its line ends, for an error message. */
static void hmp_trim(char *s)
{
	size_t n = strlen(s);

	for (char *p = s; *p; p++)
		if (*p == '\r' || *p == '\n' || (unsigned char)*p < 0x20)
			*p = ' ';
	while (n && s[n - 1] == ' ')
		s[--n] = '\0';
}

int vmmi_qmp_hostfwd(struct vmmi_qmp *q, const char *netdev, const char *rule, bool add,
		     struct vmm_error *err)
{
	char *cmd = vmmi_asprintf("%s %s %s", add ? "hostfwd_add" : "hostfwd_remove", netdev, rule);
	char *reply = NULL;
	int rc;

	if (!cmd)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	rc = vmmi_qmp_hmp(q, cmd, &reply, err);
	if (rc == 0) {
		hmp_trim(reply);
		/* HMP reports its errors as text in a successful reply: hostfwd_add
		 * says nothing when it worked, hostfwd_remove says "... removed" */
		if (add ? reply[0] != '\0'
			: (!strstr(reply, " removed") || strstr(reply, "not found")))
			rc = vmm_error_set(err, VMM_E_QMP_COMMAND, 0, NULL, "QEMU refused `%s`: %.300s",
					   cmd, reply[0] ? reply : "(no reply)");
	}
	free(reply);
	free(cmd);
	return rc;
}
