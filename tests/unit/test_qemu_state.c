/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: which process the QEMU backend takes for a VM's QEMU, with
 * real processes. sleep and sh recorded as the VM (by pid, in the pidfile,
 * with paths that are substrings of their command lines, pid 1) are not
 * ours: the state is stopped and stop/destroy leave them running. A copy
 * of sh under a qemu-system-* name with the VM's exact -pidfile and -qmp
 * arguments is: it tells the argument rules apart one by one, and is
 * stopped through a pidfd. The processes are this test's children, started
 * and killed by pid; one that got a signal is a zombie waitpid() reports.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends/backend.h"
#include "backends/qemu/qemu.h"
#include "core/util.h"
#include "tmpdir.h"
#include "vmm/vm.h"

extern char **environ;

#define QEMU_NAMED_SH "qemu-system-vmctltest"

struct fixture {
	char *dir;     /* the VM's work directory */
	char *sock;    /* <dir>/qmp.sock */
	char *pidfile; /* <dir>/pidfile */
	char *qmp_arg; /* "unix:<sock>,server=on,wait=off", as qemu_args.c writes it */
	char *fake;    /* <dir>/qemu-system-vmctltest: a copy of /bin/sh */
	struct vmm_vm vm;
};

/* A child running path with argv; stdin is a pipe kept open in *hold so
 * that `read` blocks (no grandchildren to clean up). */
static pid_t spawn(const char *path, char *const argv[], int *hold)
{
	posix_spawn_file_actions_t fa;
	int p[2];
	pid_t pid;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[0], 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	assert_int_equal(posix_spawn(&pid, path, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(p[0]);
	*hold = p[1];
	/* posix_spawn returns once the kernel has switched to the program,
	 * but its command line is set up a moment later: wait for it */
	for (int i = 0; i < 500; i++) {
		char **got = vmmi_pid_argv(pid);

		free(got);
		if (got)
			return pid;
		vmmi_sleep_ms(10);
	}
	fail_msg("child %ld running %s shows no command line", (long)pid, path);
	return -1;
}

/* Whether our child is still running (it was not signalled to death; a
 * signal sent would have ended it within the pause). */
static bool still_running(pid_t pid)
{
	int st;

	vmmi_sleep_ms(20);
	return waitpid(pid, &st, WNOHANG) == 0;
}

/* The signal that ends our child within 5 s (reaped), or 0 if it keeps
 * running (then it is killed). A stop may return while the child is still
 * exiting (a zombie nobody reaps: the test reaps it here), hence the wait. */
static int ended_by(pid_t pid, int hold)
{
	int st;

	for (int i = 0; i < 500; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid) {
			close(hold);
			return WIFSIGNALED(st) ? WTERMSIG(st) : -1;
		}
		vmmi_sleep_ms(10);
	}
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	close(hold);
	return 0;
}

/* Kill and reap our child; returns the signal that had ended it before
 * (0: it was still running). */
static int reap(pid_t pid, int hold)
{
	int st, sig = 0;

	if (waitpid(pid, &st, WNOHANG) == pid)
		sig = WIFSIGNALED(st) ? WTERMSIG(st) : -1;
	else {
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &st, 0), pid);
	}
	close(hold);
	return sig;
}

static void copy_file(const char *from, const char *to)
{
	char *data = NULL;
	size_t len;
	int fd;

	assert_int_equal(vmmi_read_file(from, &data, &len, NULL), 0);
	fd = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
	free(data);
}

