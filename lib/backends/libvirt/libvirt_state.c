/* SPDX-License-Identifier: MIT */
/*
 * The libvirt backend's connections and live state, apart from the rest of
 * it so that reading states (vmctl list, status) links libvirt and nothing
 * else of the backend. One connection per URI per process, opened on first
 * use and reused by every thread. libvirt never prints: its errors become
 * the vmm_error's message, with a hint.
 *
 * libvirt is loaded here with dlopen, on the first VM that needs it: linked,
 * it would bring some fifty libraries (gnutls, glib, libxml2, ...) into
 * every `vmctl list`, and their start-up costs tens of milliseconds, more
 * than listing a thousand local VMs. The rest of the backend links it.
 * Under AddressSanitizer it is linked here too: the sanitizer intercepts
 * the XDR functions libvirt calls, and cannot resolve them in a library
 * loaded after the program started (the call goes to address 0).
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "backends/backend.h"
#include "backends/libvirt/libvirt.h"
#include "vmm/log.h"

#define MOD "libvirt"

#if defined(__SANITIZE_ADDRESS__)
#define LINK_LIBVIRT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LINK_LIBVIRT 1
#endif
#endif

/* ---- connections: one per URI per process -------------------------------- */

struct conn {
	char *uri;
	virConnectPtr conn;
};

static pthread_mutex_t conns_lock = PTHREAD_MUTEX_INITIALIZER;
static struct conn *conns;
static size_t n_conns;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* The functions of libvirt used here, resolved by load_libvirt(). */
#define LV_FUNCS(X) \
	X(int, virInitialize, (void)) \
	X(void, virSetErrorFunc, (void *, virErrorFunc)) \
	X(virConnectPtr, virConnectOpen, (const char *)) \
	X(int, virConnectIsAlive, (virConnectPtr)) \
	X(int, virConnectClose, (virConnectPtr)) \
	X(virErrorPtr, virGetLastError, (void)) \
	X(int, virGetLastErrorCode, (void)) \
	X(virDomainPtr, virDomainLookupByName, (virConnectPtr, const char *)) \
	X(int, virDomainGetState, (virDomainPtr, int *, int *, unsigned int)) \
	X(int, virDomainFree, (virDomainPtr)) \
	X(int, virDomainInterfaceAddresses, (virDomainPtr, virDomainInterfacePtr **, unsigned int, \
					     unsigned int)) \
	X(void, virDomainInterfaceFree, (virDomainInterfacePtr))

#define LV_PTR(ret, name, args) static ret(*p_##name) args;
LV_FUNCS(LV_PTR)
#undef LV_PTR
static bool lv_loaded;
static char lv_load_error[256];

/* libvirt prints every error to stderr unless told otherwise. */
static void quiet(void *userdata, virErrorPtr error)
{
	(void)userdata;
	if (error && error->message)
		vmm_debug(MOD, "libvirt: %s", error->message);
}

