/* SPDX-License-Identifier: MIT */
/*
 * The QEMU backend's saved state and snapshots.
 *
 * Saved state: the paused VM is migrated to a file in its work directory
 * (QMP `migrate` to "exec:", written to saved.state.tmp, fsync'd, renamed),
 * then QEMU quits. saved.json beside it records what must match to restore
 * it: the QEMU binary (path, size, mtime), vCPUs, memory, the argument
 * vector (devices, machine, accelerator; the forwarded port left out) and
 * the size of the state file. A start checks all of it before QEMU runs,
 * then starts QEMU with `-incoming defer`, `migrate-incoming` from the
 * file, and `cont`. The state is consumed by the restore: the disk moves on
 * from there.
 *
 * Snapshots are internal qcow2 snapshots of the overlay (never the seed
 * CD): QMP snapshot-save / snapshot-load / snapshot-delete jobs while QEMU
 * runs (disk and RAM), `qemu-img snapshot` when it does not (disk only).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "backends/backend.h"
#include "backends/qemu/qemu.h"
#include "backends/qemu/qmp.h"
#include "core/util.h"
#include "vmm/log.h"

#define MOD "qemu"

/* Format of saved.json. */
#define META_VERSION 1
/* Bounds: writing or reading the state, waiting for the writer to finish,
 * a snapshot job. */
#define MIGRATE_TIMEOUT_MS 600000
#define WRITER_TIMEOUT_MS 60000
#define JOB_TIMEOUT_MS 600000
/* Migration to a file is not throttled (QEMU's default is 32 MiB/s). */
#define MIGRATE_BANDWIDTH (1LL << 40)

static int oom(struct vmm_error *err)
{
	return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
}

/* s in single quotes for /bin/sh (malloc'd). */
static char *shell_quote(const char *s)
{
	struct vmmi_buf b;

	vmmi_buf_init(&b);
	vmmi_buf_append(&b, "'", 1);
	for (; *s; s++) {
		if (*s == '\'')
			vmmi_buf_append(&b, "'\\''", 4);
		else
			vmmi_buf_append(&b, s, 1);
	}
	if (vmmi_buf_append(&b, "'", 1) < 0) {
		vmmi_buf_release(&b);
		return NULL;
	}
	return vmmi_buf_steal(&b);
}

/* ---- what a saved state must match ---------------------------------------- */

/* The QEMU binary as a path: $VMCTL_QEMU or qemu-system-x86_64 looked up in
 * $PATH, resolved (malloc'd; NULL if not found). */
static char *qemu_binary_path(void)
{
	const char *bin = vmmi_qemu_binary();
	const char *path = getenv("PATH");
	char *dirs, *save = NULL;

	if (strchr(bin, '/'))
		return realpath(bin, NULL);
	if (!path || !(dirs = strdup(path)))
		return NULL;
	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		char *cand = vmmi_path_join(*d ? d : ".", bin);

		if (cand && access(cand, X_OK) == 0) {
			char *real = realpath(cand, NULL);

			free(cand);
			free(dirs);
			return real;
		}
		free(cand);
	}
	free(dirs);
	return NULL;
}

/* QEMU's arguments for vm, joined, without the forwarded ports (which a
 * start may change) and without what a restore adds. */
static char *args_fingerprint(const struct vmm_vm *vm, int *rc, struct vmm_error *err)
{
	struct vmm_vm tmp = *vm; /* shallow: only read */
	enum vmmi_accel accel;
	struct vmmi_buf b;
	char **argv = NULL;

	if ((*rc = vmmi_qemu_accel(&accel, err)) < 0)
		return NULL;
	if (tmp.network.type == VMM_NET_USER)
		tmp.ssh_host_port = 1;
	tmp.n_forwards = 0; /* a start may move them too */
	if ((*rc = vmmi_qemu_build_args(&tmp, "qemu", accel, &argv, err)) < 0)
		return NULL;
	vmmi_buf_init(&b);
	for (char **a = argv + 1; *a; a++)
		vmmi_buf_printf(&b, "%s%s", a == argv + 1 ? "" : " ", *a);
	vmmi_qemu_args_free(argv);
	if (!b.data)
		*rc = oom(err);
	return vmmi_buf_steal(&b);
}

