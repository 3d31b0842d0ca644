/* SPDX-License-Identifier: MIT */
/*
 * lib/ssh.c - SSH sessions to guests with libssh: connect (own TCP connect
 * with a short bound, then banner, key exchange and public-key auth), host
 * key verification against a per-VM known_hosts file, exec (live, through
 * channel callbacks and an ssh_event poll loop) and SFTP upload.
 */
#include "vmm/ssh.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/sftp.h>

#include "core/util.h"
#include "guest/ssh_int.h"
#include "vmm/keys.h"
#include "vmm/log.h"

#define MOD "ssh"
#define DEFAULT_ATTEMPT_MS 2000u
#define DEFAULT_HANDSHAKE_MS 15000u
#define DEFAULT_INTERVAL_MS 200u
/* Session timeout for the requests after authentication (channel open,
 * exec request, SFTP init): generous, a guest under emulation can be slow. */
#define SESSION_TIMEOUT_S 120L
/* One SFTP write request. OpenSSH's sftp-server rejects packets over 256 KiB;
 * this leaves room for the header. */
#define SFTP_CHUNK (255u * 1024u)

struct jump;
static int set_session_timeout(ssh_session session, unsigned ms);

struct vmm_ssh {
	ssh_session session;
	struct jump *jump; /* the way through a host, or NULL */
	int fd;            /* the TCP socket (ours: libssh does not close it) */
	ino_t fd_ino;
	sftp_session sftp;
	char *target;      /* user@host:port, for messages */
	char *fingerprint; /* SHA256:... of the host key */
};

/* How an attempt failed, for the retry loop. */
enum attempt_fail {
	FAIL_NONE,
	FAIL_RETRY,  /* network / banner / protocol: retry */
	FAIL_AUTH,   /* the server refused the key: retry until the deadline */
	FAIL_FATAL,  /* host key mismatch, bad configuration: stop */
};

static const char *cfg_host(const struct vmm_ssh_config *cfg)
{
	return cfg->host ? cfg->host : "127.0.0.1";
}

static unsigned cfg_port(const struct vmm_ssh_config *cfg)
{
	return cfg->port ? cfg->port : 22;
}

static void libssh_log_cb(int priority, const char *function, const char *buffer, void *userdata)
{
	(void)userdata;
	vmm_log(priority >= SSH_LOG_DEBUG ? VMM_LOG_TRACE : VMM_LOG_DEBUG, "libssh", "%s: %s",
		function, buffer);
}

/* Route libssh's own log to ours when someone asked for it
 * (VMCTL_LOG=libssh=trace). */
static void setup_libssh_log(void)
{
	if (vmm_log_enabled(VMM_LOG_TRACE, "libssh")) {
		ssh_set_log_callback(libssh_log_cb);
		ssh_set_log_level(SSH_LOG_FUNCTIONS);
	} else if (vmm_log_enabled(VMM_LOG_DEBUG, "libssh")) {
		ssh_set_log_callback(libssh_log_cb);
		ssh_set_log_level(SSH_LOG_PROTOCOL);
	}
}

