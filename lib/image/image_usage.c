/* SPDX-License-Identifier: MIT */
/*
 * The image cache and the VMs: which VMs use which entries (`vmctl image
 * list`), removing an entry no VM uses (`vmctl image rm`), and cleaning the
 * cache up (`vmctl image prune`). The entries and their locks are
 * image_cache.c's; the VMs come from the registry (vmm_vm_list).
 */
#include "image/image.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"
#include "vmm/log.h"
#include "vmm/manager.h"

#define MOD "image"
#define META_FILE ".image.json"
#define LOCK_PREFIX "image-"
#define LOCK_SUFFIX ".lock"

static bool same_file(const char *a, const char *b)
{
	char *ra, *rb;
	bool same;

	if (!a || !b)
		return false;
	if (strcmp(a, b) == 0)
		return true;
	ra = realpath(a, NULL);
	rb = realpath(b, NULL);
	same = ra && rb && strcmp(ra, rb) == 0;
	free(ra);
	free(rb);
	return same;
}

bool vmm_image_used_by(const struct vmm_cached_image *img, const struct vmm_vm *vm)
{
	if (!img || !vm || img->state != VMM_IMAGE_COMPLETE)
		return false;
	return same_file(vm->image_path, img->path) ||
	       (vm->image_url && img->url && strcmp(vm->image_url, img->url) == 0);
}

/* img->users from the registered VMs. */
static int fill_users(struct vmm_cached_image *img, struct vmm_vm *const *vms, size_t n,
		      struct vmm_error *err)
{
	for (size_t i = 0; i < n; i++) {
		char **nu;

		if (!vmm_image_used_by(img, vms[i]))
			continue;
		nu = realloc(img->users, (img->n_users + 1) * sizeof(*nu));
		if (!nu)
			return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		img->users = nu;
		if (!(img->users[img->n_users] = strdup(vms[i]->name)))
			return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		img->n_users++;
	}
	return 0;
}

int vmm_image_entries(struct vmm_ctx *ctx, struct vmm_cached_image ***out, size_t *n,
		      struct vmm_error *err)
{
	struct vmm_cached_image **v = NULL;
	struct vmm_vm **vms = NULL;
	size_t nv = 0, nvms = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = vmm_vm_list(ctx, &vms, &nvms, err)) < 0)
		return rc;
	if ((rc = vmmi_image_scan(vmm_ctx_paths(ctx), true, &v, &nv, err)) < 0)
		goto out;
	for (size_t i = 0; i < nv && rc == 0; i++)
		rc = fill_users(v[i], vms, nvms, err);
	if (rc < 0) {
		vmm_cached_image_list_free(v, nv);
		goto out;
	}
	*out = v;
	*n = nv;
out:
	vmm_vm_list_free(vms, nvms);
	return rc;
}

/* VMM_E_IMAGE_IN_USE naming the VMs that use img (img->users filled). */
static int in_use_error(const struct vmm_cached_image *img, struct vmm_error *err)
{
	struct vmmi_buf names;
	int rc;

	vmmi_buf_init(&names);
	for (size_t i = 0; i < img->n_users; i++)
		vmmi_buf_printf(&names, "%s%s", i ? ", " : "", img->users[i]);
	rc = vmm_error_set(err, VMM_E_IMAGE_IN_USE, 0, NULL,
			   "image '%s' is the base of %zu VM%s: %s", img->name, img->n_users,
			   img->n_users == 1 ? "" : "s", names.data ? names.data : "");
	snprintf(err->hint, sizeof(err->hint),
		 "destroy the VM%s first (`vmctl destroy NAME`); %s overlay%s read%s from "
		 "this image",
		 img->n_users == 1 ? "" : "s", img->n_users == 1 ? "its" : "their",
		 img->n_users == 1 ? "" : "s", img->n_users == 1 ? "s" : "");
	vmmi_buf_release(&names);
	return rc;
}

int vmm_image_remove_unused(struct vmm_ctx *ctx, const char *what,
			    struct vmm_cached_image **removed, struct vmm_error *err)
{
	const struct vmm_paths *paths = vmm_ctx_paths(ctx);
	struct vmm_cached_image *img = NULL;
	struct vmm_vm **vms = NULL;
	size_t nvms = 0;
	int rc;

	if (removed)
		*removed = NULL;
	if ((rc = vmmi_image_lookup(paths, what, true, &img, err)) < 0)
		return rc;
	if (img->state == VMM_IMAGE_COMPLETE) {
		if ((rc = vmm_vm_list(ctx, &vms, &nvms, err)) < 0 ||
		    (rc = fill_users(img, vms, nvms, err)) < 0)
			goto out;
		if (img->n_users) {
			rc = in_use_error(img, err);
			goto out;
		}
	}
	if ((rc = vmmi_image_remove_entry(paths, img, err)) < 0)
		goto out;
	if (removed) {
		*removed = img;
		img = NULL;
	}
out:
	vmm_vm_list_free(vms, nvms);
	vmm_cached_image_free(img);
	return rc;
}

/* ---- prune ---- */

