/* SPDX-License-Identifier: MIT */
/*
 * The QEMU backend (Linux): a VM is a daemonized qemu-system-x86_64 with a
 * qcow2 overlay, an optional NoCloud seed, a serial console on a unix
 * socket, VNC on 127.0.0.1 and a QMP socket we drive it through. Its state
 * always comes from the live process (pid + start time, then QMP), never
 * from the record alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends/backend.h"
#include "vmm/file.h"
#include "backends/qemu/ports.h"
#include "backends/qemu/qmp.h"
#include "backends/qemu/tap.h"
#include "core/util.h"
#include "backends/qemu/qemu.h"
#include "backends/qemu/virtiofs.h"
#include "vmm/cloudinit.h"
#include "vmm/image.h"
#include "vmm/keys.h"
#include "vmm/log.h"

#define MOD "qemu"

extern char **environ;

/* How long QEMU may take to daemonize, and to answer its first QMP call. */
#define SPAWN_TIMEOUT_MS 60000
#define QMP_CONNECT_MS 15000
/* How long a zombie QEMU may wait for its parent to reap it. */
#define REAP_GRACE_MS 4000
/* Start attempts when the SSH forward's port turns out to be taken. */
#define PORT_RETRIES 5

static int set_wd(char **dst, const struct vmm_vm *vm, const char *name, struct vmm_error *err)
{
	char *p = vmmi_qemu_wd_file(vm, name);

	if (!p)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	free(*dst);
	*dst = p;
	return 0;
}

/* ---- process liveness (the checks themselves are in qemu_state.c) ------ */

/*
 * If the record has no live process but the pidfile names this VM's QEMU
 * (vmmi_qemu_is_our_process: its executable, its -pidfile and -qmp
 * arguments), take that process: a start interrupted before it was
 * recorded must still be stoppable.
 */
static void adopt_pidfile(struct vmm_vm *vm)
{
	pid_t pid;

	if (vmmi_qemu_alive(vm) || !vm->work_dir || vmmi_qemu_read_pidfile(vm, &pid) < 0 ||
	    !vmmi_qemu_is_our_process(vm, pid, 0))
		return;
	vmm_debug(MOD, "VM '%s': adopting QEMU pid %ld from the pidfile", vm->name, (long)pid);
	vm->pid = pid;
	vm->pid_starttime = vmmi_pid_starttime(pid);
}

/*
 * Wait until the process is gone, up to ms milliseconds (poll every
 * step_ms). Gone means no process with its pid and start time any more: an
 * exiting QEMU stops looking like ours (its command line goes with its
 * memory) before it has closed its files and sockets. A zombie is gone once
 * its parent (init, for a daemonized QEMU) had a while to reap it: some
 * inits reap only every two seconds or so, and a caller that sees the pid
 * still there takes the VM for running.
 */
static bool wait_gone(const struct vmm_vm *vm, unsigned ms, unsigned step_ms)
{
	uint64_t deadline = vmmi_now_ms() + ms, reap_deadline = 0;
	unsigned long long t0, t;
	char st;

	/* callers have proven the process ours: follow it by pid and start
	 * time from here, even once it no longer looks like QEMU */
	t0 = vm->pid_starttime ? vm->pid_starttime : vmmi_pid_starttime(vm->pid);
	for (;;) {
		if (vmmi_pid_stat(vm->pid, &st, &t) < 0 || t != t0)
			return true;
		if (st == 'Z' || st == 'X') {
			if (!reap_deadline)
				reap_deadline = vmmi_now_ms() + REAP_GRACE_MS;
			else if (vmmi_now_ms() >= reap_deadline)
				return true;
		} else if (vmmi_now_ms() >= deadline) {
			return false;
		}
		vmmi_sleep_ms(reap_deadline ? 20 : step_ms);
	}
}

/* Remove what a QEMU run leaves behind (sockets, pidfile). */
static void remove_runtime_files(const struct vmm_vm *vm)
{
	static const char *const names[] = {VMMI_QEMU_PIDFILE, VMMI_QEMU_QMP_SOCK,
					    VMMI_QEMU_CONSOLE_SOCK};

	/* "" would make them /pidfile, /qmp.sock, ... */
	if (!vm->work_dir || !*vm->work_dir)
		return;
	for (size_t i = 0; i < VMMI_ARRAY_SIZE(names); i++) {
		char *p = vmmi_qemu_wd_file(vm, names[i]);

		if (p)
			unlink(p);
		free(p);
	}
}

