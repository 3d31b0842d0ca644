/* SPDX-License-Identifier: MIT */
/*
 * Disk image operations through the real qemu-img: info (format, sizes,
 * backing chain; parsed from --output=json with jansson), overlays, resize,
 * conversion.
 */
#include "image/image.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "core/util.h"
#include "vmm/log.h"

#define MOD "image"
#define GIB (1024ull * 1024 * 1024)
#define FORMAT_HINT_INSTALL "ensure qemu-img is installed (Debian: qemu-utils)"

static const char *not_image_hint =
	"give the path of a disk image (qcow2, raw, vmdk, ...); a downloaded file may be "
	"an error page or still compressed";

/* First line of a tool's stderr, without "qemu-img: " and trailing space. */
static void first_line(const char *text, char *buf, size_t size)
{
	const char *p = text ? text : "";
	size_t n;

	if (strncmp(p, "qemu-img: ", 10) == 0)
		p += 10;
	n = strcspn(p, "\n");
	while (n && isspace((unsigned char)p[n - 1]))
		n--;
	snprintf(buf, size, "%.*s", (int)n, p);
}

int vmmi_image_sniff(const char *path, struct vmm_error *err)
{
	unsigned char buf[4096];
	struct stat st;
	enum vmmi_compression c;
	ssize_t n;
	bool text = true;
	int fd;

	if (stat(path, &st) < 0) {
		if (errno == ENOENT)
			return vmm_error_set(err, VMM_E_FORMAT, ENOENT,
					     "check the path of the image",
					     "disk image '%s' does not exist", path);
		return vmm_error_errno(err, VMM_E_FORMAT, "check the path and its permissions",
				       "cannot inspect disk image '%s'", path);
	}
	if (S_ISBLK(st.st_mode))
		return 0;
	if (!S_ISREG(st.st_mode))
		return vmm_error_set(err, VMM_E_FORMAT, 0, not_image_hint,
				     "'%s' is not a regular file", path);
	if (st.st_size == 0)
		return vmm_error_set(err, VMM_E_FORMAT, 0, not_image_hint,
				     "'%s' is not a disk image: it is empty", path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vmm_error_errno(err, VMM_E_FORMAT, "check the permissions of the file",
				       "cannot read disk image '%s'", path);
	do
		n = read(fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0)
		return vmm_error_errno(err, VMM_E_FORMAT, NULL, "cannot read disk image '%s'",
				       path);
	c = vmmi_compression_from_magic(buf, (size_t)n);
	if (c != VMMI_COMP_NONE)
		return vmm_error_set(err, VMM_E_FORMAT, 0,
				     "decompress it first (zstd -d, xz -d, gunzip), or let "
				     "`vmctl image pull` fetch the compressed URL",
				     "'%s' is %s-compressed data, not a disk image", path,
				     vmmi_compression_name(c));
	for (ssize_t i = 0; i < n && text; i++)
		text = (buf[i] >= 0x20 && buf[i] < 0x7f) || buf[i] == '\n' || buf[i] == '\r' ||
		       buf[i] == '\t';
	if (text)
		return vmm_error_set(err, VMM_E_FORMAT, 0, not_image_hint,
				     "'%s' is text (an HTML page or a message?), not a disk image",
				     path);
	/* markup with a non-ASCII byte (a copyright sign) is no image either */
	if (vmmi_looks_like_markup(buf, (size_t)n))
		return vmm_error_set(err, VMM_E_FORMAT, 0, not_image_hint,
				     "'%s' starts like an HTML or XML document (an error page?), "
				     "not a disk image",
				     path);
	return 0;
}

void vmm_image_info_release(struct vmm_image_info *info)
{
	if (!info)
		return;
	free(info->path);
	free(info->format);
	for (size_t i = 0; i < info->n_backing; i++) {
		free(info->backing[i].filename);
		free(info->backing[i].format);
	}
	free(info->backing);
	memset(info, 0, sizeof(*info));
}

static uint64_t json_u64(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v)
							       : 0;
}

