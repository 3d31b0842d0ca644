/* SPDX-License-Identifier: MIT */
#include "vmm/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct code_info {
	const char *name;
	const char *hint;
};

static const struct code_info codes[VMM_E__COUNT] = {
	[VMM_OK] = {"vm_manager::ok", ""},
	[VMM_E_IO] = {"vm_manager::io", "check the path, its permissions and free disk space"},
	[VMM_E_INTERNAL] = {"vm_manager::internal", "this is a bug in vmctl; please report it"},
	[VMM_E_USAGE] = {"vm_manager::usage", "see `vmctl --help`"},
	[VMM_E_NOMEM] = {"vm_manager::out_of_memory", "free some memory and try again"},
	[VMM_E_QEMU_SPAWN] = {"vm_manager::qemu::spawn_failed",
			      "ensure qemu-system-x86_64 is installed and in PATH; "
			      "see `vmctl log NAME --console`"},
	[VMM_E_QMP_CONNECT] = {"vm_manager::qemu::qmp_connect_failed",
			       "QEMU may have crashed before the QMP socket was ready; "
			       "check the VM's work directory logs"},
	[VMM_E_QMP_COMMAND] = {"vm_manager::qemu::qmp_command_failed",
			       "QEMU rejected the command; see `vmctl status NAME`"},
	[VMM_E_QEMU_KVM] = {"vm_manager::qemu::kvm_failed",
			    "this host's KVM cannot run the guest; rerun with software "
			    "emulation: VMCTL_ACCEL=tcg"},
	[VMM_E_OVERLAY] = {"vm_manager::image::overlay_creation_failed",
			   "ensure qemu-img is installed and the base image exists and is readable"},
	[VMM_E_IP_DISCOVERY] = {"vm_manager::network::ip_discovery_timeout",
				"the guest may not have a DHCP lease; check the network "
				"configuration and cloud-init"},
	[VMM_E_PORT_ALLOC] = {"vm_manager::network::port_allocation_failed",
			      "free some local TCP ports or destroy unused VMs"},
	[VMM_E_PROPOLIS_UNREACHABLE] = {"vm_manager::propolis::unreachable",
					"ensure propolis-server is running and listening on "
					"the expected address"},
	[VMM_E_ISO] = {"vm_manager::cloudinit::iso_failed",
		       "check free disk space in the VM's work directory"},
	[VMM_E_CLOUDINIT] = {"vm_manager::cloudinit::invalid",
			     "check the cloud-init settings of the VM"},
	[VMM_E_SSH] = {"vm_manager::ssh::failed",
		       "check the SSH key, that the guest is reachable and that sshd runs"},
	[VMM_E_SSH_AUTH] = {"vm_manager::ssh::auth_failed",
			    "check the SSH user and key; see `vmctl log NAME --console`"},
	[VMM_E_SSH_HOSTKEY] = {"vm_manager::ssh::host_key_mismatch",
			       "the guest's host key changed; if you recreated the guest on "
			       "purpose, run `vmctl reload` or destroy and recreate the VM"},
	[VMM_E_KEYGEN] = {"vm_manager::ssh::keygen_failed",
			  "internal error; please report it"},
	[VMM_E_DOWNLOAD] = {"vm_manager::image::download_failed",
			    "check network connectivity and the URL"},
	[VMM_E_CHECKSUM] = {"vm_manager::image::checksum_mismatch",
			    "the download is not the image you asked for; check the URL "
			    "and the sha256 you gave"},
	[VMM_E_FORMAT] = {"vm_manager::image::format_detection_failed",
			  "ensure qemu-img is installed and the file is a valid disk image"},
	[VMM_E_CONVERSION] = {"vm_manager::image::conversion_failed",
			      "ensure qemu-img is installed and there is enough disk space"},
	[VMM_E_RESIZE] = {"vm_manager::image::resize_failed",
			  "choose a disk size at least as large as the base image"},
	[VMM_E_IMAGE_NOT_FOUND] = {"vm_manager::image::not_found",
				   "run `vmctl image list` to see the cached images"},
	[VMM_E_IMAGE_IN_USE] = {"vm_manager::image::in_use",
				"destroy the VMs that use the image first"},
	[VMM_E_VM_NOT_FOUND] = {"vm_manager::vm::not_found",
				"run `vmctl list` to see the registered VMs"},
	[VMM_E_VM_EXISTS] = {"vm_manager::vm::already_exists",
			     "choose another name, or `vmctl destroy NAME` first"},
	[VMM_E_VM_INVALID_NAME] = {"vm_manager::vm::invalid_name",
				   "use 1-63 letters, digits, '.', '_' or '-', not starting "
				   "with '.' or '-'"},
	[VMM_E_INVALID_STATE] = {"vm_manager::vm::invalid_state",
				 "run `vmctl status NAME` to see the VM's state"},
	[VMM_E_INVALID_CONFIG] = {"vm_manager::vm::invalid_config",
				  "check the VM's settings"},
	[VMM_E_BACKEND] = {"vm_manager::backend::not_available",
			   "this backend is not supported on the current platform"},
	[VMM_E_STORE_CORRUPT] = {"vm_manager::store::corrupt",
				 "repair or move the file aside; vmctl never overwrites it"},
	[VMM_E_STORE_VERSION] = {"vm_manager::store::unsupported_version",
				 "this vms.json was written by a newer vmctl; upgrade vmctl"},
	[VMM_E_LOCK] = {"vm_manager::store::lock_failed",
			"check the permissions of the vmctl data directory"},
	[VMM_E_VMFILE_NOT_FOUND] = {"vm_manager::vmfile::not_found",
				    "create VMFile.kdl in the current directory or specify "
				    "the path with --file"},
	[VMM_E_VMFILE_PARSE] = {"vm_manager::vmfile::parse_failed",
				"check VMFile.kdl syntax; see https://kdl.dev"},
	[VMM_E_VMFILE_VALIDATION] = {"vm_manager::vmfile::validation",
				     "fix the VMFile as the messages above say"},
	[VMM_E_PROVISION] = {"vm_manager::provision::failed",
			     "check the provisioner and `vmctl log NAME --provision`"},
	[VMM_E_CONSOLE] = {"vm_manager::console::failed",
			   "check that the VM is running: `vmctl status NAME`"},
};