const char *vmm_image_prune_kind_name(enum vmm_image_prune_kind kind)
{
	switch (kind) {
	case VMM_PRUNE_PARTIAL:
		return "partial";
	case VMM_PRUNE_LOCK:
		return "lock";
	case VMM_PRUNE_TEMP:
		return "temp";
	case VMM_PRUNE_UNUSED:
		return "unused";
	case VMM_PRUNE_BUSY:
		return "busy";
	}
	return "unknown";
}

void vmm_image_prune_report_release(struct vmm_image_prune_report *report)
{
	if (!report)
		return;
	for (size_t i = 0; i < report->n; i++) {
		free(report->items[i].path);
		free(report->items[i].name);
		free(report->items[i].url);
	}
	free(report->items);
	memset(report, 0, sizeof(*report));
}

static int add_item(struct vmm_image_prune_report *r, enum vmm_image_prune_kind kind,
		    const char *path, const struct vmm_cached_image *img, uint64_t bytes,
		    struct vmm_error *err)
{
	struct vmm_image_pruned *items = realloc(r->items, (r->n + 1) * sizeof(*items));
	struct vmm_image_pruned *it;

	if (!items)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	r->items = items;
	it = &items[r->n];
	memset(it, 0, sizeof(*it));
	it->kind = kind;
	it->bytes = bytes;
	it->path = strdup(path);
	it->name = img && img->name ? strdup(img->name) : NULL;
	it->url = img && img->url ? strdup(img->url) : NULL;
	r->n++;
	if (!it->path || (img && img->name && !it->name) || (img && img->url && !it->url))
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	if (kind != VMM_PRUNE_BUSY)
		r->freed += bytes;
	return 0;
}

/* Files in a complete entry other than its image and metadata: what an
 * interrupted write left (a temporary file of an atomic write, a pull's
 * record, a stale part file). Returns the bytes they took. */
static int prune_leftovers(const char *entry_dir, const struct vmm_cached_image *img,
			   bool dry_run, struct vmm_image_prune_report *r, uint64_t *bytes,
			   struct vmm_error *err)
{
	const char *image_file = strrchr(img->path, '/') + 1;
	struct dirent **names = NULL;
	int n = scandir(entry_dir, &names, NULL, alphasort), rc = 0;

	*bytes = 0;
	if (n < 0)
		return vmm_error_errno(err, VMM_E_IO, NULL, "cannot read '%s'", entry_dir);
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		char *path = NULL;
		struct stat st;
		uint64_t b;

		if (rc < 0 || !strcmp(name, ".") || !strcmp(name, "..") ||
		    !strcmp(name, META_FILE) || !strcmp(name, image_file))
			goto next;
		if (!(path = vmmi_path_join(entry_dir, name))) {
			rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
			goto next;
		}
		if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
			goto next;
		b = (uint64_t)st.st_blocks * 512u;
		if (!dry_run && unlink(path) < 0 && errno != ENOENT) {
			rc = vmm_error_errno(err, VMM_E_IO, NULL, "cannot remove '%s'", path);
			goto next;
		}
		*bytes += b;
		rc = add_item(r, VMM_PRUNE_TEMP, path, img, b, err);
	next:
		free(path);
		free(names[i]);
	}
	free(names);
	return rc;
}

/* One entry directory, under its lock taken without waiting. */
static int prune_entry(const struct vmm_paths *paths, const char *key,
		       const struct vmm_image_prune_opts *opts, struct vmm_vm *const *vms,
		       size_t nvms, struct vmm_image_prune_report *r, struct vmm_error *err)
{
	char *entry_dir = vmmi_path_join(paths->images_dir, key);
	char *lock = vmmi_asprintf("%s/" LOCK_PREFIX "%s" LOCK_SUFFIX, paths->locks_dir, key);
	struct vmm_cached_image *img = NULL;
	bool had_lock;
	uint64_t lock_bytes = 0, left;
	struct stat st;
	int fd = -1, rc, t;

	if (!entry_dir || !lock) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto out;
	}
	t = vmmi_image_trylock(paths, key, false, &fd, err);
	had_lock = t != VMMI_LOCK_MISSING;
	if (t == VMMI_LOCK_MISSING)
		t = vmmi_image_trylock(paths, key, true, &fd, err);
	if (t < 0) {
		rc = t;
		goto out;
	}
	if (t == VMMI_LOCK_BUSY) {
		/* a pull is writing it (or a removal is under way): hands off */
		if ((rc = vmmi_image_load(paths, key, true, &img, err)) < 0)
			goto out;
		rc = rc > 0 ? 0 : add_item(r, VMM_PRUNE_BUSY, entry_dir, img, img->disk_usage, err);
		goto out;
	}
	if (had_lock && fstat(fd, &st) == 0)
		lock_bytes = (uint64_t)st.st_blocks * 512u;
	if ((rc = vmmi_image_load(paths, key, true, &img, err)) != 0) {
		if (rc > 0)
			rc = 0;
		goto unlock;
	}
	if (img->state != VMM_IMAGE_COMPLETE) {
		/* incomplete, and we hold its lock: no pull is running */
		if (!opts->dry_run && (rc = vmmi_image_remove_locked(paths, key, err)) < 0)
			goto unlock;
		if ((rc = add_item(r, VMM_PRUNE_PARTIAL, entry_dir, img, img->disk_usage, err)) < 0)
			goto unlock;
		vmm_info(MOD, "pruned the partial download %s", entry_dir);
		goto unlock;
	}
	if ((rc = prune_leftovers(entry_dir, img, opts->dry_run, r, &left, err)) < 0)
		goto unlock;
	if (opts->all) {
		bool used = false;

		for (size_t i = 0; i < nvms && !used; i++)
			used = vmm_image_used_by(img, vms[i]);
		if (!used) {
			uint64_t b = img->disk_usage > left ? img->disk_usage - left : 0;

			if (!opts->dry_run &&
			    (rc = vmmi_image_remove_locked(paths, key, err)) < 0)
				goto unlock;
			if ((rc = add_item(r, VMM_PRUNE_UNUSED, entry_dir, img, b, err)) < 0)
				goto unlock;
			vmm_info(MOD, "pruned the unused image %s (%s)", img->name, img->url);
		}
	}
