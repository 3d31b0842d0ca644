/* SPDX-License-Identifier: MIT */
/*
 * lib/keys.c - Ed25519 keypairs with libssh, known_hosts lines, public key
 * files. See include/vmm/keys.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libssh/libssh.h>

#include "core/util.h"
#include "vmm/keys.h"
#include "vmm/log.h"

#define MOD "keys"

static int nomem(struct vmm_error *err)
{
	return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
}

static void wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void vmm_keypair_release(struct vmm_keypair *kp)
{
	if (!kp)
		return;
	wipe_free(kp->private_openssh);
	free(kp->public_line);
	kp->private_openssh = NULL;
	kp->public_line = NULL;
}

int vmm_keypair_generate(struct vmm_keypair *kp, const char *comment,
			 struct vmm_error *err)
{
	ssh_key key = NULL;
	char *priv = NULL, *pub_b64 = NULL;
	const char *type;
	int rc;

	kp->private_openssh = NULL;
	kp->public_line = NULL;
	if (comment && strpbrk(comment, "\r\n")) {
		rc = vmm_error_set(err, VMM_E_KEYGEN, 0, "use a one-line key comment",
				   "SSH key comment must not contain a line break");
		goto out;
	}
	if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK) {
		rc = vmm_error_set(err, VMM_E_KEYGEN, 0, NULL,
				   "libssh could not generate an Ed25519 key");
		goto out;
	}
	/* For Ed25519, libssh 0.10 exports the OpenSSH private key format. */
	if (ssh_pki_export_privkey_base64(key, NULL, NULL, NULL, &priv) != SSH_OK ||
	    !strstr(priv, "BEGIN OPENSSH PRIVATE KEY")) {
		rc = vmm_error_set(err, VMM_E_KEYGEN, 0, NULL,
				   "libssh could not export the private key in OpenSSH format");
		goto out;
	}
	if (ssh_pki_export_pubkey_base64(key, &pub_b64) != SSH_OK) {
		rc = vmm_error_set(err, VMM_E_KEYGEN, 0, NULL,
				   "libssh could not export the public key");
		goto out;
	}
	type = ssh_key_type_to_char(ssh_key_type(key));
	if (comment && *comment)
		kp->public_line = vmmi_asprintf("%s %s %s", type, pub_b64, comment);
	else
		kp->public_line = vmmi_asprintf("%s %s", type, pub_b64);
	if (priv[strlen(priv) - 1] == '\n')
		kp->private_openssh = strdup(priv);
	else
		kp->private_openssh = vmmi_asprintf("%s\n", priv);
	if (!kp->public_line || !kp->private_openssh) {
		vmm_keypair_release(kp);
		rc = nomem(err);
		goto out;
	}
	rc = 0;
out:
	if (priv) {
		explicit_bzero(priv, strlen(priv));
		ssh_string_free_char(priv);
	}
	if (pub_b64)
		ssh_string_free_char(pub_b64);
	ssh_key_free(key);
	return rc;
}

int vmm_keypair_write(const struct vmm_keypair *kp, const char *private_path,
		      struct vmm_error *err)
{
	char *pub_path = NULL, *pub = NULL;
	int rc;

	if (!kp || !kp->private_openssh || !kp->public_line)
		return vmm_error_set(err, VMM_E_USAGE, EINVAL, NULL,
				     "vmm_keypair_write: empty keypair");
	pub_path = vmmi_asprintf("%s.pub", private_path);
	pub = vmmi_asprintf("%s\n", kp->public_line);
	if (!pub_path || !pub) {
		rc = nomem(err);
		goto out;
	}
	rc = vmmi_write_file_atomic(pub_path, pub, strlen(pub), 0644, err);
	if (rc < 0)
		goto out;
	rc = vmmi_write_file_atomic(private_path, kp->private_openssh,
				    strlen(kp->private_openssh), 0600, err);
	if (rc < 0)
		goto out;
	vmm_debug(MOD, "wrote keypair %s (+.pub)", private_path);
out:
	free(pub_path);
	free(pub);
	return rc;
}

