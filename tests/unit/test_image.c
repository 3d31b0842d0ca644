/* SPDX-License-Identifier: MIT */
/* Unit tests: the pure parts of the image module - sha256, compression
 * magic and suffixes, names from URLs, streaming decompression, what a
 * server sends (markup, document types), size limits - and the
 * cache's entry locks and incomplete entries, in a scratch directory. */
#include <pthread.h>
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
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include "image/image.h"
#include "core/util.h"
#include "tmpdir.h"

static void test_sha256(void **state)
{
	char hex[65];
	struct vmmi_sha256 h;

	(void)state;
	vmmi_sha256_hex("abc", 3, hex);
	assert_string_equal(hex,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	vmmi_sha256_hex("", 0, hex);
	assert_string_equal(hex,
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	/* incremental = one-shot; final resets the context */
	assert_int_equal(vmmi_sha256_init(&h, NULL), 0);
	vmmi_sha256_update(&h, "a", 1);
	vmmi_sha256_update(&h, "bc", 2);
	vmmi_sha256_final_hex(&h, hex);
	assert_string_equal(hex,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	vmmi_sha256_final_hex(&h, hex);
	assert_string_equal(hex,
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	vmmi_sha256_release(&h);

	assert_true(vmmi_sha256_valid(
		"BA7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	assert_false(vmmi_sha256_valid("ba7816bf"));
	assert_false(vmmi_sha256_valid(
		"ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	assert_false(vmmi_sha256_valid(
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0"));
	assert_false(vmmi_sha256_valid(NULL));
}

static void test_url_key(void **state)
{
	char a[65], b[65], c[65];

	(void)state;
	vmm_image_url_key("http://h/a/disk.img", a);
	vmm_image_url_key("http://h/b/disk.img", b);
	vmmi_sha256_hex("http://h/a/disk.img", strlen("http://h/a/disk.img"), c);
	assert_string_equal(a, c);
	assert_string_not_equal(a, b);
}

static void test_magic(void **state)
{
	static const unsigned char zst[] = {0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x00};
	static const unsigned char xz[] = {0xfd, '7', 'z', 'X', 'Z', 0x00};
	static const unsigned char gz[] = {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00};
	static const unsigned char qcow[] = {'Q', 'F', 'I', 0xfb, 0, 0};

	(void)state;
	assert_int_equal(vmmi_compression_from_magic(zst, sizeof(zst)), VMMI_COMP_ZSTD);
	assert_int_equal(vmmi_compression_from_magic(xz, sizeof(xz)), VMMI_COMP_XZ);
	assert_int_equal(vmmi_compression_from_magic(gz, sizeof(gz)), VMMI_COMP_GZIP);
	assert_int_equal(vmmi_compression_from_magic(qcow, sizeof(qcow)), VMMI_COMP_NONE);
	assert_int_equal(vmmi_compression_from_magic(xz, 5), VMMI_COMP_NONE); /* too short */
	assert_int_equal(vmmi_compression_from_magic(gz, 2), VMMI_COMP_GZIP);
	assert_int_equal(vmmi_compression_from_magic("", 0), VMMI_COMP_NONE);

	assert_int_equal(vmmi_compression_from_suffix("a.img.zst"), VMMI_COMP_ZSTD);
	assert_int_equal(vmmi_compression_from_suffix("a.img.ZSTD"), VMMI_COMP_ZSTD);
	assert_int_equal(vmmi_compression_from_suffix("a.raw.xz"), VMMI_COMP_XZ);
	assert_int_equal(vmmi_compression_from_suffix("a.raw.gz"), VMMI_COMP_GZIP);
	assert_int_equal(vmmi_compression_from_suffix("a.qcow2"), VMMI_COMP_NONE);
	assert_int_equal(vmmi_compression_from_suffix("http://h/a.img.xz?x=1#y"), VMMI_COMP_XZ);
	/* the host is not a file name */
	assert_int_equal(vmmi_compression_from_suffix("http://example.gz"), VMMI_COMP_NONE);
	assert_int_equal(vmmi_compression_from_suffix(".zst"), VMMI_COMP_NONE);
	assert_string_equal(vmmi_compression_name(VMMI_COMP_GZIP), "gzip");
	assert_string_equal(vmmi_compression_name(VMMI_COMP_NONE), "none");
}

static void check_name(const char *url, const char *want)
{
	char *n = vmmi_image_name_from_url(url);

	assert_non_null(n);
	assert_string_equal(n, want);
	assert_int_equal(vmmi_image_name_validate(n, NULL), 0);
	free(n);
}

static void test_names(void **state)
{
	struct vmm_error err;

	(void)state;
	check_name("https://h/noble/noble-server-cloudimg-amd64.img",
		   "noble-server-cloudimg-amd64.img");
	check_name("https://h/a/b.qcow2.zst?token=1#frag", "b.qcow2");
	check_name("https://h/a/b.raw.XZ", "b.raw");
	check_name("https://h/a/b.raw.gz", "b.raw");
	check_name("https://h/", "image");
	check_name("https://h", "image");
	check_name("https://h/dir/", "image");
	check_name("https://h/a/..", "image");
	check_name("https://h/a/.hidden.img", "_hidden.img");
	check_name("https://h/a/-x.img", "_x.img");
	check_name("https://h/a/a%20b c.img", "a_20b_c.img");

	assert_int_equal(vmmi_image_name_validate("ubuntu-24.04", &err), 0);
	assert_true(vmmi_image_name_validate("", &err) < 0);
	assert_int_equal(err.code, VMM_E_USAGE);
	assert_true(vmmi_image_name_validate(".x", &err) < 0);
	assert_true(vmmi_image_name_validate("a/b", &err) < 0);
	assert_non_null(strstr(err.message, "'/'"));
	assert_true(strlen(err.hint) > 0);

	assert_true(vmmi_url_valid("http://127.0.0.1:8080/x.img"));
	assert_true(vmmi_url_valid("HTTPS://h/x"));
	assert_true(vmmi_url_valid("file:///srv/x.img"));
	assert_false(vmmi_url_valid("file:///"));
	assert_false(vmmi_url_valid("file://host/x.img"));
	assert_false(vmmi_url_valid("ftp://h/x"));
	assert_false(vmmi_url_valid("http://"));
	assert_false(vmmi_url_valid("http:///x"));
	assert_false(vmmi_url_valid("http://h/a b"));
	assert_false(vmmi_url_valid("/tmp/x.img"));
	assert_false(vmmi_url_valid(NULL));
}

/* ---- decompression ---- */

static int buf_sink(void *userdata, const void *data, size_t len, struct vmm_error *err)
{
	(void)err;
	return vmmi_buf_append(userdata, data, len);
}

/* Compressible but not trivial: text-ish with some noise. */
static unsigned char *make_input(size_t n)
{
	unsigned char *p = malloc(n);
	uint32_t x = 12345;

	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (i % 4096) < 1024 ? 0 : (unsigned char)('a' + ((x >> 16) % 8));
	}
	return p;
}

static size_t compress_with(enum vmmi_compression c, const unsigned char *in, size_t n,
			    unsigned char *out, size_t cap)
{
	switch (c) {
	case VMMI_COMP_ZSTD: {
		size_t r = ZSTD_compress(out, cap, in, n, 3);

		assert_false(ZSTD_isError(r));
		return r;
	}
	case VMMI_COMP_XZ: {
		size_t pos = 0;

		assert_int_equal(lzma_easy_buffer_encode(1, LZMA_CHECK_CRC64, NULL, in, n, out,
							 &pos, cap),
				 LZMA_OK);
		return pos;
	}
	case VMMI_COMP_GZIP: {
		z_stream z;

		memset(&z, 0, sizeof(z));
		assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8,
					      Z_DEFAULT_STRATEGY),
				 Z_OK);
		z.next_in = (Bytef *)(uintptr_t)in;
		z.avail_in = (uInt)n;
		z.next_out = out;
		z.avail_out = (uInt)cap;
		assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
		deflateEnd(&z);
		return z.total_out;
	}
	case VMMI_COMP_NONE:
		memcpy(out, in, n);
		return n;
	}
	return 0;
}

static int decompress_chunked(enum vmmi_compression c, const unsigned char *in, size_t n,
			      size_t chunk, struct vmmi_buf *out, struct vmm_error *err)
{
	struct vmmi_decomp *d = NULL;
	int rc;

	assert_int_equal(vmmi_decomp_new(c, buf_sink, out, &d, err), 0);
	for (size_t off = 0; off < n; off += chunk) {
		size_t len = n - off < chunk ? n - off : chunk;

		if ((rc = vmmi_decomp_feed(d, in + off, len, err)) < 0)
			goto out;
	}
	rc = vmmi_decomp_finish(d, err);
out:
	vmmi_decomp_free(d);
	return rc;
}

static void test_decompress(void **state)
{
	const size_t n = 3 * 1024 * 1024 + 17;
	const size_t cap = n + 65536;
	unsigned char *in = make_input(n);
	unsigned char *packed = malloc(2 * cap);
	enum vmmi_compression kinds[] = {VMMI_COMP_NONE, VMMI_COMP_ZSTD, VMMI_COMP_XZ,
					 VMMI_COMP_GZIP};

	(void)state;
	for (size_t k = 0; k < VMMI_ARRAY_SIZE(kinds); k++) {
		struct vmm_error err;
		struct vmmi_buf out;
		size_t plen = compress_with(kinds[k], in, n, packed, cap);

		if (kinds[k] != VMMI_COMP_NONE) {
			assert_true(plen < n);
			assert_int_equal(vmmi_compression_from_magic(packed, plen), kinds[k]);
		}
		/* odd chunk sizes: codec boundaries never line up with reads */
		for (size_t chunk = 1; chunk <= 1u << 20; chunk = chunk * 37 + 1) {
			if (chunk < 64 && kinds[k] != VMMI_COMP_NONE && plen > 200000)
				continue; /* byte-by-byte is slow and proves nothing more */
			vmmi_buf_init(&out);
			assert_int_equal(decompress_chunked(kinds[k], packed, plen, chunk, &out,
							    &err),
					 0);
			assert_int_equal(out.len, n);
			assert_memory_equal(out.data, in, n);
			vmmi_buf_release(&out);
		}
		if (kinds[k] == VMMI_COMP_NONE)
			continue;

		/* cut short: an error, never a silently short image */
		vmmi_buf_init(&out);
		assert_true(decompress_chunked(kinds[k], packed, plen - 10, 65536, &out, &err) <
			    0);
		assert_int_equal(err.code, VMM_E_FORMAT);
		assert_non_null(strstr(err.message, vmmi_compression_name(kinds[k])));
		assert_true(strlen(err.hint) > 0);
		vmmi_buf_release(&out);

		/* corrupt in the middle */
		packed[plen / 2] ^= 0x55;
		packed[plen / 2 + 1] ^= 0x55;
		vmmi_buf_init(&out);
		{
			int rc = decompress_chunked(kinds[k], packed, plen, 65536, &out, &err);

			if (rc == 0) /* zstd without checksum may decode garbage: never the input */
				assert_false(out.len == n && memcmp(out.data, in, n) == 0);
			else
				assert_int_equal(err.code, VMM_E_FORMAT);
		}
		vmmi_buf_release(&out);
		packed[plen / 2] ^= 0x55;
		packed[plen / 2 + 1] ^= 0x55;

		/* two frames/streams/members back to back decode as one */
		memcpy(packed + plen, packed, plen);
		vmmi_buf_init(&out);
		assert_int_equal(decompress_chunked(kinds[k], packed, 2 * plen, 100000, &out,
						    &err),
				 0);
		assert_int_equal(out.len, 2 * n);
		assert_memory_equal(out.data + n, in, n);
		vmmi_buf_release(&out);
	}
	free(in);
	free(packed);
}

static void test_decompress_empty(void **state)
{
	struct vmm_error err;
	struct vmmi_buf out;

	(void)state;
	vmmi_buf_init(&out);
	assert_true(decompress_chunked(VMMI_COMP_ZSTD, (const unsigned char *)"", 0, 1, &out,
				       &err) < 0);
	assert_int_equal(err.code, VMM_E_FORMAT);
	assert_int_equal(decompress_chunked(VMMI_COMP_NONE, (const unsigned char *)"", 0, 1, &out,
					    &err),
			 0);
	vmmi_buf_release(&out);
}

struct locker {
	const struct vmm_paths *paths;
	const char *key;
	int fd;
};

static void *lock_thread(void *arg)
{
	struct locker *l = arg;
	struct vmm_error err;

	l->fd = vmmi_image_lock(l->paths, l->key, &err);
	return NULL;
}

static bool same_inode(int fd, const char *path)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
	       a.st_dev == b.st_dev;
}

/* The holder of an entry lock removes its file on release; a waiter that
 * got the removed file's lock must notice and lock the file the path names. */
static void test_entry_lock_file_removed_while_waited_for(void **state)
{
	char *dir = mktmpdir_prefix("vmm-imglock");
	struct vmm_paths paths;
	struct vmm_error err;
	struct locker l;
	pthread_t t;
	char key[65], *lock;
	int fd, other;

	(void)state;
	assert_int_equal(vmm_paths_init_at(&paths, dir, &err), 0);
	assert_int_equal(vmm_paths_ensure(&paths, &err), 0);
	vmm_image_url_key("https://example.com/disk.img", key);
	lock = vmmi_asprintf("%s/image-%s.lock", paths.locks_dir, key);
	assert_int_equal(vmmi_image_trylock(&paths, key, false, &other, &err), VMMI_LOCK_MISSING);
	assert_int_equal(other, -1);
	fd = vmmi_image_lock(&paths, key, &err);
	assert_true(fd >= 0);
	assert_int_equal(vmmi_image_trylock(&paths, key, false, &other, &err), VMMI_LOCK_BUSY);
	assert_int_equal(vmmi_image_trylock(&paths, key, true, &other, &err), VMMI_LOCK_BUSY);
	/* a second locker waits on the file... */
	l.paths = &paths;
	l.key = key;
	l.fd = -1;
	assert_int_equal(pthread_create(&t, NULL, lock_thread, &l), 0);
	vmmi_sleep_ms(200);
	assert_int_equal(l.fd, -1);
	/* ...which the holder removes as it lets go */
	vmmi_image_unlock(&paths, key, fd);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(l.fd >= 0);
	assert_true(same_inode(l.fd, lock));
	assert_int_equal(vmmi_image_trylock(&paths, key, true, &other, &err), VMMI_LOCK_BUSY);
	vmmi_image_unlock(&paths, key, l.fd);
	assert_int_equal(access(lock, F_OK), -1);
	/* free: trylock takes it */
	assert_int_equal(vmmi_image_trylock(&paths, key, true, &other, &err), VMMI_LOCK_TAKEN);
	assert_true(same_inode(other, lock));
	vmmi_image_unlock(&paths, key, other);
	free(lock);
	vmm_paths_release(&paths);
	rmtree(dir);
}

static void write_text(const char *dir, const char *name, const char *text)
{
	char *path = vmmi_path_join(dir, name);
	struct vmm_error err;

	assert_int_equal(vmmi_write_file_atomic(path, text, strlen(text), 0644, &err), 0);
	free(path);
}

/* What a killed pull leaves is an incomplete entry, named by its record;
 * it is never listed as an image. */
static void test_incomplete_entries(void **state)
{
	char *dir = mktmpdir_prefix("vmm-imgpart");
	const char *url = "https://example.com/noble.img.zst";
	struct vmm_paths paths;
	struct vmm_error err;
	struct vmm_cached_image **v = NULL, *img = NULL;
	size_t n = 0;
	char key[65], *entry, *part;
	int fd;

	(void)state;
	assert_int_equal(vmm_paths_init_at(&paths, dir, &err), 0);
	assert_int_equal(vmm_paths_ensure(&paths, &err), 0);
	vmm_image_url_key(url, key);
	entry = vmmi_path_join(paths.images_dir, key);
	part = vmmi_path_join(entry, ".download.part");
	assert_int_equal(vmmi_mkdir_p(entry, 0755, &err), 0);
	write_text(entry, ".pull.json",
		   "{\"version\": 1, \"url\": \"https://example.com/noble.img.zst\", "
		   "\"name\": \"noble\"}");
	write_text(entry, ".download.part", "0123456789");
	write_text(entry, ".download.json",
		   "{\"version\": 1, \"url\": \"https://example.com/noble.img.zst\", "
		   "\"compression\": \"zstd\"}");
	assert_int_equal(vmm_image_list(&paths, &v, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(vmmi_image_scan(&paths, true, &v, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0]->state, VMM_IMAGE_PARTIAL);
	assert_string_equal(v[0]->name, "noble");
	assert_string_equal(v[0]->url, url);
	assert_string_equal(v[0]->path, part);
	assert_string_equal(v[0]->compression, "zstd");
	assert_int_equal(v[0]->size, 10);
	assert_null(v[0]->sha256);
	assert_int_equal(v[0]->disk_usage, vmmi_dir_usage(entry));
	assert_true(v[0]->disk_usage > 0);
	vmm_cached_image_list_free(v, n);
	/* not a hit, but found by name and by URL for removal */
	assert_int_equal(vmm_image_find(&paths, "noble", &img, &err), -VMM_E_IMAGE_NOT_FOUND);
	assert_int_equal(vmmi_image_lookup(&paths, url, true, &img, &err), 0);
	vmm_cached_image_free(img);
	/* while its lock is held, it is being downloaded, and rm refuses */
	fd = vmmi_image_lock(&paths, key, &err);
	assert_true(fd >= 0);
	assert_int_equal(vmmi_image_load(&paths, key, true, &img, &err), 0);
	assert_int_equal(img->state, VMM_IMAGE_DOWNLOADING);
	vmm_cached_image_free(img);
	assert_int_equal(vmm_image_remove(&paths, "noble", &err), -VMM_E_LOCK);
	assert_int_equal(access(part, F_OK), 0);
	vmmi_image_unlock(&paths, key, fd);
	assert_int_equal(vmm_image_remove(&paths, "noble", &err), 0);
	assert_int_equal(access(entry, F_OK), -1);
	free(part);
	free(entry);
	vmm_paths_release(&paths);
	rmtree(dir);
}

static void test_markup(void **state)
{
	static const unsigned char utf16le[] = {0xff, 0xfe, '<', 0, 'h', 0, 't', 0, 'm', 0,
						'l', 0, '>', 0};
	static const unsigned char utf16be[] = {0xfe, 0xff, 0, ' ', 0, '<', 0, 'B', 0, 'O',
						0, 'D', 0, 'Y'};
	static const unsigned char utf16_wide[] = {0xff, 0xfe, '<', 0x01, 'h', 0, 't', 0,
						   'm', 0, 'l', 0};
	static const unsigned char qcow[] = {'Q', 'F', 'I', 0xfb, 0, 0, 0, 3};
	char big[VMMI_SNIFF_MAX + 16];

	(void)state;
	assert_true(vmmi_looks_like_markup("<!DOCTYPE html>", 15));
	assert_true(vmmi_looks_like_markup("<!doctype HTML>", 15));
	assert_true(vmmi_looks_like_markup("<html>", 6));
	assert_true(vmmi_looks_like_markup("<HTML", 5));
	assert_true(vmmi_looks_like_markup("<?xml version", 13));
	assert_true(vmmi_looks_like_markup("<head>", 6));
	assert_true(vmmi_looks_like_markup("<BODY onload=x>", 15));
	assert_true(vmmi_looks_like_markup(" \t\r\n\f\v<html>", 12));
	assert_true(vmmi_looks_like_markup("\xef\xbb\xbf<html>", 9));
	assert_true(vmmi_looks_like_markup("\xef\xbb\xbf \n<html>", 11));
	assert_true(vmmi_looks_like_markup(utf16le, sizeof(utf16le)));
	assert_true(vmmi_looks_like_markup(utf16be, sizeof(utf16be)));
	/* not markup: other tags, binary, cut-short tags, a UTF-16 unit that is
	 * not ASCII, empty */
	assert_false(vmmi_looks_like_markup("<div>", 5));
	assert_false(vmmi_looks_like_markup("<htm", 4));
	assert_false(vmmi_looks_like_markup("x<html>", 7));
	assert_false(vmmi_looks_like_markup(qcow, sizeof(qcow)));
	assert_false(vmmi_looks_like_markup(utf16_wide, sizeof(utf16_wide)));
	assert_false(vmmi_looks_like_markup("", 0));
	assert_false(vmmi_looks_like_markup("\xef\xbb\xbf", 3));
	/* whitespace past the window: not judged markup */
	memset(big, ' ', sizeof(big));
	memcpy(big + VMMI_SNIFF_MAX, "<html>", 6);
	assert_false(vmmi_looks_like_markup(big, sizeof(big)));
	memcpy(big + VMMI_SNIFF_MAX - 6, "<html>", 6);
	assert_true(vmmi_looks_like_markup(big, sizeof(big)));
}

static void test_content_type(void **state)
{
	(void)state;
	assert_true(vmmi_content_type_is_document("text/html"));
	assert_true(vmmi_content_type_is_document("text/html; charset=utf-8"));
	assert_true(vmmi_content_type_is_document("  TEXT/PLAIN"));
	assert_true(vmmi_content_type_is_document("text/xml;x"));
	assert_true(vmmi_content_type_is_document("application/xhtml+xml"));
	assert_true(vmmi_content_type_is_document("Application/XHTML+XML ; charset=x"));
	assert_false(vmmi_content_type_is_document(NULL));
	assert_false(vmmi_content_type_is_document(""));
	assert_false(vmmi_content_type_is_document("application/octet-stream"));
	assert_false(vmmi_content_type_is_document("application/x-qemu-disk"));
	assert_false(vmmi_content_type_is_document("application/xhtml+xmlx"));
	assert_false(vmmi_content_type_is_document("textual/html"));
	assert_false(vmmi_content_type_is_document("application/zstd"));
}

static void test_parse_size(void **state)
{
	struct vmm_error err;
	uint64_t v;

	(void)state;
	assert_int_equal(vmm_image_parse_size("1", &v, NULL), 0);
	assert_true(v == 1);
	assert_int_equal(vmm_image_parse_size("10M", &v, NULL), 0);
	assert_true(v == 10ull << 20);
	assert_int_equal(vmm_image_parse_size("10MiB", &v, NULL), 0);
	assert_true(v == 10ull << 20);
	assert_int_equal(vmm_image_parse_size("256g", &v, NULL), 0);
	assert_true(v == 256ull << 30);
	assert_int_equal(vmm_image_parse_size("1.5T", &v, NULL), 0);
	assert_true(v == 3ull << 39);
	assert_int_equal(vmm_image_parse_size("4k", &v, NULL), 0);
	assert_true(v == 4096);
	assert_int_equal(vmm_image_parse_size("512B", &v, NULL), 0);
	assert_true(v == 512);
	assert_int_equal(vmm_image_parse_size("None", &v, NULL), 0);
	assert_true(v == VMM_IMAGE_MAX_SIZE_NONE);
	assert_true(VMM_IMAGE_MAX_SIZE_DEFAULT == 256ull << 30);
	static const char *const bad[] = {"", "0", "0.1", "-1", "+1", " 1", "1 ", "abc",
					  "1e3", "0x10", "10Q", "10MB5", "inf", "nan",
					  "8388608T", ".5G", "1..5G"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		vmm_error_clear(&err);
		assert_int_equal(vmm_image_parse_size(bad[i], &v, &err), -VMM_E_USAGE);
		assert_int_equal(err.code, VMM_E_USAGE);
		assert_non_null(strstr(err.hint, "none"));
		assert_true(v == 0);
	}
	assert_int_equal(vmm_image_parse_size(NULL, &v, NULL), -VMM_E_USAGE);
}

static void test_space_reserve(void **state)
{
	(void)state;
	/* 5 % of a small filesystem, 1 GiB of a big one */
	assert_true(vmmi_space_reserve(64ull << 20) == (64ull << 20) / 20);
	assert_true(vmmi_space_reserve(20ull << 30) == 1ull << 30);
	assert_true(vmmi_space_reserve(10ull << 40) == 1ull << 30);
	assert_true(vmmi_space_reserve(0) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_url_key),
		cmocka_unit_test(test_magic),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_decompress),
		cmocka_unit_test(test_decompress_empty),
		cmocka_unit_test(test_entry_lock_file_removed_while_waited_for),
		cmocka_unit_test(test_incomplete_entries),
		cmocka_unit_test(test_markup),
		cmocka_unit_test(test_content_type),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_space_reserve),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
