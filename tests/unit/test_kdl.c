/* SPDX-License-Identifier: MIT */
/* Unit tests: KDL document model, source spans, errors, accessors, printer.
 * (Conformance against the official suites is test_kdl_suite.c.) */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/util.h"
#include "vmm/kdl.h"

static struct vmm_kdl_document *parse_ok(const char *text, enum vmm_kdl_version mode)
{
	struct vmm_kdl_document *doc = NULL;
	struct vmm_kdl_error kerr;
	int rc = vmm_kdl_parse(text, strlen(text), mode, &doc, &kerr);

	if (rc != 0)
		fprintf(stderr, "unexpected error %u:%u: %s\n", kerr.span.line, kerr.span.column,
			kerr.message);
	assert_int_equal(rc, 0);
	assert_non_null(doc);
	return doc;
}

static void parse_err(const char *text, size_t len, enum vmm_kdl_version mode,
		      struct vmm_kdl_error *kerr)
{
	struct vmm_kdl_document *doc = (void *)1;

	assert_int_equal(vmm_kdl_parse(text, len, mode, &doc, kerr), -(int)VMM_E_VMFILE_PARSE);
	assert_null(doc);
	assert_int_equal(kerr->code, VMM_E_VMFILE_PARSE);
}

/* The source text a span covers. */
static void assert_span_text(const char *text, struct vmm_kdl_span sp, const char *want)
{
	assert_int_equal(sp.length, strlen(want));
	assert_memory_equal(text + sp.offset, want, sp.length);
}

static void test_spans(void **state)
{
	const char *text =
		"// comment\n"
		"vm \"web\" memory=2048 {\n"
		"    (u8)vcpus (count)4\n"
		"    disk key = #\"raw\"#\n"
		"}\n"
		"h\xc3\xa9llo \xc3\xa9t\xc3\xa9 x=1\n";
	struct vmm_kdl_document *doc;
	const struct vmm_kdl_node *vm, *vcpus, *disk, *h;

	(void)state;
	doc = parse_ok(text, VMM_KDL_AUTO);
	assert_int_equal(doc->version, VMM_KDL_V2);
	assert_false(doc->fell_back);
	assert_int_equal(doc->nnodes, 2);
	vm = &doc->nodes[0];
	assert_string_equal(vm->name, "vm");
	assert_int_equal(vm->name_span.line, 2);
	assert_int_equal(vm->name_span.column, 1);
	assert_span_text(text, vm->name_span, "vm");
	assert_int_equal(vm->args[0].span.column, 4);
	assert_span_text(text, vm->args[0].span, "\"web\"");
	assert_string_equal(vm->args[0].str, "web");
	assert_span_text(text, vm->props[0].key_span, "memory");
	assert_span_text(text, vm->props[0].value.span, "2048");
	assert_span_text(text, vm->props[0].span, "memory=2048");
	assert_int_equal(vm->props[0].value.span.column, 17);
	assert_true(vm->has_children);
	assert_int_equal(vm->children_span.line, 2);
	assert_int_equal(vm->children_span.end_line, 5);
	assert_int_equal(vm->span.line, 2);
	assert_int_equal(vm->span.end_line, 5);
	assert_int_equal(vm->span.end_column, 2);

	vcpus = vmm_kdl_node_child(vm, "vcpus", NULL);
	assert_non_null(vcpus);
	assert_string_equal(vcpus->tag, "u8");
	assert_span_text(text, vcpus->tag_span, "u8");
	assert_int_equal(vcpus->tag_span.line, 3);
	assert_int_equal(vcpus->tag_span.column, 6);
	assert_span_text(text, vcpus->span, "(u8)vcpus (count)4");
	assert_string_equal(vcpus->args[0].tag, "count");
	assert_span_text(text, vcpus->args[0].tag_span, "count");
	assert_span_text(text, vcpus->args[0].span, "4");

	disk = vmm_kdl_node_child(vm, "disk", NULL);
	assert_non_null(disk);
	assert_span_text(text, disk->props[0].span, "key = #\"raw\"#");
	assert_span_text(text, disk->props[0].value.span, "#\"raw\"#");
	assert_string_equal(disk->props[0].value.str, "raw");

	/* columns count characters, offsets bytes */
	h = &doc->nodes[1];
	assert_int_equal(h->args[0].span.line, 6);
	assert_int_equal(h->args[0].span.column, 7);
	assert_int_equal(h->args[0].span.offset, h->name_span.offset + 7);
	assert_int_equal(h->props[0].key_span.column, 11);
	vmm_kdl_document_free(doc);
}

