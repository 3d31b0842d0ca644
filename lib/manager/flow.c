/* SPDX-License-Identifier: MIT */
/* The declarative flow: up, provision, down; reaching a VM over SSH. */
#include "vmm/flow.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmm/file.h"
#include "backends/libvirt/libvirt.h"
#include "core/util.h"
#include "vmm/keys.h"
#include "vmm/log.h"

#define MOD "flow"

/* How long a bridged guest may take to appear with an IP address (its
 * DHCP lease), unless $VMCTL_IP_TIMEOUT (seconds) says otherwise. */
#define IP_DISCOVERY_TIMEOUT_MS 120000u

void vmm_up_opts_init(struct vmm_up_opts *opts)
{
	opts->provision = true;
	opts->backend = vmm_default_backend();
}

/* Phase timing: begin/end pairs through the caller's callbacks. */
struct phase {
	const struct vmm_flow_events *ev;
	const char *vm;
	const char *name;
	uint64_t t0;
};

static void phase_begin(struct phase *p, const struct vmm_flow_events *ev, const char *vm,
			const char *name)
{
	p->ev = ev;
	p->vm = vm;
	p->name = name;
	p->t0 = vmmi_now_ms();
	vmm_debug(MOD, "%s: %s", vm, name);
	if (ev && ev->phase_begin)
		ev->phase_begin(ev->userdata, vm, name);
}

static void phase_end(struct phase *p, bool ok, const char *detail)
{
	uint64_t ms = vmmi_now_ms() - p->t0;

	vmm_debug(MOD, "%s: %s %s in %llu ms", p->vm, p->name, ok ? "done" : "failed",
		  (unsigned long long)ms);
	if (p->ev && p->ev->phase_end)
		p->ev->phase_end(p->ev->userdata, p->vm, p->name, ok, ms, detail);
}

/* The last lines of the VM's console log, for SSH failure messages. */
static char *console_tail(void *userdata)
{
	const char *work_dir = userdata;
	char *path = vmmi_path_join(work_dir, "console.log"), *data = NULL, *out = NULL;
	struct vmm_error err;
	size_t len = 0;

	if (!path)
		return NULL;
	if (vmmi_read_file(path, &data, &len, &err) == 0 && len > 0)
		out = vmmi_asprintf("last console lines (`vmctl log NAME --console` for all):\n%s",
				    data + vmm_text_tail(data, len, 5));
	free(data);
	free(path);
	return out;
}

/*
 * When vmctl generated the guest's host key (its public half is in the work
 * directory), the key is pinned: known_hosts is written from it if missing,
 * and any other key is refused. Otherwise (raw user-data) the first
 * connection records the key the guest presents, and later ones pin it.
 */
static int pin_host_key(const struct vmm_vm *vm, struct vmm_ssh_target *t,
			struct vmm_error *err)
{
	char *pub_path = vmmi_path_join(vm->work_dir, VMM_HOST_KEY_PUB_NAME);
	char *pub = NULL, *line = NULL, *text = NULL;
	int rc = 0;

	if (!pub_path)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	if (access(pub_path, F_OK) < 0) {
		t->policy = VMM_SSH_HOSTKEY_TOFU;
		goto out;
	}
	t->policy = VMM_SSH_HOSTKEY_PINNED;
	if (access(t->known_hosts, F_OK) == 0)
		goto out;
	if ((rc = vmmi_read_file(pub_path, &pub, NULL, err)) < 0)
		goto out;
	pub[strcspn(pub, "\r\n")] = '\0';
	if ((rc = vmm_known_hosts_line(t->host_alias, 22, pub, &line, err)) < 0)
		goto out;
	if (!(text = vmmi_asprintf("%s\n", line))) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto out;
	}
	rc = vmmi_write_file_atomic(t->known_hosts, text, strlen(text), 0600, err);
out:
	free(pub_path);
	free(pub);
	free(line);
	free(text);
	return rc;
}

/*
 * The guest's address: at once for user networking; for a bridged guest
 * (or one on a libvirt host), looked for every 500 ms until it has one (its DHCP lease may come after
 * the boot), up to the timeout, which ends in network::ip_discovery_timeout
 * naming the MAC and every place searched.
 */
static int wait_guest_ip(struct vmm_ctx *ctx, const struct vmm_vm *vm, char **ip,
			 struct vmm_error *err)
{
	const char *env = getenv("VMCTL_IP_TIMEOUT");
	unsigned timeout_ms = IP_DISCOVERY_TIMEOUT_MS;
	uint64_t deadline;
	int rc;

