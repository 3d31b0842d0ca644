/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: the manager (lib/manager/manager.c, registry.c) on the noop
 * backend and, where it matters, the QEMU backend's checks before a start:
 * create/lifecycle/destroy, create-and-start, what a failure leaves, how
 * often vms.json is read and written, and that a change made by another
 * process is always seen.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/util.h"
#include "store/store.h"
#include "tmpdir.h"
#include "vmm/log.h"
#include "vmm/manager.h"
#include "vmm/vm.h"

struct fixture {
	char *dir;
	char data[256];
	char img[256];
	struct vmm_ctx *ctx;
};

/* Counts the store's "read" and "wrote" trace lines. */
static unsigned reads, writes;

static void count_store(enum vmm_log_level level, const char *module, const char *message,
			void *ud)
{
	(void)ud;
	(void)level;
	if (strcmp(module, "store") != 0)
		return;
	if (strncmp(message, "read ", 5) == 0)
		reads++;
	else if (strncmp(message, "wrote ", 6) == 0)
		writes++;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct vmm_error err;
	FILE *fp;

	f->dir = mktmpdir_prefix("vmctl-test-manager");
	snprintf(f->data, sizeof(f->data), "%s/data", f->dir);
	snprintf(f->img, sizeof(f->img), "%s/base.img", f->dir);
	fp = fopen(f->img, "w");
	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(vmm_ctx_new_at(&f->ctx, f->data, &err), 0);
	reads = writes = 0;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vmm_log_set_sink(NULL, NULL);
	vmm_ctx_free(f->ctx);
	rmtree(f->dir);
	free(f);
	return 0;
}

static void noop_opts(struct vmm_create_opts *o, bool start)
{
	vmm_create_opts_init(o);
	o->backend = VMM_BACKEND_NOOP;
	o->start = start;
}

static void spec_for(struct fixture *f, struct vmm_vm_spec *spec, const char *name)
{
	vmm_vm_spec_init(spec);
	spec->name = name;
	spec->image_path = f->img;
	spec->vcpus = 2;
}