static void test_crlf_and_unicode_newlines(void **state)
{
	const char *text = "a\r\nb\xe2\x80\xa8" "c\x0b" "d\x0c" "e\r" "f\xc2\x85g";
	struct vmm_kdl_document *doc;

	(void)state;
	doc = parse_ok(text, VMM_KDL_V2);
	assert_int_equal(doc->nnodes, 7);
	for (size_t i = 0; i < doc->nnodes; i++) {
		assert_int_equal(doc->nodes[i].name_span.line, i + 1);
		assert_int_equal(doc->nodes[i].name_span.column, 1);
	}
	vmm_kdl_document_free(doc);
}

static void test_values(void **state)
{
	const char *text =
		"n 0x1F -0o17 0b1010 1_000 1.5e3 #inf #-inf #nan #true #false #null "
		"99999999999999999999 -9223372036854775808 \"a\\u{1F600}\\tb\" \"\"\"\n"
		"      line1\n"
		"        line2\n"
		"      \"\"\"\n";
	struct vmm_kdl_document *doc;
	const struct vmm_kdl_node *n;
	int64_t i;
	double d;
	bool b;

	(void)state;
	doc = parse_ok(text, VMM_KDL_V2);
	n = &doc->nodes[0];
	assert_int_equal(n->nargs, 15);
	assert_true(vmm_kdl_value_int64(&n->args[0], &i));
	assert_int_equal(i, 31);
	assert_int_equal(n->args[0].num.radix, 16);
	assert_string_equal(n->args[0].num.text, "0x1F");
	assert_true(vmm_kdl_value_int64(&n->args[1], &i));
	assert_int_equal(i, -15);
	assert_true(vmm_kdl_value_int64(&n->args[2], &i));
	assert_int_equal(i, 10);
	assert_true(vmm_kdl_value_int64(&n->args[3], &i));
	assert_int_equal(i, 1000);
	assert_false(vmm_kdl_value_int64(&n->args[4], &i));
	assert_true(vmm_kdl_value_double(&n->args[4], &d));
	assert_true(d == 1500.0);
	assert_string_equal(vmm_kdl_value_kind(&n->args[4]), "float");
	assert_int_equal(n->args[5].num.kind, VMM_KDL_NUM_INF);
	assert_true(isinf(n->args[5].num.d) && n->args[5].num.d > 0);
	assert_int_equal(n->args[6].num.kind, VMM_KDL_NUM_NEG_INF);
	assert_true(isnan(n->args[7].num.d));
	assert_true(vmm_kdl_value_bool(&n->args[8], &b));
	assert_true(b);
	assert_true(vmm_kdl_value_bool(&n->args[9], &b));
	assert_false(b);
	assert_int_equal(n->args[10].type, VMM_KDL_NULL);
	assert_string_equal(vmm_kdl_value_kind(&n->args[10]), "null");
	/* overflow is flagged, not wrapped */
	assert_true(n->args[11].num.overflow);
	assert_false(vmm_kdl_value_int64(&n->args[11], &i));
	assert_string_equal(vmm_kdl_value_kind(&n->args[11]), "integer");
	assert_true(vmm_kdl_value_int64(&n->args[12], &i));
	assert_true(i == INT64_MIN);
	assert_string_equal(vmm_kdl_value_str(&n->args[13]), "a\xf0\x9f\x98\x80\tb");
	assert_string_equal(vmm_kdl_value_str(&n->args[14]), "line1\n  line2");
	assert_null(vmm_kdl_value_str(&n->args[0]));
	assert_string_equal(vmm_kdl_type_name(n->args[0].type), "number");
	vmm_kdl_document_free(doc);

	/* a NUL inside a string: kept with its length, not returned as C string */
	doc = parse_ok("n \"a\\u{0}b\"", VMM_KDL_V2);
	assert_int_equal(doc->nodes[0].args[0].len, 3);
	assert_null(vmm_kdl_value_str(&doc->nodes[0].args[0]));
	vmm_kdl_document_free(doc);
}

