/* SPDX-License-Identifier: MIT */
/* vmm/suggest.h - "did you mean" suggestions. */
#ifndef VMM_SUGGEST_H
#define VMM_SUGGEST_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Optimal-string-alignment edit distance (insert, delete, substitute,
 * transpose adjacent), case-sensitive. */
size_t vmm_edit_distance(const char *a, const char *b);

/*
 * The candidate closest to word, or NULL if none is close enough: within
 * max(1, strlen(word) / 3) edits, or word is a prefix of exactly one
 * candidate. candidates is NULL-terminated.
 */
const char *vmm_suggest(const char *word, const char *const *candidates);

#ifdef __cplusplus
}
#endif
#endif
