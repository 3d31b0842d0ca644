/* SPDX-License-Identifier: MIT */
/*
 * vmm/file.h - reading files and the tail of a text, for programs that show
 * a VM's logs or read what a user named (vmctl log, create --cloud-init).
 */
#ifndef VMM_FILE_H
#define VMM_FILE_H

#include <stddef.h>

#include "vmm/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Read a whole file into *data (malloc'd, NUL-terminated; *len, which may be
 * NULL, excludes the NUL). On failure *data is NULL, *len 0 and err says
 * VMM_E_IO with the errno (ENOENT for a missing file) and the path.
 */
int vmm_file_read(const char *path, char **data, size_t *len, struct vmm_error *err);

/*
 * Where the last n lines of text[0..len) begin (n 0: at 0, the whole text).
 * A final newline ends the last line rather than starting an empty one.
 */
size_t vmm_text_tail(const char *text, size_t len, size_t n);

#ifdef __cplusplus
}
#endif
#endif
