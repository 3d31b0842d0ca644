/* SPDX-License-Identifier: MIT */
/*
 * Unit tests: the rendering of source diagnostics (vmm/diag.h). Every test
 * compares the whole rendered text: location line, gutter, source line,
 * markers, labels and help, so any change of layout fails here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/diag.h"

#define VALIDATION "error[vm_manager::vmfile::validation]: "
#define PARSE "error[vm_manager::vmfile::parse_failed]: "

static struct vmm_span span(size_t offset, size_t length, uint32_t line, uint32_t column)
{
	struct vmm_span s = {offset, length, line, column};

	return s;
}

static void with_source(struct vmm_diags *d, const char *file, const char *src, size_t len)
{
	vmm_diags_init(d);
	assert_int_equal(vmm_diags_set_source(d, file, src, len), 0);
}

static void expect_render(const struct vmm_diags *d, unsigned flags, const char *want)
{
	char *got = vmm_diags_render(d, flags);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
	assert_false(d->oom);
}

/* One diagnostic on its own, rendered the way the public header shows. */
static void test_one_error_with_help(void **state)
{
	static const char src[] = "vm \"a\" {\n    cpus 4\n}\n";
	struct vmm_diags d;

	(void)state;
	with_source(&d, "VMFile.kdl", src, strlen(src));
	assert_non_null(vmm_diags_add(&d, VMM_E_VMFILE_VALIDATION, span(13, 4, 2, 5),
				      "did you mean `vcpus`?", "unknown node `%s`", "cpus"));
	expect_render(&d, 0,
		      VALIDATION "unknown node `cpus`\n"
				 "  --> VMFile.kdl:2:5\n"
				 "   |\n"
				 " 2 |     cpus 4\n"
				 "   |     ^^^^\n"
				 "   = help: did you mean `vcpus`?\n");
	vmm_diags_release(&d);
}

static void test_colors(void **state)
{
	static const char src[] = "vm \"a\" {\n    cpus 4\n}\n";
	struct vmm_diags d;

	(void)state;
	with_source(&d, "VMFile.kdl", src, strlen(src));
	vmm_diags_add(&d, VMM_E_VMFILE_VALIDATION, span(13, 4, 2, 5), "use vcpus",
		      "unknown node");
	expect_render(&d, VMM_DIAG_COLOR,
		      "\033[1;31merror[vm_manager::vmfile::validation]\033[0m\033[1m: "
		      "unknown node\033[0m\n"
		      "  \033[1;34m-->\033[0m VMFile.kdl:2:5\n"
		      "\033[1;34m   |\033[0m\n"
		      "\033[1;34m 2 |\033[0m     cpus 4\n"
		      "\033[1;34m   |\033[0m     \033[1;31m^^^^\033[0m\n"
		      "   \033[1;34m=\033[0m \033[1;36mhelp\033[0m: use vcpus\n");
	vmm_diags_release(&d);
}

/* No hint: no help line. No position: the file alone, no snippet. No
 * source text: the position, no snippet. No file name: "<input>". */
static void test_without_hint_position_or_source(void **state)
{
	static const char src[] = "vm \"a\" {}\n";
	struct vmm_diags d;

	(void)state;
	with_source(&d, "VMFile.kdl", src, strlen(src));
	vmm_diags_add(&d, VMM_E_VMFILE_VALIDATION, span(0, 2, 1, 1), NULL, "no image");
	vmm_diags_add(&d, VMM_E_VMFILE_VALIDATION, span(0, 0, 0, 0), "add a vm node",
		      "no VM at all");
	vmm_diags_add(&d, VMM_E_VMFILE_VALIDATION, span(0, 0, 0, 0), "", "empty hint");
	expect_render(&d, 0,
		      VALIDATION "no image\n"
				 "  --> VMFile.kdl:1:1\n"
				 "   |\n"
				 " 1 | vm \"a\" {}\n"
				 "   | ^^\n"
				 "\n" VALIDATION "no VM at all\n"
				 "  --> VMFile.kdl\n"
				 "   = help: add a vm node\n"
				 "\n" VALIDATION "empty hint\n"
				 "  --> VMFile.kdl\n");
	vmm_diags_release(&d);

	vmm_diags_init(&d);
	vmm_diags_add(&d, VMM_E_VMFILE_PARSE, span(4, 1, 3, 7), "close the string",
		      "unterminated string");
	expect_render(&d, 0,
		      PARSE "unterminated string\n"
			    "  --> <input>:3:7\n"
			    "   = help: close the string\n");
	vmm_diags_release(&d);
}

