/* SPDX-License-Identifier: MIT */
/*
 * lib/cloudinit.c - NoCloud seed: cloud-config, meta-data, ISO (libisofs).
 * See include/vmm/cloudinit.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define LIBISOFS_WITHOUT_LIBBURN 1
/* libisofs.h declares a few functions as f() */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <libisofs.h>
#pragma GCC diagnostic pop
#include <libssh/libssh.h>

#include "core/util.h"
#include "vmm/cloudinit.h"
#include "vmm/keys.h"
#include "vmm/log.h"

#define MOD "cloudinit"

static int nomem(struct vmm_error *err)
{
	return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
}

/* Decode one UTF-8 sequence at s; returns its length, or 0 if invalid
 * (overlong forms, surrogates and values above U+10FFFF are invalid). */
static size_t utf8_decode(const unsigned char *s, uint32_t *cp)
{
	uint32_t c;
	size_t n, i;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		c = s[0] & 0x1f;
		n = 2;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		c = s[0] & 0x0f;
		n = 3;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		c = s[0] & 0x07;
		n = 4;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

char *vmm_yaml_quote(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	struct vmmi_buf b;
	uint32_t cp;
	size_t n;
	int rc = 0;

	vmmi_buf_init(&b);
	rc |= vmmi_buf_append(&b, "\"", 1);
	while (*p && rc == 0) {
		if (!(n = utf8_decode(p, &cp))) {
			vmmi_buf_release(&b);
			errno = EILSEQ;
			return NULL;
		}
		p += n;
		if (cp == '"')
			rc |= vmmi_buf_append(&b, "\\\"", 2);
		else if (cp == '\\')
			rc |= vmmi_buf_append(&b, "\\\\", 2);
		else if (cp == '\n')
			rc |= vmmi_buf_append(&b, "\\n", 2);
		else if (cp == '\t')
			rc |= vmmi_buf_append(&b, "\\t", 2);
		else if (cp == '\r')
			rc |= vmmi_buf_append(&b, "\\r", 2);
		else if (cp < 0x20 || cp == 0x7f)
			rc |= vmmi_buf_printf(&b, "\\x%02x", (unsigned)cp);
		else if (cp < 0x80) {
			char c = (char)cp;

			rc |= vmmi_buf_append(&b, &c, 1);
		} else if (cp <= 0xffff)
			rc |= vmmi_buf_printf(&b, "\\u%04x", (unsigned)cp);
		else
			rc |= vmmi_buf_printf(&b, "\\U%08x", (unsigned)cp);
	}
	rc |= vmmi_buf_append(&b, "\"", 1);
	if (rc) {
		vmmi_buf_release(&b);
		errno = ENOMEM;
		return NULL;
	}
	return vmmi_buf_steal(&b);
}

int vmm_cloudinit_instance_id(char **out, struct vmm_error *err)
{
	unsigned char rnd[16];
	char hex[sizeof(rnd) * 2 + 1];
	size_t got = 0;
	size_t i;

	*out = NULL;
	while (got < sizeof(rnd)) {
		ssize_t r = getrandom(rnd + got, sizeof(rnd) - got, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return vmm_error_errno(err, VMM_E_CLOUDINIT, NULL,
					       "cannot get random bytes for the instance id");
		}
		got += (size_t)r;
	}
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
	*out = vmmi_asprintf("iid-%s", hex);
	return *out ? 0 : nomem(err);
}

/* Append "<indent><key>: <quoted value>\n"; a value that is not UTF-8 is a
 * VMM_E_CLOUDINIT error naming what. */
static int emit_kv(struct vmmi_buf *b, const char *indent, const char *key, const char *value,
		   const char *what, struct vmm_error *err)
{
	char *q = vmm_yaml_quote(value);
	int rc;

	if (!q) {
		if (errno == EILSEQ)
			return vmm_error_set(err, VMM_E_CLOUDINIT, EILSEQ,
					     "cloud-init values must be UTF-8 text",
					     "%s is not valid UTF-8", what);
		return nomem(err);
	}
	rc = vmmi_buf_printf(b, "%s%s: %s\n", indent, key, q);
	free(q);
	return rc < 0 ? nomem(err) : 0;
}

/* A private key can go into a literal block scalar when it is plain
 * printable ASCII lines (PEM/OpenSSH armour always is); otherwise it is
 * emitted double-quoted. */
static bool block_scalar_safe(const char *s)
{
	const char *p;

	if (!*s || *s == ' ' || s[strlen(s) - 1] != '\n')
		return false;
	for (p = s; *p; p++) {
		if (*p == '\n') {
			if (p[1] == ' ' || p[1] == '\n')
				return false;
			continue;
		}
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			return false;
	}
	return true;
}

static int check_host_keys(const struct vmm_seed_spec *spec, struct vmm_error *err)
{
	ssh_key key = NULL;
	int rc;

	if (!spec->host_key_private != !spec->host_key_public)
		return vmm_error_set(err, VMM_E_CLOUDINIT, EINVAL,
				     "give both halves of the host keypair (vmm_keypair_generate)",
				     "seed host key: private and public key must be given together");
	if (!spec->host_key_private)
		return 0;
	if (ssh_pki_import_privkey_base64(spec->host_key_private, NULL, NULL, NULL, &key) !=
		    SSH_OK ||
	    ssh_key_type(key) != SSH_KEYTYPE_ED25519) {
		ssh_key_free(key);
		return vmm_error_set(err, VMM_E_CLOUDINIT, EINVAL,
				     "generate the host key with vmm_keypair_generate",
				     "seed host key is not an OpenSSH Ed25519 private key");
	}
	ssh_key_free(key);
	rc = vmm_pubkey_parse(spec->host_key_public, NULL, NULL, err);
	if (rc < 0)
		vmm_error_prefix(err, "seed host public key");
	return rc;
}

/* The shares as cloud-init "mounts" entries (fstab fields: device, mount
 * point, type, options, dump, pass); cloud-init creates the mount points.
 * nofail: a share the guest cannot mount does not hold up its boot. */
static int emit_mounts(const struct vmm_seed_spec *spec, struct vmmi_buf *b,
		       struct vmm_error *err)
{
	if (!spec->n_shares)
		return 0;
	if (vmmi_buf_printf(b, "mounts:\n") < 0)
		return nomem(err);
	for (size_t i = 0; i < spec->n_shares; i++) {
		const struct vmm_share *sh = &spec->shares[i];
		char *q;
		int rc;

		if (!sh->guest || sh->guest[0] != '/' || strpbrk(sh->guest, " \t\n"))
			return vmm_error_set(err, VMM_E_CLOUDINIT, 0,
					     "give an absolute guest path without blanks",
					     "cannot mount a share at '%s'",
					     sh->guest ? sh->guest : "(null)");
		if (!(q = vmm_yaml_quote(sh->guest)))
			return errno == EILSEQ ? vmm_error_set(err, VMM_E_CLOUDINIT, EILSEQ,
							       "cloud-init values must be UTF-8 text",
							       "share path '%s' is not valid UTF-8",
							       sh->guest)
					       : nomem(err);
		rc = vmmi_buf_printf(b, "  - [\"vmctl%zu\", %s, \"%s\", \"%s%s,nofail\", \"0\", \"0\"]\n",
				     i, q, sh->type == VMM_SHARE_9P ? "9p" : "virtiofs",
				     sh->type == VMM_SHARE_9P
					     ? "trans=virtio,version=9p2000.L,msize=262144"
					     : "defaults",
				     sh->readonly ? ",ro" : "");
		free(q);
		if (rc < 0)
			return nomem(err);
	}
	return 0;
}

static int generate_cloud_config(const struct vmm_seed_spec *spec, struct vmmi_buf *b,
				 struct vmm_error *err)
{
	const char *user = spec->user ? spec->user : VMM_CLOUDINIT_DEFAULT_USER;
	char *keys = NULL, *save = NULL, *line;
	bool keys_header = false;
	int rc;

	if (!*user)
		return vmm_error_set(err, VMM_E_CLOUDINIT, EINVAL,
				     "set ssh.user in the VMFile or pass --user",
				     "the SSH user name for cloud-init is empty");
	rc = check_host_keys(spec, err);
	if (rc < 0)
		return rc;

	if (vmmi_buf_printf(b, "#cloud-config\n# generated by vmctl\n") < 0)
		return nomem(err);
	if (spec->hostname) {
		rc = emit_kv(b, "", "hostname", spec->hostname, "the hostname", err);
		if (rc < 0)
			return rc;
	}
	if (vmmi_buf_printf(b, "manage_etc_hosts: localhost\n"
			       "disable_root: true\n"
			       "ssh_pwauth: false\n"
			       "users:\n") < 0)
		return nomem(err);
	if ((rc = emit_kv(b, "  - ", "name", user, "the SSH user name", err)) < 0 ||
	    (rc = emit_kv(b, "    ", "sudo", "ALL=(ALL) NOPASSWD:ALL", "sudo", err)) < 0 ||
	    (rc = emit_kv(b, "    ", "shell", "/bin/bash", "shell", err)) < 0)
		return rc;
	if (vmmi_buf_printf(b, "    lock_passwd: true\n") < 0)
		return nomem(err);

	if (spec->authorized_keys) {
		if (!(keys = strdup(spec->authorized_keys)))
			return nomem(err);
		for (line = strtok_r(keys, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			size_t l = strlen(line);
			char *q;

			while (l > 0 && strchr(" \t\r", line[l - 1]))
				line[--l] = '\0';
			while (*line == ' ' || *line == '\t')
				line++;
			if (!*line || *line == '#')
				continue;
			if (!keys_header && vmmi_buf_printf(b, "    ssh_authorized_keys:\n") < 0) {
				rc = nomem(err);
				goto out;
			}
			keys_header = true;
			if (!(q = vmm_yaml_quote(line))) {
				rc = errno == EILSEQ
					     ? vmm_error_set(err, VMM_E_CLOUDINIT, EILSEQ,
							     "use an OpenSSH .pub file",
							     "SSH public key is not valid UTF-8")
					     : nomem(err);
				goto out;
			}
			rc = vmmi_buf_printf(b, "      - %s\n", q);
			free(q);
			if (rc < 0) {
				rc = nomem(err);
				goto out;
			}
		}
	}

	if (spec->host_key_private) {
		/* Only our host key: the client pins it, so the guest must not
		 * offer other types first. */
		if (vmmi_buf_printf(b, "ssh_genkeytypes: []\nssh_keys:\n") < 0) {
			rc = nomem(err);
			goto out;
		}
		if (block_scalar_safe(spec->host_key_private)) {
			const char *p = spec->host_key_private;

			if (vmmi_buf_printf(b, "  ed25519_private: |\n") < 0) {
				rc = nomem(err);
				goto out;
			}
			while (*p) {
				const char *nl = strchr(p, '\n');

				if (vmmi_buf_printf(b, "    %.*s\n", (int)(nl - p), p) < 0) {
					rc = nomem(err);
					goto out;
				}
				p = nl + 1;
			}
		} else if ((rc = emit_kv(b, "  ", "ed25519_private", spec->host_key_private,
					 "the host private key", err)) < 0) {
			goto out;
		}
		rc = emit_kv(b, "  ", "ed25519_public", spec->host_key_public,
			     "the host public key", err);
		if (rc < 0)
			goto out;
	}
	rc = emit_mounts(spec, b, err);
out:
	free(keys);
	return rc;
}

int vmm_cloudinit_user_data(const struct vmm_seed_spec *spec, char **out, size_t *len,
			    struct vmm_error *err)
{
	struct vmmi_buf b;
	size_t l;
	int rc;

	*out = NULL;
	if (len)
		*len = 0;
	if (spec->user_data) {
		/* Untouched: a copy of exactly the bytes given (plus a NUL). */
		if (!(*out = malloc(spec->user_data_len + 1)))
			return nomem(err);
		memcpy(*out, spec->user_data, spec->user_data_len);
		(*out)[spec->user_data_len] = '\0';
		if (len)
			*len = spec->user_data_len;
		return 0;
	}
	vmmi_buf_init(&b);
	rc = generate_cloud_config(spec, &b, err);
	if (rc < 0) {
		vmmi_buf_release(&b);
		return rc;
	}
	l = b.len;
	if (!(*out = vmmi_buf_steal(&b)))
		return nomem(err);
	if (len)
		*len = l;
	return 0;
}

int vmm_cloudinit_meta_data(const struct vmm_seed_spec *spec, char **out,
			    struct vmm_error *err)
{
	struct vmmi_buf b;
	char *iid = NULL;
	int rc;

	*out = NULL;
	vmmi_buf_init(&b);
	if (spec->instance_id) {
		if (!(iid = strdup(spec->instance_id))) {
			rc = nomem(err);
			goto out;
		}
	} else if ((rc = vmm_cloudinit_instance_id(&iid, err)) < 0) {
		goto out;
	}
	if (!*iid) {
		rc = vmm_error_set(err, VMM_E_CLOUDINIT, EINVAL, NULL, "empty instance id");
		goto out;
	}
	rc = emit_kv(&b, "", "instance-id", iid, "the instance id", err);
	if (rc < 0)
		goto out;
	if (spec->hostname) {
		rc = emit_kv(&b, "", "local-hostname", spec->hostname, "the hostname", err);
		if (rc < 0)
			goto out;
	}
	if (!(*out = vmmi_buf_steal(&b)))
		rc = nomem(err);
out:
	free(iid);
	vmmi_buf_release(&b);
	return rc;
}

/* libisofs keeps global state: initialise it once, and build one image at a
 * time. */
static pthread_once_t iso_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t iso_lock = PTHREAD_MUTEX_INITIALIZER;
static int iso_init_rc;

static void iso_global_init(void)
{
	iso_init_rc = iso_init();
	if (iso_init_rc >= 0) {
		/* Never print: errors come back as return codes. */
		iso_set_msgs_severities("NEVER", "NEVER", "libisofs");
	}
}

static int iso_fail(struct vmm_error *err, int code, const char *path, const char *what)
{
	return vmm_error_set(err, VMM_E_ISO, 0,
			     "this is a libisofs failure; check free memory and disk space",
			     "cannot build seed ISO '%s': %s: %s", path, what,
			     iso_error_to_msg(code));
}

static int add_file(IsoImage *image, IsoDir *root, const char *name, const char *data,
		    size_t len, const char *path, struct vmm_error *err)
{
	unsigned char *copy = malloc(len ? len : 1);
	IsoStream *stream = NULL;
	IsoFile *file = NULL;
	int r;

	if (!copy)
		return nomem(err);
	memcpy(copy, data, len);
	r = iso_memory_stream_new(copy, len, &stream); /* owns copy from here */
	if (r < 0) {
		free(copy);
		return iso_fail(err, r, path, "memory stream");
	}
	r = iso_image_add_new_file(image, root, name, stream, &file);
	if (r < 0) {
		iso_stream_unref(stream);
		return iso_fail(err, r, path, name);
	}
	iso_node_set_permissions((IsoNode *)file, 0644);
	iso_node_set_uid((IsoNode *)file, 0);
	iso_node_set_gid((IsoNode *)file, 0);
	return 0;
}

int vmm_cloudinit_write_iso(const char *path, const char *user_data, size_t user_data_len,
			    const char *meta_data, size_t meta_data_len,
			    struct vmm_error *err)
{
	IsoImage *image = NULL;
	IsoWriteOpts *opts = NULL;
	struct burn_source *src = NULL;
	unsigned char block[2048];
	struct vmmi_buf iso;
	int rc, r;

	vmmi_buf_init(&iso);
	pthread_once(&iso_once, iso_global_init);
	if (iso_init_rc < 0)
		return iso_fail(err, iso_init_rc, path, "library initialisation");
	pthread_mutex_lock(&iso_lock);

	r = iso_image_new("cidata", &image);
	if (r < 0) {
		rc = iso_fail(err, r, path, "new image");
		goto out;
	}
	iso_image_set_volume_id(image, "cidata");
	iso_image_set_application_id(image, "vmctl");
	if ((rc = add_file(image, iso_image_get_root(image), "user-data", user_data,
			   user_data_len, path, err)) < 0 ||
	    (rc = add_file(image, iso_image_get_root(image), "meta-data", meta_data,
			   meta_data_len, path, err)) < 0)
		goto out;

	r = iso_write_opts_new(&opts, 0);
	if (r < 0) {
		rc = iso_fail(err, r, path, "write options");
		goto out;
	}
	iso_write_opts_set_iso_level(opts, 2);
	iso_write_opts_set_rockridge(opts, 1);
	iso_write_opts_set_joliet(opts, 1);
	iso_write_opts_set_always_gmt(opts, 1);
	/* Keep the volume id lower-case "cidata" in the primary descriptor
	 * too (ISO 9660 proper allows only upper case): the label the guest
	 * looks for is "cidata". */
	iso_write_opts_set_relaxed_vol_atts(opts, 1);
	/* Joliet names exactly "user-data" and "meta-data": no ";1", no "." */
	iso_write_opts_set_omit_version_numbers(opts, 2);
	iso_write_opts_set_no_force_dots(opts, 2);

	r = iso_image_create_burn_source(image, opts, &src);
	if (r < 0) {
		rc = iso_fail(err, r, path, "writer");
		src = NULL;
		goto out;
	}
	for (;;) {
		r = src->read_xt(src, block, sizeof(block));
		if (r == 0)
			break;
		if (r < 0) {
			rc = vmm_error_set(err, VMM_E_ISO, 0,
					   "this is a libisofs failure; check free memory",
					   "cannot build seed ISO '%s': the image writer failed", path);
			goto out;
		}
		if (vmmi_buf_append(&iso, block, (size_t)r) < 0) {
			rc = nomem(err);
			goto out;
		}
	}
	/* 0600: the seed carries the guest's SSH host private key (and raw
	 * user-data may hold secrets too); QEMU runs as the same user. */
	rc = vmmi_write_file_atomic(path, iso.data, iso.len, 0600, err);
	if (rc < 0) {
		err->code = VMM_E_ISO;
		vmm_error_prefix(err, "cannot write seed ISO");
		goto out;
	}
	vmm_debug(MOD, "wrote seed ISO %s (%zu bytes)", path, iso.len);
out:
	if (src) {
		if (rc < 0 && src->cancel)
			src->cancel(src);
		src->free_data(src);
		free(src);
	}
	iso_write_opts_free(opts);
	if (image)
		iso_image_unref(image);
	pthread_mutex_unlock(&iso_lock);
	vmmi_buf_release(&iso);
	return rc;
}

int vmm_cloudinit_write_seed(const struct vmm_seed_spec *spec, const char *iso_path,
			     struct vmm_error *err)
{
	char *ud = NULL, *md = NULL;
	size_t ud_len = 0;
	int rc;

	if ((rc = vmm_cloudinit_user_data(spec, &ud, &ud_len, err)) < 0 ||
	    (rc = vmm_cloudinit_meta_data(spec, &md, err)) < 0)
		goto out;
	rc = vmm_cloudinit_write_iso(iso_path, ud, ud_len, md, strlen(md), err);
out:
	free(ud);
	free(md);
	return rc;
}
