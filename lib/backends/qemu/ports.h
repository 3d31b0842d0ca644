/* SPDX-License-Identifier: MIT */
/*
 * lib/backends/qemu/ports.h - host TCP ports for SSH forwarding (private to
 * libvmm).
 *
 * Ports are allocated under a lock (<locks>/ports.lock), skipping every port
 * taken by another VM: those recorded in vms.json (handed in by the caller,
 * the manager, which owns the store) and those in the "ssh-port"
 * reservation file of each VM's work directory, which exists from
 * allocation on, before the VM's port reaches the store, and verified free
 * by bind() on 127.0.0.1. Destroying a VM removes its work directory and
 * with it the reservation.
 */
#ifndef VMMI_PORTS_H
#define VMMI_PORTS_H

#include <stdbool.h>

#include "backends/backend.h"
#include "vmm/error.h"
#include "vmm/paths.h"

#define VMMI_PORT_FIRST 10022
#define VMMI_PORT_LAST 10999
#define VMMI_PORT_FILE "ssh-port"

/* Whether a TCP listener could bind 127.0.0.1:port now. */
bool vmmi_port_bindable(unsigned port);

/*
 * Allocate a free port for VM vm_name (whose work directory exists), record
 * it in the VM's reservation file and store it in *port. taken: the ports
 * recorded in vms.json for other VMs (may be NULL). The search starts
 * after `after` (0: at VMMI_PORT_FIRST) and wraps around, so a caller that
 * found a port unusable passes it to get another one. VMM_E_PORT_ALLOC if
 * every port in the range is taken.
 */
int vmmi_port_allocate(const struct vmm_paths *paths, const char *vm_name, unsigned after,
		       const struct vmmi_ports_taken *taken, unsigned *port,
		       struct vmm_error *err);

#endif