int vmm_keys_generate_vm(const char *work_dir, const char *comment, char **public_line,
			 char **private_path, struct vmm_error *err)
{
	struct vmm_keypair kp = {0};
	char *path = vmmi_path_join(work_dir, VMM_GENERATED_KEY_NAME);
	int rc;

	if (public_line)
		*public_line = NULL;
	if (private_path)
		*private_path = NULL;
	if (!path)
		return nomem(err);
	rc = vmm_keypair_generate(&kp, comment, err);
	if (rc < 0)
		goto out;
	rc = vmm_keypair_write(&kp, path, err);
	if (rc < 0) {
		vmm_error_prefix(err, "cannot store the VM's SSH key");
		goto out;
	}
	if (public_line && !(*public_line = strdup(kp.public_line))) {
		rc = nomem(err);
		goto out;
	}
	if (private_path) {
		*private_path = path;
		path = NULL;
	}
out:
	vmm_keypair_release(&kp);
	free(path);
	return rc;
}

/* Split "TYPE BASE64 [comment]" into malloc'd type and base64 parts. */
static int split_key_line(const char *line, char **type, char **b64)
{
	const char *p = line, *t, *b;
	size_t tl, bl;

	while (*p == ' ' || *p == '\t')
		p++;
	t = p;
	while (*p && *p != ' ' && *p != '\t')
		p++;
	tl = (size_t)(p - t);
	while (*p == ' ' || *p == '\t')
		p++;
	b = p;
	while (*p && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
		p++;
	bl = (size_t)(p - b);
	if (tl == 0 || bl == 0)
		return -1;
	*type = strndup(t, tl);
	*b64 = strndup(b, bl);
	if (!*type || !*b64) {
		free(*type);
		free(*b64);
		*type = *b64 = NULL;
		return -2;
	}
	return 0;
}

/* Parse a public key line with libssh; *key_out may be NULL. */
static int parse_pubkey(const char *line, char **type_out, char **b64_out, ssh_key *key_out,
			struct vmm_error *err)
{
	char *type = NULL, *b64 = NULL;
	enum ssh_keytypes_e kt;
	ssh_key key = NULL;
	int rc, s;

	if (strpbrk(line, "\r\n")) {
		rc = vmm_error_set(err, VMM_E_CLOUDINIT, 0, "give one key per line",
				   "SSH public key contains a line break");
		goto out;
	}
	s = split_key_line(line, &type, &b64);
	if (s == -2) {
		rc = nomem(err);
		goto out;
	}
	if (s < 0) {
		rc = vmm_error_set(err, VMM_E_CLOUDINIT, 0,
				   "expected an OpenSSH public key line such as "
				   "'ssh-ed25519 AAAA... comment' (the .pub file, not the private key)",
				   "not an SSH public key: '%.60s'", line);
		goto out;
	}
	kt = ssh_key_type_from_name(type);
	if (kt == SSH_KEYTYPE_UNKNOWN ||
	    ssh_pki_import_pubkey_base64(b64, kt, &key) != SSH_OK) {
		rc = vmm_error_set(err, VMM_E_CLOUDINIT, 0,
				   "expected an OpenSSH public key line such as "
				   "'ssh-ed25519 AAAA... comment' (the .pub file, not the private key)",
				   "not a valid SSH public key of type '%.40s'", type);
		goto out;
	}
	rc = 0;
	if (type_out) {
		*type_out = type;
		type = NULL;
	}
	if (b64_out) {
		*b64_out = b64;
		b64 = NULL;
	}
	if (key_out) {
		*key_out = key;
		key = NULL;
	}
out:
	free(type);
	free(b64);
	ssh_key_free(key);
	return rc;
}

int vmm_pubkey_parse(const char *line, char **type, char **b64, struct vmm_error *err)
{
	if (type)
		*type = NULL;
	if (b64)
		*b64 = NULL;
	return parse_pubkey(line, type, b64, NULL, err);
}

int vmm_known_hosts_line(const char *host, unsigned port, const char *public_line,
			 char **out, struct vmm_error *err)
{
	char *type = NULL, *b64 = NULL;
	int rc;

	*out = NULL;
	if (!host || !*host || strpbrk(host, " \t\r\n[]") || port == 0 || port > 65535)
		return vmm_error_set(err, VMM_E_USAGE, EINVAL, NULL,
				     "invalid host '%s' or port %u for a known_hosts line",
				     host ? host : "(null)", port);
	rc = parse_pubkey(public_line, &type, &b64, NULL, err);
	if (rc < 0)
		return rc;
	if (port == 22)
		*out = vmmi_asprintf("%s %s %s", host, type, b64);
	else
		*out = vmmi_asprintf("[%s]:%u %s %s", host, port, type, b64);
	if (!*out)
		rc = nomem(err);
	free(type);
	free(b64);
	return rc;
}

int vmm_pubkey_fingerprint(const char *public_line, char **out, struct vmm_error *err)
{
	ssh_key key = NULL;
	unsigned char *hash = NULL;
	size_t hlen = 0;
	char *fp = NULL;
	int rc;

	*out = NULL;
	rc = parse_pubkey(public_line, NULL, NULL, &key, err);
	if (rc < 0)
		return rc;
	if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) != 0 ||
	    !(fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen))) {
		rc = vmm_error_set(err, VMM_E_KEYGEN, 0, NULL,
				   "libssh could not compute the key's fingerprint");
		goto out;
	}
	if (!(*out = strdup(fp)))
		rc = nomem(err);