unlock:
	if (rc == 0 && had_lock)
		rc = add_item(r, VMM_PRUNE_LOCK, lock, NULL, lock_bytes, err);
	if (opts->dry_run && had_lock)
		vmmi_unlock(fd); /* only looked */
	else
		vmmi_image_unlock(paths, key, fd); /* removes the lock file */
	fd = -1;
out:
	vmmi_unlock(fd);
	vmm_cached_image_free(img);
	free(entry_dir);
	free(lock);
	return rc;
}

/* Lock files of URLs without an entry directory that nobody holds. */
static int prune_locks(const struct vmm_paths *paths, bool dry_run,
		       struct vmm_image_prune_report *r, struct vmm_error *err)
{
	struct dirent **names = NULL;
	int n = scandir(paths->locks_dir, &names, NULL, alphasort), rc = 0;
	const size_t pl = strlen(LOCK_PREFIX), sl = strlen(LOCK_SUFFIX);

	if (n < 0)
		return errno == ENOENT ? 0
				       : vmm_error_errno(err, VMM_E_IO, NULL, "cannot read '%s'",
							 paths->locks_dir);
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		size_t len = strlen(name);
		char key[65], *entry = NULL, *path = NULL;
		struct stat st;
		int fd = -1, t;

		if (rc < 0 || len != pl + 64 + sl || strncmp(name, LOCK_PREFIX, pl) != 0 ||
		    strcmp(name + pl + 64, LOCK_SUFFIX) != 0)
			goto next;
		memcpy(key, name + pl, 64);
		key[64] = '\0';
		if (!vmmi_image_is_key(key))
			goto next;
		entry = vmmi_path_join(paths->images_dir, key);
		path = vmmi_path_join(paths->locks_dir, name);
		if (!entry || !path) {
			rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
			goto next;
		}
		if (lstat(entry, &st) == 0)
			goto next; /* its entry was seen to (or a pull just started) */
		t = vmmi_image_trylock(paths, key, false, &fd, err);
		if (t < 0) {
			rc = t;
			goto next;
		}
		if (t != VMMI_LOCK_TAKEN)
			goto next; /* held by a pull starting, or gone */
		rc = add_item(r, VMM_PRUNE_LOCK, path, NULL,
			      fstat(fd, &st) == 0 ? (uint64_t)st.st_blocks * 512u : 0, err);
		if (dry_run)
			vmmi_unlock(fd);
		else
			vmmi_image_unlock(paths, key, fd);
	next:
		free(entry);
		free(path);
		free(names[i]);
	}
	free(names);
	return rc;
}

int vmm_image_prune(struct vmm_ctx *ctx, const struct vmm_image_prune_opts *opts_in,
		    struct vmm_image_prune_report *report, struct vmm_error *err)
{
	const struct vmm_paths *paths = vmm_ctx_paths(ctx);
	struct vmm_image_prune_opts opts = {0};
	struct vmm_image_prune_report r = {0};
	struct vmm_vm **vms = NULL;
	struct dirent **names = NULL;
	size_t nvms = 0;
	int n = 0, rc = 0;

	memset(report, 0, sizeof(*report));
	if (opts_in)
		opts = *opts_in;
	/* the VMs first: with --all, an image is removed only if none uses it */
	if (opts.all && (rc = vmm_vm_list(ctx, &vms, &nvms, err)) < 0)
		return rc;
	n = scandir(paths->images_dir, &names, NULL, alphasort);
	if (n < 0 && errno != ENOENT) {
		rc = vmm_error_errno(err, VMM_E_IO, NULL, "cannot read the image cache '%s'",
				     paths->images_dir);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		if (rc == 0 && vmmi_image_is_key(names[i]->d_name))
			rc = prune_entry(paths, names[i]->d_name, &opts, vms, nvms, &r, err);
		free(names[i]);
	}
	free(names);
	if (rc == 0)
		rc = prune_locks(paths, opts.dry_run, &r, err);
out:
	vmm_vm_list_free(vms, nvms);
	if (rc < 0) {
		vmm_image_prune_report_release(&r);
		return rc;
	}
	*report = r;
	return 0;
}
