/* SPDX-License-Identifier: MIT */
#include "vmm/suggest.h"

#include <stdlib.h>
#include <string.h>

size_t vmm_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t *block, *prev2, *prev, *cur, result;

	if (la == 0)
		return lb;
	if (lb == 0)
		return la;
	block = calloc(3 * (lb + 1), sizeof(size_t));
	if (!block)
		return (size_t)-1;
	prev2 = block;
	prev = prev2 + lb + 1;
	cur = prev + lb + 1;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			size_t v = prev[j] + 1;

			if (cur[j - 1] + 1 < v)
				v = cur[j - 1] + 1;
			if (prev[j - 1] + cost < v)
				v = prev[j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    prev2[j - 2] + 1 < v)
				v = prev2[j - 2] + 1;
			cur[j] = v;
		}
		/* rotate rows: prev2 <- prev <- cur */
		size_t *t = prev2;
		prev2 = prev;
		prev = cur;
		cur = t;
	}
	result = prev[lb];
	free(block);
	return result;
}

const char *vmm_suggest(const char *word, const char *const *candidates)
{
	size_t wl = strlen(word), best = (size_t)-1, limit;
	const char *pick = NULL, *prefix = NULL;
	int nprefix = 0;

	if (!candidates || wl == 0)
		return NULL;
	limit = wl / 3 > 1 ? wl / 3 : 1;
	for (const char *const *c = candidates; *c; c++) {
		size_t d = vmm_edit_distance(word, *c);

		if (d < best) {
			best = d;
			pick = *c;
		}
		if (strncmp(*c, word, wl) == 0) {
			prefix = *c;
			nprefix++;
		}
	}
	if (pick && best <= limit)
		return pick;
	if (nprefix == 1)
		return prefix;
	return NULL;
}
