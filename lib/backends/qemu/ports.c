/* SPDX-License-Identifier: MIT */
/* Host port allocation, for SSH and for port forwards: see ports.h. */
#include "backends/qemu/ports.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backends/qemu/qmp.h"
#include "core/util.h"
#include "vmm/log.h"

#define MOD "ports"
#define NPORTS (VMMI_PORT_LAST - VMMI_PORT_FIRST + 1)

bool vmmi_port_bindable(unsigned port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int fd, one = 1;
	bool ok;

	if (port == 0 || port > 65535)
		return false;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	/* QEMU's forwarder sets SO_REUSEADDR too: TIME_WAIT leftovers are fine. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 1) == 0;
	close(fd);
	return ok;
}

static void mark(unsigned char *used, unsigned port)
{
	if (port >= VMMI_PORT_FIRST && port <= VMMI_PORT_LAST)
		used[port - VMMI_PORT_FIRST] = 1;
}

/* A port reserved by a VM: its SSH port or one of its forwards. */
struct held {
	unsigned port;
	bool udp;
	bool own; /* the allocating VM's own forward */
	char owner[VMM_NAME_MAX + 1];
};

struct held_list {
	struct held *v;
	size_t n, cap;
};

static void held_add(struct held_list *h, const char *owner, unsigned port, bool udp, bool own)
{
	if (port == 0 || port > 65535)
		return;
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 64;
		struct held *v = realloc(h->v, cap * sizeof(*v));

		if (!v)
			return; /* the bind() check still catches a running VM's port */
		h->v = v;
		h->cap = cap;
	}
	h->v[h->n] = (struct held){.port = port, .udp = udp, .own = own};
	snprintf(h->v[h->n].owner, sizeof(h->v[h->n].owner), "%s", owner);
	h->n++;
}

/* The "tcp 8080" lines of a forward reservation file. */
static void read_forward_file(const char *path, const char *owner, bool own, struct held_list *h)
{
	char *data = NULL, *line, *save = NULL;
	size_t len;

	if (vmmi_read_file(path, &data, &len, NULL) < 0)
		return;
	for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned port;
		char proto[4];

		if (sscanf(line, "%3s %u", proto, &port) == 2)
			held_add(h, owner, port, strcmp(proto, "udp") == 0, own);
	}
	free(data);
}

/* Ports reserved in the VMs' work directories: every port of the others,
 * and the forwards of vm_name itself (its SSH port is the one being
 * chosen or kept). */
static void collect_reserved(const struct vmm_paths *paths, const char *vm_name,
			     struct held_list *h)
{
	DIR *d = opendir(paths->vms_dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		bool own = strcmp(de->d_name, vm_name) == 0;
		char *path, *data = NULL;
		size_t len;

		if (de->d_name[0] == '.')
			continue;
		path = vmmi_asprintf("%s/%s/%s", paths->vms_dir, de->d_name, VMMI_PORT_FILE);
		if (!own && path && vmmi_read_file(path, &data, &len, NULL) == 0)
			held_add(h, de->d_name, (unsigned)strtoul(data, NULL, 10), false, false);
		free(data);
		free(path);
		path = vmmi_asprintf("%s/%s/%s", paths->vms_dir, de->d_name, VMMI_FWD_FILE);
		if (path)
			read_forward_file(path, de->d_name, own, h);
		free(path);
	}
	closedir(d);
}

/* Ports reserved in the work directories (see collect_reserved). */
static void mark_reserved(const struct vmm_paths *paths, const char *vm_name, unsigned char *used)
{
	struct held_list h = {0};

	collect_reserved(paths, vm_name, &h);
	for (size_t i = 0; i < h.n; i++)
		mark(used, h.v[i].port);
	free(h.v);
}

int vmmi_port_allocate(const struct vmm_paths *paths, const char *vm_name, unsigned after,
		       const struct vmmi_ports_taken *taken, unsigned *port,
		       struct vmm_error *err)
{
	unsigned char *used = calloc(NPORTS, 1);
	char *lock_path = vmmi_path_join(paths->locks_dir, "ports.lock");
	char *vm_dir = vmm_paths_vm_dir(paths, vm_name);
	char *file = vm_dir ? vmmi_path_join(vm_dir, VMMI_PORT_FILE) : NULL;
	unsigned start;
	int lock = -1, rc;

