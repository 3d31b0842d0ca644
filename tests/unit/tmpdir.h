/* SPDX-License-Identifier: MIT */
/* A scratch directory for unit tests (include after <cmocka.h>). */
#ifndef VMM_TEST_TMPDIR_H
#define VMM_TEST_TMPDIR_H

#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/* mkdtemp under /tmp with the given prefix; malloc'd path. */
static inline char *mktmpdir_prefix(const char *prefix)
{
	char tmpl[128];
	char *d;

	snprintf(tmpl, sizeof(tmpl), "/tmp/%s-XXXXXX", prefix);
	d = mkdtemp(tmpl);
	assert_non_null(d);
	return strdup(d);
}

/* Remove the directory tree and free its path. */
static inline void rmtree(char *dir)
{
	struct vmm_error err = {0};

	assert_int_equal(vmmi_rm_rf(dir, &err), 0);
	free(dir);
}

#endif