/* The TAP device vmctl made for the VM (none without CAP_NET_ADMIN: the
 * bridge helper's goes with QEMU). */
static void remove_tap(const struct vmm_vm *vm)
{
	char ifname[16];

	if (vm->network.type != VMM_NET_TAP || !vm->name || !vmmi_have_net_admin())
		return;
	vmmi_tap_name(vm->name, vm->work_dir, ifname);
	vmmi_tap_remove(ifname);
}

static void forget_process(struct vmm_vm *vm)
{
	/* QEMU is gone: so are the virtiofsd that served it (or now) */
	vmmi_virtiofs_stop(vm);
	vm->pid = 0;
	vm->pid_starttime = 0;
	free(vm->vnc_addr);
	vm->vnc_addr = NULL;
	remove_runtime_files(vm);
	remove_tap(vm);
}

/*
 * A pidfd for the VM's recorded QEMU, in *fd: 0 when the process is ours,
 * 1 when there is nothing to signal (not ours, or gone), <0 on an error.
 * The pid is checked, the pidfd opened, and the pid checked again: the
 * second check is of the process the descriptor holds (had the pid been
 * recycled between the first check and the open, the descriptor names the
 * newcomer, and the second check refuses it), so whatever is signalled
 * through it later is our QEMU or, once that has exited, nothing. Without
 * pidfds (ENOSYS: a kernel before 5.3) *fd is -1 and send_signal()
 * re-checks right before each kill().
 */
static int open_ours(const struct vmm_vm *vm, int *fd, struct vmm_error *err)
{
	*fd = -1;
	if (!vmmi_qemu_alive(vm))
		return 1;
	*fd = vmmi_pidfd_open(vm->pid);
	if (*fd < 0) {
		if (errno == ENOSYS)
			return 0;
		if (errno == ESRCH)
			return 1;
		return vmm_error_errno(err, VMM_E_IO, "check the process with `ps`",
				       "cannot open a pidfd for QEMU of VM '%s' (pid %ld)",
				       vm->name, (long)vm->pid);
	}
	if (!vmmi_qemu_alive(vm)) {
		close(*fd);
		*fd = -1;
		return 1;
	}
	return 0;
}

/* Send sig to the VM's QEMU through fd (from open_ours); 0, or -1 with
 * errno (ESRCH: it has exited). */
static int send_signal(const struct vmm_vm *vm, int fd, int sig)
{
	if (fd >= 0)
		return vmmi_pidfd_send_signal(fd, sig);
	if (!vmmi_qemu_alive(vm)) {
		errno = ESRCH;
		return -1;
	}
	return kill(vm->pid, sig);
}

/* SIGTERM, then SIGKILL: the end of every way of stopping QEMU. Only a
 * process proven ours is signalled, and only through a pidfd. */
