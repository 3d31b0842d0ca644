/* SPDX-License-Identifier: MIT */
/*
 * The image cache: one directory per URL, named by the sha256 of the URL,
 * holding the image under its display name and a metadata file written
 * last (the entry's commit record). See vmm/image.h for the layout.
 */
#include "image/image.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "core/util.h"
#include "vmm/log.h"

#define MOD "image"
#define META_FILE ".image.json"
#define PART_FILE ".download.part"
#define STATE_FILE ".download.json"
#define PULL_FILE ".pull.json"

void vmm_image_pull_opts_init(struct vmm_image_pull_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->stall_timeout_s = 30;
	opts->connect_timeout_s = 30;
	opts->attempts = 4;
	opts->max_size = VMM_IMAGE_MAX_SIZE_DEFAULT;
	opts->low_speed_limit = 1024;
	opts->low_speed_time_s = 60;
}

const char *vmm_image_state_name(enum vmm_image_state state)
{
	switch (state) {
	case VMM_IMAGE_PARTIAL:
		return "partial";
	case VMM_IMAGE_DOWNLOADING:
		return "downloading";
	case VMM_IMAGE_COMPLETE:
		break;
	}
	return "complete";
}

void vmm_cached_image_free(struct vmm_cached_image *img)
{
	if (!img)
		return;
	for (size_t i = 0; i < img->n_users; i++)
		free(img->users[i]);
	free(img->users);
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

uint64_t vmmi_dir_usage(const char *dir_path)
{
	DIR *dir = opendir(dir_path);
	struct dirent *de;
	struct stat st;
	uint64_t sum = 0;

	if (!dir)
		return 0;
	while ((de = readdir(dir)))
		if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode))
			sum += (uint64_t)st.st_blocks * 512u;
	closedir(dir);
	return sum;
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
	img->state = VMM_IMAGE_COMPLETE;
	img->disk_usage = vmmi_dir_usage(entry_dir);
	*out = img;
	img = NULL;
	rc = 0;
out:
	vmm_cached_image_free(img);
	json_decref(j);
	free(meta);
	return rc;
}

/* What an incomplete entry is: the URL and name its pull recorded (or its
 * resume state's URL), the part file. Never fails but for memory. */
static int load_partial(const char *entry_dir, const char *key, struct vmm_cached_image **out,
			struct vmm_error *err)
{
	char *pull = vmmi_path_join(entry_dir, PULL_FILE);
	char *state = vmmi_path_join(entry_dir, STATE_FILE);
	char *part = vmmi_path_join(entry_dir, PART_FILE);
	json_t *jp = NULL, *js = NULL;
	const char *url = NULL, *name = NULL, *surl = NULL, *comp = NULL;
	struct vmm_cached_image *img = NULL;
	struct stat st;
	int rc = 0;

	*out = NULL;
	if (!pull || !state || !part || !(img = calloc(1, sizeof(*img)))) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto out;
	}
	if ((jp = json_load_file(pull, 0, NULL)))
		json_unpack(jp, "{s?s, s?s}", "url", &url, "name", &name);
	if ((js = json_load_file(state, 0, NULL)))
		json_unpack(js, "{s?s, s?s}", "url", &surl, "compression", &comp);
	if (!url || !vmmi_url_valid(url))
		url = surl && vmmi_url_valid(surl) ? surl : NULL;
	if (name && vmmi_image_name_validate(name, NULL) < 0)
		name = NULL;
	img->state = VMM_IMAGE_PARTIAL;
	img->key = strdup(key);
	img->url = dup_or_null(url);
	img->name = name ? strdup(name) : url ? vmmi_image_name_from_url(url) : strdup(key);
	img->compression = dup_or_null(comp);
	if (stat(part, &st) == 0) {
		img->path = strdup(part);
		img->size = (uint64_t)st.st_size;
	} else {
		img->path = strdup(entry_dir);
	}
	img->disk_usage = vmmi_dir_usage(entry_dir);
	if (!img->key || !img->name || !img->path || (url && !img->url) ||
	    (comp && !img->compression)) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto out;
	}
	*out = img;
	img = NULL;
out:
	vmm_cached_image_free(img);
	json_decref(jp);
	json_decref(js);
	free(pull);
	free(state);
	free(part);
	return rc;
}

/* Record the URL and name of a pull before it downloads, so that what it
 * leaves if it fails or is killed can be named (`vmctl image rm NAME`). */
static int write_pull_record(const char *entry_dir, const char *url, const char *name,
			     struct vmm_error *err)
{
	char *path = vmmi_path_join(entry_dir, PULL_FILE);
	json_t *j = json_pack("{s:i, s:s, s:s}", "version", 1, "url", url, "name", name);
	char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
	int rc;

