/* SPDX-License-Identifier: MIT */
/*
 * vmm/copy.h - copying files and directory trees between the host and a
 * guest over SFTP (the session of vmm/ssh.h, on the pinned host key), and
 * the scp notation of their operands ("NAME:PATH" is in the VM NAME).
 *
 * What a copy does, in both directions:
 *   - a destination ending in '/' or naming an existing directory means
 *     "into it" (DST/basename(SRC)); the directory must exist;
 *   - otherwise the destination is the new name, in a directory that must
 *     exist;
 *   - each file is written to a temporary name next to its destination
 *     (".NAME.vmctl-XXXXXX") and renamed over it when complete (locally
 *     rename(2), in the guest an SFTP rename), so a failed copy never leaves
 *     a half-written file: at worst the files of a tree copied so far;
 *   - permission bits are kept (files and directories); owners and times
 *     are not;
 *   - a directory needs recursive; in a tree, symbolic links are copied as
 *     links (their text unchanged, never followed), other special files
 *     (devices, FIFOs, sockets) are an error; a symbolic link given as the
 *     source itself is followed.
 */
#ifndef VMM_COPY_H
#define VMM_COPY_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/error.h"
#include "vmm/ssh.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One operand of `vmctl cp`. */
struct vmm_copy_operand {
	char *vm;   /* the VM's name, or NULL for a path on the host */
	char *path; /* never NULL; for a guest "" became "." (the login directory) */
};

/*
 * Parse an operand in scp notation: "NAME:PATH" is PATH in the VM NAME when
 * the text before the first ':' is not empty and has no '/' (write a host
 * path holding a ':' as "./a:b"); anything else is a host path. The name is
 * checked as vmm_vm_name_validate does. Errors: VMM_E_USAGE (empty operand),
 * VMM_E_VM_INVALID_NAME.
 */
int vmm_copy_parse_operand(const char *arg, struct vmm_copy_operand *out,
			   struct vmm_error *err);
void vmm_copy_operand_release(struct vmm_copy_operand *op);

/* Parse SRC and DST: exactly one of them must be in a VM (VMM_E_USAGE
 * otherwise, with a hint). On failure both are released. */
int vmm_copy_parse_pair(const char *src_arg, const char *dst_arg, struct vmm_copy_operand *src,
			struct vmm_copy_operand *dst, struct vmm_error *err);

/* Progress of one file: reported when a file starts, at most every ~100 ms
 * while it is copied, and once when it is complete (finished). */
struct vmm_copy_progress {
	const char *path;  /* the source file */
	uint64_t done;
	uint64_t total;    /* its size */
	bool finished;
};
typedef void (*vmm_copy_progress_fn)(const struct vmm_copy_progress *p, void *userdata);

struct vmm_copy_opts {
	bool recursive;             /* copy directories (and what they hold) */
	vmm_copy_progress_fn progress; /* optional */
	void *progress_data;
	/* Filled in, if not NULL: files and bytes copied. */
	unsigned long long *files_out;
	unsigned long long *bytes_out;
};

/*
 * Copy the host's local_src to remote_dst in the guest of s (see the top of
 * this file for the rules). Errors: VMM_E_IO (the source does not exist or
 * cannot be read, a destination directory is missing, a file cannot be
 * written; the message names the path), VMM_E_USAGE (a directory without
 * recursive), VMM_E_SSH (the connection or the SFTP server failed).
 */
int vmm_copy_to_guest(struct vmm_ssh *s, const char *local_src, const char *remote_dst,
		      const struct vmm_copy_opts *opts, struct vmm_error *err);

/* Copy remote_src in the guest of s to the host's local_dst; as above. */
int vmm_copy_from_guest(struct vmm_ssh *s, const char *remote_src, const char *local_dst,
			const struct vmm_copy_opts *opts, struct vmm_error *err);

#ifdef __cplusplus
}
#endif
#endif /* VMM_COPY_H */