int vmm_image_info(const char *path, struct vmm_image_info *info, struct vmm_error *err)
{
	char *argv[] = {"qemu-img", "info", "--output=json", "--backing-chain", "-U",
			(char *)path, NULL};
	char *out = NULL, *errout = NULL, line[512];
	json_t *j = NULL, *top;
	json_error_t jerr;
	struct stat st;
	int status = 0, rc;
	size_t n;

	memset(info, 0, sizeof(*info));
	if ((rc = vmmi_image_sniff(path, err)) < 0)
		return rc;
	if (vmmi_run(argv, &out, &errout, &status, err) < 0) {
		rc = vmm_error_set(err, VMM_E_FORMAT, err ? err->sys_errno : 0, FORMAT_HINT_INSTALL,
			      "cannot run qemu-img to inspect '%s'", path);
		goto out;
	}
	if (status != 0) {
		first_line(errout, line, sizeof(line));
		rc = vmm_error_set(err, VMM_E_FORMAT, 0, not_image_hint,
				   "qemu-img cannot read '%s': %s", path, line);
		goto out;
	}
	j = json_loads(out, 0, &jerr);
	if (!j || !json_is_array(j) || json_array_size(j) == 0 ||
	    !json_is_object(top = json_array_get(j, 0)) ||
	    !json_is_string(json_object_get(top, "format"))) {
		rc = vmm_error_set(err, VMM_E_FORMAT, 0, FORMAT_HINT_INSTALL,
				   "unexpected output of qemu-img info for '%s'", path);
		goto out;
	}
	info->path = strdup(path);
	info->format = strdup(json_string_value(json_object_get(top, "format")));
	info->virtual_size = json_u64(top, "virtual-size");
	info->actual_size = json_u64(top, "actual-size");
	n = json_array_size(j) - 1;
	if (n && !(info->backing = calloc(n, sizeof(*info->backing)))) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *b = json_array_get(j, i + 1);
		const char *f = json_string_value(json_object_get(b, "filename"));
		const char *fmt = json_string_value(json_object_get(b, "format"));

		info->backing[i].filename = strdup(f ? f : "");
		info->backing[i].format = fmt ? strdup(fmt) : NULL;
		info->n_backing++;
	}
	if (!info->path || !info->format) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto out;
	}
	/* Any file is "raw" to qemu-img; a real raw disk is whole sectors. */
	if (strcmp(info->format, "raw") == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size % 512 != 0) {
		rc = vmm_error_set(err, VMM_E_FORMAT, 0, not_image_hint,
				   "'%s' is not a disk image: qemu-img sees raw data of %lld "
				   "bytes, not a whole number of 512-byte sectors",
				   path, (long long)st.st_size);
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		vmm_image_info_release(info);
	json_decref(j);
	free(out);
	free(errout);
	return rc;
}

int vmm_image_detect_format(const char *path, char **format, struct vmm_error *err)
{
	struct vmm_image_info info;
	int rc;

	*format = NULL;
	if ((rc = vmm_image_info(path, &info, err)) < 0)
		return rc;
	*format = info.format;
	info.format = NULL;
	vmm_image_info_release(&info);
	return 0;
}

static void human_size(uint64_t b, char *buf, size_t size)
{
	if (b >= GIB)
		snprintf(buf, size, "%.1f GiB", (double)b / (double)GIB);
	else
		snprintf(buf, size, "%.1f MiB", (double)b / (1024.0 * 1024.0));
}

static int run_qemu_img(char *const argv[], enum vmm_errcode code, const char *what,
			const char *path, struct vmm_error *err)
{
	char *errout = NULL, line[512];
	int status = 0, rc;

	if ((rc = vmmi_run(argv, NULL, &errout, &status, err)) < 0) {
		vmm_error_set(err, code, err ? err->sys_errno : 0, FORMAT_HINT_INSTALL,
			      "cannot run qemu-img to %s '%s'", what, path);
		return -(int)code;
	}
	if (status != 0) {
		first_line(errout, line, sizeof(line));
		rc = vmm_error_set(err, code, 0, NULL, "qemu-img cannot %s '%s': %s", what, path,
				   line);
	}
	free(errout);
	return rc;
}

int vmm_image_create_overlay(const char *base, const char *overlay_path, unsigned disk_gb,
			     struct vmm_error *err)
{
	struct vmm_image_info info;
	char *real = NULL, size_arg[32], a[32];
	struct stat st;
	int rc;

