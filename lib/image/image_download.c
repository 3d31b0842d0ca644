/* SPDX-License-Identifier: MIT */
/*
 * Downloading an image: libcurl, streaming decompression, sha256 on the fly,
 * retries that resume with Range requests.
 *
 * The bytes as published go through the digest and the decompressor; what
 * comes out is written to the part file through a buffered writer that
 * leaves runs of zero blocks as holes (disk images are mostly zeros) and
 * starts writeback early, so the final fsync is short and dirty memory
 * stays bounded.
 *
 * Resume: within one process, the digest and decompressor states are alive,
 * so a retry asks for the rest of the file (Range: bytes=N-, with If-Range
 * when the server gave a validator) whatever the compression. Across
 * processes (a pull killed and run again), only an uncompressed part file
 * can be resumed, since it holds exactly the bytes received; a compressed
 * one is started over. A server that answers a Range request with the whole
 * file (200) is followed: the transfer starts over.
 *
 * Nothing a server sends is trusted: a text or HTML response (its
 * Content-Type, or the first bytes of its body), a redirect off http(s) and
 * a file:// URL that is not a regular file are refused, and the writer
 * stops at the size limit and before the cache's filesystem runs short of
 * its free-space reserve (checked at every buffer it writes), whatever the
 * compression makes of the bytes.
 */
#include "image/image.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "core/util.h"
#include "vmm/log.h"
#include "vmm_config.h"

#define MOD "image"
#define WBUF_SIZE (1024 * 1024)
#define BLOCK 4096
#define WRITEBACK_CHUNK (16ull * 1024 * 1024)
/* how far behind the writer the wait for writeback trails */
#define WRITEBACK_LAG (128ull * 1024 * 1024)
#define PIPE_SIZE (4 * 1024 * 1024)
#define PIPE_TAKE (256 * 1024)
#define MAX_REDIRECTS 10

static const char *SIZE_HINT = "if the image is really this big, raise the limit "
				"(--max-size SIZE, or none); otherwise the server sent "
				"something else than an image (a decompression bomb?)";

/* ---- the part-file writer ---- */

struct writer {
	int fd;
	const char *path;
	const char *url;    /* for messages */
	uint64_t max_size;  /* bytes the output may have */
	bool discard;       /* a limit was hit: the part is of no use to anyone */
	unsigned char *buf;
	size_t len;
	uint64_t pos;       /* logical offset of buf[0] */
	uint64_t wb_done;   /* writeback started up to here */
	uint64_t wb_waited; /* writeback waited for up to here */
};

