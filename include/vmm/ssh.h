/* SPDX-License-Identifier: MIT */
/*
 * vmm/ssh.h - SSH sessions to guests (libssh): connect with retry, verify the
 * host key against a per-VM known_hosts file, run commands (collected or
 * streamed live) and upload files over SFTP.
 *
 * Every connection verifies the server's host key against the known_hosts
 * file named in the configuration (OpenSSH format), so the system `ssh` run
 * with `-o StrictHostKeyChecking=yes -o UserKnownHostsFile=<file>` (plus
 * `-o HostKeyAlias=<alias>` when known_hosts_name is set) trusts exactly the
 * same key.
 *
 * A session is used by one thread at a time. The library never prints:
 * output of remote commands goes to the caller's callbacks or buffers.
 */
#ifndef VMM_SSH_H
#define VMM_SSH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "vmm/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How the server's host key is checked against the known_hosts file. */
enum vmm_ssh_hostkey_policy {
	/* The key must already be in the file: a missing entry or a different
	 * key is VMM_E_SSH_HOSTKEY. Used when vmctl generated the guest's host
	 * key and wrote the file itself. */
	VMM_SSH_HOSTKEY_PINNED = 0,
	/* Trust on first use: with no entry for the host, the presented key is
	 * recorded in the file; from then on it is pinned. Used with raw
	 * user-data, where vmctl does not control the guest's host key. */
	VMM_SSH_HOSTKEY_TOFU,
};

/*
 * A host to reach the server through: an SSH session to it, and from there
 * a direct-tcpip channel to the server's host and port (the guests of a
 * remote libvirt host are reachable only from that host). The host's key
 * is checked against the user's ~/.ssh/known_hosts unless no_verify.
 */
struct vmm_ssh_jump {
	const char *host;
	unsigned port;         /* 0: 22 */
	const char *user;      /* NULL: the local user */
	const char *key_path;  /* NULL: the SSH agent and the user's default keys */
	bool no_verify;
};

struct vmm_ssh_config {
	const char *host;            /* address to connect to; NULL: "127.0.0.1" */
	unsigned port;               /* 0: 22 */
	const char *user;            /* required */
	/* The private key: a file (key_path) or its text in memory (key_data:
	 * the OpenSSH or PEM form, "-----BEGIN ..."). Exactly one is set. */
	const char *key_path;
	const char *key_data;
	const char *known_hosts;     /* required: the per-VM known_hosts file */
	/* The host's name in known_hosts (e.g. "vmctl-web"); the system ssh
	 * needs -o HostKeyAlias=<it>. NULL: "[host]:port" (plain host for port
	 * 22), as OpenSSH writes it. An alias keeps the pin valid when the
	 * forwarded port changes. */
	const char *known_hosts_name;
	enum vmm_ssh_hostkey_policy hostkey_policy;
	/* Bound on one attempt's TCP connect and the arrival of the server's
	 * banner, in ms; 0: 2000. A forwarded port accepts TCP before the guest
	 * is up, so only the banner shows sshd is there: keep this short. */
	unsigned attempt_timeout_ms;
	/* Bound on each handshake step once the banner came (key exchange,
	 * authentication), in ms; 0: 15000. A guest under emulation can be
	 * slow here without being dead. Requests on an established session
	 * (opening a channel, starting a command, SFTP) wait up to 120 s or
	 * this, whichever is longer; a running command's output is waited for
	 * without a bound. */
	unsigned handshake_timeout_ms;
	/* NULL: connect directly; else through this host. */
	const struct vmm_ssh_jump *jump;
};

struct vmm_ssh;

/*
 * Connect once, verify the host key, authenticate. On success *out is a
 * session to free with vmm_ssh_free. Errors: VMM_E_SSH (cannot connect, no
 * SSH banner, protocol error), VMM_E_SSH_AUTH (key refused, unreadable key),
 * VMM_E_SSH_HOSTKEY (host key not pinned or different: the message shows the
 * expected and the presented SHA256 fingerprints).
 */
int vmm_ssh_connect(const struct vmm_ssh_config *cfg, struct vmm_ssh **out,
		    struct vmm_error *err);

/* Called when connect-with-retry gives up; returns extra text for the error's
 * hint (e.g. the last lines of the guest console), malloc'd, or NULL. */
typedef char *(*vmm_ssh_context_fn)(void *userdata);

