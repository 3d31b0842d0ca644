/* SPDX-License-Identifier: MIT */
/*
 * The libvirt backend: a VM is a domain on the libvirt daemon its URI names
 * (qemu:///system, qemu+ssh://user@host/system, ...), its disks volumes in
 * a storage pool there (see libvirt.h). The connections and the live state
 * are in libvirt_state.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "backends/backend.h"
#include "backends/libvirt/libvirt.h"
#include "backends/qemu/qemu.h"
#include "core/util.h"
#include "image/image.h"
#include "vmm/image.h"
#include "vmm/log.h"

#define MOD "libvirt"

/* How often a stop looks whether the guest has powered off. */
#define STOP_POLL_MS 500

static const char *pool_of(const struct vmm_vm *vm)
{
	return vm->pool ? vm->pool : VMMI_LIBVIRT_DEFAULT_POOL;
}

/* ---- prepare: volumes and the domain ------------------------------------- */

static int file_sha256(const char *path, char hex[65], off_t *size, struct vmm_error *err)
{
	struct vmmi_sha256 h;
	char buf[1 << 16];
	struct stat st;
	ssize_t n;
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return vmm_error_errno(err, VMM_E_IMAGE_NOT_FOUND, NULL, "cannot open image '%s'",
				       path);
	if (fstat(fd, &st) < 0 || (rc = vmmi_sha256_init(&h, err)) < 0) {
		close(fd);
		return vmm_error_errno(err, VMM_E_IO, NULL, "cannot read image '%s'", path);
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		vmmi_sha256_update(&h, buf, (size_t)n);
	close(fd);
	if (n < 0) {
		vmmi_sha256_release(&h);
		return vmm_error_errno(err, VMM_E_IO, NULL, "cannot read image '%s'", path);
	}
	vmmi_sha256_final_hex(&h, hex);
	vmmi_sha256_release(&h);
	*size = st.st_size;
	return 0;
}

struct upload_src {
	int fd;
	const char *vm;
	uint64_t sent, total, next_report;
};

static int upload_read(virStreamPtr st, char *data, size_t nbytes, void *opaque)
{
	struct upload_src *src = opaque;
	ssize_t n;

	(void)st;
	do
		n = read(src->fd, data, nbytes);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		src->sent += (uint64_t)n;
		if (src->sent >= src->next_report) {
			vmm_info(MOD, "VM '%s': uploaded %llu of %llu MiB", src->vm,
				 (unsigned long long)(src->sent >> 20),
				 (unsigned long long)(src->total >> 20));
			src->next_report += 64u << 20;
		}
	}
	return (int)n;
}

/* Upload the local file into vol over a libvirt stream. */
static int upload(virConnectPtr c, virStorageVolPtr vol, const char *vm, const char *path,
		  struct vmm_error *err)
{
	struct upload_src src = {-1, vm, 0, 0, 64u << 20};
	virStreamPtr st = NULL;
	struct stat sb;
	int rc = 0;

	if ((src.fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(src.fd, &sb) < 0) {
		rc = vmm_error_errno(err, VMM_E_IO, NULL, "cannot read '%s'", path);
		goto out;
	}
	src.total = (uint64_t)sb.st_size;
	if (!(st = virStreamNew(c, 0)) ||
	    virStorageVolUpload(vol, st, 0, (unsigned long long)sb.st_size, 0) < 0 ||
	    virStreamSendAll(st, upload_read, &src) < 0 || virStreamFinish(st) < 0) {
		rc = vmmi_libvirt_fail(err, 0, "cannot upload '%s' to the volume '%s'", path,
			     virStorageVolGetName(vol));
		if (st)
			virStreamAbort(st);
	}
out:
	if (st)
		virStreamFree(st);
	if (src.fd >= 0)
		close(src.fd);
	return rc;
}

/* Create a volume from xml and upload the file into it; on failure nothing
 * is left in the pool. */
static int create_uploaded(virConnectPtr c, virStoragePoolPtr pool, const char *xml,
			   const char *vm, const char *path, virStorageVolPtr *out,
			   struct vmm_error *err)
{
	virStorageVolPtr vol = virStorageVolCreateXML(pool, xml, 0);

