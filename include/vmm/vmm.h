/* SPDX-License-Identifier: MIT */
/*
 * vmm/vmm.h - the umbrella header of libvmm, the library behind vmctl.
 *
 * Programs may include this one header, or the module headers they use.
 * Every call reports failure through a struct vmm_error (vmm/error.h); the
 * library never prints and never exits. Build with `pkg-config libvmm`.
 */
#ifndef VMM_VMM_H
#define VMM_VMM_H

#include "vmm/error.h"
#include "vmm/file.h"
#include "vmm/log.h"
#include "vmm/paths.h"
#include "vmm/suggest.h"
#include "vmm/vm.h"
#include "vmm/manager.h"
#include "vmm/kdl.h"
#include "vmm/diag.h"
#include "vmm/vmfile.h"
#include "vmm/image.h"
#include "vmm/keys.h"
#include "vmm/cloudinit.h"
#include "vmm/ssh.h"
#include "vmm/provision.h"
#include "vmm/flow.h"

#endif
