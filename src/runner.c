/* SPDX-License-Identifier: MIT */
/*
 * The declarative commands over many VMs (runner.h). The main thread
 * schedules: a VM starts when the VMs it waits for are done and fewer than
 * -j run; its worker thread has its own library context, so the workers
 * share nothing but vms.json and its locks. Output goes through one lock:
 * each line is written whole, in one write(2), prefixed "[name] ".
 *
 * Stopping (Ctrl-C, SIGTERM, --fail-fast after a failure): no VM is started
 * any more, and those under way stop at their next step boundary (see
 * vmm_flow_events.cancelled): a download, create, start, stop or provision
 * step under way finishes first, so no VM is left half made and no QEMU
 * unrecorded. A second signal says what is still being waited for; a
 * third has its default action (the way out of a long download).
 */
#include "runner.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "progress.h"
#include "vmm/log.h"

enum job_state {
	JOB_WAITING = 0,
	JOB_RUNNING,
	JOB_OK,
	JOB_FAILED,
	JOB_INTERRUPTED, /* stopped at a step boundary */
	JOB_SKIPPED,     /* a VM it waits for did not succeed */
	JOB_NOT_STARTED, /* stopped before it started */
};

static const char *const state_word[] = {
	[JOB_WAITING] = "waiting",     [JOB_RUNNING] = "running",
	[JOB_OK] = "done",             [JOB_FAILED] = "failed",
	[JOB_INTERRUPTED] = "interrupted", [JOB_SKIPPED] = "skipped",
	[JOB_NOT_STARTED] = "not started",
};

struct linebuf {
	char *data;
	size_t len, cap;
};

struct runner;

struct job {
	struct runner *r;
	const struct vmm_vmfile_vm *def;
	size_t *after; /* the jobs this one waits for */
	size_t n_after;
	enum job_state state;
	char result[300]; /* for the summary */
	uint64_t t0, ms;
	pthread_t thread;
	bool started;
	struct linebuf line[3];       /* partial output lines, by fd (1, 2) */
	struct cli_progress progress; /* one VM: the download bar */
	int last_tenth;               /* several: the last 10 % printed */
};

struct runner {
	const struct cli_run *run;
	struct job *jobs;
	size_t n;
	bool plain; /* one VM: the one-VM output */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t running;
	char stop_reason[160]; /* why nothing more starts ("" while all goes on) */
};

static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static volatile sig_atomic_t signals_seen;
static atomic_bool stop_now; /* stop at the next step boundary */
static __thread struct job *cur_job; /* the worker's VM, for the log sink */

/* ---- output ------------------------------------------------------------ */

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

/* "[name] text\n" in one write, under the output lock. */
static void put_line(int fd, const char *name, const char *text, size_t len)
{
	size_t nl = strlen(name);
	char *buf = malloc(nl + len + 4);

	if (!buf)
		return;
	buf[0] = '[';
	memcpy(buf + 1, name, nl);
	memcpy(buf + 1 + nl, "] ", 2);
	memcpy(buf + 3 + nl, text, len);
	buf[3 + nl + len] = '\n';
	pthread_mutex_lock(&out_mu);
	write_all(fd, buf, nl + len + 4);
	pthread_mutex_unlock(&out_mu);
	free(buf);
}

/* The complete lines buffered for fd (all of it, as lines, if flush). */
static void drain(struct job *j, int fd, bool flush)
{
	struct linebuf *b = &j->line[fd];
	size_t start = 0;

	while (start < b->len) {
		char *nl = memchr(b->data + start, '\n', b->len - start);
		size_t end = nl ? (size_t)(nl - b->data) : b->len;

		if (!nl && !flush)
			break;
		put_line(fd, j->def->name, b->data + start, end - start);
		start = nl ? end + 1 : end;
	}
	if (start) {
		memmove(b->data, b->data + start, b->len - start);
		b->len -= start;
	}
}

static void flush_lines(struct job *j)
{
	drain(j, STDOUT_FILENO, true);
	drain(j, STDERR_FILENO, true);
}

/*
 * Output of a VM. One VM: as the one-VM commands always printed it, with
 * "[name] " before a tagged line (phases, results), provisioner output as
 * it comes. Several: every line prefixed, written when whole.
 */