const char *vmm_errcode_name(enum vmm_errcode code)
{
	if ((unsigned)code >= VMM_E__COUNT || !codes[code].name)
		return "vm_manager::unknown";
	return codes[code].name;
}

const char *vmm_errcode_default_hint(enum vmm_errcode code)
{
	if ((unsigned)code >= VMM_E__COUNT || !codes[code].hint)
		return "";
	return codes[code].hint;
}

void vmm_error_clear(struct vmm_error *err)
{
	if (!err)
		return;
	err->code = VMM_OK;
	err->sys_errno = 0;
	err->message[0] = '\0';
	err->hint[0] = '\0';
}

static void set_hint(struct vmm_error *err, enum vmm_errcode code, const char *hint)
{
	snprintf(err->hint, sizeof(err->hint), "%s",
		 hint ? hint : vmm_errcode_default_hint(code));
}

int vmm_error_set(struct vmm_error *err, enum vmm_errcode code, int sys_errno,
		  const char *hint, const char *fmt, ...)
{
	if (err) {
		va_list ap;

		err->code = code;
		err->sys_errno = sys_errno;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
		set_hint(err, code, hint);
	}
	return -(int)code;
}

int vmm_error_errno(struct vmm_error *err, enum vmm_errcode code,
		    const char *hint, const char *fmt, ...)
{
	int saved = errno;

	if (err) {
		va_list ap;
		size_t len;

		err->code = code;
		err->sys_errno = saved;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
		len = strlen(err->message);
		snprintf(err->message + len, sizeof(err->message) - len, ": %s",
			 strerror(saved));
		set_hint(err, code, hint);
	}
	errno = saved;
	return -(int)code;
}

void vmm_error_prefix(struct vmm_error *err, const char *fmt, ...)
{
	char prefix[VMM_ERROR_MSG_MAX];
	char old[VMM_ERROR_MSG_MAX];
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->message, sizeof(old));
	snprintf(err->message, sizeof(err->message), "%s: %s", prefix, old);
}