	if (!used || !lock_path || !file) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto out;
	}
	lock = vmmi_lock_path(lock_path, err);
	if (lock < 0) {
		rc = lock;
		goto out;
	}
	mark_reserved(paths, vm_name, used);
	for (size_t i = 0; taken && i < taken->n; i++)
		mark(used, taken->ports[i]);
	start = (after >= VMMI_PORT_FIRST && after < VMMI_PORT_LAST) ? after + 1 - VMMI_PORT_FIRST
								    : 0;
	for (unsigned i = 0; i < NPORTS; i++) {
		unsigned p = VMMI_PORT_FIRST + (start + i) % NPORTS;
		char text[16];

		if (used[p - VMMI_PORT_FIRST] || p == after || !vmmi_port_bindable(p))
			continue;
		snprintf(text, sizeof(text), "%u\n", p);
		rc = vmmi_write_file_atomic(file, text, strlen(text), 0600, err);
		if (rc < 0)
			goto out;
		vmm_debug(MOD, "VM '%s': SSH port %u", vm_name, p);
		*port = p;
		goto out;
	}
	rc = vmm_error_set(err, VMM_E_PORT_ALLOC, 0, NULL,
			   "no free local TCP port for SSH forwarding in %u-%u", VMMI_PORT_FIRST,
			   VMMI_PORT_LAST);
out:
	vmmi_unlock(lock);
	free(used);
	free(lock_path);
	free(vm_dir);
	free(file);
	return rc;
}

int vmmi_port_probe(const char *address, unsigned port, bool udp)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int fd, one = 1, e = 0;

	if (port == 0 || port > 65535)
		return EINVAL;
	if (inet_pton(AF_INET, address, &sa.sin_addr) != 1)
		return EADDRNOTAVAIL;
	sa.sin_port = htons((uint16_t)port);
	fd = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	/* QEMU's TCP forwarder sets SO_REUSEADDR too: TIME_WAIT leftovers are
	 * fine. Not for UDP, where it would let two sockets share the port. */
	if (!udp)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || (!udp && listen(fd, 1) < 0))
		e = errno ? errno : EADDRINUSE;
	close(fd);
	return e;
}

static const struct held *held_find(const struct held_list *h, unsigned port, bool udp)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->v[i].port == port && h->v[i].udp == udp && !h->v[i].own)
			return &h->v[i];
	return NULL;
}

/* Why fw's host port cannot be had now (0: it can). */
static int forward_busy(const struct vmm_forward *fw, const struct held_list *h,
			const struct vmmi_ports_taken *taken, unsigned ssh_port,
			const struct vmm_forward *mine, size_t n_mine, struct vmm_error *err)
{
	const char *proto = vmm_forward_proto(fw);
	const struct held *o = held_find(h, fw->host_port, fw->udp);
	unsigned p = fw->host_port;
	char hint[VMM_ERROR_HINT_MAX];
	int e;

	if (o) {
		snprintf(hint, sizeof(hint),
			 "pick another host port, or 0 to let vmctl pick one (`vmctl port %s` "
			 "shows that VM's forwards)",
			 o->owner);
		return vmm_error_set(err, VMM_E_PORT_ALLOC, 0, hint,
				     "host port %u/%s is held by VM '%s'", p, proto, o->owner);
	}
	for (size_t i = 0; !fw->udp && taken && i < taken->n; i++)
		if (taken->ports[i] == p)
			return vmm_error_set(err, VMM_E_PORT_ALLOC, 0,
					     "pick another host port, or 0 to let vmctl pick one",
					     "host port %u/%s is held by another VM (its SSH port)",
					     p, proto);
	if (!fw->udp && p == ssh_port)
		return vmm_error_set(err, VMM_E_PORT_ALLOC, 0,
				     "pick another host port, or 0 to let vmctl pick one",
				     "host port %u/tcp is this VM's own SSH port", p);
	for (size_t i = 0; i < n_mine; i++)
		if (&mine[i] != fw && mine[i].host_port == p && mine[i].udp == fw->udp)
			return vmm_error_set(err, VMM_E_INVALID_CONFIG, 0,
					     "give each forward its own host port (0 lets vmctl "
					     "pick one)",
					     "host port %u/%s is forwarded twice", p, proto);
	e = vmmi_port_probe(fw->address, p, fw->udp);
	if (e == EADDRINUSE) {
		snprintf(hint, sizeof(hint),
			 "stop that process (`ss -%snp 'sport = :%u'` shows it), or pick another "
			 "host port (0: vmctl picks one)",
			 fw->udp ? "lu" : "lt", p);
		return vmm_error_set(err, VMM_E_PORT_ALLOC, 0, hint,
				     "host port %u/%s on %s is held by another process", p, proto,
				     fw->address);
	}
	if (e == EACCES)
		return vmm_error_set(err, VMM_E_PORT_ALLOC, e,
				     "use a host port from 1024 up, e.g. 8080:80",
				     "host port %u/%s: binding a port below 1024 needs privileges", p,
				     proto);
	if (e == EADDRNOTAVAIL)
		return vmm_error_set(err, VMM_E_PORT_ALLOC, e,
				     "give an address of this host: 127.0.0.1 (the default) or "
				     "0.0.0.0 (every address)",
				     "host address %s of forward %u/%s is not an address of this host",
				     fw->address, p, proto);
	if (e)
		return vmm_error_set(err, VMM_E_PORT_ALLOC, e, NULL,
				     "host port %u/%s on %s cannot be bound: %s", p, proto,
				     fw->address, strerror(e));
	return 0;
}