/* create/lifecycle/destroy on the noop backend, nothing left behind. */
static void test_lifecycle(void **state)
{
	struct fixture *f = *state;
	struct vmm_create_opts o;
	struct vmm_error err;
	struct vmm_vm_spec spec;
	struct vmm_vm *vm = NULL, **vms;
	char vmdir[300];
	size_t n;
	bool exists;

	noop_opts(&o, false);
	spec_for(f, &spec, "m1");
	assert_int_equal(vmm_vm_create(f->ctx, &spec, &o, &vm, &err), 0);
	assert_int_equal(vm->state, VMM_STATE_PREPARED);
	assert_string_equal(vm->ssh_user, "vm");
	assert_int_equal(strlen(vm->id), 32);
	assert_int_equal(vm->ssh_host_port, 0); /* noop forwards no ports */
	snprintf(vmdir, sizeof(vmdir), "%s/vms/m1", f->data);
	assert_string_equal(vm->work_dir, vmdir);
	assert_int_equal(access(vmdir, F_OK), 0);
	vmm_vm_free(vm);
	/* duplicate: *out is NULL after a failure */
	vm = (struct vmm_vm *)&err;
	assert_true(vmm_vm_create(f->ctx, &spec, &o, &vm, &err) < 0);
	assert_int_equal(err.code, VMM_E_VM_EXISTS);
	assert_null(vm);
	/* invalid transitions carry the state */
	assert_true(vmm_vm_resume(f->ctx, "m1", NULL, &err) < 0);
	assert_int_equal(err.code, VMM_E_INVALID_STATE);
	assert_non_null(strstr(err.message, "prepared"));
	assert_int_equal(vmm_vm_start(f->ctx, "m1", NULL, &err), 0);
	assert_int_equal(vmm_vm_suspend(f->ctx, "m1", NULL, &err), 0);
	assert_int_equal(vmm_vm_lookup(f->ctx, "m1", &vm, &err), 0);
	assert_int_equal(vm->state, VMM_STATE_SUSPENDED);
	vmm_vm_free(vm);
	assert_int_equal(vmm_vm_resume(f->ctx, "m1", NULL, &err), 0);
	assert_int_equal(vmm_vm_stop(f->ctx, "m1", 1, NULL, &err), 0);
	assert_int_equal(vmm_vm_list(f->ctx, &vms, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(vms[0]->state, VMM_STATE_STOPPED);
	vmm_vm_list_free(vms, n);
	assert_int_equal(vmm_vm_destroy(f->ctx, "m1", &err), 0);
	assert_int_equal(access(vmdir, F_OK), -1);
	assert_int_equal(vmm_vm_exists(f->ctx, "m1", &exists, &err), 0);
	assert_false(exists);
	assert_true(vmm_vm_destroy(f->ctx, "m1", &err) < 0);
	assert_int_equal(err.code, VMM_E_VM_NOT_FOUND);
}

/* Bad specs fail before anything is registered or made. */
static void test_bad_specs_leave_nothing(void **state)
{
	struct fixture *f = *state;
	struct vmm_create_opts o;
	struct vmm_error err;
	struct vmm_vm_spec spec;
	char vmdir[300];
	bool exists;

	noop_opts(&o, true);
	spec_for(f, &spec, "bad/name");
	assert_true(vmm_vm_create(f->ctx, &spec, &o, NULL, &err) < 0);
	assert_int_equal(err.code, VMM_E_VM_INVALID_NAME);
	spec_for(f, &spec, "m2");
	spec.image_path = "/nonexistent/image.qcow2";
	assert_true(vmm_vm_create(f->ctx, &spec, &o, NULL, &err) < 0);
	assert_int_equal(err.code, VMM_E_IMAGE_NOT_FOUND);
	spec_for(f, &spec, "m2");
	spec.vcpus = 0;
	assert_true(vmm_vm_create(f->ctx, &spec, &o, NULL, &err) < 0);
	assert_int_equal(err.code, VMM_E_INVALID_CONFIG);
	assert_int_equal(vmm_vm_exists(f->ctx, "m2", &exists, &err), 0);
	assert_false(exists);
	snprintf(vmdir, sizeof(vmdir), "%s/vms/m2", f->data);
	assert_int_equal(access(vmdir, F_OK), -1);
}

/*
 * Create with start: the VM is running, and vms.json was written twice
 * ("preparing", then "running": no "prepared" in between) and read at most
 * once (the context keeps what it wrote).
 */
static void test_create_and_start_store_passes(void **state)
{
	struct fixture *f = *state;
	struct vmm_create_opts o;
	struct vmm_error err;
	struct vmm_vm_spec spec;
	struct vmm_vm *vm = NULL;

	noop_opts(&o, true);
	spec_for(f, &spec, "s1");
	vmm_log_configure("store=trace");
	vmm_log_set_sink(count_store, NULL);
	assert_int_equal(vmm_vm_create(f->ctx, &spec, &o, &vm, &err), 0);
	vmm_log_set_sink(NULL, NULL);
	vmm_log_configure(NULL);
	assert_int_equal(vm->state, VMM_STATE_RUNNING);
	assert_int_equal(writes, 2);
	assert_true(reads <= 1);
	vmm_vm_free(vm);
	assert_int_equal(vmm_vm_lookup(f->ctx, "s1", &vm, &err), 0);
	assert_int_equal(vm->state, VMM_STATE_RUNNING);
	vmm_vm_free(vm);
}

/* Write vms.json as another process would: its own store, saved by rename. */
static void other_process_sets_vcpus(struct fixture *f, const char *name, unsigned vcpus)
{
	char path[300];
	struct vmmi_store st;
	struct vmm_error err;
	struct vmm_vm *vm;

	snprintf(path, sizeof(path), "%s/vms.json", f->data);
	assert_int_equal(vmmi_store_load(path, &st, &err), 0);
	vm = vmmi_store_find(&st, name);
	assert_non_null(vm);
	vm->vcpus = vcpus;
	assert_int_equal(vmmi_store_save(path, &st, &err), 0);
	vmmi_store_release(&st);
}

/* The context's copy of vms.json is never taken for the file once another
 * process has replaced it: every change is seen, none is lost. */
static void test_changes_by_others_are_seen(void **state)
{
	struct fixture *f = *state;
	struct vmm_create_opts o;
	struct vmm_error err;
	struct vmm_vm_spec spec;
	struct vmm_vm *vm = NULL;

	noop_opts(&o, false);
	spec_for(f, &spec, "c1");
	assert_int_equal(vmm_vm_create(f->ctx, &spec, &o, NULL, &err), 0);
	for (unsigned i = 3; i < 40; i++) {
		other_process_sets_vcpus(f, "c1", i);
		assert_int_equal(vmm_vm_lookup(f->ctx, "c1", &vm, &err), 0);
		assert_int_equal(vm->vcpus, i);
		vmm_vm_free(vm);
	}
	/* a write of ours after the other's keeps the other's change */
	other_process_sets_vcpus(f, "c1", 7);
	assert_int_equal(vmm_vm_start(f->ctx, "c1", NULL, &err), 0);
	assert_int_equal(vmm_vm_lookup(f->ctx, "c1", &vm, &err), 0);
	assert_int_equal(vm->vcpus, 7);
	assert_int_equal(vm->state, VMM_STATE_RUNNING);
	vmm_vm_free(vm);
	/* another context (process) sees our write */
	{
		struct vmm_ctx *other;

		assert_int_equal(vmm_ctx_new_at(&other, f->data, &err), 0);
		assert_int_equal(vmm_vm_stop(f->ctx, "c1", 1, NULL, &err), 0);
		assert_int_equal(vmm_vm_lookup(other, "c1", &vm, &err), 0);
		assert_int_equal(vm->state, VMM_STATE_STOPPED);
		vmm_vm_free(vm);
		vmm_ctx_free(other);
	}
	/* a removed vms.json is an empty registry again */
	{
		char path[300];
		bool exists = true;

		snprintf(path, sizeof(path), "%s/vms.json", f->data);
		assert_int_equal(unlink(path), 0);
		assert_int_equal(vmm_vm_exists(f->ctx, "c1", &exists, &err), 0);
		assert_false(exists);
	}
}

/* A start whose settings are wrong (VMCTL_ACCEL) fails before the VM is
 * touched: it stays as it was, not "failed". */
static void test_bad_accel_rejected_before_start(void **state)
{
	struct fixture *f = *state;
	struct vmm_create_opts o;
	struct vmm_error err;
	struct vmm_vm_spec spec;
	struct vmm_vm *vm = NULL;
	char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", f->img, "64M", NULL};
	char *out = NULL, *errout = NULL;
	int status;

	assert_int_equal(vmmi_run(argv, &out, &errout, &status, &err), 0);
	assert_int_equal(status, 0);
	free(out);
	free(errout);
	vmm_create_opts_init(&o);
	o.backend = VMM_BACKEND_QEMU;
	spec_for(f, &spec, "q1");
	spec.network.type = VMM_NET_NONE;
	assert_int_equal(vmm_vm_create(f->ctx, &spec, &o, NULL, &err), 0);
	setenv("VMCTL_ACCEL", "foo", 1);
	assert_true(vmm_vm_start(f->ctx, "q1", NULL, &err) < 0);
	assert_int_equal(err.code, VMM_E_INVALID_CONFIG);
	assert_non_null(strstr(err.message, "VMCTL_ACCEL"));
	/* create --start too: nothing is registered */
	o.start = true;
	spec_for(f, &spec, "q2");
	spec.network.type = VMM_NET_NONE;
	assert_true(vmm_vm_create(f->ctx, &spec, &o, NULL, &err) < 0);
	assert_int_equal(err.code, VMM_E_INVALID_CONFIG);
	unsetenv("VMCTL_ACCEL");
	assert_int_equal(vmm_vm_lookup(f->ctx, "q1", &vm, &err), 0);
	assert_int_equal(vm->state, VMM_STATE_PREPARED);
	vmm_vm_free(vm);
	assert_true(vmm_vm_lookup(f->ctx, "q2", &vm, &err) < 0);
	assert_int_equal(err.code, VMM_E_VM_NOT_FOUND);
	assert_int_equal(vmm_vm_destroy(f->ctx, "q1", &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_specs_leave_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_and_start_store_passes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changes_by_others_are_seen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_accel_rejected_before_start, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