out:
	if (fp)
		ssh_string_free_char(fp);
	if (hash)
		ssh_clean_pubkey_hash(&hash);
	ssh_key_free(key);
	return rc;
}

int vmm_pubkey_file_read(const char *path, char **lines, struct vmm_error *err)
{
	char *data = NULL, *save = NULL, *line;
	size_t len = 0;
	struct vmmi_buf b;
	unsigned lineno = 0, n = 0;
	int rc;

	*lines = NULL;
	vmmi_buf_init(&b);
	rc = vmmi_read_file(path, &data, &len, err);
	if (rc < 0) {
		vmm_error_prefix(err, "cannot read SSH public key");
		goto out;
	}
	if (memchr(data, '\0', len)) {
		rc = vmm_error_set(err, VMM_E_CLOUDINIT, 0,
				   "point ssh-key at the public key (.pub) file",
				   "SSH public key file '%s' is binary", path);
		goto out;
	}
	for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t l;

		lineno++;
		l = strlen(line);
		while (l > 0 && (line[l - 1] == '\r' || line[l - 1] == ' ' || line[l - 1] == '\t'))
			line[--l] = '\0';
		while (*line == ' ' || *line == '\t')
			line++;
		if (*line == '\0' || *line == '#')
			continue;
		rc = parse_pubkey(line, NULL, NULL, NULL, err);
		if (rc < 0) {
			vmm_error_prefix(err, "%s:%u", path, lineno);
			goto out;
		}
		if ((n++ && vmmi_buf_append(&b, "\n", 1) < 0) ||
		    vmmi_buf_append(&b, line, strlen(line)) < 0) {
			rc = nomem(err);
			goto out;
		}
	}
	if (n == 0) {
		rc = vmm_error_set(err, VMM_E_CLOUDINIT, 0,
				   "point ssh-key at a public key (.pub) file, e.g. ~/.ssh/id_ed25519.pub",
				   "no SSH public key in '%s'", path);
		goto out;
	}
	*lines = vmmi_buf_steal(&b);
	rc = *lines ? 0 : nomem(err);
out:
	vmmi_buf_release(&b);
	free(data);
	return rc;
}
