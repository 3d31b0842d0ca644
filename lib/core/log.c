/* SPDX-License-Identifier: MIT */
#include "vmm/log.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_FILTERS 32
#define MODULE_MAX 32

struct filter {
	char module[MODULE_MAX];
	enum vmm_log_level level;
};

static vmm_log_sink log_sink;
static void *log_userdata;
static enum vmm_log_level default_level = VMM_LOG_WARN;
static struct filter filters[MAX_FILTERS];
static int nfilters;

static const char *const level_names[] = {"off", "error", "warn", "info", "debug", "trace"};

const char *vmm_log_level_name(enum vmm_log_level level)
{
	if ((unsigned)level > VMM_LOG_TRACE)
		return "?";
	return level_names[level];
}

void vmm_log_set_sink(vmm_log_sink sink, void *userdata)
{
	log_sink = sink;
	log_userdata = userdata;
}

static int parse_level(const char *s, size_t n, enum vmm_log_level *out)
{
	for (unsigned i = 0; i <= VMM_LOG_TRACE; i++) {
		if (strlen(level_names[i]) == n && strncasecmp(s, level_names[i], n) == 0) {
			*out = (enum vmm_log_level)i;
			return 0;
		}
	}
	if (n == 7 && strncasecmp(s, "warning", n) == 0) {
		*out = VMM_LOG_WARN;
		return 0;
	}
	return -1;
}

int vmm_log_configure(const char *spec)
{
	const char *p = spec;

	default_level = VMM_LOG_WARN;
	nfilters = 0;
	if (!spec)
		return 0;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', n);
		enum vmm_log_level lvl;

		if (n == 0) {
			/* empty item, e.g. trailing comma */
		} else if (!eq) {
			if (parse_level(p, n, &lvl) < 0)
				return -1;
			default_level = lvl;
		} else {
			size_t mlen = (size_t)(eq - p);
			const char *module = p;

			/* Accept the reference's "vm_manager::ssh=debug" spelling. */
			if (mlen > 12 && strncmp(module, "vm_manager::", 12) == 0) {
				module += 12;
				mlen -= 12;
			}
			if (mlen == 0 || mlen >= MODULE_MAX || nfilters == MAX_FILTERS ||
			    parse_level(eq + 1, n - (size_t)(eq + 1 - p), &lvl) < 0)
				return -1;
			memcpy(filters[nfilters].module, module, mlen);
			filters[nfilters].module[mlen] = '\0';
			filters[nfilters].level = lvl;
			nfilters++;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

int vmm_log_enabled(enum vmm_log_level level, const char *module)
{
	enum vmm_log_level limit = default_level;

	if (!log_sink || level == VMM_LOG_OFF)
		return 0;
	for (int i = nfilters - 1; i >= 0; i--) {
		if (module && strcmp(filters[i].module, module) == 0) {
			limit = filters[i].level;
			break;
		}
	}
	return level <= limit;
}

void vmm_logv(enum vmm_log_level level, const char *module, const char *fmt, va_list ap)
{
	char buf[4096];

	if (!vmm_log_enabled(level, module))
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	log_sink(level, module ? module : "vmm", buf, log_userdata);
}

void vmm_log(enum vmm_log_level level, const char *module, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmm_logv(level, module, fmt, ap);
	va_end(ap);
}
