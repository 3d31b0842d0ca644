/* SPDX-License-Identifier: MIT */
/* Image module helpers: sha256 (libcrypto), compression magic, names, what
 * a server sends (markup, document types), the free-space reserve. */
#include "image/image.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "core/util.h"

int vmmi_sha256_init(struct vmmi_sha256 *h, struct vmm_error *err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	h->ctx = NULL;
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return vmm_error_set(err, VMM_E_INTERNAL, 0, NULL,
				     "cannot initialise a sha256 digest (libcrypto)");
	}
	h->ctx = ctx;
	return 0;
}

void vmmi_sha256_update(struct vmmi_sha256 *h, const void *data, size_t len)
{
	if (len)
		EVP_DigestUpdate(h->ctx, data, len);
}

void vmmi_sha256_final_hex(struct vmmi_sha256 *h, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	static const char digits[] = "0123456789abcdef";

	EVP_DigestFinal_ex(h->ctx, md, &n);
	for (unsigned i = 0; i < 32; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[64] = '\0';
	EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL);
}

void vmmi_sha256_release(struct vmmi_sha256 *h)
{
	if (h && h->ctx) {
		EVP_MD_CTX_free(h->ctx);
		h->ctx = NULL;
	}
}

void vmmi_sha256_hex(const void *data, size_t len, char hex[65])
{
	struct vmmi_sha256 h;

	if (vmmi_sha256_init(&h, NULL) < 0) {
		hex[0] = '\0';
		return;
	}
	vmmi_sha256_update(&h, data, len);
	vmmi_sha256_final_hex(&h, hex);
	vmmi_sha256_release(&h);
}

bool vmmi_sha256_valid(const char *s)
{
	size_t i;

	if (!s)
		return false;
	for (i = 0; s[i]; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return i == 64;
}

void vmm_image_url_key(const char *url, char key[65])
{
	vmmi_sha256_hex(url, strlen(url), key);
}

const char *vmmi_compression_name(enum vmmi_compression c)
{
	switch (c) {
	case VMMI_COMP_ZSTD:
		return "zstd";
	case VMMI_COMP_XZ:
		return "xz";
	case VMMI_COMP_GZIP:
		return "gzip";
	case VMMI_COMP_NONE:
		break;
	}
	return "none";
}

enum vmmi_compression vmmi_compression_from_magic(const void *data, size_t len)
{
	static const unsigned char zstd[] = {0x28, 0xb5, 0x2f, 0xfd};
	static const unsigned char xz[] = {0xfd, '7', 'z', 'X', 'Z', 0x00};
	static const unsigned char gz[] = {0x1f, 0x8b};
	const unsigned char *p = data;

	if (len >= sizeof(zstd) && memcmp(p, zstd, sizeof(zstd)) == 0)
		return VMMI_COMP_ZSTD;
	if (len >= sizeof(xz) && memcmp(p, xz, sizeof(xz)) == 0)
		return VMMI_COMP_XZ;
	if (len >= sizeof(gz) && memcmp(p, gz, sizeof(gz)) == 0)
		return VMMI_COMP_GZIP;
	return VMMI_COMP_NONE;
}

static const struct {
	const char *suffix;
	enum vmmi_compression comp;
} suffixes[] = {
	{".zst", VMMI_COMP_ZSTD},
	{".zstd", VMMI_COMP_ZSTD},
	{".xz", VMMI_COMP_XZ},
	{".gz", VMMI_COMP_GZIP},
};

static size_t suffix_len(const char *name, size_t len, enum vmmi_compression *comp)
{
	for (size_t i = 0; i < VMMI_ARRAY_SIZE(suffixes); i++) {
		size_t sl = strlen(suffixes[i].suffix);

		if (len > sl && strncasecmp(name + len - sl, suffixes[i].suffix, sl) == 0) {
			if (comp)
				*comp = suffixes[i].comp;
			return sl;
		}
	}
	if (comp)
		*comp = VMMI_COMP_NONE;
	return 0;
}

/* The last path component of a URL (without query and fragment). */
static void url_basename(const char *url, const char **start, size_t *len)
{
	const char *p = strstr(url, "://");
	const char *end, *slash;

	p = p ? p + 3 : url;
	end = p + strcspn(p, "?#");
	slash = NULL;
	for (const char *q = p; q < end; q++)
		if (*q == '/')
			slash = q;
	if (!slash) { /* host only */
		*start = end;
		*len = 0;
		return;
	}
	*start = slash + 1;
	*len = (size_t)(end - (slash + 1));
}

enum vmmi_compression vmmi_compression_from_suffix(const char *name)
{
	enum vmmi_compression c;
	const char *start;
	size_t len;

	if (strstr(name, "://"))
		url_basename(name, &start, &len);
	else {
		start = name;
		len = strlen(name);
	}
	suffix_len(start, len, &c);
	return c;
}

static bool name_char_ok(char c)
{
	return isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-' || c == '+';
}

char *vmmi_image_name_from_url(const char *url)
{
	const char *start;
	size_t len, i, o = 0;
	char *name;

	url_basename(url, &start, &len);
	len -= suffix_len(start, len, NULL);
	if (len > 200)
		len = 200;
	name = malloc(len + sizeof("image"));
	if (!name)
		return NULL;
	for (i = 0; i < len; i++) {
		char c = start[i];

		if (!name_char_ok(c))
			c = '_';
		if (o == 0 && (c == '.' || c == '-'))
			c = '_';
		name[o++] = c;
	}
	name[o] = '\0';
	/* a name made only of '_' and '.' (e.g. from "..") says nothing */
	if (strspn(name, "_.") == o)
		strcpy(name, "image");
	return name;
}

int vmmi_image_name_validate(const char *name, struct vmm_error *err)
{
	size_t len = name ? strlen(name) : 0;
	const char *hint = "use 1-200 letters, digits, '.', '_', '+' or '-', not starting "
			   "with '.' or '-'";

	if (len == 0 || len > 200)
		return vmm_error_set(err, VMM_E_USAGE, 0, hint,
				     "invalid image name '%s': it must have 1 to 200 characters",
				     name ? name : "");
	if (name[0] == '.' || name[0] == '-')
		return vmm_error_set(err, VMM_E_USAGE, 0, hint,
				     "invalid image name '%s': it must not start with '%c'", name,
				     name[0]);
	for (size_t i = 0; i < len; i++)
		if (!name_char_ok(name[i]))
			return vmm_error_set(err, VMM_E_USAGE, 0, hint,
					     "invalid image name '%s': character '%c' is not "
					     "allowed",
					     name, name[i]);
	return 0;
}

bool vmmi_url_valid(const char *url)
{
	const char *host;

	if (!url)
		return false;
	if (strncasecmp(url, "http://", 7) == 0)
		host = url + 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		host = url + 8;
	else if (strncasecmp(url, "file:///", 8) == 0)
		host = "localhost"; /* file:///absolute/path, no host */
	else
		return false;
	if (!*host || *host == '/' || !strcmp(url + strcspn(url, ":") + 3, "/"))
		return false;
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

static bool starts_with_tag(const unsigned char *p, size_t len)
{
	static const char *const tags[] = {"<!doctype", "<html", "<?xml", "<head", "<body"};
	size_t i = 0;

	while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n' ||
			   p[i] == '\f' || p[i] == '\v'))
		i++;
	for (size_t t = 0; t < sizeof(tags) / sizeof(tags[0]); t++) {
		size_t n = strlen(tags[t]);

		if (len - i >= n && strncasecmp((const char *)p + i, tags[t], n) == 0)
			return true;
	}
	return false;
}

