/* SPDX-License-Identifier: MIT */
/*
 * lib/provision.c - run provision steps over an SSH session, streaming their
 * output to the caller and appending it, line by line with UTC timestamps,
 * to provision.log.
 */
#include "vmm/provision.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"
#include "vmm/log.h"

#define MOD "provision"

struct run {
	const struct vmm_provision_callbacks *cb;
	unsigned step;
	int log_fd;
	bool log_failed;
	struct vmmi_buf line[3]; /* partial lines per stream */
};

const char *vmm_provision_step_kind_name(enum vmm_provision_step_kind kind)
{
	switch (kind) {
	case VMM_PROVISION_STEP_INLINE:
		return "shell inline";
	case VMM_PROVISION_STEP_SCRIPT:
		return "shell script";
	case VMM_PROVISION_STEP_FILE:
		return "file";
	}
	return "unknown";
}

static void log_write(struct run *r, const char *data, size_t len)
{
	while (r->log_fd >= 0 && len) {
		ssize_t n = write(r->log_fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (!r->log_failed)
				vmm_warn(MOD, "cannot append to provision.log: %s", strerror(errno));
			r->log_failed = true;
			return;
		}
		data += n;
		len -= (size_t)n;
	}
}

/* One timestamped log line; text may hold several lines (each prefixed). */
static void __attribute__((format(printf, 2, 3))) log_line(struct run *r, const char *fmt, ...)
{
	char ts[40];
	char *text, *line;
	va_list ap;
	int n;

	if (r->log_fd < 0)
		return;
	va_start(ap, fmt);
	n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	vmmi_rfc3339_now(ts, true);
	line = vmmi_asprintf("%s %s\n", ts, text);
	if (line)
		log_write(r, line, strlen(line));
	free(line);
	free(text);
}

/* Log the complete lines buffered for a stream (all of it if flush). */
static void log_output(struct run *r, enum vmm_ssh_stream stream, bool flush)
{
	struct vmmi_buf *b = &r->line[stream];
	size_t start = 0;

	while (start < b->len) {
		char *nl = memchr(b->data + start, '\n', b->len - start);
		size_t end = nl ? (size_t)(nl - b->data) : b->len;

		if (!nl && !flush)
			break;
		log_line(r, "[%u] %s: %.*s", r->step, stream == VMM_SSH_STDOUT ? "out" : "err",
			 (int)(end - start), b->data + start);
		start = nl ? end + 1 : end;
	}
	if (start) {
		memmove(b->data, b->data + start, b->len - start);
		b->len -= start;
		b->data[b->len] = '\0';
	}
}

static int on_output(void *userdata, enum vmm_ssh_stream stream, const char *data, size_t len)
{
	struct run *r = userdata;

	if (r->cb && r->cb->output)
		r->cb->output(r->cb->userdata, r->step, stream, data, len);
	if (r->log_fd >= 0) {
		if (vmmi_buf_append(&r->line[stream], data, len) < 0)
			return -1;
		log_output(r, stream, false);
	}
	return 0;
}

/* A short description of a step for messages: kind and what it runs. */
static char *describe(const struct vmm_provision_step *st)
{
	const char *kind = vmm_provision_step_kind_name(st->kind);

	switch (st->kind) {
	case VMM_PROVISION_STEP_INLINE: {
		const char *c = st->inline_cmd ? st->inline_cmd : "";
		size_t len = strcspn(c, "\n");

		if (len > 60)
			return vmmi_asprintf("%s '%.57s...'", kind, c);
		return vmmi_asprintf("%s '%.*s'%s", kind, (int)len, c, c[len] ? " ..." : "");
	}
	case VMM_PROVISION_STEP_SCRIPT:
		return vmmi_asprintf("%s %s", kind, st->script ? st->script : "(none)");
	case VMM_PROVISION_STEP_FILE:
		return vmmi_asprintf("%s %s -> %s", kind, st->source ? st->source : "(none)",
				     st->destination ? st->destination : "(none)");
	}
	return strdup(kind);
}

static int check_step(const struct vmm_provision_step *st, unsigned step, struct vmm_error *err)
{
	bool ok = false;

	switch (st->kind) {
	case VMM_PROVISION_STEP_INLINE:
		ok = st->inline_cmd && *st->inline_cmd;
		break;
	case VMM_PROVISION_STEP_SCRIPT:
		ok = st->script && *st->script;
		break;
	case VMM_PROVISION_STEP_FILE:
		ok = st->source && *st->source && st->destination && st->destination[0] == '/';
		break;
	}
	if (!ok)
		return vmm_error_set(err, VMM_E_USAGE, 0,
				     "an inline step needs a command, a script step a script, a file "
				     "step a source and an absolute destination",
				     "provision step %u (%s) is incomplete", step,
				     vmm_provision_step_kind_name(st->kind));
	return 0;
}

/* Run one step. Returns 0 if it ran (*exit_status tells how it ended), <0 if
 * it could not run (error in *err). */