static int terminate(struct vmm_vm *vm, unsigned term_wait_ms, struct vmm_error *err)
{
	int fd, rc;

	rc = open_ours(vm, &fd, err);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	if (send_signal(vm, fd, SIGTERM) < 0 && errno != ESRCH) {
		rc = vmm_error_errno(err, VMM_E_IO, "check the process with `ps`",
				     "cannot send SIGTERM to QEMU of VM '%s' (pid %ld)", vm->name,
				     (long)vm->pid);
		goto out;
	}
	if (wait_gone(vm, term_wait_ms, 100))
		goto out;
	vmm_warn(MOD, "QEMU of VM '%s' (pid %ld) ignored SIGTERM; killing it", vm->name,
		 (long)vm->pid);
	if (send_signal(vm, fd, SIGKILL) < 0 && errno != ESRCH) {
		rc = vmm_error_errno(err, VMM_E_IO, "check the process with `ps`",
				     "cannot send SIGKILL to QEMU of VM '%s' (pid %ld)", vm->name,
				     (long)vm->pid);
		goto out;
	}
	if (wait_gone(vm, 5000, 50))
		goto out;
	rc = vmm_error_set(err, VMM_E_IO, 0, "check the process with `ps`",
			   "QEMU of VM '%s' (pid %ld) survived SIGKILL", vm->name, (long)vm->pid);
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ---- prepare ------------------------------------------------------------ */

static int check_socket_path(const char *path, struct vmm_error *err)
{
	struct sockaddr_un sa;

	if (strlen(path) < sizeof(sa.sun_path))
		return 0;
	return vmm_error_set(err, VMM_E_INVALID_CONFIG, ENAMETOOLONG,
			     "unix socket paths are limited to 107 bytes: use a shorter data "
			     "directory, e.g. XDG_DATA_HOME=/tmp/x",
			     "socket path '%s' is %zu bytes long, over the kernel's limit of %zu",
			     path, strlen(path), sizeof(sa.sun_path) - 1);
}

/*
 * The NoCloud seed: raw user-data as given, or vmctl's cloud-config for
 * the VM's user with the explicit public key or a per-VM generated one,
 * and a host key the client can pin (its public half is kept in the work
 * directory as VMM_HOST_KEY_PUB_NAME, and lib/flow.c pins it).
 */
int vmmi_qemu_write_seed(const struct vmm_vm_spec *spec, struct vmm_vm *vm, struct vmm_error *err)
{
	const struct vmm_cloud_init *ci = spec->cloud_init;
	struct vmm_seed_spec seed = {0};
	struct vmm_keypair host = {0};
	char *pub = NULL, *priv = NULL, *host_pub = NULL, *comment = NULL;
	int rc;

	if (!ci)
		return 0;
	if ((rc = set_wd(&vm->seed_iso_path, vm, VMMI_QEMU_SEED, err)) < 0)
		return rc;
	seed.hostname = ci->hostname ? ci->hostname : vm->name;
	if (ci->user_data) {
		seed.user_data = ci->user_data;
		seed.user_data_len = ci->user_data_len;
	} else {
		seed.user = vm->ssh_user ? vm->ssh_user : spec->ssh_user;
		comment = vmmi_asprintf("vmctl@%s", vm->name);
		if (!comment) {
			rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
			goto out;
		}
		if (ci->ssh_pubkey) {
			seed.authorized_keys = ci->ssh_pubkey;
		} else {
			rc = vmm_keys_generate_vm(vm->work_dir, comment, &pub, &priv, err);
			if (rc < 0)
				goto out;
			seed.authorized_keys = pub;
			free(vm->ssh_key_path);
			vm->ssh_key_path = priv;
			priv = NULL;
		}
		rc = vmm_keypair_generate(&host, comment, err);
		if (rc < 0)
			goto out;
		host_pub = vmmi_path_join(vm->work_dir, VMM_HOST_KEY_PUB_NAME);
		if (!host_pub) {
			rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
			goto out;
		}
		rc = vmmi_write_file_atomic(host_pub, host.public_line, strlen(host.public_line),
					    0644, err);
		if (rc < 0)
			goto out;
		seed.host_key_private = host.private_openssh;
		seed.host_key_public = host.public_line;
		seed.shares = vm->shares.v;
		seed.n_shares = vm->shares.n;
	}
	rc = vmm_cloudinit_write_seed(&seed, vm->seed_iso_path, err);
out:
	vmm_keypair_release(&host);
	free(host_pub);
	free(comment);
	free(pub);
	free(priv);
	return rc;
}

static int qemu_prepare(struct vmm_ctx *ctx, const struct vmm_vm_spec *spec, struct vmm_vm *vm,
			const struct vmmi_phases *ph, struct vmm_error *err)
{
	char mac[18];
	uint64_t t0;
	int rc;

	if (vm->network.type == VMM_NET_VNIC)
		return vmm_error_set(err, VMM_E_INVALID_CONFIG, 0,
				     "use network \"user\", \"tap\" or \"none\" with QEMU",
				     "VNIC networking is only available on the propolis backend");
	if ((rc = set_wd(&vm->qmp_socket, vm, VMMI_QEMU_QMP_SOCK, err)) < 0 ||
	    (rc = set_wd(&vm->console_socket, vm, VMMI_QEMU_CONSOLE_SOCK, err)) < 0)
		return rc;
	if ((rc = check_socket_path(vm->qmp_socket, err)) < 0 ||
	    (rc = check_socket_path(vm->console_socket, err)) < 0)
		return rc;
	if (!vm->image_path)
		return vmm_error_set(err, VMM_E_INVALID_CONFIG, 0,
				     "give an image with --image or --image-url",
				     "VM '%s' has no base image", vm->name);
	if ((rc = set_wd(&vm->overlay_path, vm, VMMI_QEMU_OVERLAY, err)) < 0)
		return rc;
	t0 = vmmi_now_ms();
	rc = vmm_image_create_overlay(vm->image_path, vm->overlay_path, vm->disk_gb, err);
	if (rc < 0)
		return rc;
	vmmi_phase(ph, vm->name, "overlay", t0);
	vmmi_shares_choose(vm);
	for (size_t i = 0; i < vm->shares.n; i++) {
		char *sock = vmmi_virtiofs_file(vm, i, "sock");

		rc = sock ? check_socket_path(sock, err)
			  : vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		free(sock);
		if (rc < 0)
			return rc;
	}
	t0 = vmmi_now_ms();
	if ((rc = vmmi_qemu_write_seed(spec, vm, err)) < 0)
		return rc;
	if (spec->cloud_init)
		vmmi_phase(ph, vm->name, "seed", t0);
	vmmi_qemu_mac_from_id(vm->id ? vm->id : vm->name, mac);
	if ((rc = vmmi_set_str(&vm->mac_addr, mac, err)) < 0)
		return rc;
	(void)ctx; /* the manager has reserved the SSH port (vm->ssh_host_port) */
	vmm_debug(MOD, "prepared '%s': overlay %s, MAC %s, SSH port %u", vm->name,
		  vm->overlay_path, vm->mac_addr, vm->ssh_host_port);
	return 0;
}

/* ---- start -------------------------------------------------------------- */

/* The last n lines of a file, joined with " | " (malloc'd, "" if none). */
static char *tail_lines(const char *path, unsigned n)
{
	char *data = NULL, *p, *res;
	size_t len;

	if (!path || vmmi_read_file(path, &data, &len, NULL) < 0)
		return strdup("");
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		data[--len] = '\0';
	p = data + vmm_text_tail(data, len, n);
	{
		struct vmmi_buf b;

		vmmi_buf_init(&b);
		for (char *s = p; *s; s++) {
			if (*s == '\r')
				continue;
			if (*s == '\n')
				vmmi_buf_append(&b, " | ", 3);
			else if ((unsigned char)*s >= 0x20 || *s == '\t')
				vmmi_buf_append(&b, s, 1);
		}
		res = vmmi_buf_steal(&b);
	}
	free(data);
	return res;
}

/* Turn a QEMU that failed to start into the right error. */
static int start_failure(const struct vmm_vm *vm, const char *what, struct vmm_error *err)
{
	char *start_log = vmmi_qemu_wd_file(vm, VMMI_QEMU_START_LOG), *log = vmmi_qemu_wd_file(vm, VMMI_QEMU_LOG);
	char *console = vmmi_qemu_wd_file(vm, VMMI_QEMU_CONSOLE_LOG);
	char *e1 = tail_lines(start_log, 6), *e2 = tail_lines(log, 6), *c = tail_lines(console, 5);
	struct vmmi_buf all;
	enum vmm_errcode code;
	int rc;

	vmmi_buf_init(&all);
	vmmi_buf_printf(&all, "%s%s%s", e1 ? e1 : "", e1 && *e1 && e2 && *e2 ? " | " : "",
			e2 ? e2 : "");
	code = vmmi_qemu_classify_failure(all.data);
	if (code == VMM_E_QEMU_KVM) {
		rc = vmm_error_set(err, VMM_E_QEMU_KVM, 0,
				   "this host's KVM cannot run the guest (seen on nested "
				   "\"kvm-pvm\" hosts); rerun with software emulation: "
				   "VMCTL_ACCEL=tcg",
				   "QEMU of VM '%s' stopped with a KVM error: %s", vm->name,
				   all.data ? all.data : "");
	} else {
		char *hint = vmmi_asprintf(
			"%s%s%sfull logs in %s; check that qemu-system-x86_64 is installed "
			"(or $VMCTL_QEMU)",
			c && *c ? "last console lines: " : "", c && *c ? c : "", c && *c ? "; " : "",
			vm->work_dir);

		rc = vmm_error_set(err, VMM_E_QEMU_SPAWN, 0, hint, "QEMU of VM '%s' %s: %s",
				   vm->name, what,
				   all.data && *all.data ? all.data : "(no output from QEMU)");
		free(hint);
	}
	vmmi_buf_release(&all);
	free(start_log);
	free(log);
	free(console);
	free(e1);
	free(e2);
	free(c);
	return rc;
}

/* Run QEMU and wait for its foreground process, which exits once the
 * daemon is set up (0) or failed (non-zero). *status: its exit status. */
static int spawn_qemu(struct vmm_vm *vm, char **argv, int *status, struct vmm_error *err)
{
	char *log = vmmi_qemu_wd_file(vm, VMMI_QEMU_START_LOG);
	posix_spawn_file_actions_t fa;
	uint64_t deadline;
	pid_t pid;
	int fd = -1, rc, st;

	if (!log)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = vmm_error_errno(err, VMM_E_IO, NULL, "cannot create '%s'", log);
		free(log);
		return rc;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fd, 1);
	posix_spawn_file_actions_adddup2(&fa, fd, 2);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fd);
	free(log);
	if (rc != 0) {
		errno = rc;
		return vmm_error_errno(err, VMM_E_QEMU_SPAWN, NULL, "cannot run '%s'", argv[0]);
	}
	deadline = vmmi_now_ms() + SPAWN_TIMEOUT_MS;
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			return vmm_error_errno(err, VMM_E_QEMU_SPAWN, NULL, "waiting for QEMU");
		if (vmmi_now_ms() >= deadline) {
			/* our own child, not yet reaped: its pid cannot be reused */
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return start_failure(vm, "did not finish starting within 60 s", err);
		}
		vmmi_sleep_ms(20);
	}
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return 0;
}