	if (env && *env) {
		char *end;
		unsigned long v = strtoul(env, &end, 10);

		if (*end || v > 86400)
			return vmm_error_set(err, VMM_E_INVALID_CONFIG, 0,
					     "set VMCTL_IP_TIMEOUT to a number of seconds (0 to "
					     "86400), or unset it for 120",
					     "VMCTL_IP_TIMEOUT='%s' is not a number of seconds",
					     env);
		timeout_ms = (unsigned)v * 1000u;
	}
	deadline = vmmi_now_ms() + timeout_ms;
	for (;;) {
		rc = vmm_vm_guest_ip(ctx, vm, ip, err);
		if (rc == 0 ||
		    (vm->network.type != VMM_NET_TAP && vm->backend != VMM_BACKEND_LIBVIRT) ||
		    err->code != VMM_E_IP_DISCOVERY)
			return rc;
		if (vmmi_now_ms() >= deadline)
			break;
		vmmi_sleep_ms(500);
	}
	vmm_error_prefix(err, "after %u s", timeout_ms / 1000u);
	return rc;
}

int vmm_flow_ssh_target(struct vmm_ctx *ctx, const struct vmm_vm *vm, const char *user,
			const char *vmfile_user, const char *key, struct vmm_ssh_target *out,
			struct vmm_error *err)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (vm->network.type == VMM_NET_NONE)
		return vmm_error_set(err, VMM_E_SSH, 0,
				     "give the VM a network (`network \"user\"` or `network "
				     "\"tap\"` in the VMFile, `--bridge` on create) to reach it "
				     "over SSH",
				     "VM '%s' has network \"none\": nothing can reach it over SSH",
				     vm->name);
	if ((rc = wait_guest_ip(ctx, vm, &out->host, err)) < 0)
		goto fail;
	if (vm->backend == VMM_BACKEND_LIBVIRT) {
		struct vmmi_libvirt_jump j;

		out->port = 22;
		if ((rc = vmmi_libvirt_jump(vm->uri, &j, err)) < 0)
			goto fail;
		out->jump = (struct vmm_ssh_jump){j.host, j.port, j.user, j.keyfile, j.no_verify};
	} else if (vm->network.type == VMM_NET_USER) {
		if (!vm->ssh_host_port) {
			rc = vmm_error_set(err, VMM_E_SSH, 0, "recreate the VM (`vmctl reload`)",
					   "VM '%s' has no forwarded SSH port", vm->name);
			goto fail;
		}
		out->port = vm->ssh_host_port;
	} else {
		out->port = 22;
	}
	out->user = strdup(user ? user
				: vmfile_user ? vmfile_user
				: vm->ssh_user ? vm->ssh_user
					       : "vm");
	out->known_hosts = vmmi_path_join(vm->work_dir, "known_hosts");
	out->host_alias = vmmi_asprintf("vmctl-%s", vm->name);
	if (!out->user || !out->known_hosts || !out->host_alias) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto fail;
	}
	if ((rc = vmm_ssh_resolve_key(vm->work_dir, key, &out->key_path, err)) < 0)
		goto fail;
	if ((rc = pin_host_key(vm, out, err)) < 0)
		goto fail;
	return 0;
fail:
	vmm_ssh_target_release(out);
	return rc;
}

void vmm_ssh_target_release(struct vmm_ssh_target *t)
{
	if (!t)
		return;
	free(t->host);
	free(t->user);
	free(t->key_path);
	free(t->known_hosts);
	free(t->host_alias);
	free((char *)t->jump.host);
	free((char *)t->jump.user);
	free((char *)t->jump.key_path);
	memset(t, 0, sizeof(*t));
}

/* Whether the caller asked to stop (ev->cancelled). */
static bool cancelled(const struct vmm_flow_events *ev)
{
	return ev && ev->cancelled && ev->cancelled(ev->userdata);
}

static int ssh_connect_ev(const struct vmm_vm *vm, const struct vmm_ssh_target *t,
			  unsigned timeout_ms, const struct vmm_flow_events *ev,
			  struct vmm_ssh **out, struct vmm_error *err);

