/* SPDX-License-Identifier: MIT */
/*
 * lib/image.h - private pieces of the image module, shared by
 * image_util.c, image_decompress.c, image_download.c, image_cache.c,
 * image_usage.c and image_qemu.c (and reached by the unit tests).
 */
#ifndef VMMI_IMAGE_H
#define VMMI_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/error.h"
#include "vmm/image.h"
#include "vmm/paths.h"

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

/* ---- what a server sends ---- */

/* How many first bytes of a body vmmi_looks_like_markup looks at. */
#define VMMI_SNIFF_MAX 512
/* Whether data (the first bytes of a body or file) starts like markup: after
 * an optional UTF-8 or UTF-16 byte order mark and whitespace, "<!DOCTYPE",
 * "<html", "<?xml", "<head" or "<body" (case-insensitive). */
bool vmmi_looks_like_markup(const void *data, size_t len);
/* Whether a Content-Type value names a document rather than a file: text/...
 * or application/xhtml+xml (parameters, case and spaces ignored). */
bool vmmi_content_type_is_document(const char *content_type);
/* The free space a download leaves on a filesystem of fs_size bytes: 1 GiB
 * or 5 % of it, whichever is smaller. */
uint64_t vmmi_space_reserve(uint64_t fs_size);

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

/* ---- the cache's entries and locks (image_cache.c) ---- */

/* Whether s is a cache key: 64 lowercase hex digits. */
bool vmmi_image_is_key(const char *s);

/* Bytes the regular files directly in dir take on disk (st_blocks * 512);
 * 0 if it cannot be read. */
uint64_t vmmi_dir_usage(const char *dir);

/*
 * The lock of the entry key. Every locker checks, once it holds the lock,
 * that the lock file is still the one the path names (and locks the new one
 * if not), so a lock file may be removed by whoever holds it:
 * vmmi_image_unlock does, prune removes the ones nobody holds.
 */
int vmmi_image_lock(const struct vmm_paths *paths, const char *key, struct vmm_error *err);
#define VMMI_LOCK_TAKEN 0   /* *fd holds the lock */
#define VMMI_LOCK_BUSY 1    /* another process (or open file) holds it */
#define VMMI_LOCK_MISSING 2 /* create false and there is no lock file */
/* Without waiting: one of the above, or <0 on error. *fd is -1 unless
 * TAKEN. */
int vmmi_image_trylock(const struct vmm_paths *paths, const char *key, bool create, int *fd,
		       struct vmm_error *err);
/* Release a lock from vmmi_image_lock or _trylock, removing its file. */
void vmmi_image_unlock(const struct vmm_paths *paths, const char *key, int fd);

/*
 * The entry key: 0 and *out if its directory holds a complete entry, or,
 * with incomplete, an incomplete one (PARTIAL, or DOWNLOADING if its lock
 * is held; looking never waits); 1 if there is no such entry; <0 on error.
 */
int vmmi_image_load(const struct vmm_paths *paths, const char *key, bool incomplete,
		    struct vmm_cached_image **out, struct vmm_error *err);
/* Every entry (with incomplete, incomplete ones too), sorted by name, URL
 * and key; users are not filled. */
int vmmi_image_scan(const struct vmm_paths *paths, bool incomplete,
		    struct vmm_cached_image ***out, size_t *n, struct vmm_error *err);
/* vmm_image_find, incomplete entries included if asked. */
int vmmi_image_lookup(const struct vmm_paths *paths, const char *what, bool incomplete,
		      struct vmm_cached_image **out, struct vmm_error *err);
/* Remove the entry key's directory, its metadata first; the caller holds
 * its lock. */
int vmmi_image_remove_locked(const struct vmm_paths *paths, const char *key,
			     struct vmm_error *err);
/* Remove img under its lock (waiting for it if img is complete; refusing
 * with VMM_E_LOCK if it is not and a pull holds it), after checking under
 * the lock that the entry is still what img says. */
int vmmi_image_remove_entry(const struct vmm_paths *paths, const struct vmm_cached_image *img,
			    struct vmm_error *err);

/* ---- qemu-img ---- */

/* Check that a file is plausibly a disk image before asking qemu-img: not
 * compressed, not text, not empty. VMM_E_FORMAT with a hint if not. */
int vmmi_image_sniff(const char *path, struct vmm_error *err);

#endif