/* The metadata of a state of vm about to be saved (*out: new reference). */
static int meta_build(const struct vmm_vm *vm, json_t **out, struct vmm_error *err)
{
	char *bin = qemu_binary_path(), *args = NULL;
	char now[VMMI_RFC3339_LEN];
	struct stat st;
	json_t *m = NULL;
	int rc = -(int)VMM_E_NOMEM;

	if (!bin || stat(bin, &st) < 0) {
		rc = vmm_error_errno(err, VMM_E_QEMU_SPAWN,
				     "check that QEMU is installed (or $VMCTL_QEMU)",
				     "cannot find the QEMU binary '%s'", vmmi_qemu_binary());
		goto out;
	}
	if (!(args = args_fingerprint(vm, &rc, err)))
		goto out;
	vmmi_rfc3339_now(now, false);
	m = json_pack("{s:i, s:s, s:{s:s, s:I, s:I}, s:i, s:I, s:s}", "version", META_VERSION,
		      "saved_at", now, "qemu", "path", bin, "size", (json_int_t)st.st_size,
		      "mtime", (json_int_t)st.st_mtime, "vcpus", (int)vm->vcpus, "memory_mb",
		      (json_int_t)vm->memory_mb, "args", args);
	if (!m)
		rc = oom(err);
	else
		rc = 0;
out:
	free(bin);
	free(args);
	*out = m;
	return rc;
}

int vmmi_qemu_saved_fits(struct vmm_ctx *ctx, const struct vmm_vm *vm, char *why, size_t n)
{
	char *state = vmmi_qemu_wd_file(vm, VMMI_QEMU_SAVED_STATE);
	char *meta_path = vmmi_qemu_wd_file(vm, VMMI_QEMU_SAVED_META);
	char *data = NULL, *bin = NULL, *args = NULL;
	const char *m_bin = NULL, *m_args = NULL;
	json_int_t version = 0, m_size = -1, m_mtime = -1, m_state = -1, m_mem = -1;
	int m_vcpus = -1, fits = 0;
	struct vmm_error e;
	json_t *m = NULL;
	struct stat st;
	size_t len;
	int rc;

	(void)ctx;
	if (!state || !meta_path) {
		snprintf(why, n, "out of memory");
		goto out;
	}
	if (stat(state, &st) < 0) {
		snprintf(why, n, "the state file %s is missing: %s", state, strerror(errno));
		goto out;
	}
	if (vmmi_read_file(meta_path, &data, &len, NULL) < 0 ||
	    !(m = json_loadb(data, len, 0, NULL)) ||
	    json_unpack(m, "{s:I, s:{s:s, s:I, s:I}, s:i, s:I, s:s, s:I}", "version", &version,
			"qemu", "path", &m_bin, "size", &m_size, "mtime", &m_mtime, "vcpus",
			&m_vcpus, "memory_mb", &m_mem, "args", &m_args, "state_size",
			&m_state) < 0) {
		snprintf(why, n, "its description %s is missing or unreadable", meta_path);
		goto out;
	}
	if (version != META_VERSION) {
		snprintf(why, n, "it was written in format %lld, this vmctl reads %d",
			 (long long)version, META_VERSION);
		goto out;
	}
	if ((json_int_t)st.st_size != m_state) {
		snprintf(why, n, "the state file is %lld bytes, %lld were written: it is truncated "
				 "or damaged",
			 (long long)st.st_size, (long long)m_state);
		goto out;
	}
	if ((unsigned)m_vcpus != vm->vcpus) {
		snprintf(why, n, "it was saved with %d vCPUs, the VM now has %u", m_vcpus, vm->vcpus);
		goto out;
	}
	if ((uint64_t)m_mem != vm->memory_mb) {
		snprintf(why, n, "it was saved with %lld MB of memory, the VM now has %llu MB",
			 (long long)m_mem, (unsigned long long)vm->memory_mb);
		goto out;
	}
	bin = qemu_binary_path();
	if (!bin || strcmp(bin, m_bin) != 0 || stat(bin, &st) < 0 ||
	    (json_int_t)st.st_size != m_size || (json_int_t)st.st_mtime != m_mtime) {
		snprintf(why, n, "the QEMU binary changed since it was saved (%s, now %s)", m_bin,
			 bin ? bin : "not found");
		goto out;
	}
	vmm_error_clear(&e);
	if (!(args = args_fingerprint(vm, &rc, &e))) {
		snprintf(why, n, "%s", e.message);
		goto out;
	}
	if (strcmp(args, m_args) != 0) {
		snprintf(why, n, "the VM's devices or settings changed since it was saved");
		vmm_debug(MOD, "VM '%s': saved with '%s', now '%s'", vm->name, m_args, args);
		goto out;
	}
	fits = 1;
out:
	json_decref(m);
	free(data);
	free(bin);
	free(args);
	free(state);
	free(meta_path);
	return fits;
}

