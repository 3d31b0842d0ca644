/* SPDX-License-Identifier: MIT */
/*
 * Path resolution for VMFiles: a path written in a VMFile is relative to the
 * VMFile's directory. Used by the schema (vmfile.c) and the loader
 * (vmfile_load.c); depends on neither.
 */
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"
#include "vmm/vmfile.h"

/* Remove "." components and repeated or trailing '/' from an absolute path,
 * in place. ".." is kept: folding it lexically is wrong across symlinks. */
static void normalise(char *p)
{
	char *r = p, *w = p;

	while (*r) {
		if (*r == '/') {
			while (r[1] == '/')
				r++;
			if (r[1] == '.' && (r[2] == '/' || r[2] == '\0')) {
				r += 2;
				continue;
			}
			*w++ = *r++;
		} else {
			*w++ = *r++;
		}
	}
	while (w > p + 1 && w[-1] == '/')
		w--;
	if (w == p)
		*w++ = '/';
	*w = '\0';
}

static char *cwd_dup(void)
{
	char *d = getcwd(NULL, 0);

	return d ? d : strdup("/");
}

char *vmm_vmfile_resolve_path(const char *raw, const char *base_dir)
{
	char *r = NULL, *base = NULL;

	if (!raw)
		return NULL;
	if (raw[0] == '~') {
		const char *slash = strchr(raw, '/');
		size_t ulen = slash ? (size_t)(slash - raw - 1) : strlen(raw + 1);
		const char *rest = raw + 1 + ulen;
		const char *home = NULL;
		char *user = NULL, pwbuf[4096];
		struct passwd pw, *res = NULL;

		if (ulen == 0) {
			home = vmmi_home();
		} else {
			user = strndup(raw + 1, ulen);
			if (!user)
				return NULL;
			if (getpwnam_r(user, &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res &&
			    res->pw_dir)
				home = res->pw_dir;
			free(user);
		}
		if (home) {
			r = vmmi_asprintf("%s%s", home, rest);
			goto out;
		}
		/* "~nosuchuser/x" is an ordinary relative name. */
	}
	if (raw[0] == '/') {
		r = strdup(raw);
		goto out;
	}
	if (base_dir && base_dir[0] == '/') {
		r = vmmi_path_join(base_dir, raw);
	} else {
		char *cwd = cwd_dup();

		if (!cwd)
			return NULL;
		base = base_dir && *base_dir ? vmmi_path_join(cwd, base_dir) : cwd;
		if (base != cwd)
			free(cwd);
		if (!base)
			return NULL;
		r = vmmi_path_join(base, raw);
	}
out:
	free(base);
	if (r && r[0] != '/') {
		/* A relative $HOME: anchor it at the current directory. */
		char *cwd = cwd_dup(), *abs = cwd ? vmmi_path_join(cwd, r) : NULL;

		free(cwd);
		free(r);
		r = abs;
	}
	if (r)
		normalise(r);
	return r;
}