/* Several diagnostics: separated by one blank line, in the order given or,
 * after vmm_diags_sort, by offset (ties keep their order). Rendering one
 * gives the same text as its part of the whole. */
static void test_several_sorted(void **state)
{
	static const char src[] = "a 1\nb 2\n";
	struct vmm_diags d;
	struct vmm_diag *second;
	char *one;

	(void)state;
	vmm_diags_init(&d);
	expect_render(&d, 0, "");
	with_source(&d, "f.kdl", src, strlen(src));
	vmm_diags_add(&d, VMM_E_VMFILE_VALIDATION, span(4, 1, 2, 1), NULL, "late");
	vmm_diags_add(&d, VMM_E_VMFILE_VALIDATION, span(2, 1, 1, 3), NULL, "early");
	vmm_diags_add(&d, VMM_E_VMFILE_VALIDATION, span(4, 1, 2, 1), NULL, "late too");
	assert_int_equal(d.n, 3);
	vmm_diags_sort(&d);
	expect_render(&d, 0,
		      VALIDATION "early\n"
				 "  --> f.kdl:1:3\n"
				 "   |\n"
				 " 1 | a 1\n"
				 "   |   ^\n"
				 "\n" VALIDATION "late\n"
				 "  --> f.kdl:2:1\n"
				 "   |\n"
				 " 2 | b 2\n"
				 "   | ^\n"
				 "\n" VALIDATION "late too\n"
				 "  --> f.kdl:2:1\n"
				 "   |\n"
				 " 2 | b 2\n"
				 "   | ^\n");
	second = &d.items[1];
	one = vmm_diag_render(&d, second, 0);
	assert_non_null(one);
	assert_string_equal(one, VALIDATION "late\n"
					    "  --> f.kdl:2:1\n"
					    "   |\n"
					    " 2 | b 2\n"
					    "   | ^\n");
	free(one);
	vmm_diags_clear(&d);
	assert_int_equal(d.n, 0);
	assert_null(d.source);
	expect_render(&d, 0, "");
	vmm_diags_release(&d);
}

/* Line numbers of two digits widen the gutter of every line. */
static void test_wide_gutter(void **state)
{
	static const char src[] = "1\n2\n3\n4\n5\n6\n7\n8\n9\nlast x\n";
	struct vmm_diags d;

	(void)state;
	with_source(&d, "f.kdl", src, strlen(src));
	vmm_diags_add(&d, VMM_E_VMFILE_VALIDATION, span(23, 1, 10, 6), "drop it", "stray x");
	expect_render(&d, 0,
		      VALIDATION "stray x\n"
				 "   --> f.kdl:10:6\n"
				 "    |\n"
				 " 10 | last x\n"
				 "    |      ^\n"
				 "    = help: drop it\n");
	vmm_diags_release(&d);
}

/* A tab is shown as four spaces, and the caret moves with it. */
static void test_tabs(void **state)
{
	static const char src[] = "vm \"a\" {\n\t\tcpus 4\n}\n";
	struct vmm_diags d;

	(void)state;
	with_source(&d, "VMFile.kdl", src, strlen(src));
	vmm_diags_add(&d, VMM_E_VMFILE_VALIDATION, span(11, 4, 2, 3), NULL, "unknown node");
	expect_render(&d, 0,
		      VALIDATION "unknown node\n"
				 "  --> VMFile.kdl:2:3\n"
				 "   |\n"
				 " 2 |         cpus 4\n"
				 "   |         ^^^^\n");
	vmm_diags_release(&d);
}

/* Wide characters (CJK, emoji) take two columns: the carets under them are
 * two per character, and what follows them shifts by two. */