	if (!path || !text)
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	else
		rc = vmmi_write_file_atomic(path, text, strlen(text), 0644, err);
	free(text);
	json_decref(j);
	free(path);
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

static char *lock_path(const struct vmm_paths *paths, const char *key)
{
	char *name = vmmi_asprintf("image-%s.lock", key);
	char *path = name ? vmmi_path_join(paths->locks_dir, name) : NULL;

	free(name);
	return path;
}

/* Whether fd is still the file path names: prune removes lock files nobody
 * holds, so a locker that waited on a file since removed must lock the one
 * the path names now. */
static bool lock_is_current(int fd, const char *path)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

int vmmi_image_lock(const struct vmm_paths *paths, const char *key, struct vmm_error *err)
{
	char *path = lock_path(paths, key);
	int fd;

	if (!path)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	for (;;) {
		fd = vmmi_lock_path(path, err);
		if (fd < 0 || lock_is_current(fd, path))
			break;
		vmmi_unlock(fd);
	}
	free(path);
	return fd;
}

int vmmi_image_trylock(const struct vmm_paths *paths, const char *key, bool create, int *fd,
		       struct vmm_error *err)
{
	char *path = lock_path(paths, key);
	int rc = VMMI_LOCK_MISSING;

	*fd = -1;
	if (!path)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	for (;;) {
		int f = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);

		if (f < 0) {
			if (errno == ENOENT && !create)
				rc = VMMI_LOCK_MISSING;
			else
				rc = vmm_error_errno(err, VMM_E_LOCK, NULL,
						     "cannot open lock file '%s'", path);
			break;
		}
		if (flock(f, LOCK_EX | LOCK_NB) < 0) {
			if (errno == EINTR) {
				close(f);
				continue;
			}
			rc = errno == EWOULDBLOCK
				     ? VMMI_LOCK_BUSY
				     : vmm_error_errno(err, VMM_E_LOCK, NULL, "cannot lock '%s'",
						       path);
			close(f);
			break;
		}
		if (lock_is_current(f, path)) {
			*fd = f;
			rc = VMMI_LOCK_TAKEN;
			break;
		}
		close(f);
	}
	free(path);
	return rc;
}

void vmmi_image_unlock(const struct vmm_paths *paths, const char *key, int fd)
{
	char *path;

	if (fd < 0)
		return;
	/* remove the file while it is held: a waiter notices (lock_is_current)
	 * and locks a new one, so lock files do not pile up */
	if ((path = lock_path(paths, key))) {
		if (lock_is_current(fd, path))
			unlink(path);
		free(path);
	}
	vmmi_unlock(fd);
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
		if (keep_part && (!strcmp(de->d_name, PART_FILE) || !strcmp(de->d_name, STATE_FILE) ||
				  !strcmp(de->d_name, PULL_FILE)))
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
	if ((rc = write_pull_record(entry_dir, url, name, err)) < 0)
		goto fail;
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
	{
		/* the pull is done: its record goes (prune removes it if a crash
		 * leaves it behind) */
		char *pull = vmmi_path_join(entry_dir, PULL_FILE);

		if (pull)
			unlink(pull);
		free(pull);
	}
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
	if (opts.max_size == 0)
		opts.max_size = VMM_IMAGE_MAX_SIZE_DEFAULT;
	if (opts.low_speed_time_s == 0)
		opts.low_speed_time_s = 60;
	if ((rc = vmm_paths_ensure(paths, err)) < 0)
		return rc;
	vmm_image_url_key(url, key);
	if (!(entry_dir = vmmi_path_join(paths->images_dir, key)))
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	if ((lock = vmmi_image_lock(paths, key, err)) < 0) {
		rc = lock;
		goto out;
	}
	rc = pull_locked(paths, url, key, entry_dir, &opts, out, err);
out:
	vmmi_image_unlock(paths, key, lock);
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

bool vmmi_image_is_key(const char *s)
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

	if (c)
		return c;
	c = strcmp(x->url ? x->url : "", y->url ? y->url : "");
	return c ? c : strcmp(x->key, y->key);
}

int vmmi_image_load(const struct vmm_paths *paths, const char *key, bool incomplete,
		    struct vmm_cached_image **out, struct vmm_error *err)
{
	char *entry = vmmi_path_join(paths->images_dir, key);
	struct stat st;
	int rc, fd;

	*out = NULL;
	if (!entry)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	if (stat(entry, &st) < 0 || !S_ISDIR(st.st_mode)) {
		free(entry);
		return 1;
	}
	rc = load_entry(entry, key, out, err);
	if (rc > 0 && incomplete) {
		rc = load_partial(entry, key, out, err);
		/* a running pull holds the lock; looking does not wait for it */
		if (rc == 0) {
			int t = vmmi_image_trylock(paths, key, false, &fd, err);

			if (t < 0) {
				vmm_cached_image_free(*out);
				*out = NULL;
				rc = t;
			} else if (t == VMMI_LOCK_BUSY) {
				(*out)->state = VMM_IMAGE_DOWNLOADING;
			}
			vmmi_unlock(fd); /* only looked: the file stays */
		}
	}
	free(entry);
	return rc;
}

