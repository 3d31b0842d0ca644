/* SPDX-License-Identifier: MIT */
/*
 * vmm/kdl.h - a conformant KDL 2.0 parser (with KDL 1.0 as a fallback), its
 * document model and a canonical printer.
 *
 * The document model is read-only after parsing and owns all of its memory
 * (one vmm_kdl_document_free releases everything; nothing points back into
 * the input buffer). Every node, node name, argument, property key, property
 * value and type annotation carries the source span it was parsed from, so a
 * caller can point at the exact characters in an error message.
 *
 * Strings (node names, property keys, string values, type annotations) are
 * stored NUL-terminated AND with an explicit length: an escape such as
 * "\u{0}" can put a NUL byte inside a KDL string.
 *
 * Example:
 *
 *     struct vmm_kdl_document *doc;
 *     struct vmm_kdl_error kerr;
 *
 *     if (vmm_kdl_parse(text, len, VMM_KDL_AUTO, &doc, &kerr) < 0) {
 *         fprintf(stderr, "%s:%u:%u: %s\n", path, kerr.span.line,
 *                 kerr.span.column, kerr.message);
 *         ...
 *     }
 *     const struct vmm_kdl_node *vm = vmm_kdl_document_find(doc, "vm", NULL);
 *     ...
 *     vmm_kdl_document_free(doc);
 */
#ifndef VMM_KDL_H
#define VMM_KDL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Which KDL grammar to use, and which one a document was parsed with. */
enum vmm_kdl_version {
	/*
	 * Parse as KDL 2.0; if that fails and the text parses as KDL 1.0,
	 * accept it as 1.0. A document whose first line is the version marker
	 * `/- kdl-version 1` (or `/- kdl-version 2`) is parsed with exactly
	 * that grammar, without fallback.
	 */
	VMM_KDL_AUTO = 0,
	VMM_KDL_V1 = 1,   /* KDL 1.0 only */
	VMM_KDL_V2 = 2,   /* KDL 2.0 only */
};

/*
 * A range of the source text. offset/length are in bytes from the start of
 * the input given to vmm_kdl_parse (a leading BOM counts). line and column
 * are 1-based; columns count Unicode characters (code points), not bytes.
 * Every newline the grammar knows (LF, CRLF, CR, NEL, FF, LS, PS) starts a
 * new line. end_line/end_column point at the character just after the span.
 * A span with line == 0 is "no span" (e.g. a value without annotation has
 * a zero tag_span).
 */
struct vmm_kdl_span {
	size_t offset;
	size_t length;
	uint32_t line;
	uint32_t column;
	uint32_t end_line;
	uint32_t end_column;
};

/* The kind of a value. */
enum vmm_kdl_type {
	VMM_KDL_STRING = 0,  /* identifier, quoted, raw or multi-line string */
	VMM_KDL_NUMBER,
	VMM_KDL_BOOL,        /* #true / #false (v1: true / false) */
	VMM_KDL_NULL,        /* #null (v1: null) */
};

/* The kind of a number. */
enum vmm_kdl_numkind {
	VMM_KDL_NUM_INT = 0,  /* integer literal: decimal, 0x, 0o or 0b, no '.'/exponent */
	VMM_KDL_NUM_FLOAT,    /* decimal literal with a fraction and/or an exponent */
	VMM_KDL_NUM_INF,      /* #inf */
	VMM_KDL_NUM_NEG_INF,  /* #-inf */
	VMM_KDL_NUM_NAN,      /* #nan */
};

struct vmm_kdl_number {
	enum vmm_kdl_numkind kind;
	/* The literal exactly as written (underscores and prefix kept), e.g.
	 * "0x1F", "-1_000", "1.5e3", "#inf". NUL-terminated. */
	const char *text;
	unsigned radix;       /* 2, 8, 10 or 16 (10 for floats and keywords) */
	/*
	 * Integer value. For VMM_KDL_NUM_INT: exact unless overflow is set
	 * (the literal does not fit int64_t; i is then clamped to
	 * INT64_MIN/INT64_MAX). For floats and #inf/#-inf/#nan: 0 and
	 * overflow set.
	 */
	int64_t i;
	bool overflow;
	/* The value as a double (always set; +/-HUGE_VAL when out of range,
	 * INFINITY/-INFINITY/NAN for the keywords). */
	double d;
};