	*out = NULL;
	if (!vol)
		return vmmi_libvirt_fail(err, 0, "cannot create a volume in pool '%s'",
			       virStoragePoolGetName(pool));
	if (upload(c, vol, vm, path, err) < 0) {
		virStorageVolDelete(vol, 0);
		virStorageVolFree(vol);
		return -(int)VMM_E_BACKEND;
	}
	*out = vol;
	return 0;
}

/* base_volume, its lock held. */
static int base_volume_locked(virConnectPtr c, virStoragePoolPtr pool, const struct vmm_vm *vm,
			      const struct vmm_image_info *info, const char *hex, off_t size,
			      char **path, struct vmm_error *err)
{
	char *xml = NULL;
	virStorageVolPtr vol;
	virStorageVolInfo vi;
	int rc;

	vol = virStorageVolLookupByName(pool, hex);
	if (vol && virStorageVolGetInfoFlags(vol, &vi, VIR_STORAGE_VOL_GET_PHYSICAL) == 0 &&
	    vi.allocation != (unsigned long long)size) {
		/* an upload that was cut short: start over */
		vmm_warn(MOD, "volume '%s' in pool '%s' is incomplete; uploading it again", hex,
			 pool_of(vm));
		virStorageVolDelete(vol, 0);
		virStorageVolFree(vol);
		vol = NULL;
	}
	if (!vol) {
		uint64_t t0 = vmmi_now_ms();

		if ((rc = vmmi_libvirt_volume_xml(hex, info->virtual_size, info->format, &xml,
						  err)) < 0)
			return rc;
		rc = create_uploaded(c, pool, xml, vm->name, vm->image_path, &vol, err);
		free(xml);
		if (rc < 0)
			return rc;
		vmm_info(MOD, "uploaded the base image %s to pool '%s' on %s in %llu ms", hex,
			 pool_of(vm), vm->uri, (unsigned long long)(vmmi_now_ms() - t0));
	}
	*path = virStorageVolGetPath(vol);
	virStorageVolFree(vol);
	if (!*path)
		return vmmi_libvirt_fail(err, 0, "cannot read the path of volume '%s'", hex);
	return 0;
}

/*
 * The lock of one base volume in one pool, held while it is looked for and
 * uploaded: VMs created side by side (a parallel `up`) for the same pool
 * would otherwise both upload it, or one would take the other's upload
 * under way for one cut short. The pool is named by its UUID, so two URIs
 * of one daemon (qemu:///system, qemu+ssh://...) share the lock. Only
 * creators on this machine are serialized.
 */
static int lock_base(const struct vmm_paths *paths, virStoragePoolPtr pool, const char *hex,
		     struct vmm_error *err)
{
	char uuid[VIR_UUID_STRING_BUFLEN], *name, *path;
	int fd;

	if (virStoragePoolGetUUIDString(pool, uuid) < 0)
		return vmmi_libvirt_fail(err, 0, "cannot read the UUID of pool '%s'",
					 virStoragePoolGetName(pool));
	name = vmmi_asprintf("libvirt-%s-%.16s.lock", uuid, hex);
	path = name ? vmmi_path_join(paths->locks_dir, name) : NULL;
	free(name);
	if (!path)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	fd = vmmi_lock_path(path, err);
	free(path);
	return fd;
}

/* The base image as a volume named by its sha256: uploaded unless the pool
 * has it whole already, under its lock. */
static int base_volume(const struct vmm_paths *paths, virConnectPtr c, virStoragePoolPtr pool,
		       const struct vmm_vm *vm, const struct vmm_image_info *info, char **path,
		       struct vmm_error *err)
{
	char hex[65];
	off_t size;
	int lock, rc;

