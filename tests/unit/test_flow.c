/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: the declarative flow (lib/manager/flow.c) on the noop backend:
 * up creates, skips, restarts, stops at a step boundary when asked; down and
 * reload say what they did; provision
 * and ssh refuse with the right error and hint; an SSH target resolves user,
 * key and host-key pin the documented way. (Reaching a real guest is the
 * e2e suite's: tests/e2e/test_up.py.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/util.h"
#include "tmpdir.h"
#include "vmm/flow.h"
#include "vmm/keys.h"
#include "vmm/manager.h"
#include "vmm/vmfile.h"

struct fixture {
	char *dir;
	struct vmm_ctx *ctx;
	struct vmm_vmfile *vf;
	struct vmm_up_opts opts;
};

static const char VMFILE[] =
	"vm \"web\" {\n"
	"    image \"base.img\"\n"
	"    ssh { user \"alice\"; }\n"
	"    provision \"shell\" { inline \"true\"; }\n"
	"}\n"
	"vm \"bare\" {\n"
	"    image \"base.img\"\n"
	"}\n"
	"vm \"iso\" {\n"
	"    image \"base.img\"\n"
	"    network \"none\"\n"
	"    ssh { user \"alice\"; }\n"
	"    provision \"shell\" { inline \"true\"; }\n"
	"}\n";

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct vmm_error err;
	char *data, *img;
	FILE *fp;

	f->dir = mktmpdir_prefix("vmctl-test-flow");
	data = vmmi_path_join(f->dir, "data");
	img = vmmi_path_join(f->dir, "base.img");
	fp = fopen(img, "w");
	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(vmm_ctx_new_at(&f->ctx, data, &err), 0);
	assert_int_equal(vmm_vmfile_parse(VMFILE, sizeof(VMFILE) - 1, "VMFile.kdl", f->dir, 0,
					  &f->vf, NULL, &err),
			 0);
	vmm_up_opts_init(&f->opts);
	f->opts.backend = VMM_BACKEND_NOOP;
	f->opts.provision = false;
	free(data);
	free(img);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vmm_vmfile_free(f->vf);
	vmm_ctx_free(f->ctx);
	rmtree(f->dir);
	free(f);
	return 0;
}

/* Records the phases in order: "name," for each end. */
struct trail {
	char text[256];
};

static void on_end(void *ud, const char *vm, const char *phase, bool ok, uint64_t ms,
		   const char *detail)
{
	struct trail *t = ud;

	(void)vm;
	(void)ms;
	(void)detail;
	strncat(t->text, phase, sizeof(t->text) - strlen(t->text) - 3);
	strcat(t->text, ok ? "," : "!,");
}

static void test_up_creates_skips_restarts(void **state)
{
	struct fixture *f = *state;
	const struct vmm_vmfile_vm *bare = vmm_vmfile_find(f->vf, "bare");
	struct trail t = {""};
	struct vmm_flow_events ev = {.phase_end = on_end, .userdata = &t};
	enum vmm_up_result res;
	enum vmm_down_result down;
	struct vmm_error err;
	struct vmm_vm *vm;

	assert_non_null(bare);
	assert_int_equal(vmm_flow_up(f->ctx, f->vf, bare, &f->opts, &ev, &res, &err), 0);
	assert_int_equal(res, VMM_UP_CREATED);
	assert_string_equal(t.text, "create,boot,");
	assert_int_equal(vmm_vm_lookup(f->ctx, "bare", &vm, &err), 0);
	assert_int_equal(vm->state, VMM_STATE_RUNNING);
	vmm_vm_free(vm);
	/* running: skipped, nothing reported */
	t.text[0] = '\0';
	assert_int_equal(vmm_flow_up(f->ctx, f->vf, bare, &f->opts, &ev, &res, &err), 0);
	assert_int_equal(res, VMM_UP_SKIPPED);
	assert_string_equal(t.text, "");
	/* stopped: started again */
	assert_int_equal(vmm_flow_down(f->ctx, "bare", false, &down, &err), 0);
	assert_int_equal(down, VMM_DOWN_STOPPED);
	assert_int_equal(vmm_flow_down(f->ctx, "bare", false, &down, &err), 0);
	assert_int_equal(down, VMM_DOWN_ALREADY_STOPPED);
	assert_int_equal(vmm_flow_up(f->ctx, f->vf, bare, &f->opts, &ev, &res, &err), 0);
	assert_int_equal(res, VMM_UP_STARTED);
	assert_string_equal(t.text, "boot,");
	/* reload: destroyed, then created afresh (a new id) */
	assert_int_equal(vmm_vm_lookup(f->ctx, "bare", &vm, &err), 0);
	{
		char *old_id = strdup(vm->id);

		vmm_vm_free(vm);
		t.text[0] = '\0';
		assert_int_equal(vmm_flow_reload(f->ctx, f->vf, bare, &f->opts, &ev, &res, &err), 0);
		assert_int_equal(res, VMM_UP_CREATED);
		assert_string_equal(t.text, "destroy,create,boot,");
		assert_int_equal(vmm_vm_lookup(f->ctx, "bare", &vm, &err), 0);
		assert_string_not_equal(vm->id, old_id);
		vmm_vm_free(vm);
		free(old_id);
	}
	/* down --destroy, then nothing to do */
	assert_int_equal(vmm_flow_down(f->ctx, "bare", true, &down, &err), 0);
	assert_int_equal(down, VMM_DOWN_DESTROYED);
	assert_int_equal(vmm_flow_down(f->ctx, "bare", true, &down, &err), 0);
	assert_int_equal(down, VMM_DOWN_ABSENT);
	/* reload of an absent VM: no "destroy" */
	t.text[0] = '\0';
	assert_int_equal(vmm_flow_reload(f->ctx, f->vf, bare, &f->opts, &ev, &res, &err), 0);
	assert_string_equal(t.text, "create,boot,");
}