void vmmi_qemu_saved_discard(struct vmm_ctx *ctx, const struct vmm_vm *vm)
{
	static const char *const names[] = {VMMI_QEMU_SAVED_META, VMMI_QEMU_SAVED_STATE,
					    VMMI_QEMU_SAVED_STATE ".tmp",
					    VMMI_QEMU_SAVED_STATE ".written"};

	(void)ctx;
	if (!vm->work_dir)
		return;
	for (size_t i = 0; i < VMMI_ARRAY_SIZE(names); i++) {
		char *p = vmmi_qemu_wd_file(vm, names[i]);

		if (p && unlink(p) == 0)
			vmm_debug(MOD, "VM '%s': removed %s", vm->name, p);
		free(p);
	}
}

/* ---- migration ------------------------------------------------------------ */

/* Poll query-migrate until it completes (0) or fails (error with QEMU's
 * reason). */
static int wait_migration(struct vmmi_qmp *q, const struct vmm_vm *vm, const char *what,
			  struct vmm_error *err)
{
	uint64_t deadline = vmmi_now_ms() + MIGRATE_TIMEOUT_MS;

	for (;;) {
		json_t *ret = NULL;
		const char *status = NULL, *desc = NULL;
		int rc = vmmi_qmp_execute(q, "query-migrate", NULL, &ret, err);

		if (rc < 0)
			return rc;
		json_unpack(ret, "{s?s, s?s}", "status", &status, "error-desc", &desc);
		if (status && strcmp(status, "completed") == 0) {
			json_decref(ret);
			return 0;
		}
		if (status && (strcmp(status, "failed") == 0 || strcmp(status, "cancelled") == 0)) {
			rc = vmm_error_set(err, VMM_E_QMP_COMMAND, 0,
					   "see qemu.log in the VM's work directory",
					   "%s the state of VM '%s' failed: %s", what, vm->name,
					   desc ? desc : status);
			json_decref(ret);
			return rc;
		}
		json_decref(ret);
		if (vmmi_now_ms() >= deadline)
			return vmm_error_set(err, VMM_E_QMP_COMMAND, 0, NULL,
					     "%s the state of VM '%s' did not finish within %d s",
					     what, vm->name, MIGRATE_TIMEOUT_MS / 1000);
		vmmi_sleep_ms(20);
	}
}