int vmmi_image_scan(const struct vmm_paths *paths, bool incomplete,
		    struct vmm_cached_image ***out, size_t *n, struct vmm_error *err)
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
		if (!vmmi_image_is_key(de->d_name))
			continue;
		rc = vmmi_image_load(paths, de->d_name, incomplete, &img, err);
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

int vmm_image_list(const struct vmm_paths *paths, struct vmm_cached_image ***out, size_t *n,
		   struct vmm_error *err)
{
	return vmmi_image_scan(paths, false, out, n, err);
}

int vmmi_image_lookup(const struct vmm_paths *paths, const char *what, bool incomplete,
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
		snprintf(key, sizeof(key), "%s", vmmi_image_is_key(what) ? what : "");
	if ((rc = vmmi_image_scan(paths, incomplete, &v, &n, err)) < 0)
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
			vmmi_buf_printf(&urls, "%s%s", hits > 1 ? ", " : "",
					v[i]->url ? v[i]->url : v[i]->key);
		}
	}
	if (hits == 0)
		rc = vmm_error_set(err, VMM_E_IMAGE_NOT_FOUND, 0,
				   "`vmctl image list` shows the cached images",
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

int vmm_image_find(const struct vmm_paths *paths, const char *what,
		   struct vmm_cached_image **out, struct vmm_error *err)
{
	return vmmi_image_lookup(paths, what, false, out, err);
}

int vmmi_image_remove_locked(const struct vmm_paths *paths, const char *key,
			     struct vmm_error *err)
{
	char *entry_dir = vmmi_path_join(paths->images_dir, key);
	char *meta = entry_dir ? vmmi_path_join(entry_dir, META_FILE) : NULL;
	int rc;

	if (!meta) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto out;
	}
	/* the commit record first: a crash half-way leaves no hit */
	if (unlink(meta) < 0 && errno != ENOENT) {
		rc = vmm_error_errno(err, VMM_E_IO, NULL, "cannot remove '%s'", meta);
		goto out;
	}
	if ((rc = vmmi_rm_rf(entry_dir, err)) < 0)
		goto out;
	rc = vmmi_fsync_parent(entry_dir, err);
out:
	free(meta);
	free(entry_dir);
	return rc;
}

int vmmi_image_remove_entry(const struct vmm_paths *paths, const struct vmm_cached_image *img,
			    struct vmm_error *err)
{
	struct vmm_cached_image *now = NULL;
	int lock = -1, rc;

	/* under the lock: never remove an entry a pull is writing. A complete
	 * entry waits for a pull that only reads it; an incomplete one is
	 * being written by the pull that holds its lock: refuse. */
	if (img->state == VMM_IMAGE_COMPLETE) {
		if ((lock = vmmi_image_lock(paths, img->key, err)) < 0)
			return lock;
	} else {
		rc = vmmi_image_trylock(paths, img->key, true, &lock, err);
		if (rc < 0)
			return rc;
		if (rc != VMMI_LOCK_TAKEN)
			return vmm_error_set(err, VMM_E_LOCK, 0,
					     "wait for the pull to finish (or stop it), then run "
					     "the command again",
					     "a pull of %s is in progress: its partial download "
					     "is not removed",
					     img->url ? img->url : img->name);
	}
	/* what it is now, under the lock */
	if ((rc = vmmi_image_load(paths, img->key, true, &now, err)) < 0)
		goto out;
	if (rc > 0) {
		rc = vmm_error_set(err, VMM_E_IMAGE_NOT_FOUND, 0, NULL,
				   "the cached image '%s' is gone (removed meanwhile)", img->name);
		goto out;
	}
	if ((now->state == VMM_IMAGE_COMPLETE) != (img->state == VMM_IMAGE_COMPLETE)) {
		rc = vmm_error_set(err, VMM_E_LOCK, 0, "run the command again",
				   "the cached image '%s' changed meanwhile (a pull %s it)",
				   img->name,
				   now->state == VMM_IMAGE_COMPLETE ? "completed" : "started");
		goto out;
	}
	if ((rc = vmmi_image_remove_locked(paths, img->key, err)) < 0)
		goto out;
	vmm_info(MOD, "removed %s (%s)", img->name, img->url ? img->url : img->key);
out:
	vmm_cached_image_free(now);
	vmmi_image_unlock(paths, img->key, lock);
	return rc;
}

int vmm_image_remove(const struct vmm_paths *paths, const char *what, struct vmm_error *err)
{
	struct vmm_cached_image *img = NULL;
	int rc;

	if ((rc = vmmi_image_lookup(paths, what, true, &img, err)) < 0)
		return rc;
	rc = vmmi_image_remove_entry(paths, img, err);
	vmm_cached_image_free(img);
	return rc;
}
