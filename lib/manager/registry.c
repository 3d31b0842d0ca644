/* SPDX-License-Identifier: MIT */
/*
 * The manager's read side: the context, and the recorded VMs with their
 * live state (vmm_vm_lookup, vmm_vm_list) and the guest's address
 * (vmm_vm_guest_ip).
 *
 * Apart from manager.c, whose operations reach every part of the backends,
 * so that a program that only reads (vmctl list, status, log) links the
 * store, QMP and the backends' state operations, and none of libcurl,
 * libssh, libisofs or libcrypto: loading those costs more than listing a
 * thousand VMs.
 */
#include "vmm/manager.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/backend.h"
#include "store/store.h"
#include "core/util.h"
#include "vmm/log.h"

#define MOD "manager"

int vmmi_backend_unavailable(enum vmm_backend_tag tag, struct vmm_error *err)
{
	return vmm_error_set(err, VMM_E_BACKEND, 0, NULL,
			     "the %s backend is not available in this build or on this platform",
			     vmm_backend_name(tag));
}

typedef int (*vmmi_state_op)(struct vmm_ctx *ctx, const struct vmm_vm *vm,
			     enum vmm_vm_state *out, struct vmm_error *err);

/* The state operation of a backend, without the rest of its table. */
static vmmi_state_op state_op(enum vmm_backend_tag tag)
{
#define STATE(t, state, ip, ops)                                                             \
	if (tag == (t))                                                                    \
		return (state);
	VMMI_BACKENDS(STATE)
#undef STATE
	return NULL;
}

typedef int (*vmmi_guest_ip_op)(struct vmm_ctx *ctx, const struct vmm_vm *vm, char **ip,
				struct vmm_error *err);

/* The guest_ip operation of a backend, light too (`vmctl status` shows it). */
static vmmi_guest_ip_op guest_ip_op(enum vmm_backend_tag tag)
{
#define IP(t, state, ip, ops)                                                              \
	if (tag == (t))                                                                    \
		return (ip);
	VMMI_BACKENDS(IP)
#undef IP
	return NULL;
}

int vmm_vm_guest_ip(struct vmm_ctx *ctx, const struct vmm_vm *vm, char **ip,
		    struct vmm_error *err)
{
	vmmi_guest_ip_op op = guest_ip_op(vm->backend);

	*ip = NULL;
	if (!op)
		return vmmi_backend_unavailable(vm->backend, err);
	return op(ctx, vm, ip, err);
}

int vmm_ctx_new_at(struct vmm_ctx **out, const char *data_dir, struct vmm_error *err)
{
	struct vmm_ctx *ctx = calloc(1, sizeof(*ctx));
	int rc;

	if (!ctx)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	rc = data_dir ? vmm_paths_init_at(&ctx->paths, data_dir, err)
		      : vmm_paths_init(&ctx->paths, err);
	if (rc == 0)
		rc = vmm_paths_ensure(&ctx->paths, err);
	if (rc < 0) {
		vmm_ctx_free(ctx);
		return rc;
	}
	ctx->store_fd = -1;
	*out = ctx;
	return 0;
}

int vmm_ctx_new(struct vmm_ctx **out, struct vmm_error *err)
{
	return vmm_ctx_new_at(out, NULL, err);
}

void vmm_ctx_free(struct vmm_ctx *ctx)
{
	if (!ctx)
		return;
	vmmi_ctx_store_forget(ctx);
	vmm_paths_release(&ctx->paths);
	free(ctx);
}

const struct vmm_paths *vmm_ctx_paths(const struct vmm_ctx *ctx)
{
	return &ctx->paths;
}

void vmmi_phase(const struct vmmi_phases *ph, const char *vm, const char *phase,
		uint64_t start_ms)
{
	if (ph && ph->fn)
		ph->fn(ph->userdata, vm, phase, vmmi_now_ms() - start_ms);
}

/* ---- the store as this context knows it ---------------------------------- */

void vmmi_ctx_store_forget(struct vmm_ctx *ctx)
{
	if (ctx->store_cached)
		vmmi_store_release(&ctx->store);
	if (ctx->store_fd >= 0)
		close(ctx->store_fd);
	ctx->store_fd = -1;
	ctx->store_cached = false;
}

/*
 * Whether vms.json is still the file the cached store came from. Every
 * writer replaces the file by rename and never writes it in place, so the
 * same inode means the same content; the cache holds that file open, so its
 * inode cannot be freed and handed to another file while we compare.
 */
