/* SPDX-License-Identifier: MIT */
/*
 * lib/guest/copy.c - `vmctl cp`: the scp-notation operands and the copy of
 * files and trees between the host and a guest over SFTP. Both directions
 * run the same code over two "sides" (the host's file system, the guest's
 * through SFTP); see vmm/copy.h for the rules.
 */
#include "vmm/copy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libssh/sftp.h>

#include "core/util.h"
#include "guest/ssh_int.h"
#include "vmm/log.h"
#include "vmm/vm.h"

#define MOD "copy"
/* One read or write request: OpenSSH's sftp-server takes packets up to
 * 256 KiB; this leaves room for the header. */
#define CHUNK (255u * 1024u)
#define PROGRESS_MS 100u

/* ---- operands ------------------------------------------------------------ */

void vmm_copy_operand_release(struct vmm_copy_operand *op)
{
	if (!op)
		return;
	free(op->vm);
	free(op->path);
	op->vm = NULL;
	op->path = NULL;
}

int vmm_copy_parse_operand(const char *arg, struct vmm_copy_operand *out,
			   struct vmm_error *err)
{
	const char *colon, *slash;

	out->vm = NULL;
	out->path = NULL;
	if (!arg || !*arg)
		return vmm_error_set(err, VMM_E_USAGE, 0,
				     "give a host path, or NAME:PATH for a path in the VM NAME",
				     "empty path");
	colon = strchr(arg, ':');
	slash = strchr(arg, '/');
	if (colon && colon != arg && (!slash || slash > colon)) {
		struct vmm_error nerr;

		if (!(out->vm = strndup(arg, (size_t)(colon - arg))))
			return vmm_error_set(err, VMM_E_NOMEM, 0, NULL, "out of memory");
		if (vmm_vm_name_validate(out->vm, &nerr) < 0) {
			vmm_error_set(err, VMM_E_VM_INVALID_NAME, 0,
				      "write a host path that holds a ':' as ./PATH",
				      "'%s' in '%s' is not a VM name: %s", out->vm, arg,
				      nerr.message);
			vmm_copy_operand_release(out);
			return -1;
		}
		arg = colon[1] ? colon + 1 : ".";
	}
	if (!(out->path = strdup(arg))) {
		vmm_copy_operand_release(out);
		return vmm_error_set(err, VMM_E_NOMEM, 0, NULL, "out of memory");
	}
	return 0;
}

int vmm_copy_parse_pair(const char *src_arg, const char *dst_arg, struct vmm_copy_operand *src,
			struct vmm_copy_operand *dst, struct vmm_error *err)
{
	dst->vm = dst->path = NULL;
	if (vmm_copy_parse_operand(src_arg, src, err) < 0)
		return -1;
	if (vmm_copy_parse_operand(dst_arg, dst, err) < 0) {
		vmm_copy_operand_release(src);
		return -1;
	}
	if (!src->vm == !dst->vm) {
		bool both = src->vm != NULL;

		vmm_copy_operand_release(src);
		vmm_copy_operand_release(dst);
		return vmm_error_set(err, VMM_E_USAGE, 0,
				     both ? "copy from one VM to the host, then from the host to the other"
					  : "name the VM on one side: `vmctl cp FILE NAME:PATH` or "
					    "`vmctl cp NAME:PATH FILE`",
				     both ? "'%s' and '%s' are both in a VM; one side must be on the host"
					  : "neither '%s' nor '%s' is in a VM (NAME:PATH)",
				     src_arg, dst_arg);
	}
	return 0;
}

/* ---- the two sides --------------------------------------------------------- */

struct side {
	struct vmm_ssh *s;   /* NULL: the host */
	sftp_session sftp;
};

enum ntype { N_NONE = 0, N_FILE, N_DIR, N_LINK, N_OTHER };

struct node {
	enum ntype type;
	mode_t mode;  /* permission bits */
	uint64_t size;
};