/* One value: a node argument, a property value. */
struct vmm_kdl_value {
	enum vmm_kdl_type type;
	/* Type annotation `(tag)value`, or NULL. tag_span covers the annotation's
	 * string inside the parentheses; zero when there is none. */
	const char *tag;
	size_t tag_len;
	struct vmm_kdl_span tag_span;
	/* The value's own text (without the annotation). */
	struct vmm_kdl_span span;
	/* VMM_KDL_STRING: the decoded string (escapes resolved, multi-line
	 * strings dedented), NUL-terminated; len excludes the NUL. */
	const char *str;
	size_t len;
	/* VMM_KDL_BOOL */
	bool boolean;
	/* VMM_KDL_NUMBER */
	struct vmm_kdl_number num;
};

/* A property key=value. */
struct vmm_kdl_prop {
	const char *key;
	size_t key_len;
	struct vmm_kdl_span key_span;
	struct vmm_kdl_value value;       /* value.span is the value's text */
	struct vmm_kdl_span span;         /* the whole `key=value` (annotation included) */
	/* How many earlier occurrences of the same key on this node this one
	 * overrode (rightmost duplicate wins; 0 = no duplicate). */
	unsigned overridden;
};

struct vmm_kdl_node {
	const char *name;
	size_t name_len;
	struct vmm_kdl_span name_span;
	/* Type annotation `(tag)name`, or NULL; tag_span as for values. */
	const char *tag;
	size_t tag_len;
	struct vmm_kdl_span tag_span;
	/* From the annotation (or name) to the end of the last entry or of the
	 * closing '}' of the children block; terminator and comments excluded. */
	struct vmm_kdl_span span;
	/* Arguments in source order (slashdashed ones removed). */
	struct vmm_kdl_value *args;
	size_t nargs;
	/* Properties after duplicate removal, in the source order of the
	 * occurrence that won. */
	struct vmm_kdl_prop *props;
	size_t nprops;
	/* Children in source order. has_children is true when the node had a
	 * (non-slashdashed) `{ ... }` block, even an empty one; children_span
	 * covers it from '{' to '}'. */
	struct vmm_kdl_node *children;
	size_t nchildren;
	bool has_children;
	struct vmm_kdl_span children_span;
};

struct vmm_kdl_document {
	/* The grammar the document was parsed with: VMM_KDL_V1 or VMM_KDL_V2
	 * (never AUTO). */
	enum vmm_kdl_version version;
	/* The document declared its version with `/- kdl-version N`. */
	bool version_marker;
	/* AUTO mode fell back to KDL 1.0; v2_error says why 2.0 rejected it
	 * (useful for a "this is KDL 1 syntax" note). */
	bool fell_back;
	struct vmm_kdl_node *nodes;
	size_t nnodes;
	/* Internal: the memory arena. */
	void *priv;
};

#define VMM_KDL_ERROR_MSG_MAX 256
#define VMM_KDL_ERROR_HINT_MAX 256

/* A parse error. */
struct vmm_kdl_error {
	/* VMM_E_VMFILE_PARSE for a syntax error, VMM_E_NOMEM, VMM_E_USAGE
	 * for bad arguments. */
	enum vmm_errcode code;
	/* The grammar that reported the error (V1 or V2). */
	enum vmm_kdl_version version;
	/* The offending text (length may be 0 at end of input). */
	struct vmm_kdl_span span;
	/* One line, lowercase, no trailing period, e.g.
	 * "invalid number '1.2.3'", "unclosed string". */
	char message[VMM_KDL_ERROR_MSG_MAX];
	/* What to do about it; may be "". */
	char hint[VMM_KDL_ERROR_HINT_MAX];
	/* A second location that explains the error (line == 0 if none), e.g.
	 * where an unclosed string or block started, with its label
	 * ("string started here"). */
	struct vmm_kdl_span related;
	char related_label[64];
};

/*
 * Parse len bytes of data (need not be NUL-terminated; a NUL byte inside is
 * a syntax error) into a new document. mode selects the grammar (see enum
 * vmm_kdl_version). On success returns 0 and sets *out (free it with
 * vmm_kdl_document_free). On failure returns a negative vmm_errcode, sets
 * *out to NULL and fills *perr (which may be NULL). In AUTO mode, when
 * neither grammar accepts the text, the error of the grammar that got
 * further into the text is reported (KDL 2 on a tie); perr->version says
 * which; a KDL 1 error without a related span of its own gets one
 * pointing where KDL 2 failed.
 * Invalid UTF-8, NUL bytes and code points KDL disallows are syntax errors.
 */
int vmm_kdl_parse(const char *data, size_t len, enum vmm_kdl_version mode,
		  struct vmm_kdl_document **out, struct vmm_kdl_error *perr);

/* Release a document. NULL is a no-op. */
void vmm_kdl_document_free(struct vmm_kdl_document *doc);

