/* SPDX-License-Identifier: MIT */
/*
 * lib/kdl_print.c - canonical KDL printer and document accessors.
 *
 * The canonical form is the one of the KDL test suites (see vmm/kdl.h).
 * Numbers are printed from their source text, not from the parsed double,
 * so that 1.23E+1000 or a 100-digit hex literal survive unchanged in value.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmfile/kdl_int.h"
#include "core/util.h"

static int put(struct vmmi_buf *b, const char *s, size_t n)
{
	return vmmi_buf_append(b, s, n);
}

static int puts_(struct vmmi_buf *b, const char *s)
{
	return vmmi_buf_append(b, s, strlen(s));
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Whether s[0, n) can be written as a bare identifier in the grammar. */
static bool bare_ok(const char *s, size_t n, bool v1)
{
	static const char *const kw2[] = { "true", "false", "null", "inf", "-inf", "nan" };
	const unsigned char *u = (const unsigned char *)s;

	if (n == 0)
		return false;
	for (size_t k = 0; k < (v1 ? 3 : VMMI_ARRAY_SIZE(kw2)); k++)
		if (strlen(kw2[k]) == n && memcmp(kw2[k], s, n) == 0)
			return false;
	if (is_digit(s[0]))
		return false;
	if ((s[0] == '+' || s[0] == '-') && n > 1 && is_digit(s[1]))
		return false;
	if (!v1) {
		if (s[0] == '.' && n > 1 && is_digit(s[1]))
			return false;
		if ((s[0] == '+' || s[0] == '-') && n > 2 && s[1] == '.' && is_digit(s[2]))
			return false;
	}
	for (size_t k = 0; k < n;) {
		int l;
		uint32_t cp = vmmi_kdl_decode(u + k, n - k, &l);

		/* KDL 1 bare identifiers may contain '/' (see lib/kdl.c) */
		if (v1 && cp == '/' && k > 0 && k + 1 < n && u[k + 1] != '/' && u[k + 1] != '*')
			;
		else if (cp == 0 || !vmmi_kdl_is_ident_char(cp, v1))
			return false;
		k += (size_t)l;
	}
	return true;
}

static int put_quoted(struct vmmi_buf *b, const char *s, size_t n, bool v1)
{
	const unsigned char *u = (const unsigned char *)s;
	char esc[16];

	if (put(b, "\"", 1) < 0)
		return -1;
	for (size_t k = 0; k < n;) {
		int l;
		uint32_t cp = vmmi_kdl_decode(u + k, n - k, &l);
		const char *rep = NULL;

		switch (cp) {
		case '"': rep = "\\\""; break;
		case '\\': rep = "\\\\"; break;
		case '/': rep = v1 ? "\\/" : NULL; break;
		case '\n': rep = "\\n"; break;
		case '\r': rep = "\\r"; break;
		case '\t': rep = "\\t"; break;
		case '\b': rep = "\\b"; break;
		case '\f': rep = "\\f"; break;
		default:
			if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0) ||
			    cp == 0x2028 || cp == 0x2029 || cp == 0xFEFF ||
			    (!v1 && (cp == 0x200E || cp == 0x200F || (cp >= 0x202A && cp <= 0x202E) ||
				     (cp >= 0x2066 && cp <= 0x2069)))) {
				snprintf(esc, sizeof(esc), "\\u{%x}", (unsigned)cp);
				rep = esc;
			}
		}
		if (rep ? puts_(b, rep) < 0 : put(b, s + k, (size_t)l) < 0)
			return -1;
		k += (size_t)l;
	}
	return put(b, "\"", 1);
}

static int put_ident(struct vmmi_buf *b, const char *s, size_t n, bool v1)
{
	if (bare_ok(s, n, v1))
		return put(b, s, n);
	return put_quoted(b, s, n, v1);
}