/* TCP connect bounded by timeout_ms. Returns a blocking fd, or -1 with *err. */
static int tcp_connect(const char *host, unsigned port, unsigned timeout_ms,
		       struct vmm_error *err)
{
	struct addrinfo hints = {0}, *res = NULL, *ai;
	char portstr[16];
	int fd = -1, rc, last_errno = ETIMEDOUT;
	uint64_t deadline = vmmi_now_ms() + timeout_ms;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(portstr, sizeof(portstr), "%u", port);
	rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0) {
		vmm_error_set(err, VMM_E_SSH, 0, "check the host name or address",
			      "cannot resolve '%s': %s", host, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		struct pollfd pfd;
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		uint64_t now;

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			last_errno = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			goto connected;
		if (errno != EINPROGRESS) {
			last_errno = errno;
			goto next;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		for (;;) {
			now = vmmi_now_ms();
			if (now >= deadline) {
				last_errno = ETIMEDOUT;
				goto next;
			}
			rc = poll(&pfd, 1, (int)(deadline - now));
			if (rc > 0)
				break;
			if (rc < 0 && errno != EINTR) {
				last_errno = errno;
				goto next;
			}
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			soerr = errno;
		if (soerr == 0)
			goto connected;
		last_errno = soerr;
next:
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	errno = last_errno;
	vmm_error_errno(err, VMM_E_SSH, NULL, "cannot connect to %s port %u", host, port);
	return -1;
connected:
	freeaddrinfo(res);
	/* A port forwarder (slirp's hostfwd) accepts TCP before the guest is
	 * up: only the server's first bytes (its banner) prove sshd is there. */
	for (;;) {
		struct pollfd pfd = {fd, POLLIN, 0};
		uint64_t now = vmmi_now_ms();

		rc = now < deadline ? poll(&pfd, 1, (int)(deadline - now)) : 0;
		if (rc > 0)
			break;
		if (rc < 0 && errno == EINTR)
			continue;
		close(fd);
		vmm_error_set(err, VMM_E_SSH, 0, NULL,
			      "no SSH banner from %s port %u within %u ms", host, port, timeout_ms);
		return -1;
	}
	/* libssh drives the socket itself; hand it over in blocking mode. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

/* ---- through a host: an SSH session to it and a direct-tcpip channel ---- */

/*
 * The session to the host and the channel to the server, bridged to one end
 * of a socket pair by a thread; the other end is the server session's
 * socket, as a TCP connection would be.
 */
struct jump {
	ssh_session session;
	ssh_channel channel;
	int tcp;     /* the session's socket (libssh 0.10 leaves it open) */
	int fd;      /* our end of the pair */
	int stop[2]; /* a pipe: written to end the thread */
	pthread_t thread;
	bool running;
};

/* Write all of data to a socket (no SIGPIPE when its peer is gone). */
static int send_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static void *jump_pump(void *arg)
{
	struct jump *j = arg;
	char buf[32768];

	for (;;) {
		struct pollfd p[3] = {{j->fd, POLLIN, 0},
				      {ssh_get_fd(j->session), POLLIN, 0},
				      {j->stop[0], POLLIN, 0}};
		int n;

		if (poll(p, 3, 50) < 0 && errno != EINTR)
			break;
		if (p[2].revents)
			break;
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = read(j->fd, buf, sizeof(buf));

			if (r <= 0)
				break;
			if (ssh_channel_write(j->channel, buf, (uint32_t)r) != r)
				break;
		}
		/* libssh may hold data it has read already: drain it every turn */
		while ((n = ssh_channel_read_nonblocking(j->channel, buf, sizeof(buf), 0)) > 0)
			if (send_all(j->fd, buf, (size_t)n) < 0)
				goto out;
		if (n == SSH_ERROR || ssh_channel_is_eof(j->channel) ||
		    ssh_channel_is_closed(j->channel))
			break;
	}
out:
	shutdown(j->fd, SHUT_RDWR);
	return NULL;
}

static void jump_free(struct jump *j)
{
	if (!j)
		return;
	if (j->running) {
		if (write(j->stop[1], "x", 1) < 0) {
			/* the pipe cannot be full: the thread reads nothing else */
		}
		pthread_join(j->thread, NULL);
	}
	if (j->channel) {
		ssh_channel_close(j->channel);
		ssh_channel_free(j->channel);
	}
	if (j->session) {
		ssh_disconnect(j->session);
		ssh_free(j->session);
	}
	if (j->tcp >= 0)
		close(j->tcp);
	if (j->fd >= 0)
		close(j->fd);
	if (j->stop[0] >= 0)
		close(j->stop[0]);
	if (j->stop[1] >= 0)
		close(j->stop[1]);
	free(j);
}

/* Log in to the jump host (its key checked unless no_verify). */
static int jump_login(const struct vmm_ssh_jump *jc, ssh_session s, struct vmm_error *err)
{
	const char *host = jc->host;
	ssh_key key = NULL;
	int rc;

	if (ssh_connect(s) != SSH_OK)
		return vmm_error_set(err, VMM_E_SSH, 0,
				     "check that the libvirt host answers SSH (the URI's host and "
				     "port)",
				     "cannot reach the libvirt host %s over SSH: %s", host,
				     ssh_get_error(s));
	if (!jc->no_verify && ssh_session_is_known_server(s) != SSH_KNOWN_HOSTS_OK)
		return vmm_error_set(err, VMM_E_SSH_HOSTKEY, 0,
				     "log in once with `ssh` to record the host's key in "
				     "~/.ssh/known_hosts (as libvirt's own ssh transport needs)",
				     "the host key of the libvirt host %s is not in known_hosts or "
				     "differs",
				     host);
	if (jc->key_path) {
		if (ssh_pki_import_privkey_file(jc->key_path, NULL, NULL, NULL, &key) != SSH_OK)
			return vmm_error_set(err, VMM_E_SSH_AUTH, 0,
					     "the URI's keyfile must be an unencrypted private key",
					     "cannot load the key '%s' for the libvirt host %s",
					     jc->key_path, host);
		rc = ssh_userauth_publickey(s, NULL, key);
		ssh_key_free(key);
	} else {
		rc = ssh_userauth_publickey_auto(s, NULL, NULL);
	}
	if (rc != SSH_AUTH_SUCCESS)
		return vmm_error_set(err, VMM_E_SSH_AUTH, 0,
				     "give the URI a key (?keyfile=...) or load one into ssh-agent",
				     "the libvirt host %s refused the login: %s", host,
				     ssh_get_error(s));
	return 0;
}

/* Open the way to host:port through cfg->jump; *fd is the server session's
 * socket (it belongs to *out). Returns 0 or <0 with *err. */
static int jump_open(const struct vmm_ssh_config *cfg, const char *host, unsigned port,
		     unsigned timeout_ms, struct jump **out, int *fd, struct vmm_error *err)
{
	const struct vmm_ssh_jump *jc = cfg->jump;
	unsigned jport = jc->port ? jc->port : 22;
	struct jump *j = calloc(1, sizeof(*j));
	int sv[2] = {-1, -1}, flag_false = 0, rc;
	uint64_t deadline = vmmi_now_ms() + timeout_ms;

	*out = NULL;
	*fd = -1;
	if (!j)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	j->tcp = j->fd = j->stop[0] = j->stop[1] = -1;
	if (!(j->session = ssh_new())) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto fail;
	}
	/* the host, over our own bounded TCP connect */
	if ((j->tcp = tcp_connect(jc->host, jport, timeout_ms > 5000 ? timeout_ms : 5000, err)) <
	    0) {
		rc = -(int)VMM_E_SSH;
		goto fail;
	}
	if (ssh_options_set(j->session, SSH_OPTIONS_FD, &j->tcp) < 0 ||
	    ssh_options_set(j->session, SSH_OPTIONS_HOST, jc->host) < 0 ||
	    ssh_options_set(j->session, SSH_OPTIONS_PORT, &jport) < 0 ||
	    ssh_options_set(j->session, SSH_OPTIONS_PROCESS_CONFIG, &flag_false) < 0 ||
	    (jc->user && ssh_options_set(j->session, SSH_OPTIONS_USER, jc->user) < 0) ||
	    set_session_timeout(j->session, DEFAULT_HANDSHAKE_MS) < 0) {
		rc = vmm_error_set(err, VMM_E_SSH, 0, NULL, "cannot set SSH options: %s",
				   ssh_get_error(j->session));
		goto fail;
	}
	if ((rc = jump_login(jc, j->session, err)) < 0)
		goto fail;
	if (!(j->channel = ssh_channel_new(j->session)) ||
	    ssh_channel_open_forward(j->channel, host, (int)port, "127.0.0.1", 0) != SSH_OK) {
		rc = vmm_error_set(err, VMM_E_SSH, 0, NULL,
				   "the libvirt host %s cannot open a connection to %s port %u: %s",
				   jc->host, host, port, ssh_get_error(j->session));
		goto fail;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    pipe2(j->stop, O_CLOEXEC) < 0) {
		rc = vmm_error_errno(err, VMM_E_IO, NULL, "cannot create a socket pair");
		goto fail;
	}
	j->fd = sv[1];
	if (pthread_create(&j->thread, NULL, jump_pump, j) != 0) {
		rc = vmm_error_set(err, VMM_E_IO, 0, NULL, "cannot start a thread");
		goto fail;
	}
	j->running = true;
	/* the server's banner proves it is there, as for a direct connection */
	for (;;) {
		struct pollfd pfd = {sv[0], POLLIN, 0};
		uint64_t now = vmmi_now_ms();
		int prc = now < deadline ? poll(&pfd, 1, (int)(deadline - now)) : 0;

		if (prc > 0) {
			char c;

			/* EOF right away: the host's connection to the guest was refused */
			if (recv(sv[0], &c, 1, MSG_PEEK) == 1)
				break;
			rc = vmm_error_set(err, VMM_E_SSH, 0, NULL,
					   "%s port %u refused the connection from %s", host, port,
					   jc->host);
			goto fail;
		}
		if (prc < 0 && errno == EINTR)
			continue;
		rc = vmm_error_set(err, VMM_E_SSH, 0, NULL,
				   "no SSH banner from %s port %u (through %s) within %u ms", host,
				   port, jc->host, timeout_ms);
		goto fail;
	}
	*out = j;
	*fd = sv[0];
	return 0;
fail:
	if (sv[0] >= 0)
		close(sv[0]);
	if (j->fd < 0 && sv[1] >= 0)
		close(sv[1]);
	jump_free(j);
	return rc;
}

/*
 * Free a session and its socket. libssh 0.10 leaves a socket given with
 * SSH_OPTIONS_FD open; close it unless it is no longer the same socket (so a
 * libssh that does close it never makes us close a reused descriptor).
 */
static void session_free(ssh_session session, int fd, ino_t ino)
{
	struct stat st;

	if (session) {
		ssh_disconnect(session);
		ssh_free(session);
	}
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == ino)
		close(fd);
}

static ino_t fd_inode(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 ? st.st_ino : 0;
}

static char *key_fingerprint(ssh_key key)
{
	unsigned char *hash = NULL;
	size_t hlen = 0;
	char *fp, *copy;

	if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) < 0)
		return NULL;
	fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
	ssh_clean_pubkey_hash(&hash);
	if (!fp)
		return NULL;
	copy = strdup(fp);
	ssh_string_free_char(fp);
	return copy;
}