int vmm_flow_ssh_connect(const struct vmm_vm *vm, const struct vmm_ssh_target *t,
			 unsigned timeout_ms, struct vmm_ssh **out, struct vmm_error *err)
{
	return ssh_connect_ev(vm, t, timeout_ms, NULL, out, err);
}

/* vmm_flow_ssh_connect, giving up when ev->cancelled says so. */
static int ssh_connect_ev(const struct vmm_vm *vm, const struct vmm_ssh_target *t,
			  unsigned timeout_ms, const struct vmm_flow_events *ev,
			  struct vmm_ssh **out, struct vmm_error *err)
{
	struct vmm_ssh_config cfg = {
		.host = t->host,
		.port = t->port,
		.user = t->user,
		.key_path = t->key_path,
		.known_hosts = t->known_hosts,
		.known_hosts_name = t->host_alias,
		.hostkey_policy = t->policy,
		.jump = t->jump.host ? &t->jump : NULL,
	};
	struct vmm_ssh_retry retry = {
		.timeout_ms = timeout_ms,
		.interval_ms = 200,
		.context = console_tail,
		.context_userdata = vm->work_dir,
		.cancelled = ev ? ev->cancelled : NULL,
		.cancel_userdata = ev ? ev->userdata : NULL,
	};

	return vmm_ssh_connect_retry(&cfg, &retry, out, err);
}

int vmm_flow_ssh_ready(struct vmm_ctx *ctx, const char *name, const struct vmm_vmfile_vm *def,
		       const char *user, const char *key, unsigned timeout_ms,
		       struct vmm_ssh_target *out, struct vmm_error *err)
{
	struct vmm_vm *vm = NULL;
	struct vmm_ssh *s = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = vmm_vm_lookup(ctx, name, &vm, err)) < 0) {
		if (err->code == VMM_E_VM_NOT_FOUND && def)
			snprintf(err->hint, sizeof(err->hint),
				 "the VMFile defines '%s' but it was never created: bring it up "
				 "with `vmctl up --name %s`",
				 name, name);
		return rc;
	}
	if (vm->state != VMM_STATE_RUNNING) {
		char hint[256];

		snprintf(hint, sizeof(hint), "start it with `vmctl start %s` (or `vmctl up`)", name);
		rc = vmm_error_set(err, VMM_E_INVALID_STATE, 0, hint,
				   "cannot ssh into VM '%s': it is %s", name,
				   vmm_vm_state_name(vm->state));
		goto out;
	}
	rc = vmm_flow_ssh_target(ctx, vm, user, def && def->ssh ? def->ssh->user : NULL,
				 key ? key : def && def->ssh ? def->ssh->private_key.path : NULL,
				 out, err);
	if (rc == 0)
		rc = vmm_flow_ssh_connect(vm, out, timeout_ms, &s, err);
	vmm_ssh_free(s);
	if (rc < 0)
		vmm_ssh_target_release(out);
out:
	vmm_vm_free(vm);
	return rc;
}

int vmm_flow_step_clock(struct vmm_ctx *ctx, const struct vmm_vm *vm, struct vmm_error *err)
{
	struct vmm_ssh_target t;
	struct vmm_ssh *s = NULL;
	char cmd[96], *errout = NULL;
	int rc, status = -1;

	if ((rc = vmm_flow_ssh_target(ctx, vm, NULL, NULL, NULL, &t, err)) < 0)
		return rc;
	if ((rc = vmm_flow_ssh_connect(vm, &t, VMM_FLOW_SSH_TIMEOUT_MS, &s, err)) < 0)
		goto out;
	/* the host's time when the command is sent: the SSH session is up */
	snprintf(cmd, sizeof(cmd), "%sdate -u -s @%lld >/dev/null",
		 strcmp(t.user, "root") == 0 ? "" : "sudo -n ", (long long)time(NULL));
	if ((rc = vmm_ssh_exec(s, cmd, NULL, &errout, &status, err)) < 0)
		goto out;
	if (status != 0)
		rc = vmm_error_set(err, VMM_E_SSH, 0,
				   "give the VM's SSH user passwordless sudo (the generated "
				   "cloud-config does)",
				   "`%s` in VM '%s' exited with status %d: %s", cmd, vm->name, status,
				   errout && *errout ? errout : "(no output)");
	else
		vmm_debug(MOD, "VM '%s': clock stepped to the host's", vm->name);
out:
	free(errout);
	vmm_ssh_free(s);
	vmm_ssh_target_release(&t);
	return rc;
}