	*path = NULL;
	if ((rc = file_sha256(vm->image_path, hex, &size, err)) < 0)
		return rc;
	if ((lock = lock_base(paths, pool, hex, err)) < 0)
		return lock;
	rc = base_volume_locked(c, pool, vm, info, hex, size, path, err);
	vmmi_unlock(lock);
	return rc;
}

/* Delete a volume of the pool by name, if it is there. */
static void delete_volume(virStoragePoolPtr pool, const char *name)
{
	virStorageVolPtr vol = name ? virStorageVolLookupByName(pool, name) : NULL;

	if (!vol)
		return;
	if (virStorageVolDelete(vol, 0) < 0)
		vmm_warn(MOD, "cannot delete volume '%s': %s", name,
			 virGetLastErrorMessage());
	virStorageVolFree(vol);
}

/* Whether the URI names this machine's daemon (no host in it). */
static bool uri_is_local(const char *uri)
{
	const char *p = strstr(uri, "://");

	return p && (p[3] == '/' || p[3] == '\0');
}

/*
 * Whether the VM runs under KVM: the host's domain capabilities offer the
 * type kvm for q35 (and, on this machine, /dev/kvm is not the nested
 * kvm-pvm that stops normal guests, as for the local backend).
 * VMCTL_ACCEL=tcg asks for software emulation.
 */
static bool host_has_kvm(virConnectPtr c, const char *uri)
{
	const char *accel = getenv("VMCTL_ACCEL");
	char *caps;

	if (accel && strcmp(accel, "tcg") == 0)
		return false;
	if (uri_is_local(uri) && vmmi_kvm_is_pvm() && !(accel && strcmp(accel, "kvm") == 0))
		return false;
	if (!(caps = virConnectGetDomainCapabilities(c, NULL, "x86_64", "q35", "kvm", 0)))
		return false;
	free(caps);
	return true;
}

/* The serial console's log file on the host: libvirt's own log directory
 * of a system daemon (a session daemon's is per user: none then). */
static char *console_log_path(const char *uri, const char *name)
{
	if (strstr(uri, "/system"))
		return vmmi_asprintf("/var/log/libvirt/qemu/%s-console.log", name);
	return NULL;
}

static int check_network(virConnectPtr c, const char *name, struct vmm_error *err)
{
	virNetworkPtr net = virNetworkLookupByName(c, name);
	int active;

	if (!net)
		return vmmi_libvirt_fail(err, 0, "no libvirt network '%s'", name);
	active = virNetworkIsActive(net);
	virNetworkFree(net);
	if (active != 1)
		return vmm_error_set(err, VMM_E_BACKEND, 0, vmmi_libvirt_hint(VIR_ERR_NO_NETWORK),
				     "the libvirt network '%s' is not active", name);
	return 0;
}

static int lv_prepare(struct vmm_ctx *ctx, const struct vmm_vm_spec *spec, struct vmm_vm *vm,
		      const struct vmmi_phases *ph, struct vmm_error *err)
{
	struct vmm_image_info info = {0};
	virConnectPtr c;
	virStoragePoolPtr pool = NULL;
	virStorageVolPtr disk = NULL, seed = NULL;
	virDomainPtr dom;
	char *base = NULL, *xml = NULL, *disk_name = NULL, *seed_name = NULL, *log = NULL;
	const char *network = spec->libvirt_network ? spec->libvirt_network
						     : VMMI_LIBVIRT_DEFAULT_NETWORK;
	char mac[18];
	uint64_t t0;
	bool kvm;
	int rc;

	(void)ctx;
	if (vm->network.type == VMM_NET_VNIC || vm->network.type == VMM_NET_NONE)
		return vmm_error_set(err, VMM_E_INVALID_CONFIG, 0,
				     "use the host's libvirt network (network \"user\", the "
				     "default) or a bridge (network \"tap\" bridge=\"...\")",
				     "VM '%s': a libvirt VM needs a network or a bridge", vm->name);
	if ((rc = vmmi_set_str(&vm->pool, spec->pool ? spec->pool : VMMI_LIBVIRT_DEFAULT_POOL, err)) <
	    0)
		return rc;
	if ((rc = vmmi_libvirt_conn(vm->uri, &c, err)) < 0)
		return rc;
	if ((dom = virDomainLookupByName(c, vm->name))) {
		virDomainFree(dom);
		return vmm_error_set(err, VMM_E_VM_EXISTS, 0, vmmi_libvirt_hint(VIR_ERR_DOM_EXIST),
				     "a domain named '%s' already exists on %s", vm->name, vm->uri);
	}
	if (!(pool = virStoragePoolLookupByName(c, vm->pool)))
		return vmmi_libvirt_fail(err, 0, "no storage pool '%s' on %s", vm->pool, vm->uri);
	if (virStoragePoolIsActive(pool) != 1) {
		rc = vmm_error_set(err, VMM_E_BACKEND, 0, vmmi_libvirt_hint(VIR_ERR_NO_STORAGE_POOL),
				   "the storage pool '%s' on %s is not active", vm->pool, vm->uri);
		goto out;
	}
	if (vm->network.type != VMM_NET_TAP && (rc = check_network(c, network, err)) < 0)
		goto out;
	if ((rc = vmm_image_info(vm->image_path, &info, err)) < 0)
		goto out;
	if (info.n_backing > 0 || !info.format) {
		rc = vmm_error_set(err, VMM_E_INVALID_CONFIG, 0,
				   "flatten it first: `qemu-img convert -O qcow2 IMAGE NEW`",
				   "image '%s' has a backing file: it cannot be uploaded alone",
				   vm->image_path);
		goto out;
	}
	t0 = vmmi_now_ms();
	if ((rc = base_volume(&ctx->paths, c, pool, vm, &info, &base, err)) < 0)
		goto out;
	vmmi_phase(ph, vm->name, "upload", t0);
	t0 = vmmi_now_ms();
	disk_name = vmmi_libvirt_disk_volume(vm->name);
	seed_name = vmmi_libvirt_seed_volume(vm->name);
	if (!disk_name || !seed_name) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto out;
	}
	{
		uint64_t cap = (uint64_t)vm->disk_gb << 30;

		if (cap < info.virtual_size)
			cap = info.virtual_size;
		if ((rc = vmmi_libvirt_overlay_xml(disk_name, cap, base, info.format, &xml, err)) <
		    0)
			goto out;
	}
	if (!(disk = virStorageVolCreateXML(pool, xml, 0))) {
		rc = vmmi_libvirt_fail(err, 0, "cannot create the overlay volume '%s' in pool '%s'",
			     disk_name, vm->pool);
		goto out;
	}
	vmmi_phase(ph, vm->name, "overlay", t0);
	t0 = vmmi_now_ms();
	if ((rc = vmmi_qemu_write_seed(spec, vm, err)) < 0)
		goto out;
	if (vm->seed_iso_path) {
		struct stat st;

		free(xml);
		xml = NULL;
		if (stat(vm->seed_iso_path, &st) < 0) {
			rc = vmm_error_errno(err, VMM_E_IO, NULL, "cannot read '%s'",
					     vm->seed_iso_path);
			goto out;
		}
		if ((rc = vmmi_libvirt_volume_xml(seed_name, (uint64_t)st.st_size, "raw", &xml,
						  err)) < 0 ||
		    (rc = create_uploaded(c, pool, xml, vm->name, vm->seed_iso_path, &seed, err)) <
			    0)
			goto out;
		vmmi_phase(ph, vm->name, "seed", t0);
	}
	vmmi_qemu_mac_from_id(vm->id ? vm->id : vm->name, mac);
	if ((rc = vmmi_set_str(&vm->mac_addr, mac, err)) < 0)
		goto out;
	kvm = host_has_kvm(c, vm->uri);
	if (!kvm && !(getenv("VMCTL_ACCEL") && strcmp(getenv("VMCTL_ACCEL"), "tcg") == 0))
		vmm_warn(MOD, "%s offers no KVM: VM '%s' runs with software emulation (TCG), "
			      "which is much slower (set VMCTL_ACCEL=tcg to silence this)",
			 vm->uri, vm->name);
	log = console_log_path(vm->uri, vm->name);
	free(xml);
	xml = NULL;
	rc = vmmi_libvirt_domain_xml(
		&(struct vmmi_libvirt_domain){
			.name = vm->name,
			.kvm = kvm,
			.vcpus = vm->vcpus,
			.memory_mb = vm->memory_mb,
			.pool = vm->pool,
			.disk_volume = disk_name,
			.seed_volume = seed ? seed_name : NULL,
			.mac = vm->mac_addr,
			.bridge = vm->network.type == VMM_NET_TAP ? vm->network.bridge : NULL,
			.network = network,
			.console_log = log,
		},
		&xml, err);
	if (rc < 0)
		goto out;
	vmm_debug(MOD, "defining '%s' on %s:\n%s", vm->name, vm->uri, xml);
	if (!(dom = virDomainDefineXML(c, xml))) {
		rc = vmmi_libvirt_fail(err, 0, "cannot define the domain of VM '%s' on %s", vm->name,
			     vm->uri);
		goto out;
	}
	virDomainFree(dom);
	vmm_debug(MOD, "prepared '%s' on %s: volume %s, MAC %s", vm->name, vm->uri, disk_name,
		  vm->mac_addr);
out:
	if (rc < 0 && pool) {
		/* nothing of this VM is left on the host */
		if (disk)
			virStorageVolDelete(disk, 0);
		if (seed)
			virStorageVolDelete(seed, 0);
	}
	if (disk)
		virStorageVolFree(disk);
	if (seed)
		virStorageVolFree(seed);
	if (pool)
		virStoragePoolFree(pool);
	vmm_image_info_release(&info);
	free(base);
	free(xml);
	free(disk_name);
	free(seed_name);
	free(log);
	return rc;
}