/*
 * Many properties on one node, every key twice (k0..kN-1, then again in
 * reverse order, the second value winning): each key is kept once, with the
 * later value, in the order of its last occurrence, counting one override.
 * (How the time grows with the count is bench/vmfile-scale.sh's to show.)
 */
static void test_many_props_with_duplicates(void **state)
{
	enum { N = 100000 };
	struct vmmi_buf b;
	struct vmm_kdl_document *doc;
	struct vmm_kdl_error kerr;
	int64_t v;

	(void)state;
	vmmi_buf_init(&b);
	vmmi_buf_printf(&b, "n");
	for (int i = 0; i < N; i++)
		vmmi_buf_printf(&b, " k%d=%d", i, i);
	for (int i = N - 1; i >= 0; i--)
		vmmi_buf_printf(&b, " k%d=%d", i, -i);
	vmmi_buf_printf(&b, "\n");
	assert_int_equal(vmm_kdl_parse(b.data, b.len, VMM_KDL_V2, &doc, &kerr), 0);
	assert_int_equal(doc->nodes[0].nprops, N);
	for (int j = 0; j < N; j++) {
		const struct vmm_kdl_prop *p = &doc->nodes[0].props[j];
		char key[16];

		snprintf(key, sizeof(key), "k%d", N - 1 - j);
		assert_int_equal(p->key_len, strlen(key));
		assert_memory_equal(p->key, key, p->key_len);
		assert_true(vmm_kdl_value_int64(&p->value, &v));
		assert_int_equal(v, -(N - 1 - j));
		assert_int_equal(p->overridden, 1);
	}
	vmm_kdl_document_free(doc);
	vmmi_buf_release(&b);
}

static void test_duplicate_props(void **state)
{
	const char *text = "n a=1 b=2 a=3 /-a=4 a=5\n";
	struct vmm_kdl_document *doc;
	const struct vmm_kdl_prop *p;
	int64_t i;

	(void)state;
	doc = parse_ok(text, VMM_KDL_V2);
	assert_int_equal(doc->nodes[0].nprops, 2);
	p = vmm_kdl_node_prop(&doc->nodes[0], "a");
	assert_non_null(p);
	assert_true(vmm_kdl_value_int64(&p->value, &i));
	assert_int_equal(i, 5);
	assert_int_equal(p->overridden, 2);
	assert_int_equal(p->key_span.column, 21);
	assert_span_text(text, p->span, "a=5");
	assert_null(vmm_kdl_node_prop(&doc->nodes[0], "c"));
	assert_non_null(vmm_kdl_node_prop_value(&doc->nodes[0], "b"));
	vmm_kdl_document_free(doc);
}

static void test_accessors(void **state)
{
	const char *text = "vm a { x 1; y; x 2 }\nvm b\nother\n";
	struct vmm_kdl_document *doc;
	const struct vmm_kdl_node *n, *c;
	size_t count = 0;
	char *s;

	(void)state;
	doc = parse_ok(text, VMM_KDL_AUTO);
	for (n = vmm_kdl_document_find(doc, "vm", NULL); n; n = vmm_kdl_document_find(doc, "vm", n))
		count++;
	assert_int_equal(count, 2);
	n = vmm_kdl_document_find(doc, "vm", NULL);
	assert_int_equal(vmm_kdl_node_count_children(n, "x"), 2);
	c = vmm_kdl_node_child(n, "x", NULL);
	c = vmm_kdl_node_child(n, "x", c);
	assert_non_null(c);
	assert_null(vmm_kdl_node_child(n, "x", c));
	assert_null(vmm_kdl_node_arg(c, 1));
	s = vmm_kdl_value_to_string(vmm_kdl_node_arg(c, 0), VMM_KDL_V2);
	assert_string_equal(s, "2");
	free(s);
	assert_null(vmm_kdl_document_find(doc, "nope", NULL));
	assert_string_equal(vmm_kdl_version_name(doc->version), "2");
	vmm_kdl_document_free(doc);
	vmm_kdl_document_free(NULL);
}

