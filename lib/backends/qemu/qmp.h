/* SPDX-License-Identifier: MIT */
/*
 * lib/qmp.h - a small QEMU Machine Protocol client (private to libvmm).
 *
 * QMP is newline-delimited JSON over a unix stream socket: QEMU sends a
 * greeting, the client answers with qmp_capabilities, then each command
 * gets exactly one reply ({"return": ...} or {"error": {...}}), with
 * asynchronous events ({"event": ...}) interleaved anywhere. Every call
 * here is bounded by a timeout; QEMU's replies are treated as untrusted
 * input (a malformed or hostile reply is an error, never a crash).
 */
#ifndef VMMI_QMP_H
#define VMMI_QMP_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "vmm/error.h"

/* Default bound for one command round trip. */
#define VMMI_QMP_TIMEOUT_MS 10000
/* A reply line longer than this is refused (QEMU's are a few KiB). */
#define VMMI_QMP_LINE_MAX (1024 * 1024)

enum vmmi_qmp_kind {
	VMMI_QMP_GREETING, /* {"QMP": {...}} */
	VMMI_QMP_RETURN,   /* {"return": ...} */
	VMMI_QMP_ERROR,    /* {"error": {"class": ..., "desc": ...}} */
	VMMI_QMP_EVENT,    /* {"event": "NAME", ...} */
};

/*
 * Parse one QMP message (one line, without its newline). On success stores
 * the kind and, in *payload (may be NULL; new reference), the greeting's
 * "QMP" object, the "return" value, the "error" object or the whole event.
 * For an error reply, *desc (may be NULL; malloc'd) receives QEMU's
 * description. *id (may be NULL) receives the reply's numeric "id" or -1.
 * Anything that is not one of the four shapes fails with VMM_E_QMP_COMMAND.
 */
int vmmi_qmp_parse(const char *line, size_t len, enum vmmi_qmp_kind *kind, json_t **payload,
		   char **desc, long long *id, struct vmm_error *err);

struct vmmi_qmp;

/*
 * Connect to the QMP socket at path, retrying while it does not exist or
 * refuses connections, until timeout_ms; then read the greeting and
 * negotiate capabilities. Fails with VMM_E_QMP_CONNECT.
 */
int vmmi_qmp_connect(const char *path, unsigned timeout_ms, struct vmmi_qmp **out,
		     struct vmm_error *err);

/* Speak QMP over an already connected descriptor (takes ownership of fd);
 * performs the greeting and capabilities handshake like vmmi_qmp_connect. */
int vmmi_qmp_open_fd(int fd, unsigned timeout_ms, struct vmmi_qmp **out, struct vmm_error *err);

void vmmi_qmp_close(struct vmmi_qmp *q); /* NULL is a no-op */

/* Per-call timeout for later commands (default VMMI_QMP_TIMEOUT_MS). */
void vmmi_qmp_set_timeout(struct vmmi_qmp *q, unsigned timeout_ms);

/*
 * Execute a command with optional arguments (borrowed; may be NULL) and
 * wait for its reply, skipping events. *ret (may be NULL) receives a new
 * reference to the "return" value. An error reply fails with
 * VMM_E_QMP_COMMAND carrying QEMU's description; a timeout, a closed
 * socket or a malformed reply also fail with VMM_E_QMP_COMMAND.
 */
int vmmi_qmp_execute(struct vmmi_qmp *q, const char *command, json_t *args, json_t **ret,
		     struct vmm_error *err);

/* query-status: the run state name ("running", "paused", ...; malloc'd)
 * and whether vCPUs run. */
int vmmi_qmp_query_status(struct vmmi_qmp *q, char **status, bool *running,
			  struct vmm_error *err);

/* query-vnc: "HOST:PORT" (malloc'd), or NULL in *addr if VNC is off. */
int vmmi_qmp_query_vnc(struct vmmi_qmp *q, char **addr, struct vmm_error *err);

/* human-monitor-command: run an HMP command line; *out receives its text
 * output (malloc'd), which is where HMP reports its errors. */
int vmmi_qmp_hmp(struct vmmi_qmp *q, const char *cmdline, char **out, struct vmm_error *err);

/* hostfwd_add / hostfwd_remove of rule ("tcp:127.0.0.1:8080-:80" /
 * "tcp:127.0.0.1:8080") on netdev. An error printed in HMP's reply is a
 * failure (VMM_E_QMP_COMMAND quoting it). */
int vmmi_qmp_hostfwd(struct vmmi_qmp *q, const char *netdev, const char *rule, bool add,
		     struct vmm_error *err);

#endif