	if ((rc = vmm_image_info(base, &info, err)) < 0) {
		vmm_error_prefix(err, "cannot create an overlay on '%s'", base);
		return rc;
	}
	if (lstat(overlay_path, &st) == 0) {
		rc = vmm_error_set(err, VMM_E_OVERLAY, EEXIST,
				   "remove the file first, or choose another path",
				   "cannot create overlay '%s': the file already exists",
				   overlay_path);
		goto out;
	}
	size_arg[0] = '\0';
	if (disk_gb) {
		uint64_t want = (uint64_t)disk_gb * GIB;

		if (want < info.virtual_size) {
			char hint[160];

			human_size(info.virtual_size, a, sizeof(a));
			snprintf(hint, sizeof(hint),
				 "set the disk size to at least %llu GB, or leave it unset to "
				 "keep the base image's size",
				 (unsigned long long)((info.virtual_size + GIB - 1) / GIB));
			rc = vmm_error_set(err, VMM_E_RESIZE, 0, hint,
					   "disk size %u GB is smaller than the base image '%s' "
					   "(virtual size %s, %llu bytes); refusing to shrink it",
					   disk_gb, base, a,
					   (unsigned long long)info.virtual_size);
			goto out;
		}
		snprintf(size_arg, sizeof(size_arg), "%llu", (unsigned long long)want);
	}
	if (!(real = realpath(base, NULL))) {
		rc = vmm_error_errno(err, VMM_E_OVERLAY, NULL, "cannot resolve '%s'", base);
		goto out;
	}
	{
		char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", "-b", real, "-F",
				info.format, (char *)overlay_path,
				size_arg[0] ? size_arg : NULL, NULL};

		vmm_debug(MOD, "creating overlay %s on %s (%s)%s%s", overlay_path, real,
			  info.format, size_arg[0] ? ", size " : "", size_arg);
		rc = run_qemu_img(argv, VMM_E_OVERLAY, "create the overlay", overlay_path, err);
		if (rc < 0)
			unlink(overlay_path);
	}
out:
	free(real);
	vmm_image_info_release(&info);
	return rc;
}

int vmm_image_resize(const char *path, uint64_t size_bytes, struct vmm_error *err)
{
	struct vmm_image_info info;
	char size_arg[32], a[32];
	int rc;

	if ((rc = vmm_image_info(path, &info, err)) < 0)
		return rc;
	if (size_bytes < info.virtual_size) {
		human_size(info.virtual_size, a, sizeof(a));
		rc = vmm_error_set(err, VMM_E_RESIZE, 0, NULL,
				   "refusing to shrink '%s' from %llu to %llu bytes (virtual size "
				   "%s): data beyond the new end would be lost",
				   path, (unsigned long long)info.virtual_size,
				   (unsigned long long)size_bytes, a);
		goto out;
	}
	if (size_bytes == info.virtual_size)
		goto out;
	snprintf(size_arg, sizeof(size_arg), "%llu", (unsigned long long)size_bytes);
	{
		char *argv[] = {"qemu-img", "resize", "-q", "-f", info.format, (char *)path,
				size_arg, NULL};

		rc = run_qemu_img(argv, VMM_E_RESIZE, "resize", path, err);
	}
out:
	vmm_image_info_release(&info);
	return rc;
}

int vmm_image_convert(const char *src, const char *dst, const char *format,
		      struct vmm_error *err)
{
	struct vmm_image_info info;
	char *tmp = NULL;
	int rc;

	if (!format || !*format || strspn(format, "abcdefghijklmnopqrstuvwxyz0123456789") !=
					   strlen(format))
		return vmm_error_set(err, VMM_E_USAGE, 0,
				     "use a qemu-img format name such as qcow2 or raw",
				     "invalid image format '%s'", format ? format : "");
	if ((rc = vmm_image_info(src, &info, err)) < 0)
		return rc;
	if (!(tmp = vmmi_asprintf("%s.tmp-%ld", dst, (long)getpid()))) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto out;
	}
	{
		char *argv[] = {"qemu-img", "convert", "-q", "-f", info.format, "-O",
				(char *)format, (char *)src, tmp, NULL};

		rc = run_qemu_img(argv, VMM_E_CONVERSION, "convert", src, err);
	}
	if (rc < 0) {
		unlink(tmp);
		goto out;
	}
	if (rename(tmp, dst) < 0) {
		rc = vmm_error_errno(err, VMM_E_CONVERSION, NULL, "cannot rename '%s' to '%s'",
				     tmp, dst);
		unlink(tmp);
		goto out;
	}
	rc = vmmi_fsync_parent(dst, err);
out:
	free(tmp);
	vmm_image_info_release(&info);
	return rc;
}
