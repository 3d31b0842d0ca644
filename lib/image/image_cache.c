/* SPDX-License-Identifier: MIT */
/*
 * The image cache: one directory per URL, named by the sha256 of the URL,
 * holding the image under its display name and a metadata file written
 * last (the entry's commit record). See vmm/image.h for the layout.
 */
#include "image/image.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "core/util.h"
#include "vmm/log.h"

#define MOD "image"
#define META_FILE ".image.json"
#define PART_FILE ".download.part"
#define STATE_FILE ".download.json"

void vmm_image_pull_opts_init(struct vmm_image_pull_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->stall_timeout_s = 30;
	opts->connect_timeout_s = 30;
	opts->attempts = 4;
}

void vmm_cached_image_free(struct vmm_cached_image *img)
{
	if (!img)
		return;
	free(img->key);
	free(img->name);
	free(img->url);
	free(img->path);
	free(img->sha256);
	free(img->compression);
	free(img->pulled_at);
	free(img);
}

void vmm_cached_image_list_free(struct vmm_cached_image **imgs, size_t n)
{
	if (!imgs)
		return;
	for (size_t i = 0; i < n; i++)
		vmm_cached_image_free(imgs[i]);
	free(imgs);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Read an entry's metadata; 1 if the entry is not complete (no metadata,
 * unreadable metadata or no image file), 0 with *out filled. */
static int load_entry(const char *entry_dir, const char *key, struct vmm_cached_image **out,
		      struct vmm_error *err)
{
	char *meta = vmmi_path_join(entry_dir, META_FILE);
	json_t *j = NULL;
	json_error_t jerr;
	const char *url = NULL, *name = NULL, *file = NULL, *sha = NULL, *comp = NULL,
		   *at = NULL;
	json_int_t dl = 0;
	struct vmm_cached_image *img = NULL;
	struct stat st;
	int rc = 1;

	*out = NULL;
	if (!meta)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	j = json_load_file(meta, 0, &jerr);
	if (!j) {
		if (access(meta, F_OK) == 0)
			vmm_warn(MOD, "ignoring cache entry %s: %s: %s", entry_dir, meta,
				 jerr.text);
		goto out;
	}
	if (json_unpack(j, "{s:s, s:s, s:s, s:s, s?s, s?s, s?I}", "url", &url, "name", &name,
			"file", &file, "sha256", &sha, "compression", &comp, "pulled_at", &at,
			"download_size", &dl) < 0 ||
	    strchr(file, '/') || file[0] == '.') {
		vmm_warn(MOD, "ignoring cache entry %s: its metadata is incomplete", entry_dir);
		goto out;
	}
	img = calloc(1, sizeof(*img));
	if (!img) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto out;
	}
	img->key = strdup(key);
	img->name = strdup(name);
	img->url = strdup(url);
	img->path = vmmi_path_join(entry_dir, file);
	img->sha256 = strdup(sha);
	img->compression = strdup(comp ? comp : "none");
	img->pulled_at = dup_or_null(at);
	img->download_size = (uint64_t)dl;
	if (!img->key || !img->name || !img->url || !img->path || !img->sha256 ||
	    !img->compression) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto out;
	}
	if (stat(img->path, &st) < 0) {
		vmm_warn(MOD, "ignoring cache entry %s: its image %s is missing", entry_dir,
			 img->path);
		goto out;
	}
	img->size = (uint64_t)st.st_size;
	*out = img;
	img = NULL;
	rc = 0;
out:
	vmm_cached_image_free(img);
	json_decref(j);
	free(meta);
	return rc;
}

static int write_meta(const char *entry_dir, const struct vmm_cached_image *img,
		      const char *file, struct vmm_error *err)
{
	char *meta = vmmi_path_join(entry_dir, META_FILE);
	json_t *j = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "version", 1, "url",
			      img->url, "name", img->name, "file", file, "sha256", img->sha256,
			      "compression", img->compression, "pulled_at",
			      img->pulled_at ? img->pulled_at : "", "download_size",
			      (json_int_t)img->download_size);
	char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
	int rc;

	if (!meta || !text) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto out;
	}
	rc = vmmi_write_file_atomic(meta, text, strlen(text), 0644, err);