/* A free port of the range for fw (avoiding used and every forward of the VM). */
static int forward_pick(struct vmm_forward *fw, const unsigned char *used,
			const struct vmm_forward *mine, size_t n_mine, struct vmm_error *err)
{
	for (unsigned p = VMMI_PORT_FIRST; p <= VMMI_PORT_LAST; p++) {
		bool mine_p = false;

		if (used[p - VMMI_PORT_FIRST] || p == fw->host_port)
			continue;
		for (size_t i = 0; i < n_mine; i++)
			mine_p |= &mine[i] != fw && mine[i].host_port == p;
		if (mine_p || vmmi_port_probe(fw->address, p, fw->udp) != 0 ||
		    (fw->udp && vmmi_port_probe(fw->address, p, false) != 0) ||
		    (!fw->udp && vmmi_port_probe(fw->address, p, true) != 0))
			continue;
		fw->host_port = p;
		fw->auto_port = true;
		return 0;
	}
	return vmm_error_set(err, VMM_E_PORT_ALLOC, 0, "destroy VMs you no longer use",
			     "no free host port for forward ->%u/%s in %u-%u", fw->guest_port,
			     vmm_forward_proto(fw), VMMI_PORT_FIRST, VMMI_PORT_LAST);
}

int vmmi_forwards_reserve(const struct vmm_paths *paths, const char *vm_name, unsigned ssh_port,
			  struct vmm_forward *fw, size_t n, size_t first, bool repick,
			  const struct vmmi_ports_taken *taken, struct vmm_error *err)
{
	unsigned char *used = calloc(NPORTS, 1);
	char *lock_path = vmmi_path_join(paths->locks_dir, "ports.lock");
	char *vm_dir = vmm_paths_vm_dir(paths, vm_name);
	char *file = vm_dir ? vmmi_path_join(vm_dir, VMMI_FWD_FILE) : NULL;
	struct held_list h = {0};
	struct vmmi_buf b;
	int lock = -1, rc = 0;

	vmmi_buf_init(&b);
	if (!used || !lock_path || !file) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto out;
	}
	lock = vmmi_lock_path(lock_path, err);
	if (lock < 0) {
		rc = lock;
		goto out;
	}
	collect_reserved(paths, vm_name, &h);
	for (size_t i = 0; i < h.n; i++)
		if (!h.v[i].own)
			mark(used, h.v[i].port);
	for (size_t i = 0; taken && i < taken->n; i++)
		mark(used, taken->ports[i]);
	mark(used, ssh_port);
	for (size_t i = first; i < n && rc == 0; i++) {
		struct vmm_forward *f = &fw[i];

		if (f->host_port == 0) {
			rc = forward_pick(f, used, fw, n, err);
		} else if ((rc = forward_busy(f, &h, taken, ssh_port, fw, n, err)) < 0 &&
			   repick && f->auto_port && err->code == VMM_E_PORT_ALLOC) {
			unsigned old = f->host_port;

			rc = forward_pick(f, used, fw, n, err);
			if (rc == 0)
				vmm_info(MOD, "VM '%s': host port %u/%s was taken, forwarding %u "
					      "instead",
					 vm_name, old, vmm_forward_proto(f), f->host_port);
		}
	}
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < n && b.len != (size_t)-1; i++)
		if (vmmi_buf_printf(&b, "%s %u\n", vmm_forward_proto(&fw[i]), fw[i].host_port) < 0)
			b.len = (size_t)-1;
	if (n == 0)
		rc = unlink(file) < 0 && errno != ENOENT
			     ? vmm_error_errno(err, VMM_E_IO, NULL, "cannot remove %s", file)
			     : 0;
	else if (!b.data || b.len == (size_t)-1)
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	else
		rc = vmmi_write_file_atomic(file, b.data, b.len, 0600, err);
	if (rc == 0)
		vmm_debug(MOD, "VM '%s': %zu forwarded port(s) reserved", vm_name, n);
out:
	vmmi_unlock(lock);
	vmmi_buf_release(&b);
	free(h.v);
	free(used);
	free(lock_path);
	free(vm_dir);
	free(file);
	return rc;
}

int vmmi_qemu_forward_live(struct vmm_ctx *ctx, const struct vmm_vm *vm,
			   const struct vmm_forward *fw, bool add, struct vmm_error *err)
{
	struct vmmi_qmp *q = NULL;
	char *rule = vmmi_qemu_hostfwd(fw, add);
	int rc;

	(void)ctx;
	if (!rule)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	rc = vmmi_qmp_connect(vm->qmp_socket, 5000, &q, err);
	if (rc == 0)
		rc = vmmi_qmp_hostfwd(q, VMMI_QEMU_NETDEV, rule, add, err);
	vmmi_qmp_close(q);
	free(rule);
	return rc;
}
