/* SPDX-License-Identifier: MIT */
/*
 * vmm/flow.h - the declarative flow behind `vmctl up/down/reload/provision`
 * and the way to reach a VM over SSH.
 *
 * `up` for one VM of a VMFile reads top to bottom in vmm_flow_up():
 *
 *   resolve image (cache) -> create (overlay, seed, key, port, MAC)
 *     -> start (QEMU, QMP) -> wait for SSH -> provision -> recorded
 *
 * Each phase is reported through the events callbacks with its duration;
 * the library itself prints nothing.
 */
#ifndef VMM_FLOW_H
#define VMM_FLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/error.h"
#include "vmm/image.h"
#include "vmm/manager.h"
#include "vmm/provision.h"
#include "vmm/ssh.h"
#include "vmm/vmfile.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How long `up` and `provision` wait for SSH, and `vmctl ssh`. */
#define VMM_FLOW_PROVISION_SSH_TIMEOUT_MS 120000u
#define VMM_FLOW_SSH_TIMEOUT_MS 30000u
/* `down` gives the guest this long to power off before forcing it. */
#define VMM_FLOW_DOWN_TIMEOUT_S 30u

struct vmm_flow_events {
	/* A phase of one VM is about to run ("image", "create", "boot", "ssh",
	 * "provision"). */
	void (*phase_begin)(void *userdata, const char *vm, const char *phase);
	/* It ended after duration_ms; ok is false if it failed. detail may be
	 * NULL or say more ("127.0.0.1:10022"). The steps of "create" are
	 * reported as they end, without a phase_begin: "overlay", "seed",
	 * "boot"; so is "destroy" in a reload. */
	void (*phase_end)(void *userdata, const char *vm, const char *phase, bool ok,
			  uint64_t duration_ms, const char *detail);
	/* Download progress of the image phase. */
	vmm_image_progress_fn image_progress;
	/* Provisioner output and step boundaries. */
	struct vmm_provision_callbacks provision;
	void *userdata;
	/*
	 * Whether to stop (Ctrl-C, --fail-fast); may be NULL. Asked at each
	 * step boundary: before the VM is created or started, before it is
	 * provisioned, between SSH attempts and between provision steps. A
	 * step under way (a download, a create, a start, a running provision
	 * step) finishes first, so a VM is never left half made: it stays as
	 * the last step left it (absent, stopped, or running but not
	 * provisioned), recorded in vms.json.
	 */
	bool (*cancelled)(void *userdata);
};

enum vmm_up_result {
	VMM_UP_CREATED = 0, /* it did not exist: created, started (, provisioned) */
	VMM_UP_STARTED,     /* it was stopped: started (, provisioned) */
	VMM_UP_SKIPPED,     /* it was already running */
	VMM_UP_RESTORED,    /* its state was saved: it continued from there (not
			       provisioned again) */
	VMM_UP_INTERRUPTED, /* ev->cancelled stopped it at a step boundary: the VM
			       is as that step left it (vmm_vm_lookup tells) */
};

struct vmm_up_opts {
	bool provision; /* run the provisioners (default true) */
	enum vmm_backend_tag backend; /* for VMs it creates */
};

void vmm_up_opts_init(struct vmm_up_opts *opts);

/*
 * Bring one VM of the VMFile up: create it if absent, start it if stopped
 * (restore it if its state is saved), skip it if running; provision it if
 * it was created or started cold. On a
 * failure after the VM was created, the VM stays (for `vmctl log` and a
 * retry), its state recorded.
 */
int vmm_flow_up(struct vmm_ctx *ctx, const struct vmm_vmfile *vf,
		const struct vmm_vmfile_vm *def, const struct vmm_up_opts *opts,
		const struct vmm_flow_events *ev, enum vmm_up_result *result,
		struct vmm_error *err);

/*
 * Reload one VM of the VMFile: destroy it if it exists (reported as the
 * phase "destroy", with phase_end only), then bring it up from the current
 * definition as vmm_flow_up does (*result is then VMM_UP_CREATED).
 */
int vmm_flow_reload(struct vmm_ctx *ctx, const struct vmm_vmfile *vf,
		    const struct vmm_vmfile_vm *def, const struct vmm_up_opts *opts,
		    const struct vmm_flow_events *ev, enum vmm_up_result *result,
		    struct vmm_error *err);

/* Run the VM's provisioners on the running VM (waits for SSH first). A VM
 * that is not running, or a VMFile entry without an ssh block, is an
 * error with a hint. ev->cancelled stops the SSH wait or the run between
 * two steps: an error (VMM_E_SSH or VMM_E_PROVISION, errno EINTR). */