/* ---- lifecycle ------------------------------------------------------------ */

/* "127.0.0.1:PORT" of the domain's VNC display, or NULL. */
static char *vnc_of(virDomainPtr d)
{
	char *xml = virDomainGetXMLDesc(d, 0), *p, *res = NULL;

	if (xml && (p = strstr(xml, "<graphics type='vnc' port='"))) {
		int port = atoi(p + strlen("<graphics type='vnc' port='"));

		if (port > 0)
			res = vmmi_asprintf("127.0.0.1:%d", port);
	}
	free(xml);
	return res;
}

static int lv_start(struct vmm_ctx *ctx, struct vmm_vm *vm, const struct vmmi_ports_taken *taken,
		    struct vmm_error *err)
{
	bool missing;
	virDomainPtr d;
	int rc = 0;

	(void)ctx;
	(void)taken;
	if ((rc = vmmi_libvirt_domain(vm, &d, &missing, err)) < 0)
		return rc;
	if (virDomainIsActive(d) == 1) {
		rc = vmm_error_set(err, VMM_E_INVALID_STATE, 0, "stop it first",
				   "VM '%s' is already running on %s", vm->name, vm->uri);
	} else if (virDomainCreate(d) < 0) {
		rc = vmmi_libvirt_fail(err, 0, "cannot start VM '%s' on %s", vm->name, vm->uri);
	} else {
		free(vm->vnc_addr);
		vm->vnc_addr = vnc_of(d);
		vmm_info(MOD, "VM '%s' started on %s, VNC %s", vm->name, vm->uri,
			 vm->vnc_addr ? vm->vnc_addr : "off");
	}
	virDomainFree(d);
	return rc;
}

