/* SPDX-License-Identifier: MIT */
/*
 * The WebSocket side of `vmctl console` (libwebsockets): a client that
 * sends the console's input in binary frames and passes the binary frames
 * it receives (the console's output) to one end of a socket pair; the
 * other end is what cmd_console.c relays. Text frames are the server's
 * control messages and are not console bytes. One thread runs the
 * libwebsockets loop, another reads the pair and wakes the loop.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "cli.h"
#include "console_ws.h"

#define API_VERSION "5.0.0" /* the propolis-server API vmctl speaks */
#define CONNECT_TIMEOUT_S 10

struct ws {
	struct lws_context *ctx;
	struct lws *wsi;
	int fd; /* our end of the pair */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool established, done;
	char why[256];
	unsigned char out[LWS_PRE + 4096]; /* input waiting to be sent */
	size_t out_len;
	bool input_ended;
};

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static void finish(struct ws *w, const char *why)
{
	pthread_mutex_lock(&w->mu);
	if (why && !w->established && !w->why[0])
		snprintf(w->why, sizeof(w->why), "%s", why);
	w->done = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static int on_event(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		    size_t len)
{
	struct ws *w = lws_context_user(lws_get_context(wsi));
	int n;

	(void)user;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
		unsigned char **p = in, *end = *p + len;

		if (lws_add_http_header_by_name(wsi, (const unsigned char *)"api-version:",
						(const unsigned char *)API_VERSION,
						(int)strlen(API_VERSION), p, end))
			return -1;
		break;
	}
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		pthread_mutex_lock(&w->mu);
		w->established = true;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (lws_frame_is_binary(wsi) && write_all(w->fd, in, len) < 0)
			return -1;
		break;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		pthread_mutex_lock(&w->mu);
		if (w->wsi && w->established && w->out_len)
			lws_callback_on_writable(w->wsi);
		pthread_mutex_unlock(&w->mu);
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		pthread_mutex_lock(&w->mu);
		n = w->out_len ? lws_write(wsi, w->out + LWS_PRE, w->out_len, LWS_WRITE_BINARY)
			       : 0;
		if (n >= 0)
			w->out_len = 0;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
		if (n < 0)
			return -1;
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		w->wsi = NULL;
		finish(w, in && len ? (const char *)in : "connection failed");
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
	case LWS_CALLBACK_WSI_DESTROY:
		if (wsi == w->wsi) {
			w->wsi = NULL;
			finish(w, "closed");
		}
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
	{"vmctl-console", on_event, 0, 4096, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

static void *service(void *arg)
{
	struct ws *w = arg;

	for (;;) {
		bool done;

		pthread_mutex_lock(&w->mu);
		done = w->done;
		pthread_mutex_unlock(&w->mu);
		if (done || lws_service(w->ctx, 0) < 0)
			break;
	}
	/* The console is gone: the relay reads end of file. */
	shutdown(w->fd, SHUT_RDWR);
	return NULL;
}

/* The pair's input to the WebSocket, one buffer at a time. */
static void *reader(void *arg)
{
	struct ws *w = arg;
	unsigned char buf[sizeof(w->out) - LWS_PRE];

	for (;;) {
		ssize_t r = read(w->fd, buf, sizeof(buf));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		pthread_mutex_lock(&w->mu);
		while (w->out_len && !w->done)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->done) {
			pthread_mutex_unlock(&w->mu);
			break;
		}
		memcpy(w->out + LWS_PRE, buf, (size_t)r);
		w->out_len = (size_t)r;
		pthread_mutex_unlock(&w->mu);
		lws_cancel_service(w->ctx);
	}
	return NULL;
}

int console_ws_open(const char *url, const char *name)
{
	struct lws_context_creation_info info = {0};
	struct lws_client_connect_info ci = {0};
	const char *prot, *addr, *path;
	char *copy = strdup(url), *fullpath = NULL;
	struct vmm_error err;
	pthread_t svc, rd;
	struct timespec until;
	static struct ws w;
	int port, sv[2];

	lws_set_log_level(0, NULL);
	if (!copy || lws_parse_uri(copy, &prot, &addr, &port, &path) || strcmp(prot, "ws") != 0) {
		vmm_error_set(&err, VMM_E_CONSOLE, 0, NULL,
			      "VM '%s' has a console URL vmctl cannot use: '%s'", name, url);
		free(copy);
		cli_error(&err);
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		vmm_error_errno(&err, VMM_E_CONSOLE, NULL, "cannot create a socket pair");
		free(copy);
		cli_error(&err);
		return -1;
	}
	w.fd = sv[1];
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.user = &w;
	info.gid = -1;
	info.uid = -1;
	if (!(w.ctx = lws_create_context(&info)))
		goto fail_msg;
	fullpath = malloc(strlen(path) + 2);
	if (!fullpath)
		goto fail_msg;
	sprintf(fullpath, "/%s", path);
	ci.context = w.ctx;
	ci.address = addr;
	ci.port = port;
	ci.path = fullpath;
	ci.host = addr;
	ci.origin = addr;
	ci.protocol = NULL;
	ci.local_protocol_name = protocols[0].name;
	ci.pwsi = &w.wsi;
	if (!lws_client_connect_via_info(&ci))
		goto fail_msg;
	if (pthread_create(&svc, NULL, service, &w) != 0)
		goto fail_msg;
	pthread_detach(svc);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += CONNECT_TIMEOUT_S;
	pthread_mutex_lock(&w.mu);
	while (!w.established && !w.done)
		if (pthread_cond_timedwait(&w.cv, &w.mu, &until) == ETIMEDOUT)
			break;
	if (!w.established) {
		if (!w.why[0])
			snprintf(w.why, sizeof(w.why), "no answer in %d s", CONNECT_TIMEOUT_S);
		pthread_mutex_unlock(&w.mu);
		goto fail_msg;
	}
	pthread_mutex_unlock(&w.mu);
	if (pthread_create(&rd, NULL, reader, &w) != 0)
		goto fail_msg;
	pthread_detach(rd);
	free(copy);
	free(fullpath);
	return sv[0];
fail_msg:
	finish(&w, NULL);
	if (w.ctx)
		lws_cancel_service(w.ctx);
	vmm_error_set(&err, VMM_E_CONSOLE, 0,
		      "check that the VM runs (`vmctl status NAME`) and that its "
		      "propolis-server serves API " API_VERSION,
		      "cannot open the serial console of VM '%s' at %s: %s", name, url,
		      w.why[0] ? w.why : "cannot start the WebSocket client");
	cli_error(&err);
	free(copy);
	free(fullpath);
	close(sv[0]);
	close(sv[1]);
	return -1;
}
