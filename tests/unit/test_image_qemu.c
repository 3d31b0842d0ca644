/* SPDX-License-Identifier: MIT */
/* Unit tests: disk image operations with the real qemu-img - info, format
 * detection, overlays (with resize, refusing to shrink), resize, convert,
 * and files that are not disk images. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "image/image.h"
#include "core/util.h"
#include "vmm/image.h"

#define MIB (1024ull * 1024)
#define GIB (1024ull * MIB)

static char *dir;

static char *path_in(const char *name)
{
	char *p = vmmi_path_join(dir, name);

	assert_non_null(p);
	return p;
}

static void qemu_img(const char *a0, const char *a1, const char *a2, const char *a3,
		     const char *a4, const char *a5)
{
	char *argv[] = {"qemu-img", (char *)a0, (char *)a1, (char *)a2, (char *)a3, (char *)a4,
			(char *)a5, NULL};
	char *out = NULL, *errout = NULL;
	int status = -1;

	assert_int_equal(vmmi_run(argv, &out, &errout, &status, NULL), 0);
	if (status != 0)
		fprintf(stderr, "qemu-img %s failed: %s\n", a0, errout);
	assert_int_equal(status, 0);
	free(out);
	free(errout);
}

static void write_file(const char *path, const void *data, size_t len)
{
	assert_int_equal(vmmi_write_file_atomic(path, data, len, 0644, NULL), 0);
}

static int setup(void **state)
{
	char tmpl[] = "/tmp/vmm-image-XXXXXX";

	(void)state;
	if (!mkdtemp(tmpl))
		return -1;
	dir = strdup(tmpl);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	vmmi_rm_rf(dir, NULL);
	free(dir);
	return 0;
}

static void test_info_raw_and_qcow2(void **state)
{
	char *raw = path_in("base.raw"), *qcow = path_in("base.qcow2"), *fmt = NULL;
	struct vmm_image_info info;
	struct vmm_error err;

	(void)state;
	qemu_img("create", "-q", "-f", "raw", raw, "64M");
	qemu_img("create", "-q", "-f", "qcow2", qcow, "2G");
	assert_int_equal(vmm_image_info(raw, &info, &err), 0);
	assert_string_equal(info.format, "raw");
	assert_int_equal(info.virtual_size, 64 * MIB);
	assert_int_equal(info.n_backing, 0);
	vmm_image_info_release(&info);
	assert_int_equal(vmm_image_info(qcow, &info, &err), 0);
	assert_string_equal(info.format, "qcow2");
	assert_int_equal(info.virtual_size, 2 * GIB);
	assert_true(info.actual_size > 0 && info.actual_size < 2 * MIB);
	vmm_image_info_release(&info);
	assert_int_equal(vmm_image_detect_format(qcow, &fmt, &err), 0);
	assert_string_equal(fmt, "qcow2");
	free(fmt);
	free(raw);
	free(qcow);
}

static void test_overlay(void **state)
{
	char *raw = path_in("obase.raw"), *ov = path_in("ov1.qcow2"), *ov2 = path_in("ov2.qcow2");
	char *real;
	struct vmm_image_info info;
	struct vmm_error err;

	(void)state;
	qemu_img("create", "-q", "-f", "raw", raw, "64M");
	real = realpath(raw, NULL);
	/* same size as the base */
	assert_int_equal(vmm_image_create_overlay(raw, ov, 0, &err), 0);
	assert_int_equal(vmm_image_info(ov, &info, &err), 0);
	assert_string_equal(info.format, "qcow2");
	assert_int_equal(info.virtual_size, 64 * MIB);
	assert_int_equal(info.n_backing, 1);
	assert_string_equal(info.backing[0].filename, real);
	assert_string_equal(info.backing[0].format, "raw");
	vmm_image_info_release(&info);
	/* grown to disk_gb */
	assert_int_equal(vmm_image_create_overlay(raw, ov2, 3, &err), 0);
	assert_int_equal(vmm_image_info(ov2, &info, &err), 0);
	assert_int_equal(info.virtual_size, 3 * GIB);
	vmm_image_info_release(&info);
	/* an overlay on an overlay: the chain is reported nearest first */
	{
		char *ov3 = path_in("ov3.qcow2");

		assert_int_equal(vmm_image_create_overlay(ov2, ov3, 0, &err), 0);
		assert_int_equal(vmm_image_info(ov3, &info, &err), 0);
		assert_int_equal(info.n_backing, 2);
		assert_non_null(strstr(info.backing[0].filename, "ov2.qcow2"));
		assert_string_equal(info.backing[0].format, "qcow2");
		assert_string_equal(info.backing[1].filename, real);
		vmm_image_info_release(&info);
		free(ov3);
	}
	/* an existing overlay is never overwritten */
	assert_true(vmm_image_create_overlay(raw, ov, 0, &err) < 0);
	assert_int_equal(err.code, VMM_E_OVERLAY);
	assert_non_null(strstr(err.message, "already exists"));
	free(real);
	free(raw);
	free(ov);
	free(ov2);
}