/* Whether the comma-separated host field of a known_hosts line names host. */
static bool hostfield_matches(const char *field, size_t flen, const char *host)
{
	size_t hl = strlen(host);
	const char *p = field, *end = field + flen;

	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		size_t n = comma ? (size_t)(comma - p) : (size_t)(end - p);

		if (n == hl && strncmp(p, host, n) == 0)
			return true;
		p += n + 1;
	}
	return false;
}

/*
 * The fingerprints recorded for host in the known_hosts file, for the error
 * message ("SHA256:a, SHA256:b"). Only plain (unhashed) entries are listed;
 * libssh did the actual verification.
 */
static char *expected_fingerprints(const char *path, const char *host)
{
	char *data = NULL, *line, *save = NULL;
	size_t len;
	struct vmmi_buf b;

	vmmi_buf_init(&b);
	if (vmmi_read_file(path, &data, &len, NULL) < 0)
		return NULL;
	for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f1, *f2, *f3, *s2 = NULL;
		ssh_key key = NULL;
		char *fp;

		while (*line == ' ' || *line == '\t')
			line++;
		if (*line == '#' || *line == '@' || *line == '\0')
			continue;
		f1 = strtok_r(line, " \t", &s2);
		f2 = strtok_r(NULL, " \t", &s2);
		f3 = strtok_r(NULL, " \t\r", &s2);
		if (!f1 || !f2 || !f3 || !hostfield_matches(f1, strlen(f1), host))
			continue;
		if (ssh_pki_import_pubkey_base64(f3, ssh_key_type_from_name(f2), &key) < 0)
			continue;
		fp = key_fingerprint(key);
		ssh_key_free(key);
		if (fp) {
			vmmi_buf_printf(&b, "%s%s %s", b.len ? ", " : "", f2, fp);
			free(fp);
		}
	}
	free(data);
	return b.data ? vmmi_buf_steal(&b) : NULL;
}

/* The host name libssh looks up in known_hosts, the way OpenSSH writes it. */
static char *known_hosts_host(const struct vmm_ssh_config *cfg)
{
	if (cfg->known_hosts_name)
		return strdup(cfg->known_hosts_name);
	if (cfg_port(cfg) == 22)
		return strdup(cfg_host(cfg));
	return vmmi_asprintf("[%s]:%u", cfg_host(cfg), cfg_port(cfg));
}

static int set_session_timeout(ssh_session session, unsigned ms)
{
	long sec = (long)(ms / 1000), usec = (long)(ms % 1000) * 1000;

	if (ms == 0)
		usec = 1000; /* libssh reads 0 as "default (10 s)" */
	if (ssh_options_set(session, SSH_OPTIONS_TIMEOUT, &sec) < 0 ||
	    ssh_options_set(session, SSH_OPTIONS_TIMEOUT_USEC, &usec) < 0)
		return -1;
	return 0;
}

/*
 * Check the server's key against the known_hosts file. Returns 0 if it is
 * pinned there, 1 if it is unknown and the policy is TOFU (record it after
 * authentication), <0 with *err otherwise.
 */