static bool all_zero(const unsigned char *p, size_t n)
{
	/* compare word-wise; BLOCK is a multiple of the word size */
	const uint64_t *w = (const uint64_t *)(const void *)p;

	for (size_t i = 0; i < n / 8; i++)
		if (w[i])
			return false;
	for (size_t i = n & ~(size_t)7; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static int pwrite_all(int fd, const unsigned char *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

static void fmt_size(uint64_t b, char *buf, size_t size)
{
	if (b >= 1024ull * 1024 * 1024)
		snprintf(buf, size, "%.1f GiB", (double)b / (1024.0 * 1024 * 1024));
	else if (b >= 1024 * 1024)
		snprintf(buf, size, "%.1f MiB", (double)b / (1024.0 * 1024));
	else
		snprintf(buf, size, "%.1f KiB", (double)b / 1024.0);
}

/* Refuse to write len more bytes if that would leave less than the reserve
 * free on the part file's filesystem. */
static int check_space(struct writer *w, size_t len, struct vmm_error *err)
{
	struct statvfs vfs;
	uint64_t avail, reserve;
	char a[32], r[32];

	if (fstatvfs(w->fd, &vfs) < 0)
		return 0; /* cannot tell: the write itself reports a full disk */
	avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	reserve = vmmi_space_reserve((uint64_t)vfs.f_blocks * vfs.f_frsize);
	if (avail >= reserve && avail - reserve >= len)
		return 0;
	w->discard = true;
	fmt_size(avail, a, sizeof(a));
	fmt_size(reserve, r, sizeof(r));
	return vmm_error_set(err, VMM_E_IO, ENOSPC,
			     "free space on the image cache's filesystem (`vmctl image prune "
			     "--all` removes the images no VM uses), or check that the URL is "
			     "the image you mean",
			     "stopped downloading %s after %llu bytes: the image cache's "
			     "filesystem has %s free, and a download leaves at least %s "
			     "(1 GiB or 5 %% of the filesystem)",
			     w->url, (unsigned long long)(w->pos + w->len), a, r);
}

static int writer_flush(struct writer *w, struct vmm_error *err)
{
	size_t i = 0, run_start = 0;
	bool in_run = false, last_zero = false;
	int rc;

	if (w->len && (rc = check_space(w, w->len, err)) < 0)
		return rc;
	while (i < w->len) {
		size_t n = w->len - i < BLOCK ? w->len - i : BLOCK;
		bool zero = all_zero(w->buf + i, n);

		if (!zero && !in_run) {
			run_start = i;
			in_run = true;
		} else if (zero && in_run) {
			if (pwrite_all(w->fd, w->buf + run_start, i - run_start,
				       w->pos + run_start) < 0)
				goto fail;
			in_run = false;
		}
		last_zero = zero;
		i += n;
	}
	if (in_run && pwrite_all(w->fd, w->buf + run_start, w->len - run_start,
				 w->pos + run_start) < 0)
		goto fail;
	w->pos += w->len;
	w->len = 0;
	/* A trailing hole does not extend the file: do it, so the file's size
	 * is always the number of bytes written (what a resume relies on). */
	if (last_zero && ftruncate(w->fd, (off_t)w->pos) < 0)
		goto fail;
	if (w->pos - w->wb_done >= WRITEBACK_CHUNK) {
		/* Start writeback of what is written now, and wait for what was
		 * started WRITEBACK_LAG ago (long done, unless the disk is slower
		 * than the network): dirty pages stay bounded and the final fsync
		 * is short. */
		sync_file_range(w->fd, (off_t)w->wb_done, (off_t)(w->pos - w->wb_done),
				SYNC_FILE_RANGE_WRITE);
		w->wb_done = w->pos;
		if (w->wb_done > w->wb_waited + WRITEBACK_LAG) {
			uint64_t upto = w->wb_done - WRITEBACK_LAG;

			sync_file_range(w->fd, (off_t)w->wb_waited, (off_t)(upto - w->wb_waited),
					SYNC_FILE_RANGE_WAIT_BEFORE);
			w->wb_waited = upto;
		}
	}
	return 0;
fail:
	return vmm_error_errno(err, VMM_E_IO, "check free disk space in the image cache",
			       "cannot write '%s'", w->path);
}

static int writer_sink(void *userdata, const void *data, size_t len, struct vmm_error *err)
{
	struct writer *w = userdata;
	const unsigned char *p = data;

	if (w->pos + w->len + len > w->max_size) {
		char m[32];

		w->discard = true;
		fmt_size(w->max_size, m, sizeof(m));
		return vmm_error_set(err, VMM_E_DOWNLOAD, EFBIG, SIZE_HINT,
				     "%s is larger than the size limit of %s (%llu bytes): "
				     "stopped after writing %llu bytes of it",
				     w->url, m, (unsigned long long)w->max_size,
				     (unsigned long long)(w->pos + w->len));
	}
	while (len) {
		size_t n = WBUF_SIZE - w->len < len ? WBUF_SIZE - w->len : len;
		int rc;

		memcpy(w->buf + w->len, p, n);
		w->len += n;
		p += n;
		len -= n;
		if (w->len == WBUF_SIZE && (rc = writer_flush(w, err)) < 0)
			return rc;
	}
	return 0;
}

/* Forget everything written: the transfer starts over. */
static int writer_reset(struct writer *w, struct vmm_error *err)
{
	w->len = 0;
	w->pos = 0;
	w->wb_done = 0;
	w->wb_waited = 0;
	if (ftruncate(w->fd, 0) < 0)
		return vmm_error_errno(err, VMM_E_IO, NULL, "cannot truncate '%s'", w->path);
	return 0;
}

/* ---- the decompression thread ----
 *
 * curl's callback (the network side) hashes the bytes and hands them to a
 * thread that decompresses and writes them, through a bounded FIFO: network,
 * codec and disk work in parallel, as in `curl | zstd -d > file`, with
 * memory bounded by the FIFO's size. */

struct pipe {
	pthread_mutex_t mu;
	pthread_cond_t changed;
	unsigned char *ring;
	size_t head, len;      /* bytes queued: ring[head .. head+len) mod PIPE_SIZE */
	bool busy;             /* the worker is decompressing a batch */
	bool quit;
	bool failed;           /* the worker failed; err says why */
	struct vmm_error err;
	struct vmmi_decomp **dec;
	pthread_t thread;
	bool inited, started;
};

static void *pipe_worker(void *arg)
{
	struct pipe *p = arg;
	unsigned char *batch = malloc(PIPE_TAKE);

	pthread_mutex_lock(&p->mu);
	if (!batch) {
		vmm_error_set(&p->err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		p->failed = true;
		pthread_cond_broadcast(&p->changed);
	}
	while (batch) {
		size_t n, first;
		int rc;

		while (!p->len && !p->quit)
			pthread_cond_wait(&p->changed, &p->mu);
		if (!p->len)
			break;
		n = p->len < PIPE_TAKE ? p->len : PIPE_TAKE;
		first = PIPE_SIZE - p->head < n ? PIPE_SIZE - p->head : n;
		memcpy(batch, p->ring + p->head, first);
		memcpy(batch + first, p->ring, n - first);
		p->head = (p->head + n) % PIPE_SIZE;
		p->len -= n;
		p->busy = true;
		pthread_cond_broadcast(&p->changed);
		pthread_mutex_unlock(&p->mu);

		rc = vmmi_decomp_feed(*p->dec, batch, n, &p->err);

		pthread_mutex_lock(&p->mu);
		p->busy = false;
		if (rc < 0) {
			p->failed = true;
			p->len = 0;
		}
		pthread_cond_broadcast(&p->changed);
	}
	pthread_mutex_unlock(&p->mu);
	free(batch);
	return NULL;
}

static int pipe_start(struct pipe *p, struct vmmi_decomp **dec, struct vmm_error *err)
{
	int e;

	memset(p, 0, sizeof(*p));
	p->dec = dec;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->changed, NULL);
	p->inited = true;
	if (!(p->ring = malloc(PIPE_SIZE)))
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	if ((e = pthread_create(&p->thread, NULL, pipe_worker, p)) != 0) {
		errno = e;
		return vmm_error_errno(err, VMM_E_INTERNAL, NULL, "cannot start a thread");
	}
	p->started = true;
	return 0;
}

static void pipe_stop(struct pipe *p)
{
	if (!p->inited)
		return;
	if (p->started) {
		pthread_mutex_lock(&p->mu);
		p->quit = true;
		p->len = 0; /* after a drain this drops nothing; after a failure,
			       what was queued is of no use */
		pthread_cond_broadcast(&p->changed);
		pthread_mutex_unlock(&p->mu);
		pthread_join(p->thread, NULL);
		p->started = false;
	}
	free(p->ring);
	p->ring = NULL;
	pthread_cond_destroy(&p->changed);
	pthread_mutex_destroy(&p->mu);
	p->inited = false;
}

static int pipe_failed(struct pipe *p, struct vmm_error *err)
{
	if (err)
		*err = p->err;
	return -(int)p->err.code;
}

static int pipe_push(struct pipe *p, const unsigned char *data, size_t len,
		     struct vmm_error *err)
{
	int rc = 0;

	pthread_mutex_lock(&p->mu);
	while (len) {
		size_t space, tail, n, first;

		while (!p->failed && p->len == PIPE_SIZE)
			pthread_cond_wait(&p->changed, &p->mu);
		if (p->failed) {
			rc = pipe_failed(p, err);
			break;
		}
		space = PIPE_SIZE - p->len;
		n = len < space ? len : space;
		tail = (p->head + p->len) % PIPE_SIZE;
		first = PIPE_SIZE - tail < n ? PIPE_SIZE - tail : n;
		memcpy(p->ring + tail, data, first);
		memcpy(p->ring, data + first, n - first);
		p->len += n;
		data += n;
		len -= n;
		pthread_cond_broadcast(&p->changed);
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

/* Wait until the worker has processed everything queued and is idle: then
 * the decompressor and the writer may be used from this thread. */
static int pipe_drain(struct pipe *p, struct vmm_error *err)
{
	int rc = 0;

	pthread_mutex_lock(&p->mu);
	while (!p->failed && (p->len || p->busy))
		pthread_cond_wait(&p->changed, &p->mu);
	if (p->failed)
		rc = pipe_failed(p, err);
	pthread_mutex_unlock(&p->mu);
	return rc;
}

/* ---- one download ---- */

struct dl {
	struct vmmi_download *d;
	const struct vmm_image_pull_opts *opts;
	CURL *curl;
	struct writer w;
	struct vmmi_sha256 sha;
	struct vmmi_decomp *dec;
	struct pipe pipe;
	enum vmmi_compression declared; /* by the URL's suffix */
	bool is_file;                   /* a file:// URL */
	bool comp_known;
	unsigned char head[VMMI_SNIFF_MAX]; /* the first bytes, until they are judged */
	size_t head_len;
	uint64_t max_size;
	uint64_t received;  /* bytes as published, accepted so far */
	uint64_t total;     /* expected total, 0 unknown */
	char *etag;
	char *last_modified;
	bool state_written;

	/* per response (reset at every status line, redirects included) */
	long status;
	int64_t content_length;
	int64_t range_start, range_total;
	char *resp_etag, *resp_last_modified, *resp_type, *resp_location;
	/* per attempt */
	bool body_started;
	bool fatal;            /* the attempt failed for good; err is filled */
	struct vmm_error ferr; /* the fatal error of a callback */

	uint64_t last_data_ms; /* when the last byte arrived (or the attempt began) */
	bool stalled;
	bool too_slow;         /* below the low-speed limit for too long */

	/* progress */
	uint64_t last_report_ms;
	uint64_t rate_ms, rate_bytes;
	double rate;
};

static int magic_flush(struct dl *s, struct vmm_error *err);

/* A success status: 2xx over HTTP; file:// has no status (0). */
static bool status_ok(const struct dl *s)
{
	return s->is_file ? s->status == 0 : s->status >= 200 && s->status <= 299;
}

static void report(struct dl *s, bool finished)
{
	struct vmm_image_progress p;
	uint64_t now = vmmi_now_ms();

	/* nothing to say before a body arrives (redirects, error pages) */
	if (!s->opts->progress || (!finished && (!s->body_started || !status_ok(s))))
		return;
	if (!finished && now - s->last_report_ms < 100)
		return;
	if (now - s->rate_ms >= 1000 || s->rate_ms == 0) {
		if (s->rate_ms && now > s->rate_ms) {
			double inst = (double)(s->received - s->rate_bytes) * 1000.0 /
				      (double)(now - s->rate_ms);
			s->rate = s->rate > 0 ? 0.5 * s->rate + 0.5 * inst : inst;
		}
		s->rate_ms = now;
		s->rate_bytes = s->received;
	}
	s->last_report_ms = now;
	p.name = s->d->name;
	p.done = s->received;
	p.total = s->total;
	p.rate = s->rate;
	p.finished = finished;
	s->opts->progress(&p, s->opts->progress_data);
}

static int64_t parse_i64(const char *p)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(p, &end, 10);
	if (errno || end == p || v < 0)
		return -1;
	return v;
}

static char *header_value(const char *line, size_t len, const char *name)
{
	size_t nl = strlen(name);
	const char *v, *e;
	char *r;

	if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return NULL;
	v = line + nl + 1;
	e = line + len;
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
		e--;
	/* a value may reach an error message: no control characters */
	if ((r = strndup(v, (size_t)(e - v))))
		for (char *c = r; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?';
	return r;
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *userdata)
{
	struct dl *s = userdata;
	size_t len = size * nitems;
	char *v;

	s->last_data_ms = vmmi_now_ms();
	if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		const char *sp = memchr(buf, ' ', len);

		s->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		s->content_length = -1;
		s->range_start = s->range_total = -1;
		free(s->resp_etag);
		free(s->resp_last_modified);
		free(s->resp_type);
		free(s->resp_location);
		s->resp_etag = s->resp_last_modified = s->resp_type = s->resp_location = NULL;
		return len;
	}
	if ((v = header_value(buf, len, "Content-Length"))) {
		s->content_length = parse_i64(v);
		free(v);
	} else if ((v = header_value(buf, len, "Content-Range"))) {
		/* "bytes START-END/TOTAL" */
		const char *p = v + strspn(v, " ");

		if (strncasecmp(p, "bytes ", 6) == 0) {
			const char *slash = strchr(p, '/');

			s->range_start = parse_i64(p + 6);
			s->range_total = slash && slash[1] != '*' ? parse_i64(slash + 1) : -1;
		}
		free(v);
	} else if ((v = header_value(buf, len, "ETag"))) {
		free(s->resp_etag);
		s->resp_etag = v;
	} else if ((v = header_value(buf, len, "Last-Modified"))) {
		free(s->resp_last_modified);
		s->resp_last_modified = v;
	} else if ((v = header_value(buf, len, "Content-Type"))) {
		free(s->resp_type);
		s->resp_type = v;
	} else if ((v = header_value(buf, len, "Location"))) {
		free(s->resp_location);
		s->resp_location = v;
	}
	return len;
}

static void take_validators(struct dl *s)
{
	/* A weak ETag cannot be used with If-Range. */
	free(s->etag);
	s->etag = s->resp_etag && strncmp(s->resp_etag, "W/", 2) != 0 ? strdup(s->resp_etag)
								       : NULL;
	free(s->last_modified);
	s->last_modified = s->resp_last_modified ? strdup(s->resp_last_modified) : NULL;
}

static int write_state(struct dl *s, struct vmm_error *err)
{
	json_t *j = json_pack("{s:i, s:s, s:s, s:I, s:s?, s:s?}", "version", 1, "url",
			      s->d->url, "compression", vmmi_compression_name(s->d->compression),
			      "total", (json_int_t)s->total, "etag", s->etag, "last_modified",
			      s->last_modified);
	char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
	int rc;

	json_decref(j);
	if (!text)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	rc = vmmi_write_file_atomic(s->d->state_path, text, strlen(text), 0600, err);
	free(text);
	if (rc == 0)
		s->state_written = true;
	return rc;
}

/* Forget every byte received: the next bytes are the file's first. */
static int start_over(struct dl *s, struct vmm_error *err)
{
	int rc;

	if ((rc = pipe_drain(&s->pipe, err)) < 0)
		return rc;
	s->received = 0;
	s->total = 0;
	s->head_len = 0;
	s->comp_known = false;
	vmmi_decomp_free(s->dec);
	s->dec = NULL;
	vmmi_sha256_final_hex(&s->sha, (char[65]){0}); /* resets it */
	return writer_reset(&s->w, err);
}

/* The URL a redirect led to, if it did (else NULL). */
static const char *redirected_to(struct dl *s)
{
	char *eff = NULL;

	curl_easy_getinfo(s->curl, CURLINFO_EFFECTIVE_URL, &eff);
	return eff && strcmp(eff, s->d->url) ? eff : NULL;
}

/* A body of more bytes as published than the size limit: the server
 * "announces" or "sent" bytes. */
static int too_big(struct dl *s, struct vmm_error *err, const char *how, uint64_t bytes)
{
	char m[32];

	s->w.discard = true;
	fmt_size(s->max_size, m, sizeof(m));
	return vmm_error_set(err, VMM_E_DOWNLOAD, EFBIG, SIZE_HINT,
			     "%s %s %llu bytes, more than the size limit of %s (%llu bytes)",
			     s->d->url, how, (unsigned long long)bytes, m,
			     (unsigned long long)s->max_size);
}

static const char *PAGE_HINT = "the URL leads to a web page (a login, download or error "
			       "page?), not to the image: open it in a browser and use the "
			       "direct link to the image file";

/* A response that says it is a document (text/html, text/plain, ...) is an
 * error page or a download page, never an image, whatever its bytes. */
static int check_type(struct dl *s, struct vmm_error *err)
{
	const char *eff;

	if (s->is_file || !vmmi_content_type_is_document(s->resp_type))
		return 0;
	eff = redirected_to(s);
	s->w.discard = true;
	return vmm_error_set(err, VMM_E_FORMAT, 0, PAGE_HINT,
			     "%s%s%s%s: HTTP %ld with Content-Type '%s' is a document, not a "
			     "disk image",
			     s->d->url, eff ? " (redirected to " : "", eff ? eff : "",
			     eff ? ")" : "", s->status, s->resp_type);
}

/* The first bytes of a body: check the status and where it starts. */
static int body_start(struct dl *s, struct vmm_error *err)
{
	int rc;

	s->body_started = true;
	if (s->status == 206) {
		if (s->range_start != (int64_t)s->received)
			return vmm_error_set(err, VMM_E_DOWNLOAD, 0, NULL,
					     "%s answered a request for bytes %llu- with bytes "
					     "starting at %lld",
					     s->d->url, (unsigned long long)s->received,
					     (long long)s->range_start);
		if (s->range_total > 0) {
			if (s->total && (uint64_t)s->range_total != s->total) {
				/* the file changed and If-Range missed it: the part
				 * is no use to anyone */
				s->state_written = false;
				unlink(s->d->state_path);
				return vmm_error_set(err, VMM_E_DOWNLOAD, 0,
						     "run the command again to download it "
						     "from the start",
						     "%s changed during the download (%llu "
						     "bytes, then %lld)",
						     s->d->url, (unsigned long long)s->total,
						     (long long)s->range_total);
			}
			s->total = (uint64_t)s->range_total;
		}
		vmm_debug(MOD, "resuming %s at byte %llu", s->d->url,
			  (unsigned long long)s->received);
		return check_type(s, err);
	}
	if (!status_ok(s))
		return 0; /* reported when the transfer ends */
	if ((rc = check_type(s, err)) < 0)
		return rc;
	if (s->content_length < 0) {
		/* file:// says the size only this way */
		curl_off_t cl = -1;

		if (curl_easy_getinfo(s->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK &&
		    cl >= 0)
			s->content_length = (int64_t)cl;
	}
	if (s->is_file && s->received > 0) {
		/* curl's file:// honours the range itself */
		if (s->content_length >= 0)
			s->total = s->received + (uint64_t)s->content_length;
		return 0;
	}
	if (s->received > 0) {
		vmm_info(MOD, "%s: the server sent the whole file again; starting over",
			 s->d->url);
		if ((rc = start_over(s, err)) < 0)
			return rc;
	}
	s->total = s->content_length > 0 ? (uint64_t)s->content_length : 0;
	take_validators(s);
	if (s->total > s->max_size)
		return too_big(s, err, "announces", s->total);
	return 0;
}

/* Judge the first bytes: refuse markup, decide the compression and start
 * the decompressor. */
static int magic_flush(struct dl *s, struct vmm_error *err)
{
	enum vmmi_compression m = vmmi_compression_from_magic(s->head, s->head_len);
	int rc;

	if (vmmi_looks_like_markup(s->head, s->head_len)) {
		const char *eff = s->is_file ? NULL : redirected_to(s);
		char what[96] = "";

		if (!s->is_file)
			snprintf(what, sizeof(what), " (HTTP %ld, Content-Type '%s')", s->status,
				 s->resp_type ? s->resp_type : "none");
		s->w.discard = true;
		return vmm_error_set(err, VMM_E_FORMAT, 0, PAGE_HINT,
				     "%s%s%s%s%s starts like an HTML or XML document, not a "
				     "disk image",
				     s->d->url, eff ? " (redirected to " : "", eff ? eff : "",
				     eff ? ")" : "", what);
	}
	if (s->declared != VMMI_COMP_NONE && m != s->declared)
		return vmm_error_set(err, VMM_E_FORMAT, 0,
				     "check the URL: the server may have sent an error page "
				     "or a different file",
				     "%s: the name says %s-compressed, but the data is %s%s",
				     s->d->url, vmmi_compression_name(s->declared),
				     m == VMMI_COMP_NONE ? "not compressed" : "",
				     m == VMMI_COMP_NONE ? "" : vmmi_compression_name(m));
	s->d->compression = m;
	s->comp_known = true;
	if ((rc = vmmi_decomp_new(m, writer_sink, &s->w, &s->dec, err)) < 0)
		return rc;
	/* From now on a part file can be resumed by a later run (if
	 * uncompressed), so say what it is. */
	if ((rc = write_state(s, err)) < 0)
		return rc;
	return pipe_push(&s->pipe, s->head, s->head_len, err);
}

static int consume(struct dl *s, const unsigned char *p, size_t len, struct vmm_error *err)
{
	int rc;

	vmmi_sha256_update(&s->sha, p, len);
	s->received += len;
	if (!s->comp_known) {
		size_t n = VMMI_SNIFF_MAX - s->head_len;

		if (n > len)
			n = len;
		memcpy(s->head + s->head_len, p, n);
		s->head_len += n;
		p += n;
		len -= n;
		if (s->head_len < VMMI_SNIFF_MAX)
			return 0;
		if ((rc = magic_flush(s, err)) < 0)
			return rc;
	}
	return pipe_push(&s->pipe, p, len, err);
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct dl *s = userdata;
	size_t len = size * nmemb;

	s->last_data_ms = vmmi_now_ms();
	if (!s->body_started && body_start(s, &s->ferr) < 0)
		goto fatal;
	if (!status_ok(s))
		return len; /* an error page: drop it, the status says it all */
	if (s->total && s->received + len > s->total) {
		vmm_error_set(&s->ferr, VMM_E_DOWNLOAD, 0, NULL,
			      "%s sent more than the %llu bytes it announced", s->d->url,
			      (unsigned long long)s->total);
		goto fatal;
	}
	if (s->received + len > s->max_size) {
		too_big(s, &s->ferr, "sent", s->received + len);
		goto fatal;
	}
	if (consume(s, (const unsigned char *)ptr, len, &s->ferr) < 0)
		goto fatal;
	s->last_data_ms = vmmi_now_ms(); /* the FIFO may have been full a while */
	report(s, false);
	return len;
fatal:
	s->fatal = true;
	return CURL_WRITEFUNC_ERROR;
}

static int xferinfo_cb(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	struct dl *s = userdata;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	/* curl's own low-speed check averages over several seconds; this
	 * one fires stall_timeout_s after the last byte (it runs ~1/s) */
	if (vmmi_now_ms() - s->last_data_ms >= (uint64_t)s->opts->stall_timeout_s * 1000u) {
		s->stalled = true;
		return 1;
	}
	report(s, false);
	return 0;
}

static bool status_retryable(long status)
{
	return status >= 500 || status == 408 || status == 429;
}

static const char *NET_HINT = "check network connectivity and that the server is up; "
			      "running the command again resumes the download";

/* One HTTP transfer. Returns 0 when the whole body arrived, 1 for a failure
 * worth retrying (err says why), <0 for a final failure. */
static int attempt(struct dl *s, struct vmm_error *err)
{
	char range[48], errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	CURLcode res;
	long status = 0;
	int rc;

	s->body_started = false;
	s->fatal = false;
	s->status = 0;
	s->content_length = -1;
	s->range_start = s->range_total = -1;
	s->stalled = false;
	s->too_slow = false;
	s->last_data_ms = vmmi_now_ms();
	vmm_error_clear(&s->ferr);
	curl_easy_reset(s->curl);
	curl_easy_setopt(s->curl, CURLOPT_URL, s->d->url);
	curl_easy_setopt(s->curl, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(s->curl, CURLOPT_MAXREDIRS, (long)MAX_REDIRECTS);
	curl_easy_setopt(s->curl, CURLOPT_PROTOCOLS_STR, "http,https,file");
	curl_easy_setopt(s->curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(s->curl, CURLOPT_USERAGENT, "vmctl/" VMM_VERSION);
	curl_easy_setopt(s->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(s->curl, CURLOPT_CONNECTTIMEOUT, (long)s->opts->connect_timeout_s);
	if (s->opts->low_speed_limit) {
		/* a trickle keeps the stall timer quiet; this catches it */
		curl_easy_setopt(s->curl, CURLOPT_LOW_SPEED_LIMIT, (long)s->opts->low_speed_limit);
		curl_easy_setopt(s->curl, CURLOPT_LOW_SPEED_TIME, (long)s->opts->low_speed_time_s);
	}
	curl_easy_setopt(s->curl, CURLOPT_BUFFERSIZE, 256L * 1024);
	curl_easy_setopt(s->curl, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(s->curl, CURLOPT_HEADERDATA, s);
	curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(s->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(s->curl, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
	curl_easy_setopt(s->curl, CURLOPT_XFERINFODATA, s);
	if (s->received > 0) {
		/* curl's own resume refuses a 200; a raw Range lets us restart */
		snprintf(range, sizeof(range), "%llu-", (unsigned long long)s->received);
		curl_easy_setopt(s->curl, CURLOPT_RANGE, range);
		if (s->etag || s->last_modified) {
			char *h = vmmi_asprintf("If-Range: %s",
						s->etag ? s->etag : s->last_modified);

			if (h) {
				hdrs = curl_slist_append(hdrs, h);
				free(h);
			}
			curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, hdrs);
		}
	}
	vmm_debug(MOD, "GET %s%s%s", s->d->url, s->received ? " Range: bytes=" : "",
		  s->received ? range : "");
	res = curl_easy_perform(s->curl);
	curl_slist_free_all(hdrs);
	curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
	if (s->fatal) {
		*err = s->ferr;
		return -1;
	}
	if (res == CURLE_UNSUPPORTED_PROTOCOL && status >= 300 && status <= 399) {
		const char *to = s->resp_location;

		return vmm_error_set(err, VMM_E_DOWNLOAD, 0,
				     "a download follows redirects to http:// and https:// "
				     "only; to pull a local file, give its file:// URL yourself",
				     "%s: refused the HTTP %ld redirect to %s: not an http(s) "
				     "URL",
				     s->d->url, status, to && *to ? to : "another protocol");
	}
	if (res == CURLE_TOO_MANY_REDIRECTS) {
		const char *eff = redirected_to(s);

		return vmm_error_set(err, VMM_E_DOWNLOAD, 0,
				     "the server keeps redirecting (a redirect loop?): check "
				     "the URL, e.g. with `curl -IL URL`",
				     "%s: gave up after %ld redirects (the last to %s)",
				     s->d->url, (long)MAX_REDIRECTS,
				     eff ? eff : s->d->url);
	}
	if (status == 416 && s->received > 0) {
		/* nothing left after the part we have: it is not the file the
		 * server has now (or is all of it, unverified); start over */
		vmm_info(MOD, "%s: the server has no bytes after %llu; starting over", s->d->url,
			 (unsigned long long)s->received);
		if ((rc = start_over(s, err)) < 0)
			return rc;
		vmm_error_set(err, VMM_E_DOWNLOAD, 0, NET_HINT,
			      "%s: HTTP 416 for the rest of a partial download", s->d->url);
		return 1;
	}
	if (status && (status < 200 || status > 299)) {
		char *eff = NULL;

		curl_easy_getinfo(s->curl, CURLINFO_EFFECTIVE_URL, &eff);
		rc = vmm_error_set(err, VMM_E_DOWNLOAD, 0,
				   status == 404 || status == 410
					   ? "check the URL: the server has no file there"
					   : status >= 500 ? "the server failed; try again later"
							   : "check the URL and that you may access it",
				   "HTTP %ld from %s%s%s", status, s->d->url,
				   eff && strcmp(eff, s->d->url) ? " (redirected to " : "",
				   eff && strcmp(eff, s->d->url) ? eff : "");
		if (eff && strcmp(eff, s->d->url))
			strncat(err->message, ")", sizeof(err->message) - strlen(err->message) - 1);
		return status_retryable(status) ? 1 : rc;
	}
	if (s->stalled) {
		vmm_error_set(err, VMM_E_DOWNLOAD, 0, NET_HINT,
			      "%s: the download stalled: no data for %u s after %llu bytes",
			      s->d->url, s->opts->stall_timeout_s,
			      (unsigned long long)s->received);
		return 1;
	}
	if (res == CURLE_OPERATION_TIMEDOUT && (s->status || s->body_started)) {
		/* a response began, so this is not the connect timeout */
		s->too_slow = true;
		vmm_error_set(err, VMM_E_DOWNLOAD, 0, NET_HINT,
			      "%s: the download was too slow: less than %u bytes/s for %u s "
			      "(after %llu bytes)",
			      s->d->url, s->opts->low_speed_limit, s->opts->low_speed_time_s,
			      (unsigned long long)s->received);
		return 1;
	}
	switch (res) {
	case CURLE_OK:
		if (!s->body_started && (rc = body_start(s, err)) < 0)
			return rc; /* an empty body */
		if (s->total && s->received < s->total) {
			vmm_error_set(err, VMM_E_DOWNLOAD, 0, NET_HINT,
				      "%s: the body ended after %llu of %llu bytes", s->d->url,
				      (unsigned long long)s->received,
				      (unsigned long long)s->total);
			return 1;
		}
		return 0;
	case CURLE_FILE_COULDNT_READ_FILE:
		return vmm_error_set(err, VMM_E_DOWNLOAD, 0, "check the path in the file:// URL",
				     "%s: %s", s->d->url,
				     errbuf[0] ? errbuf : curl_easy_strerror(res));
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_TOO_MANY_REDIRECTS:
		return vmm_error_set(err, VMM_E_DOWNLOAD, 0, "check the URL", "%s: %s", s->d->url,
				     errbuf[0] ? errbuf : curl_easy_strerror(res));
	case CURLE_PARTIAL_FILE:
		vmm_error_set(err, VMM_E_DOWNLOAD, 0, NET_HINT,
			      "%s: the connection closed after %llu of %llu bytes", s->d->url,
			      (unsigned long long)s->received, (unsigned long long)s->total);
		return 1;
	default:
		vmm_error_set(err, VMM_E_DOWNLOAD, 0, NET_HINT, "%s: %s", s->d->url,
			      errbuf[0] ? errbuf : curl_easy_strerror(res));
		return 1;
	}
}

/* A part file left by an earlier run: resume it if it holds exactly the
 * bytes as published (no compression) of this URL. */
static int try_resume(struct dl *s, struct vmm_error *err)
{
	json_t *j = NULL;
	const char *url = NULL, *comp = NULL, *etag = NULL, *lm = NULL;
	json_int_t total = 0;
	struct stat st;
	unsigned char *buf = NULL;
	uint64_t off = 0;
	int rc = 0;

	if (fstat(s->w.fd, &st) < 0 || st.st_size == 0)
		return 0;
	j = json_load_file(s->d->state_path, 0, NULL);
	if (!j || json_unpack(j, "{s:s, s:s, s?I, s?s, s?s}", "url", &url, "compression", &comp,
			      "total", &total, "etag", &etag, "last_modified", &lm) < 0 ||
	    strcmp(url, s->d->url) != 0 || strcmp(comp, "none") != 0 ||
	    (total > 0 && st.st_size > total)) {
		vmm_debug(MOD, "partial download of %s cannot be resumed; starting over",
			  s->d->url);
		rc = writer_reset(&s->w, err);
		goto out;
	}
	/* The digest covers every byte: hash what is already there. The part
	 * holds the raw bytes (its state says "none"): no magic check again. */
	if (!(buf = malloc(WBUF_SIZE))) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto out;
	}
	while (off < (uint64_t)st.st_size) {
		ssize_t n = pread(s->w.fd, buf, WBUF_SIZE, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = vmm_error_errno(err, VMM_E_IO, NULL, "cannot read '%s'",
					     s->d->part_path);
			goto out;
		}
		vmmi_sha256_update(&s->sha, buf, (size_t)n);
		off += (uint64_t)n;
	}
	if ((rc = vmmi_decomp_new(VMMI_COMP_NONE, writer_sink, &s->w, &s->dec, err)) < 0)
		goto out;
	s->d->compression = VMMI_COMP_NONE;
	s->comp_known = true;
	s->state_written = true;
	s->received = off;
	s->w.pos = off;
	s->w.wb_done = s->w.wb_waited = off;
	s->total = (uint64_t)total;
	s->etag = etag ? strdup(etag) : NULL;
	s->last_modified = lm ? strdup(lm) : NULL;
	vmm_info(MOD, "resuming the download of %s at byte %llu", s->d->url,
		 (unsigned long long)off);
out:
	free(buf);
	json_decref(j);
	return rc;
}

/* A file:// URL must name a regular file (a symlink to one will do): a
 * device (/dev/urandom, /dev/zero) or a FIFO never ends, a directory is no
 * image. A missing file is left to curl to report. */
static int check_file_url(const char *url, struct vmm_error *err)
{
	CURLU *u = curl_url();
	char *path = NULL;
	struct stat st;
	const char *what;
	int rc = 0;

	if (!u)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PATH, &path, CURLU_URLDECODE) != CURLUE_OK) {
		rc = vmm_error_set(err, VMM_E_USAGE, 0, "give a file:///ABSOLUTE/PATH URL",
				   "'%s' is not a valid file URL", url);
		goto out;
	}
	if (stat(path, &st) < 0 || S_ISREG(st.st_mode))
		goto out;
	what = S_ISDIR(st.st_mode)    ? "a directory"
	       : S_ISCHR(st.st_mode)  ? "a character device"
	       : S_ISBLK(st.st_mode)  ? "a block device"
	       : S_ISFIFO(st.st_mode) ? "a FIFO"
	       : S_ISSOCK(st.st_mode) ? "a socket"
				      : "not a regular file";
	rc = vmm_error_set(err, VMM_E_DOWNLOAD, 0,
			   "a file:// URL must name a regular file (an image file); to use "
			   "a disk device, give it to `vmctl create --image` instead",
			   "%s: refused: '%s' is %s, not a regular file", url, path, what);
out:
	curl_free(path);
	curl_url_cleanup(u);
	return rc;
}

int vmmi_download(struct vmmi_download *d, struct vmm_error *caller_err)
{
	struct vmm_error local, *err = caller_err ? caller_err : &local;
	struct dl s;
	unsigned failures = 0, max_attempts, total_attempts = 0;
	uint64_t before;
	int rc;

	memset(&s, 0, sizeof(s));
	s.d = d;
	s.opts = d->opts;
	s.w.fd = -1;
	s.w.path = d->part_path;
	s.w.url = d->url;
	s.max_size = s.opts->max_size ? s.opts->max_size : VMM_IMAGE_MAX_SIZE_DEFAULT;
	s.w.max_size = s.max_size;
	s.declared = vmmi_compression_from_suffix(d->url);
	s.is_file = strncasecmp(d->url, "file://", 7) == 0;
	max_attempts = s.opts->attempts ? s.opts->attempts : 1;
	d->compression = VMMI_COMP_NONE;
	if (s.is_file && (rc = check_file_url(d->url, err)) < 0)
		return rc;
	if ((rc = vmmi_sha256_init(&s.sha, err)) < 0)
		return rc;
	if (!(s.w.buf = malloc(WBUF_SIZE))) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto out;
	}
	s.w.fd = open(d->part_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (s.w.fd < 0) {
		rc = vmm_error_errno(err, VMM_E_IO, NULL, "cannot create '%s'", d->part_path);
		goto out;
	}
	if (!(s.curl = curl_easy_init())) {
		rc = vmm_error_set(err, VMM_E_INTERNAL, 0, NULL, "cannot initialise libcurl");
		goto out;
	}
	if ((rc = try_resume(&s, err)) < 0)
		goto out;
	if ((rc = pipe_start(&s.pipe, &s.dec, err)) < 0)
		goto out;
	for (;;) {
		before = s.received;
		rc = attempt(&s, err);
		if (rc <= 0)
			break;
		/* a retryable failure: only failures without progress count (a
		 * trickle below the low-speed limit is none) */
		failures = s.received > before && !s.too_slow ? 1 : failures + 1;
		total_attempts++;
		if (failures >= max_attempts || total_attempts >= 8 * max_attempts) {
			rc = -(int)err->code;
			vmm_error_prefix(err, "giving up after %u attempts", total_attempts);
			break;
		}
		vmm_info(MOD, "%s (attempt %u of %u); retrying", err->message, failures,
			 max_attempts);
		vmmi_sleep_ms(failures >= 4 ? 4000u : 500u << (failures - 1));
	}
	if (rc < 0)
		goto out;
	/* the whole body is in */
	if (!s.comp_known && (rc = magic_flush(&s, err)) < 0)
		goto out;
	if ((rc = pipe_drain(&s.pipe, err)) < 0)
		goto out;
	if ((rc = vmmi_decomp_finish(s.dec, err)) < 0) {
		vmm_error_prefix(err, "%s", d->url);
		goto out;
	}
	if ((rc = writer_flush(&s.w, err)) < 0)
		goto out;
	if (fsync(s.w.fd) < 0) {
		rc = vmm_error_errno(err, VMM_E_IO, NULL, "cannot write '%s'", d->part_path);
		goto out;
	}
	vmmi_sha256_final_hex(&s.sha, d->sha256);
	d->downloaded = s.received;
	d->size = s.w.pos;
	if (s.opts->sha256 && strcasecmp(s.opts->sha256, d->sha256) != 0) {
		rc = vmm_error_set(err, VMM_E_CHECKSUM, 0,
				   "the download is not the file you expect: check the URL and "
				   "the sha256 (it is over the file as published, compressed or "
				   "not); nothing was cached",
				   "sha256 mismatch for %s: expected %s, got %s", d->url,
				   s.opts->sha256, d->sha256);
		/* a finished, wrong file is no use to a resume */
		unlink(d->part_path);
		unlink(d->state_path);
		goto out;
	}
	s.total = s.received;
	report(&s, true);
	unlink(d->state_path);
	rc = 0;
out:
	/* the worker writes to the part file: stop it before anything else */
	pipe_stop(&s.pipe);
	if (rc < 0 && s.w.fd >= 0 &&
	    (s.w.discard ||
	     !(s.state_written && d->compression == VMMI_COMP_NONE && s.received > 0))) {
		/* nothing a later run could resume */
		unlink(d->part_path);
		unlink(d->state_path);
	}
	if (s.w.fd >= 0)
		close(s.w.fd);
	if (s.curl)
		curl_easy_cleanup(s.curl);
	vmmi_decomp_free(s.dec);
	vmmi_sha256_release(&s.sha);
	free(s.w.buf);
	free(s.etag);
	free(s.last_modified);
	free(s.resp_etag);
	free(s.resp_last_modified);
	free(s.resp_type);
	free(s.resp_location);
	return rc;
}
