/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the reader of vms.json: arbitrary bytes as the
 * registry. A refused document must come with a filled error. An accepted
 * one is written to memory as vmmi_store_save would and read again: that
 * must succeed and give the same store, which writes the same text. And
 * jansson is the judge of what is JSON: the reader must refuse what it
 * refuses, and not call invalid what it reads.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The error says the text is not JSON: "fuzz.json:LINE:COL: invalid JSON: ". */
static bool invalid_json(const char *message)
{
	int line, col, n = 0;

	return sscanf(message, "fuzz.json:%d:%d: invalid JSON: %n", &line, &col, &n) == 2 && n > 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmmi_store st, again;
	struct vmm_error err;
	char *text, *text2;
	size_t len, len2;

	json_error_t jerr;
	json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
	int rc = vmmi_store_parse("fuzz.json", (const char *)data, size, &st, &err);

	json_decref(doc);
	if (rc < 0) {
		if (err.code == VMM_OK || err.message[0] == '\0')
			abort();
		if (st.root || st.vms || st.n)
			abort(); /* released on failure */
		/* jansson reads it (but it skips a NUL byte between tokens, as if
		 * it were not there: there the reader is the stricter) */
		if (doc && invalid_json(err.message) && !memchr(data, '\0', size))
			abort();
		return 0;
	}
	if (!doc)
		abort(); /* jansson refuses it */
	if (vmmi_store_dump(&st, &text, &len, &err) < 0)
		abort();
	if (vmmi_store_parse("dump.json", text, len, &again, &err) < 0)
		abort(); /* what we write, we read */
	if (again.n != st.n)
		abort();
	for (size_t i = 0; i < st.n; i++)
		if (strcmp(st.vms[i]->name, again.vms[i]->name) != 0 ||
		    !vmmi_store_find(&again, st.vms[i]->name))
			abort();
	if (vmmi_store_dump(&again, &text2, &len2, &err) < 0)
		abort();
	if (len != len2 || memcmp(text, text2, len) != 0)
		abort(); /* the same store: the same text */
	free(text);
	free(text2);
	vmmi_store_release(&again);
	vmmi_store_release(&st);
	return 0;
}
