/* SPDX-License-Identifier: MIT */
#include "core/util.h"

#include "vmm/file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

int vmmi_set_str(char **dst, const char *val, struct vmm_error *err)
{
	char *c = val ? strdup(val) : NULL;

	if (val && !c)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	free(*dst);
	*dst = c;
	return 0;
}

char *vmmi_asprintf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

char *vmmi_path_join(const char *a, const char *b)
{
	size_t la = strlen(a);

	while (la > 1 && a[la - 1] == '/')
		la--;
	while (*b == '/')
		b++;
	return vmmi_asprintf("%.*s/%s", (int)la, a, b);
}

void vmmi_buf_init(struct vmmi_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void vmmi_buf_release(struct vmmi_buf *b)
{
	free(b->data);
	vmmi_buf_init(b);
}

static int buf_reserve(struct vmmi_buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (extra > SIZE_MAX - b->len - 1)
		return -1;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = realloc(b->data, cap);
	if (!p)
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

int vmmi_buf_append(struct vmmi_buf *b, const void *data, size_t len)
{
	if (buf_reserve(b, len) < 0)
		return -1;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int vmmi_buf_printf(struct vmmi_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || buf_reserve(b, (size_t)n) < 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

char *vmmi_buf_steal(struct vmmi_buf *b)
{
	char *p;

	if (!b->data && buf_reserve(b, 0) < 0)
		return NULL;
	if (b->len == 0)
		b->data[0] = '\0';
	p = b->data;
	vmmi_buf_init(b);
	return p;
}

int vmmi_mkdir_p(const char *path, mode_t mode, struct vmm_error *err)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(tmp))
		return vmm_error_set(err, VMM_E_IO, ENAMETOOLONG, NULL,
				     "cannot create directory '%s': path too long", path);
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return vmm_error_errno(err, VMM_E_IO, NULL, "cannot create directory '%s'",
					       tmp);
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0) {
		struct stat st;

		if (errno != EEXIST)
			return vmm_error_errno(err, VMM_E_IO, NULL, "cannot create directory '%s'",
					       tmp);
		if (stat(tmp, &st) < 0 || !S_ISDIR(st.st_mode))
			return vmm_error_set(err, VMM_E_IO, ENOTDIR, NULL,
					     "'%s' exists and is not a directory", tmp);
	}
	return 0;
}

int vmmi_read_file(const char *path, char **data, size_t *len, struct vmm_error *err)
{
	struct vmmi_buf b;
	struct stat sb;
	int fd;

	*data = NULL;
	if (len)
		*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vmm_error_errno(err, VMM_E_IO, NULL, "cannot open '%s'", path);
	vmmi_buf_init(&b);
	/* A regular file is read straight into a buffer of its size (one
	 * read, no copies); anything else, or a file that grows, in steps. */
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0 &&
	    buf_reserve(&b, (size_t)sb.st_size + 1) < 0)
		goto nomem;
	for (;;) {
		ssize_t n;

		if (b.len + 1 >= b.cap && buf_reserve(&b, 65536) < 0)
			goto nomem;
		n = read(fd, b.data + b.len, b.cap - b.len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int rc = vmm_error_errno(err, VMM_E_IO, NULL, "cannot read '%s'", path);

			close(fd);
			vmmi_buf_release(&b);
			return rc;
		}
		if (n == 0)
			break;
		b.len += (size_t)n;
		b.data[b.len] = '\0';
	}
	close(fd);
	if (len)
		*len = b.len;
	*data = vmmi_buf_steal(&b);
	if (!*data)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	return 0;
nomem:
	close(fd);
	vmmi_buf_release(&b);
	return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory reading '%s'", path);
}

int vmm_file_read(const char *path, char **data, size_t *len, struct vmm_error *err)
{
	return vmmi_read_file(path, data, len, err);
}

size_t vmm_text_tail(const char *text, size_t len, size_t n)
{
	size_t i;
	size_t seen = 0;

	if (n == 0 || len == 0)
		return 0;
	i = len - (text[len - 1] == '\n' ? 1 : 0);
	while (i > 0) {
		if (text[i - 1] == '\n' && ++seen == n)
			break;
		i--;
	}
	return i;
}