static int verify_host_key(const struct vmm_ssh_config *cfg, ssh_session session,
			   const char *khost, const char *fp, struct vmm_error *err)
{
	enum ssh_known_hosts_e state = ssh_session_is_known_server(session);
	char *expected = NULL;
	int rc;

	switch (state) {
	case SSH_KNOWN_HOSTS_OK:
		return 0;
	case SSH_KNOWN_HOSTS_CHANGED:
	case SSH_KNOWN_HOSTS_OTHER:
		expected = expected_fingerprints(cfg->known_hosts, khost);
		rc = vmm_error_set(err, VMM_E_SSH_HOSTKEY, 0,
				   "the guest presents a different host key than the one recorded for "
				   "it; if the VM was recreated outside vmctl, remove its entry from "
				   "the known_hosts file, otherwise something else answers on that "
				   "port",
				   "host key of %s (%s:%u) does not match %s: expected %s, presented %s",
				   khost, cfg_host(cfg), cfg_port(cfg), cfg->known_hosts,
				   expected ? expected : "a key of another type", fp);
		free(expected);
		return rc;
	case SSH_KNOWN_HOSTS_UNKNOWN:
	case SSH_KNOWN_HOSTS_NOT_FOUND:
		if (cfg->hostkey_policy == VMM_SSH_HOSTKEY_TOFU)
			return 1;
		return vmm_error_set(err, VMM_E_SSH_HOSTKEY, 0,
				     "vmctl pins the host key it generated for the guest; recreate the "
				     "VM so its known_hosts file is written again",
				     "no pinned host key for %s in %s (presented %s)", khost,
				     cfg->known_hosts, fp);
	case SSH_KNOWN_HOSTS_ERROR:
	default:
		return vmm_error_set(err, VMM_E_SSH_HOSTKEY, 0,
				     "check that the known_hosts file is readable and in OpenSSH format",
				     "cannot check the host key of %s against %s: %s", khost,
				     cfg->known_hosts, ssh_get_error(session));
	}
}

/* One attempt: TCP connect, banner + key exchange, host key check, auth. */
static int attempt(const struct vmm_ssh_config *cfg, ssh_key key, const char *key_desc,
		   unsigned timeout_ms, unsigned handshake_ms, struct vmm_ssh **out,
		   enum attempt_fail *fail, struct vmm_error *err)
{
	ssh_session session = NULL;
	ssh_key srvkey = NULL;
	struct vmm_ssh *s = NULL;
	struct jump *jump = NULL;
	char *khost = NULL, *fp = NULL;
	const char *host = cfg_host(cfg);
	unsigned port = cfg_port(cfg);
	uint64_t start = vmmi_now_ms();
	int fd, rc = -1, tofu, flag_false = 0, port_opt;
	ino_t ino;

	*fail = FAIL_RETRY;
	if (cfg->jump) {
		if ((rc = jump_open(cfg, host, port, timeout_ms, &jump, &fd, err)) < 0) {
			/* a host that refuses us will not change its mind */
			if (rc == -(int)VMM_E_SSH_AUTH || rc == -(int)VMM_E_SSH_HOSTKEY)
				*fail = FAIL_FATAL;
			return rc;
		}
	} else {
		fd = tcp_connect(host, port, timeout_ms, err);
	}
	if (fd < 0)
		return -(int)VMM_E_SSH;
	ino = fd_inode(fd);
	session = ssh_new();
	khost = known_hosts_host(cfg);
	if (!session || !khost) {
		*fail = FAIL_FATAL;
		rc = vmm_error_set(err, VMM_E_NOMEM, 0, NULL, "out of memory creating an SSH session");
		goto out;
	}
	/* libssh talks over our socket and never connects itself, so
	 * SSH_OPTIONS_HOST/PORT only name the host in known_hosts: with a
	 * known_hosts_name, port 22 keeps it unbracketed. */
	port_opt = cfg->known_hosts_name ? 22 : (int)port;
	if (ssh_options_set(session, SSH_OPTIONS_FD, &fd) < 0 ||
	    ssh_options_set(session, SSH_OPTIONS_PROCESS_CONFIG, &flag_false) < 0 ||
	    ssh_options_set(session, SSH_OPTIONS_HOST, cfg->known_hosts_name ? khost : host) < 0 ||
	    ssh_options_set(session, SSH_OPTIONS_PORT, &port_opt) < 0 ||
	    ssh_options_set(session, SSH_OPTIONS_USER, cfg->user) < 0 ||
	    ssh_options_set(session, SSH_OPTIONS_KNOWNHOSTS, cfg->known_hosts) < 0 ||
	    ssh_options_set(session, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, cfg->known_hosts) < 0 ||
	    set_session_timeout(session, handshake_ms) < 0) {
		*fail = FAIL_FATAL;
		rc = vmm_error_set(err, VMM_E_SSH, 0, NULL, "cannot set SSH options: %s",
				   ssh_get_error(session));
		goto out;
	}
	if (ssh_connect(session) != SSH_OK) {
		rc = vmm_error_set(err, VMM_E_SSH, 0, NULL,
				   "SSH handshake with %s port %u failed: %s", host, port,
				   ssh_get_error(session));
		goto out;
	}
	if (ssh_get_server_publickey(session, &srvkey) < 0 || !(fp = key_fingerprint(srvkey))) {
		rc = vmm_error_set(err, VMM_E_SSH, 0, NULL,
				   "cannot read the host key of %s port %u: %s", host, port,
				   ssh_get_error(session));
		goto out;
	}
	{
		char *shown = vmmi_asprintf("%s %s", ssh_key_type_to_char(ssh_key_type(srvkey)), fp);

		tofu = verify_host_key(cfg, session, khost, shown ? shown : fp, err);
		free(shown);
	}
	if (tofu < 0) {
		*fail = FAIL_FATAL;
		rc = tofu;
		goto out;
	}
	rc = ssh_userauth_publickey(session, NULL, key);
	if (rc != SSH_AUTH_SUCCESS) {
		if (rc == SSH_AUTH_ERROR) {
			rc = vmm_error_set(err, VMM_E_SSH, 0, NULL,
					   "SSH authentication with %s port %u failed: %s", host,
					   port, ssh_get_error(session));
		} else {
			*fail = FAIL_AUTH;
			rc = vmm_error_set(err, VMM_E_SSH_AUTH, 0, NULL,
					   "%s@%s port %u refused the key %s", cfg->user, host,
					   port, key_desc);
		}
		goto out;
	}
	if (tofu == 1) {
		if (ssh_session_update_known_hosts(session) != SSH_OK) {
			*fail = FAIL_FATAL;
			rc = vmm_error_set(err, VMM_E_IO, 0,
					   "check that the VM's work directory is writable",
					   "cannot record the host key of %s in %s: %s", khost,
					   cfg->known_hosts, ssh_get_error(session));
			goto out;
		}
		vmm_info(MOD, "recorded host key %s of %s in %s (trust on first use)", fp, khost,
			 cfg->known_hosts);
	}
	set_session_timeout(session, handshake_ms > SESSION_TIMEOUT_S * 1000
					     ? handshake_ms
					     : (unsigned)(SESSION_TIMEOUT_S * 1000));
	s = calloc(1, sizeof(*s));
	if (!s || !(s->target = vmmi_asprintf("%s@%s:%u", cfg->user, host, port))) {
		free(s);
		s = NULL;
		*fail = FAIL_FATAL;
		rc = vmm_error_set(err, VMM_E_NOMEM, 0, NULL, "out of memory");
		goto out;
	}
	s->session = session;
	s->jump = jump;
	s->fd = fd;
	s->fd_ino = ino;
	s->fingerprint = fp;
	session = NULL;
	jump = NULL;
	fd = -1;
	fp = NULL;
	*out = s;
	*fail = FAIL_NONE;
	vmm_debug(MOD, "connected to %s (host key %s) in %llu ms", s->target, s->fingerprint,
		  (unsigned long long)(vmmi_now_ms() - start));
	rc = 0;
out:
	session_free(session, fd, ino);
	jump_free(jump);
	ssh_key_free(srvkey);
	free(khost);
	free(fp);
	return rc;
}

