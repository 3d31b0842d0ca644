/* SPDX-License-Identifier: MIT */
/*
 * lib/backends/qemu/virtiofs.c - shared folders of QEMU VMs: the choice of
 * virtiofs or 9p for each share, and the lifetime of the virtiofsd
 * processes (see virtiofs.h).
 */
#include "backends/qemu/virtiofs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/util.h"
#include "vmm/log.h"

#define MOD "qemu"
/* How long virtiofsd may take to create its socket. */
#define SOCKET_WAIT_MS 10000u

extern char **environ;

char *vmmi_virtiofs_file(const struct vmm_vm *vm, size_t i, const char *ext)
{
	if (!vm->work_dir || !*vm->work_dir)
		return NULL;
	return vmmi_asprintf("%s/virtiofsd%zu.%s", vm->work_dir, i, ext);
}

bool vmmi_virtiofs_usable(char *why, size_t n)
{
	if (access(VMMI_VIRTIOFSD, X_OK) < 0) {
		snprintf(why, n, "%s is not installed (Debian: qemu-system-common)",
			 VMMI_VIRTIOFSD);
		return false;
	}
	if (geteuid() != 0) {
		snprintf(why, n, "virtiofsd needs root (vmctl runs as uid %ld)", (long)geteuid());
		return false;
	}
	return true;
}

void vmmi_shares_choose(struct vmm_vm *vm)
{
	char why[256];
	bool usable = vmmi_virtiofs_usable(why, sizeof(why));

	for (size_t i = 0; i < vm->shares.n; i++) {
		struct vmm_share *sh = &vm->shares.v[i];

		if (sh->readonly) {
			/* virtiofsd has no read-only mode; QEMU's 9p server
			 * refuses every write of a readonly=on export */
			sh->type = VMM_SHARE_9P;
			continue;
		}
		sh->type = usable ? VMM_SHARE_VIRTIOFS : VMM_SHARE_9P;
		if (!usable)
			vmm_warn(MOD, "VM '%s': share '%s' uses virtio-9p, not virtiofs: %s",
				 vm->name, sh->host, why);
	}
}

bool vmmi_shares_have(const struct vmm_vm *vm, enum vmm_share_type t)
{
	for (size_t i = 0; i < vm->shares.n; i++)
		if (vm->shares.v[i].type == t)
			return true;
	return false;
}

/* Whether pid is the virtiofsd serving sock. */
static bool is_ours(pid_t pid, const char *sock)
{
	char *exe, *want, **argv;
	bool ours = false;

	if (pid <= 1 || !vmmi_pid_alive(pid))
		return false;
	exe = vmmi_pid_exe(pid);
	want = vmmi_asprintf("--socket-path=%s", sock);
	if (exe && want && strcmp(exe, VMMI_VIRTIOFSD) == 0 && (argv = vmmi_pid_argv(pid))) {
		for (char **a = argv; *a && !ours; a++)
			ours = strcmp(*a, want) == 0;
		free(argv);
	}
	free(exe);
	free(want);
	return ours;
}

static pid_t read_pid(const char *path)
{
	char *data = NULL, *end;
	size_t len;
	long v = 0;

	if (vmmi_read_file(path, &data, &len, NULL) == 0) {
		errno = 0;
		v = strtol(data, &end, 10);
		if (errno || end == data || v <= 1 || v >= (1L << 30))
			v = 0;
	}
	free(data);
	return (pid_t)v;
}

/* The first child of pid that is the virtiofsd serving sock, or 0:
 * virtiofsd serves from a child in new namespaces once QEMU connected. */
static pid_t child_of(pid_t pid, const char *sock)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;

	while (d && !found && (e = readdir(d))) {
		char path[64], buf[512], *p;
		long child = strtol(e->d_name, &p, 10), ppid;
		FILE *f;

		if (*p || child <= 1)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/stat", child);
		if (!(f = fopen(path, "re")))
			continue;
		p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
		fclose(f);
		if (p && sscanf(p + 1, " %*c %ld", &ppid) == 1 && ppid == pid &&
		    is_ours((pid_t)child, sock))
			found = (pid_t)child;
	}
	if (d)
		closedir(d);
	return found;
}

/* Stop share i's virtiofsd if it runs, and remove its files. */
static void stop_one(const struct vmm_vm *vm, size_t i)
{
	char *pidf = vmmi_virtiofs_file(vm, i, "pid"), *sock = vmmi_virtiofs_file(vm, i, "sock");
	pid_t pid;

	if (!pidf || !sock)
		goto out;
	pid = read_pid(pidf);
	if (pid && is_ours(pid, sock)) {
		pid_t child = child_of(pid, sock);
		int sig = SIGTERM;

		vmm_debug(MOD, "VM '%s': stopping virtiofsd %ld", vm->name, (long)pid);
		for (int t = 0; t < 100 && (is_ours(pid, sock) || (child && is_ours(child, sock)));
		     t++) {
			if (t == 0 || t == 50) {
				if (child && is_ours(child, sock))
					kill(child, sig);
				if (is_ours(pid, sock))
					kill(pid, sig);
				sig = SIGKILL;
			}
			/* our child when this process started it */
			waitpid(pid, NULL, WNOHANG);
			vmmi_sleep_ms(40);
		}
	}
	unlink(pidf);
	unlink(sock);
out:
	free(pidf);
	free(sock);
}