/* After a successful daemonize: find the process, talk QMP, read VNC. */
static int attach_started(struct vmm_vm *vm, enum vmmi_accel accel, struct vmm_error *err)
{
	struct vmmi_qmp *q = NULL;
	char *status = NULL, *vnc = NULL;
	bool running;
	pid_t pid;
	int rc;

	if (vmmi_qemu_read_pidfile(vm, &pid) < 0)
		return start_failure(vm, "started but wrote no pidfile", err);
	/* What vmctl cannot recognise later it could neither show nor stop. */
	if (!vmmi_qemu_is_our_process(vm, pid, 0)) {
		if (vmmi_pid_alive(pid) && vmmi_pid_starttime(pid))
			return vmm_error_set(err, VMM_E_QEMU_SPAWN, 0,
					     "$VMCTL_QEMU must run a QEMU whose executable is "
					     "named qemu-system-* with vmctl's arguments; stop "
					     "that process yourself (e.g. `kill PID`)",
					     "QEMU of VM '%s' started, but its pidfile names pid %ld, "
					     "which is not a qemu-system-* executable with this VM's "
					     "-pidfile and -qmp arguments",
					     vm->name, (long)pid);
		return start_failure(vm, "exited right after starting", err);
	}
	vm->pid = pid;
	vm->pid_starttime = vmmi_pid_starttime(pid);
	if (!vm->pid_starttime)
		return start_failure(vm, "exited right after starting", err);
	rc = vmmi_qmp_connect(vm->qmp_socket, QMP_CONNECT_MS, &q, err);
	if (rc < 0) {
		if (!vmmi_qemu_alive(vm))
			return start_failure(vm, "exited right after starting", err);
		goto out;
	}
	rc = vmmi_qmp_query_vnc(q, &vnc, err);
	if (rc < 0)
		goto out;
	free(vm->vnc_addr);
	vm->vnc_addr = vnc;
	/* A host KVM that cannot run the guest may already have stopped it in
	 * "internal-error" (later, qemu_state reports it). */
	{
		rc = vmmi_qmp_query_status(q, &status, &running, err);
		if (rc < 0)
			goto out;
		if (strcmp(status, "internal-error") == 0) {
			vmmi_qmp_close(q);
			q = NULL;
			terminate(vm, 3000, NULL);
			rc = start_failure(vm, "stopped in internal-error", err);
			if (err && err->code != VMM_E_QEMU_KVM && accel == VMMI_ACCEL_KVM)
				rc = vmm_error_set(err, VMM_E_QEMU_KVM, 0, NULL,
						   "QEMU of VM '%s' stopped with an internal error "
						   "under KVM",
						   vm->name);
			goto out;
		}
	}
	vmm_info(MOD, "VM '%s' started: pid %ld, VNC %s, status %s", vm->name, (long)vm->pid,
		 vm->vnc_addr ? vm->vnc_addr : "off", status);
out:
	vmmi_qmp_close(q);
	free(status);
	return rc;
}