int vmm_flow_provision(struct vmm_ctx *ctx, const struct vmm_vmfile *vf,
		       const struct vmm_vmfile_vm *def, const struct vmm_flow_events *ev,
		       struct vmm_error *err);

enum vmm_down_result {
	VMM_DOWN_STOPPED = 0,
	VMM_DOWN_DESTROYED,
	VMM_DOWN_ALREADY_STOPPED, /* nothing to do */
	VMM_DOWN_ABSENT,          /* not registered: nothing to do */
	VMM_DOWN_SAVED,           /* its state saved, then stopped */
};

/* Stop the VM gracefully (VMM_FLOW_DOWN_TIMEOUT_S), or destroy it. */
int vmm_flow_down(struct vmm_ctx *ctx, const char *name, bool destroy,
		  enum vmm_down_result *result, struct vmm_error *err);

enum vmm_down_how {
	VMM_DOWN_STOP = 0,
	VMM_DOWN_DESTROY,
	VMM_DOWN_SAVE, /* save its state (vmm_vm_save): the next up restores it */
};
int vmm_flow_down_ex(struct vmm_ctx *ctx, const char *name, enum vmm_down_how how,
		     enum vmm_down_result *result, struct vmm_error *err);

/* Everything needed to reach a VM over SSH, resolved. */
struct vmm_ssh_target {
	char *host;        /* "127.0.0.1" for user networking */
	unsigned port;
	char *user;
	char *key_path;    /* private key file */
	char *known_hosts; /* the VM's known_hosts file */
	char *host_alias;  /* its name in known_hosts ("vmctl-NAME") */
	enum vmm_ssh_hostkey_policy policy;
	/* A guest on a remote libvirt host is reached through that host (its
	 * URI's user, host, port and keyfile): jump.host NULL: directly. The
	 * strings belong to the target. */
	struct vmm_ssh_jump jump;
};

/*
 * Resolve how to reach a registered VM: user from user (--user), else
 * vmfile_user (the VMFile's ssh block), else the user recorded at create,
 * else "vm"; key from the VM's generated key, else key (--key or the
 * VMFile's private-key), else ~/.ssh/id_ed25519, id_ecdsa, id_rsa. The host
 * key is pinned when vmctl generated it (the VM's known_hosts has it) and
 * trusted on first use otherwise.
 */
int vmm_flow_ssh_target(struct vmm_ctx *ctx, const struct vmm_vm *vm, const char *user,
			const char *vmfile_user, const char *key, struct vmm_ssh_target *out,
			struct vmm_error *err);
void vmm_ssh_target_release(struct vmm_ssh_target *t);

/*
 * Start a VM as vmm_vm_start_ex does; a VM that continued from its saved
 * state then has its clock stepped to the host's (the guest's clock stood
 * still while it was saved): over SSH, `date -u -s @SECONDS` (through
 * `sudo -n` for a user other than root). A guest that cannot be reached or
 * refuses is warned about, not an error: the VM runs either way.
 */
int vmm_flow_start(struct vmm_ctx *ctx, const char *name, const struct vmm_start_opts *opts,
		   struct vmm_vm **out, enum vmm_start_result *result, struct vmm_error *err);

/* Step a running VM's clock to the host's over SSH (see vmm_flow_start). */
int vmm_flow_step_clock(struct vmm_ctx *ctx, const struct vmm_vm *vm, struct vmm_error *err);

/* Connect (with retries until timeout_ms) to a resolved target. */
int vmm_flow_ssh_connect(const struct vmm_vm *vm, const struct vmm_ssh_target *t,
			 unsigned timeout_ms, struct vmm_ssh **out, struct vmm_error *err);

/*
 * What `vmctl ssh NAME` needs before it hands over to the system ssh: the
 * VM, which must be running (VMM_E_INVALID_STATE with a hint otherwise),
 * resolved as vmm_flow_ssh_target does, answering over SSH with the pinned
 * host key within timeout_ms (checked, then disconnected). def is the VM's
 * entry in the VMFile, or NULL: a VM the VMFile defines but that was never
 * created is VMM_E_VM_NOT_FOUND with the hint to bring it up. On failure
 * *out is released (all NULL).
 */
int vmm_flow_ssh_ready(struct vmm_ctx *ctx, const char *name, const struct vmm_vmfile_vm *def,
		       const char *user, const char *key, unsigned timeout_ms,
		       struct vmm_ssh_target *out, struct vmm_error *err);

#ifdef __cplusplus
}
#endif
#endif