void vmmi_virtiofs_stop(const struct vmm_vm *vm)
{
	for (size_t i = 0; i < vm->shares.n; i++)
		stop_one(vm, i);
}

static char *log_tail(const char *path)
{
	char *data = NULL, *nl;
	size_t len;

	if (vmmi_read_file(path, &data, &len, NULL) < 0 || !len)
		return free(data), strdup("(no output)");
	while (len && data[len - 1] == '\n')
		data[--len] = '\0';
	nl = strrchr(data, '\n');
	memmove(data, nl ? nl + 1 : data, strlen(nl ? nl + 1 : data) + 1);
	return data;
}

static int start_one(struct vmm_vm *vm, size_t i, struct vmm_error *err)
{
	const struct vmm_share *sh = &vm->shares.v[i];
	char *sock = vmmi_virtiofs_file(vm, i, "sock"), *pidf = vmmi_virtiofs_file(vm, i, "pid");
	char *log = vmmi_virtiofs_file(vm, i, "log"), *a_sock = NULL, *a_src = NULL;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	struct stat st;
	uint64_t deadline;
	char pidtext[32];
	pid_t pid = 0;
	int fd = -1, rc;

	if (!sock || !pidf || !log)
		goto nomem;
	if (stat(sh->host, &st) < 0 || !S_ISDIR(st.st_mode)) {
		if (errno == 0)
			errno = ENOTDIR;
		rc = vmm_error_errno(err, VMM_E_INVALID_CONFIG,
				     "create the directory, or recreate the VM without that share",
				     "shared folder '%s' of VM '%s'", sh->host, vm->name);
		goto out;
	}
	a_sock = vmmi_asprintf("--socket-path=%s", sock);
	a_src = vmmi_asprintf("source=%s", sh->host);
	if (!a_sock || !a_src)
		goto nomem;
	char *argv[] = {VMMI_VIRTIOFSD, a_sock, "-o", a_src, "-o", "cache=auto", NULL};

	unlink(sock);
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = vmm_error_errno(err, VMM_E_IO, NULL, "cannot create '%s'", log);
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fd, 1);
	posix_spawn_file_actions_adddup2(&fa, fd, 2);
	posix_spawnattr_init(&attr);
	/* its own session: a Ctrl-C of vmctl is not for it */
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
	rc = posix_spawn(&pid, VMMI_VIRTIOFSD, &fa, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	close(fd);
	if (rc != 0) {
		errno = rc;
		rc = vmm_error_errno(err, VMM_E_QEMU_SPAWN, NULL, "cannot run %s", VMMI_VIRTIOFSD);
		goto out;
	}
	snprintf(pidtext, sizeof(pidtext), "%ld\n", (long)pid);
	if ((rc = vmmi_write_file_atomic(pidf, pidtext, strlen(pidtext), 0600, err)) < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		goto out;
	}
	deadline = vmmi_now_ms() + SOCKET_WAIT_MS;
	while (lstat(sock, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		int status;

		if (waitpid(pid, &status, WNOHANG) == pid || vmmi_now_ms() >= deadline) {
			char *tail = log_tail(log);

			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			unlink(pidf);
			rc = vmm_error_set(err, VMM_E_QEMU_SPAWN, 0,
					   "see the whole output in the VM's directory",
					   "virtiofsd for the shared folder '%s' of VM '%s' did not "
					   "start: %s",
					   sh->host, vm->name, tail ? tail : "");
			free(tail);
			goto out;
		}
		vmmi_sleep_ms(20);
	}
	vmm_debug(MOD, "VM '%s': virtiofsd %ld serves '%s' on %s", vm->name, (long)pid, sh->host,
		  sock);
	rc = 0;
	goto out;
nomem:
	rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
out:
	free(sock);
	free(pidf);
	free(log);
	free(a_sock);
	free(a_src);
	return rc;
}

int vmmi_virtiofs_start(struct vmm_vm *vm, struct vmm_error *err)
{
	vmmi_virtiofs_stop(vm);
	for (size_t i = 0; i < vm->shares.n; i++) {
		if (vm->shares.v[i].type != VMM_SHARE_VIRTIOFS)
			continue;
		if (start_one(vm, i, err) < 0) {
			vmmi_virtiofs_stop(vm);
			return -1;
		}
	}
	return 0;
}
