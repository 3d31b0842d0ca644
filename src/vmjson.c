/* SPDX-License-Identifier: MIT */
/* Printing JSON for the `--json` options. */
#include "vmjson.h"

#include <stdio.h>
#include <stdlib.h>

int cli_print_json(json_t *v)
{
	char *s;

	if (!v)
		return -1;
	s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (!s)
		return -1;
	puts(s);
	free(s);
	return 0;
}