out:
	free(text);
	json_decref(j);
	free(meta);
	return rc;
}

static int lock_entry(const struct vmm_paths *paths, const char *key, struct vmm_error *err)
{
	char *name = vmmi_asprintf("image-%s.lock", key);
	char *path = name ? vmmi_path_join(paths->locks_dir, name) : NULL;
	int fd;

	if (!path) {
		free(name);
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	}
	fd = vmmi_lock_path(path, err);
	free(path);
	free(name);
	return fd;
}

/* Remove what an unfinished pull left in an entry directory, except a part
 * file a later run can resume (and its state). */
static void clean_entry(const char *entry_dir, bool keep_part)
{
	DIR *dir = opendir(entry_dir);
	struct dirent *de;

	if (!dir)
		return;
	while ((de = readdir(dir))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (keep_part && (!strcmp(de->d_name, PART_FILE) || !strcmp(de->d_name, STATE_FILE)))
			continue;
		unlinkat(dirfd(dir), de->d_name, 0);
	}
	closedir(dir);
	rmdir(entry_dir); /* fails, as it should, if a part is kept */
}

static int pull_locked(const struct vmm_paths *paths, const char *url, const char *key,
		       const char *entry_dir, const struct vmm_image_pull_opts *opts,
		       struct vmm_cached_image **out, struct vmm_error *err)
{
	struct vmm_cached_image *img = NULL, rec;
	struct vmmi_download d;
	char *name = NULL, *part = NULL, *state = NULL, *final = NULL;
	char at[VMMI_RFC3339_LEN];
	int rc;

	(void)paths;
	rc = load_entry(entry_dir, key, &img, err);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		/* a hit */
		if (opts->sha256 && strcasecmp(opts->sha256, img->sha256) != 0) {
			rc = vmm_error_set(err, VMM_E_CHECKSUM, 0,
					   "if the image at the URL changed on purpose, remove the "
					   "cached copy (`vmctl image rm NAME`) and pull again",
					   "sha256 mismatch for %s: expected %s, the cached image "
					   "has %s",
					   url, opts->sha256, img->sha256);
			goto out;
		}
		if (opts->name && strcmp(opts->name, img->name) != 0) {
			const char *file = strrchr(img->path, '/') + 1;

			free(img->name);
			if (!(img->name = strdup(opts->name))) {
				rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
				goto out;
			}
			if ((rc = write_meta(entry_dir, img, file, err)) < 0)
				goto out;
		}
		vmm_debug(MOD, "cache hit for %s: %s", url, img->path);
		*out = img;
		img = NULL;
		rc = 0;
		goto out;
	}
	/* a miss: start from a clean entry (a resumable part excepted) */
	name = opts->name ? strdup(opts->name) : vmmi_image_name_from_url(url);
	part = vmmi_path_join(entry_dir, PART_FILE);
	state = vmmi_path_join(entry_dir, STATE_FILE);
	final = name ? vmmi_path_join(entry_dir, name) : NULL;
	if (!name || !part || !state || !final) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto out;
	}
	clean_entry(entry_dir, true);
	if ((rc = vmmi_mkdir_p(entry_dir, 0755, err)) < 0)
		goto out;
	memset(&d, 0, sizeof(d));
	d.url = url;
	d.name = name;
	d.part_path = part;
	d.state_path = state;
	d.opts = opts;
	vmm_info(MOD, "downloading %s", url);
	if ((rc = vmmi_download(&d, err)) < 0)
		goto fail;
	/* an error page served with 200, a compressed file inside a compressed
	 * file: not an image */
	if ((rc = vmmi_image_sniff(part, err)) < 0) {
		vmm_error_prefix(err, "%s", url);
		unlink(part);
		goto fail;
	}
	if (rename(part, final) < 0) {
		rc = vmm_error_errno(err, VMM_E_IO, NULL, "cannot rename '%s' to '%s'", part, final);
		unlink(part);
		goto fail;
	}
	if ((rc = vmmi_fsync_parent(final, err)) < 0)
		goto fail;
	vmmi_rfc3339_now(at, false);
	memset(&rec, 0, sizeof(rec));
	rec.url = (char *)url;
	rec.name = name;
	rec.sha256 = d.sha256;
	rec.compression = (char *)vmmi_compression_name(d.compression);
	rec.pulled_at = at;
	rec.download_size = d.downloaded;
	if ((rc = write_meta(entry_dir, &rec, name, err)) < 0)
		goto fail;
	vmm_info(MOD, "cached %s as %s (sha256 %s)", url, final, d.sha256);
	rc = load_entry(entry_dir, key, out, err);
	if (rc > 0)
		rc = vmm_error_set(err, VMM_E_INTERNAL, 0, NULL,
				   "the cache entry %s vanished right after it was written",
				   entry_dir);
	goto out;