static void test_wide_characters(void **state)
{
	/* "日" and "本" are three bytes, two columns each; "🙂" four bytes, two
	 * columns; "é" two bytes, one column. */
	static const char src[] = "name \"\xe6\x97\xa5\xe6\x9c\xac\" \xc3\xa9 x \xf0\x9f\x99\x82!\n";
	struct vmm_diags d;

	(void)state;
	with_source(&d, "f.kdl", src, strlen(src));
	vmm_diags_add(&d, VMM_E_VMFILE_VALIDATION, span(6, 6, 1, 7), NULL, "the wide string");
	vmm_diags_add(&d, VMM_E_VMFILE_VALIDATION, span(17, 1, 1, 13), NULL, "after them");
	vmm_diags_add(&d, VMM_E_VMFILE_VALIDATION, span(19, 4, 1, 15), NULL, "the emoji");
	expect_render(&d, 0,
		      VALIDATION "the wide string\n"
				 "  --> f.kdl:1:7\n"
				 "   |\n"
				 " 1 | name \"\xe6\x97\xa5\xe6\x9c\xac\" \xc3\xa9 x \xf0\x9f\x99\x82!\n"
				 "   |       ^^^^\n"
				 "\n" VALIDATION "after them\n"
				 "  --> f.kdl:1:13\n"
				 "   |\n"
				 " 1 | name \"\xe6\x97\xa5\xe6\x9c\xac\" \xc3\xa9 x \xf0\x9f\x99\x82!\n"
				 "   |               ^\n"
				 "\n" VALIDATION "the emoji\n"
				 "  --> f.kdl:1:15\n"
				 "   |\n"
				 " 1 | name \"\xe6\x97\xa5\xe6\x9c\xac\" \xc3\xa9 x \xf0\x9f\x99\x82!\n"
				 "   |                 ^^\n");
	vmm_diags_release(&d);
}

/* A byte-order mark takes no column and is not shown. */
static void test_bom(void **state)
{
	static const char src[] = "\xef\xbb\xbfvm x\n";
	struct vmm_diags d;

	(void)state;
	with_source(&d, "f.kdl", src, strlen(src));
	vmm_diags_add(&d, VMM_E_VMFILE_PARSE, span(6, 1, 1, 4), NULL, "bad");
	expect_render(&d, 0,
		      PARSE "bad\n"
			    "  --> f.kdl:1:4\n"
			    "   |\n"
			    " 1 | vm x\n"
			    "   |    ^\n");
	vmm_diags_release(&d);
}

/* Nothing from the file reaches the terminal raw: in the source line,
 * control characters, invalid UTF-8 and bidi overrides become U+FFFD (one
 * column each); in the message and help they are escaped. */
static void test_unsafe_bytes(void **state)
{
	static const char src[] = "a\x01" "b\xff" "c\x1b[31m\xe2\x80\xae" "d\n";
	struct vmm_diags d;

	(void)state;
	with_source(&d, "f.kdl", src, strlen(src));
	vmm_diags_add(&d, VMM_E_VMFILE_PARSE, span(2, 1, 1, 3), "not \x1b[2J this",
		      "bad name `%s`", "x\ty\x1b]0;\xff\xe2\x80\xae\x7f" "z");
	vmm_diags_add(&d, VMM_E_VMFILE_PARSE, span(13, 1, 1, 12), NULL, "after them");
	expect_render(&d, 0,
		      PARSE "bad name `x\\x09y\\x1b]0;\\xff\\u{202e}\\x7fz`\n"
			    "  --> f.kdl:1:3\n"
			    "   |\n"
			    " 1 | a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd[31m\xef\xbf\xbd" "d\n"
			    "   |   ^\n"
			    "   = help: not \\x1b[2J this\n"
			    "\n" PARSE "after them\n"
			    "  --> f.kdl:1:12\n"
			    "   |\n"
			    " 1 | a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd[31m\xef\xbf\xbd" "d\n"
			    "   |            ^\n");
	vmm_diags_release(&d);
}

/* Lines end at LF, CR LF, CR, FF, VT, NEL and U+2028: no break character
 * is shown, and the snippet is the line of the span only. A NUL byte is a
 * character of the line (shown as U+FFFD). */
static void test_line_breaks(void **state)
{
	static const char src[] = "one\r\ntwo\rthree\fx\xc2\x85y\xe2\x80\xa8z\0z\n";
	struct vmm_diags d;

	(void)state;
	with_source(&d, "f.kdl", src, sizeof(src) - 1);
	vmm_diags_add(&d, VMM_E_VMFILE_PARSE, span(5, 3, 2, 1), NULL, "two");
	vmm_diags_add(&d, VMM_E_VMFILE_PARSE, span(9, 5, 3, 1), NULL, "three");
	vmm_diags_add(&d, VMM_E_VMFILE_PARSE, span(15, 1, 4, 1), NULL, "x");
	vmm_diags_add(&d, VMM_E_VMFILE_PARSE, span(18, 1, 5, 1), NULL, "y");
	vmm_diags_add(&d, VMM_E_VMFILE_PARSE, span(24, 1, 6, 3), NULL, "z");
	expect_render(&d, 0,
		      PARSE "two\n"
			    "  --> f.kdl:2:1\n"
			    "   |\n"
			    " 2 | two\n"
			    "   | ^^^\n"
			    "\n" PARSE "three\n"
			    "  --> f.kdl:3:1\n"
			    "   |\n"
			    " 3 | three\n"
			    "   | ^^^^^\n"
			    "\n" PARSE "x\n"
			    "  --> f.kdl:4:1\n"
			    "   |\n"
			    " 4 | x\n"
			    "   | ^\n"
			    "\n" PARSE "y\n"
			    "  --> f.kdl:5:1\n"
			    "   |\n"
			    " 5 | y\n"
			    "   | ^\n"
			    "\n" PARSE "z\n"
			    "  --> f.kdl:6:3\n"
			    "   |\n"
			    " 6 | z\xef\xbf\xbdz\n"
			    "   |   ^\n");
	vmm_diags_release(&d);
}

