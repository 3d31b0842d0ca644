/* SPDX-License-Identifier: MIT */
/*
 * lib/util.h - private helpers shared by libvmm modules (not installed).
 *
 * Internal functions are named vmmi_*; the shared library exports only
 * vmm_* symbols (see lib/libvmm.map).
 */
#ifndef VMMI_UTIL_H
#define VMMI_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vmm/error.h"

#define VMMI_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Replace *dst with a copy of val (NULL: none); VMM_E_NOMEM leaves *dst. */
int vmmi_set_str(char **dst, const char *val, struct vmm_error *err);

/* malloc'd printf; NULL on allocation failure. */
char *vmmi_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Join two path components with exactly one '/'. NULL on allocation failure. */
char *vmmi_path_join(const char *a, const char *b);

/* Dynamic byte buffer, always NUL-terminated when data != NULL. */
struct vmmi_buf {
	char *data;
	size_t len;
	size_t cap;
};
void vmmi_buf_init(struct vmmi_buf *b);
void vmmi_buf_release(struct vmmi_buf *b);
int vmmi_buf_append(struct vmmi_buf *b, const void *data, size_t len); /* 0 / -1 */
int vmmi_buf_printf(struct vmmi_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Take ownership of the data (never NULL on success: "" for an empty buffer). */
char *vmmi_buf_steal(struct vmmi_buf *b);

/* mkdir -p with the given mode for every directory it creates. */
int vmmi_mkdir_p(const char *path, mode_t mode, struct vmm_error *err);

/* Read a whole file (NUL-terminated; *len excludes the NUL). *data is
 * NULL and *len 0 after a failure. */
int vmmi_read_file(const char *path, char **data, size_t *len, struct vmm_error *err);

/*
 * Crash-safe replace: write to a temporary file in the same directory, fsync
 * it, rename over path, fsync the directory. Never leaves a partial path.
 * The temporary file is "NAME.tmp.<random>", created with O_EXCL and
 * O_NOFOLLOW with the given mode (0600 for secrets): a file or link planted
 * in the directory never receives the data.
 */
int vmmi_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
			   struct vmm_error *err);

/* fsync the directory containing path (or path itself if it is a directory). */
int vmmi_fsync_parent(const char *path, struct vmm_error *err);

/* Remove a directory tree (like rm -rf); ENOENT is success. It walks by
 * descriptors (openat, unlinkat, O_NOFOLLOW) and never follows a symbolic
 * link, path itself included: a link is removed, what it points at is not. */
int vmmi_rm_rf(const char *path, struct vmm_error *err);

/* Exclusive flock on path (created 0600 if missing). Returns fd >= 0 or <0.
 * A symbolic link or anything but a regular file there is refused. */
int vmmi_lock_path(const char *path, struct vmm_error *err);
void vmmi_unlock(int fd);

/* Milliseconds from CLOCK_MONOTONIC. */
uint64_t vmmi_now_ms(void);

/* The current time in RFC 3339, UTC: "2026-01-31T12:00:00Z", or with
 * millis "2026-01-31T12:00:00.123Z". buf holds VMMI_RFC3339_LEN bytes. */
#define VMMI_RFC3339_LEN 32
void vmmi_rfc3339_now(char buf[VMMI_RFC3339_LEN], bool millis);
void vmmi_sleep_ms(unsigned ms);

/*
 * Run argv[0] (PATH lookup) with no shell, wait for it, capture stdout and
 * stderr (each may be NULL to discard). *exit_status is the exit code, or
 * 128+signal if it was killed. Returns <0 only if it could not be run.
 * Every output is set on entry: *out and *errout to NULL and *exit_status
 * to -1, so after a failure they hold no stale values (nothing to free).
 */
int vmmi_run(char *const argv[], char **out, char **errout, int *exit_status,
	     struct vmm_error *err);

/* Whether a process with this pid exists (kill(pid, 0), EPERM counts). */
bool vmmi_pid_alive(pid_t pid);

/* The process's start time in clock ticks since boot (field 22 of
 * /proc/PID/stat), or 0 if it cannot be read. Used to tell a recycled pid. */
unsigned long long vmmi_pid_starttime(pid_t pid);

/* Home directory ($HOME, else the password database). Never NULL. */
const char *vmmi_home(void);

/* What /proc/PID/exe points to (malloc'd; " (deleted)" ends it when the
 * file was replaced since the process started), NULL if it cannot be read
 * (gone, a zombie, or another user's process). */
char *vmmi_pid_exe(pid_t pid);

/* The process's argument vector from /proc/PID/cmdline, split on NUL:
 * NULL-terminated, vector and strings in one block (free() it once).
 * NULL if it cannot be read or is empty (a kernel thread, a zombie). */
char **vmmi_pid_argv(pid_t pid);

/* pidfd_open(2): a descriptor that names this process and no later
 * holder of its pid (close-on-exec), or -1 with errno (ENOSYS: the kernel
 * has no pidfds, ESRCH: no such process). */
int vmmi_pidfd_open(pid_t pid);

/* pidfd_send_signal(2): 0, or -1 with errno (ESRCH once the process has
 * exited, even if its pid was reused since). */
int vmmi_pidfd_send_signal(int pidfd, int sig);

/* The state letter ('R', 'S', 'Z' for a zombie, ...) and start time of a
 * process, from /proc/PID/stat: 0, or -1 when there is no such process. */
int vmmi_pid_stat(pid_t pid, char *state, unsigned long long *starttime);

#endif