/* Decimal text of an integer literal of any size. */
static int put_bigint(struct vmmi_buf *b, const char *text, unsigned radix)
{
	const char *p = text;
	bool neg = false;
	int rc = -1;

	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	if (radix != 10)
		p += 2;
	/* little-endian base-1e9 limbs */
	size_t cap = strlen(p) / 2 + 2, nl = 0;
	uint32_t *limb = calloc(cap, sizeof(*limb));

	if (!limb)
		return -1;
	for (; *p; p++) {
		if (*p == '_')
			continue;
		unsigned d = (unsigned)(is_digit(*p) ? *p - '0' : (*p | 0x20) - 'a' + 10);
		uint64_t carry = d;

		for (size_t k = 0; k < nl; k++) {
			uint64_t v = (uint64_t)limb[k] * radix + carry;

			limb[k] = (uint32_t)(v % 1000000000u);
			carry = v / 1000000000u;
		}
		while (carry) {
			limb[nl++] = (uint32_t)(carry % 1000000000u);
			carry /= 1000000000u;
		}
	}
	while (nl > 0 && limb[nl - 1] == 0)
		nl--;
	if (nl == 0) {
		rc = put(b, "0", 1);
		goto out;
	}
	if (neg && put(b, "-", 1) < 0)
		goto out;
	if (vmmi_buf_printf(b, "%u", limb[nl - 1]) < 0)
		goto out;
	for (size_t k = nl - 1; k-- > 0;)
		if (vmmi_buf_printf(b, "%09u", limb[k]) < 0)
			goto out;
	rc = 0;
out:
	free(limb);
	return rc;
}

static int put_radix_v1(struct vmmi_buf *b, const char *p)
{
	if (*p == '-' && put(b, "-", 1) < 0)
		return -1;
	if (*p == '+' || *p == '-')
		p++;
	if (put(b, p, 2) < 0)
		return -1;
	p += 2;
	while (*p == '0' || *p == '_')
		p++;
	if (!*p)
		return put(b, "0", 1);
	for (; *p; p++) {
		char c = (char)(*p >= 'A' && *p <= 'F' ? *p | 0x20 : *p);

		if (c != '_' && put(b, &c, 1) < 0)
			return -1;
	}
	return 0;
}

static int put_number(struct vmmi_buf *b, const struct vmm_kdl_number *num, bool v1)
{
	switch (num->kind) {
	case VMM_KDL_NUM_INF:
		return puts_(b, v1 ? "inf" : "#inf");
	case VMM_KDL_NUM_NEG_INF:
		return puts_(b, v1 ? "-inf" : "#-inf");
	case VMM_KDL_NUM_NAN:
		return puts_(b, v1 ? "nan" : "#nan");
	case VMM_KDL_NUM_INT:
		/* the KDL 1 suite keeps the radix: 0x0A_b -> 0xab */
		if (v1 && num->radix != 10 && num->text)
			return put_radix_v1(b, num->text);
		if (!num->text || (!num->overflow && num->radix == 10 && !strchr(num->text, '_') &&
				   num->text[0] != '+' && num->text[0] != '0'))
			return vmmi_buf_printf(b, "%" PRId64, num->i);
		return put_bigint(b, num->text, num->radix);
	case VMM_KDL_NUM_FLOAT:
		break;
	}
	/* float: as written, without '_' and '+' sign, 'E', signed exponent */
	const char *p = num->text;
	bool exp = false;

	if (*p == '+')
		p++;
	for (; *p; p++) {
		if (*p == '_')
			continue;
		if (*p == 'e' || *p == 'E') {
			if (put(b, "E", 1) < 0)
				return -1;
			exp = true;
			if (p[1] != '+' && p[1] != '-' && put(b, "+", 1) < 0)
				return -1;
			continue;
		}
		if (put(b, p, 1) < 0)
			return -1;
	}
	(void)exp;
	return 0;
}

static int put_value(struct vmmi_buf *b, const struct vmm_kdl_value *v, bool v1)
{
	if (v->tag) {
		if (put(b, "(", 1) < 0 || put_ident(b, v->tag, v->tag_len, v1) < 0 || put(b, ")", 1) < 0)
			return -1;
	}
	switch (v->type) {
	case VMM_KDL_STRING:
		return v1 ? put_quoted(b, v->str, v->len, v1) : put_ident(b, v->str, v->len, v1);
	case VMM_KDL_NUMBER:
		return put_number(b, &v->num, v1);
	case VMM_KDL_BOOL:
		return puts_(b, v->boolean ? (v1 ? "true" : "#true") : (v1 ? "false" : "#false"));
	case VMM_KDL_NULL:
		return puts_(b, v1 ? "null" : "#null");
	}
	return 0;
}