static int lv_stop(struct vmm_ctx *ctx, struct vmm_vm *vm, unsigned timeout_s,
		   struct vmm_error *err)
{
	uint64_t deadline = vmmi_now_ms() + (uint64_t)timeout_s * 1000u;
	bool missing;
	virDomainPtr d;
	int rc = 0;

	(void)ctx;
	if ((rc = vmmi_libvirt_domain(vm, &d, &missing, err)) < 0)
		return missing ? 0 : rc;
	if (virDomainIsActive(d) != 1)
		goto out;
	if (virDomainShutdown(d) < 0) {
		vmm_warn(MOD, "VM '%s': ACPI power-down failed (%s); destroying the domain",
			 vm->name, virGetLastErrorMessage());
	} else {
		while (virDomainIsActive(d) == 1 && vmmi_now_ms() < deadline)
			vmmi_sleep_ms(STOP_POLL_MS);
		if (virDomainIsActive(d) != 1) {
			vmm_info(MOD, "VM '%s' powered off", vm->name);
			goto out;
		}
		vmm_warn(MOD, "VM '%s' did not power off within %u s; destroying the domain",
			 vm->name, timeout_s);
	}
	if (virDomainDestroy(d) < 0 && virDomainIsActive(d) == 1)
		rc = vmmi_libvirt_fail(err, 0, "cannot stop VM '%s' on %s", vm->name, vm->uri);
out:
	if (rc == 0) {
		free(vm->vnc_addr);
		vm->vnc_addr = NULL;
	}
	virDomainFree(d);
	return rc;
}