bool vmmi_looks_like_markup(const void *data, size_t len)
{
	const unsigned char *p = data;
	unsigned char narrow[VMMI_SNIFF_MAX / 2];
	size_t n = 0;

	if (len > VMMI_SNIFF_MAX)
		len = VMMI_SNIFF_MAX;
	if (len >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)
		return starts_with_tag(p + 3, len - 3);
	if (len >= 2 && ((p[0] == 0xff && p[1] == 0xfe) || (p[0] == 0xfe && p[1] == 0xff))) {
		/* UTF-16 (little or big endian): ASCII units, as bytes */
		bool le = p[0] == 0xff;

		for (size_t i = 2; i + 1 < len; i += 2) {
			unsigned char lo = le ? p[i] : p[i + 1], hi = le ? p[i + 1] : p[i];

			narrow[n++] = hi || lo >= 0x80 ? 0x80 : lo;
		}
		return starts_with_tag(narrow, n);
	}
	return starts_with_tag(p, len);
}

bool vmmi_content_type_is_document(const char *ct)
{
	size_t n;

	if (!ct)
		return false;
	ct += strspn(ct, " \t");
	n = strcspn(ct, "; \t");
	return (n >= 5 && strncasecmp(ct, "text/", 5) == 0) ||
	       (n == 21 && strncasecmp(ct, "application/xhtml+xml", 21) == 0);
}

uint64_t vmmi_space_reserve(uint64_t fs_size)
{
	uint64_t five = fs_size / 20, gib = 1ull << 30;

	return five < gib ? five : gib;
}

int vmm_image_parse_size(const char *text, uint64_t *out, struct vmm_error *err)
{
	static const char units[] = "KMGT";
	const char *hint = "give a size in bytes with an optional binary suffix (K, M, G, T: "
			   "10M, 20G, 1.5T) or 'none' for no limit";
	const char *p = text ? text : "", *u;
	unsigned shift = 0;
	double v;
	char *end;

	*out = 0;
	if (strcasecmp(p, "none") == 0) {
		*out = VMM_IMAGE_MAX_SIZE_NONE;
		return 0;
	}
	if (!isdigit((unsigned char)p[0]))
		goto bad;
	errno = 0;
	v = strtod(p, &end);
	/* digits and a point only: no exponent, no hex */
	if (errno || end == p || end != p + strspn(p, "0123456789."))
		goto bad;
	if (*end && (u = strchr(units, toupper((unsigned char)*end)))) {
		shift = 10 * (unsigned)(u - units + 1);
		end++;
		if (strcasecmp(end, "iB") == 0 || strcasecmp(end, "B") == 0)
			end += strlen(end);
	} else if (strcasecmp(end, "B") == 0) {
		end++;
	}
	if (*end)
		goto bad;
	v *= (double)(1ull << shift);
	if (v < 1 || v >= 9223372036854775808.0)
		return vmm_error_set(err, VMM_E_USAGE, 0, hint,
				     "size '%s' is out of range (1 byte to 8 EiB)", text);
	*out = (uint64_t)v;
	return 0;
bad:
	return vmm_error_set(err, VMM_E_USAGE, 0, hint, "'%s' is not a size", p);
}
