/* SPDX-License-Identifier: MIT */
/*
 * The HTTP client of propolis-server's API: every request carries the
 * api-version header, JSON bodies go as application/json, and an answer
 * that is not the one expected becomes an error with the server's
 * error_code and message.
 *
 * libcurl is loaded when the first request is made (dlopen) rather than
 * linked: the state of a Propolis VM is read with GET /instance, and the
 * programs that only read the registry (the `vmctl` front: list, status)
 * must not load libcurl to list VMs of other backends.
 */
#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "backends/propolis/propolis.h"
#include "core/util.h"

/* The part of libcurl's API used here, resolved by name. */
static struct {
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	void (*easy_cleanup)(CURL *);
	const char *(*easy_strerror)(CURLcode);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
	CURLcode (*global_init)(long);
	bool loaded;
	char why[256];
} api;

static pthread_once_t api_once = PTHREAD_ONCE_INIT;

static void api_load(void)
{
	static const char *const sonames[] = {"libcurl.so.4", "libcurl.so"};
	void *h = NULL;

	for (size_t i = 0; !h && i < sizeof(sonames) / sizeof(*sonames); i++)
		h = dlopen(sonames[i], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(api.why, sizeof(api.why), "%s", dlerror());
		return;
	}
#define SYM(field, name)                                                                   \
	if (!(*(void **)&api.field = dlsym(h, name))) {                                    \
		snprintf(api.why, sizeof(api.why), "libcurl has no %s", name);             \
		return;                                                                    \
	}
	SYM(easy_init, "curl_easy_init")
	SYM(easy_setopt, "curl_easy_setopt")
	SYM(easy_perform, "curl_easy_perform")
	SYM(easy_getinfo, "curl_easy_getinfo")
	SYM(easy_cleanup, "curl_easy_cleanup")
	SYM(easy_strerror, "curl_easy_strerror")
	SYM(slist_append, "curl_slist_append")
	SYM(slist_free_all, "curl_slist_free_all")
	SYM(global_init, "curl_global_init")
#undef SYM
	if (api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(api.why, sizeof(api.why), "curl_global_init failed");
		return;
	}
	api.loaded = true;
}

void vmmi_http_reply_release(struct vmmi_http_reply *r)
{
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

static size_t on_data(char *p, size_t size, size_t n, void *userdata)
{
	return vmmi_buf_append(userdata, p, size * n) == 0 ? size * n : 0;
}

int vmmi_http_request(const char *base_url, const char *method, const char *path,
		      const char *body, unsigned timeout_ms, struct vmmi_http_reply *r,
		      struct vmm_error *err)
{
	struct curl_slist *hdr = NULL;
	struct vmmi_buf b;
	char *url;
	CURL *h;
	CURLcode cc;
	int rc = 0;

	*r = (struct vmmi_http_reply){0};
	pthread_once(&api_once, api_load);
	if (!api.loaded)
		return vmm_error_set(err, VMM_E_BACKEND, 0, "install libcurl (libcurl4)",
				     "cannot load libcurl to reach propolis-server: %s", api.why);
	if (!(url = vmmi_asprintf("%s%s", base_url, path)))
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	if (!(h = api.easy_init())) {
		free(url);
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	}
	vmmi_buf_init(&b);
	hdr = api.slist_append(hdr, "api-version: " VMMI_PROPOLIS_API_VERSION);
	hdr = api.slist_append(hdr, "Accept: application/json");
	if (body)
		hdr = api.slist_append(hdr, "Content-Type: application/json");
	api.easy_setopt(h, CURLOPT_URL, url);
	api.easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	api.easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	api.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	api.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	api.easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(timeout_ms ? timeout_ms : 1));
	api.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	api.easy_setopt(h, CURLOPT_WRITEDATA, &b);
	if (body) {
		api.easy_setopt(h, CURLOPT_POSTFIELDS, body);
		api.easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	cc = api.easy_perform(h);
	if (cc == CURLE_OPERATION_TIMEDOUT) {
		curl_off_t connected = 0;

		api.easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connected);
		if (connected > 0) {
			r->timed_out = true;
			goto done;
		}
	}
	if (cc != CURLE_OK) {
		rc = vmm_error_set(err, VMM_E_PROPOLIS_UNREACHABLE, 0,
				   "check that the zone runs (zoneadm list -cv) and that "
				   "VMCTL_PROPOLIS_URL names its propolis-server",
				   "propolis-server at %s does not answer %s %s: %s", base_url,
				   method, path, api.easy_strerror(cc));
		goto done;
	}
	api.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
done:
	vmmi_buf_append(&b, "", 1);
	r->len = b.len ? b.len - 1 : 0;
	r->body = vmmi_buf_steal(&b);
	if (rc < 0)
		vmmi_http_reply_release(r);
	api.slist_free_all(hdr);
	api.easy_cleanup(h);
	free(url);
	return rc;
}

char *vmmi_http_error_code(const struct vmmi_http_reply *r)
{
	json_t *j = r->body ? json_loadb(r->body, r->len, 0, NULL) : NULL;
	const char *code = json_string_value(json_object_get(j, "error_code"));
	char *res = code ? strdup(code) : NULL;

	json_decref(j);
	return res;
}

int vmmi_http_error(const char *method, const char *path, const struct vmmi_http_reply *r,
		    struct vmm_error *err)
{
	json_t *j = r->body ? json_loadb(r->body, r->len, 0, NULL) : NULL;
	const char *code = json_string_value(json_object_get(j, "error_code"));
	const char *msg = json_string_value(json_object_get(j, "message"));
	const char *hint = NULL;
	int rc;

	if (r->timed_out) {
		json_decref(j);
		return vmm_error_set(err, VMM_E_PROPOLIS_UNREACHABLE, 0, NULL,
				     "propolis-server accepted %s %s but did not answer in time",
				     method, path);
	}
	if (msg && strstr(msg, "version"))
		hint = "this vmctl speaks propolis-server API " VMMI_PROPOLIS_API_VERSION
		       "; run a propolis-server that serves it";
	else if (code && strcmp(code, "NoInstance") == 0)
		hint = "the zone's propolis-server has no instance: stop and start the VM";
	else if (r->status >= 500)
		hint = "see the zone's propolis-server log (svcs -L in the zone)";
	rc = vmm_error_set(err, VMM_E_BACKEND, 0, hint,
			   "propolis-server answered %s %s with %ld%s%s%s%s", method, path,
			   r->status, code ? " " : "", code ? code : "", msg ? ": " : "",
			   msg ? msg : (r->body && *r->body ? r->body : ""));
	json_decref(j);
	return rc;
}
