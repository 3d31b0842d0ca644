/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/sshd_fixture.h - a real OpenSSH sshd for the SSH and provision
 * tests: its own directory, host keys, client keys and config, listening on
 * 127.0.0.1 on a free high port, as the current user (root or not).
 * Included by one test file each (everything is static).
 */
#ifndef SSHD_FIXTURE_H
#define SSHD_FIXTURE_H

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/util.h"

#define SSHD_BIN "/usr/sbin/sshd"
/* Not every test file uses every helper. */
#define FX_FN static __attribute__((unused))

struct sshd_fixture {
	char dir[64];
	char *user;
	char *host_key;     /* the server's host key */
	char *other_key;    /* a second host key (not the server's) */
	char *client_key;   /* authorized */
	char *wrong_key;    /* not authorized */
	char *known_hosts;  /* empty path in dir (not created) */
	unsigned port;
	pid_t pid;
};

FX_FN char *fx_path(const struct sshd_fixture *f, const char *name)
{
	return vmmi_path_join(f->dir, name);
}

/* A TCP port nobody listens on right now. */
FX_FN unsigned fx_free_port(void)
{
	struct sockaddr_in a = {0};
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	unsigned port = 0;

	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &l) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

FX_FN int fx_run(char *const argv[])
{
	char *out = NULL, *errout = NULL;
	int status = -1;

	if (vmmi_run(argv, &out, &errout, &status, NULL) < 0 || status != 0) {
		fprintf(stderr, "fixture: %s failed (%d): %s%s\n", argv[0], status,
			out ? out : "", errout ? errout : "");
		status = -1;
	}
	free(out);
	free(errout);
	return status;
}

FX_FN int fx_keygen(const char *path, const char *type)
{
	char *argv[] = {"ssh-keygen", "-q", "-t", (char *)type, "-N", "", "-C", "vmctl-test",
			"-f", (char *)path, NULL};

	return fx_run(argv);
}

/* The SHA256 fingerprint of a key file, as ssh-keygen -l prints it. */
FX_FN char *fx_fingerprint(const char *path)
{
	char *argv[] = {"ssh-keygen", "-l", "-E", "sha256", "-f", (char *)path, NULL};
	char *out = NULL, *fp = NULL, *p, *q;
	int status;

	if (vmmi_run(argv, &out, NULL, &status, NULL) == 0 && status == 0 &&
	    (p = strstr(out, "SHA256:")) && (q = strchr(p, ' ')))
		fp = strndup(p, (size_t)(q - p));
	free(out);
	return fp;
}

/* Whether something on 127.0.0.1:port sends an SSH banner. */
FX_FN int fx_banner(unsigned port)
{
	struct sockaddr_in a = {0};
	struct pollfd pfd;
	char buf[8] = {0};
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok = 0;

	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return 0;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 1000) == 1 && read(fd, buf, 4) == 4 && memcmp(buf, "SSH-", 4) == 0)
			ok = 1;
	}
	close(fd);
	return ok;
}

FX_FN int fx_write(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	if (!fp)
		return -1;
	fputs(text, fp);
	return fclose(fp);
}

FX_FN void fx_stop(struct sshd_fixture *f)
{
	if (f->pid > 0) {
		kill(f->pid, SIGTERM);
		waitpid(f->pid, NULL, 0);
		f->pid = 0;
	}
}

/* Start sshd. Returns 0, or -1 (with a message on stderr). */
FX_FN int fx_start(struct sshd_fixture *f)
{
	char *cfg = NULL, *pub = NULL, *ak = NULL, *pidf = NULL, *log = NULL, *text = NULL;
	struct passwd *pw = getpwuid(getuid());
	int rc = -1, logfd;

	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/vmctl-sshd-XXXXXX");
	if (!mkdtemp(f->dir) || !pw)
		return -1;
	f->user = strdup(pw->pw_name);
	f->host_key = fx_path(f, "host_ed25519");
	f->other_key = fx_path(f, "other_ed25519");
	f->client_key = fx_path(f, "client_ed25519");
	f->wrong_key = fx_path(f, "wrong_ed25519");
	f->known_hosts = fx_path(f, "known_hosts");
	cfg = fx_path(f, "sshd_config");
	ak = fx_path(f, "authorized_keys");
	pidf = fx_path(f, "sshd.pid");
	log = fx_path(f, "sshd.log");
	pub = vmmi_asprintf("%s.pub", f->client_key);
	if (fx_keygen(f->host_key, "ed25519") < 0 || fx_keygen(f->other_key, "ed25519") < 0 ||
	    fx_keygen(f->client_key, "ed25519") < 0 || fx_keygen(f->wrong_key, "ed25519") < 0)
		goto out;
	{
		char *argv[] = {"cp", pub, ak, NULL};

		if (fx_run(argv) < 0)
			goto out;
	}
	f->port = fx_free_port();
	text = vmmi_asprintf("Port %u\n"
			     "ListenAddress 127.0.0.1\n"
			     "HostKey %s\n"
			     "AuthorizedKeysFile %s\n"
			     "PidFile %s\n"
			     "UsePAM no\n"
			     "StrictModes no\n"
			     "PasswordAuthentication no\n"
			     "KbdInteractiveAuthentication no\n"
			     "PubkeyAuthentication yes\n"
			     "PermitRootLogin prohibit-password\n"
			     "MaxStartups 200\n"
			     "MaxAuthTries 50\n"
			     "LogLevel ERROR\n"
			     "Subsystem sftp internal-sftp\n",
			     f->port, f->host_key, ak, pidf);
	if (!text || fx_write(cfg, text) < 0)
		goto out;
	/* As root sshd wants its privilege separation directory. */
	if (geteuid() == 0)
		mkdir("/run/sshd", 0755);
	logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	f->pid = fork();
	if (f->pid == 0) {
		dup2(logfd, 1);
		dup2(logfd, 2);
		execl(SSHD_BIN, SSHD_BIN, "-D", "-e", "-f", cfg, (char *)NULL);
		_exit(127);
	}
	close(logfd);
	for (int i = 0; i < 200; i++) {
		if (fx_banner(f->port)) {
			rc = 0;
			goto out;
		}
		if (waitpid(f->pid, NULL, WNOHANG) == f->pid) {
			f->pid = 0;
			break;
		}
		usleep(25000);
	}
	fprintf(stderr, "fixture: sshd did not start (see %s)\n", log);
	fx_stop(f);
out:
	free(cfg);
	free(pub);
	free(ak);
	free(pidf);
	free(log);
	free(text);
	return rc;
}

FX_FN void fx_free(struct sshd_fixture *f)
{
	fx_stop(f);
	if (f->dir[0])
		vmmi_rm_rf(f->dir, NULL);
	free(f->user);
	free(f->host_key);
	free(f->other_key);
	free(f->client_key);
	free(f->wrong_key);
	free(f->known_hosts);
	memset(f, 0, sizeof(*f));
}

/* Write "<name> <host public key>" into the known_hosts file. */
FX_FN int fx_pin(struct sshd_fixture *f, const char *name, const char *key_path)
{
	char *pubpath = vmmi_asprintf("%s.pub", key_path), *pub = NULL, *line = NULL;
	size_t len;
	int rc = -1;

	if (vmmi_read_file(pubpath, &pub, &len, NULL) == 0 &&
	    (line = vmmi_asprintf("%s %s", name, pub)))
		rc = fx_write(f->known_hosts, line);
	free(pubpath);
	free(pub);
	free(line);
	return rc;
}

#endif