int vmm_flow_start(struct vmm_ctx *ctx, const char *name, const struct vmm_start_opts *opts,
		   struct vmm_vm **out, enum vmm_start_result *result, struct vmm_error *err)
{
	enum vmm_start_result how = VMM_START_BOOTED;
	struct vmm_error clock_err;
	int rc;

	if ((rc = vmm_vm_start_ex(ctx, name, opts, out, &how, err)) < 0)
		return rc;
	if (result)
		*result = how;
	if (how == VMM_START_RESTORED && *out && (*out)->network.type != VMM_NET_NONE &&
	    vmm_flow_step_clock(ctx, *out, &clock_err) < 0)
		vmm_warn(MOD, "VM '%s' continues with its clock behind the host's: %s", name,
			 clock_err.message);
	return 0;
}

/* The provision steps of a VMFile entry, in the provisioner's terms. */
static struct vmm_provision_step *steps_of(const struct vmm_vmfile_vm *def)
{
	struct vmm_provision_step *steps = calloc(def->n_provisions + 1, sizeof(*steps));

	if (!steps)
		return NULL;
	for (size_t i = 0; i < def->n_provisions; i++) {
		const struct vmm_vmfile_provision *p = &def->provisions[i];

		if (p->kind == VMM_PROVISION_FILE) {
			steps[i].kind = VMM_PROVISION_STEP_FILE;
			steps[i].source = p->source.path;
			steps[i].destination = p->destination;
		} else if (p->inline_cmd) {
			steps[i].kind = VMM_PROVISION_STEP_INLINE;
			steps[i].inline_cmd = p->inline_cmd;
		} else {
			steps[i].kind = VMM_PROVISION_STEP_SCRIPT;
			steps[i].script = p->script.path;
		}
	}
	return steps;
}

/* Wait for SSH, then run the provisioners. */
static int provision_vm(struct vmm_ctx *ctx, const struct vmm_vm *vm,
			const struct vmm_vmfile_vm *def, const struct vmm_flow_events *ev,
			struct vmm_error *err)
{
	struct vmm_ssh_target t;
	struct vmm_ssh *s = NULL;
	struct vmm_provision_step *steps = NULL;
	struct phase ph;
	char *log_path = NULL, detail[64];
	int rc;

	/* "ssh" includes finding the guest's address: a libvirt guest's is
	 * its DHCP lease, which comes a while after the boot */
	phase_begin(&ph, ev, vm->name, "ssh");
	rc = vmm_flow_ssh_target(ctx, vm, NULL, def->ssh ? def->ssh->user : NULL,
				 def->ssh ? def->ssh->private_key.path : NULL, &t, err);
	if (rc < 0) {
		phase_end(&ph, false, NULL);
		return rc;
	}
	rc = ssh_connect_ev(vm, &t, VMM_FLOW_PROVISION_SSH_TIMEOUT_MS, ev, &s, err);
	snprintf(detail, sizeof(detail), "%s@%s:%u", t.user, t.host, t.port);
	phase_end(&ph, rc == 0, detail);
	if (rc < 0)
		goto out;
	steps = steps_of(def);
	log_path = vmmi_path_join(vm->work_dir, "provision.log");
	if (!steps || !log_path) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto out;
	}
	phase_begin(&ph, ev, vm->name, "provision");
	if (ev) {
		struct vmm_provision_callbacks cb = ev->provision;

		if (!cb.cancelled) {
			cb.cancelled = ev->cancelled;
			cb.cancel_userdata = ev->userdata;
		}
		rc = vmm_provision_run(s, steps, def->n_provisions, log_path, &cb, err);
	} else {
		rc = vmm_provision_run(s, steps, def->n_provisions, log_path, NULL, err);
	}
	snprintf(detail, sizeof(detail), "%zu step%s", def->n_provisions,
		 def->n_provisions == 1 ? "" : "s");
	phase_end(&ph, rc == 0, detail);
out:
	free(steps);
	free(log_path);
	vmm_ssh_free(s);
	vmm_ssh_target_release(&t);
	return rc;
}

/* The create input for a VMFile entry: the VMFile's spec, with the image
 * fetched and the files the VMFile names (user-data, SSH key) read here;
 * the caller frees ci's strings. */
static int spec_of(const struct vmm_vmfile_vm *def, const char *image_path,
		   struct vmm_vm_spec *spec, struct vmm_cloud_init *ci, struct vmm_error *err)
{
	int rc;

