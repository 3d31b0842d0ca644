/* SPDX-License-Identifier: MIT */
/*
 * vmctl console NAME: bridge the terminal to the VM's serial console.
 *
 * On a terminal, stdin goes raw (every key, Ctrl+C included, reaches the
 * guest) and Ctrl+] detaches; the terminal is restored however we leave.
 * When stdin is not a terminal (a pipe, a script), its bytes are sent as
 * they are and end of input detaches once the guest has gone quiet.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "console_ws.h"
#include "vmm/manager.h"

#define DETACH_KEY 0x1d /* Ctrl+] */
/* After stdin's end, keep showing the guest's output until it is quiet
 * this long. */
#define LINGER_MS 1000

static struct termios saved_tio;
static bool tio_saved;
static volatile sig_atomic_t got_signal;

static void restore_terminal(void)
{
	if (tio_saved) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
		tio_saved = false;
	}
}

static void on_signal(int sig)
{
	got_signal = sig;
}

static int make_raw(void)
{
	struct termios raw;

	if (tcgetattr(STDIN_FILENO, &saved_tio) < 0)
		return -1;
	raw = saved_tio;
	cfmakeraw(&raw);
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) < 0)
		return -1;
	tio_saved = true;
	atexit(restore_terminal);
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int connect_unix(const char *path, const char *name)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct vmm_error err;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		vmm_error_set(&err, VMM_E_CONSOLE, 0, NULL, "console socket path '%s' is too long",
			      path);
		cli_error(&err);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		vmm_error_errno(&err, VMM_E_CONSOLE, "check that the VM runs: `vmctl status NAME`",
				"cannot connect to the console of VM '%s' at '%s'", name, path);
		if (fd >= 0)
			close(fd);
		cli_error(&err);
		return -1;
	}
	return fd;
}

/* Relay until detach, end of input or the VM closing the console. */
static int bridge(int sock, bool tty)
{
	struct pollfd pfd[2] = {{STDIN_FILENO, POLLIN, 0}, {sock, POLLIN, 0}};
	bool stdin_open = true;
	uint64_t linger_end = 0;
	char buf[4096];

	for (;;) {
		int timeout = stdin_open ? -1 : LINGER_MS;
		int n;

		if (!stdin_open && now_ms() >= linger_end)
			return CLI_EXIT_OK; /* a guest that never goes quiet */

		pfd[0].fd = stdin_open ? STDIN_FILENO : -1;
		n = poll(pfd, 2, timeout);
		if (got_signal)
			return CLI_EXIT_OK;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return CLI_EXIT_ERROR;
		}
		if (n == 0)
			return CLI_EXIT_OK; /* input ended and the guest went quiet */
		if (pfd[1].revents) {
			ssize_t r = read(sock, buf, sizeof(buf));

			if (r < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (r <= 0) {
				restore_terminal();
				fprintf(stderr, "\r\n[console closed: the VM stopped]\n");
				return CLI_EXIT_OK;
			}
			if (write_all(STDOUT_FILENO, buf, (size_t)r) < 0)
				return CLI_EXIT_ERROR;
		}
		if (stdin_open && pfd[0].revents) {
			ssize_t r = read(STDIN_FILENO, buf, sizeof(buf));
			char *detach;

			if (r < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (r <= 0) {
				stdin_open = false;
				linger_end = now_ms() + 5 * LINGER_MS;
				continue;
			}
			detach = tty ? memchr(buf, DETACH_KEY, (size_t)r) : NULL;
			if (detach)
				r = detach - buf;
			if (r > 0 && write_all(sock, buf, (size_t)r) < 0)
				return CLI_EXIT_ERROR;
			if (detach)
				return CLI_EXIT_OK;
		}
	}
}

static int run(const struct cli_command *cmd, int argc, char **argv)
{
	struct vmm_console_endpoint ep = {0};
	struct vmm_ctx *ctx = NULL;
	struct vmm_vm *vm = NULL;
	struct vmm_error err;
	struct sigaction sa = {.sa_handler = on_signal};
	const char *name;
	bool tty;
	int c, rc = CLI_EXIT_ERROR, sock = -1;

	while ((c = cli_getopt(cmd, argc, argv, "", NULL)) != -1)
		;
	name = cli_one_operand(cmd, argc, argv, "NAME");
	if (vmm_ctx_new(&ctx, &err) < 0 || vmm_vm_lookup(ctx, name, &vm, &err) < 0) {
		rc = cli_error(&err);
		goto out;
	}
	if (vm->state != VMM_STATE_RUNNING && vm->state != VMM_STATE_SUSPENDED) {
		vmm_error_set(&err, VMM_E_INVALID_STATE, 0, "start it with `vmctl start NAME`",
			      "VM '%s' is %s: its console is available while it runs", name,
			      vmm_vm_state_name(vm->state));
		rc = cli_error(&err);
		goto out;
	}
	if (vmm_vm_console_endpoint(ctx, vm, &ep, &err) < 0) {
		rc = cli_error(&err);
		goto out;
	}
	if (ep.kind != VMM_CONSOLE_UNIX && ep.kind != VMM_CONSOLE_WEBSOCKET) {
		vmm_error_set(&err, VMM_E_CONSOLE, 0, "use `vmctl ssh NAME` instead",
			      "VM '%s' has no serial console this command can attach to", name);
		rc = cli_error(&err);
		goto out;
	}
	sock = ep.kind == VMM_CONSOLE_WEBSOCKET ? console_ws_open(ep.path, name)
						: connect_unix(ep.path, name);
	if (sock < 0)
		goto out;
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	tty = isatty(STDIN_FILENO);
	if (tty) {
		fprintf(stderr, "Connected to the console of '%s'. Press Ctrl+] to detach.\r\n",
			name);
		if (make_raw() < 0) {
			perror("vmctl console: cannot set the terminal to raw mode");
			goto out;
		}
	} else {
		sigaction(SIGINT, &sa, NULL);
	}
	rc = bridge(sock, tty);
	restore_terminal();
	if (tty)
		fprintf(stderr, "\nDetached from the console of '%s'.\n", name);
out:
	restore_terminal();
	if (sock >= 0)
		close(sock);
	vmm_console_endpoint_release(&ep);
	vmm_vm_free(vm);
	vmm_ctx_free(ctx);
	return rc;
}

const struct cli_command cmd_console = {
	.name = "console",
	.summary = "Attach to a VM's serial console",
	.usage = "  vmctl console NAME",
	.help = "Bridge this terminal to the VM's serial console: boot messages, kernel\n"
		"output and a login prompt, as on a physical serial port.\n"
		"Press Ctrl+] to detach; the terminal is restored.\n"
		"When standard input is not a terminal, its bytes are sent to the console\n"
		"and its end detaches once the guest's output has paused for a second.\n",
	.run = run,
};
