/* SPDX-License-Identifier: MIT */
/*
 * vmm/log.h - the one logger of libvmm.
 *
 * The library logs through vmm_log(); it never writes to a terminal itself.
 * Output goes to the sink the program installs (vmm_log_set_sink); with no
 * sink installed, nothing is written. Levels and per-module filters come from
 * a spec string such as "debug", "store=trace" or "info,ssh=debug,qemu=trace"
 * (the CLI passes $VMCTL_LOG).
 */
#ifndef VMM_LOG_H
#define VMM_LOG_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

enum vmm_log_level {
	VMM_LOG_OFF = 0,
	VMM_LOG_ERROR,
	VMM_LOG_WARN,
	VMM_LOG_INFO,
	VMM_LOG_DEBUG,
	VMM_LOG_TRACE,
};

typedef void (*vmm_log_sink)(enum vmm_log_level level, const char *module,
			     const char *message, void *userdata);

/* Install the sink (NULL: discard everything). */
void vmm_log_set_sink(vmm_log_sink sink, void *userdata);

/*
 * Configure levels from a spec: comma-separated items, each "LEVEL" (the
 * default for every module) or "MODULE=LEVEL". Levels: off, error, warn,
 * info, debug, trace. Returns 0, or -1 if an item is not understood (the
 * items before it stay applied). NULL or "" resets to the default, "warn".
 */
int vmm_log_configure(const char *spec);

/* Whether a message of this level from this module would be emitted. */
int vmm_log_enabled(enum vmm_log_level level, const char *module);

const char *vmm_log_level_name(enum vmm_log_level level);

void vmm_log(enum vmm_log_level level, const char *module, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void vmm_logv(enum vmm_log_level level, const char *module, const char *fmt,
	      va_list ap);

#define vmm_error_log(mod, ...) vmm_log(VMM_LOG_ERROR, mod, __VA_ARGS__)
#define vmm_warn(mod, ...) vmm_log(VMM_LOG_WARN, mod, __VA_ARGS__)
#define vmm_info(mod, ...) vmm_log(VMM_LOG_INFO, mod, __VA_ARGS__)
#define vmm_debug(mod, ...) vmm_log(VMM_LOG_DEBUG, mod, __VA_ARGS__)
#define vmm_trace(mod, ...) vmm_log(VMM_LOG_TRACE, mod, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif /* VMM_LOG_H */