	vmm_vmfile_vm_spec(def, spec);
	memset(ci, 0, sizeof(*ci));
	spec->image_path = image_path;
	if (!def->cloud_init)
		return 0;
	spec->cloud_init = ci;
	ci->hostname = def->cloud_init->hostname ? strdup(def->cloud_init->hostname) : NULL;
	if (def->cloud_init->user_data.path &&
	    (rc = vmmi_read_file(def->cloud_init->user_data.path, &ci->user_data,
				 &ci->user_data_len, err)) < 0)
		return rc;
	/* every line a key libssh can parse, all of them authorized */
	if (def->cloud_init->ssh_key.path &&
	    (rc = vmm_pubkey_file_read(def->cloud_init->ssh_key.path, &ci->ssh_pubkey, err)) < 0)
		return rc;
	return 0;
}

static void cloud_init_release(struct vmm_cloud_init *ci)
{
	free(ci->user_data);
	free(ci->hostname);
	free(ci->ssh_pubkey);
	memset(ci, 0, sizeof(*ci));
}

/* The steps create reports, passed on as they end; "boot" is held back
 * until create returns, to be reported with the SSH port. */
struct create_phases {
	const struct vmm_flow_events *ev;
	bool created;      /* "create" was reported: a failure is the boot's */
	uint64_t boot_ms;
};

static void forward_phase(void *userdata, const char *vm, const char *phase,
			  uint64_t duration_ms)
{
	struct create_phases *cp = userdata;

	if (strcmp(phase, "boot") == 0) {
		cp->boot_ms = duration_ms;
		return;
	}
	if (strcmp(phase, "create") == 0)
		cp->created = true;
	if (cp->ev && cp->ev->phase_end)
		cp->ev->phase_end(cp->ev->userdata, vm, phase, true, duration_ms, NULL);
}

/* Fetch the image, create the VM and boot it: one write of vms.json for
 * "preparing", one for "running". *vm: the running VM's handle. Returns 1,
 * with nothing created, when ev->cancelled says to stop after the image. */
/* "SSH on 127.0.0.1:10022" for a VM with a forwarded port (static buffer). */
static const char *ssh_detail(const struct vmm_vm *vm)
{
	static __thread char detail[64];

	if (!vm->ssh_host_port)
		return NULL;
	snprintf(detail, sizeof(detail), "SSH on 127.0.0.1:%u", vm->ssh_host_port);
	return detail;
}

static int create_vm(struct vmm_ctx *ctx, const struct vmm_vmfile_vm *def,
		     const struct vmm_up_opts *opts, const struct vmm_flow_events *ev,
		     struct vmm_vm **vm, struct vmm_error *err)
{
	struct vmm_image_pull_opts po;
	struct vmm_create_opts co;
	struct create_phases cp = {ev, false, 0};
	struct vmm_cloud_init ci;
	struct vmm_vm_spec spec;
	struct phase ph;
	char *image = NULL;
	int rc;

	memset(&ci, 0, sizeof(ci));
	if (def->image.kind == VMM_IMAGE_URL) {
		vmm_image_pull_opts_init(&po);
		po.sha256 = def->image.sha256;
		po.progress = ev ? ev->image_progress : NULL;
		po.progress_data = ev ? ev->userdata : NULL;
		phase_begin(&ph, ev, def->name, "image");
		rc = vmm_image_fetch(vmm_ctx_paths(ctx), def->image.url, &po, &image, err);
		phase_end(&ph, rc == 0, image);
		if (rc < 0)
			return rc;
	} else if (!(image = strdup(def->image.local.path))) {
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	}
	if (cancelled(ev)) {
		rc = 1; /* asked to stop: nothing created */
		goto out;
	}
	if ((rc = spec_of(def, image, &spec, &ci, err)) < 0)
		goto out;
	vmm_create_opts_init(&co);
	co.backend = def->backend_set ? def->backend : opts->backend;
	co.start = true;
	co.phase = forward_phase;
	co.phase_userdata = &cp;
	phase_begin(&ph, ev, def->name, "create");
	rc = vmm_vm_create(ctx, &spec, &co, vm, err);
	if (rc == 0) {
		ph.name = "boot";
		ph.t0 = vmmi_now_ms() - cp.boot_ms;
		phase_end(&ph, true, ssh_detail(*vm));
	} else {
		if (cp.created)
			ph.name = "boot";
		phase_end(&ph, false, NULL);
	}
out:
	cloud_init_release(&ci);
	free(image);
	return rc;
}