static void test_value_to_string(void **state)
{
	struct vmm_kdl_document *doc;
	char *s;

	(void)state;
	doc = parse_ok("n (u8)\"a b\" true-ish #true 0xff 1e3", VMM_KDL_V2);
	s = vmm_kdl_value_to_string(&doc->nodes[0].args[0], VMM_KDL_V2);
	assert_string_equal(s, "(u8)\"a b\"");
	free(s);
	s = vmm_kdl_value_to_string(&doc->nodes[0].args[1], VMM_KDL_V2);
	assert_string_equal(s, "true-ish");
	free(s);
	s = vmm_kdl_value_to_string(&doc->nodes[0].args[2], VMM_KDL_V1);
	assert_string_equal(s, "true");
	free(s);
	s = vmm_kdl_value_to_string(&doc->nodes[0].args[3], VMM_KDL_V2);
	assert_string_equal(s, "255");
	free(s);
	s = vmm_kdl_value_to_string(&doc->nodes[0].args[4], VMM_KDL_V2);
	assert_string_equal(s, "1E+3");
	free(s);
	vmm_kdl_document_free(doc);
}

static void test_print(void **state)
{
	struct vmm_kdl_document *doc;
	char *out;
	size_t len;

	(void)state;
	doc = parse_ok("/* c */ b z=1 a=\"x y\" 0x10 { c; /-d; }\ne {}\n", VMM_KDL_V2);
	assert_int_equal(vmm_kdl_print(doc, VMM_KDL_AUTO, &out, &len), 0);
	assert_string_equal(out, "b 16 a=\"x y\" z=1 {\n    c\n}\ne\n");
	assert_int_equal(len, strlen(out));
	free(out);
	assert_int_equal(vmm_kdl_print(doc, VMM_KDL_V1, &out, NULL), 0);
	assert_string_equal(out, "b 0x10 a=\"x y\" z=1 {\n    c\n}\ne {\n}\n");
	free(out);
	vmm_kdl_document_free(doc);
}

static void test_version_selection(void **state)
{
	struct vmm_kdl_document *doc;
	struct vmm_kdl_error kerr;
	const struct vmm_kdl_error *v2e;

	(void)state;
	/* v1 syntax falls back in AUTO, and the v2 reason is kept */
	doc = parse_ok("node true r\"raw\" key=null\n", VMM_KDL_AUTO);
	assert_int_equal(doc->version, VMM_KDL_V1);
	assert_true(doc->fell_back);
	v2e = vmm_kdl_document_v2_error(doc);
	assert_non_null(v2e);
	assert_int_equal(v2e->span.column, 6);
	assert_non_null(strstr(v2e->hint, "#true"));
	assert_true(doc->nodes[0].args[0].boolean);
	assert_string_equal(doc->nodes[0].args[1].str, "raw");
	vmm_kdl_document_free(doc);

	/* strict v2 reports it with the hint */
	parse_err("node true\n", 10, VMM_KDL_V2, &kerr);
	assert_int_equal(kerr.span.line, 1);
	assert_int_equal(kerr.span.column, 6);
	assert_int_equal(kerr.span.length, 4);
	assert_string_equal(kerr.hint, "v1-style `true`; in KDL 2 write `#true` (or \"true\" for the string)");

	/* an explicit marker selects the grammar, no fallback */
	doc = parse_ok("/- kdl-version 1\nnode true\n", VMM_KDL_AUTO);
	assert_int_equal(doc->version, VMM_KDL_V1);
	assert_true(doc->version_marker);
	assert_false(doc->fell_back);
	assert_int_equal(doc->nnodes, 1);
	vmm_kdl_document_free(doc);
	parse_err("/- kdl-version 2\nnode true\n", 27, VMM_KDL_AUTO, &kerr);
	assert_int_equal(kerr.version, VMM_KDL_V2);
	parse_err("/- kdl-version 1\nnode\n", 22, VMM_KDL_V2, &kerr);
	assert_non_null(strstr(kerr.message, "kdl-version 1"));

	/* neither grammar: the error of the one that got further */
	parse_err("node true\nnode 1.2.3", 20, VMM_KDL_AUTO, &kerr);
	assert_int_equal(kerr.version, VMM_KDL_V1);
	assert_string_equal(kerr.message, "invalid number '1.2.3'");
	assert_int_equal(kerr.span.line, 2);
	assert_int_equal(kerr.related.line, 1);
	assert_int_equal(kerr.related.column, 6);
	assert_non_null(strstr(kerr.related_label, "not valid KDL 2"));
	parse_err("node #true true {", 17, VMM_KDL_AUTO, &kerr);
	assert_int_equal(kerr.version, VMM_KDL_V2);
	assert_int_equal(kerr.span.column, 12);
}