/* If doc->fell_back, the error KDL 2.0 parsing gave; NULL otherwise. */
const struct vmm_kdl_error *vmm_kdl_document_v2_error(const struct vmm_kdl_document *doc);

/*
 * Fill a vmm_error (VMM_E_VMFILE_PARSE, or kerr->code) from a KDL error:
 * "FILE:LINE:COL: MESSAGE" (filename may be NULL: "LINE:COL: MESSAGE"),
 * with kerr->hint (or the code's default hint). Returns -(int)code.
 */
int vmm_kdl_error_to_vmm(const struct vmm_kdl_error *kerr, const char *filename,
			 struct vmm_error *err);

/*
 * Print a document in the canonical form of the KDL test suites: comments
 * and slashdashed parts dropped, one node per line, 4-space indentation,
 * arguments in order then properties sorted by key (bytewise), strings as
 * quoted strings with escapes (identifiers bare when they can be), numbers
 * in decimal (floats as written, with an upper-case 'E' and a signed
 * exponent), children only when non-empty, a final newline. KDL 1 output
 * follows the KDL 1 suite instead where it differs: 0x/0o/0b literals keep
 * their radix (lower-case, no '_' or leading zeros), a present but empty
 * children block prints as " {\n}", '/' is escaped as "\/" in strings,
 * and values are always quoted strings.
 * syntax is the grammar to print in: VMM_KDL_V2, VMM_KDL_V1, or AUTO for
 * doc->version. *out is a malloc'd NUL-terminated string (free() it);
 * *outlen (may be NULL) its length. Returns 0, -VMM_E_NOMEM, or
 * -VMM_E_USAGE for a NULL doc or out.
 */
int vmm_kdl_print(const struct vmm_kdl_document *doc, enum vmm_kdl_version syntax,
		  char **out, size_t *outlen);

/*
 * A value as KDL source text in the canonical form (annotation included),
 * e.g. `"a b"`, `42`, `#true`, `(u8)7`; v1 spelling for VMM_KDL_V1.
 * malloc'd; NULL on allocation failure.
 */
char *vmm_kdl_value_to_string(const struct vmm_kdl_value *v, enum vmm_kdl_version syntax);

/*
 * A name for the value's kind as a user reads it: "string", "integer",
 * "float" (also for #inf/#-inf/#nan), "boolean", "null" ("nothing" for a
 * NULL v, e.g. a missing argument). Never NULL.
 */
const char *vmm_kdl_value_kind(const struct vmm_kdl_value *v);

/* "string", "number", "boolean", "null". Never NULL. */
const char *vmm_kdl_type_name(enum vmm_kdl_type type);

/* "auto", "1", "2". Never NULL. */
const char *vmm_kdl_version_name(enum vmm_kdl_version version);

/*
 * The first top-level node named name after `after` (NULL: from the start),
 * or NULL. Loop: for (n = find(d, "x", NULL); n; n = find(d, "x", n)).
 */
const struct vmm_kdl_node *vmm_kdl_document_find(const struct vmm_kdl_document *doc,
						 const char *name,
						 const struct vmm_kdl_node *after);

/* Same among node's children. */
const struct vmm_kdl_node *vmm_kdl_node_child(const struct vmm_kdl_node *node,
					      const char *name,
					      const struct vmm_kdl_node *after);

/* How many children of node are named name. */
size_t vmm_kdl_node_count_children(const struct vmm_kdl_node *node, const char *name);

/* Argument i, or NULL when there are fewer arguments. */
const struct vmm_kdl_value *vmm_kdl_node_arg(const struct vmm_kdl_node *node, size_t i);

/* The property named key (after duplicate removal), or NULL. */
const struct vmm_kdl_prop *vmm_kdl_node_prop(const struct vmm_kdl_node *node, const char *key);

/* The value of property key, or NULL. */
const struct vmm_kdl_value *vmm_kdl_node_prop_value(const struct vmm_kdl_node *node,
						    const char *key);

/* The string if v is a string without NUL bytes inside, else NULL. */
const char *vmm_kdl_value_str(const struct vmm_kdl_value *v);

/* If v is an integer that fits int64_t, store it and return true. */
bool vmm_kdl_value_int64(const struct vmm_kdl_value *v, int64_t *out);

/* If v is a number (any kind), store it as a double and return true. */
bool vmm_kdl_value_double(const struct vmm_kdl_value *v, double *out);

/* If v is a boolean, store it and return true. */
bool vmm_kdl_value_bool(const struct vmm_kdl_value *v, bool *out);

#ifdef __cplusplus
}
#endif
#endif /* VMM_KDL_H */