struct job {
	const struct vmm_copy_opts *opts;
	struct side *from, *to;
	char *buf;
	unsigned long long files, bytes;
};

static const char *where(const struct side *sd)
{
	return sd->s ? "in the guest" : "on the host";
}

static int side_fail(struct side *sd, struct vmm_error *err, const char *what, const char *path,
		     const char *hint)
{
	if (sd->s)
		return vmmi_ssh_sftp_fail(sd->s, err, what, path, hint);
	return vmm_error_errno(err, VMM_E_IO, hint, "cannot %s '%s'", what, path);
}

static enum ntype type_of_mode(mode_t m)
{
	return S_ISREG(m) ? N_FILE : S_ISDIR(m) ? N_DIR : S_ISLNK(m) ? N_LINK : N_OTHER;
}

/* Stat path (following a link if follow); a missing path is type N_NONE,
 * not an error. */
static int side_stat(struct side *sd, const char *path, bool follow, struct node *n,
		     struct vmm_error *err)
{
	memset(n, 0, sizeof(*n));
	if (sd->s) {
		sftp_attributes a = follow ? sftp_stat(sd->sftp, path) : sftp_lstat(sd->sftp, path);

		if (!a) {
			int code = vmmi_ssh_sftp_code(sd->s);

			if (code == SSH_FX_NO_SUCH_FILE || code == SSH_FX_NO_SUCH_PATH)
				return 0;
			return side_fail(sd, err, "stat of", path, NULL);
		}
		switch (a->type) {
		case SSH_FILEXFER_TYPE_REGULAR:
			n->type = N_FILE;
			break;
		case SSH_FILEXFER_TYPE_DIRECTORY:
			n->type = N_DIR;
			break;
		case SSH_FILEXFER_TYPE_SYMLINK:
			n->type = N_LINK;
			break;
		default:
			n->type = N_OTHER;
		}
		n->mode = a->permissions & 07777;
		n->size = a->size;
		sftp_attributes_free(a);
		return 0;
	}
	struct stat st;

	if ((follow ? stat(path, &st) : lstat(path, &st)) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return side_fail(sd, err, "stat", path, NULL);
	}
	n->type = type_of_mode(st.st_mode);
	n->mode = st.st_mode & 07777;
	n->size = (uint64_t)st.st_size;
	return 0;
}

static int side_mkdir(struct side *sd, const char *path, mode_t mode, struct vmm_error *err)
{
	if (sd->s ? sftp_mkdir(sd->sftp, path, mode) < 0 : mkdir(path, mode) < 0)
		return side_fail(sd, err, sd->s ? "mkdir of" : "create directory", path, NULL);
	return 0;
}

static int side_chmod(struct side *sd, const char *path, mode_t mode, struct vmm_error *err)
{
	if (sd->s ? sftp_chmod(sd->sftp, path, mode) < 0 : chmod(path, mode) < 0)
		return side_fail(sd, err, sd->s ? "chmod of" : "chmod", path, NULL);
	return 0;
}

static void side_unlink(struct side *sd, const char *path)
{
	if (sd->s)
		sftp_unlink(sd->sftp, path);
	else
		unlink(path);
}

/* 'text' quoted for a POSIX shell. */
static char *shell_quote(const char *text)
{
	struct vmmi_buf b;

	vmmi_buf_init(&b);
	vmmi_buf_append(&b, "'", 1);
	for (const char *p = text; *p; p++) {
		if (*p == '\'')
			vmmi_buf_append(&b, "'\\''", 4);
		else
			vmmi_buf_append(&b, p, 1);
	}
	vmmi_buf_append(&b, "'", 1);
	return vmmi_buf_steal(&b);
}

/* Run "<verb> -- 'a' 'b'" in the guest (for what SFTP cannot do); an error
 * names what on path and the command's first line of stderr. */
