/* SPDX-License-Identifier: MIT */
/*
 * lib/backends/qemu/ports.h - host ports for SSH forwarding and for the
 * VMs' port forwards (private to libvmm).
 *
 * Ports are allocated under a lock (<locks>/ports.lock), skipping every port
 * taken by another VM: those recorded in vms.json (handed in by the caller,
 * the manager, which owns the store) and those in the "ssh-port"
 * reservation file of each VM's work directory, which exists from
 * allocation on, before the VM's port reaches the store, and verified free
 * by bind() on 127.0.0.1. Destroying a VM removes its work directory and
 * with it the reservation.
 *
 * A VM's port forwards are reserved the same way, under the same lock, in
 * its "forward-ports" file (one "tcp 8080" line each): at create, before
 * each start, and by `vmctl port --add`/`--rm`. A host port is taken for
 * every address and both protocols of the range alike: one of another VM
 * (its SSH port or a forward) is an error naming that VM, one held by any
 * other program (bind() fails) is an error saying "another process". A
 * host port of 0 is picked from the SSH range.
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
#define VMMI_FWD_FILE "forward-ports"

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

/* 0 if a socket (a TCP listener, or UDP) could bind address:port now, else
 * the errno of bind() (EADDRINUSE: another program holds it). */
int vmmi_port_probe(const char *address, unsigned port, bool udp);

/*
 * Reserve the host ports of VM vm_name's forwards fw[0..n) (its work
 * directory exists) under the ports lock, and record them all in its
 * reservation file. fw[0..first) are in use by the VM already and only
 * recorded; each of fw[first..n) is checked: a host port of 0 is picked
 * (auto_port set), as is a new one for an auto_port forward whose port is
 * taken now when repick; any other port must be free, else
 * VMM_E_PORT_ALLOC naming the VM that forwards it or "another process".
 * ssh_port: the VM's own SSH port (0: none); taken: the SSH ports vms.json
 * records for other VMs.
 */
int vmmi_forwards_reserve(const struct vmm_paths *paths, const char *vm_name, unsigned ssh_port,
			  struct vmm_forward *fw, size_t n, size_t first, bool repick,
			  const struct vmmi_ports_taken *taken, struct vmm_error *err);

/* The netdev of user networking (qemu_args.c), where the forwards are. */
#define VMMI_QEMU_NETDEV "net0"

/* A forward as QEMU's hostfwd rule, "tcp:127.0.0.1:8080-:80" (with_guest),
 * or as hostfwd_remove names it, "tcp:127.0.0.1:8080"; malloc'd (qemu_args.c). */
char *vmmi_qemu_hostfwd(const struct vmm_forward *f, bool with_guest);

/* The backend's forward_live: hostfwd_add / hostfwd_remove over the VM's
 * QMP socket (ports.c). */
int vmmi_qemu_forward_live(struct vmm_ctx *ctx, const struct vmm_vm *vm,
			   const struct vmm_forward *fw, bool add, struct vmm_error *err);

#endif