static int load_key(const struct vmm_ssh_config *cfg, ssh_key *key, char **desc,
		    struct vmm_error *err)
{
	int rc;

	*key = NULL;
	if (!cfg->user || !cfg->known_hosts || (!cfg->key_path == !cfg->key_data))
		return vmm_error_set(err, VMM_E_USAGE, 0, NULL,
				     "SSH configuration needs a user, a known_hosts file and exactly "
				     "one private key (file or data)");
	if (cfg->key_path) {
		rc = ssh_pki_import_privkey_file(cfg->key_path, NULL, NULL, NULL, key);
		if (rc == SSH_EOF)
			return vmm_error_set(err, VMM_E_SSH_AUTH, ENOENT,
					     "pass an existing private key (--key or private-key)",
					     "cannot read the SSH private key '%s': no such file",
					     cfg->key_path);
		if (rc != SSH_OK)
			return vmm_error_set(err, VMM_E_SSH_AUTH, 0,
					     "vmctl needs an unencrypted OpenSSH or PEM private key "
					     "(no passphrase)",
					     "cannot load the SSH private key '%s'", cfg->key_path);
		*desc = strdup(cfg->key_path);
	} else {
		if (ssh_pki_import_privkey_base64(cfg->key_data, NULL, NULL, NULL, key) != SSH_OK)
			return vmm_error_set(err, VMM_E_SSH_AUTH, 0,
					     "the key must be an unencrypted OpenSSH or PEM private key",
					     "cannot load the SSH private key given in memory");
		*desc = strdup("(in-memory key)");
	}
	if (!*desc) {
		ssh_key_free(*key);
		*key = NULL;
		return vmm_error_set(err, VMM_E_NOMEM, 0, NULL, "out of memory");
	}
	return 0;
}

int vmm_ssh_connect(const struct vmm_ssh_config *cfg, struct vmm_ssh **out,
		    struct vmm_error *err)
{
	struct vmm_ssh_retry once = {0};

	/* One attempt: a deadline of zero stops after the first. */
	return vmm_ssh_connect_retry(cfg, &once, out, err);
}

static const char *auth_hint(void)
{
	return "check that the guest's authorized_keys holds the public half of this key "
	       "(cloud-init ssh-authorized-keys) and that the user name is right; the guest "
	       "may also still be applying its cloud-init seed";
}

int vmm_ssh_connect_retry(const struct vmm_ssh_config *cfg, const struct vmm_ssh_retry *retry,
			  struct vmm_ssh **out, struct vmm_error *err)
{
	ssh_key key = NULL;
	char *desc = NULL;
	unsigned interval = retry->interval_ms ? retry->interval_ms : DEFAULT_INTERVAL_MS;
	unsigned per = cfg->attempt_timeout_ms ? cfg->attempt_timeout_ms : DEFAULT_ATTEMPT_MS;
	unsigned handshake = cfg->handshake_timeout_ms ? cfg->handshake_timeout_ms
						       : DEFAULT_HANDSHAKE_MS;
	uint64_t start = vmmi_now_ms(), deadline = start + retry->timeout_ms;
	unsigned attempts = 0;
	enum attempt_fail fail = FAIL_RETRY;
	/* the guest refused the key in an earlier attempt: that is the story to
	 * tell, even if the last attempt, cut short by the deadline on a slow
	 * host, did not get as far */
	char refused[VMM_ERROR_MSG_MAX] = "";
	int rc;

	*out = NULL;
	rc = load_key(cfg, &key, &desc, err);
	if (rc < 0)
		return rc;
	setup_libssh_log();
	for (;;) {
		uint64_t t0 = vmmi_now_ms(), now;
		unsigned budget = per;

		if (retry->timeout_ms && t0 < deadline && deadline - t0 < budget)
			budget = (unsigned)(deadline - t0);
		if (budget < 100)
			budget = 100;
		attempts++;
		rc = attempt(cfg, key, desc, budget, handshake, out, &fail, err);
		if (rc == 0 || fail == FAIL_FATAL)
			break;
		if (fail == FAIL_AUTH && err)
			snprintf(refused, sizeof(refused), "%s", err->message);
		vmm_trace(MOD, "attempt %u: %s", attempts, err ? err->message : "failed");
		if (retry->cancelled && retry->cancelled(retry->cancel_userdata)) {
			ssh_key_free(key);
			free(desc);
			return vmm_error_set(err, VMM_E_SSH, EINTR, NULL,
					     "waiting for SSH to %s@%s port %u interrupted after "
					     "%.1f s",
					     cfg->user, cfg_host(cfg), cfg_port(cfg),
					     (double)(vmmi_now_ms() - start) / 1000.0);
		}
		now = vmmi_now_ms();
		if (now + (t0 + interval > now ? t0 + interval - now : 0) >= deadline)
			break;
		if (t0 + interval > now)
			vmmi_sleep_ms((unsigned)(t0 + interval - now));
	}
	if (rc < 0 && fail == FAIL_RETRY && refused[0]) {
		fail = FAIL_AUTH;
		snprintf(err->message, sizeof(err->message), "%s", refused);
	}
	if (rc < 0 && fail != FAIL_FATAL && retry->timeout_ms) {
		char *ctx = retry->context ? retry->context(retry->context_userdata) : NULL;
		char hint[VMM_ERROR_HINT_MAX];

		snprintf(hint, sizeof(hint), "%s%s%s",
			 fail == FAIL_AUTH ? auth_hint() : vmm_errcode_default_hint(VMM_E_SSH),
			 ctx && *ctx ? "\n" : "", ctx && *ctx ? ctx : "");
		free(ctx);
		if (err) {
			char msg[VMM_ERROR_MSG_MAX];

			snprintf(msg, sizeof(msg), "%s", err->message);
			vmm_error_set(err, fail == FAIL_AUTH ? VMM_E_SSH_AUTH : VMM_E_SSH,
				      err->sys_errno, hint,
				      "SSH to %s@%s port %u not ready after %.1f s (%u attempts): %s",
				      cfg->user, cfg_host(cfg), cfg_port(cfg),
				      (double)(vmmi_now_ms() - start) / 1000.0, attempts, msg);
		}
		rc = -(int)(fail == FAIL_AUTH ? VMM_E_SSH_AUTH : VMM_E_SSH);
	} else if (rc < 0 && fail == FAIL_AUTH && err) {
		snprintf(err->hint, sizeof(err->hint), "%s", auth_hint());
	}
	ssh_key_free(key);
	free(desc);
	return rc;
}