fail:
	clean_entry(entry_dir, access(state, F_OK) == 0);
out:
	vmm_cached_image_free(img);
	free(name);
	free(part);
	free(state);
	free(final);
	return rc;
}

int vmm_image_pull(const struct vmm_paths *paths, const char *url,
		   const struct vmm_image_pull_opts *opts_in, struct vmm_cached_image **out,
		   struct vmm_error *err)
{
	struct vmm_image_pull_opts opts;
	char key[65];
	char *entry_dir = NULL;
	int lock = -1, rc;

	*out = NULL;
	if (opts_in)
		opts = *opts_in;
	else
		vmm_image_pull_opts_init(&opts);
	if (!vmmi_url_valid(url))
		return vmm_error_set(err, VMM_E_USAGE, 0,
				     "give an http://, https:// or file:/// URL, e.g. "
				     "https://example.com/disk.qcow2",
				     "'%s' is not an http(s) or file URL", url ? url : "");
	if (opts.sha256 && !vmmi_sha256_valid(opts.sha256))
		return vmm_error_set(err, VMM_E_USAGE, 0,
				     "give the 64 hex digits of the sha256, as SHA256SUMS lists "
				     "them",
				     "'%s' is not a sha256 digest", opts.sha256);
	if (opts.name && (rc = vmmi_image_name_validate(opts.name, err)) < 0)
		return rc;
	if (opts.stall_timeout_s == 0)
		opts.stall_timeout_s = 30;
	if (opts.connect_timeout_s == 0)
		opts.connect_timeout_s = 30;
	if ((rc = vmm_paths_ensure(paths, err)) < 0)
		return rc;
	vmm_image_url_key(url, key);
	if (!(entry_dir = vmmi_path_join(paths->images_dir, key)))
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	if ((lock = lock_entry(paths, key, err)) < 0) {
		rc = lock;
		goto out;
	}
	rc = pull_locked(paths, url, key, entry_dir, &opts, out, err);
out:
	vmmi_unlock(lock);
	free(entry_dir);
	return rc;
}

int vmm_image_fetch(const struct vmm_paths *paths, const char *url,
		    const struct vmm_image_pull_opts *opts, char **local_path,
		    struct vmm_error *err)
{
	struct vmm_cached_image *img = NULL;
	int rc;

	*local_path = NULL;
	if ((rc = vmm_image_pull(paths, url, opts, &img, err)) < 0)
		return rc;
	*local_path = img->path;
	img->path = NULL;
	vmm_cached_image_free(img);
	return 0;
}

static bool is_key(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == 64;
}

static int cmp_images(const void *a, const void *b)
{
	const struct vmm_cached_image *x = *(struct vmm_cached_image *const *)a;
	const struct vmm_cached_image *y = *(struct vmm_cached_image *const *)b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->url, y->url);
}

int vmm_image_list(const struct vmm_paths *paths, struct vmm_cached_image ***out, size_t *n,
		   struct vmm_error *err)
{
	struct vmm_cached_image **v = NULL, *img;
	size_t len = 0, cap = 0;
	DIR *dir;
	struct dirent *de;
	int rc = 0;