static bool store_cache_valid(const struct vmm_ctx *ctx)
{
	struct stat now, held;

	if (!ctx->store_cached)
		return false;
	if (stat(ctx->paths.store_path, &now) < 0)
		return errno == ENOENT && ctx->store_fd < 0;
	if (ctx->store_fd < 0 || fstat(ctx->store_fd, &held) < 0)
		return false;
	return now.st_dev == held.st_dev && now.st_ino == held.st_ino && held.st_nlink > 0;
}

/* Hold vms.json open as it is now (-1 if there is none). Opened before the
 * content is read, so the cache can only ever be older than the file, and an
 * older cache fails store_cache_valid(). */
static int open_store_file(const struct vmm_ctx *ctx)
{
	return open(ctx->paths.store_path, O_RDONLY | O_CLOEXEC);
}

int vmmi_ctx_store(struct vmm_ctx *ctx, struct vmmi_store **out, struct vmm_error *err)
{
	int fd, rc;

	if (store_cache_valid(ctx)) {
		vmm_trace(MOD, "%s unchanged since it was last read or written",
			  ctx->paths.store_path);
		*out = &ctx->store;
		return 0;
	}
	vmmi_ctx_store_forget(ctx);
	fd = open_store_file(ctx);
	if ((rc = vmmi_store_load(ctx->paths.store_path, &ctx->store, err)) < 0) {
		if (fd >= 0)
			close(fd);
		*out = NULL;
		return rc;
	}
	ctx->store_fd = fd;
	ctx->store_cached = true;
	*out = &ctx->store;
	return 0;
}

void vmmi_ctx_store_saved(struct vmm_ctx *ctx)
{
	/* the caller holds the store lock: the file now there is the one it wrote */
	if (ctx->store_fd >= 0)
		close(ctx->store_fd);
	ctx->store_fd = open_store_file(ctx);
	if (ctx->store_fd < 0)
		vmmi_ctx_store_forget(ctx);
}

enum vmm_backend_tag vmm_default_backend(void)
{
#ifdef __illumos__
	return VMM_BACKEND_PROPOLIS;
#else
	return VMM_BACKEND_QEMU;
#endif
}

/* Read one VM's recorded handle (no lock needed: writes are atomic). */
int vmmi_vm_recorded(struct vmm_ctx *ctx, const char *name, struct vmm_vm **out,
		     struct vmm_error *err)
{
	struct vmmi_store *st;
	struct vmm_vm *vm;
	int rc;

	*out = NULL;
	if ((rc = vmmi_ctx_store(ctx, &st, err)) < 0)
		return rc;
	vm = vmmi_store_find(st, name);
	if (!vm)
		return vmm_error_set(err, VMM_E_VM_NOT_FOUND, 0, NULL, "no VM named '%s'", name);
	*out = vmm_vm_dup(vm);
	return *out ? 0 : vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
}

/* The live state of a recorded VM, from its backend. */
int vmmi_vm_live_state(struct vmm_ctx *ctx, struct vmm_vm *vm, struct vmm_error *err)
{
	vmmi_state_op state;
	enum vmm_vm_state s = vm->state;
	int rc;

	/* Preparing/failed/prepared are facts of the record, not of a process. */
	if (vm->state == VMM_STATE_PREPARING || vm->state == VMM_STATE_PREPARED)
		return 0;
	if (!(state = state_op(vm->backend)))
		return vmmi_backend_unavailable(vm->backend, err);
	rc = state(ctx, vm, &s, err);
	if (rc < 0)
		return rc;
	if (s != vm->state) {
		vmm_debug(MOD, "VM '%s': recorded %s, live %s", vm->name,
			  vmm_vm_state_name(vm->state), vmm_vm_state_name(s));
		vm->state = s;
		if (s == VMM_STATE_STOPPED) {
			vm->pid = 0;
			vm->pid_starttime = 0;
		}
	}
	return 0;
}

int vmm_vm_lookup(struct vmm_ctx *ctx, const char *name, struct vmm_vm **out,
		  struct vmm_error *err)
{
	struct vmm_vm *vm;
	int rc;

	if ((rc = vmm_vm_name_validate(name, err)) < 0)
		return rc;
	if ((rc = vmmi_vm_recorded(ctx, name, &vm, err)) < 0)
		return rc;
	if ((rc = vmmi_vm_live_state(ctx, vm, err)) < 0) {
		vmm_vm_free(vm);
		return rc;
	}
	*out = vm;
	return 0;
}