static void test_errors(void **state)
{
	struct vmm_kdl_error kerr;
	struct vmm_error err;

	(void)state;
	/* unclosed string points at the end and back at the opening quote */
	parse_err("a \"abc\nb", 8, VMM_KDL_V2, &kerr);
	assert_non_null(strstr(kerr.message, "unclosed string"));
	assert_int_equal(kerr.span.line, 1);
	assert_int_equal(kerr.span.column, 7);
	assert_int_equal(kerr.related.line, 1);
	assert_int_equal(kerr.related.column, 3);
	assert_string_equal(kerr.related_label, "string started here");

	parse_err("a {\n  b {\n", 10, VMM_KDL_V2, &kerr);
	assert_string_equal(kerr.message, "unclosed children block");
	assert_int_equal(kerr.related.line, 2);
	assert_int_equal(kerr.related.column, 5);

	parse_err("a 1.2.3", 7, VMM_KDL_V2, &kerr);
	assert_string_equal(kerr.message, "invalid number '1.2.3'");
	assert_int_equal(kerr.span.column, 3);
	assert_int_equal(kerr.span.length, 5);

	parse_err("a b=", 4, VMM_KDL_V2, &kerr);
	assert_non_null(strstr(kerr.message, "after '='"));

	parse_err("a \"\\q\"", 6, VMM_KDL_V2, &kerr);
	assert_non_null(strstr(kerr.message, "invalid escape"));
	assert_int_equal(kerr.span.column, 4);
	assert_int_equal(kerr.span.length, 2);

	parse_err("a #\"x\"", 6, VMM_KDL_V2, &kerr);
	assert_non_null(strstr(kerr.message, "unclosed string"));

	/* multi-line strings: the badly indented line is pointed at */
	parse_err("a \"\"\"\n  x\n y\n  \"\"\"", 18, VMM_KDL_V2, &kerr);
	assert_int_equal(kerr.span.line, 3);
	assert_int_equal(kerr.span.column, 1);
	assert_int_equal(kerr.span.length, 2);
	assert_non_null(strstr(kerr.message, "indented less"));

	parse_err("a /* x", 6, VMM_KDL_AUTO, &kerr);
	assert_string_equal(kerr.message, "unclosed block comment");

	parse_err("a }", 3, VMM_KDL_AUTO, &kerr);
	assert_string_equal(kerr.message, "unmatched '}'");

	parse_err("a\"b\"", 4, VMM_KDL_V2, &kerr);
	assert_non_null(strstr(kerr.message, "missing whitespace"));

	parse_err("a r\"b\"", 6, VMM_KDL_V2, &kerr);
	assert_non_null(strstr(kerr.hint, "#\"...\"#"));

	parse_err("a #yes", 6, VMM_KDL_V2, &kerr);
	assert_string_equal(kerr.message, "unknown keyword '#yes'");

	parse_err("1 a", 3, VMM_KDL_V2, &kerr);
	assert_string_equal(kerr.message, "a node name must be a string, not a number");

	parse_err("a; ;", 4, VMM_KDL_V2, &kerr);
	assert_string_equal(kerr.message, "stray ';' without a node");
	assert_int_equal(kerr.span.column, 4);

	parse_err("image ~/x.qcow2", 15, VMM_KDL_V2, &kerr);
	assert_string_equal(kerr.message, "unexpected '/' inside a bare string");
	assert_int_equal(kerr.span.column, 8);
	assert_non_null(strstr(kerr.hint, "quote"));

	parse_err("a [1, 2]", 8, VMM_KDL_V2, &kerr);
	assert_non_null(strstr(kerr.hint, "no arrays"));

	/* to a vmm_error with file:line:col */
	parse_err("1 a", 3, VMM_KDL_V2, &kerr);
	assert_int_equal(vmm_kdl_error_to_vmm(&kerr, "VMFile.kdl", &err), -(int)VMM_E_VMFILE_PARSE);
	assert_string_equal(err.message, "VMFile.kdl:1:1: a node name must be a string, not a number");
	assert_string_equal(err.hint, kerr.hint);
}