static void write_pidfile(struct fixture *f, long pid)
{
	char buf[32];
	struct vmm_error err = {0};

	snprintf(buf, sizeof(buf), "%ld\n", pid);
	assert_int_equal(vmmi_write_file_atomic(f->pidfile, buf, strlen(buf), 0644, &err), 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->dir = mktmpdir_prefix("vmt-qstate");
	f->sock = vmmi_path_join(f->dir, "qmp.sock");
	f->pidfile = vmmi_path_join(f->dir, "pidfile");
	f->qmp_arg = vmmi_asprintf("unix:%s,server=on,wait=off", f->sock);
	f->fake = vmmi_path_join(f->dir, QEMU_NAMED_SH);
	copy_file("/bin/sh", f->fake);
	f->vm.name = "t";
	f->vm.state = VMM_STATE_RUNNING;
	f->vm.work_dir = f->dir;
	f->vm.qmp_socket = f->sock;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	free(f->sock);
	free(f->pidfile);
	free(f->qmp_arg);
	free(f->fake);
	rmtree(f->dir);
	free(f);
	return 0;
}

static enum vmm_vm_state state_of(struct vmm_vm *vm)
{
	enum vmm_vm_state st = VMM_STATE_FAILED;
	struct vmm_error err = {0};

	assert_int_equal(vmmi_qemu_state(NULL, vm, &st, &err), 0);
	return st;
}

static void stop_ok(struct vmm_vm *vm)
{
	struct vmm_error err = {0};

	assert_int_equal(vmmi_backend_qemu.stop(NULL, vm, 1, &err), 0);
	assert_int_equal(vm->pid, 0);
}

static void destroy_ok(struct vmm_vm *vm)
{
	struct vmm_error err = {0};

	assert_int_equal(vmmi_backend_qemu.destroy(NULL, vm, &err), 0);
	assert_int_equal(vm->pid, 0);
}

/*
 * A process that is not ours, recorded as the VM: by pid (with and without
 * its right start time) and, with no pid, in the pidfile. Each time it is
 * not ours, the state is stopped, and stop and destroy leave it running.
 */
static void assert_never_ours(struct fixture *f, pid_t pid)
{
	unsigned long long real_start = vmmi_pid_starttime(pid);

	assert_true(real_start != 0);
	for (int mode = 0; mode < 3; mode++) {
		void (*op)(struct vmm_vm *) = mode == 1 ? destroy_ok : stop_ok;

		f->vm.state = VMM_STATE_RUNNING;
		f->vm.pid = mode == 2 ? 0 : pid;
		f->vm.pid_starttime = mode == 1 ? real_start : 0;
		write_pidfile(f, pid);
		assert_false(vmmi_qemu_is_our_process(&f->vm, pid, 0));
		assert_false(vmmi_qemu_is_our_process(&f->vm, pid, real_start));
		assert_false(vmmi_qemu_alive(&f->vm));
		assert_int_equal(state_of(&f->vm), VMM_STATE_STOPPED);
		op(&f->vm);
		assert_true(still_running(pid));
	}
}

/* `sleep 1001` with "qmp_socket":"1001" (the old check took a substring
 * of the command line), then with "", then with real paths. */
static void test_sleep_is_not_ours(void **state)
{
	struct fixture *f = *state;
	char *argv[] = {"sleep", "1001", NULL};
	int hold;
	pid_t pid = spawn("/bin/sleep", argv, &hold);

	f->vm.qmp_socket = "1001";
	assert_never_ours(f, pid);
	f->vm.qmp_socket = "";
	assert_never_ours(f, pid);
	f->vm.work_dir = "";
	assert_never_ours(f, pid);
	f->vm.work_dir = f->dir;
	f->vm.qmp_socket = f->sock;
	assert_never_ours(f, pid);
	assert_int_equal(reap(pid, hold), 0);
}

/* pid 1 (init), 0 and negative pids: never ours, in the record or the
 * pidfile, whatever the paths (stop would have signalled init). */
static void test_pid_1_and_below_are_not_ours(void **state)
{
	struct fixture *f = *state;
	const char *socks[] = {"", "1001", "/", f->sock};
	pid_t pids[] = {1, 0, -1, -12345};

	for (size_t s = 0; s < VMMI_ARRAY_SIZE(socks); s++) {
		f->vm.qmp_socket = (char *)socks[s];
		for (size_t i = 0; i < VMMI_ARRAY_SIZE(pids); i++) {
			f->vm.state = VMM_STATE_RUNNING;
			f->vm.pid = pids[i];
			f->vm.pid_starttime = pids[i] == 1 ? vmmi_pid_starttime(1) : 0;
			assert_false(vmmi_qemu_is_our_process(&f->vm, pids[i], 0));
			assert_false(vmmi_qemu_is_our_process(&f->vm, pids[i],
							      f->vm.pid_starttime));
			assert_int_equal(state_of(&f->vm), VMM_STATE_STOPPED);
			stop_ok(&f->vm);
		}
		/* the pidfile names init */
		write_pidfile(f, 1);
		f->vm.pid = 0;
		f->vm.state = VMM_STATE_RUNNING;
		assert_int_equal(state_of(&f->vm), VMM_STATE_STOPPED);
		destroy_ok(&f->vm);
	}
	f->vm.qmp_socket = f->sock;
	assert_true(vmmi_pid_alive(1));
}

/* sh exec'd under the name qemu-system-x86_64 with the VM's exact
 * arguments: everything but its executable looks like QEMU. */
static void test_forged_argv_with_another_exe_is_not_ours(void **state)
{
	struct fixture *f = *state;
	char *argv[] = {"qemu-system-x86_64", "-c", "read x", "-pidfile", f->pidfile, "-qmp",
			f->qmp_arg, NULL};
	int hold;
	pid_t pid = spawn("/bin/sh", argv, &hold);

	assert_never_ours(f, pid);
	assert_int_equal(reap(pid, hold), 0);
}

/* The ownership rules one by one, on a process whose executable is named
 * qemu-system-* (a copy of sh: it passes the name check by design). */
static void test_argument_rules(void **state)
{
	struct fixture *f = *state;
	char *joined_p = vmmi_asprintf("-pidfile %s", f->pidfile);
	char *joined_q = vmmi_asprintf("-qmp %s", f->qmp_arg);
	char *pid_x = vmmi_asprintf("%s.x", f->pidfile);
	char *qmp_x = vmmi_asprintf("unix:%s.x,server=on,wait=off", f->sock);
	char *qmp_bare = vmmi_asprintf("unix:%s", f->sock);
	char *qmp_tcp = vmmi_asprintf("tcp:%s", f->sock);
	struct {
		const char *what;
		char *argv[9];
		bool ours;
	} cases[] = {
		{"exact", {"qemu", "-c", "read x", "-pidfile", f->pidfile, "-qmp", f->qmp_arg}, true},
		{"bare unix: value", {"qemu", "-c", "read x", "-qmp", qmp_bare, "-pidfile", f->pidfile},
		 true},
		{"no -qmp", {"qemu", "-c", "read x", "-pidfile", f->pidfile}, false},
		{"no -pidfile", {"qemu", "-c", "read x", "-qmp", f->qmp_arg}, false},
		{"joined words", {"qemu", "-c", "read x", joined_p, joined_q}, false},
		{"other pidfile", {"qemu", "-c", "read x", "-pidfile", pid_x, "-qmp", f->qmp_arg},
		 false},
		{"other socket", {"qemu", "-c", "read x", "-pidfile", f->pidfile, "-qmp", qmp_x},
		 false},
		{"tcp socket", {"qemu", "-c", "read x", "-pidfile", f->pidfile, "-qmp", qmp_tcp},
		 false},
		{"swapped", {"qemu", "-c", "read x", "-qmp", f->pidfile, "-pidfile", f->qmp_arg},
		 false},
	};

	for (size_t i = 0; i < VMMI_ARRAY_SIZE(cases); i++) {
		int hold;
		pid_t pid = spawn(f->fake, cases[i].argv, &hold);
		unsigned long long t = vmmi_pid_starttime(pid);

		if (vmmi_qemu_is_our_process(&f->vm, pid, 0) != cases[i].ours)
			fail_msg("%s: expected %s", cases[i].what, cases[i].ours ? "ours" : "not ours");
		assert_int_equal(vmmi_qemu_is_our_process(&f->vm, pid, t), cases[i].ours);
		/* another start time: a recycled pid */
		assert_false(vmmi_qemu_is_our_process(&f->vm, pid, t + 1));
		if (cases[i].ours) {
			struct vmm_vm other = f->vm;

			/* a socket or work directory that is a prefix of ours */
			other.qmp_socket = f->dir;
			assert_false(vmmi_qemu_is_our_process(&other, pid, 0));
			other.qmp_socket = f->sock;
			other.work_dir = "/tmp";
			assert_false(vmmi_qemu_is_our_process(&other, pid, 0));
			other.work_dir = "";
			assert_false(vmmi_qemu_is_our_process(&other, pid, 0));
			other.work_dir = f->dir;
			other.qmp_socket = "";
			assert_false(vmmi_qemu_is_our_process(&other, pid, 0));
		}
		assert_int_equal(reap(pid, hold), 0);
	}
	free(joined_p);
	free(joined_q);
	free(pid_x);
	free(qmp_x);
	free(qmp_bare);
	free(qmp_tcp);
}

/* A comma in the socket path is doubled on QEMU's command line: only the
 * escaped form is this path ("unix:/d/a,b" would be the path "/d/a"). */
static void test_comma_in_socket_path(void **state)
{
	struct fixture *f = *state;
	char *esc = vmmi_asprintf("unix:%s/a,,b.sock,server=on,wait=off", f->dir);
	char *raw = vmmi_asprintf("unix:%s/a,b.sock,server=on,wait=off", f->dir);
	char *sock = vmmi_asprintf("%s/a,b.sock", f->dir);
	char *shorter = vmmi_asprintf("%s/a", f->dir);
	char *a1[] = {"q", "-c", "read x", "-pidfile", f->pidfile, "-qmp", esc, NULL};
	char *a2[] = {"q", "-c", "read x", "-pidfile", f->pidfile, "-qmp", raw, NULL};
	int h1, h2;
	pid_t p1 = spawn(f->fake, a1, &h1), p2 = spawn(f->fake, a2, &h2);

	f->vm.qmp_socket = sock;
	assert_true(vmmi_qemu_is_our_process(&f->vm, p1, 0));
	assert_false(vmmi_qemu_is_our_process(&f->vm, p2, 0));
	f->vm.qmp_socket = shorter;
	assert_false(vmmi_qemu_is_our_process(&f->vm, p1, 0));
	assert_true(vmmi_qemu_is_our_process(&f->vm, p2, 0));
	f->vm.qmp_socket = f->sock;
	assert_int_equal(reap(p1, h1), 0);
	assert_int_equal(reap(p2, h2), 0);
	free(esc);
	free(raw);
	free(sock);
	free(shorter);
}

/* What is ours is seen running and is stopped: recorded with its start
 * time, adopted from the pidfile, and (ignoring SIGTERM) killed. */
static void test_ours_is_stopped_through_a_pidfd(void **state)
{
	struct fixture *f = *state;
	char *argv[] = {"qemu", "-c", "read x", "-pidfile", f->pidfile, "-qmp", f->qmp_arg, NULL};
	char *deaf[] = {"qemu", "-c", "trap '' TERM; read x", "-pidfile", f->pidfile, "-qmp",
			f->qmp_arg, NULL};
	int hold;
	pid_t pid;

	/* recorded: the state is running (QMP does not answer: no socket) */
	pid = spawn(f->fake, argv, &hold);
	f->vm.pid = pid;
	f->vm.pid_starttime = vmmi_pid_starttime(pid);
	f->vm.state = VMM_STATE_RUNNING;
	assert_true(vmmi_qemu_alive(&f->vm));
	assert_int_equal(state_of(&f->vm), VMM_STATE_RUNNING);
	stop_ok(&f->vm);
	assert_int_equal(ended_by(pid, hold), SIGTERM);

	/* adopted from the pidfile */
	pid = spawn(f->fake, argv, &hold);
	write_pidfile(f, pid);
	f->vm.pid = 0;
	f->vm.pid_starttime = 0;
	assert_int_equal(state_of(&f->vm), VMM_STATE_RUNNING);
	stop_ok(&f->vm);
	assert_int_equal(ended_by(pid, hold), SIGTERM);
	/* stop forgot the process and removed the pidfile */
	assert_int_equal(access(f->pidfile, F_OK), -1);

	/* ignores SIGTERM: destroy kills it */
	pid = spawn(f->fake, deaf, &hold);
	vmmi_sleep_ms(100); /* let sh set the trap */
	f->vm.pid = pid;
	f->vm.pid_starttime = vmmi_pid_starttime(pid);
	destroy_ok(&f->vm);
	assert_int_equal(ended_by(pid, hold), SIGKILL);
}

/* A pidfd names one process: once it has exited, a signal through it
 * reaches nothing (ESRCH), whoever has its pid now. */
static void test_pidfd_outlives_the_pid(void **state)
{
	char *argv[] = {"sleep", "1000", NULL};
	int hold, fd, st;
	pid_t pid;

	(void)state;
	pid = spawn("/bin/sleep", argv, &hold);
	fd = vmmi_pidfd_open(pid);
	assert_true(fd >= 0);
	assert_int_equal(vmmi_pidfd_send_signal(fd, 0), 0);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	close(hold);
	errno = 0;
	assert_int_equal(vmmi_pidfd_send_signal(fd, SIGTERM), -1);
	assert_int_equal(errno, ESRCH);
	close(fd);
	assert_int_equal(vmmi_pidfd_open(0), -1);
	assert_int_equal(errno, ESRCH);
}

/* vmmi_pid_argv splits on NUL, keeps empty words; vmmi_pid_exe resolves. */
static void test_pid_argv_and_exe(void **state)
{
	char *argv[] = {"sh", "-c", "read x", "", "x y", NULL};
	int hold;
	pid_t pid;
	char **got, *exe, *sh = realpath("/bin/sh", NULL);

	(void)state;
	pid = spawn("/bin/sh", argv, &hold);
	got = vmmi_pid_argv(pid);
	assert_non_null(got);
	for (int i = 0; i < 5; i++)
		assert_string_equal(got[i], argv[i]);
	assert_null(got[5]);
	free(got);
	exe = vmmi_pid_exe(pid);
	assert_non_null(exe);
	assert_non_null(sh);
	assert_string_equal(exe, sh);
	free(exe);
	free(sh);
	assert_int_equal(reap(pid, hold), 0);
	assert_null(vmmi_pid_argv(pid));
	assert_null(vmmi_pid_exe(pid));
	assert_null(vmmi_pid_argv(0));
	assert_null(vmmi_pid_exe(-1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sleep_is_not_ours, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pid_1_and_below_are_not_ours, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forged_argv_with_another_exe_is_not_ours, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_argument_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_comma_in_socket_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ours_is_stopped_through_a_pidfd, setup,
						teardown),
		cmocka_unit_test(test_pidfd_outlives_the_pid),
		cmocka_unit_test(test_pid_argv_and_exe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