/* Asked to stop once the phase named in stop_after has ended. */
struct stopper {
	struct trail t;
	const char *stop_after;
	bool stop;
	unsigned asked;
};

static void stop_on_end(void *ud, const char *vm, const char *phase, bool ok, uint64_t ms,
			const char *detail)
{
	struct stopper *s = ud;

	on_end(&s->t, vm, phase, ok, ms, detail);
	if (s->stop_after && strcmp(phase, s->stop_after) == 0)
		s->stop = true;
}

static bool stop_asked(void *ud)
{
	struct stopper *s = ud;

	s->asked++;
	return s->stop;
}

static void test_up_stops_at_a_step_boundary(void **state)
{
	struct fixture *f = *state;
	const struct vmm_vmfile_vm *web = vmm_vmfile_find(f->vf, "web");
	const struct vmm_vmfile_vm *bare = vmm_vmfile_find(f->vf, "bare");
	struct stopper s = {{""}, NULL, true, 0};
	struct vmm_flow_events ev = {.phase_end = stop_on_end, .userdata = &s,
				     .cancelled = stop_asked};
	enum vmm_up_result res = VMM_UP_CREATED;
	enum vmm_down_result down;
	struct vmm_error err;
	struct vmm_vm *vm;

	/* asked before anything: nothing is created */
	assert_int_equal(vmm_flow_up(f->ctx, f->vf, bare, &f->opts, &ev, &res, &err), 0);
	assert_int_equal(res, VMM_UP_INTERRUPTED);
	assert_true(s.asked > 0);
	assert_string_equal(s.t.text, "");
	assert_int_equal(vmm_vm_lookup(f->ctx, "bare", &vm, &err), -VMM_E_VM_NOT_FOUND);
	/* asked once it booted: the create and boot went through, the VM runs,
	 * recorded; it is not provisioned */
	f->opts.provision = true;
	s = (struct stopper){{""}, "boot", false, 0};
	assert_int_equal(vmm_flow_up(f->ctx, f->vf, web, &f->opts, &ev, &res, &err), 0);
	assert_int_equal(res, VMM_UP_INTERRUPTED);
	assert_string_equal(s.t.text, "create,boot,");
	assert_int_equal(vmm_vm_lookup(f->ctx, "web", &vm, &err), 0);
	assert_int_equal(vm->state, VMM_STATE_RUNNING);
	vmm_vm_free(vm);
	/* a stopped VM asked to stop is not started */
	assert_int_equal(vmm_flow_down(f->ctx, "web", false, &down, &err), 0);
	s = (struct stopper){{""}, NULL, true, 0};
	assert_int_equal(vmm_flow_up(f->ctx, f->vf, web, &f->opts, &ev, &res, &err), 0);
	assert_int_equal(res, VMM_UP_INTERRUPTED);
	assert_int_equal(vmm_vm_lookup(f->ctx, "web", &vm, &err), 0);
	assert_int_equal(vm->state, VMM_STATE_STOPPED);
	vmm_vm_free(vm);
	/* never asked to stop: up goes on to provisioning (refused on noop) */
	s = (struct stopper){{""}, NULL, false, 0};
	assert_true(vmm_flow_up(f->ctx, f->vf, web, &f->opts, &ev, &res, &err) < 0);
	assert_int_equal(err.code, VMM_E_BACKEND);
	assert_true(s.asked > 0);
}