static int qemu_check_start(const struct vmm_vm *vm, struct vmm_error *err)
{
	struct vmmi_tap_plan tp;
	enum vmmi_accel accel;
	int rc;

	if ((rc = vmmi_qemu_accel(&accel, err)) < 0)
		return rc;
	if (vm->network.type != VMM_NET_TAP)
		return 0;
	vmmi_tap_plan(vm, &tp);
	return vmmi_tap_check(vm, &tp, err);
}

/* Append the NULL-terminated extra (may be NULL) to argv. */
static int add_extra_args(char ***argv, const char *const *extra, struct vmm_error *err)
{
	size_t n = 0, k = 0;
	char **v;

	if (!extra || !extra[0])
		return 0;
	while ((*argv)[n])
		n++;
	while (extra[k])
		k++;
	if (!(v = realloc(*argv, (n + k + 1) * sizeof(*v))))
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	*argv = v;
	for (size_t i = 0; i < k; i++) {
		if (!(v[n + i] = strdup(extra[i]))) {
			v[n + i] = NULL;
			return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		}
		v[n + i + 1] = NULL;
	}
	return 0;
}

static int qemu_start(struct vmm_ctx *ctx, struct vmm_vm *vm, const struct vmmi_ports_taken *taken,
		      struct vmm_error *err)
{
	return vmmi_qemu_start_with(ctx, vm, taken, NULL, err);
}

