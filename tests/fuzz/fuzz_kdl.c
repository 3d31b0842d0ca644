/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the KDL parser: parses the input in every mode and,
 * when it parses, checks the document's invariants (spans inside the input,
 * lengths consistent) and that the canonical printout parses again to the
 * same printout (print(parse(print(x))) == print(x)).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/kdl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_span(const struct vmm_kdl_span *s, size_t size)
{
	if (s->line == 0)
		return;
	if (s->offset > size || s->length > size - s->offset || s->column == 0 ||
	    s->end_line < s->line)
		abort();
}

static void check_value(const struct vmm_kdl_value *v, size_t size)
{
	check_span(&v->span, size);
	if (v->tag) {
		check_span(&v->tag_span, size);
		if (strlen(v->tag) > v->tag_len)
			abort();
	}
	if (v->type == VMM_KDL_STRING && (!v->str || v->str[v->len] != '\0'))
		abort();
	if (v->type == VMM_KDL_NUMBER && !v->num.text)
		abort();
}

static void check_nodes(const struct vmm_kdl_node *n, size_t count, size_t size)
{
	for (size_t i = 0; i < count; i++) {
		check_span(&n[i].span, size);
		check_span(&n[i].name_span, size);
		if (n[i].name[n[i].name_len] != '\0')
			abort();
		for (size_t k = 0; k < n[i].nargs; k++)
			check_value(&n[i].args[k], size);
		for (size_t k = 0; k < n[i].nprops; k++) {
			check_span(&n[i].props[k].key_span, size);
			check_value(&n[i].props[k].value, size);
			if (!vmm_kdl_node_prop(&n[i], n[i].props[k].key) &&
			    strlen(n[i].props[k].key) == n[i].props[k].key_len)
				abort();
		}
		check_nodes(n[i].children, n[i].nchildren, size);
	}
}

static void roundtrip(const struct vmm_kdl_document *doc)
{
	char *out = NULL, *out2 = NULL;
	size_t len = 0, len2 = 0;
	struct vmm_kdl_document *doc2 = NULL;
	struct vmm_kdl_error kerr;

	if (vmm_kdl_print(doc, VMM_KDL_AUTO, &out, &len) < 0)
		return;
	if (vmm_kdl_parse(out, len, doc->version, &doc2, &kerr) < 0) {
		fprintf(stderr, "printout does not parse: %u:%u: %s\n---\n%s---\n", kerr.span.line,
			kerr.span.column, kerr.message, out);
		abort();
	}
	if (vmm_kdl_print(doc2, VMM_KDL_AUTO, &out2, &len2) < 0)
		abort();
	if (len != len2 || memcmp(out, out2, len) != 0) {
		fprintf(stderr, "printout not stable:\n%s---\n%s---\n", out, out2);
		abort();
	}
	free(out);
	free(out2);
	vmm_kdl_document_free(doc2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum vmm_kdl_version modes[] = { VMM_KDL_AUTO, VMM_KDL_V1, VMM_KDL_V2 };

	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		struct vmm_kdl_document *doc = NULL;
		struct vmm_kdl_error kerr;

		if (vmm_kdl_parse((const char *)data, size, modes[m], &doc, &kerr) < 0) {
			if (doc || kerr.message[0] == '\0' || kerr.span.line == 0)
				abort();
			check_span(&kerr.span, size);
			continue;
		}
		check_nodes(doc->nodes, doc->nnodes, size);
		for (size_t i = 0; i < doc->nnodes; i++) {
			char *s = doc->nodes[i].nargs
				? vmm_kdl_value_to_string(&doc->nodes[i].args[0], VMM_KDL_AUTO) : NULL;
			free(s);
		}
		roundtrip(doc);
		vmm_kdl_document_free(doc);
	}
	return 0;
}