static void test_provision_refusals(void **state)
{
	struct fixture *f = *state;
	const struct vmm_vmfile_vm *web = vmm_vmfile_find(f->vf, "web");
	const struct vmm_vmfile_vm *bare = vmm_vmfile_find(f->vf, "bare");
	enum vmm_up_result res;
	enum vmm_down_result down;
	struct vmm_error err;

	/* no ssh block */
	assert_true(vmm_flow_provision(f->ctx, f->vf, bare, NULL, &err) < 0);
	assert_int_equal(err.code, VMM_E_PROVISION);
	assert_non_null(strstr(err.hint, "ssh block"));
	/* never created */
	assert_true(vmm_flow_provision(f->ctx, f->vf, web, NULL, &err) < 0);
	assert_int_equal(err.code, VMM_E_VM_NOT_FOUND);
	assert_string_equal(err.hint, "bring it up first with `vmctl up --name web`");
	/* stopped */
	assert_int_equal(vmm_flow_up(f->ctx, f->vf, web, &f->opts, NULL, &res, &err), 0);
	assert_int_equal(vmm_flow_down(f->ctx, "web", false, &down, &err), 0);
	assert_true(vmm_flow_provision(f->ctx, f->vf, web, NULL, &err) < 0);
	assert_int_equal(err.code, VMM_E_INVALID_STATE);
	assert_string_equal(err.message, "cannot provision VM 'web': it is stopped");
}

static void test_ssh_ready_refusals(void **state)
{
	struct fixture *f = *state;
	const struct vmm_vmfile_vm *web = vmm_vmfile_find(f->vf, "web");
	enum vmm_up_result res;
	enum vmm_down_result down;
	struct vmm_ssh_target t;
	struct vmm_error err;

	/* defined in the VMFile, never created */
	assert_true(vmm_flow_ssh_ready(f->ctx, "web", web, NULL, NULL, 1000, &t, &err) < 0);
	assert_int_equal(err.code, VMM_E_VM_NOT_FOUND);
	assert_non_null(strstr(err.hint, "`vmctl up --name web`"));
	assert_null(t.host);
	/* unknown anywhere: no such hint */
	assert_true(vmm_flow_ssh_ready(f->ctx, "zz", NULL, NULL, NULL, 1000, &t, &err) < 0);
	assert_int_equal(err.code, VMM_E_VM_NOT_FOUND);
	assert_null(strstr(err.hint, "VMFile defines"));
	/* stopped */
	assert_int_equal(vmm_flow_up(f->ctx, f->vf, web, &f->opts, NULL, &res, &err), 0);
	assert_int_equal(vmm_flow_down(f->ctx, "web", false, &down, &err), 0);
	assert_true(vmm_flow_ssh_ready(f->ctx, "web", web, NULL, NULL, 1000, &t, &err) < 0);
	assert_int_equal(err.code, VMM_E_INVALID_STATE);
	assert_string_equal(err.message, "cannot ssh into VM 'web': it is stopped");
	assert_string_equal(err.hint, "start it with `vmctl start web` (or `vmctl up`)");
	/* running on noop: there is no guest, and that is what it says */
	assert_int_equal(vmm_flow_up(f->ctx, f->vf, web, &f->opts, NULL, &res, &err), 0);
	assert_true(vmm_flow_ssh_ready(f->ctx, "web", web, NULL, NULL, 1000, &t, &err) < 0);
	assert_int_equal(err.code, VMM_E_BACKEND);
	assert_null(t.user);
}

/* The target: user from --user, else the VMFile, else the record; the host
 * key pinned from the public half vmctl generated. */