static int start_process(struct vmm_ctx *ctx, struct vmm_vm *vm,
			 const struct vmmi_ports_taken *taken, const char *const *extra,
			 const struct vmmi_tap_plan *tp, struct vmm_error *err);

/* virtiofsd first (QEMU connects to its socket as it starts), gone again if
 * QEMU does not start. */
static int start_with(struct vmm_ctx *ctx, struct vmm_vm *vm, const struct vmmi_ports_taken *taken,
		      const char *const *extra, const struct vmmi_tap_plan *tp,
		      struct vmm_error *err)
{
	int rc;

	if (!vmmi_qemu_alive(vm) && (rc = vmmi_virtiofs_start(vm, err)) < 0)
		return rc;
	rc = start_process(ctx, vm, taken, extra, tp, err);
	if (rc < 0 && !vmmi_qemu_alive(vm))
		vmmi_virtiofs_stop(vm);
	return rc;
}

static int start_process(struct vmm_ctx *ctx, struct vmm_vm *vm,
			 const struct vmmi_ports_taken *taken, const char *const *extra,
			 const struct vmmi_tap_plan *tp, struct vmm_error *err)
{
	enum vmmi_accel accel;
	char **argv = NULL;
	int rc, status = 0;

	if (vmmi_qemu_alive(vm))
		return vmm_error_set(err, VMM_E_INVALID_STATE, 0, "stop it first",
				     "VM '%s' is already running (pid %ld)", vm->name,
				     (long)vm->pid);
	rc = vmmi_qemu_accel(&accel, err);
	if (rc < 0)
		return rc;
	if (!vm->qmp_socket || !vm->console_socket || !vm->overlay_path)
		return vmm_error_set(err, VMM_E_INVALID_STATE, 0, "destroy and recreate the VM",
				     "VM '%s' was never prepared (no overlay or sockets)",
				     vm->name);
	/* The reserved port may have been taken since create. */
	if (vm->network.type == VMM_NET_USER &&
	    (vm->ssh_host_port == 0 || !vmmi_port_bindable(vm->ssh_host_port))) {
		rc = vmmi_port_allocate(&ctx->paths, vm->name, vm->ssh_host_port, taken,
					&vm->ssh_host_port, err);
		if (rc < 0)
			return rc;
	}
	/* So may the forwarded ones: a port vmctl picked is picked anew. */
	if (vm->network.type == VMM_NET_USER && vm->n_forwards &&
	    (rc = vmmi_forwards_reserve(&ctx->paths, vm->name, vm->ssh_host_port, vm->forwards,
					vm->n_forwards, 0, true, taken, err)) < 0)
		return rc;
	for (int attempt = 0;; attempt++) {
		char *old_log = vmmi_qemu_wd_file(vm, VMMI_QEMU_LOG);

		vm->pid = 0;
		vm->pid_starttime = 0;
		remove_runtime_files(vm);
		/* a previous run's errors must not be taken for this one's */
		if (old_log)
			unlink(old_log);
		free(old_log);
		rc = vmmi_qemu_build_args_net(vm, vmmi_qemu_binary(), accel, tp, &argv, err);
		if (rc == 0)
			rc = add_extra_args(&argv, extra, err);
		if (rc < 0) {
			vmmi_qemu_args_free(argv);
			return rc;
		}
		if (vmm_log_enabled(VMM_LOG_DEBUG, MOD)) {
			struct vmmi_buf b;

			vmmi_buf_init(&b);
			for (char **a = argv; *a; a++)
				vmmi_buf_printf(&b, "%s%s", a == argv ? "" : " ", *a);
			vmm_debug(MOD, "starting '%s': %s", vm->name, b.data ? b.data : "");
			vmmi_buf_release(&b);
		}
		rc = spawn_qemu(vm, argv, &status, err);
		vmmi_qemu_args_free(argv);
		argv = NULL;
		if (rc < 0)
			return rc;
		if (status == 0)
			break;
		rc = start_failure(vm, "failed to start", err);
		if (vm->network.type == VMM_NET_USER && attempt < PORT_RETRIES) {
			char *log = vmmi_qemu_wd_file(vm, VMMI_QEMU_START_LOG), *text = NULL;
			size_t len;
			bool port_busy = false;

			if (log && vmmi_read_file(log, &text, &len, NULL) == 0)
				port_busy = vmmi_qemu_classify_failure(text) == VMM_E_PORT_ALLOC;
			free(text);
			free(log);
			if (port_busy) {
				unsigned old = vm->ssh_host_port;

				rc = vmmi_port_allocate(&ctx->paths, vm->name, old, taken,
							&vm->ssh_host_port, err);
				if (rc < 0)
					return rc;
				vmm_info(MOD, "VM '%s': port %u was taken, retrying with %u",
					 vm->name, old, vm->ssh_host_port);
				/* or a forwarded one was: checked (and picked) again */
				if (vm->n_forwards &&
				    (rc = vmmi_forwards_reserve(&ctx->paths, vm->name,
								vm->ssh_host_port, vm->forwards,
								vm->n_forwards, 0, true, taken,
								err)) < 0)
					return rc;
				continue;
			}
		}
		return rc;
	}
	rc = attach_started(vm, accel, err);
	if (rc < 0 && vmmi_qemu_alive(vm))
		terminate(vm, 3000, NULL);
	if (rc < 0)
		forget_process(vm);
	return rc;
}