int vmmi_fsync_parent(const char *path, struct vmm_error *err)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t n;
	int fd;

	if (!slash) {
		strcpy(dir, ".");
	} else {
		n = slash == path ? 1 : (size_t)(slash - path);
		if (n >= sizeof(dir))
			return vmm_error_set(err, VMM_E_IO, ENAMETOOLONG, NULL, "path too long: %s",
					     path);
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return vmm_error_errno(err, VMM_E_IO, NULL, "cannot open directory '%s'", dir);
	if (fsync(fd) < 0 && errno != EINVAL) {
		int rc = vmm_error_errno(err, VMM_E_IO, NULL, "cannot sync directory '%s'", dir);

		close(fd);
		return rc;
	}
	close(fd);
	return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The directory part of path ("." for none, "/" for the root) and where the
 * last component starts. NULL on allocation failure. */
static char *split_dir(const char *path, const char **base)
{
	const char *slash = strrchr(path, '/');

	if (!slash) {
		*base = path;
		return strdup(".");
	}
	*base = slash + 1;
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

/* A name for a temporary file next to base that nobody can guess:
 * "BASE.tmp.<16 hex digits>" from getrandom. */
static char *temp_name(const char *base)
{
	unsigned char r[8];
	char hex[2 * sizeof(r) + 1];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return NULL;
	for (size_t i = 0; i < sizeof(r); i++)
		snprintf(hex + 2 * i, 3, "%02x", r[i]);
	return vmmi_asprintf("%s.tmp.%s", base, hex);
}

int vmmi_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
			   struct vmm_error *err)
{
	const char *base;
	char *dir = split_dir(path, &base), *tmp = NULL;
	int dfd = -1, fd = -1, rc;

	if (!dir)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	if (!*base) {
		rc = vmm_error_set(err, VMM_E_IO, EISDIR, NULL, "cannot write '%s': not a file name",
				   path);
		goto out;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		rc = vmm_error_errno(err, VMM_E_IO, NULL, "cannot create '%s' in directory '%s'",
				     path, dir);
		goto out;
	}
	/* Created exclusively, under a name nobody can guess, never through a
	 * symbolic link: nothing planted in the directory receives the data. */
	for (int tries = 0; fd < 0; tries++) {
		free(tmp);
		if (!(tmp = temp_name(base))) {
			rc = vmm_error_errno(err, VMM_E_IO, NULL,
					     "cannot make a temporary name for '%s'", path);
			goto out;
		}
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd < 0 && (errno != EEXIST || tries >= 100)) {
			rc = vmm_error_errno(err, VMM_E_IO, NULL, "cannot create '%s/%s'", dir, tmp);
			goto out;
		}
	}
	if (write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		rc = vmm_error_errno(err, VMM_E_IO, NULL, "cannot write '%s/%s'", dir, tmp);
		close(fd);
		unlinkat(dfd, tmp, 0);
		goto out;
	}
	if (close(fd) < 0) {
		rc = vmm_error_errno(err, VMM_E_IO, NULL, "cannot write '%s/%s'", dir, tmp);
		unlinkat(dfd, tmp, 0);
		goto out;
	}
	if (renameat(dfd, tmp, dfd, base) < 0) {
		rc = vmm_error_errno(err, VMM_E_IO, NULL, "cannot rename '%s/%s' to '%s'", dir, tmp,
				     path);
		unlinkat(dfd, tmp, 0);
		goto out;
	}
	rc = 0;
	if (fsync(dfd) < 0 && errno != EINVAL)
		rc = vmm_error_errno(err, VMM_E_IO, NULL, "cannot sync directory '%s'", dir);
out:
	if (dfd >= 0)
		close(dfd);
	free(tmp);
	free(dir);
	return rc;
}

/* Remove name in the directory parent, and all under it. A directory is
 * opened with O_NOFOLLOW and walked by its descriptor; anything that is
 * not a directory, a symbolic link included, is unlinked, never followed:
 * nothing outside the tree is touched. */
static int rm_rf_at(int parent, const char *name, struct vmm_error *err, const char *top)
{
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct dirent *de;
	int rc = 0;
	DIR *d;

	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		if (errno != ENOTDIR && errno != ELOOP)
			return vmm_error_errno(err, VMM_E_IO, NULL, "cannot open '%s'", top);
		if (unlinkat(parent, name, 0) < 0 && errno != ENOENT)
			return vmm_error_errno(err, VMM_E_IO, NULL, "cannot remove '%s'", top);
		return 0;
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return vmm_error_errno(err, VMM_E_IO, NULL, "cannot open '%s'", top);
	}
	while (rc == 0 && (errno = 0, de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		rc = rm_rf_at(dirfd(d), de->d_name, err, top);
	}
	if (rc == 0 && errno != 0)
		rc = vmm_error_errno(err, VMM_E_IO, NULL, "cannot read '%s'", top);
	closedir(d);
	if (rc < 0)
		return rc;
	if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return vmm_error_errno(err, VMM_E_IO, NULL, "cannot remove '%s'", top);
	return 0;
}