static void test_ssh_target_resolution(void **state)
{
	struct fixture *f = *state;
	struct vmm_vm vm;
	struct vmm_ssh_target t;
	struct vmm_error err;
	char *wd = vmmi_path_join(f->dir, "wd"), *pub, *kh = NULL, *key;
	const char *pubkey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIx9yU+Vt7bBP1W2vs0bzWyz35uE1y8"
			     "ZXbS0U6eU1MGg";

	memset(&vm, 0, sizeof(vm));
	vm.name = "t";
	vm.work_dir = wd;
	vm.backend = VMM_BACKEND_QEMU;
	vm.network.type = VMM_NET_USER;
	vm.ssh_host_port = 10123;
	vm.ssh_user = "recorded";
	assert_int_equal(vmmi_mkdir_p(wd, 0700, &err), 0);
	key = vmmi_path_join(wd, "id_ed25519_generated");
	assert_int_equal(vmmi_write_file_atomic(key, "k", 1, 0600, &err), 0);
	pub = vmmi_path_join(wd, VMM_HOST_KEY_PUB_NAME);
	assert_int_equal(vmmi_write_file_atomic(pub, pubkey, strlen(pubkey), 0600, &err), 0);

	assert_int_equal(vmm_flow_ssh_target(f->ctx, &vm, NULL, NULL, NULL, &t, &err), 0);
	assert_string_equal(t.host, "127.0.0.1");
	assert_int_equal(t.port, 10123);
	assert_string_equal(t.user, "recorded");
	assert_string_equal(t.key_path, key);
	assert_string_equal(t.host_alias, "vmctl-t");
	assert_int_equal(t.policy, VMM_SSH_HOSTKEY_PINNED);
	/* known_hosts written from the generated key, under the alias */
	assert_int_equal(vmmi_read_file(t.known_hosts, &kh, NULL, &err), 0);
	assert_non_null(strstr(kh, "vmctl-t ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIx9"));
	free(kh);
	vmm_ssh_target_release(&t);
	assert_int_equal(vmm_flow_ssh_target(f->ctx, &vm, NULL, "fromfile", NULL, &t, &err), 0);
	assert_string_equal(t.user, "fromfile");
	vmm_ssh_target_release(&t);
	assert_int_equal(vmm_flow_ssh_target(f->ctx, &vm, "given", "fromfile", NULL, &t, &err), 0);
	assert_string_equal(t.user, "given");
	vmm_ssh_target_release(&t);
	/* no generated host key: trust on first use */
	assert_int_equal(unlink(pub), 0);
	assert_int_equal(vmm_flow_ssh_target(f->ctx, &vm, NULL, NULL, NULL, &t, &err), 0);
	assert_int_equal(t.policy, VMM_SSH_HOSTKEY_TOFU);
	vmm_ssh_target_release(&t);
	/* no network, no forwarded port */
	vm.network.type = VMM_NET_NONE;
	assert_true(vmm_flow_ssh_target(f->ctx, &vm, NULL, NULL, NULL, &t, &err) < 0);
	assert_string_equal(err.message,
			    "VM 't' has network \"none\": nothing can reach it over SSH");
	assert_int_equal(err.code, VMM_E_SSH);
	assert_non_null(strstr(err.hint, "network \"user\""));
	vm.network.type = VMM_NET_USER;
	vm.ssh_host_port = 0;
	assert_true(vmm_flow_ssh_target(f->ctx, &vm, NULL, NULL, NULL, &t, &err) < 0);
	assert_string_equal(err.message, "VM 't' has no forwarded SSH port");
	assert_null(t.host);
	free(key);
	free(pub);
	free(wd);
}

/* network "none" with provisioners: up refuses before it creates anything;
 * without provisioning it just boots. */
static void test_up_none_fails_at_once(void **state)
{
	struct fixture *f = *state;
	const struct vmm_vmfile_vm *iso = vmm_vmfile_find(f->vf, "iso");
	enum vmm_up_result res;
	struct vmm_error err;
	uint64_t t0 = vmmi_now_ms();
	bool exists = true;

	assert_non_null(iso);
	f->opts.provision = true;
	assert_true(vmm_flow_up(f->ctx, f->vf, iso, &f->opts, NULL, &res, &err) < 0);
	assert_int_equal(err.code, VMM_E_PROVISION);
	assert_string_equal(err.message, "VM 'iso' has network \"none\": its 1 provisioner "
					 "cannot reach it over SSH");
	assert_non_null(strstr(err.hint, "--no-provision"));
	assert_true(vmmi_now_ms() - t0 < 1000);
	assert_int_equal(vmm_vm_exists(f->ctx, "iso", &exists, &err), 0);
	assert_false(exists);
	f->opts.provision = false;
	assert_int_equal(vmm_flow_up(f->ctx, f->vf, iso, &f->opts, NULL, &res, &err), 0);
	assert_int_equal(res, VMM_UP_CREATED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_up_creates_skips_restarts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_up_stops_at_a_step_boundary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_provision_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ssh_ready_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ssh_target_resolution, setup, teardown),
		cmocka_unit_test_setup_teardown(test_up_none_fails_at_once, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