/*
 * Network "tap": the bridge (and the helper) checked before QEMU runs; with
 * CAP_NET_ADMIN the TAP device made here, and removed again if the start
 * fails.
 */
int vmmi_qemu_start_with(struct vmm_ctx *ctx, struct vmm_vm *vm,
			 const struct vmmi_ports_taken *taken, const char *const *extra,
			 struct vmm_error *err)
{
	struct vmmi_tap_plan tp;
	int rc;

	if (vm->network.type != VMM_NET_TAP || vmmi_qemu_alive(vm))
		return start_with(ctx, vm, taken, extra, NULL, err);
	vmmi_tap_plan(vm, &tp);
	if ((rc = vmmi_tap_check(vm, &tp, err)) < 0)
		return rc;
	if (tp.own_tap) {
		/* a TAP device left by a QEMU that was killed is made anew */
		vmmi_tap_remove(tp.ifname);
		rc = vmmi_tap_create(tp.ifname, vm->network.bridge ? vm->network.bridge : "br0",
				     err);
		if (rc < 0)
			return rc;
	}
	rc = start_with(ctx, vm, taken, extra, &tp, err);
	if (rc < 0 && tp.own_tap)
		vmmi_tap_remove(tp.ifname);
	return rc;
}

/* ---- stop, suspend, resume, destroy --------------------------------------- */

int vmmi_qemu_reap(struct vmm_vm *vm, unsigned wait_ms, struct vmm_error *err)
{
	int rc = 0;

	if (!wait_gone(vm, wait_ms, 50))
		rc = terminate(vm, 3000, err);
	if (rc == 0)
		forget_process(vm);
	return rc;
}

void vmmi_qemu_adopt(struct vmm_vm *vm)
{
	adopt_pidfile(vm);
}

static int qmp_simple(const struct vmm_vm *vm, const char *command, struct vmm_error *err)
{
	struct vmmi_qmp *q = NULL;
	int rc = vmmi_qmp_connect(vm->qmp_socket, 5000, &q, err);

	if (rc == 0)
		rc = vmmi_qmp_execute(q, command, NULL, NULL, err);
	vmmi_qmp_close(q);
	return rc;
}