static int lv_suspend_resume(struct vmm_vm *vm, bool suspend, struct vmm_error *err)
{
	bool missing;
	virDomainPtr d;
	int rc = 0;

	if ((rc = vmmi_libvirt_domain(vm, &d, &missing, err)) < 0)
		return rc;
	if ((suspend ? virDomainSuspend(d) : virDomainResume(d)) < 0)
		rc = vmmi_libvirt_fail(err, 0, "cannot %s VM '%s' on %s", suspend ? "suspend" : "resume",
			     vm->name, vm->uri);
	virDomainFree(d);
	return rc;
}

static int lv_suspend(struct vmm_ctx *ctx, struct vmm_vm *vm, struct vmm_error *err)
{
	(void)ctx;
	return lv_suspend_resume(vm, true, err);
}

static int lv_resume(struct vmm_ctx *ctx, struct vmm_vm *vm, struct vmm_error *err)
{
	(void)ctx;
	return lv_suspend_resume(vm, false, err);
}

static int lv_destroy(struct vmm_ctx *ctx, struct vmm_vm *vm, struct vmm_error *err)
{
	virStoragePoolPtr pool;
	virConnectPtr c;
	virDomainPtr d;
	char *disk, *seed;
	int rc;

	(void)ctx;
	if (!vm->uri) /* a create interrupted before it chose the host */
		return 0;
	if ((rc = vmmi_libvirt_conn(vm->uri, &c, err)) < 0)
		return rc;
	if ((d = virDomainLookupByName(c, vm->name))) {
		if (virDomainIsActive(d) == 1 && virDomainDestroy(d) < 0) {
			rc = vmmi_libvirt_fail(err, 0, "cannot stop VM '%s' on %s", vm->name, vm->uri);
			virDomainFree(d);
			return rc;
		}
		/* vmctl's domains boot with SeaBIOS: no NVRAM to remove */
		if (virDomainUndefineFlags(d, VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
						      VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA) < 0) {
			rc = vmmi_libvirt_fail(err, 0, "cannot undefine VM '%s' on %s", vm->name, vm->uri);
			virDomainFree(d);
			return rc;
		}
		virDomainFree(d);
	} else if (virGetLastErrorCode() != VIR_ERR_NO_DOMAIN) {
		return vmmi_libvirt_fail(err, 0, "cannot look up VM '%s' on %s", vm->name, vm->uri);
	}
	if (!(pool = virStoragePoolLookupByName(c, pool_of(vm))))
		return virGetLastErrorCode() == VIR_ERR_NO_STORAGE_POOL
			       ? 0
			       : vmmi_libvirt_fail(err, 0, "cannot find pool '%s' on %s", pool_of(vm),
					 vm->uri);
	disk = vmmi_libvirt_disk_volume(vm->name);
	seed = vmmi_libvirt_seed_volume(vm->name);
	delete_volume(pool, disk);
	delete_volume(pool, seed);
	free(disk);
	free(seed);
	virStoragePoolFree(pool);
	return 0;
}

/* ---- console: virDomainOpenConsole bridged to a unix socket ---------------- */

/* How long the bridge waits for the caller to connect to its socket. */
#define CONSOLE_ACCEPT_MS 30000

/*
 * The domain's console stream, offered on a unix socket in the work
 * directory (what a console endpoint is): a thread accepts one connection
 * and relays, the guest's output by virStreamRecv, the input by a second
 * thread's virStreamSend. It ends with the connection; the caller's process
 * (vmctl console) exits once detached.
 */
struct console_bridge {
	virStreamPtr st;
	int lfd, cfd;
	char *path;
};

