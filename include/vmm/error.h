/* SPDX-License-Identifier: MIT */
/*
 * vmm/error.h - the error model of libvmm.
 *
 * Every fallible library call returns 0 on success and a negative value on
 * failure, and fills a caller-owned struct vmm_error with a stable code, the
 * errno that caused it (0 if none), a one-line message and a hint telling the
 * user what to do. The library never prints and never exits; the CLI renders
 * errors as
 *
 *     error[vm_manager::vm::not_found]: VM 'web' is not registered
 *     help: run `vmctl list` to see the registered VMs
 *
 * The err argument of library calls must not be NULL, except for the
 * vmm_error_* functions below, which accept NULL.
 */
#ifndef VMM_ERROR_H
#define VMM_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Stable error codes. Their string names (vmm_errcode_name) are part of the
 * user interface and keep the reference's "vm_manager::..." spelling. */
enum vmm_errcode {
	VMM_OK = 0,
	VMM_E_IO,                    /* vm_manager::io */
	VMM_E_INTERNAL,              /* vm_manager::internal */
	VMM_E_USAGE,                 /* vm_manager::usage (bad argument to an API) */
	VMM_E_NOMEM,                 /* vm_manager::out_of_memory */
	VMM_E_QEMU_SPAWN,            /* vm_manager::qemu::spawn_failed */
	VMM_E_QMP_CONNECT,           /* vm_manager::qemu::qmp_connect_failed */
	VMM_E_QMP_COMMAND,           /* vm_manager::qemu::qmp_command_failed */
	VMM_E_QEMU_KVM,              /* vm_manager::qemu::kvm_failed */
	VMM_E_OVERLAY,               /* vm_manager::image::overlay_creation_failed */
	VMM_E_IP_DISCOVERY,          /* vm_manager::network::ip_discovery_timeout */
	VMM_E_PORT_ALLOC,            /* vm_manager::network::port_allocation_failed */
	VMM_E_PROPOLIS_UNREACHABLE,  /* vm_manager::propolis::unreachable */
	VMM_E_ISO,                   /* vm_manager::cloudinit::iso_failed */
	VMM_E_CLOUDINIT,             /* vm_manager::cloudinit::invalid */
	VMM_E_SSH,                   /* vm_manager::ssh::failed */
	VMM_E_SSH_AUTH,              /* vm_manager::ssh::auth_failed */
	VMM_E_SSH_HOSTKEY,           /* vm_manager::ssh::host_key_mismatch */
	VMM_E_KEYGEN,                /* vm_manager::ssh::keygen_failed */
	VMM_E_DOWNLOAD,              /* vm_manager::image::download_failed */
	VMM_E_CHECKSUM,              /* vm_manager::image::checksum_mismatch */
	VMM_E_FORMAT,                /* vm_manager::image::format_detection_failed */
	VMM_E_CONVERSION,            /* vm_manager::image::conversion_failed */
	VMM_E_RESIZE,                /* vm_manager::image::resize_failed */
	VMM_E_IMAGE_NOT_FOUND,       /* vm_manager::image::not_found */
	VMM_E_IMAGE_IN_USE,          /* vm_manager::image::in_use */
	VMM_E_VM_NOT_FOUND,          /* vm_manager::vm::not_found */
	VMM_E_VM_EXISTS,             /* vm_manager::vm::already_exists */
	VMM_E_VM_INVALID_NAME,       /* vm_manager::vm::invalid_name */
	VMM_E_INVALID_STATE,         /* vm_manager::vm::invalid_state */
	VMM_E_INVALID_CONFIG,        /* vm_manager::vm::invalid_config */
	VMM_E_BACKEND,               /* vm_manager::backend::not_available */
	VMM_E_STORE_CORRUPT,         /* vm_manager::store::corrupt */
	VMM_E_STORE_VERSION,         /* vm_manager::store::unsupported_version */
	VMM_E_LOCK,                  /* vm_manager::store::lock_failed */
	VMM_E_VMFILE_NOT_FOUND,      /* vm_manager::vmfile::not_found */
	VMM_E_VMFILE_PARSE,          /* vm_manager::vmfile::parse_failed */
	VMM_E_VMFILE_VALIDATION,     /* vm_manager::vmfile::validation */
	VMM_E_PROVISION,             /* vm_manager::provision::failed */
	VMM_E_CONSOLE,               /* vm_manager::console::failed */
	VMM_E__COUNT
};

#define VMM_ERROR_MSG_MAX 1024
#define VMM_ERROR_HINT_MAX 1024

struct vmm_error {
	enum vmm_errcode code;
	int sys_errno;                    /* errno behind the failure, or 0 */
	char message[VMM_ERROR_MSG_MAX];  /* one line, no trailing newline */
	char hint[VMM_ERROR_HINT_MAX];    /* what the user can do; may be "" */
};

/* The stable name of a code, e.g. "vm_manager::vm::not_found". Never NULL. */
const char *vmm_errcode_name(enum vmm_errcode code);

/* The default hint for a code (the reference's "help" text). Never NULL. */
const char *vmm_errcode_default_hint(enum vmm_errcode code);

/* Reset an error to VMM_OK with empty texts. err may be NULL. */
void vmm_error_clear(struct vmm_error *err);

/*
 * Fill *err (which may be NULL) and return -(int)code, so a failing function
 * can end with `return vmm_error_set(err, ...)`. hint may be NULL for the
 * code's default hint. The message is printf-formatted; an over-long message
 * is truncated, never overflows.
 */
int vmm_error_set(struct vmm_error *err, enum vmm_errcode code, int sys_errno,
		  const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Like vmm_error_set with sys_errno = errno and ": strerror(errno)" appended
 * to the message. */
int vmm_error_errno(struct vmm_error *err, enum vmm_errcode code,
		    const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Prefix the existing message with context ("while X: <old message>"). */
void vmm_error_prefix(struct vmm_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif
#endif /* VMM_ERROR_H */
