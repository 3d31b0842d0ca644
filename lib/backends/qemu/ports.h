/* SPDX-License-Identifier: MIT */
/*
 * lib/ports.h - host TCP ports for SSH forwarding (private to libvmm).
 *
 * Ports are allocated under a lock (<locks>/ports.lock), skipping every port
 * recorded for another VM (in vms.json, and in the "ssh-port" reservation
 * file of each VM's work directory, which exists from allocation on, before
 * the VM reaches the store) and verified free by bind() on 127.0.0.1.
 * Destroying a VM removes its work directory and with it the reservation.
 */
#ifndef VMMI_PORTS_H
#define VMMI_PORTS_H

#include <stdbool.h>

#include "vmm/error.h"
#include "vmm/paths.h"

#define VMMI_PORT_FIRST 10022
#define VMMI_PORT_LAST 10999
#define VMMI_PORT_FILE "ssh-port"

/* Whether a TCP listener could bind 127.0.0.1:port now. */
bool vmmi_port_bindable(unsigned port);

/*
 * Allocate a free port for VM vm_name (whose work directory exists), record
 * it in the VM's reservation file and store it in *port. The search starts
 * after `after` (0: at VMMI_PORT_FIRST) and wraps around, so a caller that
 * found a port unusable passes it to get another one. VMM_E_PORT_ALLOC if
 * every port in the range is taken.
 */
int vmmi_port_allocate(const struct vmm_paths *paths, const char *vm_name, unsigned after,
		       unsigned *port, struct vmm_error *err);

#endif