int vmmi_qemu_save(struct vmm_ctx *ctx, struct vmm_vm *vm, struct vmm_error *err)
{
	char *state = vmmi_qemu_wd_file(vm, VMMI_QEMU_SAVED_STATE);
	char *meta_path = vmmi_qemu_wd_file(vm, VMMI_QEMU_SAVED_META);
	char *tmp = vmmi_asprintf("%s.tmp", state ? state : "");
	char *written = vmmi_asprintf("%s.written", state ? state : "");
	char *qtmp = NULL, *qwritten = NULL, *uri = NULL, *text = NULL;
	struct vmmi_qmp *q = NULL;
	json_t *meta = NULL;
	bool paused = false;
	struct stat st;
	int rc;

	if (!state || !meta_path || !tmp || !written || !(qtmp = shell_quote(tmp)) ||
	    !(qwritten = shell_quote(written))) {
		rc = oom(err);
		goto out;
	}
	vmmi_qemu_adopt(vm);
	if (!vmmi_qemu_alive(vm)) {
		rc = vmm_error_set(err, VMM_E_INVALID_STATE, 0, "start it with `vmctl start NAME`",
				   "VM '%s' is not running (its QEMU process is gone)", vm->name);
		goto out;
	}
	if ((rc = meta_build(vm, &meta, err)) < 0)
		goto out;
	vmmi_qemu_saved_discard(ctx, vm);
	/* The guest's memory is as private as its disk: 0600 before a byte is
	 * written (dd keeps the mode of the file it truncates). */
	{
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		if (fd < 0) {
			rc = vmm_error_errno(err, VMM_E_IO, NULL, "cannot create '%s'", tmp);
			goto out;
		}
		close(fd);
	}
	/* dd fsyncs what it wrote before it exits; the rename tells that it
	 * has, as QEMU does not wait for its exec: child. */
	if (!(uri = vmmi_asprintf("exec:dd of=%s bs=1M conv=fsync status=none && mv -f %s %s",
				  qtmp, qtmp, qwritten))) {
		rc = oom(err);
		goto out;
	}
	if ((rc = vmmi_qmp_connect(vm->qmp_socket, 5000, &q, err)) < 0)
		goto out;
	/* Paused, nothing changes while it is written: one pass, no downtime
	 * to converge on. */
	if ((rc = vmmi_qmp_execute(q, "stop", NULL, NULL, err)) < 0)
		goto out;
	paused = true;
	{
		json_t *a = json_pack("{s:I}", "max-bandwidth", (json_int_t)MIGRATE_BANDWIDTH);

		rc = vmmi_qmp_execute(q, "migrate-set-parameters", a, NULL, err);
		json_decref(a);
		if (rc < 0)
			goto out;
	}
	{
		json_t *a = json_pack("{s:s}", "uri", uri);

		rc = vmmi_qmp_execute(q, "migrate", a, NULL, err);
		json_decref(a);
		if (rc < 0)
			goto out;
	}
	if ((rc = wait_migration(q, vm, "saving", err)) < 0)
		goto out;
	{
		uint64_t deadline = vmmi_now_ms() + WRITER_TIMEOUT_MS;

		while (access(written, F_OK) < 0) {
			if (vmmi_now_ms() >= deadline) {
				rc = vmm_error_set(err, VMM_E_IO, 0,
						   "check the free space in the VM's work directory",
						   "the state of VM '%s' was sent but not written to "
						   "'%s' within %d s",
						   vm->name, tmp, WRITER_TIMEOUT_MS / 1000);
				goto out;
			}
			vmmi_sleep_ms(10);
		}
	}
	if (stat(written, &st) < 0 || st.st_size == 0) {
		rc = vmm_error_errno(err, VMM_E_IO, NULL, "the state of VM '%s' is empty", vm->name);
		goto out;
	}
	if (rename(written, state) < 0) {
		rc = vmm_error_errno(err, VMM_E_IO, NULL, "cannot rename '%s'", written);
		goto out;
	}
	if ((rc = vmmi_fsync_parent(state, err)) < 0)
		goto out;
	/* The description last: a state without it is never restored. */
	json_object_set_new(meta, "state_size", json_integer((json_int_t)st.st_size));
	if (!(text = json_dumps(meta, JSON_SORT_KEYS | JSON_INDENT(2)))) {
		rc = oom(err);
		goto out;
	}
	if ((rc = vmmi_write_file_atomic(meta_path, text, strlen(text), 0600, err)) < 0)
		goto out;
	vmm_info(MOD, "VM '%s': state saved (%lld bytes)", vm->name, (long long)st.st_size);
	/* QEMU may close the socket before it answers quit. */
	vmmi_qmp_execute(q, "quit", NULL, NULL, NULL);
	vmmi_qmp_close(q);
	q = NULL;
	paused = false;
	rc = vmmi_qemu_reap(vm, 10000, err);
out:
	if (rc < 0) {
		/* The VM goes on as it was; no state of this attempt is kept. */
		if (paused && q)
			vmmi_qmp_execute(q, "cont", NULL, NULL, NULL);
		if (tmp)
			unlink(tmp);
		if (written)
			unlink(written);
		if (meta_path && access(meta_path, F_OK) < 0 && state)
			unlink(state);
	}
	vmmi_qmp_close(q);
	json_decref(meta);
	free(text);
	free(uri);
	free(qtmp);
	free(qwritten);
	free(tmp);
	free(written);
	free(state);
	free(meta_path);
	return rc;
}

