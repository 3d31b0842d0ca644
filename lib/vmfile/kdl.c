/* SPDX-License-Identifier: MIT */
/*
 * lib/kdl.c - KDL 2.0 / 1.0 parser.
 *
 * A hand-written recursive-descent parser over UTF-8 bytes. The input is
 * first checked as a whole (valid UTF-8, no NUL, no code point the grammar
 * disallows) so that the parser proper can decode without re-checking and
 * every such error points at the exact byte. Syntax errors unwind with
 * longjmp to vmm_kdl_parse: every allocation lives either in the document's
 * arena or in the parser's scratch vectors, both released in one place, so
 * no partial state has to be cleaned up on the way out.
 *
 * Each nesting depth has its own scratch vectors (arguments, properties,
 * children) reused by all nodes at that depth; a finished node copies them
 * into the arena, so the document is a few contiguous arrays, not a web of
 * small allocations.
 */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmfile/kdl_int.h"
#include "core/util.h"

#define MAX_DEPTH 512
#define ARENA_CHUNK (64 * 1024)

/* ---- arena ------------------------------------------------------------ */

struct chunk {
	struct chunk *next;
	size_t used, cap;
	max_align_t data[];
};

struct kdl_priv {
	struct chunk *chunks;
	bool has_v2_error;
	struct vmm_kdl_error v2_error;
};

static void *arena_alloc_raw(struct kdl_priv *a, size_t size)
{
	struct chunk *c = a->chunks;

	size = (size + 7) & ~(size_t)7;
	if (!c || c->cap - c->used < size) {
		size_t cap = size > ARENA_CHUNK / 4 ? size : ARENA_CHUNK;
		struct chunk *n = malloc(sizeof(*n) + cap);

		if (!n)
			return NULL;
		n->used = 0;
		n->cap = cap;
		if (c && size > ARENA_CHUNK / 4) {
			/* keep filling the current chunk: put the big one behind it */
			n->next = c->next;
			c->next = n;
			n->used = size;
			return (char *)n->data;
		}
		n->next = c;
		a->chunks = n;
		c = n;
	}
	void *p = (char *)c->data + c->used;
	c->used += size;
	return p;
}

static void arena_free(struct kdl_priv *a)
{
	struct chunk *c = a->chunks;

	while (c) {
		struct chunk *n = c->next;

		free(c);
		c = n;
	}
	a->chunks = NULL;
}

/* ---- character classes ------------------------------------------------ */

bool vmmi_kdl_is_newline(uint32_t cp, bool v1)
{
	switch (cp) {
	case 0x0A: case 0x0D: case 0x0C: case 0x85: case 0x2028: case 0x2029:
		return true;
	case 0x0B:
		return !v1;
	default:
		return false;
	}
}

bool vmmi_kdl_is_space(uint32_t cp, bool v1)
{
	switch (cp) {
	case 0x09: case 0x20: case 0xA0: case 0x1680: case 0x202F: case 0x205F: case 0x3000:
		return true;
	case 0xFEFF:
		return v1;
	default:
		return cp >= 0x2000 && cp <= 0x200A;
	}
}

