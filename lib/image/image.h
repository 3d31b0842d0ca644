/* SPDX-License-Identifier: MIT */
/*
 * lib/image.h - private pieces of the image module, shared by
 * image_util.c, image_decompress.c, image_download.c, image_cache.c and
 * image_qemu.c (and reached by the unit tests).
 */
#ifndef VMMI_IMAGE_H
#define VMMI_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/error.h"
#include "vmm/image.h"

/* ---- sha256 (OpenSSL libcrypto, EVP API) ---- */

struct vmmi_sha256 {
	void *ctx; /* EVP_MD_CTX */
};
int vmmi_sha256_init(struct vmmi_sha256 *h, struct vmm_error *err);
void vmmi_sha256_update(struct vmmi_sha256 *h, const void *data, size_t len);
/* Write the lowercase hex digest (65 bytes with NUL); the context is then
 * reset to an empty digest, ready for reuse. */
void vmmi_sha256_final_hex(struct vmmi_sha256 *h, char hex[65]);
void vmmi_sha256_release(struct vmmi_sha256 *h);
/* One-shot digest of a buffer, hex. */
void vmmi_sha256_hex(const void *data, size_t len, char hex[65]);

/* Whether s is a sha256 in hex (64 hex digits, either case). */
bool vmmi_sha256_valid(const char *s);

/* ---- compression ---- */

enum vmmi_compression {
	VMMI_COMP_NONE = 0,
	VMMI_COMP_ZSTD,
	VMMI_COMP_XZ,
	VMMI_COMP_GZIP,
};

/* "none", "zstd", "xz", "gzip" */
const char *vmmi_compression_name(enum vmmi_compression c);
/* The compression the first bytes of a stream announce (NONE if none). At
 * least VMMI_MAGIC_MAX bytes are needed to tell, fewer are matched as far as
 * they go. */
#define VMMI_MAGIC_MAX 6
enum vmmi_compression vmmi_compression_from_magic(const void *data, size_t len);
/* The compression a file name (or URL path) announces by its suffix:
 * .zst/.zstd, .xz, .gz (case-insensitive). */
enum vmmi_compression vmmi_compression_from_suffix(const char *name);

/* Where decompressed bytes go. Returns 0 or a negative error (err filled). */
typedef int (*vmmi_sink_fn)(void *userdata, const void *data, size_t len,
			    struct vmm_error *err);

struct vmmi_decomp;
/* A streaming decompressor of kind c feeding sink; NONE passes bytes through.
 * Memory stays bounded (the codec's window plus one output buffer). */
int vmmi_decomp_new(enum vmmi_compression c, vmmi_sink_fn sink, void *userdata,
		    struct vmmi_decomp **out, struct vmm_error *err);
int vmmi_decomp_feed(struct vmmi_decomp *d, const void *data, size_t len,
		     struct vmm_error *err);
/* End of input: flushes and checks the stream was complete (VMM_E_FORMAT if
 * it was cut short). */
int vmmi_decomp_finish(struct vmmi_decomp *d, struct vmm_error *err);
void vmmi_decomp_free(struct vmmi_decomp *d);

/* ---- names ---- */

/* The display name for a URL: the last path component without query,
 * fragment and compression suffix, with characters other than
 * [A-Za-z0-9._+-] replaced by '_' and no leading '.' or '-'; "image" if
 * nothing is left. malloc'd; NULL on allocation failure. */
char *vmmi_image_name_from_url(const char *url);
/* A name the user chose: 1..200 of [A-Za-z0-9._+-], not starting with '.'
 * or '-'. */
int vmmi_image_name_validate(const char *name, struct vmm_error *err);
/* Whether url is an http:// or https:// URL with a host, or a file:///
 * URL with a path. */
bool vmmi_url_valid(const char *url);

/* ---- download ---- */

struct vmmi_download {
	/* in */
	const char *url;
	const char *name;          /* display name, for progress reports */
	const char *part_path;     /* where the (decompressed) bytes go */
	const char *state_path;    /* small JSON recording a partial download */
	const struct vmm_image_pull_opts *opts;
	/* out */
	enum vmmi_compression compression;
	char sha256[65];           /* of the bytes as published */
	uint64_t downloaded;       /* bytes as published */
	uint64_t size;             /* bytes written to part_path */
};

/* Download url to part_path (see vmm_image_pull for the guarantees). On
 * success part_path is complete and fsync'd, the digest checked against
 * opts->sha256 if set, and state_path removed. On failure part_path may
 * remain, for a later resume, only if state_path describes it. */
int vmmi_download(struct vmmi_download *d, struct vmm_error *err);

/* ---- qemu-img ---- */

/* Check that a file is plausibly a disk image before asking qemu-img: not
 * compressed, not text, not empty. VMM_E_FORMAT with a hint if not. */
int vmmi_image_sniff(const char *path, struct vmm_error *err);

#endif