static void test_overlay_refuses_to_shrink(void **state)
{
	char *qcow = path_in("big.qcow2"), *ov = path_in("small.qcow2");
	struct vmm_error err;

	(void)state;
	qemu_img("create", "-q", "-f", "qcow2", qcow, "3G");
	assert_true(vmm_image_create_overlay(qcow, ov, 2, &err) < 0);
	assert_int_equal(err.code, VMM_E_RESIZE);
	assert_non_null(strstr(err.message, "refusing to shrink"));
	assert_non_null(strstr(err.message, "2 GB"));
	assert_non_null(strstr(err.hint, "at least 3 GB"));
	assert_int_equal(access(ov, F_OK), -1);
	/* equal is fine */
	assert_int_equal(vmm_image_create_overlay(qcow, ov, 3, &err), 0);
	free(qcow);
	free(ov);
}

static void test_resize_and_convert(void **state)
{
	char *raw = path_in("r.raw"), *conv = path_in("r.qcow2");
	struct vmm_image_info info;
	struct vmm_error err;

	(void)state;
	qemu_img("create", "-q", "-f", "raw", raw, "32M");
	assert_int_equal(vmm_image_resize(raw, 64 * MIB, &err), 0);
	assert_int_equal(vmm_image_info(raw, &info, &err), 0);
	assert_int_equal(info.virtual_size, 64 * MIB);
	vmm_image_info_release(&info);
	assert_true(vmm_image_resize(raw, 16 * MIB, &err) < 0);
	assert_int_equal(err.code, VMM_E_RESIZE);
	assert_non_null(strstr(err.message, "refusing to shrink"));

	assert_int_equal(vmm_image_convert(raw, conv, "qcow2", &err), 0);
	assert_int_equal(vmm_image_info(conv, &info, &err), 0);
	assert_string_equal(info.format, "qcow2");
	assert_int_equal(info.virtual_size, 64 * MIB);
	vmm_image_info_release(&info);
	assert_true(vmm_image_convert(raw, conv, "no such/format", &err) < 0);
	assert_int_equal(err.code, VMM_E_USAGE);
	assert_true(vmm_image_convert(raw, conv, "nosuchformat", &err) < 0);
	assert_int_equal(err.code, VMM_E_CONVERSION);
	free(raw);
	free(conv);
}

static void expect_not_an_image(const char *path, const char *words)
{
	struct vmm_image_info info;
	struct vmm_error err;
	char *ov = path_in("never.qcow2");

	assert_true(vmm_image_info(path, &info, &err) < 0);
	assert_int_equal(err.code, VMM_E_FORMAT);
	assert_string_equal(vmm_errcode_name(err.code),
			    "vm_manager::image::format_detection_failed");
	if (!strstr(err.message, words))
		fail_msg("'%s' not in '%s'", words, err.message);
	assert_true(strlen(err.hint) > 0);
	assert_true(vmm_image_create_overlay(path, ov, 0, &err) < 0);
	assert_int_equal(err.code, VMM_E_FORMAT);
	assert_int_equal(access(ov, F_OK), -1);
	free(ov);
}

static void test_not_disk_images(void **state)
{
	static const char html[] = "<!DOCTYPE html><html><body>404 Not Found</body></html>\n";
	static const unsigned char zst[] = {0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x00, 0x01, 0x00};
	unsigned char odd[1000];
	char *p;

	(void)state;
	p = path_in("page.html");
	write_file(p, html, sizeof(html) - 1);
	expect_not_an_image(p, "text");
	free(p);

	p = path_in("odd.bin");
	for (size_t i = 0; i < sizeof(odd); i++)
		odd[i] = (unsigned char)(i * 7 + 1);
	write_file(p, odd, sizeof(odd));
	expect_not_an_image(p, "not a whole number of 512-byte sectors");
	free(p);

	p = path_in("c.img.zst");
	write_file(p, zst, sizeof(zst));
	expect_not_an_image(p, "zstd-compressed");
	free(p);

	p = path_in("empty.img");
	write_file(p, "", 0);
	expect_not_an_image(p, "empty");
	free(p);

	p = path_in("missing.img");
	expect_not_an_image(p, "does not exist");
	free(p);

	expect_not_an_image(dir, "not a regular file");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_info_raw_and_qcow2),
		cmocka_unit_test(test_overlay),
		cmocka_unit_test(test_overlay_refuses_to_shrink),
		cmocka_unit_test(test_resize_and_convert),
		cmocka_unit_test(test_not_disk_images),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
