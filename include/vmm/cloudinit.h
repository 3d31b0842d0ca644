/* SPDX-License-Identifier: MIT */
/*
 * vmm/cloudinit.h - the cloud-init NoCloud seed: vmctl's cloud-config
 * (user-data), meta-data, and the seed ISO (volume id "cidata", Joliet +
 * Rock Ridge) built in-process with libisofs.
 *
 * The generated cloud-config creates one user with passwordless sudo, bash
 * as shell and the given authorized keys, disables root login and password
 * logins, sets the hostname (with manage_etc_hosts: localhost), and can
 * install an Ed25519 host key (ssh_keys) so the client can pin it, and
 * mounts the VM's shared folders (mounts). Every
 * value is emitted as a double-quoted YAML scalar whose special and
 * non-ASCII characters are escaped, so no value can change the document's
 * structure.
 */
#ifndef VMM_CLOUDINIT_H
#define VMM_CLOUDINIT_H

#include <stddef.h>

#include "vmm/error.h"
#include "vmm/vm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Default SSH user of the generated cloud-config. */
#define VMM_CLOUDINIT_DEFAULT_USER "vm"

/* What goes into a seed. All strings are borrowed; NULL means "not set". */
struct vmm_seed_spec {
	const char *instance_id;      /* NULL: a fresh random one */
	const char *hostname;         /* meta-data local-hostname and cloud-config
					 hostname */
	/* Raw user-data, passed through byte for byte. When set, the fields
	 * below are not used (the user-data is the user's responsibility). */
	const char *user_data;
	size_t user_data_len;
	/* Generated cloud-config (used when user_data is NULL). */
	const char *user;             /* NULL: "vm" */
	const char *authorized_keys;  /* public key lines separated by '\n'
					 (blank and '#' lines are skipped) */
	const char *host_key_private; /* OpenSSH Ed25519 private host key */
	const char *host_key_public;  /* its public line; both or neither */
	/* Shared folders to mount (a "mounts" entry each: share i is the tag
	 * "vmctl<i>" of type virtiofs, or 9p with trans=virtio); NULL: none. */
	const struct vmm_share *shares;
	size_t n_shares;
};

/*
 * A fresh instance id, "iid-" followed by 32 hex digits from getrandom(2),
 * so every VM (and every re-created VM of the same name) is a new instance
 * for cloud-init. malloc'd into *out.
 */
int vmm_cloudinit_instance_id(char **out, struct vmm_error *err);

/*
 * The user-data of spec: its raw user_data (a copy, *len bytes) or vmctl's
 * generated cloud-config (NUL-terminated, *len excludes the NUL). Fails with
 * VMM_E_CLOUDINIT for an empty user name, a value that is not valid UTF-8,
 * or only one half of the host keypair. len may be NULL.
 */
int vmm_cloudinit_user_data(const struct vmm_seed_spec *spec, char **out, size_t *len,
			    struct vmm_error *err);

/*
 * The meta-data of spec: instance-id (spec->instance_id, or fresh) and
 * local-hostname (if set). NUL-terminated, malloc'd.
 */
int vmm_cloudinit_meta_data(const struct vmm_seed_spec *spec, char **out,
			    struct vmm_error *err);

/*
 * Write a NoCloud seed ISO at path holding "user-data" and "meta-data",
 * volume id "cidata", with Joliet and Rock Ridge. Crash-safe: the image is
 * built in memory and replaces path atomically, mode 0600 (a seed holds the
 * guest's SSH host private key). VMM_E_ISO on failure.
 */
int vmm_cloudinit_write_iso(const char *path, const char *user_data, size_t user_data_len,
			    const char *meta_data, size_t meta_data_len,
			    struct vmm_error *err);

/* vmm_cloudinit_user_data + vmm_cloudinit_meta_data + vmm_cloudinit_write_iso. */
int vmm_cloudinit_write_seed(const struct vmm_seed_spec *spec, const char *iso_path,
			     struct vmm_error *err);

/*
 * Quote s as a YAML double-quoted scalar (quotes included):
 * '"' and '\' are escaped, control characters become \n, \t, \xHH, and
 * non-ASCII characters \uHHHH / \UHHHHHHHH, so the result is plain ASCII.
 * Returns a malloc'd string, or NULL if s is not valid UTF-8 (errno EILSEQ)
 * or memory runs out (ENOMEM).
 */
char *vmm_yaml_quote(const char *s);

#ifdef __cplusplus
}
#endif

#endif /* VMM_CLOUDINIT_H */