int vmmi_rm_rf(const char *path, struct vmm_error *err)
{
	size_t n = strlen(path);
	const char *base;
	char *trimmed, *dir;
	int dfd, rc;

	while (n > 1 && path[n - 1] == '/')
		n--;
	if (!(trimmed = strndup(path, n)))
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	dir = split_dir(trimmed, &base);
	if (!dir) {
		free(trimmed);
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	}
	if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
		rc = vmm_error_set(err, VMM_E_IO, EINVAL, NULL,
				   "refusing to remove '%s': it does not end in a name", path);
		goto out;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		rc = errno == ENOENT ? 0
				     : vmm_error_errno(err, VMM_E_IO, NULL, "cannot open '%s'", dir);
		goto out;
	}
	rc = rm_rf_at(dfd, base, err, path);
	close(dfd);
out:
	free(dir);
	free(trimmed);
	return rc;
}

int vmmi_lock_path(const char *path, struct vmm_error *err)
{
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	struct stat st;

	if (fd < 0 && errno == ELOOP)
		return vmm_error_set(err, VMM_E_LOCK, ELOOP,
				     "remove it: a lock file is a plain file vmctl creates",
				     "lock file '%s' is a symbolic link; not following it", path);
	if (fd < 0)
		return vmm_error_errno(err, VMM_E_LOCK, NULL, "cannot open lock file '%s'", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return vmm_error_set(err, VMM_E_LOCK, 0,
				     "remove it: a lock file is a plain file vmctl creates",
				     "lock file '%s' is not a regular file", path);
	}
	while (flock(fd, LOCK_EX) < 0) {
		if (errno == EINTR)
			continue;
		int rc = vmm_error_errno(err, VMM_E_LOCK, NULL, "cannot lock '%s'", path);

		close(fd);
		return rc;
	}
	return fd;
}

void vmmi_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* closing the last descriptor releases the flock */
}

uint64_t vmmi_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void vmmi_rfc3339_now(char buf[VMMI_RFC3339_LEN], bool millis)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, VMMI_RFC3339_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
	if (millis)
		snprintf(buf + n, VMMI_RFC3339_LEN - n, ".%03ldZ", ts.tv_nsec / 1000000);
	else
		snprintf(buf + n, VMMI_RFC3339_LEN - n, "Z");
}

void vmmi_sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int vmmi_run(char *const argv[], char **out, char **errout, int *exit_status,
	     struct vmm_error *err)
{
	int po[2] = {-1, -1}, pe[2] = {-1, -1};
	posix_spawn_file_actions_t fa;
	struct vmmi_buf bo, be;
	pid_t pid;
	int rc, status;