void vmm_ssh_free(struct vmm_ssh *s)
{
	if (!s)
		return;
	if (s->sftp)
		sftp_free(s->sftp);
	session_free(s->session, s->fd, s->fd_ino);
	jump_free(s->jump);
	free(s->target);
	free(s->fingerprint);
	free(s);
}

const char *vmm_ssh_peer(const struct vmm_ssh *s)
{
	return s->target;
}

const char *vmm_ssh_host_fingerprint(const struct vmm_ssh *s)
{
	return s->fingerprint;
}

int vmm_ssh_resolve_key(const char *work_dir, const char *explicit_key, char **path_out,
			struct vmm_error *err)
{
	static const char *const defaults[] = {"id_ed25519", "id_ecdsa", "id_rsa"};
	char *p = NULL;

	*path_out = NULL;
	if (work_dir) {
		p = vmmi_path_join(work_dir, VMM_GENERATED_KEY_NAME);
		if (!p)
			goto nomem;
		if (access(p, R_OK) == 0)
			goto found;
		free(p);
		p = NULL;
	}
	if (explicit_key && *explicit_key) {
		if (strncmp(explicit_key, "~/", 2) == 0)
			p = vmmi_path_join(vmmi_home(), explicit_key + 2);
		else
			p = strdup(explicit_key);
		if (!p)
			goto nomem;
		if (access(p, R_OK) == 0)
			goto found;
		vmm_error_errno(err, VMM_E_SSH_AUTH, "check the path given with --key or private-key",
				"cannot use the SSH private key '%s'", p);
		free(p);
		return -(int)VMM_E_SSH_AUTH;
	}
	for (size_t i = 0; i < VMMI_ARRAY_SIZE(defaults); i++) {
		char *dir = vmmi_path_join(vmmi_home(), ".ssh");

		p = dir ? vmmi_path_join(dir, defaults[i]) : NULL;
		free(dir);
		if (!p)
			goto nomem;
		if (access(p, R_OK) == 0)
			goto found;
		free(p);
		p = NULL;
	}
	return vmm_error_set(err, VMM_E_SSH_AUTH, ENOENT,
			     "let vmctl generate a key (omit ssh-key in the VMFile), pass --key, or "
			     "create one with ssh-keygen -t ed25519",
			     "no SSH private key found: no generated key in the VM's directory and "
			     "none of ~/.ssh/id_ed25519, id_ecdsa, id_rsa");
found:
	vmm_debug(MOD, "using private key %s", p);
	*path_out = p;
	return 0;
nomem:
	return vmm_error_set(err, VMM_E_NOMEM, 0, NULL, "out of memory");
}

/* ---- exec ---------------------------------------------------------------- */

struct exec_state {
	vmm_ssh_output_fn fn;
	void *userdata;
	int exit_status;
	int exit_signal;
	bool have_status;
	bool eof;
	bool closed;
	bool aborted;
};

static int on_data(ssh_session session, ssh_channel channel, void *data, uint32_t len,
		   int is_stderr, void *userdata)
{
	struct exec_state *st = userdata;

	(void)session;
	(void)channel;
	if (!st->aborted && len && st->fn &&
	    st->fn(st->userdata, is_stderr ? VMM_SSH_STDERR : VMM_SSH_STDOUT, data, len) != 0)
		st->aborted = true;
	return (int)len;
}

static void on_eof(ssh_session session, ssh_channel channel, void *userdata)
{
	struct exec_state *st = userdata;

	(void)session;
	(void)channel;
	st->eof = true;
}

static void on_close(ssh_session session, ssh_channel channel, void *userdata)
{
	struct exec_state *st = userdata;

	(void)session;
	(void)channel;
	st->closed = true;
}

static void on_exit_status(ssh_session session, ssh_channel channel, int status, void *userdata)
{
	struct exec_state *st = userdata;

	(void)session;
	(void)channel;
	st->exit_status = status;
	st->have_status = true;
}

static int signal_number(const char *name)
{
	static const struct {
		const char *name;
		int num;
	} sigs[] = {
		{"ABRT", SIGABRT}, {"ALRM", SIGALRM}, {"FPE", SIGFPE},   {"HUP", SIGHUP},
		{"ILL", SIGILL},   {"INT", SIGINT},   {"KILL", SIGKILL}, {"PIPE", SIGPIPE},
		{"QUIT", SIGQUIT}, {"SEGV", SIGSEGV}, {"TERM", SIGTERM}, {"USR1", SIGUSR1},
		{"USR2", SIGUSR2}, {"BUS", SIGBUS},   {"TRAP", SIGTRAP}, {"SYS", SIGSYS},
	};

	for (size_t i = 0; i < VMMI_ARRAY_SIZE(sigs); i++)
		if (strcmp(sigs[i].name, name) == 0)
			return sigs[i].num;
	return 0;
}

