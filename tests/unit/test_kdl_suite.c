/* SPDX-License-Identifier: MIT */
/*
 * KDL conformance: every case of the official test suites (copied under
 * tests/kdl-suite/v2 and tests/kdl-suite/v1, found through VMCTL_SRCDIR).
 * A valid input must parse and print exactly its expected_kdl file; an
 * input that must fail (v2: name ends in _fail; v1: no expected_kdl file)
 * must be rejected; the printout must parse back to itself. Prints
 * "v2: N/M passed" and "v1: N/M passed".
 *
 * Cases believed wrong in the suite would be listed in `exceptions` below
 * with the reason, and are reported (never silently skipped). The list is
 * currently empty.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/kdl.h"
#include "core/util.h"

struct exception {
	const char *suite;  /* "v1" or "v2" */
	const char *name;   /* input file name */
	const char *reason;
};

static const struct exception exceptions[] = {
	{ NULL, NULL, NULL },
};

static const struct exception *find_exception(const char *suite, const char *name)
{
	for (size_t i = 0; exceptions[i].suite; i++)
		if (!strcmp(exceptions[i].suite, suite) && !strcmp(exceptions[i].name, name))
			return &exceptions[i];
	return NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool ends_with(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n >= m && !strcmp(s + n - m, suf);
}

/* Runs one suite; returns the number of unexpected failures. */
static int run_suite(const char *suite, enum vmm_kdl_version mode)
{
	const char *src = getenv("VMCTL_SRCDIR");
	char *dir = vmmi_asprintf("%s/tests/kdl-suite/%s/tests/test_cases", src ? src : ".", suite);
	char *indir = vmmi_asprintf("%s/input", dir);
	DIR *d = opendir(indir);
	char **names = NULL;
	size_t n = 0, cap = 0;
	int passed = 0, failed = 0, excepted = 0;
	struct dirent *de;

	assert_non_null(d);
	while ((de = readdir(d))) {
		if (!ends_with(de->d_name, ".kdl"))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			names = realloc(names, cap * sizeof(*names));
			assert_non_null(names);
		}
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_str);
	assert_true(n > 100);

	for (size_t i = 0; i < n; i++) {
		char *ip = vmmi_asprintf("%s/input/%s", dir, names[i]);
		char *ep = vmmi_asprintf("%s/expected_kdl/%s", dir, names[i]);
		char *in = NULL, *exp = NULL, *got = NULL;
		size_t inlen = 0, explen = 0;
		struct vmm_error err;
		struct vmm_kdl_error kerr;
		struct vmm_kdl_document *doc = NULL;
		bool must_fail;
		bool ok;
		const struct exception *ex = find_exception(suite, names[i]);

		assert_int_equal(vmmi_read_file(ip, &in, &inlen, &err), 0);
		must_fail = vmmi_read_file(ep, &exp, &explen, &err) < 0;
		if (!strcmp(suite, "v2"))
			assert_true(must_fail == ends_with(names[i], "_fail.kdl"));
		int rc = vmm_kdl_parse(in, inlen, mode, &doc, &kerr);

		if (must_fail) {
			ok = rc < 0;
			if (!ok)
				printf("  %s/%s: accepted but must fail\n", suite, names[i]);
			else
				assert_true(kerr.span.line >= 1 && kerr.message[0]);
		} else if (rc < 0) {
			ok = false;
			printf("  %s/%s: rejected: %u:%u: %s\n", suite, names[i], kerr.span.line,
			       kerr.span.column, kerr.message);
		} else {
			assert_int_equal(vmm_kdl_print(doc, VMM_KDL_AUTO, &got, NULL), 0);
			/* the suite's expected files of empty documents are empty or "\n" */
			ok = !strcmp(got, exp) || (got[0] == '\0' && !strcmp(exp, "\n"));
			if (!ok)
				printf("  %s/%s: output differs\n--- expected\n%s--- got\n%s---\n", suite,
				       names[i], exp, got);
			assert_int_equal((int)doc->version, (int)mode);
			/* the canonical form is a fixed point: it parses back to itself */
			if (ok) {
				struct vmm_kdl_document *doc2 = NULL;
				char *again = NULL;

				ok = vmm_kdl_parse(got, strlen(got), mode, &doc2, &kerr) == 0 &&
				     vmm_kdl_print(doc2, VMM_KDL_AUTO, &again, NULL) == 0 &&
				     !strcmp(again, got);
				if (!ok)
					printf("  %s/%s: printout does not parse back to itself\n", suite,
					       names[i]);
				vmm_kdl_document_free(doc2);
				free(again);
			}
		}
		if (ok) {
			passed++;
		} else if (ex) {
			excepted++;
			printf("  %s/%s: known exception: %s\n", suite, names[i], ex->reason);
		} else {
			failed++;
		}
		vmm_kdl_document_free(doc);
		free(got);
		free(in);
		free(exp);
		free(ip);
		free(ep);
		free(names[i]);
	}
	printf("%s: %d/%zu passed", suite, passed, n);
	if (excepted)
		printf(", %d listed exceptions", excepted);
	printf("\n");
	fflush(stdout);
	free(names);
	free(indir);
	free(dir);
	return failed;
}

static void test_v2_suite(void **state)
{
	(void)state;
	assert_int_equal(run_suite("v2", VMM_KDL_V2), 0);
}

static void test_v1_suite(void **state)
{
	(void)state;
	assert_int_equal(run_suite("v1", VMM_KDL_V1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v2_suite),
		cmocka_unit_test(test_v1_suite),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