static int prop_cmp(const void *a, const void *b)
{
	const struct vmm_kdl_prop *x = *(const struct vmm_kdl_prop *const *)a;
	const struct vmm_kdl_prop *y = *(const struct vmm_kdl_prop *const *)b;
	size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
	int c = memcmp(x->key, y->key, n);

	if (c)
		return c;
	return x->key_len < y->key_len ? -1 : x->key_len > y->key_len;
}

static int put_nodes(struct vmmi_buf *b, const struct vmm_kdl_node *nodes, size_t n,
		     unsigned indent, bool v1)
{
	for (size_t i = 0; i < n; i++) {
		const struct vmm_kdl_node *nd = &nodes[i];

		for (unsigned k = 0; k < indent; k++)
			if (put(b, "    ", 4) < 0)
				return -1;
		if (nd->tag && (put(b, "(", 1) < 0 || put_ident(b, nd->tag, nd->tag_len, v1) < 0 ||
				put(b, ")", 1) < 0))
			return -1;
		if (put_ident(b, nd->name, nd->name_len, v1) < 0)
			return -1;
		for (size_t k = 0; k < nd->nargs; k++)
			if (put(b, " ", 1) < 0 || put_value(b, &nd->args[k], v1) < 0)
				return -1;
		if (nd->nprops) {
			const struct vmm_kdl_prop **sorted = malloc(nd->nprops * sizeof(*sorted));

			if (!sorted)
				return -1;
			for (size_t k = 0; k < nd->nprops; k++)
				sorted[k] = &nd->props[k];
			qsort(sorted, nd->nprops, sizeof(*sorted), prop_cmp);
			for (size_t k = 0; k < nd->nprops; k++) {
				if (put(b, " ", 1) < 0 || put_ident(b, sorted[k]->key, sorted[k]->key_len, v1) < 0 ||
				    put(b, "=", 1) < 0 || put_value(b, &sorted[k]->value, v1) < 0) {
					free(sorted);
					return -1;
				}
			}
			free(sorted);
		}
		/* KDL 1 canonical form keeps an empty block: node {\n} */
		if (nd->nchildren || (v1 && nd->has_children)) {
			if (put(b, " {\n", 3) < 0 || put_nodes(b, nd->children, nd->nchildren, indent + 1, v1) < 0)
				return -1;
			for (unsigned k = 0; k < indent; k++)
				if (put(b, "    ", 4) < 0)
					return -1;
			if (put(b, "}", 1) < 0)
				return -1;
		}
		if (put(b, "\n", 1) < 0)
			return -1;
	}
	return 0;
}

int vmm_kdl_print(const struct vmm_kdl_document *doc, enum vmm_kdl_version syntax,
		  char **out, size_t *outlen)
{
	struct vmmi_buf b;
	bool v1;

	if (!out)
		return -VMM_E_USAGE;
	*out = NULL;
	if (!doc)
		return -VMM_E_USAGE;
	v1 = (syntax == VMM_KDL_AUTO ? doc->version : syntax) == VMM_KDL_V1;
	vmmi_buf_init(&b);
	if (put_nodes(&b, doc->nodes, doc->nnodes, 0, v1) < 0) {
		vmmi_buf_release(&b);
		*out = NULL;
		return -VMM_E_NOMEM;
	}
	if (outlen)
		*outlen = b.len;
	*out = vmmi_buf_steal(&b);
	return *out ? 0 : -VMM_E_NOMEM;
}

char *vmm_kdl_value_to_string(const struct vmm_kdl_value *v, enum vmm_kdl_version syntax)
{
	struct vmmi_buf b;

	if (!v)
		return NULL;
	vmmi_buf_init(&b);
	if (put_value(&b, v, syntax == VMM_KDL_V1) < 0) {
		vmmi_buf_release(&b);
		return NULL;
	}
	return vmmi_buf_steal(&b);
}