static void emit(struct job *j, int fd, bool tagged, const char *data, size_t len)
{
	struct linebuf *b = &j->line[fd];

	if (j->r->plain) {
		FILE *f = fd == STDERR_FILENO ? stderr : stdout;

		if (f == stderr)
			fflush(stdout);
		if (tagged)
			fprintf(f, "[%s] ", j->def->name);
		fwrite(data, 1, len, f);
		fflush(f);
		return;
	}
	if (b->len + len + 1 > b->cap) {
		size_t cap = (b->len + len + 1) * 2;
		char *p = realloc(b->data, cap);

		if (!p)
			return;
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	drain(j, fd, false);
}

static void emitf(struct job *j, int fd, bool tagged, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void emitf(struct job *j, int fd, bool tagged, const char *fmt, ...)
{
	char *text = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n >= 0)
		emit(j, fd, tagged, text, (size_t)n);
	free(text);
}

static void emit_error(struct job *j, const struct vmm_error *err)
{
	if (j->r->plain) {
		cli_progress_finish(&j->progress);
		cli_error(err);
		return;
	}
	flush_lines(j);
	emitf(j, STDERR_FILENO, true, "error[%s]: %s\n", vmm_errcode_name(err->code),
	      err->message[0] ? err->message : "unknown error");
	if (err->hint[0])
		emitf(j, STDERR_FILENO, true, "help: %s\n", err->hint);
}

/* The library's log lines: a worker's warnings carry its VM. */
static void log_sink(enum vmm_log_level level, const char *module, const char *message,
		     void *userdata)
{
	struct job *j = cur_job;
	char *text = NULL;
	int n;

	(void)userdata;
	if (level == VMM_LOG_WARN)
		n = asprintf(&text, "warning: %s", message);
	else
		n = asprintf(&text, "%s %s: %s", vmm_log_level_name(level), module, message);
	if (n < 0)
		return;
	if (j && !j->r->plain && level == VMM_LOG_WARN) {
		put_line(STDERR_FILENO, j->def->name, text, (size_t)n);
	} else {
		text[n] = '\n';
		pthread_mutex_lock(&out_mu);
		fflush(stdout);
		write_all(STDERR_FILENO, text, (size_t)n + 1);
		pthread_mutex_unlock(&out_mu);
	}
	free(text);
}

/* ---- flow events ------------------------------------------------------- */

static void ev_phase_begin(void *ud, const char *vm, const char *phase)
{
	struct job *j = ud;

	(void)vm;
	if (j->r->plain)
		cli_progress_finish(&j->progress);
	if (strcmp(phase, "ssh") == 0)
		emitf(j, STDOUT_FILENO, true, "waiting for SSH...\n");
	else if (strcmp(phase, "image") == 0)
		emitf(j, STDOUT_FILENO, true, "fetching image...\n");
}

static void ev_phase_end(void *ud, const char *vm, const char *phase, bool ok, uint64_t ms,
			 const char *detail)
{
	struct job *j = ud;

	(void)vm;
	if (j->r->plain)
		cli_progress_finish(&j->progress);
	if (strcmp(phase, "destroy") == 0) {
		emitf(j, STDOUT_FILENO, true, "destroyed\n");
		return;
	}
	emitf(j, STDOUT_FILENO, true, "%-10s %s in %llu.%02llus%s%s\n", phase,
	      ok ? "done" : "FAILED", (unsigned long long)(ms / 1000),
	      (unsigned long long)(ms % 1000 / 10), detail ? "  " : "", detail ? detail : "");
}

static void ev_step_begin(void *ud, unsigned step, unsigned total,
			  const struct vmm_provision_step *s)
{
	struct job *j = ud;

	if (s->kind == VMM_PROVISION_STEP_INLINE)
		emitf(j, STDOUT_FILENO, false, "--- step %u/%u: %s: %s\n", step, total,
		      vmm_provision_step_kind_name(s->kind), s->inline_cmd);
	else if (s->kind == VMM_PROVISION_STEP_SCRIPT)
		emitf(j, STDOUT_FILENO, false, "--- step %u/%u: %s: %s\n", step, total,
		      vmm_provision_step_kind_name(s->kind), s->script);
	else
		emitf(j, STDOUT_FILENO, false, "--- step %u/%u: %s: %s -> %s\n", step, total,
		      vmm_provision_step_kind_name(s->kind), s->source, s->destination);
}

static void ev_output(void *ud, unsigned step, enum vmm_ssh_stream stream, const char *data,
		      size_t len)
{
	(void)step;
	emit(ud, stream == VMM_SSH_STDERR ? STDERR_FILENO : STDOUT_FILENO, false, data, len);
}

static void ev_step_end(void *ud, unsigned step, const struct vmm_provision_step *s,
			int exit_status, uint64_t ms)
{
	struct job *j = ud;

	(void)s;
	if (!j->r->plain)
		flush_lines(j); /* a last line without its newline */
	if (exit_status == 0)
		emitf(j, STDOUT_FILENO, false, "--- step %u ok in %llu.%02llus\n", step,
		      (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000 / 10));
	else if (exit_status > 0)
		emitf(j, STDOUT_FILENO, false, "--- step %u FAILED with exit status %d\n", step,
		      exit_status);
	else
		emitf(j, STDOUT_FILENO, false, "--- step %u FAILED\n", step);
}

/* Download progress: the bar (or plain lines) of the one-VM commands, or
 * with several VMs a prefixed line every 10 %. */
static void ev_image_progress(const struct vmm_image_progress *p, void *ud)
{
	struct job *j = ud;
	char done[32], total[32];
	int tenth;

	if (j->r->plain) {
		cli_progress_draw(p, &j->progress);
		return;
	}
	cli_human_size(p->done, done, sizeof(done));
	if (p->finished) {
		emitf(j, STDERR_FILENO, true, "downloaded %s: %s\n", p->name, done);
		return;
	}
	if (!p->total)
		return;
	tenth = (int)((double)p->done * 10.0 / (double)p->total);
	if (tenth <= j->last_tenth)
		return;
	j->last_tenth = tenth;
	cli_human_size(p->total, total, sizeof(total));
	emitf(j, STDERR_FILENO, true, "downloading %s: %d%% (%s of %s)\n", p->name, tenth * 10,
	      done, total);
}

static bool ev_cancelled(void *ud)
{
	(void)ud;
	return atomic_load(&stop_now);
}

static void events_init(struct vmm_flow_events *ev, struct job *j)
{
	memset(ev, 0, sizeof(*ev));
	ev->userdata = j;
	ev->phase_begin = ev_phase_begin;
	ev->phase_end = ev_phase_end;
	ev->image_progress = ev_image_progress;
	ev->provision.step_begin = ev_step_begin;
	ev->provision.output = ev_output;
	ev->provision.step_end = ev_step_end;
	ev->provision.userdata = j;
	ev->cancelled = ev_cancelled;
}

/* ---- one VM ------------------------------------------------------------ */

/* Where an interrupted VM was left, for its line and the summary. */
static void describe_interrupted(struct job *j, struct vmm_ctx *ctx)
{
	struct vmm_vm *vm = NULL;
	struct vmm_error err;
	const char *name = j->def->name;

	if (vmm_vm_lookup(ctx, name, &vm, &err) < 0)
		snprintf(j->result, sizeof(j->result), "interrupted (not created)");
	else if (vm->state == VMM_STATE_RUNNING && j->def->n_provisions > 0)
		snprintf(j->result, sizeof(j->result),
			 "interrupted (running, not provisioned: `vmctl provision --name %s`)",
			 name);
	else
		snprintf(j->result, sizeof(j->result), "interrupted (%s)",
			 vmm_vm_state_name(vm->state));
	vmm_vm_free(vm);
}

static enum job_state run_up(struct job *j, struct vmm_ctx *ctx, struct vmm_flow_events *ev)
{
	const struct cli_run *run = j->r->run;
	bool reload = run->kind == CLI_RUN_RELOAD;
	enum vmm_up_result res = VMM_UP_CREATED;
	struct vmm_error err;
	uint64_t t0 = cli_now_ms();
	const char *how;
	int rc;

	vmm_error_clear(&err);
	if (reload)
		rc = vmm_flow_reload(ctx, run->vc->vf, j->def, &run->up, ev, &res, &err);
	else
		rc = vmm_flow_up(ctx, run->vc->vf, j->def, &run->up, ev, &res, &err);
	if (rc < 0) {
		emit_error(j, &err);
		snprintf(j->result, sizeof(j->result), "FAILED: %s", err.message);
		return JOB_FAILED;
	}
	if (res == VMM_UP_SKIPPED) {
		emitf(j, STDOUT_FILENO, true, "already running: skipped\n");
		snprintf(j->result, sizeof(j->result), "already running");
		return JOB_OK;
	}
	if (res == VMM_UP_INTERRUPTED) {
		describe_interrupted(j, ctx);
		emitf(j, STDOUT_FILENO, true, "%s\n", j->result);
		return JOB_INTERRUPTED;
	}
	how = res == VMM_UP_CREATED ? "created" : res == VMM_UP_RESTORED ? "restored" : "restarted";
	emitf(j, STDOUT_FILENO, true, "%s in %.2fs (%s)\n", reload ? "reloaded" : "up",
	      (double)(cli_now_ms() - t0) / 1000.0, how);
	snprintf(j->result, sizeof(j->result), "%s (%s)", reload ? "reloaded" : "up", how);
	return JOB_OK;
}

static enum job_state run_provision(struct job *j, struct vmm_ctx *ctx,
				    struct vmm_flow_events *ev)
{
	struct vmm_error err;

	if (j->def->n_provisions == 0) {
		emitf(j, STDOUT_FILENO, true, "no provisioners\n");
		snprintf(j->result, sizeof(j->result), "no provisioners");
		return JOB_OK;
	}
	vmm_error_clear(&err);
	if (vmm_flow_provision(ctx, j->r->run->vc->vf, j->def, ev, &err) < 0) {
		bool stopped = err.sys_errno == EINTR && atomic_load(&stop_now);

		emit_error(j, &err);
		snprintf(j->result, sizeof(j->result), "%s: %s",
			 stopped ? "interrupted" : "FAILED", err.message);
		return stopped ? JOB_INTERRUPTED : JOB_FAILED;
	}
	snprintf(j->result, sizeof(j->result), "provisioned (%zu step%s)", j->def->n_provisions,
		 j->def->n_provisions == 1 ? "" : "s");
	return JOB_OK;
}

static enum job_state run_down(struct job *j, struct vmm_ctx *ctx)
{
	static const char *const said[] = {
		[VMM_DOWN_STOPPED] = "stopped",
		[VMM_DOWN_DESTROYED] = "destroyed",
		[VMM_DOWN_ALREADY_STOPPED] = "not running: nothing to do",
		[VMM_DOWN_ABSENT] = "does not exist: nothing to do",
		[VMM_DOWN_SAVED] = "saved: `vmctl up` continues it",
	};
	enum vmm_down_result res;
	struct vmm_error err;

	vmm_error_clear(&err);
	if (vmm_flow_down_ex(ctx, j->def->name, j->r->run->down, &res, &err) < 0) {
		emit_error(j, &err);
		snprintf(j->result, sizeof(j->result), "FAILED: %s", err.message);
		return JOB_FAILED;
	}
	emitf(j, STDOUT_FILENO, true, "%s\n", said[res]);
	snprintf(j->result, sizeof(j->result), "%s", said[res]);
	return JOB_OK;
}

static void *worker(void *arg)
{
	struct job *j = arg;
	struct runner *r = j->r;
	struct vmm_flow_events ev;
	struct vmm_ctx *ctx = NULL;
	struct vmm_error err;
	enum job_state st;

	cur_job = j;
	events_init(&ev, j);
	cli_progress_init(&j->progress, false);
	j->last_tenth = -1;
	if (vmm_ctx_new(&ctx, &err) < 0) {
		emit_error(j, &err);
		snprintf(j->result, sizeof(j->result), "FAILED: %s", err.message);
		st = JOB_FAILED;
	} else if (r->run->kind == CLI_RUN_DOWN) {
		st = run_down(j, ctx);
	} else if (r->run->kind == CLI_RUN_PROVISION) {
		st = run_provision(j, ctx, &ev);
	} else {
		st = run_up(j, ctx, &ev);
	}
	if (r->plain)
		cli_progress_finish(&j->progress);
	flush_lines(j);
	vmm_ctx_free(ctx);
	cur_job = NULL;
	pthread_mutex_lock(&r->mu);
	j->ms = cli_now_ms() - j->t0;
	j->state = st;
	r->running--;
	if (st == JOB_FAILED && r->run->vc->fail_fast && !r->stop_reason[0]) {
		snprintf(r->stop_reason, sizeof(r->stop_reason), "--fail-fast: %s failed",
			 j->def->name);
		atomic_store(&stop_now, true);
	}
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* ---- scheduling -------------------------------------------------------- */

static void on_signal(int sig)
{
	(void)sig;
	signals_seen++;
}

static size_t job_of(const struct runner *r, const struct vmm_vmfile_vm *def)
{
	for (size_t k = 0; k < r->n; k++)
		if (r->jobs[k].def == def)
			return k;
	return SIZE_MAX;
}

/* What each job waits for: the VMs it depends on, or for down the VMs that
 * depend on it (they stop first); only among the targets. */
static int plan(struct runner *r)
{
	const struct vmm_vmfile *vf = r->run->vc->vf;
	bool down = r->run->kind == CLI_RUN_DOWN;

	for (size_t i = 0; i < r->n; i++) {
		struct job *j = &r->jobs[i];

		j->r = r;
		j->def = r->run->vc->targets[i];
		j->after = calloc(r->n, sizeof(*j->after));
		if (!j->after)
			return -1;
	}
	for (size_t i = 0; i < r->n; i++) {
		const struct vmm_vmfile_vm *def = r->jobs[i].def;

		for (size_t d = 0; d < def->n_deps; d++) {
			size_t k = job_of(r, &vf->vms[def->deps[d].index]);
			struct job *waiter;

			if (k == SIZE_MAX)
				continue; /* not a target (--no-deps, down --name) */
			waiter = down ? &r->jobs[k] : &r->jobs[i];
			waiter->after[waiter->n_after++] = down ? i : k;
		}
	}
	return 0;
}

static void start_job(struct runner *r, struct job *j)
{
	j->state = JOB_RUNNING;
	j->t0 = cli_now_ms();
	r->running++;
	if (pthread_create(&j->thread, NULL, worker, j) != 0) {
		r->running--;
		j->state = JOB_FAILED;
		snprintf(j->result, sizeof(j->result), "FAILED: cannot start a thread");
		return;
	}
	j->started = true;
}

/* Settle the waiting jobs that can be: skipped, not started, or started
 * (while fewer than limit run). */
static void schedule(struct runner *r, size_t limit)
{
	bool up_like = r->run->kind != CLI_RUN_DOWN;

	for (size_t i = 0; i < r->n; i++) {
		struct job *j = &r->jobs[i];
		const struct job *blocker = NULL;
		bool ready = true;

		if (j->state != JOB_WAITING)
			continue;
		for (size_t a = 0; a < j->n_after; a++) {
			const struct job *d = &r->jobs[j->after[a]];

			if (d->state == JOB_WAITING || d->state == JOB_RUNNING)
				ready = false;
			else if (up_like && d->state != JOB_OK && !blocker)
				blocker = d;
		}
		if (blocker) {
			j->state = JOB_SKIPPED;
			snprintf(j->result, sizeof(j->result), "skipped (dependency %s %s)",
				 blocker->def->name, state_word[blocker->state]);
			continue;
		}
		if (!ready)
			continue;
		if (r->stop_reason[0]) {
			j->state = JOB_NOT_STARTED;
			snprintf(j->result, sizeof(j->result), "not started (%s)", r->stop_reason);
			continue;
		}
		if (r->running < limit)
			start_job(r, j);
	}
}

/* Ctrl-C: say so once; then, on each further one, what is being waited for. */
static void notice_signal(struct runner *r, int *seen)
{
	char names[512] = "";
	size_t o = 0, n = 0;

	if (signals_seen == *seen)
		return;
	*seen = signals_seen;
	for (size_t i = 0; i < r->n && o + 2 < sizeof(names); i++)
		if (r->jobs[i].state == JOB_RUNNING && ++n)
			o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s", o ? ", " : "",
					      r->jobs[i].def->name);
	pthread_mutex_lock(&out_mu);
	fflush(stdout);
	if (!atomic_load(&stop_now) || strncmp(r->stop_reason, "interrupted", 11) != 0) {
		snprintf(r->stop_reason, sizeof(r->stop_reason), "interrupted");
		atomic_store(&stop_now, true);
		fprintf(stderr, "vmctl: interrupted: starting no more VMs; %s%s%s\n",
			names[0] ? "stopping " : "", names,
			!names[0] ? "" : n == 1 ? " at its next step" : " at their next step");
	} else if (names[0]) {
		struct sigaction dfl;

		fprintf(stderr, "vmctl: still stopping: waiting for %s to finish %s current step "
				"(Ctrl-C again exits at once, leaving %s as %s)\n",
			names, n == 1 ? "its" : "their", n == 1 ? "it" : "them",
			n == 1 ? "it is" : "they are");
		/* the next one is the default action: the user's way out of a long
		 * step (a download) */
		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigaction(SIGINT, &dfl, NULL);
		sigaction(SIGTERM, &dfl, NULL);
	}
	fflush(stderr);
	pthread_mutex_unlock(&out_mu);
}

static void summary(const struct runner *r, uint64_t total_ms)
{
	size_t width = 4, counts[JOB_NOT_STARTED + 1] = {0};

	for (size_t i = 0; i < r->n; i++) {
		size_t w = strlen(r->jobs[i].def->name);

		width = w > width ? w : width;
		counts[r->jobs[i].state]++;
	}
	printf("\nsummary: %zu VMs in %.2fs: %zu ok", r->n, (double)total_ms / 1000.0,
	       counts[JOB_OK]);
	for (int s = JOB_FAILED; s <= JOB_NOT_STARTED; s++)
		if (counts[s])
			printf(", %zu %s", counts[s], state_word[s]);
	printf("\n");
	/* in the order they went: down takes them from the last */
	for (size_t k = 0; k < r->n; k++) {
		const struct job *j = &r->jobs[r->run->kind == CLI_RUN_DOWN ? r->n - 1 - k : k];

		if (j->started)
			printf("  %-*s  %7.2fs  %s\n", (int)width, j->def->name,
			       (double)j->ms / 1000.0, j->result);
		else
			printf("  %-*s  %8s  %s\n", (int)width, j->def->name, "-", j->result);
	}
	fflush(stdout);
}

int cli_run_vms(const struct cli_run *run)
{
	struct runner r;
	struct sigaction sa, old_int, old_term;
	size_t limit = run->vc->jobs ? run->vc->jobs : run->vc->n;
	uint64_t t0 = cli_now_ms();
	int seen = 0, rc = CLI_EXIT_OK;

	memset(&r, 0, sizeof(r));
	r.run = run;
	r.n = run->vc->n;
	r.plain = r.n == 1;
	pthread_mutex_init(&r.mu, NULL);
	pthread_cond_init(&r.cv, NULL);
	atomic_store(&stop_now, false);
	signals_seen = 0;
	if (!(r.jobs = calloc(r.n, sizeof(*r.jobs))) || plan(&r) < 0) {
		rc = cli_errorf(VMM_E_NOMEM, NULL, "out of memory");
		goto out;
	}
	vmm_log_set_sink(log_sink, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);

	pthread_mutex_lock(&r.mu);
	for (;;) {
		struct timespec ts;
		bool waiting = false;

		notice_signal(&r, &seen);
		schedule(&r, limit);
		for (size_t i = 0; i < r.n; i++)
			waiting = waiting || r.jobs[i].state == JOB_WAITING;
		if (r.running == 0 && !waiting)
			break;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&r.cv, &r.mu, &ts);
	}
	pthread_mutex_unlock(&r.mu);
	for (size_t i = 0; i < r.n; i++)
		if (r.jobs[i].started)
			pthread_join(r.jobs[i].thread, NULL);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (!r.plain)
		summary(&r, cli_now_ms() - t0);
	for (size_t i = 0; i < r.n; i++)
		if (r.jobs[i].state != JOB_OK)
			rc = CLI_EXIT_ERROR;
	if (signals_seen)
		rc = 130;
out:
	for (size_t i = 0; r.jobs && i < r.n; i++) {
		free(r.jobs[i].after);
		for (int f = 0; f < 3; f++)
			free(r.jobs[i].line[f].data);
	}
	free(r.jobs);
	pthread_cond_destroy(&r.cv);
	pthread_mutex_destroy(&r.mu);
	return rc;
}
