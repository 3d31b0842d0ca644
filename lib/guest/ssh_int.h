/* SPDX-License-Identifier: MIT */
/*
 * lib/guest/ssh_int.h - what other guest modules (the copy in copy.c) need
 * from an SSH session beyond the public vmm/ssh.h: its SFTP session and the
 * SFTP error rendering (private to libvmm).
 */
#ifndef VMMI_SSH_INT_H
#define VMMI_SSH_INT_H

#include <libssh/sftp.h>

#include "vmm/ssh.h"

/* The session's SFTP channel, opened on first use; NULL on failure (err
 * set; remote names the path in the message). */
sftp_session vmmi_ssh_sftp(struct vmm_ssh *s, const char *remote, struct vmm_error *err);

/* The SFTP status code of the last failed request (SSH_FX_*), 0 if none. */
int vmmi_ssh_sftp_code(struct vmm_ssh *s);

/* Set err for a failed SFTP request: "SFTP <what> '<remote>' on <peer>
 * failed: <reason>", with hint (NULL: a generic one). Returns -1. */
int vmmi_ssh_sftp_fail(struct vmm_ssh *s, struct vmm_error *err, const char *what,
		       const char *remote, const char *hint);

#endif