static int guest_sh(struct side *sd, const char *verb, const char *a, const char *b,
		    const char *what, const char *path, struct vmm_error *err)
{
	char *qa = shell_quote(a), *qb = shell_quote(b), *cmd = NULL, *eo = NULL;
	int status = -1, rc = -1;

	if (qa && qb)
		cmd = vmmi_asprintf("%s -- %s %s", verb, qa, qb);
	if (!cmd)
		rc = vmm_error_set(err, VMM_E_NOMEM, 0, NULL, "out of memory");
	else if (vmm_ssh_exec(sd->s, cmd, NULL, &eo, &status, err) == 0) {
		if (status == 0)
			rc = 0;
		else
			rc = vmm_error_set(err, VMM_E_IO, 0,
					   "check that the SSH user can write there",
					   "cannot %s '%s' in the guest: %s", what, path,
					   eo && *eo ? strtok(eo, "\n") : "the command failed");
	}
	free(qa);
	free(qb);
	free(cmd);
	free(eo);
	return rc;
}

/* Rename from over to. SFTP's RENAME (version 3, what OpenSSH speaks)
 * refuses an existing target, and libssh does not offer the server's
 * posix-rename extension; over an existing file the guest's `mv -f` does
 * the rename(2). */
static int side_rename(struct side *sd, const char *from, const char *to, struct vmm_error *err)
{
	if (sd->s) {
		struct node n;

		if (sftp_rename(sd->sftp, from, to) == 0)
			return 0;
		if (side_stat(sd, to, false, &n, err) < 0)
			return -1;
		if (n.type == N_NONE) {
			side_fail(sd, err, "rename of", from, NULL);
			vmm_error_prefix(err, "replacing '%s'", to);
			return -1;
		}
		return guest_sh(sd, "mv -f", from, to, "replace", to, err);
	}
	if (rename(from, to) < 0) {
		side_fail(sd, err, "rename", from, NULL);
		vmm_error_prefix(err, "replacing '%s'", to);
		return -1;
	}
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names)
{
	for (size_t i = 0; names && names[i]; i++)
		free(names[i]);
	free(names);
}

static int push_name(char ***names, size_t *n, size_t *cap, const char *name)
{
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return 0;
	if (*n + 2 > *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		char **p = realloc(*names, nc * sizeof(*p));

		if (!p)
			return -1;
		*names = p;
		*cap = nc;
	}
	if (!((*names)[*n] = strdup(name)))
		return -1;
	(*names)[++*n] = NULL;
	return 0;
}

/* The entries of a directory but "." and "..", sorted; *out NULL-terminated. */
static int side_list(struct side *sd, const char *path, char ***out, struct vmm_error *err)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	*out = NULL;
	if (sd->s) {
		sftp_dir d = sftp_opendir(sd->sftp, path);
		sftp_attributes a;

		if (!d) {
			free_names(names);
			return side_fail(sd, err, "opendir of", path, NULL);
		}
		while ((a = sftp_readdir(sd->sftp, d))) {
			rc = push_name(&names, &n, &cap, a->name);
			sftp_attributes_free(a);
			if (rc < 0)
				break;
		}
		if (rc == 0 && !sftp_dir_eof(d)) {
			rc = side_fail(sd, err, "readdir of", path, NULL);
			sftp_closedir(d);
			free_names(names);
			return rc;
		}
		sftp_closedir(d);
	} else {
		DIR *d = opendir(path);
		struct dirent *e;

		if (!d) {
			free_names(names);
			return side_fail(sd, err, "read directory", path, NULL);
		}
		errno = 0;
		while ((e = readdir(d)) && (rc = push_name(&names, &n, &cap, e->d_name)) == 0)
			errno = 0;
		if (rc == 0 && errno) {
			rc = side_fail(sd, err, "read directory", path, NULL);
			closedir(d);
			free_names(names);
			return rc;
		}
		closedir(d);
	}
	if (rc < 0 || (!names && !(names = calloc(1, sizeof(*names)))))
		goto nomem;
	qsort(names, n, sizeof(*names), cmp_names);
	*out = names;
	return 0;