static int qemu_stop(struct vmm_ctx *ctx, struct vmm_vm *vm, unsigned timeout_s,
		     struct vmm_error *err)
{
	struct vmm_error qerr;
	int rc;

	(void)ctx;
	adopt_pidfile(vm);
	if (!vmmi_qemu_alive(vm)) {
		forget_process(vm);
		return 0;
	}
	vmm_error_clear(&qerr);
	if (qmp_simple(vm, "system_powerdown", &qerr) < 0)
		vmm_warn(MOD, "VM '%s': ACPI power-down failed (%s); terminating QEMU", vm->name,
			 qerr.message);
	else if (wait_gone(vm, timeout_s * 1000u, 500)) {
		vmm_info(MOD, "VM '%s' powered off", vm->name);
		forget_process(vm);
		return 0;
	} else
		vmm_warn(MOD, "VM '%s' did not power off within %u s; terminating QEMU (SIGTERM)",
			 vm->name, timeout_s);
	rc = terminate(vm, 5000, err);
	if (rc == 0)
		forget_process(vm);
	return rc;
}

static int need_alive(const struct vmm_vm *vm, struct vmm_error *err)
{
	if (vmmi_qemu_alive(vm))
		return 0;
	return vmm_error_set(err, VMM_E_INVALID_STATE, 0, "start it with `vmctl start NAME`",
			     "VM '%s' is not running (its QEMU process is gone)", vm->name);
}

static int qemu_suspend(struct vmm_ctx *ctx, struct vmm_vm *vm, struct vmm_error *err)
{
	int rc;

	(void)ctx;
	adopt_pidfile(vm);
	if ((rc = need_alive(vm, err)) < 0)
		return rc;
	return qmp_simple(vm, "stop", err);
}

static int qemu_resume(struct vmm_ctx *ctx, struct vmm_vm *vm, struct vmm_error *err)
{
	int rc;

	(void)ctx;
	adopt_pidfile(vm);
	if ((rc = need_alive(vm, err)) < 0)
		return rc;
	return qmp_simple(vm, "cont", err);
}

static int qemu_destroy(struct vmm_ctx *ctx, struct vmm_vm *vm, struct vmm_error *err)
{
	int rc;

	(void)ctx;
	if (!vm->work_dir)
		return 0;
	adopt_pidfile(vm);
	rc = terminate(vm, 3000, err);
	if (rc == 0)
		forget_process(vm);
	return rc;
}

/* ---- console (state: qemu_state.c, guest IP: netdiscover.c) -------------- */

static int qemu_console_endpoint(struct vmm_ctx *ctx, const struct vmm_vm *vm,
				 struct vmm_console_endpoint *out, struct vmm_error *err)
{
	(void)ctx;
	out->kind = VMM_CONSOLE_NONE;
	out->path = NULL;
	if (!vm->console_socket)
		return vmm_error_set(err, VMM_E_CONSOLE, 0, "destroy and recreate the VM",
				     "VM '%s' has no console socket recorded", vm->name);
	out->path = strdup(vm->console_socket);
	if (!out->path)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	out->kind = VMM_CONSOLE_UNIX;
	return 0;
}

const struct vmm_backend_ops vmmi_backend_qemu = {
	.tag = VMM_BACKEND_QEMU,
	.name = "qemu",
	.host_ports = true,
	.prepare = qemu_prepare,
	.check_start = qemu_check_start,
	.start = qemu_start,
	.stop = qemu_stop,
	.suspend = qemu_suspend,
	.resume = qemu_resume,
	.destroy = qemu_destroy,
	.state = vmmi_qemu_state,
	.guest_ip = vmmi_qemu_guest_ip,
	.console_endpoint = qemu_console_endpoint,
	.save = vmmi_qemu_save,
	.saved_fits = vmmi_qemu_saved_fits,
	.restore = vmmi_qemu_restore,
	.saved_discard = vmmi_qemu_saved_discard,
	.snapshot_create = vmmi_qemu_snapshot_create,
	.snapshot_list = vmmi_qemu_snapshot_list,
	.snapshot_restore = vmmi_qemu_snapshot_restore,
	.snapshot_delete = vmmi_qemu_snapshot_delete,
	.forward_live = vmmi_qemu_forward_live,
};