	if (out)
		*out = NULL;
	if (errout)
		*errout = NULL;
	*exit_status = -1;
	vmmi_buf_init(&bo);
	vmmi_buf_init(&be);
	if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) {
		rc = vmm_error_errno(err, VMM_E_IO, NULL, "cannot create pipe");
		goto out_close;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, po[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		errno = rc;
		rc = vmm_error_errno(err, VMM_E_IO, NULL, "cannot run '%s'", argv[0]);
		goto out_close;
	}
	close(po[1]);
	close(pe[1]);
	po[1] = pe[1] = -1;
	{
		struct pollfd pfd[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
		int open_fds = 2;
		char chunk[8192];

		while (open_fds > 0) {
			if (poll(pfd, 2, -1) < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			for (int i = 0; i < 2; i++) {
				ssize_t n;

				if (pfd[i].fd < 0 || !pfd[i].revents)
					continue;
				n = read(pfd[i].fd, chunk, sizeof(chunk));
				if (n < 0 && errno == EINTR)
					continue;
				if (n <= 0) {
					pfd[i].fd = -1;
					open_fds--;
					continue;
				}
				vmmi_buf_append(i == 0 ? &bo : &be, chunk, (size_t)n);
			}
		}
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			rc = vmm_error_errno(err, VMM_E_IO, NULL, "cannot wait for '%s'", argv[0]);
			goto out_close;
		}
	}
	if (WIFEXITED(status))
		*exit_status = WEXITSTATUS(status);
	else
		*exit_status = 128 + WTERMSIG(status);
	/* posix_spawnp reports exec failure as exit 127 from the child. */
	if (*exit_status == 127 && be.len == 0 && bo.len == 0) {
		rc = vmm_error_set(err, VMM_E_IO, ENOENT, NULL, "cannot run '%s': not found",
				   argv[0]);
		goto out_close;
	}
	if (out)
		*out = vmmi_buf_steal(&bo);
	if (errout)
		*errout = vmmi_buf_steal(&be);
	rc = 0;
out_close:
	for (int i = 0; i < 2; i++) {
		if (po[i] >= 0)
			close(po[i]);
		if (pe[i] >= 0)
			close(pe[i]);
	}
	vmmi_buf_release(&bo);
	vmmi_buf_release(&be);
	return rc;
}

bool vmmi_pid_alive(pid_t pid)
{
	if (pid <= 0)
		return false;
	return kill(pid, 0) == 0 || errno == EPERM;
}

unsigned long long vmmi_pid_starttime(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long long start = 0;
	ssize_t n;
	char *p;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* comm may contain spaces and parentheses: skip to the last ')'. */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	p++;
	/* fields after comm start at field 3; starttime is field 22. */
	for (int field = 3; field < 22 && p; field++) {
		p = strchr(p + 1, ' ');
	}
	if (p)
		start = strtoull(p + 1, NULL, 10);
	return start;
}

const char *vmmi_home(void)
{
	const char *h = getenv("HOME");
	struct passwd *pw;

	if (h && *h)
		return h;
	pw = getpwuid(getuid());
	if (pw && pw->pw_dir)
		return pw->pw_dir;
	return "/";
}

/* ---- processes: identity and signals ---------------------------------- */

char *vmmi_pid_exe(pid_t pid)
{
	char path[64];
	char *buf = NULL;
	size_t cap = 256;

	if (pid <= 0)
		return NULL;
	snprintf(path, sizeof(path), "/proc/%ld/exe", (long)pid);
	for (;;) {
		char *nb = realloc(buf, cap);
		ssize_t n;

		if (!nb) {
			free(buf);
			return NULL;
		}
		buf = nb;
		n = readlink(path, buf, cap);
		if (n < 0) {
			free(buf);
			return NULL;
		}
		if ((size_t)n < cap) {
			buf[n] = '\0';
			return buf;
		}
		if (cap >= 65536) {
			free(buf);
			errno = ENAMETOOLONG;
			return NULL;
		}
		cap *= 2;
	}
}

char **vmmi_pid_argv(pid_t pid)
{
	char path[64];
	char *data = NULL, **argv;
	size_t len, n = 0, k = 0, off;

	if (pid <= 0)
		return NULL;
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
	if (vmmi_read_file(path, &data, &len, NULL) < 0)
		return NULL;
	/* A kernel thread or a zombie has no command line. */
	if (len == 0) {
		free(data);
		errno = ESRCH;
		return NULL;
	}
	/* One element per NUL-terminated string; the last NUL may be missing
	 * (a truncated read), vmmi_read_file's terminator ends it then. */
	for (size_t i = 0; i < len; i++)
		if (data[i] == '\0')
			n++;
	if (data[len - 1] != '\0')
		n++;
	/* the vector and the strings in one block: free() releases both */
	off = (n + 1) * sizeof(char *);
	argv = malloc(off + len + 1);
	if (!argv) {
		free(data);
		return NULL;
	}
	memcpy((char *)argv + off, data, len + 1);
	for (size_t i = 0; i < len && k < n; k++) {
		argv[k] = (char *)argv + off + i;
		i += strlen(argv[k]) + 1;
	}
	argv[k] = NULL;
	free(data);
	return argv;
}

int vmmi_pidfd_open(pid_t pid)
{
	if (pid <= 0) {
		errno = ESRCH;
		return -1;
	}
#ifdef SYS_pidfd_open
	/* the descriptor is close-on-exec by default */
	return (int)syscall(SYS_pidfd_open, pid, 0u);
#else
	errno = ENOSYS;
	return -1;
#endif
}

int vmmi_pidfd_send_signal(int pidfd, int sig)
{
#ifdef SYS_pidfd_send_signal
	return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0u);
#else
	(void)pidfd;
	(void)sig;
	errno = ENOSYS;
	return -1;
#endif
}

int vmmi_pid_stat(pid_t pid, char *state, unsigned long long *starttime)
{
	char path[64], buf[1024];
	ssize_t n;
	char *p;
	int fd;

	*state = '\0';
	*starttime = 0;
	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* "PID (COMM) S ...": comm may hold spaces and ')', take the last */
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || !p[2])
		return -1;
	*state = p[2];
	/* field 3 is the state, starttime is field 22 */
	p++;
	for (int field = 3; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p)
		return -1;
	*starttime = strtoull(p + 1, NULL, 10);
	return 0;
}