static bool is_disallowed_v2(uint32_t cp)
{
	return (cp <= 0x08) || (cp >= 0x0E && cp <= 0x1F) || cp == 0x7F ||
	       (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0x200E || cp == 0x200F ||
	       (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) ||
	       cp == 0xFEFF;
}

static bool ascii_ident(unsigned c, bool v1)
{
	if (c <= 0x20)
		return false;
	switch (c) {
	case '\\': case '/': case '(': case ')': case '{': case '}': case ';':
	case '[': case ']': case '"': case '=':
		return false;
	case '#':
		return v1;
	case '<': case '>': case ',':
		return !v1;
	case 0x7F:
		return v1;
	default:
		return true;
	}
}

bool vmmi_kdl_is_ident_char(uint32_t cp, bool v1)
{
	if (cp < 0x80)
		return ascii_ident(cp, v1);
	if (vmmi_kdl_is_space(cp, v1) || vmmi_kdl_is_newline(cp, v1))
		return false;
	if (v1) {
		if (cp < 0x20 || cp > 0x10FFFF)
			return false;
		return !strchr("\\/(){}<>;[]=,\"", (int)cp) || cp == 0;
	}
	if (is_disallowed_v2(cp))
		return false;
	if (cp < 0x80 && cp && strchr("\\/(){};[]\"#=", (int)cp))
		return false;
	return true;
}

uint32_t vmmi_kdl_decode(const unsigned char *s, size_t len, int *n)
{
	unsigned char c = s[0];

	if (c < 0x80 || len < 2) {
		*n = 1;
		return c;
	}
	if (c < 0xE0) {
		*n = 2;
		return ((uint32_t)(c & 0x1F) << 6) | (s[1] & 0x3F);
	}
	if (c < 0xF0 || len < 4) {
		*n = 3;
		return ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
	}
	*n = 4;
	return ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
	       ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
}

/* ---- parser state ----------------------------------------------------- */

struct pos {
	size_t off;
	uint32_t line, col;
};

struct level {
	struct vmm_kdl_value *args;
	size_t nargs, capargs;
	struct vmm_kdl_prop *props;
	size_t nprops, capprops;
	struct vmm_kdl_node *kids;
	size_t nkids, capkids;
};

struct parser {
	const unsigned char *s;
	size_t len;
	struct pos p;
	bool v1;
	struct kdl_priv *arena;
	struct level *levels;
	size_t nlevels;
	struct vmmi_buf sb;     /* string being decoded */
	struct vmmi_buf tmp;    /* multi-line string work space */
	struct pos *ml;         /* source start of each line in tmp */
	size_t nml, capml;
	struct vmm_kdl_error *err;
	jmp_buf jb;
	/* property-key table of the node being finished (dedupe_props),
	 * reused from node to node: a slot is in use when its gen is pgen */
	struct prop_slot *pslots;
	size_t pcap;
	uint32_t pgen;
};

struct prop_slot {
	uint32_t gen;
	uint32_t count; /* occurrences of the key */
	size_t last;    /* index of its last occurrence */
	const char *key;
	size_t key_len;
};

static struct vmm_kdl_span mkspan(struct pos a, struct pos b)
{
	struct vmm_kdl_span s = {
		.offset = a.off, .length = b.off - a.off, .line = a.line, .column = a.col,
		.end_line = b.line, .end_column = b.col,
	};
	return s;
}

static bool at_eof(const struct parser *P)
{
	return P->p.off >= P->len;
}

/* The code point at the current position, -1 at end of input. */
static int32_t peek(const struct parser *P)
{
	int n;

	if (P->p.off >= P->len)
		return -1;
	if (P->s[P->p.off] < 0x80)
		return P->s[P->p.off];
	return (int32_t)vmmi_kdl_decode(P->s + P->p.off, P->len - P->p.off, &n);
}

/* The code point k characters ahead (k small), -1 past the end. */
static int32_t peek_at(const struct parser *P, int k)
{
	size_t off = P->p.off;
	int n;

	for (;;) {
		if (off >= P->len)
			return -1;
		uint32_t cp = vmmi_kdl_decode(P->s + off, P->len - off, &n);

		if (k-- == 0)
			return (int32_t)cp;
		off += (size_t)n;
	}
}

static void advance_pos(const struct parser *P, struct pos *p)
{
	unsigned char c = P->s[p->off];

	if (c < 0x80) {
		if (c == '\r' && p->off + 1 < P->len && P->s[p->off + 1] == '\n') {
			p->off += 2;
			p->line++;
			p->col = 1;
			return;
		}
		p->off++;
		if (c == '\n' || c == '\r' || c == '\f' || (c == 0x0B && !P->v1)) {
			p->line++;
			p->col = 1;
		} else {
			p->col++;
		}
		return;
	}
	int n;
	uint32_t cp = vmmi_kdl_decode(P->s + p->off, P->len - p->off, &n);

	p->off += (size_t)n;
	if (vmmi_kdl_is_newline(cp, P->v1)) {
		p->line++;
		p->col = 1;
	} else {
		p->col++;
	}
}

static void adv(struct parser *P)
{
	if (P->p.off < P->len)
		advance_pos(P, &P->p);
}

static void advn(struct parser *P, int n)
{
	while (n-- > 0)
		adv(P);
}

static bool at_ascii(const struct parser *P, const char *lit)
{
	size_t l = strlen(lit);

	return P->len - P->p.off >= l && memcmp(P->s + P->p.off, lit, l) == 0;
}

static struct pos pos_after_char(const struct parser *P, struct pos p)
{
	if (p.off < P->len)
		advance_pos(P, &p);
	return p;
}

static void describe_cp(int32_t cp, char *out, size_t n)
{
	if (cp < 0)
		snprintf(out, n, "end of input");
	else if (cp == '\n' || cp == '\r')
		snprintf(out, n, "newline");
	else if (cp == '\'')
		snprintf(out, n, "\"'\"");
	else if (cp > 0x20 && cp < 0x7F)
		snprintf(out, n, "'%c'", (char)cp);
	else
		snprintf(out, n, "U+%04X", (unsigned)cp);
}

static void vfail(struct parser *P, struct pos a, struct pos b, const char *hint,
		  const char *fmt, va_list ap)
	__attribute__((format(printf, 5, 0)));

static void vfail(struct parser *P, struct pos a, struct pos b, const char *hint,
		  const char *fmt, va_list ap)
{
	struct vmm_kdl_error *e = P->err;

	e->code = VMM_E_VMFILE_PARSE;
	e->version = P->v1 ? VMM_KDL_V1 : VMM_KDL_V2;
	e->span = mkspan(a, b);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	snprintf(e->hint, sizeof(e->hint), "%s", hint ? hint : "");
}

static _Noreturn void fail_span(struct parser *P, struct pos a, struct pos b, const char *hint,
				const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static _Noreturn void fail_span(struct parser *P, struct pos a, struct pos b, const char *hint,
				const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(P, a, b, hint, fmt, ap);
	va_end(ap);
	longjmp(P->jb, 1);
}

/* Fail pointing at the character at the current position, with a related
 * location (rel.line == 0: none). */
static _Noreturn void fail_rel(struct parser *P, struct pos rel_a, struct pos rel_b,
			       const char *label, const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static _Noreturn void fail_rel(struct parser *P, struct pos rel_a, struct pos rel_b,
			       const char *label, const char *hint, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(P, P->p, pos_after_char(P, P->p), hint, fmt, ap);
	va_end(ap);
	P->err->related = mkspan(rel_a, rel_b);
	snprintf(P->err->related_label, sizeof(P->err->related_label), "%s", label);
	longjmp(P->jb, 1);
}

static _Noreturn void fail_here(struct parser *P, const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static _Noreturn void fail_here(struct parser *P, const char *hint, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(P, P->p, pos_after_char(P, P->p), hint, fmt, ap);
	va_end(ap);
	longjmp(P->jb, 1);
}

static const char *default_hint(int32_t c)
{
	switch (c) {
	case -1: return "the document ends in the middle of a node";
	case '=': return "'=' belongs right after a property key, as in key=value";
	case '{': return "a children block '{ ... }' must follow a node name";
	case '}': return "check that every '{' has its matching '}'";
	case '(': return "a type annotation such as (u8) goes right before a node name or a value";
	case ')': return "a ')' only closes a type annotation such as (u8)";
	case '[': case ']': return "KDL has no arrays: write several arguments instead, e.g. node 1 2 3";
	case '"': return "separate values with whitespace";
	case '#': return "the keywords are #true, #false, #null, #inf, #-inf and #nan; raw strings look like #\"...\"#";
	case '/': return "comments are // or /* */, and /- comments out the next item";
	case '\\': return "a '\\' outside a string continues the node on the next line";
	default: return NULL;
	}
}

static _Noreturn void fail_unexpected(struct parser *P, const char *where, const char *hint)
{
	char what[32];

	if (!hint)
		hint = default_hint(peek(P));
	describe_cp(peek(P), what, sizeof(what));
	fail_here(P, hint, "unexpected %s %s", what, where);
}

static _Noreturn void fail_nomem(struct parser *P)
{
	P->err->code = VMM_E_NOMEM;
	snprintf(P->err->message, sizeof(P->err->message), "out of memory while parsing KDL");
	P->err->hint[0] = '\0';
	longjmp(P->jb, 2);
}

static void *arena_alloc(struct parser *P, size_t size)
{
	void *p = arena_alloc_raw(P->arena, size);

	if (!p)
		fail_nomem(P);
	return p;
}

static const char *arena_strndup(struct parser *P, const char *s, size_t n)
{
	char *d = arena_alloc(P, n + 1);

	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

static void *arena_dup(struct parser *P, const void *src, size_t size)
{
	void *d;

	if (size == 0)
		return NULL;
	d = arena_alloc(P, size);
	memcpy(d, src, size);
	return d;
}

static void grow(struct parser *P, void **arr, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return;
	size_t ncap = *cap ? *cap * 2 : 8;

	while (ncap < need)
		ncap *= 2;
	void *n = realloc(*arr, ncap * elem);

	if (!n)
		fail_nomem(P);
	*arr = n;
	*cap = ncap;
}

static void sb_add(struct parser *P, struct vmmi_buf *b, const void *d, size_t n)
{
	if (vmmi_buf_append(b, d, n) < 0)
		fail_nomem(P);
}

static void sb_add_cp(struct parser *P, struct vmmi_buf *b, uint32_t cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (char)(0xF0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	sb_add(P, b, u, n);
}

/* ---- input check ------------------------------------------------------ */

static struct pos pos_of_offset(const struct parser *P, size_t off)
{
	struct pos p = { 0, 1, 1 };

	while (p.off < off) {
		struct pos q = p;

		advance_pos(P, &q);
		if (q.off > off)
			break;
		p = q;
	}
	return p;
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Checks the whole input: valid UTF-8, no NUL, no disallowed code point. */
static void check_input(struct parser *P)
{
	const unsigned char *s = P->s;
	size_t i = 0, n = P->len;

	while (i < n) {
		/* 8 plain ASCII bytes (0x20..0x7E) at a time */
		while (n - i >= 8) {
			uint64_t x, y;

			memcpy(&x, s + i, 8);
			y = x ^ (ONES * 0x7F);
			if (((x - ONES * 0x20) | x | ((y - ONES) & ~y)) & HIGHS)
				break;
			i += 8;
		}
		if (i >= n)
			break;
		unsigned char c = s[i];
		uint32_t cp;
		size_t l;

		if (c < 0x80) {
			if ((c < 0x20 || c == 0x7F) && (c == 0 || (!P->v1 && is_disallowed_v2(c))))
				goto disallowed_ascii;
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			l = 2;
			cp = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			l = 3;
			cp = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			l = 4;
			cp = c & 0x07;
		} else {
			goto bad_utf8;
		}
		if (n - i < l)
			goto bad_utf8;
		for (size_t k = 1; k < l; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				goto bad_utf8;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if ((l == 3 && cp < 0x800) || (l == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			goto bad_utf8;
		if (cp == 0xFEFF && i == 0) {
			i += l;
			continue;
		}
		if (!P->v1 && is_disallowed_v2(cp)) {
			struct pos a = pos_of_offset(P, i);
			struct pos b = a;

			b.off += l;
			b.col++;
			fail_span(P, a, b,
				  cp == 0xFEFF ? "a byte order mark is only allowed at the very start of the document"
					       : "write it as a \\u{...} escape inside a quoted string",
				  "disallowed code point U+%04X%s", (unsigned)cp,
				  (cp >= 0x200E && cp <= 0x2069) ? " (a text direction control)" : "");
		}
		i += l;
	}
	return;

disallowed_ascii: {
		struct pos a = pos_of_offset(P, i);
		struct pos b = a;

		b.off++;
		b.col++;
		if (s[i] == 0)
			fail_span(P, a, b, "KDL documents are text; is this a binary file?",
				  "NUL byte in the document");
		fail_span(P, a, b, "write it as a \\u{...} escape inside a quoted string",
			  "disallowed control character U+%04X", (unsigned)s[i]);
	}
bad_utf8: {
		struct pos a = pos_of_offset(P, i);
		struct pos b = a;

		b.off++;
		b.col++;
		fail_span(P, a, b, "KDL documents must be UTF-8 encoded; is this a binary file?",
			  "invalid UTF-8 byte 0x%02X", s[i]);
	}
}

/* ---- whitespace and comments ------------------------------------------ */

static bool at_space(const struct parser *P)
{
	int32_t c = peek(P);

	return c >= 0 && vmmi_kdl_is_space((uint32_t)c, P->v1);
}

static bool at_newline(const struct parser *P)
{
	int32_t c = peek(P);

	return c >= 0 && vmmi_kdl_is_newline((uint32_t)c, P->v1);
}

static void skip_block_comment(struct parser *P)
{
	struct pos start = P->p;
	int depth = 0;

	do {
		if (at_eof(P)) {
			P->p = start;
			fail_rel(P, start, pos_after_char(P, pos_after_char(P, start)), "comment opened here",
				 "close it with */ (block comments nest: every /* needs its own */)",
				 "unclosed block comment");
		}
		if (at_ascii(P, "/*")) {
			depth++;
			advn(P, 2);
		} else if (at_ascii(P, "*/")) {
			depth--;
			advn(P, 2);
		} else {
			adv(P);
		}
	} while (depth > 0);
}

static void skip_line_comment(struct parser *P)
{
	advn(P, 2);
	while (!at_eof(P)) {
		bool nl = at_newline(P);

		adv(P);
		if (nl)
			break;
	}
}

/* ws := unicode-space | multi-line-comment (v1: also BOM) */
static bool skip_ws(struct parser *P)
{
	bool any = false;

	for (;;) {
		if (P->p.off >= P->len)
			return any;
		unsigned char b = P->s[P->p.off];

		/* the common case: a plain ASCII character that is neither
		 * whitespace nor the start of a comment */
		if (b < 0x80 && b != ' ' && b != '\t' && b != '/')
			return any;
		if (b == ' ' || b == '\t') {
			do {
				P->p.off++;
				P->p.col++;
			} while (P->p.off < P->len && (P->s[P->p.off] == ' ' || P->s[P->p.off] == '\t'));
		} else if (at_space(P)) {
			adv(P);
		} else if (at_ascii(P, "/*")) {
			skip_block_comment(P);
		} else {
			return any;
		}
		any = true;
	}
}

/* escline := '\\' ws* (single-line-comment | newline | eof) */
static bool skip_escline(struct parser *P)
{
	if (peek(P) != '\\')
		return false;
	adv(P);
	skip_ws(P);
	if (at_ascii(P, "//"))
		skip_line_comment(P);
	else if (at_newline(P))
		adv(P);
	else if (!at_eof(P) || P->v1)
		fail_unexpected(P, "after line continuation '\\'",
				"a '\\' outside a string continues the node on the next line; only whitespace or a comment may follow it");
	return true;
}

/* node-space* ; returns whether anything was skipped */
static bool skip_node_space(struct parser *P)
{
	bool any = false;

	while (skip_ws(P) || skip_escline(P))
		any = true;
	return any;
}

/* line-space* */
static void skip_line_space(struct parser *P)
{
	for (;;) {
		if (skip_node_space(P))
			continue;
		if (at_newline(P)) {
			adv(P);
			continue;
		}
		if (at_ascii(P, "//")) {
			skip_line_comment(P);
			continue;
		}
		return;
	}
}

/* ---- tokens ----------------------------------------------------------- */

enum tok_kind { TOK_IDENT, TOK_QUOTED, TOK_RAW, TOK_NUMBER, TOK_KEYWORD };

static bool is_digit(int32_t c)
{
	return c >= '0' && c <= '9';
}

static bool is_ident_cp(const struct parser *P, int32_t c)
{
	return c >= 0 && vmmi_kdl_is_ident_char((uint32_t)c, P->v1);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* \u{...} at P (after the 'u'): appends the code point. */
static void parse_unicode_escape(struct parser *P, struct pos esc_start, struct vmmi_buf *out)
{
	uint32_t v = 0;
	int nd = 0;

	if (peek(P) != '{')
		fail_span(P, esc_start, pos_after_char(P, P->p), "write a code point as \\u{1F600}",
			  "invalid unicode escape: expected '{' after \\u");
	adv(P);
	while (hexval(peek(P)) >= 0) {
		if (++nd > 6)
			fail_span(P, esc_start, pos_after_char(P, P->p), "use at most 6 hex digits",
				  "unicode escape has too many digits");
		v = v * 16 + (uint32_t)hexval(peek(P));
		adv(P);
	}
	if (nd == 0 || peek(P) != '}')
		fail_span(P, esc_start, pos_after_char(P, P->p), "write a code point as \\u{1F600}",
			  "invalid unicode escape");
	adv(P);
	if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		fail_span(P, esc_start, P->p, "only Unicode scalar values (not surrogates, at most 10FFFF) can be escaped",
			  "unicode escape \\u{%X} is not a Unicode scalar value", (unsigned)v);
	sb_add_cp(P, out, v);
}

/* Handles one escape at P (P at the backslash) of a single-line string,
 * appending to P->sb. */
static void parse_escape(struct parser *P)
{
	struct pos start = P->p;
	int32_t c;

	adv(P);
	c = peek(P);
	switch (c) {
	case 'n': sb_add(P, &P->sb, "\n", 1); break;
	case 'r': sb_add(P, &P->sb, "\r", 1); break;
	case 't': sb_add(P, &P->sb, "\t", 1); break;
	case '\\': sb_add(P, &P->sb, "\\", 1); break;
	case '"': sb_add(P, &P->sb, "\"", 1); break;
	case 'b': sb_add(P, &P->sb, "\b", 1); break;
	case 'f': sb_add(P, &P->sb, "\f", 1); break;
	case 's':
		if (P->v1)
			goto bad;
		sb_add(P, &P->sb, " ", 1);
		break;
	case '/':
		if (!P->v1)
			fail_span(P, start, pos_after_char(P, P->p), "KDL 2 has no \\/ escape: write / as it is",
				  "invalid escape \\/");
		sb_add(P, &P->sb, "/", 1);
		break;
	case 'u':
		adv(P);
		parse_unicode_escape(P, start, &P->sb);
		return;
	default:
		if (!P->v1 && c >= 0 && (vmmi_kdl_is_space((uint32_t)c, false) || vmmi_kdl_is_newline((uint32_t)c, false))) {
			/* whitespace escape: drop the backslash and all whitespace after it */
			while (at_space(P) || at_newline(P))
				adv(P);
			return;
		}
		goto bad;
	}
	adv(P);
	return;
bad:
	{
		char what[32];

		describe_cp(c, what, sizeof(what));
		fail_span(P, start, pos_after_char(P, P->p),
			  P->v1 ? "valid escapes: \\n \\r \\t \\\\ \\\" \\/ \\b \\f \\u{XXXX}"
				: "valid escapes: \\n \\r \\t \\\\ \\\" \\b \\f \\s \\u{XXXX}, and \\ before whitespace",
			  "invalid escape: backslash followed by %s", what);
	}
}

static void grow(struct parser *P, void **arr, size_t *cap, size_t need, size_t elem);

/* The source text of line k of the multi-line string being parsed (up to
 * its newline), for pointing at it in an error. */
static void ml_line_span(const struct parser *P, size_t k, struct pos *a, struct pos *b)
{
	*a = P->ml[k < P->nml ? k : P->nml - 1];
	*b = *a;
	while (b->off < P->len) {
		int n;
		uint32_t cp = vmmi_kdl_decode(P->s + b->off, P->len - b->off, &n);

		if (vmmi_kdl_is_newline(cp, P->v1))
			break;
		advance_pos(P, b);
	}
}

/* Applies the dedent rules of KDL 2 multi-line strings to P->tmp (newlines
 * already normalized to LF, body between the opening and closing lines).
 * The result goes to P->sb. `escapes`: resolve non-whitespace escapes. */
static void dedent(struct parser *P, struct pos start, struct pos end, bool escapes)
{
	const char *t = P->tmp.data ? P->tmp.data : "";
	size_t n = P->tmp.len;
	size_t last_nl = n;

	while (last_nl > 0 && t[last_nl - 1] != '\n')
		last_nl--;
	/* last line = t[last_nl, n): whitespace only */
	const char *prefix = t + last_nl;
	size_t plen = n - last_nl;
	{
		const unsigned char *q = (const unsigned char *)prefix;
		size_t k = 0;

		while (k < plen) {
			int l;
			uint32_t cp = vmmi_kdl_decode(q + k, plen - k, &l);

			if (!vmmi_kdl_is_space(cp, false)) {
				ml_line_span(P, P->nml - 1, &start, &end);
				fail_span(P, start, end,
					  "put the closing \"\"\" on a line of its own, indented like the text",
					  "the last line of a multi-line string may only contain whitespace before \"\"\"");
			}
			k += (size_t)l;
		}
	}
	if (last_nl == 0) {
		/* no content lines */
		return;
	}
	size_t body_end = last_nl - 1; /* excludes the final LF */
	size_t i = 0;
	bool first = true;
	unsigned lineno = 0;

	struct vmmi_buf out;
	vmmi_buf_init(&out);
	while (i <= body_end) {
		size_t j = i;

		while (j < body_end && t[j] != '\n')
			j++;
		/* line t[i, j) */
		bool blank = true;
		for (size_t k = i; k < j;) {
			int l;
			uint32_t cp = vmmi_kdl_decode((const unsigned char *)t + k, j - k, &l);

			if (!vmmi_kdl_is_space(cp, false)) {
				blank = false;
				break;
			}
			k += (size_t)l;
		}
		if (!first && vmmi_buf_append(&out, "\n", 1) < 0)
			goto nomem;
		first = false;
		if (!blank) {
			if (j - i < plen || memcmp(t + i, prefix, plen) != 0) {
				vmmi_buf_release(&out);
				ml_line_span(P, lineno, &start, &end);
				fail_span(P, start, end,
					  "indent every line at least as much as the closing \"\"\", with the same whitespace characters",
					  "line %u of the multi-line string is indented less than its closing \"\"\"",
					  lineno + 1);
			}
			if (vmmi_buf_append(&out, t + i + plen, j - i - plen) < 0)
				goto nomem;
		}
		lineno++;
		i = j + 1;
	}
	/* resolve the other escapes */
	{
		const char *o = out.data ? out.data : "";
		size_t on = out.len;

		for (size_t k = 0; k < on; k++) {
			if (!escapes || o[k] != '\\') {
				size_t e = k;

				while (e < on && (!escapes || o[e] != '\\'))
					e++;
				sb_add(P, &P->sb, o + k, e - k);
				k = e - 1;
				continue;
			}
			char e = k + 1 < on ? o[k + 1] : 0;
			const char *rep = NULL;

			switch (e) {
			case 'n': rep = "\n"; break;
			case 'r': rep = "\r"; break;
			case 't': rep = "\t"; break;
			case '\\': rep = "\\"; break;
			case '"': rep = "\""; break;
			case 'b': rep = "\b"; break;
			case 'f': rep = "\f"; break;
			case 's': rep = " "; break;
			case 'u': {
				size_t m = k + 2;
				uint32_t v = 0;
				int nd = 0;

				if (m < on && o[m] == '{') {
					m++;
					while (m < on && hexval(o[m]) >= 0 && nd < 7) {
						v = v * 16 + (uint32_t)hexval(o[m]);
						m++;
						nd++;
					}
				}
				if (nd == 0 || nd > 6 || m >= on || o[m] != '}' || v > 0x10FFFF ||
				    (v >= 0xD800 && v <= 0xDFFF)) {
					vmmi_buf_release(&out);
					fail_span(P, start, end, "write a code point as \\u{1F600}",
						  "invalid unicode escape in multi-line string");
				}
				sb_add_cp(P, &P->sb, v);
				k = m;
				continue;
			}
			default: {
				vmmi_buf_release(&out);
				fail_span(P, start, end,
					  "valid escapes: \\n \\r \\t \\\\ \\\" \\b \\f \\s \\u{XXXX}, and \\ before whitespace",
					  "invalid escape in multi-line string");
			}
			}
			sb_add(P, &P->sb, rep, 1);
			k++;
		}
	}
	vmmi_buf_release(&out);
	return;
nomem:
	vmmi_buf_release(&out);
	fail_nomem(P);
}

/*
 * Multi-line string body, P just after the opening quotes (and hashes).
 * hashes < 0: escaped string; else a raw string with that many '#'.
 */
static void parse_multiline(struct parser *P, struct pos start, int hashes)
{
	if (!at_newline(P)) {
		while (at_space(P))
			adv(P);
		if (!at_newline(P))
			fail_rel(P, start, pos_after_char(P, start), "string started here",
				 "start the text on the line after the opening \"\"\", or use a single-line \"...\" string",
				 "a multi-line string must begin with a newline right after \"\"\"");
		fail_rel(P, start, pos_after_char(P, start), "string started here",
			 "remove the whitespace after the opening \"\"\"",
			 "a multi-line string must begin with a newline right after \"\"\"");
	}
	adv(P);
	P->tmp.len = 0;
	P->nml = 0;
	grow(P, (void **)&P->ml, &P->capml, 1, sizeof(*P->ml));
	P->ml[P->nml++] = P->p;
	for (;;) {
		if (at_eof(P))
			fail_rel(P, start, pos_after_char(P, start), "string started here",
				 hashes < 0 ? "close it with \"\"\" on a line of its own"
					    : "close it with \"\"\" followed by the same number of '#' as it opened with",
				 "unclosed multi-line string");
		if (at_ascii(P, "\"\"\"")) {
			size_t k = 0;

			while (hashes > 0 && k < (size_t)hashes && P->p.off + 3 + k < P->len &&
			       P->s[P->p.off + 3 + k] == '#')
				k++;
			if (hashes < 0 || k == (size_t)hashes) {
				struct pos endq = P->p;

				advn(P, 3 + (hashes > 0 ? hashes : 0));
				dedent(P, start, P->p, hashes < 0);
				(void)endq;
				return;
			}
		}
		if (at_newline(P)) {
			sb_add(P, &P->tmp, "\n", 1);
			adv(P);
			grow(P, (void **)&P->ml, &P->capml, P->nml + 1, sizeof(*P->ml));
			P->ml[P->nml++] = P->p;
			continue;
		}
		if (hashes < 0 && peek(P) == '\\') {
			int32_t nx = peek_at(P, 1);

			if (nx >= 0 && (vmmi_kdl_is_space((uint32_t)nx, false) || vmmi_kdl_is_newline((uint32_t)nx, false))) {
				/* whitespace escape: resolved before dedent */
				adv(P);
				while (at_space(P) || at_newline(P))
					adv(P);
				continue;
			}
			/* keep the escape for later, but step over the escaped char so
			 * that \" never closes the string */
			sb_add(P, &P->tmp, "\\", 1);
			adv(P);
			if (at_eof(P))
				continue;
			if (at_newline(P))
				continue;
		}
		size_t o = P->p.off;

		adv(P);
		/* and the plain ASCII after it in one go */
		while (P->p.off < P->len) {
			unsigned char b = P->s[P->p.off];

			if (b < 0x20 || b >= 0x7F || b == '"' || b == '\\')
				break;
			P->p.off++;
			P->p.col++;
		}
		sb_add(P, &P->tmp, P->s + o, P->p.off - o);
	}
}

/* Quoted or raw string at P (at the opening '"', the first '#' of a KDL 2
 * raw string, or the 'r' of a KDL 1 raw string); result in P->sb. */
static void parse_string_body(struct parser *P, bool raw, int hashes)
{
	struct pos start = P->p;

	P->sb.len = 0;
	if (raw) {
		if (P->v1)
			adv(P);
		for (int k = 0; k < hashes; k++)
			adv(P);
	}
	if (!P->v1 && at_ascii(P, "\"\"\"")) {
		advn(P, 3);
		parse_multiline(P, start, raw ? hashes : -1);
		return;
	}
	adv(P); /* opening quote */

	for (;;) {
		/* plain ASCII runs in bulk */
		size_t run = P->p.off;

		while (P->p.off < P->len) {
			unsigned char b = P->s[P->p.off];

			if (b < 0x20 || b >= 0x7F || b == '"' || b == '\\')
				break;
			P->p.off++;
			P->p.col++;
		}
		if (P->p.off > run)
			sb_add(P, &P->sb, P->s + run, P->p.off - run);
		int32_t c = peek(P);

		if (c < 0)
			fail_rel(P, start, pos_after_char(P, start), "string started here",
				 raw ? "close it with '\"' followed by the same number of '#' as it opened with"
				     : "close it with '\"'",
				 "unclosed string");
		if (c == '"') {
			if (!raw) {
				adv(P);
				return;
			}
			size_t k = 0;

			while (k < (size_t)hashes && P->p.off + 1 + k < P->len && P->s[P->p.off + 1 + k] == '#')
				k++;
			if (k == (size_t)hashes) {
				advn(P, 1 + hashes);
				return;
			}
		}
		if (!P->v1 && vmmi_kdl_is_newline((uint32_t)c, false))
			fail_rel(P, start, pos_after_char(P, start), "string started here",
				 "a \"...\" string cannot span lines: close it on this line, write \\n, or use a multi-line \"\"\" string",
				 "unclosed string: newline inside a single-line string");
		if (c == '\\' && !raw) {
			parse_escape(P);
			continue;
		}
		size_t o = P->p.off;

		adv(P);
		sb_add(P, &P->sb, P->s + o, P->p.off - o);
	}
}

struct token {
	enum tok_kind kind;
	struct pos start, end;
	const char *str;      /* decoded string (arena) for string tokens */
	size_t len;
	struct vmm_kdl_value val; /* for numbers and keywords */
};

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void init_c_locale(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* Validates and converts a number literal src[0, n). Returns false if it
 * is not a valid number. */
static bool convert_number(struct parser *P, const char *src, size_t n, struct vmm_kdl_number *num)
{
	size_t i = 0;
	bool neg = false;
	unsigned radix = 10;

	if (i < n && (src[i] == '+' || src[i] == '-')) {
		neg = src[i] == '-';
		i++;
	}
	if (n - i > 2 && src[i] == '0' && (src[i + 1] == 'x' || src[i + 1] == 'o' || src[i + 1] == 'b')) {
		radix = src[i + 1] == 'x' ? 16 : src[i + 1] == 'o' ? 8 : 2;
		i += 2;
		if (hexval(src[i]) < 0 || hexval(src[i]) >= (int)radix)
			return false;
		uint64_t mag = 0;
		bool ovf = false;
		double d = 0;

		for (; i < n; i++) {
			if (src[i] == '_')
				continue;
			int v = hexval(src[i]);

			if (v < 0 || v >= (int)radix)
				return false;
			if (mag > (UINT64_MAX - (uint64_t)v) / radix)
				ovf = true;
			mag = mag * radix + (uint64_t)v;
			d = d * radix + v;
		}
		num->kind = VMM_KDL_NUM_INT;
		num->radix = radix;
		num->d = neg ? -d : d;
		if (!ovf && !neg && mag <= (uint64_t)INT64_MAX) {
			num->i = (int64_t)mag;
		} else if (!ovf && neg && mag <= (uint64_t)INT64_MAX + 1) {
			num->i = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
		} else {
			num->overflow = true;
			num->i = neg ? INT64_MIN : INT64_MAX;
		}
		return true;
	}
	/* decimal: digit (digit|_)* ('.' digit (digit|_)*)? ([eE] sign? digit (digit|_)*)? */
	if (i >= n || !is_digit((unsigned char)src[i]))
		return false;
	while (i < n && (is_digit((unsigned char)src[i]) || src[i] == '_'))
		i++;
	bool isfloat = false;

	if (i < n && src[i] == '.') {
		i++;
		if (i >= n || !is_digit((unsigned char)src[i]))
			return false;
		/* The KDL 1 suite rejects '_' in the fraction (1.0_2) although the
		 * 1.0 grammar allows it; the suite is what parsers agree on. */
		while (i < n && (is_digit((unsigned char)src[i]) || (src[i] == '_' && !P->v1)))
			i++;
		isfloat = true;
	}
	if (i < n && (src[i] == 'e' || src[i] == 'E')) {
		i++;
		if (i < n && (src[i] == '+' || src[i] == '-'))
			i++;
		if (i >= n || !is_digit((unsigned char)src[i]))
			return false;
		while (i < n && (is_digit((unsigned char)src[i]) || src[i] == '_'))
			i++;
		isfloat = true;
	}
	if (i != n)
		return false;
	if (!isfloat && n < 19) {
		/* short decimal integer: no overflow possible, no strtod */
		int64_t v = 0;

		for (size_t k = (src[0] == '+' || src[0] == '-'); k < n; k++)
			if (src[k] != '_')
				v = v * 10 + (src[k] - '0');
		num->kind = VMM_KDL_NUM_INT;
		num->radix = 10;
		num->i = neg ? -v : v;
		num->d = (double)num->i;
		num->overflow = false;
		return true;
	}
	/* clean copy without underscores */
	char small[64];
	char *clean = n < sizeof(small) ? small : malloc(n + 1);
	size_t cl = 0;

	if (!clean)
		fail_nomem(P);
	for (size_t k = 0; k < n; k++)
		if (src[k] != '_')
			clean[cl++] = src[k];
	clean[cl] = '\0';
	pthread_once(&c_locale_once, init_c_locale);
	num->radix = 10;
	num->d = c_locale ? strtod_l(clean, NULL, c_locale) : strtod(clean, NULL);
	if (isfloat) {
		num->kind = VMM_KDL_NUM_FLOAT;
		num->overflow = true;
		num->i = 0;
	} else {
		num->kind = VMM_KDL_NUM_INT;
		errno = 0;
		long long v = strtoll(clean, NULL, 10);

		num->i = v;
		num->overflow = errno == ERANGE;
	}
	if (clean != small)
		free(clean);
	return true;
}

/* The keywords KDL 2 reserves (bare they are errors). */
static const char *v1_keyword_hint(const char *s, size_t n)
{
	static const char *const kw[][2] = {
		{ "true", "v1-style `true`; in KDL 2 write `#true` (or \"true\" for the string)" },
		{ "false", "v1-style `false`; in KDL 2 write `#false` (or \"false\" for the string)" },
		{ "null", "v1-style `null`; in KDL 2 write `#null` (or \"null\" for the string)" },
		{ "inf", "write `#inf` for infinity, or \"inf\" for the string" },
		{ "-inf", "write `#-inf` for negative infinity, or \"-inf\" for the string" },
		{ "nan", "write `#nan` for not-a-number, or \"nan\" for the string" },
	};
	for (size_t k = 0; k < VMMI_ARRAY_SIZE(kw); k++)
		if (strlen(kw[k][0]) == n && memcmp(kw[k][0], s, n) == 0)
			return kw[k][1];
	return NULL;
}

/*
 * KDL 1: the suite accepts '/' inside a bare identifier (foo/bar) although
 * the 1.0 prose lists it as a non-identifier character; allow it when it is
 * not the start of a comment.
 */
static bool v1_slash_in_ident(const struct parser *P)
{
	return P->v1 && peek(P) == '/' && !at_ascii(P, "//") && !at_ascii(P, "/*");
}

static void scan_ident_chars(struct parser *P)
{
	for (;;) {
		while (P->p.off < P->len && P->s[P->p.off] < 0x80 &&
		       ascii_ident(P->s[P->p.off], P->v1)) {
			P->p.off++;
			P->p.col++;
		}
		if (!(is_ident_cp(P, peek(P)) || v1_slash_in_ident(P)))
			return;
		adv(P);
	}
}

/* Reads one string, number or keyword token at P. */
static void parse_token(struct parser *P, struct token *t, const char *where)
{
	int32_t c = peek(P);

	memset(t, 0, sizeof(*t));
	t->start = P->p;
	if (c == '"') {
		parse_string_body(P, false, 0);
		t->kind = TOK_QUOTED;
		goto string;
	}
	if (!P->v1 && c == '#') {
		int32_t n1 = peek_at(P, 1);

		if (n1 == '#' || n1 == '"') {
			int h = 0;

			while (peek_at(P, h) == '#')
				h++;
			if (peek_at(P, h) != '"') {
				advn(P, h);
				fail_unexpected(P, "in raw string", "a raw string looks like #\"text\"# (same number of '#' on both sides)");
			}
			parse_string_body(P, true, h);
			t->kind = TOK_RAW;
			goto string;
		}
		adv(P);
		scan_ident_chars(P);
		t->end = P->p;
		const char *s = (const char *)P->s + t->start.off + 1;
		size_t n = t->end.off - t->start.off - 1;

		t->kind = TOK_KEYWORD;
#define KW(lit) (n == strlen(lit) && memcmp(s, lit, n) == 0)
		if (KW("true") || KW("false")) {
			t->val.type = VMM_KDL_BOOL;
			t->val.boolean = KW("true");
		} else if (KW("null")) {
			t->val.type = VMM_KDL_NULL;
		} else if (KW("inf") || KW("-inf") || KW("nan")) {
			t->val.type = VMM_KDL_NUMBER;
			t->val.num.kind = KW("inf") ? VMM_KDL_NUM_INF : KW("nan") ? VMM_KDL_NUM_NAN : VMM_KDL_NUM_NEG_INF;
			t->val.num.d = KW("inf") ? INFINITY : KW("nan") ? NAN : -INFINITY;
			t->val.num.radix = 10;
			t->val.num.overflow = true;
			t->val.num.text = arena_strndup(P, s - 1, n + 1);
		} else {
			fail_span(P, t->start, t->end.off == t->start.off + 1 ? pos_after_char(P, t->start) : t->end,
				  "the keywords are #true, #false, #null, #inf, #-inf and #nan; quote strings that start with '#'",
				  "unknown keyword '%.*s'", (int)(n + 1 > 40 ? 40 : n + 1), s - 1);
		}
#undef KW
		return;
	}
	if (P->v1 && c == 'r') {
		int h = 1;

		while (peek_at(P, h) == '#')
			h++;
		if (peek_at(P, h) == '"') {
			parse_string_body(P, true, h - 1);
			t->kind = TOK_RAW;
			goto string;
		}
	}
	int32_t c1 = peek_at(P, 1);
	bool numeric = is_digit(c) || ((c == '+' || c == '-') && is_digit(c1));
	bool bad_dot = !P->v1 && (c == '.' || ((c == '+' || c == '-') && c1 == '.')) &&
		       is_digit(c == '.' ? c1 : peek_at(P, 2));

	if (numeric || bad_dot) {
		scan_ident_chars(P);
		t->end = P->p;
		const char *s = (const char *)P->s + t->start.off;
		size_t n = t->end.off - t->start.off;

		t->kind = TOK_NUMBER;
		t->val.type = VMM_KDL_NUMBER;
		if (bad_dot || !convert_number(P, s, n, &t->val.num))
			fail_span(P, t->start, t->end,
				  bad_dot ? "write a digit before the decimal point, e.g. 0.5"
					  : "numbers look like 42, -1.5, 1e10, 0xFF, 0o755, 0b1010; quote it if it is a string",
				  "invalid number '%.*s'", (int)(n > 40 ? 40 : n), s);
		t->val.num.text = arena_strndup(P, s, n);
		return;
	}
	if (is_ident_cp(P, c)) {
		scan_ident_chars(P);
		t->end = P->p;
		const char *s = (const char *)P->s + t->start.off;
		size_t n = t->end.off - t->start.off;

		t->kind = TOK_IDENT;
		if (P->v1) {
			if ((n == 4 && !memcmp(s, "true", 4)) || (n == 5 && !memcmp(s, "false", 5))) {
				t->kind = TOK_KEYWORD;
				t->val.type = VMM_KDL_BOOL;
				t->val.boolean = n == 4;
				return;
			}
			if (n == 4 && !memcmp(s, "null", 4)) {
				t->kind = TOK_KEYWORD;
				t->val.type = VMM_KDL_NULL;
				return;
			}
		} else {
			const char *h = n <= 5 && strchr("tfni-", s[0]) ? v1_keyword_hint(s, n) : NULL;

			if (h)
				fail_span(P, t->start, t->end, h, "bare '%.*s' is a reserved keyword in KDL 2",
					  (int)n, s);
			if (c == 'r' && peek(P) == '"')
				fail_span(P, t->start, pos_after_char(P, P->p),
					  "v1-style raw string; in KDL 2 write #\"...\"#",
					  "unexpected '\"' after 'r'");
		}
		t->str = arena_strndup(P, s, n);
		t->len = n;
		return;
	}
	fail_unexpected(P, where, NULL);
string:
	t->end = P->p;
	t->str = arena_strndup(P, P->sb.data ? P->sb.data : "", P->sb.len);
	t->len = P->sb.len;
}

static bool tok_is_string(const struct token *t)
{
	return t->kind == TOK_IDENT || t->kind == TOK_QUOTED || t->kind == TOK_RAW;
}

static const char *tok_kind_name(const struct token *t)
{
	if (t->kind == TOK_NUMBER || (t->kind == TOK_KEYWORD && t->val.type == VMM_KDL_NUMBER))
		return "a number";
	if (t->val.type == VMM_KDL_BOOL)
		return "a boolean";
	return "null";
}

/* A token that must be a string (node name, property key, type). */
static void parse_string_token(struct parser *P, struct token *t, const char *what,
			       const char *where)
{
	parse_token(P, t, where);
	if (!tok_is_string(t))
		fail_span(P, t->start, t->end, "put it in quotes to use it as a string",
			  "%s must be a string, not %s", what, tok_kind_name(t));
}

/* '(' string ')' at P. */
static void parse_type(struct parser *P, struct token *t)
{
	struct pos open = P->p;

	adv(P);
	if (!P->v1)
		skip_node_space(P);
	if (peek(P) == ')')
		fail_here(P, "write a type name between the parentheses, e.g. (u8)", "empty type annotation");
	parse_string_token(P, t, "a type annotation", "where a type annotation was expected");
	if (!P->v1)
		skip_node_space(P);
	if (peek(P) != ')')
		fail_rel(P, open, pos_after_char(P, open), "annotation opened here",
			 "a type annotation is one string in parentheses, e.g. (u8)",
			 "expected ')' to close the type annotation");
	adv(P);
}

static void token_to_value(struct parser *P, const struct token *t, struct vmm_kdl_value *v)
{
	if (tok_is_string(t)) {
		memset(v, 0, sizeof(*v));
		v->type = VMM_KDL_STRING;
		v->str = t->str;
		v->len = t->len;
	} else {
		*v = t->val;
	}
	v->span = mkspan(t->start, t->end);
	(void)P;
}

/* ---- nodes ------------------------------------------------------------ */

static void parse_nodes(struct parser *P, size_t depth, bool in_block, struct pos open);

static struct level *level(struct parser *P, size_t depth)
{
	if (depth >= P->nlevels) {
		size_t n = P->nlevels ? P->nlevels * 2 : 8;

		while (n <= depth)
			n *= 2;
		struct level *l = realloc(P->levels, n * sizeof(*l));

		if (!l)
			fail_nomem(P);
		memset(l + P->nlevels, 0, (n - P->nlevels) * sizeof(*l));
		P->levels = l;
		P->nlevels = n;
	}
	return &P->levels[depth];
}

static void add_prop(struct parser *P, size_t d, const struct vmm_kdl_prop *np)
{
	struct level *L = level(P, d);

	/* duplicates are resolved when the node ends (dedupe_props) */
	grow(P, (void **)&L->props, &L->capprops, L->nprops + 1, sizeof(*L->props));
	L->props[L->nprops++] = *np;
}

/* The slot of a key in P's property table (FNV-1a, linear probing). */
static struct prop_slot *prop_slot(struct parser *P, const char *key, size_t len)
{
	uint64_t h = 1469598103934665603ull;
	size_t mask = P->pcap - 1, i;

	for (size_t k = 0; k < len; k++)
		h = (h ^ (unsigned char)key[k]) * 1099511628211ull;
	for (i = (size_t)h & mask;; i = (i + 1) & mask) {
		struct prop_slot *sl = &P->pslots[i];

		if (sl->gen != P->pgen ||
		    (sl->key_len == len && memcmp(sl->key, key, len) == 0))
			return sl;
	}
}

/*
 * A node's properties, the rightmost of each key kept (KDL: a repeated
 * property overrides the earlier one), in the order of their last
 * occurrence, each counting the occurrences it overrode. Linear in the
 * number of properties.
 */
static void dedupe_props(struct parser *P, struct level *L)
{
	size_t need = 16, j = 0;

	if (L->nprops < 2)
		return;
	while (need < 2 * L->nprops)
		need *= 2;
	if (P->pcap < need) {
		struct prop_slot *ns = calloc(need, sizeof(*ns));

		if (!ns)
			fail_nomem(P);
		free(P->pslots);
		P->pslots = ns;
		P->pcap = need;
		P->pgen = 0;
	}
	if (++P->pgen == 0) { /* wrapped: every slot looks free again */
		memset(P->pslots, 0, P->pcap * sizeof(*P->pslots));
		P->pgen = 1;
	}
	for (size_t i = 0; i < L->nprops; i++) {
		const struct vmm_kdl_prop *pr = &L->props[i];
		struct prop_slot *sl = prop_slot(P, pr->key, pr->key_len);

		if (sl->gen != P->pgen)
			*sl = (struct prop_slot){P->pgen, 0, i, pr->key, pr->key_len};
		sl->count++;
		sl->last = i;
	}
	for (size_t i = 0; i < L->nprops; i++) {
		struct prop_slot *sl = prop_slot(P, L->props[i].key, L->props[i].key_len);

		if (sl->last != i)
			continue;
		L->props[j] = L->props[i];
		L->props[j].overridden = sl->count - 1;
		j++;
	}
	L->nprops = j;
}

/* One argument or property (P at its first character). d: the level of the
 * node's scratch vectors. */
static void parse_entry(struct parser *P, size_t d, bool keep)
{
	struct pos start = P->p;
	struct token tag, t;
	bool has_tag = false;

	if (peek(P) == '(') {
		parse_type(P, &tag);
		has_tag = true;
		if (!P->v1)
			skip_node_space(P);
		if (at_ascii(P, "/-"))
			fail_here(P, "put the /- before the type annotation", "slashdash after a type annotation");
	}
	parse_token(P, &t, "where an argument or property was expected");
	/* property? */
	if (tok_is_string(&t)) {
		struct pos after = P->p;

		if (!P->v1)
			skip_node_space(P);
		if (peek(P) == '=') {
			if (has_tag)
				fail_span(P, tag.start, t.end, "annotate the value instead: key=(type)value",
					  "a property key cannot have a type annotation");
			adv(P);
			if (!P->v1)
				skip_node_space(P);
			struct vmm_kdl_prop pr;
			struct token vt, vtag;
			bool vhas_tag = false;

			memset(&pr, 0, sizeof(pr));
			if (peek(P) == '(') {
				parse_type(P, &vtag);
				vhas_tag = true;
				if (!P->v1)
					skip_node_space(P);
			}
			if (at_eof(P) || at_newline(P) || peek(P) == ';' || peek(P) == '}')
				fail_unexpected(P, "after '='", "write a value after '=', e.g. key=\"value\"");
			if (at_ascii(P, "/-"))
				fail_here(P, "slashdash the whole property: /-key=value", "slashdash before a property value");
			parse_token(P, &vt, "where a property value was expected");
			if (P->v1 && vt.kind == TOK_IDENT)
				fail_span(P, vt.start, vt.end, "quote the string: KDL 1 values cannot be bare identifiers",
					  "bare identifier '%.*s' as a value", (int)(vt.len > 40 ? 40 : vt.len), vt.str);
			if (!keep)
				return;
			pr.key = t.str;
			pr.key_len = t.len;
			pr.key_span = mkspan(t.start, t.end);
			token_to_value(P, &vt, &pr.value);
			if (vhas_tag) {
				pr.value.tag = vtag.str;
				pr.value.tag_len = vtag.len;
				pr.value.tag_span = mkspan(vtag.start, vtag.end);
			}
			pr.span = mkspan(start, P->p);
			add_prop(P, d, &pr);
			return;
		}
		P->p = after;
	}
	if (P->v1 && t.kind == TOK_IDENT)
		fail_span(P, t.start, t.end, "quote the string: KDL 1 values cannot be bare identifiers",
			  "bare identifier '%.*s' as a value", (int)(t.len > 40 ? 40 : t.len), t.str);
	if (!keep)
		return;
	struct level *L = level(P, d);

	grow(P, (void **)&L->args, &L->capargs, L->nargs + 1, sizeof(*L->args));
	struct vmm_kdl_value *v = &L->args[L->nargs++];

	token_to_value(P, &t, v);
	if (has_tag) {
		v->tag = tag.str;
		v->tag_len = tag.len;
		v->tag_span = mkspan(tag.start, tag.end);
	}
}

static void parse_children(struct parser *P, size_t d)
{
	struct pos open = P->p;

	if (d >= MAX_DEPTH)
		fail_here(P, "flatten the document", "children nested too deeply (more than %d levels)", MAX_DEPTH);
	adv(P);
	parse_nodes(P, d, true, open);
	adv(P); /* '}' */
}

/* A node at P; d is the depth of the list it belongs to. */
static void parse_node(struct parser *P, size_t d, bool keep)
{
	struct vmm_kdl_node node;
	struct token tag, name;
	bool has_tag = false, children = false, sd_children = false;
	struct pos end, cstart = { 0, 0, 0 }, cend = { 0, 0, 0 };
	struct level *L = level(P, d + 1);

	L->nargs = L->nprops = L->nkids = 0;
	memset(&node, 0, sizeof(node));
	struct pos start = P->p;

	if (peek(P) == '(') {
		parse_type(P, &tag);
		has_tag = true;
		if (!P->v1)
			skip_node_space(P);
		if (at_ascii(P, "/-"))
			fail_here(P, "put the /- before the type annotation", "slashdash after a type annotation");
	}
	parse_string_token(P, &name, "a node name", "where a node name was expected");
	end = P->p;
	for (;;) {
		bool space = skip_node_space(P);
		int32_t c = peek(P);

		if (c < 0)
			break;
		if (c == ';') {
			adv(P);
			break;
		}
		if (vmmi_kdl_is_newline((uint32_t)c, P->v1)) {
			adv(P);
			break;
		}
		if (at_ascii(P, "//")) {
			skip_line_comment(P);
			break;
		}
		if (c == '}')
			break;
		if (at_ascii(P, "/-")) {
			struct pos sd = P->p;

			advn(P, 2);
			if (P->v1)
				skip_node_space(P);
			else
				skip_line_space(P);
			if (peek(P) == '{') {
				size_t keep_kids = level(P, d + 1)->nkids;

				if (children && P->v1)
					fail_here(P, "a node has at most one children block", "second children block");
				parse_children(P, d + 1);
				level(P, d + 1)->nkids = keep_kids;
				sd_children = true;
				continue;
			}
			if (at_eof(P) || at_newline(P) || peek(P) == ';' || peek(P) == '}')
				fail_span(P, sd, pos_after_char(P, pos_after_char(P, sd)),
					  "put /- right before the node, argument, property or children block to comment out",
					  "slashdash '/-' not followed by anything to comment out");
			if (children || sd_children)
				fail_here(P, "move arguments and properties before the children block",
					  "argument or property after a children block");
			parse_entry(P, d + 1, false);
			continue;
		}
		if (c == '{') {
			if (children)
				fail_here(P, "a node has at most one children block; merge them",
					  "second children block");
			if (sd_children && P->v1)
				fail_here(P, NULL, "children block after a slashdashed children block");
			cstart = P->p;
			parse_children(P, d + 1);
			cend = P->p;
			end = P->p;
			children = true;
			continue;
		}
		if (children || sd_children)
			fail_unexpected(P, "after the children block",
					"end the node with ';' or a newline; arguments and properties go before the '{'");
		if (!space) {
			/* foo/bar, a#b, x(y): a character that ends a bare string */
			if (P->p.off > 0 && P->s[P->p.off - 1] < 0x80 &&
			    ascii_ident(P->s[P->p.off - 1], P->v1) && c < 0x80 &&
			    strchr("/#()[]\\", (int)c) && c != '\\')
				fail_unexpected(P, "inside a bare string",
						"quote strings that contain / # ( ) [ ] or \\, e.g. \"a/b\"");
			fail_unexpected(P, "(missing whitespace before it)",
					"separate the node name, arguments and properties with spaces");
		}
		parse_entry(P, d + 1, keep);
		end = P->p;
	}
	if (!keep)
		return;
	L = level(P, d + 1);
	node.name = name.str;
	node.name_len = name.len;
	node.name_span = mkspan(name.start, name.end);
	if (has_tag) {
		node.tag = tag.str;
		node.tag_len = tag.len;
		node.tag_span = mkspan(tag.start, tag.end);
	}
	node.span = mkspan(start, end);
	node.nargs = L->nargs;
	node.args = arena_dup(P, L->args, L->nargs * sizeof(*L->args));
	dedupe_props(P, L);
	node.nprops = L->nprops;
	node.props = arena_dup(P, L->props, L->nprops * sizeof(*L->props));
	node.nchildren = L->nkids;
	node.children = arena_dup(P, L->kids, L->nkids * sizeof(*L->kids));
	node.has_children = children;
	if (children)
		node.children_span = mkspan(cstart, cend);
	L->nargs = L->nprops = L->nkids = 0;
	struct level *PL = level(P, d);

	grow(P, (void **)&PL->kids, &PL->capkids, PL->nkids + 1, sizeof(*PL->kids));
	PL->kids[PL->nkids++] = node;
}

static void parse_nodes(struct parser *P, size_t depth, bool in_block, struct pos open)
{
	for (;;) {
		skip_line_space(P);
		if (at_eof(P)) {
			if (in_block) {
				fail_rel(P, open, pos_after_char(P, open), "block opened here",
					 "close the children block with '}'", "unclosed children block");
			}
			return;
		}
		int32_t c = peek(P);

		if (c == '}') {
			if (in_block)
				return;
			fail_here(P, "remove it, or check the '{' '}' pairs above", "unmatched '}'");
		}
		bool keep = true;

		if (c == ';')
			fail_here(P, "remove the extra ';' (a ';' ends the node before it)",
				  "stray ';' without a node");
		if (at_ascii(P, "/-")) {
			struct pos sd = P->p;

			advn(P, 2);
			if (P->v1)
				skip_node_space(P);
			else
				skip_line_space(P);
			if (at_eof(P) || peek(P) == '}')
				fail_span(P, sd, pos_after_char(P, pos_after_char(P, sd)),
					  "put /- right before the node to comment out",
					  "slashdash '/-' not followed by a node");
			keep = false;
		}
		parse_node(P, depth, keep);
	}
}

/* `/- kdl-version N` on the first line (after a BOM). Returns 1, 2 or 0. */
static int version_marker(const unsigned char *s, size_t len)
{
	size_t i = 0;

	if (len >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF)
		i = 3;
	if (len - i < 2 || s[i] != '/' || s[i + 1] != '-')
		return 0;
	i += 2;
	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (len - i < 11 || memcmp(s + i, "kdl-version", 11) != 0)
		return 0;
	i += 11;
	size_t sp = i;

	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i == sp || i >= len || (s[i] != '1' && s[i] != '2'))
		return 0;
	int v = s[i] - '0';

	i++;
	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i < len && s[i] != '\n' && s[i] != '\r' && s[i] != ';')
		return 0;
	return v;
}

static void free_levels(struct parser *P)
{
	for (size_t k = 0; k < P->nlevels; k++) {
		free(P->levels[k].args);
		free(P->levels[k].props);
		free(P->levels[k].kids);
	}
	free(P->levels);
	P->levels = NULL;
	free(P->pslots);
	P->pslots = NULL;
	P->nlevels = 0;
}

/* One attempt with one grammar. On success fills doc->nodes. */
static int parse_with(const char *data, size_t len, bool v1, struct vmm_kdl_document *doc,
		      struct kdl_priv *arena, struct vmm_kdl_error *err)
{
	struct parser *P = calloc(1, sizeof(*P));
	int rc;

	memset(err, 0, sizeof(*err));
	if (!P) {
		err->code = VMM_E_NOMEM;
		snprintf(err->message, sizeof(err->message), "out of memory while parsing KDL");
		return -VMM_E_NOMEM;
	}
	P->s = (const unsigned char *)data;
	P->len = len;
	P->v1 = v1;
	P->arena = arena;
	P->err = err;
	P->p.line = P->p.col = 1;
	vmmi_buf_init(&P->sb);
	vmmi_buf_init(&P->tmp);
	int j = setjmp(P->jb);

	if (j != 0) {
		rc = j == 2 ? -VMM_E_NOMEM : -VMM_E_VMFILE_PARSE;
		goto out;
	}
	check_input(P);
	if (len >= 3 && !memcmp(data, "\xEF\xBB\xBF", 3))
		adv(P);
	parse_nodes(P, 0, false, P->p);
	{
		struct level *L = level(P, 0);

		doc->nnodes = L->nkids;
		doc->nodes = arena_dup(P, L->kids, L->nkids * sizeof(*L->kids));
	}
	rc = 0;
out:
	free_levels(P);
	vmmi_buf_release(&P->sb);
	vmmi_buf_release(&P->tmp);
	free(P->ml);
	free(P);
	return rc;
}

int vmm_kdl_parse(const char *data, size_t len, enum vmm_kdl_version mode,
		  struct vmm_kdl_document **out, struct vmm_kdl_error *perr)
{
	struct vmm_kdl_error local, v2err;
	struct vmm_kdl_error *err = perr ? perr : &local;
	struct vmm_kdl_document *doc = NULL;
	struct kdl_priv *priv = NULL;
	int rc, marker;

	memset(err, 0, sizeof(*err));
	if (out)
		*out = NULL;
	if (!out || (!data && len)) {
		err->code = VMM_E_USAGE;
		snprintf(err->message, sizeof(err->message), "vmm_kdl_parse: invalid arguments");
		return -VMM_E_USAGE;
	}
	if (!data)
		data = "";
	doc = calloc(1, sizeof(*doc));
	priv = calloc(1, sizeof(*priv));
	if (!doc || !priv) {
		err->code = VMM_E_NOMEM;
		snprintf(err->message, sizeof(err->message), "out of memory while parsing KDL");
		rc = -VMM_E_NOMEM;
		goto out;
	}
	doc->priv = priv;
	marker = version_marker((const unsigned char *)data, len);
	if (marker && mode != VMM_KDL_AUTO && marker != (int)mode) {
		err->code = VMM_E_VMFILE_PARSE;
		err->version = mode;
		err->span.line = 1;
		err->span.column = 1;
		err->span.length = 2;
		err->span.end_line = 1;
		err->span.end_column = 3;
		snprintf(err->message, sizeof(err->message),
			 "the document declares kdl-version %d but KDL %d was requested", marker, (int)mode);
		snprintf(err->hint, sizeof(err->hint), "remove the version marker or parse it as KDL %d", marker);
		rc = -VMM_E_VMFILE_PARSE;
		goto out;
	}
	doc->version_marker = marker != 0;
	if (marker)
		mode = (enum vmm_kdl_version)marker;
	if (mode == VMM_KDL_V1) {
		doc->version = VMM_KDL_V1;
		rc = parse_with(data, len, true, doc, priv, err);
		goto out;
	}
	doc->version = VMM_KDL_V2;
	rc = parse_with(data, len, false, doc, priv, err);
	if (rc == 0 || mode == VMM_KDL_V2 || rc == -VMM_E_NOMEM)
		goto out;
	/* AUTO: try KDL 1.0 on a fresh arena */
	v2err = *err;
	arena_free(priv);
	doc->nodes = NULL;
	doc->nnodes = 0;
	rc = parse_with(data, len, true, doc, priv, err);
	if (rc == 0) {
		doc->version = VMM_KDL_V1;
		doc->fell_back = true;
		priv->has_v2_error = true;
		priv->v2_error = v2err;
		memset(err, 0, sizeof(*err));
	} else if (rc != -VMM_E_NOMEM) {
		/* Neither grammar accepts it: report the error of the grammar
		 * that got further, most likely the one the author meant. */
		if (err->span.offset > v2err.span.offset) {
			if (!err->related.line) {
				err->related = v2err.span;
				snprintf(err->related_label, sizeof(err->related_label),
					 "not valid KDL 2 from here");
			}
		} else {
			*err = v2err;
		}
		rc = -VMM_E_VMFILE_PARSE;
	}
out:
	if (rc < 0) {
		if (priv)
			arena_free(priv);
		free(priv);
		free(doc);
		return rc;
	}
	*out = doc;
	return 0;
}

void vmm_kdl_document_free(struct vmm_kdl_document *doc)
{
	if (!doc)
		return;
	if (doc->priv) {
		arena_free(doc->priv);
		free(doc->priv);
	}
	free(doc);
}

const struct vmm_kdl_error *vmm_kdl_document_v2_error(const struct vmm_kdl_document *doc)
{
	const struct kdl_priv *priv = doc ? doc->priv : NULL;

	return priv && priv->has_v2_error ? &priv->v2_error : NULL;
}

int vmm_kdl_error_to_vmm(const struct vmm_kdl_error *kerr, const char *filename,
			 struct vmm_error *err)
{
	enum vmm_errcode code = kerr->code ? kerr->code : VMM_E_VMFILE_PARSE;
	const char *hint = kerr->hint[0] ? kerr->hint : NULL;

	if (filename)
		return vmm_error_set(err, code, 0, hint, "%s:%u:%u: %s", filename,
				     kerr->span.line, kerr->span.column, kerr->message);
	return vmm_error_set(err, code, 0, hint, "%u:%u: %s", kerr->span.line, kerr->span.column,
			     kerr->message);
}
