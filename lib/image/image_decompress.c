/* SPDX-License-Identifier: MIT */
/*
 * Streaming decompression of downloaded images: zstd (libzstd), xz
 * (liblzma), gzip (zlib). Bytes go in as they arrive from the network and
 * come out to a sink through one fixed output buffer, so memory is bounded
 * by the codec's window whatever the image size. Concatenated frames,
 * streams and members are accepted, as the command-line tools do.
 */
#include "image/image.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include "core/util.h"

#define OUT_SIZE (256 * 1024)
/* xz streams made with the usual presets need at most 64 MiB (-9); beyond
 * this the stream was made for a bigger machine than a download needs. */
#define XZ_MEMLIMIT (256ull * 1024 * 1024)

struct vmmi_decomp {
	enum vmmi_compression kind;
	vmmi_sink_fn sink;
	void *userdata;
	unsigned char *out;
	uint64_t in_total;
	bool mid_stream; /* input seen since the last complete frame/stream/member */
	ZSTD_DStream *zs;
	lzma_stream xs;
	bool xs_init;
	z_stream gs;
	bool gs_init;
};

static int corrupt(struct vmmi_decomp *d, struct vmm_error *err, const char *why)
{
	return vmm_error_set(err, VMM_E_FORMAT, 0,
			     "the file at the URL is damaged or is not what its name says; "
			     "check the URL",
			     "%s data is corrupt after %llu compressed bytes: %s",
			     vmmi_compression_name(d->kind), (unsigned long long)d->in_total, why);
}

int vmmi_decomp_new(enum vmmi_compression c, vmmi_sink_fn sink, void *userdata,
		    struct vmmi_decomp **out, struct vmm_error *err)
{
	struct vmmi_decomp *d = calloc(1, sizeof(*d));
	int rc = 0;

	*out = NULL;
	if (!d)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	d->kind = c;
	d->sink = sink;
	d->userdata = userdata;
	if (c != VMMI_COMP_NONE && !(d->out = malloc(OUT_SIZE))) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto out;
	}
	switch (c) {
	case VMMI_COMP_ZSTD:
		d->zs = ZSTD_createDStream();
		if (!d->zs || ZSTD_isError(ZSTD_initDStream(d->zs)))
			rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL,
					   "cannot create a zstd decompressor");
		break;
	case VMMI_COMP_XZ:
		d->xs = (lzma_stream)LZMA_STREAM_INIT;
		if (lzma_stream_decoder(&d->xs, XZ_MEMLIMIT, LZMA_CONCATENATED) != LZMA_OK)
			rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL,
					   "cannot create an xz decompressor");
		else
			d->xs_init = true;
		break;
	case VMMI_COMP_GZIP:
		/* 16 + MAX_WBITS: gzip header and trailer, not zlib's */
		if (inflateInit2(&d->gs, 16 + MAX_WBITS) != Z_OK)
			rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL,
					   "cannot create a gzip decompressor");
		else
			d->gs_init = true;
		break;
	case VMMI_COMP_NONE:
		break;
	}
out:
	if (rc < 0)
		vmmi_decomp_free(d);
	else
		*out = d;
	return rc;
}

void vmmi_decomp_free(struct vmmi_decomp *d)
{
	if (!d)
		return;
	ZSTD_freeDStream(d->zs);
	if (d->xs_init)
		lzma_end(&d->xs);
	if (d->gs_init)
		inflateEnd(&d->gs);
	free(d->out);
	free(d);
}

static int feed_zstd(struct vmmi_decomp *d, const void *data, size_t len,
		     struct vmm_error *err)
{
	ZSTD_inBuffer in = {data, len, 0};

	while (in.pos < in.size) {
		ZSTD_outBuffer o = {d->out, OUT_SIZE, 0};
		size_t r = ZSTD_decompressStream(d->zs, &o, &in);
		int rc;

		if (ZSTD_isError(r))
			return corrupt(d, err, ZSTD_getErrorName(r));
		/* r == 0: a frame ended exactly here */
		d->mid_stream = r != 0;
		if (o.pos && (rc = d->sink(d->userdata, d->out, o.pos, err)) < 0)
			return rc;
	}
	return 0;
}