/* Start the VM ("boot"; "restore" when it has a saved state). */
static int start_vm(struct vmm_ctx *ctx, const char *name, bool saved,
		    const struct vmm_flow_events *ev, struct vmm_vm **vm,
		    enum vmm_start_result *how, struct vmm_error *err)
{
	struct phase ph;
	int rc;

	phase_begin(&ph, ev, name, saved ? "restore" : "boot");
	rc = vmm_flow_start(ctx, name, NULL, vm, how, err);
	phase_end(&ph, rc == 0, rc == 0 ? ssh_detail(*vm) : NULL);
	return rc;
}

/* Provision a VM up has just brought up, unless asked to stop first; a
 * wait or a run stopped that way is VMM_UP_INTERRUPTED, not an error. */
static int up_provision(struct vmm_ctx *ctx, const struct vmm_vm *vm,
			const struct vmm_vmfile_vm *def, const struct vmm_flow_events *ev,
			enum vmm_up_result *result, struct vmm_error *err)
{
	int rc;

	if (cancelled(ev)) {
		*result = VMM_UP_INTERRUPTED;
		return 0;
	}
	rc = provision_vm(ctx, vm, def, ev, err);
	if (rc < 0 && err->sys_errno == EINTR && cancelled(ev)) {
		*result = VMM_UP_INTERRUPTED;
		return 0;
	}
	return rc;
}

int vmm_flow_up(struct vmm_ctx *ctx, const struct vmm_vmfile *vf,
		const struct vmm_vmfile_vm *def, const struct vmm_up_opts *opts,
		const struct vmm_flow_events *ev, enum vmm_up_result *result,
		struct vmm_error *err)
{
	struct vmm_up_opts defaults;
	struct vmm_vm *vm = NULL;
	struct vmm_error lookup_err;
	enum vmm_start_result how = VMM_START_BOOTED;
	bool saved = false;
	int rc;

	(void)vf;
	if (!opts) {
		vmm_up_opts_init(&defaults);
		opts = &defaults;
	}
	/* nothing to wait for: the provisioners could never reach it */
	if (opts->provision && def->n_provisions > 0 && def->network.type == VMM_NET_NONE)
		return vmm_error_set(err, VMM_E_PROVISION, 0,
				     "give the VM a network (`network \"user\"` or `network "
				     "\"tap\"`), or remove its provision blocks (or use "
				     "`--no-provision`)",
				     "VM '%s' has network \"none\": its %zu provisioner%s cannot "
				     "reach it over SSH",
				     def->name, def->n_provisions,
				     def->n_provisions == 1 ? "" : "s");
	rc = vmm_vm_lookup(ctx, def->name, &vm, &lookup_err);
	if (rc < 0 && lookup_err.code != VMM_E_VM_NOT_FOUND) {
		*err = lookup_err;
		return rc;
	}
	if (rc == 0) {
		switch (vm->state) {
		case VMM_STATE_RUNNING:
		case VMM_STATE_SUSPENDED:
			*result = VMM_UP_SKIPPED;
			vmm_vm_free(vm);
			return 0;
		case VMM_STATE_PREPARING:
			vmm_vm_free(vm);
			return vmm_error_set(err, VMM_E_INVALID_STATE, 0,
					     "an earlier create was interrupted: `vmctl destroy "
					     "NAME` (or `vmctl reload`) starts over",
					     "VM '%s' is still being created", def->name);
		default:
			saved = vm->state == VMM_STATE_SAVED;
			*result = VMM_UP_STARTED;
			break;
		}
		vmm_vm_free(vm);
		vm = NULL;
	} else {
		if ((rc = create_vm(ctx, def, opts, ev, &vm, err)) < 0)
			return rc;
		*result = rc == 1 ? VMM_UP_INTERRUPTED : VMM_UP_CREATED;
		if (rc == 1)
			return 0;
	}
	if (!vm && cancelled(ev)) {
		*result = VMM_UP_INTERRUPTED;
		return 0;
	}
	if (!vm && (rc = start_vm(ctx, def->name, saved, ev, &vm, &how, err)) < 0)
		return rc;
	/* A restored VM continues where it was: provisioned already. */
	if (how == VMM_START_RESTORED)
		*result = VMM_UP_RESTORED;
	else if (opts->provision && def->n_provisions > 0)
		rc = up_provision(ctx, vm, def, ev, result, err);
	vmm_vm_free(vm);
	return rc;
}

