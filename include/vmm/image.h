/* SPDX-License-Identifier: MIT */
/*
 * vmm/image.h - the image cache and disk image operations.
 *
 * The cache lives in vmm_paths.images_dir. Every entry is keyed by the full
 * URL it came from (the sha256 of the URL, in hex, names its directory), so
 * two URLs with the same file name never collide; the human name (the URL's
 * file name without a compression suffix, or the name the caller chose) is
 * kept for display and is the file name of the image inside the entry:
 *
 *   images/<sha256(url)>/<name>            the image, decompressed
 *   images/<sha256(url)>/.image.json       metadata (url, name, sha256, ...)
 *   images/<sha256(url)>/.pull.json        url and name of a pull not yet done
 *   images/<sha256(url)>/.download.part    a download in progress (never a hit)
 *   images/<sha256(url)>/.download.json    what a later pull needs to resume it
 *   locks/image-<sha256(url)>.lock         serialises pulls of one URL
 *
 * .image.json is written last and atomically: an entry without it is not in
 * the cache, whatever else its directory holds. Downloads are verified (HTTP
 * status, Content-Length, optional sha256) before the image is renamed into
 * place. Compressed images (zstd, xz, gzip; recognised by magic bytes and by
 * the URL's extension) are decompressed while they download.
 *
 * The sha256 of an entry is the digest of the bytes as published at the URL,
 * i.e. of the compressed file for a compressed image: the value a
 * distribution's SHA256SUMS lists for that URL.
 *
 * Disk image operations run the real qemu-img (from qemu-utils).
 */
#ifndef VMM_IMAGE_H
#define VMM_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/error.h"
#include "vmm/paths.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- pulling images into the cache -------------------------------------- */

/* A progress report. Counts are bytes as they travel over the network
 * (compressed bytes for a compressed image), including a resumed part. */
struct vmm_image_progress {
	const char *name;     /* display name of the image being pulled */
	uint64_t done;        /* bytes received so far */
	uint64_t total;       /* expected total, or 0 if the server did not say */
	double rate;          /* recent transfer rate, bytes per second */
	bool finished;        /* the last report of a successful download */
};

typedef void (*vmm_image_progress_fn)(const struct vmm_image_progress *p, void *userdata);

struct vmm_image_pull_opts {
	const char *name;      /* display name; NULL: the URL's file name without a
				  .zst/.zstd/.xz/.gz suffix */
	const char *sha256;    /* expected sha256 (64 hex digits) of the bytes as
				  published, or NULL not to check */
	vmm_image_progress_fn progress; /* NULL: no reports; called at most ~10
					  times a second, from the calling thread */
	void *progress_data;
	unsigned stall_timeout_s;   /* no byte for this long is a stall (default 30) */
	unsigned connect_timeout_s; /* default 30 */
	unsigned attempts;          /* failed transfers in a row without progress
				       before giving up (default 4) */
	uint64_t max_size;          /* bytes the image may have, as published and
				       decompressed: a download that would pass it
				       stops (VMM_E_DOWNLOAD) and leaves nothing.
				       0: VMM_IMAGE_MAX_SIZE_DEFAULT;
				       VMM_IMAGE_MAX_SIZE_NONE: no limit */
	unsigned low_speed_limit;   /* bytes per second: a transfer slower than this
				       for low_speed_time_s seconds is a stall
				       (default 1024; 0: no such check) */
	unsigned low_speed_time_s;  /* default 60 */
};

#define VMM_IMAGE_MAX_SIZE_DEFAULT (256ull << 30) /* 256 GiB */
#define VMM_IMAGE_MAX_SIZE_NONE UINT64_MAX

/* Defaults as documented above. */
void vmm_image_pull_opts_init(struct vmm_image_pull_opts *opts);

/*
 * Parse a size limit as the CLI takes it: a number of bytes with an
 * optional binary suffix K, M, G or T (KiB, MiB, ...; case-insensitive,
 * "10M", "256G", "1.5G"), or "none" (VMM_IMAGE_MAX_SIZE_NONE). Zero, junk
 * and sizes past 2^63 are VMM_E_USAGE with a hint.
 */
int vmm_image_parse_size(const char *text, uint64_t *out, struct vmm_error *err);

/* What an entry directory holds. */
enum vmm_image_state {
	VMM_IMAGE_COMPLETE = 0, /* an image: its metadata is written */
	VMM_IMAGE_PARTIAL,      /* a pull that failed or was killed: a part file, no
				   metadata; never a hit, never an image */
	VMM_IMAGE_DOWNLOADING,  /* a pull of the URL is running (holds the lock) */
};

/* "complete", "partial", "downloading" */
const char *vmm_image_state_name(enum vmm_image_state state);

/*
 * One cache entry. All strings are owned. An incomplete entry (state
 * PARTIAL or DOWNLOADING; only vmm_image_entries returns those) has key,
 * name and path; url, if the pull recorded it (a pull records its URL and
 * name before it downloads); compression, if the download got that far;
 * sha256 and pulled_at are NULL. Its name is the key if the URL is unknown.
 */
