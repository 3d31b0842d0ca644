/* SPDX-License-Identifier: MIT */
/*
 * vmm/diag.h - source diagnostics: errors that point at a place in a file.
 *
 * A parser or validator collects every problem it finds into a struct
 * vmm_diags (each with its code, source span, message and hint) instead of
 * stopping at the first one. vmm_diags_render turns them into text in the
 * style of a good compiler:
 *
 *     error[vm_manager::vmfile::validation]: unknown node `cpus`
 *       --> VMFile.kdl:3:5
 *        |
 *      3 |     cpus 4
 *        |     ^^^^
 *        = help: did you mean `vcpus`?
 *
 * The library renders; the program decides where to print.
 */
#ifndef VMM_DIAG_H
#define VMM_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A range of the source: offset/length in bytes from the start of the text;
 * line and column 1-based, columns counting Unicode characters. line == 0
 * means "no position".
 */
struct vmm_span {
	size_t offset;
	size_t length;
	uint32_t line;
	uint32_t column;
};

struct vmm_diag {
	enum vmm_errcode code;    /* e.g. VMM_E_VMFILE_VALIDATION */
	struct vmm_span span;     /* the offending text */
	char *message;            /* one line, never NULL */
	char *hint;               /* what to do; NULL if none */
	struct vmm_span related;  /* a second place that explains it (line 0: none) */
	char *related_label;      /* e.g. "first defined here"; NULL with no related */
};

/* A list of diagnostics about one source text. */
struct vmm_diags {
	char *file;        /* the file name as shown to the user */
	char *source;      /* a copy of the text (may hold NUL bytes), for snippets */
	size_t source_len;
	struct vmm_diag *items;
	size_t n;
	size_t cap;
	bool oom;          /* an allocation failed: some diagnostics were lost */
};

void vmm_diags_init(struct vmm_diags *d);
/* Free everything; d is left initialised (empty). */
void vmm_diags_release(struct vmm_diags *d);
/* Drop the diagnostics, keep nothing. Same as release + init. */
void vmm_diags_clear(struct vmm_diags *d);

/* Remember the file name and a copy of its text. Returns 0 or -VMM_E_NOMEM. */
int vmm_diags_set_source(struct vmm_diags *d, const char *file, const char *source,
			 size_t len);

/*
 * Append a diagnostic. hint may be NULL. On allocation failure the
 * diagnostic is dropped and d->oom set. Returns the new item or NULL.
 */
struct vmm_diag *vmm_diags_add(struct vmm_diags *d, enum vmm_errcode code,
			       struct vmm_span span, const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Attach a related location with its label to a diagnostic (diag may be
 * NULL: no-op). */
void vmm_diag_set_related(struct vmm_diags *d, struct vmm_diag *diag, struct vmm_span span,
			  const char *label);

/* Sort the diagnostics by source position (stable). */
void vmm_diags_sort(struct vmm_diags *d);

/* Render flags. */
#define VMM_DIAG_COLOR 0x1 /* ANSI colors (for a terminal) */

/*
 * Render one diagnostic (with the source snippet and caret line), each line
 * ending in '\n'. Source lines are shown safely: invalid UTF-8 and control
 * characters become U+FFFD, tabs four spaces. malloc'd; NULL on allocation
 * failure.
 */
char *vmm_diag_render(const struct vmm_diags *d, const struct vmm_diag *diag, unsigned flags);

/* Render every diagnostic, separated by blank lines. malloc'd ("" when
 * there are none); NULL on allocation failure. */
char *vmm_diags_render(const struct vmm_diags *d, unsigned flags);

#ifdef __cplusplus
}
#endif
#endif /* VMM_DIAG_H */
