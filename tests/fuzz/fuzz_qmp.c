/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the QMP client: arbitrary bytes as what QEMU sends.
 * Each line goes through the reply parser; then the whole input is played
 * as a QMP peer on a socketpair (greeting, handshake, query-status,
 * query-vnc, a plain command). Every outcome must be success or a filled
 * error; nothing may crash, leak or hang.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backends/qemu/qmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_error(int rc, const struct vmm_error *err)
{
	if (rc < 0 && (err->code == VMM_OK || err->message[0] == '\0'))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct vmmi_qmp *q = NULL;
	struct vmm_error err;
	int sv[2], rc;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		enum vmmi_qmp_kind kind;
		json_t *payload = NULL;
		char *desc = NULL;
		long long id;

		rc = vmmi_qmp_parse(p, len, &kind, &payload, &desc, &id, &err);
		check_error(rc, &err);
		if (rc == 0 && kind == VMMI_QMP_ERROR && !desc)
			abort();
		json_decref(payload);
		free(desc);
		p += len + 1;
	}

	if (size > 65536 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	if (write(sv[1], data, size) != (ssize_t)size) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	shutdown(sv[1], SHUT_WR); /* the peer says all it has, then EOF */
	rc = vmmi_qmp_open_fd(sv[0], 200, &q, &err);
	check_error(rc, &err);
	if (rc == 0) {
		char *status = NULL, *vnc = NULL;
		bool running;

		vmmi_qmp_set_timeout(q, 200);
		rc = vmmi_qmp_query_status(q, &status, &running, &err);
		check_error(rc, &err);
		if (rc == 0 && !status)
			abort();
		rc = vmmi_qmp_query_vnc(q, &vnc, &err);
		check_error(rc, &err);
		rc = vmmi_qmp_execute(q, "cont", NULL, NULL, &err);
		check_error(rc, &err);
		free(status);
		free(vnc);
		vmmi_qmp_close(q);
	}
	close(sv[1]);
	return 0;
}