/* A span that runs past the end of its line is cut at the line's end; an
 * empty span gets one caret. */
static void test_span_clipped_and_empty(void **state)
{
	static const char src[] = "ab\ncd\n";
	struct vmm_diags d;

	(void)state;
	with_source(&d, "f.kdl", src, strlen(src));
	vmm_diags_add(&d, VMM_E_VMFILE_PARSE, span(1, 10, 1, 2), NULL, "to the end");
	vmm_diags_add(&d, VMM_E_VMFILE_PARSE, span(4, 0, 2, 2), NULL, "empty");
	expect_render(&d, 0,
		      PARSE "to the end\n"
			    "  --> f.kdl:1:2\n"
			    "   |\n"
			    " 1 | ab\n"
			    "   |  ^\n"
			    "\n" PARSE "empty\n"
			    "  --> f.kdl:2:2\n"
			    "   |\n"
			    " 2 | cd\n"
			    "   |  ^\n");
	vmm_diags_release(&d);
}

/* The end of the file: after a last line without a newline, on the empty
 * line after a final newline, past the end, and in an empty file. */
static void test_end_of_file_and_empty_file(void **state)
{
	static const char open_brace[] = "vm \"a\" {";
	static const char newline[] = "vm \"a\" {\n";
	struct vmm_diags d;

	(void)state;
	with_source(&d, "f.kdl", open_brace, strlen(open_brace));
	vmm_diags_add(&d, VMM_E_VMFILE_PARSE, span(8, 0, 1, 9), "add `}`", "unexpected end");
	vmm_diags_add(&d, VMM_E_VMFILE_PARSE, span(50, 3, 1, 9), NULL, "past the end");
	expect_render(&d, 0,
		      PARSE "unexpected end\n"
			    "  --> f.kdl:1:9\n"
			    "   |\n"
			    " 1 | vm \"a\" {\n"
			    "   |         ^\n"
			    "   = help: add `}`\n"
			    "\n" PARSE "past the end\n"
			    "  --> f.kdl:1:9\n"
			    "   |\n"
			    " 1 | vm \"a\" {\n"
			    "   |         ^\n");
	vmm_diags_release(&d);

	with_source(&d, "f.kdl", newline, strlen(newline));
	vmm_diags_add(&d, VMM_E_VMFILE_PARSE, span(9, 0, 2, 1), NULL, "unexpected end");
	expect_render(&d, 0,
		      PARSE "unexpected end\n"
			    "  --> f.kdl:2:1\n"
			    "   |\n"
			    " 2 | \n"
			    "   | ^\n");
	vmm_diags_release(&d);

	with_source(&d, "empty.kdl", "", 0);
	vmm_diags_add(&d, VMM_E_VMFILE_VALIDATION, span(0, 0, 1, 1), "add a vm node",
		      "no VM defined");
	expect_render(&d, 0,
		      VALIDATION "no VM defined\n"
				 "  --> empty.kdl:1:1\n"
				 "   |\n"
				 " 1 | \n"
				 "   | ^\n"
				 "   = help: add a vm node\n");
	vmm_diags_release(&d);
}