static void init_libvirt(void)
{
#ifdef LINK_LIBVIRT
#define LV_SYM(ret, name, args) p_##name = name;
	LV_FUNCS(LV_SYM)
#undef LV_SYM
#else
	void *h = dlopen("libvirt.so.0", RTLD_NOW | RTLD_GLOBAL);

	if (!h) {
		snprintf(lv_load_error, sizeof(lv_load_error), "%s", dlerror());
		return;
	}
#define LV_SYM(ret, name, args)                                                            \
	if (!(*(void **)(&p_##name) = dlsym(h, #name))) {                                   \
		snprintf(lv_load_error, sizeof(lv_load_error), "libvirt has no %s", #name);   \
		return;                                                                    \
	}
	LV_FUNCS(LV_SYM)
#undef LV_SYM
#endif
	p_virInitialize();
	p_virSetErrorFunc(NULL, quiet);
	lv_loaded = true;
}

/* The hint for a libvirt error, by its code. */
const char *vmmi_libvirt_hint(int code)
{
	switch (code) {
	case VIR_ERR_AUTH_FAILED:
	case VIR_ERR_AUTH_CANCELLED:
	case VIR_ERR_AUTH_UNAVAILABLE:
		return "the host refused the login: check that `virsh -c URI list` works without "
		       "a prompt (an SSH key for the URI's user, or ?keyfile= in the URI)";
	case VIR_ERR_NO_CONNECT:
	case VIR_ERR_RPC:
	case VIR_ERR_SYSTEM_ERROR:
		return "the host is unreachable or runs no libvirt daemon: check the URI and "
		       "`virsh -c URI version`";
	case VIR_ERR_NO_STORAGE_POOL:
		return "create and start the pool on the host (`virsh pool-define-as default dir "
		       "--target /var/lib/libvirt/images`, `virsh pool-start default`), or name "
		       "another with pool=\"...\" on the VMFile's host";
	case VIR_ERR_NO_NETWORK:
		return "start the network on the host (`virsh net-start default`), or name "
		       "another with network=\"...\" on the VMFile's host";
	case VIR_ERR_DOM_EXIST:
		return "a domain of that name already exists on that host: choose another VM "
		       "name, or remove the domain there (`virsh undefine NAME`)";
	default:
		return "see the libvirt daemon's log on the host";
	}
}

/* Set err from libvirt's last error: "what: libvirt's message", a hint. */
int vmmi_libvirt_fail(struct vmm_error *err, int force_code, const char *fmt, ...)
{
	virErrorPtr e = p_virGetLastError();
	char what[512];
	int code = force_code ? force_code : e ? e->code : 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return vmm_error_set(err, code == VIR_ERR_DOM_EXIST ? VMM_E_VM_EXISTS : VMM_E_BACKEND, 0,
			     vmmi_libvirt_hint(code), "%s: %s", what,
			     e && e->message ? e->message : "(libvirt gave no reason)");
}

/* The live connection to uri in the list, or NULL; a dead one is dropped.
 * With conns_lock held. */
static virConnectPtr conn_find(const char *uri)
{
	for (size_t i = 0; i < n_conns; i++) {
		if (strcmp(conns[i].uri, uri) != 0)
			continue;
		if (p_virConnectIsAlive(conns[i].conn) == 1)
			return conns[i].conn;
		p_virConnectClose(conns[i].conn);
		free(conns[i].uri);
		conns[i] = conns[--n_conns];
		break;
	}
	return NULL;
}

int vmmi_libvirt_conn(const char *uri, virConnectPtr *out, struct vmm_error *err)
{
	virConnectPtr c, other;
	struct conn *n;
	char *u;

	*out = NULL;
	if (!uri || !*uri)
		return vmm_error_set(err, VMM_E_INVALID_CONFIG, 0, "recreate the VM",
				     "the VM has no libvirt URI recorded");
	pthread_once(&init_once, init_libvirt);
	if (!lv_loaded)
		return vmm_error_set(err, VMM_E_BACKEND, 0,
				     "install libvirt's client library (Debian: apt-get install "
				     "libvirt0)",
				     "cannot load libvirt for '%s': %s", uri, lv_load_error);
	pthread_mutex_lock(&conns_lock);
	c = conn_find(uri);
	pthread_mutex_unlock(&conns_lock);
	if (c) {
		*out = c;
		return 0;
	}
	/* opened without the lock: a slow host does not hold up the others */
	vmm_debug(MOD, "connecting to %s", uri);
	if (!(c = p_virConnectOpen(uri)))
		return vmmi_libvirt_fail(err, 0, "cannot connect to libvirt at '%s'", uri);
	pthread_mutex_lock(&conns_lock);
	if ((other = conn_find(uri))) { /* another thread was quicker */
		pthread_mutex_unlock(&conns_lock);
		p_virConnectClose(c);
		*out = other;
		return 0;
	}
	n = realloc(conns, (n_conns + 1) * sizeof(*n));
	u = strdup(uri);
	if (n)
		conns = n;
	if (!n || !u) {
		pthread_mutex_unlock(&conns_lock);
		free(u);
		p_virConnectClose(c);
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	}
	conns[n_conns++] = (struct conn){u, c};
	pthread_mutex_unlock(&conns_lock);
	*out = c;
	return 0;
}


/* The VM's domain in *d; when it does not exist, *missing and an error. */
int vmmi_libvirt_domain(const struct vmm_vm *vm, virDomainPtr *d, bool *missing,
			struct vmm_error *err)
{
	virConnectPtr c;
	int rc;

	*missing = false;
	*d = NULL;
	if ((rc = vmmi_libvirt_conn(vm->uri, &c, err)) < 0)
		return rc;
	if ((*d = p_virDomainLookupByName(c, vm->name)))
		return 0;
	if (p_virGetLastErrorCode() != VIR_ERR_NO_DOMAIN)
		return vmmi_libvirt_fail(err, 0, "cannot look up the domain of VM '%s' on %s", vm->name,
			       vm->uri);
	*missing = true;
	return vmm_error_set(err, VMM_E_INVALID_STATE, 0,
			     "it was removed behind vmctl's back: `vmctl destroy NAME` cleans up "
			     "the rest",
			     "VM '%s' has no domain on %s", vm->name, vm->uri);
}

enum vmm_vm_state vmmi_libvirt_state_map(int vir_state)
{
	switch (vir_state) {
	case VIR_DOMAIN_RUNNING:
	case VIR_DOMAIN_BLOCKED:
	case VIR_DOMAIN_SHUTDOWN: /* shutting down: still running */
		return VMM_STATE_RUNNING;
	case VIR_DOMAIN_PAUSED:
	case VIR_DOMAIN_PMSUSPENDED:
		return VMM_STATE_SUSPENDED;
	case VIR_DOMAIN_SHUTOFF:
		return VMM_STATE_STOPPED;
	case VIR_DOMAIN_CRASHED:
	default:
		return VMM_STATE_FAILED;
	}
}
int vmmi_libvirt_state(struct vmm_ctx *ctx, const struct vmm_vm *vm, enum vmm_vm_state *out,
		       struct vmm_error *err)
{
	bool missing;
	virDomainPtr d;
	int st = 0, reason = 0, rc;

	(void)ctx;
	if ((rc = vmmi_libvirt_domain(vm, &d, &missing, err)) < 0) {
		if (!missing)
			return rc;
		*out = VMM_STATE_FAILED;
		return 0;
	}
	if (p_virDomainGetState(d, &st, &reason, 0) < 0) {
		p_virDomainFree(d);
		return vmmi_libvirt_fail(err, 0, "cannot read the state of VM '%s' on %s", vm->name,
			       vm->uri);
	}
	p_virDomainFree(d);
	*out = vmmi_libvirt_state_map(st);
	/* a VM that never ran keeps its recorded state */
	if (*out == VMM_STATE_STOPPED && vm->state != VMM_STATE_RUNNING &&
	    vm->state != VMM_STATE_SUSPENDED)
		*out = vm->state;
	return 0;
}

/* The first IPv4 address of the domain's interface with this MAC, from one
 * source of libvirt's. */
static char *ip_from(virDomainPtr d, const char *mac, unsigned source)
{
	virDomainInterfacePtr *ifs = NULL;
	char *ip = NULL;
	int n = p_virDomainInterfaceAddresses(d, &ifs, source, 0);

	for (int i = 0; i < n; i++) {
		if (!ip && ifs[i]->hwaddr && strcasecmp(ifs[i]->hwaddr, mac) == 0)
			for (unsigned j = 0; j < ifs[i]->naddrs && !ip; j++)
				if (ifs[i]->addrs[j].type == VIR_IP_ADDR_TYPE_IPV4)
					ip = strdup(ifs[i]->addrs[j].addr);
		p_virDomainInterfaceFree(ifs[i]);
	}
	free(ifs);
	return ip;
}

/* The guest's address as libvirt knows it now (lease, ARP, agent), by the
 * VM's MAC: light, like the state (`vmctl status` shows it); the flow waits
 * for a guest that has just booted (its DHCP lease comes a while later). */
int vmmi_libvirt_guest_ip(struct vmm_ctx *ctx, const struct vmm_vm *vm, char **ip,
			  struct vmm_error *err)
{
	static const unsigned sources[] = {VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE,
					   VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP,
					   VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT};
	bool missing;
	virDomainPtr d;
	int rc;

	(void)ctx;
	*ip = NULL;
	if (!vm->mac_addr)
		return vmm_error_set(err, VMM_E_IP_DISCOVERY, 0, "recreate the VM",
				     "VM '%s' has no MAC address recorded", vm->name);
	if ((rc = vmmi_libvirt_domain(vm, &d, &missing, err)) < 0)
		return rc;
	for (size_t i = 0; i < sizeof(sources) / sizeof(*sources) && !*ip; i++)
		*ip = ip_from(d, vm->mac_addr, sources[i]);
	p_virDomainFree(d);
	if (*ip)
		return 0;
	return vmm_error_set(err, VMM_E_IP_DISCOVERY, 0,
			     "the guest may still be booting; see `virsh -c URI domifaddr NAME`",
			     "no IP address for VM '%s' (MAC %s) on %s: no DHCP lease, ARP entry "
			     "or guest agent answer",
			     vm->name, vm->mac_addr, vm->uri);
}
