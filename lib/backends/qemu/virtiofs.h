/* SPDX-License-Identifier: MIT */
/*
 * lib/backends/qemu/virtiofs.h - the shared folders of a QEMU VM: which
 * transport each share gets, and the virtiofsd processes that serve the
 * virtiofs ones (private to libvmm).
 *
 * One virtiofsd per virtiofs share, started before QEMU, its socket
 * <work dir>/virtiofsd<i>.sock, its pid in virtiofsd<i>.pid, its output in
 * virtiofsd<i>.log. It is ours when its executable is virtiofsd and its
 * argv holds that exact --socket-path; only then is it signalled.
 */
#ifndef VMMI_QEMU_VIRTIOFS_H
#define VMMI_QEMU_VIRTIOFS_H

#include <stdbool.h>
#include <stddef.h>

#include "vmm/error.h"
#include "vmm/vm.h"

#define VMMI_VIRTIOFSD "/usr/lib/qemu/virtiofsd"

/* <work dir>/virtiofsd<i>.<ext> (NULL if out of memory). */
char *vmmi_virtiofs_file(const struct vmm_vm *vm, size_t i, const char *ext);

/* Whether virtiofsd can run here; if not, why (for the warning). */
bool vmmi_virtiofs_usable(char *why, size_t n);

/* At create: each share's transport (see struct vmm_share), with a warning
 * for each share that falls back to 9p and why. */
void vmmi_shares_choose(struct vmm_vm *vm);

/* Whether the VM has a share of that type. */
bool vmmi_shares_have(const struct vmm_vm *vm, enum vmm_share_type t);

/* Start the virtiofsd of every virtiofs share (leftovers of an earlier run
 * are stopped first) and wait for their sockets. On failure none is left
 * running. */
int vmmi_virtiofs_start(struct vmm_vm *vm, struct vmm_error *err);

/* Stop the VM's virtiofsd processes (ours only) and remove their sockets
 * and pidfiles. They exit by themselves when QEMU goes away; this reaps
 * any that did not. */
void vmmi_virtiofs_stop(const struct vmm_vm *vm);

#endif