int vmm_vm_exists(struct vmm_ctx *ctx, const char *name, bool *exists, struct vmm_error *err)
{
	struct vmmi_store *st;
	int rc;

	*exists = false;
	if ((rc = vmmi_ctx_store(ctx, &st, err)) < 0)
		return rc;
	*exists = vmmi_store_find(st, name) != NULL;
	return 0;
}

/* ---- live states of VMs on other hosts, asked in parallel ----------------- */

/* How long `list` waits for the hosts of remote VMs before it shows their
 * VMs as unknown. */
#define HOST_TIMEOUT_MS 5000

/* The VMs of one host, asked by one thread (one connection per host). The
 * job belongs to both the thread and the lister (refs); a thread that
 * outlives the wait finishes on its own copies and frees the job. */
struct host_wait;

struct host_job {
	struct host_wait *w;
	int refs;
	bool done, started;
	pthread_t thread;
	const char *uri;       /* the host's, in the lister's store */
	struct vmm_vm **vms;   /* copies */
	size_t *index;         /* their places in the store */
	size_t n;
	enum vmm_vm_state *states;
	char (*errors)[VMM_ERROR_MSG_MAX]; /* "" when the state was read */
};

struct host_wait {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	size_t running;
	int refs; /* the lister and every job's thread */
};

static void job_free(struct host_job *j)
{
	vmm_vm_list_free(j->vms, j->n);
	free(j->index);
	free(j->states);
	free(j->errors);
	free(j);
}

/* Drop one reference to j and w (with w's lock held, released here). */
static void job_put(struct host_wait *w, struct host_job *j)
{
	bool free_job = --j->refs == 0, free_wait = --w->refs == 0;

	pthread_mutex_unlock(&w->lock);
	if (free_job)
		job_free(j);
	if (free_wait) {
		pthread_mutex_destroy(&w->lock);
		pthread_cond_destroy(&w->cond);
		free(w);
	}
}

static void *host_states(void *arg)
{
	struct host_job *j = arg;
	struct host_wait *w = j->w;

	for (size_t i = 0; i < j->n; i++) {
		vmmi_state_op state = state_op(j->vms[i]->backend);
		struct vmm_error e;

		j->states[i] = j->vms[i]->state;
		/* no context: the lister may be gone by the time a slow host
		 * answers (a remote backend's state needs none) */
		if (state && state(NULL, j->vms[i], &j->states[i], &e) < 0) {
			snprintf(j->errors[i], sizeof(j->errors[i]), "%s", e.message);
			j->states[i] = VMM_STATE_UNKNOWN;
		}
	}
	pthread_mutex_lock(&w->lock);
	j->done = true;
	w->running--;
	pthread_cond_broadcast(&w->cond);
	job_put(w, j);
	return NULL;
}

/* Whether a VM's state is asked of another host (in parallel, bounded). */
static bool on_remote_host(const struct vmm_vm *vm)
{
	return vm->backend == VMM_BACKEND_LIBVIRT && vm->uri &&
	       vm->state != VMM_STATE_PREPARING && vm->state != VMM_STATE_PREPARED;
}

/* Apply the live state s to vm, as vmmi_vm_live_state does. */
static void set_live(struct vmm_vm *vm, enum vmm_vm_state s)
{
	if (s == vm->state)
		return;
	vm->state = s;
	if (s == VMM_STATE_STOPPED) {
		vm->pid = 0;
		vm->pid_starttime = 0;
	}
}

/*
 * The states of the store's VMs on remote hosts: one thread per host, all
 * at once, waited for up to HOST_TIMEOUT_MS; a host that has not answered
 * by then leaves its VMs "unknown" (with a warning), never a hung list.
 */