/* Continue the vCPUs if they do not run. */
static int ensure_running(struct vmmi_qmp *q, struct vmm_error *err)
{
	char *status = NULL;
	bool running = false;
	int rc = vmmi_qmp_query_status(q, &status, &running, err);

	free(status);
	if (rc == 0 && !running)
		rc = vmmi_qmp_execute(q, "cont", NULL, NULL, err);
	return rc;
}

int vmmi_qemu_restore(struct vmm_ctx *ctx, struct vmm_vm *vm,
		      const struct vmmi_ports_taken *taken, struct vmm_error *err)
{
	static const char *const incoming[] = {"-incoming", "defer", NULL};
	char *state = vmmi_qemu_wd_file(vm, VMMI_QEMU_SAVED_STATE), *qstate = NULL, *uri = NULL;
	struct vmmi_qmp *q = NULL;
	uint64_t t0 = vmmi_now_ms();
	int rc;

	if (!state || !(qstate = shell_quote(state)) ||
	    !(uri = vmmi_asprintf("exec:cat %s", qstate))) {
		rc = oom(err);
		goto out;
	}
	if ((rc = vmmi_qemu_start_with(ctx, vm, taken, incoming, err)) < 0)
		goto out;
	if ((rc = vmmi_qmp_connect(vm->qmp_socket, 5000, &q, err)) < 0)
		goto fail;
	{
		json_t *a = json_pack("{s:s}", "uri", uri);

		rc = vmmi_qmp_execute(q, "migrate-incoming", a, NULL, err);
		json_decref(a);
		if (rc < 0)
			goto fail;
	}
	if ((rc = wait_migration(q, vm, "restoring", err)) < 0 || (rc = ensure_running(q, err)) < 0)
		goto fail;
	/* Consumed: from here on the disk moves on without it. */
	vmmi_qemu_saved_discard(ctx, vm);
	vmm_info(MOD, "VM '%s': restored its saved state in %llu ms", vm->name,
		 (unsigned long long)(vmmi_now_ms() - t0));
	goto out;
fail:
	vmmi_qmp_close(q);
	q = NULL;
	vmmi_qemu_reap(vm, 0, NULL);
out:
	vmmi_qmp_close(q);
	free(uri);
	free(qstate);
	free(state);
	return rc;
}

/* ---- snapshots -------------------------------------------------------------- */

/* The block node of the VM's disk (the overlay), as QEMU named it. */
static int disk_node(struct vmmi_qmp *q, char **node, struct vmm_error *err)
{
	json_t *ret = NULL, *dev;
	size_t i;
	int rc;

	*node = NULL;
	if ((rc = vmmi_qmp_execute(q, "query-block", NULL, &ret, err)) < 0)
		return rc;
	json_array_foreach(ret, i, dev) {
		const char *name = NULL, *nn = NULL;

		if (json_unpack(dev, "{s:s, s:{s:s}}", "device", &name, "inserted", "node-name",
				&nn) == 0 &&
		    strcmp(name, "disk0") == 0) {
			*node = strdup(nn);
			break;
		}
	}
	json_decref(ret);
	if (!*node)
		return vmm_error_set(err, VMM_E_QMP_COMMAND, 0, NULL,
				     "QEMU reports no disk \"disk0\"");
	return 0;
}

/* Run a snapshot job (command with args; the job id is added) to its end. */
static int run_job(struct vmmi_qmp *q, const struct vmm_vm *vm, const char *command, json_t *args,
		   struct vmm_error *err)
{
	char id[64];
	uint64_t deadline = vmmi_now_ms() + JOB_TIMEOUT_MS;
	int rc;