	*out = NULL;
	*n = 0;
	dir = opendir(paths->images_dir);
	if (!dir) {
		if (errno == ENOENT)
			return 0;
		return vmm_error_errno(err, VMM_E_IO, NULL, "cannot read the image cache '%s'",
				       paths->images_dir);
	}
	while ((de = readdir(dir))) {
		char *entry;

		if (!is_key(de->d_name))
			continue;
		if (!(entry = vmmi_path_join(paths->images_dir, de->d_name))) {
			rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
			break;
		}
		rc = load_entry(entry, de->d_name, &img, err);
		free(entry);
		if (rc < 0)
			break;
		if (rc > 0) {
			rc = 0;
			continue;
		}
		if (len == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			struct vmm_cached_image **nv = realloc(v, ncap * sizeof(*nv));

			if (!nv) {
				vmm_cached_image_free(img);
				rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
				break;
			}
			v = nv;
			cap = ncap;
		}
		v[len++] = img;
	}
	closedir(dir);
	if (rc < 0) {
		vmm_cached_image_list_free(v, len);
		return rc;
	}
	if (len)
		qsort(v, len, sizeof(*v), cmp_images);
	*out = v;
	*n = len;
	return 0;
}

int vmm_image_find(const struct vmm_paths *paths, const char *what,
		   struct vmm_cached_image **out, struct vmm_error *err)
{
	struct vmm_cached_image **v = NULL;
	size_t n = 0, hits = 0, hit = 0;
	char key[65], *real = NULL;
	struct vmmi_buf urls;
	int rc;

	*out = NULL;
	if (strstr(what, "://"))
		vmm_image_url_key(what, key);
	else
		snprintf(key, sizeof(key), "%s", is_key(what) ? what : "");
	if ((rc = vmm_image_list(paths, &v, &n, err)) < 0)
		return rc;
	real = realpath(what, NULL);
	vmmi_buf_init(&urls);
	for (size_t i = 0; i < n; i++) {
		char *r = NULL;
		bool match = !strcmp(v[i]->key, key) || !strcmp(v[i]->name, what) ||
			     !strcmp(v[i]->path, what);

		if (!match && real && (r = realpath(v[i]->path, NULL)))
			match = !strcmp(r, real);
		free(r);
		if (match) {
			hits++;
			hit = i;
			vmmi_buf_printf(&urls, "%s%s", hits > 1 ? ", " : "", v[i]->url);
		}
	}
	if (hits == 0)
		rc = vmm_error_set(err, VMM_E_IMAGE_NOT_FOUND, 0, NULL,
				   "no cached image '%s'", what);
	else if (hits > 1)
		rc = vmm_error_set(err, VMM_E_USAGE, 0,
				   "name the image by its URL or path instead (see `vmctl image "
				   "list --json`)",
				   "%zu cached images are named '%s': %s", hits, what,
				   urls.data ? urls.data : "");
	else {
		*out = v[hit];
		v[hit] = NULL;
		rc = 0;
	}
	vmmi_buf_release(&urls);
	free(real);
	vmm_cached_image_list_free(v, n);
	return rc;
}

int vmm_image_remove(const struct vmm_paths *paths, const char *what, struct vmm_error *err)
{
	struct vmm_cached_image *img = NULL;
	char *entry_dir = NULL;
	int lock = -1, rc;

	if ((rc = vmm_image_find(paths, what, &img, err)) < 0)
		return rc;
	if (!(entry_dir = vmmi_path_join(paths->images_dir, img->key))) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto out;
	}
	/* under the lock: never remove an entry a pull is writing */
	if ((lock = lock_entry(paths, img->key, err)) < 0) {
		rc = lock;
		goto out;
	}
	{
		/* the commit record first: a crash half-way leaves no hit */
		char *meta = vmmi_path_join(entry_dir, META_FILE);

		if (meta && unlink(meta) < 0 && errno != ENOENT) {
			rc = vmm_error_errno(err, VMM_E_IO, NULL, "cannot remove '%s'", meta);
			free(meta);
			goto out;
		}
		free(meta);
	}
	if ((rc = vmmi_rm_rf(entry_dir, err)) < 0)
		goto out;
	rc = vmmi_fsync_parent(entry_dir, err);
	vmm_info(MOD, "removed %s (%s)", img->name, img->url);
out:
	vmmi_unlock(lock);
	free(entry_dir);
	vmm_cached_image_free(img);
	return rc;
}