static void test_bad_input_bytes(void **state)
{
	struct vmm_kdl_error kerr;

	(void)state;
	parse_err("node \"a\xff\"", 9, VMM_KDL_AUTO, &kerr);
	assert_string_equal(kerr.message, "invalid UTF-8 byte 0xFF");
	assert_int_equal(kerr.span.offset, 7);
	assert_int_equal(kerr.span.column, 8);

	parse_err("a\nnode\0x", 8, VMM_KDL_AUTO, &kerr);
	assert_string_equal(kerr.message, "NUL byte in the document");
	assert_int_equal(kerr.span.line, 2);
	assert_int_equal(kerr.span.column, 5);

	/* overlong encoding and surrogates are invalid UTF-8 */
	parse_err("a \xc0\xaf", 4, VMM_KDL_AUTO, &kerr);
	parse_err("a \xed\xa0\x80", 5, VMM_KDL_AUTO, &kerr);
	/* truncated sequence at the end */
	parse_err("a \xe2\x82", 4, VMM_KDL_AUTO, &kerr);

	/* direction controls are disallowed in v2 */
	parse_err("a \"x\xe2\x80\x8ey\"", 10, VMM_KDL_V2, &kerr);
	assert_non_null(strstr(kerr.message, "U+200E"));
	assert_int_equal(kerr.span.column, 5);
	assert_int_equal(kerr.span.length, 3);

	/* BOM only at the start */
	struct vmm_kdl_document *doc = parse_ok("\xef\xbb\xbfnode", VMM_KDL_V2);

	assert_int_equal(doc->nodes[0].name_span.offset, 3);
	assert_int_equal(doc->nodes[0].name_span.column, 2);
	vmm_kdl_document_free(doc);
	parse_err("node \xef\xbb\xbf", 8, VMM_KDL_V2, &kerr);

	/* deep nesting is a clean error, not a stack overflow */
	size_t n = 100000;
	char *deep = malloc(n * 2 + 1);

	for (size_t i = 0; i < n; i++) {
		deep[2 * i] = 'a';
		deep[2 * i + 1] = '{';
	}
	parse_err(deep, n * 2, VMM_KDL_AUTO, &kerr);
	assert_non_null(strstr(kerr.message, "nested too deeply"));
	free(deep);
}

static void test_empty_and_usage(void **state)
{
	struct vmm_kdl_document *doc;
	struct vmm_kdl_error kerr;

	(void)state;
	doc = parse_ok("", VMM_KDL_AUTO);
	assert_int_equal(doc->nnodes, 0);
	vmm_kdl_document_free(doc);
	assert_int_equal(vmm_kdl_parse(NULL, 0, VMM_KDL_V2, &doc, &kerr), 0);
	vmm_kdl_document_free(doc);
	assert_int_equal(vmm_kdl_parse(NULL, 3, VMM_KDL_V2, &doc, &kerr), -(int)VMM_E_USAGE);
	assert_int_equal(vmm_kdl_parse("a", 1, VMM_KDL_V2, NULL, NULL), -(int)VMM_E_USAGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spans),
		cmocka_unit_test(test_crlf_and_unicode_newlines),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_duplicate_props),
		cmocka_unit_test(test_many_props_with_duplicates),
		cmocka_unit_test(test_accessors),
		cmocka_unit_test(test_value_to_string),
		cmocka_unit_test(test_print),
		cmocka_unit_test(test_version_selection),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_bad_input_bytes),
		cmocka_unit_test(test_empty_and_usage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