	snprintf(id, sizeof(id), "vmctl-%s-%ld", command, (long)getpid());
	json_object_set_new(args, "job-id", json_string(id));
	if ((rc = vmmi_qmp_execute(q, command, args, NULL, err)) < 0)
		return rc;
	for (;;) {
		json_t *jobs = NULL, *job;
		const char *status = NULL, *error = NULL;
		size_t i;

		if ((rc = vmmi_qmp_execute(q, "query-jobs", NULL, &jobs, err)) < 0)
			return rc;
		json_array_foreach(jobs, i, job) {
			const char *jid = NULL;

			if (json_unpack(job, "{s:s, s:s, s?s}", "id", &jid, "status", &status,
					"error", &error) == 0 &&
			    strcmp(jid, id) == 0)
				break;
			status = error = NULL;
		}
		if (status && strcmp(status, "concluded") == 0) {
			char *msg = error ? strdup(error) : NULL;
			json_t *a = json_pack("{s:s}", "id", id);

			json_decref(jobs);
			vmmi_qmp_execute(q, "job-dismiss", a, NULL, NULL);
			json_decref(a);
			if (!error)
				return 0;
			rc = vmm_error_set(err, VMM_E_QMP_COMMAND, 0, NULL, "%s of VM '%s' failed: %s",
					   command, vm->name, msg ? msg : "");
			free(msg);
			return rc;
		}
		json_decref(jobs);
		if (!status)
			return vmm_error_set(err, VMM_E_QMP_COMMAND, 0, NULL,
					     "QEMU lost the %s job of VM '%s'", command, vm->name);
		if (vmmi_now_ms() >= deadline)
			return vmm_error_set(err, VMM_E_QMP_COMMAND, 0, NULL,
					     "%s of VM '%s' did not finish within %d s", command,
					     vm->name, JOB_TIMEOUT_MS / 1000);
		vmmi_sleep_ms(20);
	}
}

/* A snapshot job on the running VM's disk: create (save), load or delete. */
static int live_job(struct vmm_vm *vm, const char *command, const char *tag, bool with_vmstate,
		    struct vmm_error *err)
{
	struct vmmi_qmp *q = NULL;
	char *node = NULL;
	json_t *args = NULL;
	int rc;

	vmmi_qemu_adopt(vm);
	if (!vmmi_qemu_alive(vm))
		return vmm_error_set(err, VMM_E_INVALID_STATE, 0, "start it with `vmctl start NAME`",
				     "VM '%s' is not running (its QEMU process is gone)", vm->name);
	if ((rc = vmmi_qmp_connect(vm->qmp_socket, 5000, &q, err)) < 0)
		return rc;
	if ((rc = disk_node(q, &node, err)) < 0)
		goto out;
	args = with_vmstate ? json_pack("{s:s, s:s, s:[s]}", "tag", tag, "vmstate", node, "devices",
					node)
			    : json_pack("{s:s, s:[s]}", "tag", tag, "devices", node);
	if (!args) {
		rc = oom(err);
		goto out;
	}
	if ((rc = run_job(q, vm, command, args, err)) < 0)
		goto out;
	/* A paused VM stays paused; a running one runs on. */
	if (strcmp(command, "snapshot-load") == 0 && vm->state != VMM_STATE_SUSPENDED)
		rc = ensure_running(q, err);
out:
	json_decref(args);
	free(node);
	vmmi_qmp_close(q);
	return rc;
}

/* qemu-img snapshot FLAG TAG on the stopped VM's overlay. */
static int offline(const struct vmm_vm *vm, const char *flag, const char *tag,
		   struct vmm_error *err)
{
	char *argv[] = {"qemu-img", "snapshot", (char *)flag, (char *)tag, vm->overlay_path, NULL};
	char *errout = NULL;
	int status, rc;

	if (!vm->overlay_path)
		return vmm_error_set(err, VMM_E_INVALID_STATE, 0, "destroy and recreate the VM",
				     "VM '%s' has no disk recorded", vm->name);
	if ((rc = vmmi_run(argv, NULL, &errout, &status, err)) < 0)
		return rc;
	if (status != 0) {
		while (errout && *errout && errout[strlen(errout) - 1] == '\n')
			errout[strlen(errout) - 1] = '\0';
		rc = vmm_error_set(err, VMM_E_IO, 0, "check the VM's disk with `qemu-img check`",
				   "qemu-img snapshot %s '%s' on VM '%s' failed: %s", flag, tag,
				   vm->name, errout && *errout ? errout : "(no output)");
	}
	free(errout);
	return rc;
}

