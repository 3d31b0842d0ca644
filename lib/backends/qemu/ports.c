/* SPDX-License-Identifier: MIT */
/* SSH port allocation: see lib/ports.h. */
#include "backends/qemu/ports.h"

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

/* Ports reserved in other VMs' work directories. */
static void mark_reserved(const struct vmm_paths *paths, const char *vm_name, unsigned char *used)
{
	DIR *d = opendir(paths->vms_dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char *path, *data = NULL;
		size_t len;

		if (de->d_name[0] == '.' || strcmp(de->d_name, vm_name) == 0)
			continue;
		path = vmmi_asprintf("%s/%s/%s", paths->vms_dir, de->d_name, VMMI_PORT_FILE);
		if (path && vmmi_read_file(path, &data, &len, NULL) == 0)
			mark(used, (unsigned)strtoul(data, NULL, 10));
		free(data);
		free(path);
	}
	closedir(d);
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