static const char *lzma_why(lzma_ret r)
{
	switch (r) {
	case LZMA_MEMLIMIT_ERROR:
		return "the stream needs more memory than allowed";
	case LZMA_FORMAT_ERROR:
		return "not in the xz format";
	case LZMA_OPTIONS_ERROR:
		return "unsupported options";
	case LZMA_DATA_ERROR:
		return "corrupt data";
	case LZMA_BUF_ERROR:
		return "the data ends too early";
	default:
		return "decoder error";
	}
}

static int run_xz(struct vmmi_decomp *d, const void *data, size_t len, lzma_action action,
		  struct vmm_error *err)
{
	d->xs.next_in = data;
	d->xs.avail_in = len;
	for (;;) {
		lzma_ret r;
		size_t n;
		int rc;

		d->xs.next_out = d->out;
		d->xs.avail_out = OUT_SIZE;
		r = lzma_code(&d->xs, action);
		n = OUT_SIZE - d->xs.avail_out;
		if (n && (rc = d->sink(d->userdata, d->out, n, err)) < 0)
			return rc;
		if (r == LZMA_STREAM_END)
			return 0;
		if (r != LZMA_OK)
			return corrupt(d, err, lzma_why(r));
		if (d->xs.avail_in == 0 && d->xs.avail_out != 0 && action == LZMA_RUN)
			return 0;
		if (action == LZMA_FINISH && n == 0 && d->xs.avail_out != 0)
			return corrupt(d, err, "the data ends too early");
	}
}

static int feed_gzip(struct vmmi_decomp *d, const void *data, size_t len,
		     struct vmm_error *err)
{
	d->gs.next_in = (Bytef *)(uintptr_t)data;
	d->gs.avail_in = (uInt)len;
	while (d->gs.avail_in > 0) {
		int r, rc;
		size_t n;

		d->gs.next_out = d->out;
		d->gs.avail_out = OUT_SIZE;
		r = inflate(&d->gs, Z_NO_FLUSH);
		n = OUT_SIZE - d->gs.avail_out;
		if (n && (rc = d->sink(d->userdata, d->out, n, err)) < 0)
			return rc;
		if (r == Z_STREAM_END) {
			/* another member may follow (gzip files can be concatenated) */
			d->mid_stream = false;
			if (inflateReset(&d->gs) != Z_OK)
				return corrupt(d, err, "cannot reset the decoder");
			continue;
		}
		if (r != Z_OK && r != Z_BUF_ERROR)
			return corrupt(d, err, d->gs.msg ? d->gs.msg : "corrupt data");
		d->mid_stream = true;
		if (r == Z_BUF_ERROR && n == 0)
			break;
	}
	return 0;
}

int vmmi_decomp_feed(struct vmmi_decomp *d, const void *data, size_t len,
		     struct vmm_error *err)
{
	if (len == 0)
		return 0;
	d->in_total += len;
	switch (d->kind) {
	case VMMI_COMP_NONE:
		return d->sink(d->userdata, data, len, err);
	case VMMI_COMP_ZSTD:
		return feed_zstd(d, data, len, err);
	case VMMI_COMP_XZ:
		d->mid_stream = true;
		return run_xz(d, data, len, LZMA_RUN, err);
	case VMMI_COMP_GZIP:
		return feed_gzip(d, data, len, err);
	}
	return 0;
}

int vmmi_decomp_finish(struct vmmi_decomp *d, struct vmm_error *err)
{
	switch (d->kind) {
	case VMMI_COMP_NONE:
		return 0;
	case VMMI_COMP_XZ:
		if (d->in_total == 0)
			return corrupt(d, err, "no data");
		return run_xz(d, NULL, 0, LZMA_FINISH, err);
	case VMMI_COMP_ZSTD:
	case VMMI_COMP_GZIP:
		if (d->in_total == 0)
			return corrupt(d, err, "no data");
		if (d->mid_stream)
			return corrupt(d, err, "the data ends too early");
		return 0;
	}
	return 0;
}