/* A line of n 'a's (and its newline) with word at column col (0-based). */
static char *long_line(size_t n, size_t col, const char *word)
{
	char *s = malloc(n + 2);

	assert_non_null(s);
	memset(s, 'a', n);
	memcpy(s + col, word, strlen(word));
	s[n] = '\n';
	s[n + 1] = '\0';
	return s;
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* A line wider than 160 columns is shown as a 160-column window from 40
 * columns before the span, "..." marking each cut side. */
static void test_long_lines(void **state)
{
	struct vmm_diags d;
	char *src = long_line(500, 199, "bad"), *want;
	char *a40 = repeat('a', 40), *a117 = repeat('a', 117), *a147 = repeat('a', 147);
	char *sp43 = repeat(' ', 43);

	(void)state;
	/* the span in the middle: cut on both sides */
	with_source(&d, "f.kdl", src, strlen(src));
	vmm_diags_add(&d, VMM_E_VMFILE_PARSE, span(199, 3, 1, 200), NULL, "in the middle");
	assert_true(asprintf(&want,
			     PARSE "in the middle\n"
				   "  --> f.kdl:1:200\n"
				   "   |\n"
				   " 1 | ...%sbad%s...\n"
				   "   | %s^^^\n",
			     a40, a117, sp43) > 0);
	expect_render(&d, 0, want);
	free(want);
	vmm_diags_release(&d);
	free(src);

	/* near the start: cut on the right only */
	src = long_line(500, 10, "bad");
	with_source(&d, "f.kdl", src, strlen(src));
	vmm_diags_add(&d, VMM_E_VMFILE_PARSE, span(10, 3, 1, 11), NULL, "near the start");
	assert_true(asprintf(&want,
			     PARSE "near the start\n"
				   "  --> f.kdl:1:11\n"
				   "   |\n"
				   " 1 | aaaaaaaaaabad%s...\n"
				   "   |           ^^^\n",
			     a147 /* 10 + 3 + 147: 160 columns */) > 0);
	expect_render(&d, 0, want);
	free(want);
	vmm_diags_release(&d);
	free(src);

	/* a span running past the window: carets up to its edge */
	src = long_line(500, 199, "bad");
	with_source(&d, "f.kdl", src, strlen(src));
	vmm_diags_add(&d, VMM_E_VMFILE_PARSE, span(199, 300, 1, 200), NULL, "long span");
	{
		char *carets = repeat('^', 120);

		assert_true(asprintf(&want,
				     PARSE "long span\n"
					   "  --> f.kdl:1:200\n"
					   "   |\n"
					   " 1 | ...%sbad%s...\n"
					   "   | %s%s\n",
				     a40, a117, sp43, carets) > 0);
		free(carets);
	}
	expect_render(&d, 0, want);
	free(want);
	vmm_diags_release(&d);
	free(src);

	/* exactly 160 columns: shown whole */
	src = long_line(160, 159, "b");
	with_source(&d, "f.kdl", src, strlen(src));
	vmm_diags_add(&d, VMM_E_VMFILE_PARSE, span(159, 1, 1, 160), NULL, "last column");
	{
		char *a159 = repeat('a', 159), *sp159 = repeat(' ', 159);

		assert_true(asprintf(&want,
				     PARSE "last column\n"
					   "  --> f.kdl:1:160\n"
					   "   |\n"
					   " 1 | %sb\n"
					   "   | %s^\n",
				     a159, sp159) > 0);
		free(a159);
		free(sp159);
	}
	expect_render(&d, 0, want);
	free(want);
	vmm_diags_release(&d);
	free(src);
	free(a40);
	free(a117);
	free(a147);
	free(sp43);
}

/* A related place on the same line: its marker is '-', its label goes after
 * the markers when it is the rightmost, else below it on rows of its own. */
static void test_related_same_line(void **state)
{
	static const char src[] = "vcpus 1 vcpus 2\n";
	struct vmm_diags d;
	struct vmm_diag *g;

	(void)state;
	with_source(&d, "f.kdl", src, strlen(src));
	g = vmm_diags_add(&d, VMM_E_VMFILE_VALIDATION, span(8, 5, 1, 9), "remove one",
			  "duplicate `vcpus`");
	vmm_diag_set_related(&d, g, span(0, 5, 1, 1), "first defined here");
	g = vmm_diags_add(&d, VMM_E_VMFILE_VALIDATION, span(0, 5, 1, 1), NULL,
			  "defined again later");
	vmm_diag_set_related(&d, g, span(8, 5, 1, 9), "again here");
	vmm_diag_set_related(&d, vmm_diags_add(&d, VMM_E_VMFILE_VALIDATION,
					       span(8, 5, 1, 9), NULL, "no label"),
			     span(0, 5, 1, 1), NULL);
	vmm_diag_set_related(&d, NULL, span(0, 5, 1, 1), "ignored");
	expect_render(&d, 0,
		      VALIDATION "duplicate `vcpus`\n"
				 "  --> f.kdl:1:9\n"
				 "   |\n"
				 " 1 | vcpus 1 vcpus 2\n"
				 "   | -----   ^^^^^\n"
				 "   | |\n"
				 "   | first defined here\n"
				 "   = help: remove one\n"
				 "\n" VALIDATION "defined again later\n"
				 "  --> f.kdl:1:1\n"
				 "   |\n"
				 " 1 | vcpus 1 vcpus 2\n"
				 "   | ^^^^^   ----- again here\n"
				 "\n" VALIDATION "no label\n"
				 "  --> f.kdl:1:9\n"
				 "   |\n"
				 " 1 | vcpus 1 vcpus 2\n"
				 "   | -----   ^^^^^\n");
	vmm_diags_release(&d);
}

/* A related place on another line: both lines in file order, "..." between
 * them when lines were skipped; the gutter fits the larger line number. */
static void test_related_other_line(void **state)
{
	static const char src[] = "vm \"a\" {\n"
				  "    vcpus 1\n"
				  "    memory 2\n"
				  "    vcpus 2\n"
				  "    disk 3\n"
				  "    disk 4\n"
				  "    a\n    b\n    c\n    d\n"
				  "}\n";
	struct vmm_diags d;
	struct vmm_diag *g;

	(void)state;
	with_source(&d, "VMFile.kdl", src, strlen(src));
	g = vmm_diags_add(&d, VMM_E_VMFILE_VALIDATION, span(38, 5, 4, 5), "remove one",
			  "duplicate `vcpus`");
	vmm_diag_set_related(&d, g, span(13, 5, 2, 5), "first defined here");
	/* the related place after the primary one, on the next line */
	g = vmm_diags_add(&d, VMM_E_VMFILE_VALIDATION, span(50, 4, 5, 5), NULL,
			  "`disk` twice");
	vmm_diag_set_related(&d, g, span(61, 4, 6, 5), "again here");
	/* line 11 widens the gutter */
	g = vmm_diags_add(&d, VMM_E_VMFILE_VALIDATION, span(92, 1, 11, 1), NULL,
			  "block closed here");
	vmm_diag_set_related(&d, g, span(0, 2, 1, 1), "opened here");
	expect_render(&d, 0,
		      VALIDATION "duplicate `vcpus`\n"
				 "  --> VMFile.kdl:4:5\n"
				 "   |\n"
				 " 2 |     vcpus 1\n"
				 "   |     ----- first defined here\n"
				 "...\n"
				 " 4 |     vcpus 2\n"
				 "   |     ^^^^^\n"
				 "   = help: remove one\n"
				 "\n" VALIDATION "`disk` twice\n"
				 "  --> VMFile.kdl:5:5\n"
				 "   |\n"
				 " 5 |     disk 3\n"
				 "   |     ^^^^\n"
				 " 6 |     disk 4\n"
				 "   |     ---- again here\n"
				 "\n" VALIDATION "block closed here\n"
				 "   --> VMFile.kdl:11:1\n"
				 "    |\n"
				 "  1 | vm \"a\" {\n"
				 "    | -- opened here\n"
				 "...\n"
				 " 11 | }\n"
				 "    | ^\n");
	vmm_diags_release(&d);
}

/* The source is copied: the caller's buffer may go away. */
static void test_source_is_copied(void **state)
{
	char buf[] = "abc\n";
	struct vmm_diags d;

	(void)state;
	with_source(&d, "f.kdl", buf, strlen(buf));
	memset(buf, 'z', 3);
	vmm_diags_add(&d, VMM_E_VMFILE_PARSE, span(1, 1, 1, 2), NULL, "b");
	expect_render(&d, 0,
		      PARSE "b\n"
			    "  --> f.kdl:1:2\n"
			    "   |\n"
			    " 1 | abc\n"
			    "   |  ^\n");
	vmm_diags_release(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_error_with_help),
		cmocka_unit_test(test_colors),
		cmocka_unit_test(test_without_hint_position_or_source),
		cmocka_unit_test(test_several_sorted),
		cmocka_unit_test(test_wide_gutter),
		cmocka_unit_test(test_tabs),
		cmocka_unit_test(test_wide_characters),
		cmocka_unit_test(test_bom),
		cmocka_unit_test(test_unsafe_bytes),
		cmocka_unit_test(test_line_breaks),
		cmocka_unit_test(test_span_clipped_and_empty),
		cmocka_unit_test(test_end_of_file_and_empty_file),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_related_same_line),
		cmocka_unit_test(test_related_other_line),
		cmocka_unit_test(test_source_is_copied),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