struct vmm_cached_image {
	char *key;        /* sha256 of the URL, hex */
	char *name;       /* display name */
	char *url;        /* where it came from */
	char *path;       /* absolute path of the image file (the part file, or
			     the entry's directory if there is none, for an
			     incomplete entry) */
	char *sha256;     /* digest of the bytes as published (see above) */
	char *compression; /* "none", "zstd", "xz" or "gzip" */
	char *pulled_at;  /* RFC 3339 UTC */
	uint64_t size;    /* size of the image file (or part file) in bytes */
	uint64_t download_size; /* bytes downloaded (compressed size) */
	enum vmm_image_state state;
	uint64_t disk_usage; /* bytes the files of the entry's directory take on
				disk (allocated blocks: st_blocks * 512) */
	char **users;     /* vmm_image_entries: the names of the registered VMs
			     whose base this image is (see vmm_image_users) */
	size_t n_users;
};

void vmm_cached_image_free(struct vmm_cached_image *img); /* NULL is a no-op */
void vmm_cached_image_list_free(struct vmm_cached_image **imgs, size_t n);

/*
 * Make the image at url (http://, https:// or file:///) available in the
 * cache and return its entry in *out.
 * A cached URL is a hit (no network traffic; with opts->sha256 the recorded
 * digest must match). Otherwise it is downloaded under the entry's lock, so
 * concurrent pulls of one URL, in any number of processes, download it once
 * and all succeed. Transfer failures (connection errors, stalls, 5xx, a body
 * cut short) are retried, with a short back-off, until opts->attempts of
 * them in a row made no progress; each retry resumes with a Range request
 * (starting over if the server sends the whole file). A partial download
 * left by a killed process is resumed the same way (uncompressed images)
 * or started over (compressed ones).
 * What a server sends is not trusted: a text or HTML response (by its
 * Content-Type, or a body that starts like markup), a file:// URL that is
 * not a regular file and a redirect to anything but http(s) are refused; a
 * download stops when it would pass opts->max_size or leave less than a
 * reserve of free space (1 GiB or 5 % of the cache's filesystem, whichever
 * is smaller), checked as it writes. Such a failure leaves nothing behind.
 * Errors: VMM_E_DOWNLOAD (HTTP status, network, stall, refused responses,
 * size limit), VMM_E_IO (disk full, free-space reserve), VMM_E_CHECKSUM,
 * VMM_E_FORMAT (corrupt compressed data, not a disk image), VMM_E_IO,
 * VMM_E_LOCK, VMM_E_USAGE (bad URL, name or sha256). Nothing is cached on
 * error. opts may be NULL for the defaults.
 */
int vmm_image_pull(const struct vmm_paths *paths, const char *url,
		   const struct vmm_image_pull_opts *opts, struct vmm_cached_image **out,
		   struct vmm_error *err);

/*
 * The local path for an image URL, pulling it if it is not cached: what
 * `vmctl create --image-url` and `vmctl up` call. *local_path is malloc'd.
 */
int vmm_image_fetch(const struct vmm_paths *paths, const char *url,
		    const struct vmm_image_pull_opts *opts, char **local_path,
		    struct vmm_error *err);

/* Every complete cache entry, sorted by name then URL (users not filled). */
int vmm_image_list(const struct vmm_paths *paths, struct vmm_cached_image ***out, size_t *n,
		   struct vmm_error *err);

/*
 * Look an entry up by name, URL, key or image path. A name that two entries
 * share is ambiguous: VMM_E_USAGE naming their URLs. Not found:
 * VMM_E_IMAGE_NOT_FOUND.
 */
int vmm_image_find(const struct vmm_paths *paths, const char *what,
		   struct vmm_cached_image **out, struct vmm_error *err);

/*
 * Remove an entry (what: as for vmm_image_find, but an incomplete entry
 * matches too) under its lock. The caller checks first that no VM uses it
 * (vmm_image_remove_unused does).
 */
int vmm_image_remove(const struct vmm_paths *paths, const char *what, struct vmm_error *err);

/*
 * Whether a registered VM uses a complete entry as its base: its record's
 * image_path is the entry's image file (after resolving symlinks) or its
 * image_url is the entry's URL. An incomplete entry is no VM's base.
 */
struct vmm_vm;
bool vmm_image_used_by(const struct vmm_cached_image *img, const struct vmm_vm *vm);

struct vmm_ctx;

/*
 * Every entry of the cache, complete or not (PARTIAL, DOWNLOADING), each
 * with its disk usage and, for complete ones, the names of the VMs using it
 * (img->users, read from the VM registry): what `vmctl image list` shows.
 * Sorted by name then URL. On failure *out is NULL and *n 0.
 */
int vmm_image_entries(struct vmm_ctx *ctx, struct vmm_cached_image ***out, size_t *n,
		      struct vmm_error *err);

/*
 * Remove an entry, complete or not, named by name, URL, key or path (as for
 * vmm_image_find; a name two entries share is ambiguous), refusing
 * (VMM_E_IMAGE_IN_USE, naming the VMs) while a registered VM uses it. An
 * incomplete entry whose pull is running is not removed (VMM_E_LOCK). On
 * success *removed (may be NULL) receives the entry as it was; on failure
 * it is NULL and nothing was removed.
 */