static int run_step(struct vmm_ssh *s, struct run *r, const struct vmm_provision_step *st,
		    int *exit_status, struct vmm_error *err)
{
	char *remote = NULL;
	int rc;

	*exit_status = -1;
	switch (st->kind) {
	case VMM_PROVISION_STEP_INLINE:
		return vmm_ssh_exec_stream(s, st->inline_cmd, on_output, r, exit_status, err);
	case VMM_PROVISION_STEP_SCRIPT:
		remote = st->remote_script ? strdup(st->remote_script)
					   : vmmi_asprintf("/tmp/vmctl-provision-%u.sh", r->step);
		if (!remote)
			return vmm_error_set(err, VMM_E_NOMEM, 0, NULL, "out of memory");
		rc = vmm_ssh_upload(s, st->script, remote, 0755, err);
		if (rc == 0) {
			log_line(r, "[%u] uploaded %s to %s", r->step, st->script, remote);
			rc = vmm_ssh_exec_stream(s, remote, on_output, r, exit_status, err);
		}
		free(remote);
		return rc;
	case VMM_PROVISION_STEP_FILE:
		rc = vmm_ssh_upload(s, st->source, st->destination, -1, err);
		if (rc == 0) {
			*exit_status = 0;
			log_line(r, "[%u] uploaded %s to %s", r->step, st->source, st->destination);
		}
		return rc;
	}
	return vmm_error_set(err, VMM_E_USAGE, 0, NULL, "unknown provision step kind %d",
			     (int)st->kind);
}

int vmm_provision_run(struct vmm_ssh *s, const struct vmm_provision_step *steps, size_t n,
		      const char *log_path, const struct vmm_provision_callbacks *cb,
		      struct vmm_error *err)
{
	struct run r = {.cb = cb, .log_fd = -1};
	uint64_t t_all = vmmi_now_ms();
	int rc = 0;

	for (int i = 0; i < 3; i++)
		vmmi_buf_init(&r.line[i]);
	for (size_t i = 0; i < n; i++) {
		rc = check_step(&steps[i], (unsigned)i + 1, err);
		if (rc < 0)
			goto out;
	}
	if (log_path) {
		r.log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (r.log_fd < 0) {
			rc = vmm_error_errno(err, VMM_E_IO,
					     "check that the VM's work directory exists and is writable",
					     "cannot open the provision log '%s'", log_path);
			goto out;
		}
	}
	log_line(&r, "=== provisioning %s: %zu step%s", vmm_ssh_peer(s), n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		const struct vmm_provision_step *st = &steps[i];
		char *desc = describe(st);
		uint64_t t0 = vmmi_now_ms(), dt;
		struct vmm_error serr;
		int status = -1, src;

		r.step = (unsigned)i + 1;
		if (cb && cb->cancelled && cb->cancelled(cb->cancel_userdata)) {
			free(desc);
			log_line(&r, "=== provisioning interrupted before step %u/%zu", r.step, n);
			rc = vmm_error_set(err, VMM_E_PROVISION, EINTR,
					   "run `vmctl provision` to provision it again",
					   "provisioning interrupted before step %u/%zu", r.step, n);
			goto out;
		}
		vmm_error_clear(&serr);
		log_line(&r, "=== step %u/%zu: %s", r.step, n, desc ? desc : "");
		vmm_info(MOD, "step %u/%zu: %s", r.step, n, desc ? desc : "");
		if (cb && cb->step_begin)
			cb->step_begin(cb->userdata, r.step, (unsigned)n, st);
		src = run_step(s, &r, st, &status, &serr);
		log_output(&r, VMM_SSH_STDOUT, true);
		log_output(&r, VMM_SSH_STDERR, true);
		dt = vmmi_now_ms() - t0;
		if (cb && cb->step_end)
			cb->step_end(cb->userdata, r.step, st, src < 0 ? -1 : status, dt);
		if (src < 0) {
			log_line(&r, "=== step %u/%zu failed after %.1f s: %s", r.step, n,
				 (double)dt / 1000.0, serr.message);
			rc = vmm_error_set(err, VMM_E_PROVISION, serr.sys_errno,
					   serr.hint[0] ? serr.hint : NULL,
					   "provision step %u (%s) failed: %s", r.step,
					   desc ? desc : vmm_provision_step_kind_name(st->kind), serr.message);
		} else if (status != 0) {
			log_line(&r, "=== step %u/%zu failed with exit status %d after %.1f s", r.step,
				 n, status, (double)dt / 1000.0);
			rc = vmm_error_set(err, VMM_E_PROVISION, 0,
					   log_path ? "the step's output is above and in provision.log"
						    : NULL,
					   "provision step %u (%s) failed with exit status %d", r.step,
					   desc ? desc : vmm_provision_step_kind_name(st->kind), status);
		} else {
			log_line(&r, "=== step %u/%zu done in %.1f s", r.step, n, (double)dt / 1000.0);
		}
		free(desc);
		if (rc < 0) {
			log_line(&r, "=== provisioning stopped at step %u/%zu", r.step, n);
			goto out;
		}
	}
	log_line(&r, "=== provisioning done: %zu step%s in %.1f s", n, n == 1 ? "" : "s",
		 (double)(vmmi_now_ms() - t_all) / 1000.0);
	rc = 0;
out:
	if (r.log_fd >= 0)
		close(r.log_fd);
	for (int i = 0; i < 3; i++)
		vmmi_buf_release(&r.line[i]);
	return rc;
}