static void on_exit_signal(ssh_session session, ssh_channel channel, const char *sig, int core,
			   const char *errmsg, const char *lang, void *userdata)
{
	struct exec_state *st = userdata;
	int n = sig ? signal_number(sig) : 0;

	(void)session;
	(void)channel;
	(void)core;
	(void)errmsg;
	(void)lang;
	st->exit_signal = n ? n : SIGTERM;
	st->exit_status = 128 + st->exit_signal;
	st->have_status = true;
}

int vmm_ssh_exec_stream(struct vmm_ssh *s, const char *cmd, vmm_ssh_output_fn fn,
			void *userdata, int *exit_status, struct vmm_error *err)
{
	struct exec_state st = {.fn = fn, .userdata = userdata, .exit_status = -1};
	struct ssh_channel_callbacks_struct cb = {
		.userdata = &st,
		.channel_data_function = on_data,
		.channel_eof_function = on_eof,
		.channel_close_function = on_close,
		.channel_exit_status_function = on_exit_status,
		.channel_exit_signal_function = on_exit_signal,
	};
	ssh_channel ch = NULL;
	ssh_event ev = NULL;
	int rc;

	*exit_status = -1;
	ssh_callbacks_init(&cb);
	ch = ssh_channel_new(s->session);
	if (!ch || ssh_channel_open_session(ch) != SSH_OK) {
		rc = vmm_error_set(err, VMM_E_SSH, 0, NULL, "cannot open an SSH channel to %s: %s",
				   s->target, ssh_get_error(s->session));
		goto out;
	}
	ssh_set_channel_callbacks(ch, &cb);
	if (ssh_channel_request_exec(ch, cmd) != SSH_OK) {
		rc = vmm_error_set(err, VMM_E_SSH, 0, NULL, "cannot run a command on %s: %s",
				   s->target, ssh_get_error(s->session));
		goto out;
	}
	/* Nothing to send: the command sees EOF on stdin. */
	ssh_channel_send_eof(ch);
	ev = ssh_event_new();
	if (!ev || ssh_event_add_session(ev, s->session) != SSH_OK) {
		rc = vmm_error_set(err, VMM_E_NOMEM, 0, NULL, "cannot create an SSH event loop");
		goto out;
	}
	while (!st.closed && !(st.eof && st.have_status) && !st.aborted) {
		rc = ssh_event_dopoll(ev, 1000);
		if (rc == SSH_ERROR || !ssh_is_connected(s->session)) {
			ssh_event_remove_session(ev, s->session);
			rc = vmm_error_set(err, VMM_E_SSH, 0, NULL,
					   "connection to %s lost while running '%s': %s", s->target,
					   cmd, ssh_get_error(s->session));
			goto out;
		}
	}
	ssh_event_remove_session(ev, s->session);
	if (st.aborted) {
		rc = vmm_error_set(err, VMM_E_SSH, 0, NULL,
				   "output of '%s' on %s could not be delivered", cmd, s->target);
		goto out;
	}
	if (!st.have_status) {
		/* The server closed the channel without an exit status. */
		rc = vmm_error_set(err, VMM_E_SSH, 0, NULL,
				   "'%s' on %s ended without an exit status", cmd, s->target);
		goto out;
	}
	*exit_status = st.exit_status;
	vmm_debug(MOD, "'%s' on %s exited with %d", cmd, s->target, st.exit_status);
	rc = 0;
out:
	if (ev)
		ssh_event_free(ev);
	if (ch) {
		ssh_remove_channel_callbacks(ch, &cb);
		ssh_channel_close(ch);
		ssh_channel_free(ch);
	}
	return rc;
}