static void remote_states(struct vmmi_store *st)
{
	struct host_job **jobs;
	struct host_wait *w;
	size_t njobs = 0, nremote = 0;
	struct timespec until;

	for (size_t i = 0; i < st->n; i++)
		nremote += on_remote_host(st->vms[i]);
	if (nremote == 0)
		return;
	jobs = calloc(st->n + 1, sizeof(*jobs));
	w = calloc(1, sizeof(*w));
	if (!jobs || !w) {
		free(jobs);
		free(w);
		for (size_t i = 0; i < st->n; i++)
			if (on_remote_host(st->vms[i]))
				st->vms[i]->state = VMM_STATE_UNKNOWN;
		return;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->refs = 1;
	/* one job per URI, with its VMs */
	for (size_t i = 0; i < st->n; i++) {
		struct host_job *j = NULL;

		if (!on_remote_host(st->vms[i]))
			continue;
		for (size_t k = 0; k < njobs && !j; k++)
			if (strcmp(jobs[k]->uri, st->vms[i]->uri) == 0)
				j = jobs[k];
		if (!j) {
			if (!(j = calloc(1, sizeof(*j))) ||
			    !(j->vms = calloc(st->n, sizeof(*j->vms))) ||
			    !(j->index = calloc(st->n, sizeof(*j->index))) ||
			    !(j->states = calloc(st->n, sizeof(*j->states))) ||
			    !(j->errors = calloc(st->n, sizeof(*j->errors)))) {
				if (j)
					job_free(j);
				st->vms[i]->state = VMM_STATE_UNKNOWN;
				continue;
			}
			j->w = w;
			j->refs = 1;
			j->uri = st->vms[i]->uri; /* the store outlives the wait */
			jobs[njobs++] = j;
		}
		if (!(j->vms[j->n] = vmm_vm_dup(st->vms[i]))) {
			st->vms[i]->state = VMM_STATE_UNKNOWN;
			continue;
		}
		j->index[j->n++] = i;
	}
	pthread_mutex_lock(&w->lock);
	for (size_t k = 0; k < njobs; k++) {
		jobs[k]->refs++;
		w->refs++;
		w->running++;
		if (jobs[k]->n > 0 &&
		    pthread_create(&jobs[k]->thread, NULL, host_states, jobs[k]) == 0) {
			jobs[k]->started = true;
			continue;
		}
		jobs[k]->refs--;
		w->refs--;
		w->running--;
		for (size_t i = 0; i < jobs[k]->n; i++)
			jobs[k]->states[i] = VMM_STATE_UNKNOWN;
		jobs[k]->done = true;
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += HOST_TIMEOUT_MS / 1000;
	until.tv_nsec += (HOST_TIMEOUT_MS % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (w->running > 0)
		if (pthread_cond_timedwait(&w->cond, &w->lock, &until) == ETIMEDOUT)
			break;
	for (size_t k = 0; k < njobs; k++) {
		struct host_job *j = jobs[k];

		for (size_t i = 0; i < j->n; i++) {
			struct vmm_vm *vm = st->vms[j->index[i]];

			if (!j->done) {
				vm->state = VMM_STATE_UNKNOWN;
				continue;
			}
			if (j->errors[i][0])
				vmm_warn(MOD, "VM '%s': %s", vm->name, j->errors[i]);
			set_live(vm, j->states[i]);
		}
		if (!j->done)
			vmm_warn(MOD, "%s did not answer within %u s: its VMs are shown as unknown",
				 j->uri, HOST_TIMEOUT_MS / 1000);
	}
	/* the lister's references: to each job, then to w. A thread that is
	 * done is joined, so that it has ended (its thread state freed) when
	 * the caller goes on; one that is not goes on alone and frees its job */
	for (size_t k = 0; k < njobs; k++) {
		struct host_job *j = jobs[k];

		if (j->started && j->done)
			continue; /* joined below */
		if (j->started)
			pthread_detach(j->thread);
		jobs[k] = NULL;
		if (--j->refs == 0)
			job_free(j);
	}
	pthread_mutex_unlock(&w->lock);
	for (size_t k = 0; k < njobs; k++) {
		if (!jobs[k])
			continue;
		pthread_join(jobs[k]->thread, NULL);
		job_free(jobs[k]); /* the thread has dropped its reference */
	}
	free(jobs);
	pthread_mutex_lock(&w->lock);
	if (--w->refs == 0) {
		pthread_mutex_unlock(&w->lock);
		pthread_mutex_destroy(&w->lock);
		pthread_cond_destroy(&w->cond);
		free(w);
	} else {
		pthread_mutex_unlock(&w->lock);
	}
}

int vmm_vm_list(struct vmm_ctx *ctx, struct vmm_vm ***out, size_t *n, struct vmm_error *err)
{
	struct vmmi_store st;
	int rc;

	if ((rc = vmmi_store_load(ctx->paths.store_path, &st, err)) < 0)
		return rc;
	remote_states(&st);
	for (size_t i = 0; i < st.n; i++) {
		struct vmm_error e;

		if (st.vms[i]->backend == VMM_BACKEND_LIBVIRT)
			continue; /* asked above */
		/* One VM whose state cannot be read does not hide the others. */
		if (vmmi_vm_live_state(ctx, st.vms[i], &e) < 0)
			vmm_warn(MOD, "VM '%s': %s", st.vms[i]->name, e.message);
	}
	*out = st.vms; /* already sorted by name */
	*n = st.n;
	st.vms = NULL;
	st.n = 0;
	vmmi_store_release(&st);
	return 0;
}