nomem:
	free_names(names);
	return vmm_error_set(err, VMM_E_NOMEM, 0, NULL, "out of memory");
}

static char *side_readlink(struct side *sd, const char *path, struct vmm_error *err)
{
	char *t;

	if (sd->s) {
		if (!(t = sftp_readlink(sd->sftp, path)))
			side_fail(sd, err, "readlink of", path, NULL);
		return t;
	}
	char buf[4096];
	ssize_t r = readlink(path, buf, sizeof(buf) - 1);

	if (r < 0) {
		side_fail(sd, err, "read link", path, NULL);
		return NULL;
	}
	buf[r] = '\0';
	if (!(t = strdup(buf)))
		vmm_error_set(err, VMM_E_NOMEM, 0, NULL, "out of memory");
	return t;
}

/* Make path a symbolic link holding target (replacing a link there). In the
 * guest this runs `ln -sfn`: SFTP's SYMLINK request has its two arguments in
 * an order that differs between servers (OpenSSH's are reversed), and the
 * client cannot tell which server answers when sshd is not OpenSSH. */
static int side_symlink(struct side *sd, const char *target, const char *path,
			struct vmm_error *err)
{
	if (sd->s)
		return guest_sh(sd, "ln -sfn", target, path, "create the symbolic link", path,
				err);
	struct node n;

	if (side_stat(sd, path, false, &n, err) < 0)
		return -1;
	if (n.type == N_LINK || n.type == N_FILE) /* as ln -sf does */
		unlink(path);
	if (symlink(target, path) < 0)
		return side_fail(sd, err, "create the symbolic link", path, NULL);
	return 0;
}

/* ---- files --------------------------------------------------------------- */

static char *path_dirname(const char *path)
{
	const char *s = strrchr(path, '/');

	if (!s)
		return strdup(".");
	if (s == path)
		return strdup("/");
	return strndup(path, (size_t)(s - path));
}

/* The last component of path, trailing slashes ignored ("" for "/"). */
static char *path_basename(const char *path)
{
	size_t len = strlen(path);
	const char *s;

	while (len > 1 && path[len - 1] == '/')
		len--;
	if (len == 1 && path[0] == '/')
		return strdup("");
	for (s = path + len; s > path && s[-1] != '/'; s--)
		;
	return strndup(s, len - (size_t)(s - path));
}

static char *tmp_name(const char *target)
{
	static unsigned counter;
	char *dir = path_dirname(target), *base = path_basename(target), *t = NULL;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (dir && base)
		/* the name stays within NAME_MAX */
		t = vmmi_asprintf("%s/.%.200s.vmctl-%06lx", dir,
				  base, (unsigned long)(((unsigned long)getpid() * 2654435761u) ^
							(unsigned long)ts.tv_nsec ^ ++counter) &
					      0xffffff);
	free(dir);
	free(base);
	return t;
}

struct wfile {
	int fd;
	sftp_file f;
};

static void report(struct job *j, const char *path, uint64_t done, uint64_t total, bool fin)
{
	struct vmm_copy_progress p = {path, done, total, fin};

	if (j->opts->progress)
		j->opts->progress(&p, j->opts->progress_data);
}

/* Copy the file src (size bytes) to a temporary name beside target, then
 * rename it over target with the given mode. */
