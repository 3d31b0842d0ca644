/* SPDX-License-Identifier: MIT */
/*
 * vmm/keys.h - SSH keys for VMs: per-VM Ed25519 client keypairs, host
 * keypairs for the cloud-init seed, and known_hosts lines to pin them.
 *
 * Keys are generated with libssh and handled as OpenSSH text: the private
 * key in the "-----BEGIN OPENSSH PRIVATE KEY-----" format and the public key
 * as one authorized_keys line ("ssh-ed25519 AAAA... comment").
 */
#ifndef VMM_KEYS_H
#define VMM_KEYS_H

#include "vmm/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* File name of the generated client key in a VM's work directory; the
 * public key is the same name plus ".pub". */
#define VMM_GENERATED_KEY_NAME "id_ed25519_generated"
/* The public half of the SSH host key vmctl generated for a guest, kept in
 * the VM's work directory so clients can pin it. */
#define VMM_HOST_KEY_PUB_NAME "ssh_host_ed25519_key.pub"

/* An Ed25519 keypair as OpenSSH text. Both strings are owned. */
struct vmm_keypair {
	char *private_openssh; /* OpenSSH private key, unencrypted, ends with '\n' */
	char *public_line;     /* "ssh-ed25519 <base64>[ <comment>]", no newline */
};

/*
 * Generate a fresh Ed25519 keypair in memory. comment (may be NULL or "")
 * ends the public line; it must be one line (no CR/LF) or VMM_E_KEYGEN is
 * returned. On failure *kp is left empty. Release with vmm_keypair_release.
 */
int vmm_keypair_generate(struct vmm_keypair *kp, const char *comment,
			 struct vmm_error *err);

/* Free the strings (wiping the private key first). NULL is a no-op. */
void vmm_keypair_release(struct vmm_keypair *kp);

/*
 * Write kp to private_path (mode 0600) and private_path + ".pub" (0644,
 * the public line plus '\n'), each crash-safely (temp file + rename). The
 * public key is written first, so a present private key always has its .pub.
 */
int vmm_keypair_write(const struct vmm_keypair *kp, const char *private_path,
		      struct vmm_error *err);

/*
 * Generate the per-VM client keypair at <work_dir>/id_ed25519_generated
 * (+ .pub), replacing any previous one. If public_line is not NULL it
 * receives a malloc'd copy of the public line; private_path likewise gets the
 * private key's path. comment: e.g. "vmctl@<vm name>" (NULL: none).
 */
int vmm_keys_generate_vm(const char *work_dir, const char *comment, char **public_line,
			 char **private_path, struct vmm_error *err);

/*
 * Read an OpenSSH public key file (an explicit `ssh-key`): every non-empty,
 * non-comment line must be a public key libssh can parse. *lines receives
 * them joined by '\n' (no trailing newline), malloc'd. Errors name the file
 * and line (VMM_E_CLOUDINIT).
 */
int vmm_pubkey_file_read(const char *path, char **lines, struct vmm_error *err);

/*
 * Check one public key line ("TYPE BASE64 [comment]") and return its type
 * name ("ssh-ed25519") in *type and base64 blob in *b64 (both malloc'd; either
 * pointer may be NULL). VMM_E_CLOUDINIT if it is not a key libssh can parse.
 */
int vmm_pubkey_parse(const char *line, char **type, char **b64, struct vmm_error *err);

/*
 * The known_hosts line that pins public_line for host:port:
 * "[host]:port TYPE BASE64" (just "host TYPE BASE64" for port 22), no newline,
 * no comment. malloc'd into *out. host may also be a HostKeyAlias name (with
 * port 22), e.g. "vmctl-web".
 */
int vmm_known_hosts_line(const char *host, unsigned port, const char *public_line,
			 char **out, struct vmm_error *err);

/* The OpenSSH SHA256 fingerprint ("SHA256:...") of a public key line. */
int vmm_pubkey_fingerprint(const char *public_line, char **out, struct vmm_error *err);

#ifdef __cplusplus
}
#endif

#endif /* VMM_KEYS_H */