const char *vmm_kdl_value_kind(const struct vmm_kdl_value *v)
{
	if (!v)
		return "nothing";
	switch (v->type) {
	case VMM_KDL_STRING:
		return "string";
	case VMM_KDL_NUMBER:
		return v->num.kind == VMM_KDL_NUM_INT ? "integer" : "float";
	case VMM_KDL_BOOL:
		return "boolean";
	case VMM_KDL_NULL:
		return "null";
	}
	return "value";
}

const char *vmm_kdl_type_name(enum vmm_kdl_type type)
{
	switch (type) {
	case VMM_KDL_STRING: return "string";
	case VMM_KDL_NUMBER: return "number";
	case VMM_KDL_BOOL: return "boolean";
	case VMM_KDL_NULL: return "null";
	}
	return "unknown";
}

const char *vmm_kdl_version_name(enum vmm_kdl_version version)
{
	switch (version) {
	case VMM_KDL_AUTO: return "auto";
	case VMM_KDL_V1: return "1";
	case VMM_KDL_V2: return "2";
	}
	return "unknown";
}

static bool name_is(const char *s, size_t n, const char *name)
{
	return strlen(name) == n && memcmp(s, name, n) == 0;
}

static const struct vmm_kdl_node *find_in(const struct vmm_kdl_node *arr, size_t n,
					  const char *name, const struct vmm_kdl_node *after)
{
	size_t i = 0;

	if (after && after >= arr && after < arr + n)
		i = (size_t)(after - arr) + 1;
	for (; i < n; i++)
		if (name_is(arr[i].name, arr[i].name_len, name))
			return &arr[i];
	return NULL;
}

const struct vmm_kdl_node *vmm_kdl_document_find(const struct vmm_kdl_document *doc,
						 const char *name,
						 const struct vmm_kdl_node *after)
{
	if (!doc || !name)
		return NULL;
	return find_in(doc->nodes, doc->nnodes, name, after);
}

const struct vmm_kdl_node *vmm_kdl_node_child(const struct vmm_kdl_node *node,
					      const char *name,
					      const struct vmm_kdl_node *after)
{
	if (!node || !name)
		return NULL;
	return find_in(node->children, node->nchildren, name, after);
}

size_t vmm_kdl_node_count_children(const struct vmm_kdl_node *node, const char *name)
{
	size_t c = 0;

	if (!node || !name)
		return 0;
	for (size_t i = 0; i < node->nchildren; i++)
		if (name_is(node->children[i].name, node->children[i].name_len, name))
			c++;
	return c;
}

const struct vmm_kdl_value *vmm_kdl_node_arg(const struct vmm_kdl_node *node, size_t i)
{
	return node && i < node->nargs ? &node->args[i] : NULL;
}

const struct vmm_kdl_prop *vmm_kdl_node_prop(const struct vmm_kdl_node *node, const char *key)
{
	if (!node || !key)
		return NULL;
	for (size_t i = 0; i < node->nprops; i++)
		if (name_is(node->props[i].key, node->props[i].key_len, key))
			return &node->props[i];
	return NULL;
}

const struct vmm_kdl_value *vmm_kdl_node_prop_value(const struct vmm_kdl_node *node,
						    const char *key)
{
	const struct vmm_kdl_prop *p = vmm_kdl_node_prop(node, key);

	return p ? &p->value : NULL;
}

const char *vmm_kdl_value_str(const struct vmm_kdl_value *v)
{
	if (!v || v->type != VMM_KDL_STRING || strlen(v->str) != v->len)
		return NULL;
	return v->str;
}

bool vmm_kdl_value_int64(const struct vmm_kdl_value *v, int64_t *out)
{
	if (!v || v->type != VMM_KDL_NUMBER || v->num.kind != VMM_KDL_NUM_INT || v->num.overflow)
		return false;
	if (out)
		*out = v->num.i;
	return true;
}

bool vmm_kdl_value_double(const struct vmm_kdl_value *v, double *out)
{
	if (!v || v->type != VMM_KDL_NUMBER)
		return false;
	if (out)
		*out = v->num.d;
	return true;
}

bool vmm_kdl_value_bool(const struct vmm_kdl_value *v, bool *out)
{
	if (!v || v->type != VMM_KDL_BOOL)
		return false;
	if (out)
		*out = v->boolean;
	return true;
}