static int write_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = write(fd, data, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

struct fd_sink {
	int fds[3];
};

static int fd_output(void *userdata, enum vmm_ssh_stream stream, const char *data, size_t len)
{
	struct fd_sink *k = userdata;
	int fd = k->fds[stream];

	return fd < 0 ? 0 : write_all(fd, data, len);
}

int vmm_ssh_exec_fds(struct vmm_ssh *s, const char *cmd, int out_fd, int err_fd,
		     int *exit_status, struct vmm_error *err)
{
	struct fd_sink k = {{-1, out_fd, err_fd}};

	return vmm_ssh_exec_stream(s, cmd, fd_output, &k, exit_status, err);
}

struct buf_sink {
	struct vmmi_buf b[3];
	bool want[3];
};

static int buf_output(void *userdata, enum vmm_ssh_stream stream, const char *data, size_t len)
{
	struct buf_sink *k = userdata;

	return k->want[stream] ? vmmi_buf_append(&k->b[stream], data, len) : 0;
}

int vmm_ssh_exec(struct vmm_ssh *s, const char *cmd, char **out, char **errout,
		 int *exit_status, struct vmm_error *err)
{
	struct buf_sink k;
	int rc;

	for (int i = 0; i < 3; i++)
		vmmi_buf_init(&k.b[i]);
	k.want[0] = false;
	k.want[1] = out != NULL;
	k.want[2] = errout != NULL;
	if (out)
		*out = NULL;
	if (errout)
		*errout = NULL;
	rc = vmm_ssh_exec_stream(s, cmd, buf_output, &k, exit_status, err);
	if (rc == 0 && ((out && !(*out = vmmi_buf_steal(&k.b[1]))) ||
			(errout && !(*errout = vmmi_buf_steal(&k.b[2]))))) {
		rc = vmm_error_set(err, VMM_E_NOMEM, 0, NULL, "out of memory");
		if (out) {
			free(*out);
			*out = NULL;
		}
	}
	for (int i = 0; i < 3; i++)
		vmmi_buf_release(&k.b[i]);
	return rc;
}

/* ---- SFTP ---------------------------------------------------------------- */

static const char *sftp_strerror(int code)
{
	switch (code) {
	case SSH_FX_EOF:
		return "end of file";
	case SSH_FX_NO_SUCH_FILE:
		return "no such file or directory";
	case SSH_FX_PERMISSION_DENIED:
		return "permission denied";
	case SSH_FX_FAILURE:
		return "failure (disk full, or a directory in the way?)";
	case SSH_FX_BAD_MESSAGE:
		return "bad message";
	case SSH_FX_NO_CONNECTION:
		return "no connection";
	case SSH_FX_CONNECTION_LOST:
		return "connection lost";
	case SSH_FX_OP_UNSUPPORTED:
		return "operation unsupported";
	case SSH_FX_NO_SUCH_PATH:
		return "no such path";
	case SSH_FX_FILE_ALREADY_EXISTS:
		return "file already exists";
	case SSH_FX_WRITE_PROTECT:
		return "write-protected file system";
	case SSH_FX_NO_MEDIA:
		return "no media";
	default:
		return "error";
	}
}

static int sftp_fail(struct vmm_ssh *s, struct vmm_error *err, const char *what,
		     const char *remote)
{
	int code = s->sftp ? sftp_get_error(s->sftp) : 0;

	if (code > 0)
		return vmm_error_set(err, VMM_E_SSH, 0,
				     "check that the destination is an absolute path in an existing "
				     "directory the SSH user can write",
				     "SFTP %s '%s' on %s failed: %s", what, remote, s->target,
				     sftp_strerror(code));
	return vmm_error_set(err, VMM_E_SSH, 0,
			     "check that the guest's sshd offers the sftp subsystem",
			     "SFTP %s '%s' on %s failed: %s", what, remote, s->target,
			     ssh_get_error(s->session));
}

static int sftp_ready(struct vmm_ssh *s, const char *remote, struct vmm_error *err)
{
	if (s->sftp)
		return 0;
	s->sftp = sftp_new(s->session);
	if (!s->sftp)
		return sftp_fail(s, err, "session for", remote);
	if (sftp_init(s->sftp) != SSH_OK) {
		int rc = sftp_fail(s, err, "session for", remote);

		sftp_free(s->sftp);
		s->sftp = NULL;
		return rc;
	}
	return 0;
}

/* Write from fd (if >= 0) or from data/len to remote_path. */
static int upload(struct vmm_ssh *s, int fd, const char *data, size_t len, const char *remote,
		  mode_t mode, struct vmm_error *err)
{
	sftp_file f = NULL;
	char *chunk = NULL;
	size_t total = 0;
	uint64_t t0 = vmmi_now_ms();
	int rc;

	if (!remote || remote[0] != '/')
		return vmm_error_set(err, VMM_E_USAGE, 0, "give the destination as an absolute path",
				     "SFTP destination '%s' is not an absolute path",
				     remote ? remote : "(null)");
	rc = sftp_ready(s, remote, err);
	if (rc < 0)
		return rc;
	f = sftp_open(s->sftp, remote, O_WRONLY | O_CREAT | O_TRUNC, mode & 07777);
	if (!f)
		return sftp_fail(s, err, "open of", remote);
	if (fd >= 0 && !(chunk = malloc(SFTP_CHUNK))) {
		rc = vmm_error_set(err, VMM_E_NOMEM, 0, NULL, "out of memory");
		goto out;
	}
	for (;;) {
		const char *p;
		size_t n;

		if (fd >= 0) {
			ssize_t r = read(fd, chunk, SFTP_CHUNK);

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				rc = vmm_error_errno(err, VMM_E_IO, NULL,
						     "cannot read the file to upload to '%s'", remote);
				goto out;
			}
			p = chunk;
			n = (size_t)r;
		} else {
			p = data + total;
			n = len - total < SFTP_CHUNK ? len - total : SFTP_CHUNK;
		}
		if (n == 0)
			break;
		while (n) {
			ssize_t w = sftp_write(f, p, n);

			if (w <= 0) {
				rc = sftp_fail(s, err, "write to", remote);
				goto out;
			}
			p += w;
			n -= (size_t)w;
			total += (size_t)w;
		}
	}
	rc = sftp_close(f);
	f = NULL;
	if (rc != SSH_NO_ERROR) {
		rc = sftp_fail(s, err, "close of", remote);
		goto out;
	}
	/* open() on the server applied its umask; set the mode we mean. */
	if (sftp_chmod(s->sftp, remote, mode & 07777) < 0) {
		rc = sftp_fail(s, err, "chmod of", remote);
		goto out;
	}
	vmm_debug(MOD, "uploaded %zu bytes to %s:%s (mode %04o) in %llu ms", total, s->target,
		  remote, (unsigned)(mode & 07777), (unsigned long long)(vmmi_now_ms() - t0));
	rc = 0;
out:
	if (f)
		sftp_close(f);
	free(chunk);
	return rc;
}

int vmm_ssh_upload(struct vmm_ssh *s, const char *local_path, const char *remote_path,
		   int mode, struct vmm_error *err)
{
	struct stat st = {0};
	int fd, rc;

	errno = 0;
	fd = open(local_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vmm_error_errno(err, VMM_E_IO, "check the source path",
				       "cannot open '%s' for upload", local_path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (errno == 0 || S_ISDIR(st.st_mode))
			errno = EISDIR;
		rc = vmm_error_errno(err, VMM_E_IO, "upload regular files",
				     "cannot upload '%s'", local_path);
		close(fd);
		return rc;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	rc = upload(s, fd, NULL, 0, remote_path, mode >= 0 ? (mode_t)mode : st.st_mode & 07777,
		    err);
	close(fd);
	if (rc < 0)
		vmm_error_prefix(err, "uploading '%s'", local_path);
	return rc;
}

int vmm_ssh_upload_data(struct vmm_ssh *s, const void *data, size_t len,
			const char *remote_path, mode_t mode, struct vmm_error *err)
{
	return upload(s, -1, data, len, remote_path, mode, err);
}

/* ---- for the copy (ssh_int.h) ---------------------------------------------- */

sftp_session vmmi_ssh_sftp(struct vmm_ssh *s, const char *remote, struct vmm_error *err)
{
	return sftp_ready(s, remote, err) < 0 ? NULL : s->sftp;
}

int vmmi_ssh_sftp_code(struct vmm_ssh *s)
{
	return s->sftp ? sftp_get_error(s->sftp) : 0;
}

int vmmi_ssh_sftp_fail(struct vmm_ssh *s, struct vmm_error *err, const char *what,
		       const char *remote, const char *hint)
{
	int rc = sftp_fail(s, err, what, remote);

	if (hint && err)
		snprintf(err->hint, sizeof(err->hint), "%s", hint);
	return rc;
}