int vmm_flow_reload(struct vmm_ctx *ctx, const struct vmm_vmfile *vf,
		    const struct vmm_vmfile_vm *def, const struct vmm_up_opts *opts,
		    const struct vmm_flow_events *ev, enum vmm_up_result *result,
		    struct vmm_error *err)
{
	enum vmm_down_result down;
	uint64_t t0 = vmmi_now_ms();
	int rc;

	if ((rc = vmm_flow_down(ctx, def->name, true, &down, err)) < 0)
		return rc;
	if (down == VMM_DOWN_DESTROYED && ev && ev->phase_end)
		ev->phase_end(ev->userdata, def->name, "destroy", true, vmmi_now_ms() - t0, NULL);
	return vmm_flow_up(ctx, vf, def, opts, ev, result, err);
}

int vmm_flow_provision(struct vmm_ctx *ctx, const struct vmm_vmfile *vf,
		       const struct vmm_vmfile_vm *def, const struct vmm_flow_events *ev,
		       struct vmm_error *err)
{
	struct vmm_vm *vm = NULL;
	int rc;

	(void)vf;
	if (!def->ssh)
		return vmm_error_set(err, VMM_E_PROVISION, 0,
				     "add an ssh block (`ssh { user \"...\" }`) to the VM in the "
				     "VMFile",
				     "VM '%s' has no ssh block in the VMFile: vmctl cannot "
				     "reach it to provision",
				     def->name);
	if ((rc = vmm_vm_lookup(ctx, def->name, &vm, err)) < 0) {
		if (err->code == VMM_E_VM_NOT_FOUND)
			snprintf(err->hint, sizeof(err->hint),
				 "bring it up first with `vmctl up --name %s`", def->name);
		return rc;
	}
	if (vm->state != VMM_STATE_RUNNING) {
		rc = vmm_error_set(err, VMM_E_INVALID_STATE, 0,
				   "start it with `vmctl up` (which provisions it too)",
				   "cannot provision VM '%s': it is %s", def->name,
				   vmm_vm_state_name(vm->state));
		vmm_vm_free(vm);
		return rc;
	}
	rc = provision_vm(ctx, vm, def, ev, err);
	vmm_vm_free(vm);
	return rc;
}

int vmm_flow_down(struct vmm_ctx *ctx, const char *name, bool destroy,
		  enum vmm_down_result *result, struct vmm_error *err)
{
	return vmm_flow_down_ex(ctx, name, destroy ? VMM_DOWN_DESTROY : VMM_DOWN_STOP, result,
				err);
}

int vmm_flow_down_ex(struct vmm_ctx *ctx, const char *name, enum vmm_down_how how,
		     enum vmm_down_result *result, struct vmm_error *err)
{
	bool destroy = how == VMM_DOWN_DESTROY;
	struct vmm_vm *vm = NULL;
	struct vmm_error lookup_err;
	int rc;

	rc = vmm_vm_lookup(ctx, name, &vm, &lookup_err);
	if (rc < 0) {
		if (lookup_err.code == VMM_E_VM_NOT_FOUND) {
			*result = VMM_DOWN_ABSENT;
			return 0;
		}
		*err = lookup_err;
		return rc;
	}
	if (destroy) {
		vmm_vm_free(vm);
		if ((rc = vmm_vm_destroy(ctx, name, err)) < 0)
			return rc;
		*result = VMM_DOWN_DESTROYED;
		return 0;
	}
	if (vm->state != VMM_STATE_RUNNING && vm->state != VMM_STATE_SUSPENDED) {
		vmm_vm_free(vm);
		*result = VMM_DOWN_ALREADY_STOPPED;
		return 0;
	}
	vmm_vm_free(vm);
	if (how == VMM_DOWN_SAVE) {
		if ((rc = vmm_vm_save(ctx, name, NULL, err)) < 0)
			return rc;
		*result = VMM_DOWN_SAVED;
		return 0;
	}
	if ((rc = vmm_vm_stop(ctx, name, VMM_FLOW_DOWN_TIMEOUT_S, NULL, err)) < 0)
		return rc;
	*result = VMM_DOWN_STOPPED;
	return 0;
}