int vmmi_qemu_snapshot_create(struct vmm_ctx *ctx, struct vmm_vm *vm, const char *tag, bool live,
			      struct vmm_error *err)
{
	(void)ctx;
	return live ? live_job(vm, "snapshot-save", tag, true, err) : offline(vm, "-c", tag, err);
}

int vmmi_qemu_snapshot_delete(struct vmm_ctx *ctx, struct vmm_vm *vm, const char *tag, bool live,
			      struct vmm_error *err)
{
	(void)ctx;
	return live ? live_job(vm, "snapshot-delete", tag, false, err)
		    : offline(vm, "-d", tag, err);
}

int vmmi_qemu_snapshot_restore(struct vmm_ctx *ctx, struct vmm_vm *vm, const char *tag, bool live,
			       const struct vmmi_ports_taken *taken, bool *started,
			       struct vmm_error *err)
{
	struct vmm_snapshot *snaps = NULL;
	size_t n = 0;
	bool ram = false;
	int rc;

	*started = false;
	if (live)
		return live_job(vm, "snapshot-load", tag, true, err);
	if ((rc = vmmi_qemu_snapshot_list(ctx, vm, &snaps, &n, err)) < 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		if (strcmp(snaps[i].tag, tag) == 0)
			ram = snaps[i].ram;
	vmm_snapshot_list_free(snaps, n);
	if (!ram)
		return offline(vm, "-a", tag, err);
	/* RAM too: QEMU starts from that moment. */
	{
		const char *const loadvm[] = {"-loadvm", tag, NULL};

		if ((rc = vmmi_qemu_start_with(ctx, vm, taken, loadvm, err)) < 0)
			return rc;
	}
	*started = true;
	return 0;
}

int vmmi_qemu_snapshot_list(struct vmm_ctx *ctx, const struct vmm_vm *vm,
			    struct vmm_snapshot **out, size_t *n, struct vmm_error *err)
{
	char *argv[] = {"qemu-img", "info", "--output=json", "-U", vm->overlay_path, NULL};
	char *text = NULL, *errout = NULL;
	json_t *info = NULL, *list, *s;
	int status, rc;
	size_t i;

	(void)ctx;
	*out = NULL;
	*n = 0;
	if (!vm->overlay_path)
		return vmm_error_set(err, VMM_E_INVALID_STATE, 0, "destroy and recreate the VM",
				     "VM '%s' has no disk recorded", vm->name);
	if ((rc = vmmi_run(argv, &text, &errout, &status, err)) < 0)
		return rc;
	if (status != 0 || !(info = json_loads(text, 0, NULL))) {
		rc = vmm_error_set(err, VMM_E_IO, 0, "check the VM's disk with `qemu-img check`",
				   "cannot read the snapshots of VM '%s' (%s): %s", vm->name,
				   vm->overlay_path, errout && *errout ? errout : "no output");
		goto out;
	}
	list = json_object_get(info, "snapshots");
	if (!json_is_array(list) || json_array_size(list) == 0)
		goto out;
	if (!(*out = calloc(json_array_size(list), sizeof(**out)))) {
		rc = oom(err);
		goto out;
	}
	json_array_foreach(list, i, s) {
		const char *name = NULL;
		json_int_t vmsize = 0, sec = 0;
		struct vmm_snapshot *sn = &(*out)[*n];
		char date[32];
		struct tm tm;
		time_t t;

		if (json_unpack(s, "{s:s, s?I, s?I}", "name", &name, "vm-state-size", &vmsize,
				"date-sec", &sec) < 0)
			continue;
		t = (time_t)sec;
		gmtime_r(&t, &tm);
		strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
		sn->tag = strdup(name);
		sn->date = strdup(date);
		sn->vm_state_size = vmsize > 0 ? (uint64_t)vmsize : 0;
		sn->ram = vmsize > 0;
		(*n)++;
		if (!sn->tag || !sn->date) {
			rc = oom(err);
			goto out;
		}
	}
out:
	if (rc < 0) {
		vmm_snapshot_list_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	json_decref(info);
	free(text);
	free(errout);
	return rc;
}