int vmm_image_remove_unused(struct vmm_ctx *ctx, const char *what,
			    struct vmm_cached_image **removed, struct vmm_error *err);

/* What `vmctl image prune` removes (or keeps). */
enum vmm_image_prune_kind {
	VMM_PRUNE_PARTIAL = 0, /* an incomplete entry no pull is writing: its part
				  file and whatever else its directory holds */
	VMM_PRUNE_LOCK,        /* a lock file in the locks directory nobody holds */
	VMM_PRUNE_TEMP,        /* a file left in a complete entry by an interrupted
				  write (a temporary file, a stale part file) */
	VMM_PRUNE_UNUSED,      /* opts.all: a complete entry no VM uses */
	VMM_PRUNE_BUSY,        /* kept: a pull (or a removal) holds the entry's lock */
};

/* "partial", "lock", "temp", "unused", "busy" */
const char *vmm_image_prune_kind_name(enum vmm_image_prune_kind kind);

struct vmm_image_prune_opts {
	bool all;     /* also remove complete entries no VM uses */
	bool dry_run; /* remove nothing; report what would be removed */
};

/* One thing prune removed (or would remove, or kept). Strings owned. */
struct vmm_image_pruned {
	enum vmm_image_prune_kind kind;
	char *path;      /* the file or directory */
	char *name;      /* the entry's name; NULL for a lock file */
	char *url;       /* the entry's URL, if known; NULL for a lock file */
	uint64_t bytes;  /* disk space it took (allocated blocks) */
};

struct vmm_image_prune_report {
	struct vmm_image_pruned *items; /* in the order they were handled */
	size_t n;
	uint64_t freed;  /* bytes of the removed items (dry run: would free) */
};

/*
 * Clean the cache up: remove incomplete entries (part files of pulls that
 * are not running: an entry is touched only under its lock, taken without
 * waiting, so a running pull's files are never removed; such an entry is
 * reported as BUSY), lock files nobody holds, files an interrupted write
 * left in complete entries, and with opts->all complete entries no
 * registered VM uses. opts may be NULL (neither all nor dry_run).
 * On failure (VMM_E_IO, VMM_E_LOCK, or reading the VM registry for all)
 * the report is empty; what was removed before the failure stays removed.
 */
int vmm_image_prune(struct vmm_ctx *ctx, const struct vmm_image_prune_opts *opts,
		    struct vmm_image_prune_report *report, struct vmm_error *err);
void vmm_image_prune_report_release(struct vmm_image_prune_report *report);

/* The cache key of a URL: sha256 of the URL in hex (65 bytes with NUL). */
void vmm_image_url_key(const char *url, char key[65]);

/* ---- qemu-img operations ------------------------------------------------ */

struct vmm_image_backing {
	char *filename;
	char *format;        /* may be NULL if qemu-img does not say */
};

/* What `qemu-img info` says about an image. */
struct vmm_image_info {
	char *path;
	char *format;              /* "qcow2", "raw", ... */
	uint64_t virtual_size;     /* bytes the guest sees */
	uint64_t actual_size;      /* bytes used on the host */
	struct vmm_image_backing *backing; /* the backing chain, nearest first */
	size_t n_backing;
};

/*
 * Inspect a disk image with `qemu-img info --output=json --backing-chain`.
 * A missing file, a file qemu-img cannot open, or one that is plainly not a
 * disk image (text such as an HTML page, compressed data, a raw file whose
 * size is not a whole number of 512-byte sectors) is VMM_E_FORMAT
 * (format_detection_failed) with a hint.
 */
int vmm_image_info(const char *path, struct vmm_image_info *info, struct vmm_error *err);
void vmm_image_info_release(struct vmm_image_info *info);

/* The format of a disk image ("qcow2", "raw", ...): *format is malloc'd.
 * Errors as vmm_image_info. */
int vmm_image_detect_format(const char *path, char **format, struct vmm_error *err);

/*
 * Create a qcow2 overlay at overlay_path on top of base, with the base's
 * absolute path and its detected format recorded explicitly (-b, -F), so
 * QEMU never probes the base. disk_gb 0: the overlay has the base's virtual
 * size; otherwise disk_gb GiB, which must not be smaller than the base's
 * virtual size (VMM_E_RESIZE). An existing overlay_path is not overwritten
 * (VMM_E_OVERLAY). On failure nothing is left at overlay_path.
 */
int vmm_image_create_overlay(const char *base, const char *overlay_path, unsigned disk_gb,
			     struct vmm_error *err);

/* Grow an image to size_bytes (qemu-img resize); refuses to shrink it below
 * its current virtual size (VMM_E_RESIZE). */
int vmm_image_resize(const char *path, uint64_t size_bytes, struct vmm_error *err);

/* Convert src to a new image dst in format ("qcow2", "raw", ...) with
 * qemu-img convert; dst appears only when complete (VMM_E_CONVERSION). */
int vmm_image_convert(const char *src, const char *dst, const char *format,
		      struct vmm_error *err);

#ifdef __cplusplus
}
#endif
#endif /* VMM_IMAGE_H */