struct vmm_ssh_retry {
	unsigned timeout_ms;   /* deadline from the first attempt (e.g. 120000) */
	unsigned interval_ms;  /* pause between attempts; 0: 200 */
	vmm_ssh_context_fn context;   /* optional */
	void *context_userdata;
	/* optional: asked after each failed attempt; true gives up at once
	 * (VMM_E_SSH, "interrupted") */
	bool (*cancelled)(void *userdata);
	void *cancel_userdata;
};

/*
 * Connect with retry until the deadline: the first attempt is immediate,
 * then one every interval_ms (each bounded by cfg->attempt_timeout_ms, cut
 * to the remaining time). Refused or silent ports, missing banners and
 * refused keys (the guest may still be applying its seed) are retried; a
 * host key mismatch and an unusable key file are not. At the deadline the
 * last failure is reported: VMM_E_SSH_AUTH if the server answered but
 * refused the key, else VMM_E_SSH; the hint carries the context text.
 */
int vmm_ssh_connect_retry(const struct vmm_ssh_config *cfg, const struct vmm_ssh_retry *retry,
			  struct vmm_ssh **out, struct vmm_error *err);

/* Disconnect and free. NULL is a no-op. */
void vmm_ssh_free(struct vmm_ssh *s);

/* "user@host:port" of the session, for messages. */
const char *vmm_ssh_peer(const struct vmm_ssh *s);

/* The SHA256 fingerprint of the server's host key ("SHA256:..."). */
const char *vmm_ssh_host_fingerprint(const struct vmm_ssh *s);

/*
 * Pick the private key the reference's way: the generated key in the VM's
 * work directory (<work_dir>/id_ed25519_generated) if it exists, else
 * explicit_key (--key or the VMFile's private-key; a leading "~/" is the home
 * directory), else the first of ~/.ssh/id_ed25519, id_ecdsa, id_rsa that
 * exists. work_dir and explicit_key may be NULL. *path_out is malloc'd.
 * A given explicit key that does not exist is an error, not skipped.
 */
int vmm_ssh_resolve_key(const char *work_dir, const char *explicit_key, char **path_out,
			struct vmm_error *err);

/* Output streams of a remote command. */
enum vmm_ssh_stream {
	VMM_SSH_STDOUT = 1,
	VMM_SSH_STDERR = 2,
};

/* Receives output as it arrives. A non-zero return aborts the command (the
 * channel is closed; the call fails with VMM_E_SSH). */
typedef int (*vmm_ssh_output_fn)(void *userdata, enum vmm_ssh_stream stream,
				 const char *data, size_t len);

/*
 * Run cmd (through the user's login shell on the server) and deliver its
 * output live to fn (NULL: discard), stdout and stderr kept apart, in the order the server
 * sent it. *exit_status is the exit code, or 128+N if the command was killed
 * by signal N (as a shell reports it). Returns <0 only if the command could
 * not be run or the connection failed (VMM_E_SSH); a non-zero exit status is
 * not an error.
 */
int vmm_ssh_exec_stream(struct vmm_ssh *s, const char *cmd, vmm_ssh_output_fn fn,
			void *userdata, int *exit_status, struct vmm_error *err);

/* Like vmm_ssh_exec_stream, writing stdout to out_fd and stderr to err_fd
 * (either may be -1 to discard). */
int vmm_ssh_exec_fds(struct vmm_ssh *s, const char *cmd, int out_fd, int err_fd,
		     int *exit_status, struct vmm_error *err);

/* Run cmd and collect its output: *out and *errout (each may be NULL to
 * discard) are malloc'd NUL-terminated strings; *exit_status as above. */
int vmm_ssh_exec(struct vmm_ssh *s, const char *cmd, char **out, char **errout,
		 int *exit_status, struct vmm_error *err);

/*
 * Upload the local file to remote_path (absolute) over SFTP, replacing it.
 * mode: permission bits for the remote file, or -1 to copy the local file's
 * (so an executable stays executable). The mode is set explicitly after the
 * write, so the server's umask does not drop bits.
 */
int vmm_ssh_upload(struct vmm_ssh *s, const char *local_path, const char *remote_path,
		   int mode, struct vmm_error *err);

/* Upload bytes from memory to remote_path with the given mode. */
int vmm_ssh_upload_data(struct vmm_ssh *s, const void *data, size_t len,
			const char *remote_path, mode_t mode, struct vmm_error *err);

#ifdef __cplusplus
}
#endif
#endif /* VMM_SSH_H */