static void *console_input(void *arg)
{
	struct console_bridge *b = arg;
	char buf[4096];
	ssize_t n;

	while ((n = read(b->cfd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
		if (n > 0 && virStreamSend(b->st, buf, (size_t)n) < 0)
			break;
	shutdown(b->cfd, SHUT_RDWR);
	return NULL;
}

static void *console_relay(void *arg)
{
	struct console_bridge *b = arg;
	struct pollfd pfd = {b->lfd, POLLIN, 0};
	pthread_t in;
	char buf[4096];
	int n;

	n = poll(&pfd, 1, CONSOLE_ACCEPT_MS);
	b->cfd = n > 0 ? accept4(b->lfd, NULL, NULL, SOCK_CLOEXEC) : -1;
	close(b->lfd);
	unlink(b->path);
	if (b->cfd >= 0 && pthread_create(&in, NULL, console_input, b) == 0) {
		pthread_detach(in);
		while ((n = virStreamRecv(b->st, buf, sizeof(buf))) > 0)
			if (send(b->cfd, buf, (size_t)n, MSG_NOSIGNAL) != n)
				break;
		/* the guest's side ended (or ours): the caller sees end of file */
		shutdown(b->cfd, SHUT_RDWR);
		return NULL; /* the input thread still uses b and the stream */
	}
	if (b->cfd >= 0)
		close(b->cfd);
	virStreamAbort(b->st);
	virStreamFree(b->st);
	free(b->path);
	free(b);
	return NULL;
}

static int lv_console_endpoint(struct vmm_ctx *ctx, const struct vmm_vm *vm,
			       struct vmm_console_endpoint *out, struct vmm_error *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct console_bridge *b = NULL;
	virConnectPtr c;
	virDomainPtr d = NULL;
	pthread_t t;
	bool missing;
	int rc;

	(void)ctx;
	out->kind = VMM_CONSOLE_NONE;
	out->path = NULL;
	if ((rc = vmmi_libvirt_conn(vm->uri, &c, err)) < 0 ||
	    (rc = vmmi_libvirt_domain(vm, &d, &missing, err)) < 0)
		return rc;
	if (virDomainIsActive(d) != 1) {
		rc = vmm_error_set(err, VMM_E_CONSOLE, 0, "start it with `vmctl start NAME`",
				   "VM '%s' is not running on %s", vm->name, vm->uri);
		goto fail;
	}
	if (!vm->work_dir || !(b = calloc(1, sizeof(*b))) ||
	    !(b->path = vmmi_path_join(vm->work_dir, "console.sock"))) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto fail;
	}
	b->lfd = b->cfd = -1;
	if (strlen(b->path) >= sizeof(sa.sun_path)) {
		rc = vmm_error_set(err, VMM_E_CONSOLE, ENAMETOOLONG,
				   "use a shorter data directory, e.g. XDG_DATA_HOME=/tmp/x",
				   "console socket path '%s' is too long", b->path);
		goto fail;
	}
	memcpy(sa.sun_path, b->path, strlen(b->path) + 1);
	unlink(b->path);
	if ((b->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(b->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(b->path, 0600) < 0 ||
	    listen(b->lfd, 1) < 0) {
		rc = vmm_error_errno(err, VMM_E_CONSOLE, NULL, "cannot listen on '%s'", b->path);
		goto fail;
	}
	if (!(b->st = virStreamNew(c, 0)) ||
	    virDomainOpenConsole(d, NULL, b->st, VIR_DOMAIN_CONSOLE_FORCE) < 0) {
		rc = vmmi_libvirt_fail(err, 0, "cannot open the console of VM '%s' on %s",
				       vm->name, vm->uri);
		goto fail;
	}
	if (!(out->path = strdup(b->path))) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto fail;
	}
	if (pthread_create(&t, NULL, console_relay, b) != 0) {
		rc = vmm_error_set(err, VMM_E_CONSOLE, 0, NULL, "cannot start a thread");
		free(out->path);
		out->path = NULL;
		goto fail;
	}
	pthread_detach(t);
	virDomainFree(d);
	out->kind = VMM_CONSOLE_UNIX;
	return 0;
fail:
	if (b) {
		if (b->st) {
			virStreamAbort(b->st);
			virStreamFree(b->st);
		}
		if (b->lfd >= 0) {
			close(b->lfd);
			unlink(b->path);
		}
		free(b->path);
		free(b);
	}
	if (d)
		virDomainFree(d);
	return rc;
}

const struct vmm_backend_ops vmmi_backend_libvirt = {
	.tag = VMM_BACKEND_LIBVIRT,
	.name = "libvirt",
	.host_ports = false,
	.prepare = lv_prepare,
	.start = lv_start,
	.stop = lv_stop,
	.suspend = lv_suspend,
	.resume = lv_resume,
	.destroy = lv_destroy,
	.state = vmmi_libvirt_state,
	.guest_ip = vmmi_libvirt_guest_ip,
	.console_endpoint = lv_console_endpoint,
};