static int copy_file(struct job *j, const char *src, const char *target, mode_t mode,
		     uint64_t size, struct vmm_error *err)
{
	char *tmp = NULL;
	int rfd = -1, wfd = -1, rc = -1;
	sftp_file rf = NULL, wf = NULL;
	uint64_t done = 0, last = vmmi_now_ms();

	for (int tries = 0; tries < 5 && wfd < 0 && !wf; tries++) {
		free(tmp);
		if (!(tmp = tmp_name(target)))
			return vmm_error_set(err, VMM_E_NOMEM, 0, NULL, "out of memory");
		if (j->to->s)
			wf = sftp_open(j->to->sftp, tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
		else
			wfd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (wfd < 0 && !wf &&
		    (j->to->s ? vmmi_ssh_sftp_code(j->to->s) != SSH_FX_FILE_ALREADY_EXISTS
			      : errno != EEXIST))
			break;
	}
	if (wfd < 0 && !wf) {
		side_fail(j->to, err, j->to->s ? "open of" : "create", tmp,
			  "check that the destination directory exists and is writable");
		free(tmp);
		return -1;
	}
	if (j->from->s)
		rf = sftp_open(j->from->sftp, src, O_RDONLY, 0);
	else
		rfd = open(src, O_RDONLY | O_CLOEXEC);
	if (rfd < 0 && !rf) {
		side_fail(j->from, err, j->from->s ? "open of" : "open", src,
			  "check that the file is readable by the SSH user");
		goto out;
	}
	if (rfd >= 0)
		posix_fadvise(rfd, 0, 0, POSIX_FADV_SEQUENTIAL);
	report(j, src, 0, size, false);
	for (;;) {
		ssize_t r = rf ? sftp_read(rf, j->buf, CHUNK) : read(rfd, j->buf, CHUNK);
		const char *p = j->buf;

		if (r < 0 && !rf && errno == EINTR)
			continue;
		if (r < 0) {
			side_fail(j->from, err, j->from->s ? "read of" : "read", src, NULL);
			goto out;
		}
		if (r == 0)
			break;
		while (r > 0) {
			ssize_t w = wf ? sftp_write(wf, p, (size_t)r) : write(wfd, p, (size_t)r);

			if (w < 0 && !wf && errno == EINTR)
				continue;
			if (w <= 0) {
				if (!wf && w == 0)
					errno = ENOSPC;
				side_fail(j->to, err, j->to->s ? "write to" : "write", tmp, NULL);
				goto out;
			}
			p += w;
			r -= w;
			done += (uint64_t)w;
		}
		if (vmmi_now_ms() - last >= PROGRESS_MS) {
			last = vmmi_now_ms();
			report(j, src, done, size > done ? size : done, false);
		}
	}
	if (wf) {
		rc = sftp_close(wf);
		wf = NULL;
		if (rc != SSH_NO_ERROR) {
			rc = side_fail(j->to, err, "close of", tmp, NULL);
			goto out;
		}
	} else {
		if (fsync(wfd) < 0 || close(wfd) < 0) {
			wfd = -1;
			rc = side_fail(j->to, err, "write", tmp, NULL);
			goto out;
		}
		wfd = -1;
	}
	rc = -1;
	/* set after the write: the create applied a umask */
	if (side_chmod(j->to, tmp, mode, err) < 0 || side_rename(j->to, tmp, target, err) < 0)
		goto out;
	free(tmp);
	tmp = NULL;
	j->files++;
	j->bytes += done;
	report(j, src, done, done, true);
	rc = 0;
out:
	if (rf)
		sftp_close(rf);
	if (rfd >= 0)
		close(rfd);
	if (wf)
		sftp_close(wf);
	if (wfd >= 0)
		close(wfd);
	if (tmp) {
		side_unlink(j->to, tmp);
		free(tmp);
	}
	return rc;
}

/* ---- trees --------------------------------------------------------------- */

static int copy_tree(struct job *j, const char *src, const char *target, mode_t mode,
		     struct vmm_error *err);

static int copy_entry(struct job *j, const char *src, const char *target, struct vmm_error *err)
{
	struct node n, t;
	int rc;

	if (side_stat(j->from, src, false, &n, err) < 0 ||
	    side_stat(j->to, target, false, &t, err) < 0)
		return -1;
	if (n.type == N_NONE)
		return 0; /* gone while we copied */
	if (n.type == N_OTHER)
		return vmm_error_set(err, VMM_E_IO, 0,
				     "copy regular files, directories and symbolic links only",
				     "'%s' %s is a special file (device, FIFO or socket)", src,
				     where(j->from));
	if ((n.type == N_DIR) != (t.type == N_DIR) && t.type != N_NONE &&
	    !(n.type == N_LINK && t.type == N_LINK))
		return vmm_error_set(err, VMM_E_IO, 0, "remove it first, or copy to another name",
				     "cannot replace '%s' %s with a %s", target, where(j->to),
				     n.type == N_DIR ? "directory" : "file");
	if (n.type == N_DIR)
		return copy_tree(j, src, target, n.mode, err);
	if (n.type == N_FILE)
		return copy_file(j, src, target, n.mode, n.size, err);
	char *lt = side_readlink(j->from, src, err);

	if (!lt)
		return -1;
	rc = side_symlink(j->to, lt, target, err);
	free(lt);
	return rc;
}

static int copy_tree(struct job *j, const char *src, const char *target, mode_t mode,
		     struct vmm_error *err)
{
	struct node t;
	char **names = NULL;
	int rc = 0;

	if (side_stat(j->to, target, false, &t, err) < 0)
		return -1;
	/* writable by us while it fills; its own mode at the end */
	if (t.type == N_NONE && side_mkdir(j->to, target, (mode | 0700) & 0777, err) < 0)
		return -1;
	if (side_list(j->from, src, &names, err) < 0)
		return -1;
	for (size_t i = 0; names[i] && rc == 0; i++) {
		char *s = vmmi_path_join(src, names[i]), *d = vmmi_path_join(target, names[i]);

		if (!s || !d)
			rc = vmm_error_set(err, VMM_E_NOMEM, 0, NULL, "out of memory");
		else
			rc = copy_entry(j, s, d, err);
		free(s);
		free(d);
	}
	free_names(names);
	if (rc == 0)
		rc = side_chmod(j->to, target, mode, err);
	return rc;
}

/* ---- the copy -------------------------------------------------------------- */

static bool ends_with_slash(const char *p)
{
	size_t n = strlen(p);

	return n > 0 && p[n - 1] == '/';
}

static int missing_dir(const struct side *sd, const char *dir, bool into,
		       struct vmm_error *err)
{
	return vmm_error_set(err, VMM_E_IO, ENOENT,
			     into ? "create it first (mkdir -p), or leave off the trailing '/' to "
				    "copy to that name"
				  : "create the directory first (mkdir -p)",
			     "destination directory '%s' %s does not exist", dir, where(sd));
}

static int run_copy(struct job *j, const char *src, const char *dst, struct vmm_error *err)
{
	struct node s, d;
	char *target = NULL;
	bool into;
	int rc = -1;

	if (side_stat(j->from, src, true, &s, err) < 0)
		return -1;
	if (s.type == N_NONE)
		return vmm_error_set(err, VMM_E_IO, ENOENT,
				     j->from->s ? "check the path in the guest (relative paths start "
						  "in the SSH user's home directory)"
						: "check the path (relative paths start in the "
						  "current directory)",
				     "source '%s' %s does not exist", src, where(j->from));
	if (s.type == N_DIR && !j->opts->recursive)
		return vmm_error_set(err, VMM_E_USAGE, 0,
				     "add -r to copy a directory and everything in it",
				     "'%s' %s is a directory", src, where(j->from));
	if (s.type != N_FILE && s.type != N_DIR)
		return vmm_error_set(err, VMM_E_IO, 0, "copy regular files and directories",
				     "'%s' %s is not a regular file or directory", src,
				     where(j->from));
	into = ends_with_slash(dst);
	if (into) {
		/* "file/" is ENOTDIR to stat(2): look at "file" */
		char *bare = strdup(dst);
		size_t n = bare ? strlen(bare) : 0;

		while (n > 1 && bare[n - 1] == '/')
			bare[--n] = '\0';
		rc = bare ? side_stat(j->to, bare, true, &d, err)
			  : vmm_error_set(err, VMM_E_NOMEM, 0, NULL, "out of memory");
		free(bare);
		if (rc < 0)
			return -1;
	} else if (side_stat(j->to, dst, true, &d, err) < 0) {
		return -1;
	}
	into = into || d.type == N_DIR;
	if (into) {
		char *base;

		if (d.type == N_NONE)
			return missing_dir(j->to, dst, true, err);
		if (d.type != N_DIR)
			return vmm_error_set(err, VMM_E_IO, ENOTDIR,
					     "leave off the trailing '/' to copy to that name",
					     "destination '%s' %s is not a directory", dst,
					     where(j->to));
		if (!(base = path_basename(src)))
			return vmm_error_set(err, VMM_E_NOMEM, 0, NULL, "out of memory");
		target = *base && strcmp(base, ".") ? vmmi_path_join(dst, base) : strdup(dst);
		free(base);
	} else {
		char *dir = path_dirname(dst);
		struct node pd;

		if (!dir)
			return vmm_error_set(err, VMM_E_NOMEM, 0, NULL, "out of memory");
		rc = side_stat(j->to, dir, true, &pd, err);
		if (rc == 0 && pd.type != N_DIR)
			rc = missing_dir(j->to, dir, false, err);
		free(dir);
		if (rc < 0)
			return -1;
		target = strdup(dst);
	}
	if (!target)
		return vmm_error_set(err, VMM_E_NOMEM, 0, NULL, "out of memory");
	if (s.type == N_FILE) {
		struct node t;

		rc = side_stat(j->to, target, true, &t, err);
		if (rc == 0 && t.type == N_DIR)
			rc = vmm_error_set(err, VMM_E_IO, EISDIR,
					   "remove it first, or copy to another name",
					   "cannot replace the directory '%s' %s with a file", target,
					   where(j->to));
		if (rc == 0)
			rc = copy_file(j, src, target, s.mode, s.size, err);
	} else {
		struct node t;

		rc = side_stat(j->to, target, true, &t, err);
		if (rc == 0 && t.type != N_NONE && t.type != N_DIR)
			rc = vmm_error_set(err, VMM_E_IO, ENOTDIR,
					   "remove it first, or copy to another name",
					   "cannot replace '%s' %s with a directory", target,
					   where(j->to));
		if (rc == 0)
			rc = copy_tree(j, src, target, s.mode, err);
	}
	if (rc == 0)
		vmm_debug(MOD, "copied %llu files, %llu bytes: %s -> %s", j->files, j->bytes, src,
			  target);
	free(target);
	return rc;
}

static int copy(struct vmm_ssh *s, bool to_guest, const char *src, const char *dst,
		const struct vmm_copy_opts *opts, struct vmm_error *err)
{
	static const struct vmm_copy_opts none;
	struct side host = {0}, guest = {s, NULL};
	struct job j = {opts ? opts : &none, NULL, NULL, NULL, 0, 0};
	int rc;

	if (!s || !src || !dst)
		return vmm_error_set(err, VMM_E_USAGE, 0, NULL, "copy: missing argument");
	if (!(guest.sftp = vmmi_ssh_sftp(s, to_guest ? dst : src, err)))
		return -1;
	if (!(j.buf = malloc(CHUNK)))
		return vmm_error_set(err, VMM_E_NOMEM, 0, NULL, "out of memory");
	j.from = to_guest ? &host : &guest;
	j.to = to_guest ? &guest : &host;
	rc = run_copy(&j, src, dst, err);
	free(j.buf);
	if (j.opts->files_out)
		*j.opts->files_out = j.files;
	if (j.opts->bytes_out)
		*j.opts->bytes_out = j.bytes;
	return rc;
}

int vmm_copy_to_guest(struct vmm_ssh *s, const char *local_src, const char *remote_dst,
		      const struct vmm_copy_opts *opts, struct vmm_error *err)
{
	return copy(s, true, local_src, remote_dst, opts, err);
}

int vmm_copy_from_guest(struct vmm_ssh *s, const char *remote_src, const char *local_dst,
			const struct vmm_copy_opts *opts, struct vmm_error *err)
{
	return copy(s, false, remote_src, local_dst, opts, err);
}
