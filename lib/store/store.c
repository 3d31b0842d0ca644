/* SPDX-License-Identifier: MIT */
/*
 * vms.json: the reader (yajl events straight into struct vmm_vm, by the
 * field table of store/fields.h), the writer (jansson), the store and the
 * per-VM locks.
 */
#include "store/store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yajl/yajl_parse.h>

#include "vmm/log.h"
#include "core/util.h"
#include "store/fields.h"

#define MOD "store"

#define HINT_JSON                                                                          \
	"fix the JSON at that position, or move the file aside to start with an empty "   \
	"registry; vmctl never overwrites it"
#define HINT_FIELD                                                                         \
	"fix or remove that field (a missing field takes its default), or move the file "  \
	"aside to start with an empty registry; vmctl never overwrites it"
#define HINT_EDITED                                                                        \
	"vms.json was edited by hand or by another program: fix or remove the entry; "     \
	"vmctl acts only on files in a VM's own directory, and never overwrites vms.json"

_Static_assert(VMMI_F__COUNT <= 32, "a handle's seen fields fit a uint32_t");

/* ---- the reader -------------------------------------------------------------
 *
 * One pass of yajl's callback parser over the document: no tree is built
 * for what the store knows, each value goes into its member of struct
 * vmm_vm as it comes, by the field table. Unknown values (of a handle, at
 * the top level) are built as jansson values and kept for the rewrite.
 *
 * The format is known from the first key: "version" (what vmmi_store_save
 * writes, unless an unknown top-level key sorts before it) is format 1;
 * otherwise a quick first pass looks for a top-level "version", and without
 * one the document is the reference's plain map of names to handles.
 */

/* Where the reader is, outside unknown values. */
enum where {
	W_DOC,    /* before the top-level value */
	W_TOP,    /* in the top-level object of format 1 */
	W_VMS,    /* in the map of names to handles */
	W_HANDLE, /* in a handle */
	W_NET,    /* in a handle's network object */
	W_DONE,   /* after the top-level value */
};

enum format { FMT_UNKNOWN, FMT_1, FMT_REFERENCE };

enum top_key { TK_VERSION, TK_VMS, TK_OTHER };

/* The keys of the network object: its type, then VMMI_NET_FIELDS. */
enum { NK_TYPE = 0, NK__COUNT = 1 + VMMI_NF__COUNT };

/* jansson's limit on nesting (of objects and arrays, the top one is 1). */
enum { MAX_DEPTH = 2048 };

/* A value from yajl: its type (jansson's names), and for strings and
 * numbers the text. */
struct value {
	json_type type;
	const char *s;
	size_t len;
	long long i; /* JSON_INTEGER */
};

/* "version" as found by the first pass, checked before anything is read. */
struct version_seen {
	bool found;
	json_type type;
	long long value;
	size_t off;
};

struct reader {
	const char *file;
	const char *vms_dir; /* <data dir>/vms: the VMs' own directories are in it */
	size_t vms_dir_len;
	const unsigned char *data;
	size_t len;
	yajl_handle h;
	bool completing;    /* in yajl_complete_parse: the offset is the end */
	bool escapes, high; /* the document has a '\\', a byte >= 0x80 */
	struct vmmi_store *st;
	struct vmm_error *err;
	bool failed;       /* err is filled */
	bool need_format;  /* stopped to look for "version" first */
	enum format format;
	enum where where;
	size_t end; /* where the top-level value ends */

	enum top_key top_key;
	bool seen_version, seen_vms;
	char *key; /* the pending unknown key of W_TOP, W_HANDLE, W_NET */

	size_t cap;         /* of st->vms */
	char *name;         /* W_VMS: the pending VM name */
	json_t *names;      /* the names so far, once they are not sorted */
	struct vmm_vm *vm;  /* the handle being read */
	uint32_t seen;      /* its fields seen (bit: field id) */
	int field;          /* the pending key's field id, -1: unknown */
	unsigned char order[VMMI_F__COUNT]; /* field ids, sorted by key */
	size_t key_len[VMMI_F__COUNT];
	int next;           /* where in order to look for the next key */

	int net_key;                /* NK_*, -1: unknown */
	unsigned net_seen;          /* bit: NK_* */
	json_type net_type[NK__COUNT];
	char *net_str[NK__COUNT];   /* its string values */
	json_t *net_discard;        /* the network's other values: read, not kept */
	json_t *fwd;                /* {"forwards": [...]} while that array is read */

	json_t *shares; /* the handle's "shares" array, built, then read */

	json_t **stack; /* the containers of the unknown value being built */
	size_t sp, stack_cap;
	char *bkey;     /* the pending key in the innermost of them */
};

static const char *type_name(json_type t)
{
	static const char *const names[] = {
		[JSON_OBJECT] = "an object", [JSON_ARRAY] = "an array",  [JSON_STRING] = "a string",
		[JSON_INTEGER] = "an integer", [JSON_REAL] = "a number", [JSON_TRUE] = "true",
		[JSON_FALSE] = "false",      [JSON_NULL] = "null",
	};

	return (unsigned)t < VMMI_ARRAY_SIZE(names) ? names[t] : "a value";
}

static size_t offset(const struct reader *r)
{
	return r->completing ? r->len : yajl_get_bytes_consumed(r->h);
}

/* Line and column (in characters, from 1) of the byte before off: the
 * last one of the token yajl has just read. */
static void position(const struct reader *r, size_t off, int *line, int *col)
{
	size_t at = off ? off - 1 : 0, start = 0;

	if (at > r->len)
		at = r->len;
	*line = 1;
	for (size_t i = 0; i < at; i++) {
		if (r->data[i] == '\n') {
			(*line)++;
			start = i + 1;
		}
	}
	*col = 1;
	for (size_t i = start; i < at; i++)
		if ((r->data[i] & 0xc0) != 0x80)
			(*col)++;
}

/* "FILE:LINE:COL: what" for a syntax error at off. Returns 0 (stop). */
__attribute__((format(printf, 3, 4))) static int syntax_error(struct reader *r, size_t off,
							      const char *fmt, ...)
{
	char what[VMM_ERROR_MSG_MAX];
	va_list ap;
	int line, col;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	position(r, off, &line, &col);
	vmm_error_set(r->err, VMM_E_STORE_CORRUPT, 0, HINT_JSON, "%s:%d:%d: invalid JSON: %s",
		      r->file, line, col, what);
	r->failed = true;
	return 0;
}

/* "FILE:LINE:COL: what" for a document that is JSON but not a registry. */
__attribute__((format(printf, 4, 5))) static int format_error(struct reader *r, size_t off,
							      enum vmm_errcode code,
							      const char *fmt, ...)
{
	char what[VMM_ERROR_MSG_MAX];
	va_list ap;
	int line, col;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	position(r, off, &line, &col);
	vmm_error_set(r->err, code, 0, NULL, "%s:%d:%d: %s", r->file, line, col, what);
	r->failed = true;
	return 0;
}

/* "FILE: VM 'NAME': what (line L, column C)" for a wrong value in a handle. */
static int vm_verror(struct reader *r, const char *vm, const char *hint, const char *fmt,
		     va_list ap)
{
	char what[VMM_ERROR_MSG_MAX];
	int line, col;

	vsnprintf(what, sizeof(what), fmt, ap);
	position(r, offset(r), &line, &col);
	vmm_error_set(r->err, VMM_E_STORE_CORRUPT, 0, hint, "%s: VM '%s': %s (line %d, column %d)",
		      r->file, vm, what, line, col);
	r->failed = true;
	return 0;
}

__attribute__((format(printf, 3, 4))) static int vm_error(struct reader *r, const char *vm,
							  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vm_verror(r, vm, HINT_FIELD, fmt, ap);
	va_end(ap);
	return 0;
}

/* The same for a record vmctl did not write (the hint says so). */
__attribute__((format(printf, 3, 4))) static int vm_edited(struct reader *r, const char *vm,
							   const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vm_verror(r, vm, HINT_EDITED, fmt, ap);
	va_end(ap);
	return 0;
}

static int bad_field(struct reader *r, const char *key, const char *expected, const char *found)
{
	return vm_error(r, r->vm->name, "field \"%s\" must be %s, found %s", key, expected, found);
}

static int oom(struct reader *r)
{
	vmm_error_set(r->err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory reading %s", r->file);
	r->failed = true;
	return 0;
}

static int duplicate(struct reader *r, const unsigned char *key, size_t len)
{
	return syntax_error(r, offset(r), "duplicate key \"%.*s\"", (int)(len > 64 ? 64 : len),
			    (const char *)key);
}

/* Strictly valid UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF), as jansson requires; yajl's own check lets those through. */
static bool utf8_valid(const unsigned char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		unsigned c = s[i], n, lo = 0x80, hi = 0xbf;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else {
			return false;
		}
		if (len - i <= n || s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (unsigned k = 2; k <= n; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
		i += n + 1;
	}
	return true;
}

static int hex4(const unsigned char *p)
{
	int v = 0;

	for (int i = 0; i < 4; i++) {
		int c = p[i], d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* yajl decodes an escaped half of a surrogate pair to something; jansson
 * refuses it. Look for one in the raw text of the string token just read, which
 * ends at the byte before off (its closing quote). */
static bool lone_surrogate(const struct reader *r, size_t off, int *found)
{
	const unsigned char *d = r->data;
	size_t end, start, i;

	if (off < 2 || off > r->len || d[off - 1] != '"')
		return false;
	end = off - 1;
	for (start = end; start-- > 0;) { /* the opening quote: one not escaped */
		size_t bs = 0;

		if (d[start] != '"')
			continue;
		while (bs < start && d[start - 1 - bs] == '\\')
			bs++;
		if (bs % 2 == 0)
			break;
	}
	if (start == (size_t)-1)
		return false;
	for (i = start + 1; i < end; i++) {
		int u, lo;

		if (d[i] != '\\')
			continue;
		if (d[i + 1] != 'u' || i + 6 > end) {
			i++;
			continue;
		}
		u = hex4(d + i + 2);
		if (u >= 0xd800 && u <= 0xdbff) {
			lo = -1;
			if (i + 12 <= end && d[i + 6] == '\\' && d[i + 7] == 'u')
				lo = hex4(d + i + 8);
			if (lo < 0xdc00 || lo > 0xdfff) {
				*found = u;
				return true;
			}
			i += 11;
		} else if (u >= 0xdc00 && u <= 0xdfff) {
			*found = u;
			return true;
		} else {
			i += 5;
		}
	}
	return false;
}

static bool any_high(const unsigned char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] >= 0x80)
			return true;
	return false;
}

/* What jansson refuses in a string and yajl does not. Only a document with
 * a byte >= 0x80 or an escape can hold one. */
static bool string_ok(struct reader *r, const unsigned char *s, size_t len)
{
	bool high = (r->high || r->escapes) && any_high(s, len);
	int u;

	if (r->escapes && memchr(s, '\0', len)) {
		syntax_error(r, offset(r), "\\u0000 (NUL) is not allowed in a string");
		return false;
	}
	/* yajl decodes an escaped lone surrogate to '?' (a high one) or to
	 * its three bytes (a low one) */
	if (r->escapes && (high || memchr(s, '?', len)) && !r->completing &&
	    lone_surrogate(r, offset(r), &u)) {
		syntax_error(r, offset(r), "invalid Unicode escape \\u%04X: half a surrogate pair",
			     (unsigned)u);
		return false;
	}
	if (high && !utf8_valid(s, len)) {
		syntax_error(r, offset(r), "invalid UTF-8 in a string");
		return false;
	}
	return true;
}

/* Compare a key from yajl with a NUL-terminated one of length n. */
static int keycmp(const unsigned char *k, size_t len, const char *name, size_t n)
{
	int c = memcmp(k, name, len < n ? len : n);

	if (c)
		return c;
	return len < n ? -1 : len > n;
}

static bool key_is(const unsigned char *k, size_t len, const char *name)
{
	return keycmp(k, len, name, strlen(name)) == 0;
}

static void sort_fields(struct reader *r)
{
	for (int i = 0; i < VMMI_F__COUNT; i++) {
		int j = i;

		r->key_len[i] = strlen(vmmi_vm_fields[i].key);
		while (j > 0 &&
		       strcmp(vmmi_vm_fields[r->order[j - 1]].key, vmmi_vm_fields[i].key) > 0) {
			r->order[j] = r->order[j - 1];
			j--;
		}
		r->order[j] = (unsigned char)i;
	}
}

/* The field id of a handle's key, -1 for an unknown one. vmmi_store_save
 * writes a handle's keys sorted, so the key is looked for after the
 * previous one first, then anywhere. */
static int find_field(struct reader *r, const unsigned char *key, size_t len)
{
	int lo = 0, hi = VMMI_F__COUNT - 1;

	for (int i = r->next; i < VMMI_F__COUNT; i++) {
		int id = r->order[i];
		int c = keycmp(key, len, vmmi_vm_fields[id].key, r->key_len[id]);

		if (c == 0) {
			r->next = i + 1;
			return id;
		}
		if (c < 0)
			break;
	}
	while (lo <= hi) {
		int mid = (lo + hi) / 2, id = r->order[mid];
		int c = keycmp(key, len, vmmi_vm_fields[id].key, r->key_len[id]);

		if (c == 0)
			return id;
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return -1;
}

/* ---- unknown values, built as jansson values ---- */

static json_t *value_json(struct reader *r, const struct value *v)
{
	json_error_t jerr;
	json_t *j;

	switch (v->type) {
	case JSON_OBJECT: return json_object();
	case JSON_ARRAY: return json_array();
	case JSON_STRING: return json_stringn(v->s, v->len);
	case JSON_INTEGER: return json_integer(v->i);
	case JSON_TRUE: return json_true();
	case JSON_FALSE: return json_false();
	case JSON_NULL: return json_null();
	case JSON_REAL:
		/* jansson reads the number as it would have in a document. */
		j = json_loadb(v->s, v->len, JSON_DECODE_ANY, &jerr);
		if (!j)
			syntax_error(r, offset(r), "%s", jerr.text);
		return j;
	}
	return NULL;
}

/* How deep the object holding the unknown values of here is: the
 * top-level object is 1. */
static size_t context_depth(const struct reader *r)
{
	size_t vms = r->format == FMT_REFERENCE ? 1 : 2;

	switch (r->where) {
	case W_TOP: return 1;
	case W_HANDLE: return vms + 1;
	case W_NET: return vms + 2;
	default: return vms;
	}
}

static int push(struct reader *r, json_t *c)
{
	if (context_depth(r) + r->sp + 1 > MAX_DEPTH)
		return syntax_error(r, offset(r), "maximum nesting depth (%d) reached", MAX_DEPTH);
	if (r->sp == r->stack_cap) {
		size_t cap = r->stack_cap ? 2 * r->stack_cap : 16;
		json_t **grown = realloc(r->stack, cap * sizeof(*grown));

		if (!grown)
			return oom(r);
		r->stack = grown;
		r->stack_cap = cap;
	}
	r->stack[r->sp++] = c;
	return 1;
}

/* Put v under key in *bag (made on first use); a container is then filled
 * by the events that follow, up to its end. */
static int keep(struct reader *r, json_t **bag, const char *key, const struct value *v)
{
	json_t *j = value_json(r, v);

	if (!j)
		return r->failed ? 0 : oom(r);
	if (!*bag && !(*bag = json_object())) {
		json_decref(j);
		return oom(r);
	}
	if (json_object_set_new(*bag, key, j) < 0)
		return oom(r);
	if (v->type == JSON_OBJECT || v->type == JSON_ARRAY)
		return push(r, j);
	return 1;
}

/* A value inside an unknown value being built. */
static int build(struct reader *r, const struct value *v)
{
	json_t *top = r->stack[r->sp - 1], *j;
	int rc;

	if (json_is_array(top)) {
		if (!(j = value_json(r, v)))
			return r->failed ? 0 : oom(r);
		if (json_array_append_new(top, j) < 0)
			return oom(r);
		return v->type == JSON_OBJECT || v->type == JSON_ARRAY ? push(r, j) : 1;
	}
	rc = keep(r, &top, r->bkey, v);
	free(r->bkey);
	r->bkey = NULL;
	return rc;
}

/* ---- the registry's own values ---- */

static int check_version(struct reader *r, json_type type, long long v, size_t off)
{
	if (type != JSON_INTEGER || v < 1)
		return format_error(r, off, VMM_E_STORE_CORRUPT,
				    "\"version\" must be a positive integer, found %s",
				    type == JSON_INTEGER ? "a smaller one" : type_name(type));
	if (v > VMMI_STORE_VERSION) {
		vmm_error_set(r->err, VMM_E_STORE_VERSION, 0, NULL,
			      "%s has format version %lld; this vmctl reads up to version %d",
			      r->file, v, VMMI_STORE_VERSION);
		r->failed = true;
		return 0;
	}
	return 1;
}

static int top_value(struct reader *r, const struct value *v)
{
	json_t *root = r->st->root;
	int rc;

	switch (r->top_key) {
	case TK_VERSION:
		if (!check_version(r, v->type, v->i, offset(r)))
			return 0;
		return json_object_set_new(root, "version", json_integer(v->i)) < 0 ? oom(r) : 1;
	case TK_VMS:
		if (v->type != JSON_OBJECT)
			return format_error(r, offset(r), VMM_E_STORE_CORRUPT,
					    "\"vms\" must be an object mapping names to VMs, "
					    "found %s",
					    type_name(v->type));
		r->where = W_VMS;
		return 1;
	default:
		rc = keep(r, &root, r->key, v);
		free(r->key);
		r->key = NULL;
		return rc;
	}
}

static int vms_value(struct reader *r, const struct value *v)
{
	if (v->type != JSON_OBJECT)
		return vm_error(r, r->name, "the entry must be an object (a handle), found %s",
				type_name(v->type));
	if (!(r->vm = vmm_vm_new()))
		return oom(r);
	r->vm->name = r->name;
	r->name = NULL;
	r->vm->state = VMM_STATE_STOPPED; /* the reference recorded no state */
	r->seen = 0;
	r->next = 0;
	r->where = W_HANDLE;
	return 1;
}

/* A short string as a C string, for the name parsers; "" if too long. */
static const char *small_cstr(const struct value *v, char *buf, size_t size)
{
	if (v->len >= size)
		return "";
	memcpy(buf, v->s, v->len);
	buf[v->len] = '\0';
	return buf;
}

static int net_type_parse_any_case(const char *s, enum vmm_net_type *t)
{
	for (int i = VMM_NET_USER; i <= VMM_NET_NONE; i++) {
		if (strcasecmp(s, vmm_net_type_name((enum vmm_net_type)i)) == 0) {
			*t = (enum vmm_net_type)i;
			return 0;
		}
	}
	return -1;
}

static void net_reset(struct reader *r)
{
	for (int i = 0; i < NK__COUNT; i++) {
		free(r->net_str[i]);
		r->net_str[i] = NULL;
	}
	r->net_seen = 0;
	json_decref(r->net_discard);
	r->net_discard = NULL;
}

/* The network from what its object (or the short form "network": "tap")
 * held: a type in any case and the fields of that type. */
static int net_finish(struct reader *r)
{
	struct vmm_network *net = &r->vm->network;
	enum vmm_net_type t;
	char key[64];

	if (!(r->net_seen & (1u << NK_TYPE)))
		return vm_error(r, r->vm->name,
				"field \"network.type\" is missing (User, Tap, Vnic or None)");
	if (r->net_type[NK_TYPE] != JSON_STRING)
		return bad_field(r, "network.type", "a string", type_name(r->net_type[NK_TYPE]));
	if (net_type_parse_any_case(r->net_str[NK_TYPE], &t) < 0)
		return vm_error(r, r->vm->name,
				"unknown network type \"%.40s\" (expected User, Tap, Vnic or None)",
				r->net_str[NK_TYPE]);
	net->type = t;
	for (int i = 0; i < VMMI_NF__COUNT; i++) {
		const struct vmmi_net_field *f = &vmmi_net_fields[i];
		char **slot = vmmi_net_str(net, f);
		int k = 1 + i;

		if (f->type != t)
			continue;
		snprintf(key, sizeof(key), "network.%s", f->key);
		if (!(r->net_seen & (1u << k))) {
			if (!f->dflt)
				return vm_error(r, r->vm->name,
						"field \"%s\" is missing (a %s network needs "
						"it)",
						key, vmmi_net_type_store_name(t));
			if (!(*slot = strdup(f->dflt)))
				return oom(r);
		} else if (r->net_type[k] != JSON_STRING) {
			return bad_field(r, key, "a string", type_name(r->net_type[k]));
		} else {
			*slot = r->net_str[k];
			r->net_str[k] = NULL;
		}
	}
	net_reset(r);
	return 1;
}

/* Whether s (len bytes) is the VM's own directory, vms_dir/NAME (is_dir), or
 * a file lexically inside it: no empty, "." or ".." component, so no "//"
 * or "/../" leads out of it. Symbolic links inside are vmctl's business
 * (vmmi_rm_rf never follows one). */
static bool own_path(const struct reader *r, const char *name, const char *s, size_t len,
		     bool is_dir)
{
	size_t vl = r->vms_dir_len, nl = strlen(name);
	const char *p, *end;

	if (len < vl + 1 + nl || memcmp(s, r->vms_dir, vl) != 0 || s[vl] != '/' ||
	    memcmp(s + vl + 1, name, nl) != 0)
		return false;
	p = s + vl + 1 + nl;
	end = s + len;
	if (is_dir)
		return p == end;
	if (end - p < 2 || *p != '/')
		return false;
	for (p++;; p++) {
		const char *q = memchr(p, '/', (size_t)(end - p));
		size_t n;

		if (!q)
			q = end;
		n = (size_t)(q - p);
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (q == end)
			return true;
		p = q;
	}
}

/* A path field of VMMI_VM_OWN_PATHS must be the VM's own (see there). */
static int check_own_path(struct reader *r, int field, const struct value *v)
{
#define OWN_PATH(member, dir) [VMMI_F_##member] = (dir) ? 2 : 1,
	static const unsigned char own[VMMI_F__COUNT] = {VMMI_VM_OWN_PATHS(OWN_PATH)};
#undef OWN_PATH
	const char *name = r->vm->name;

	if (!own[field] || own_path(r, name, v->s, v->len, own[field] == 2))
		return 1;
	if (own[field] == 2)
		return vm_edited(r, name, "field \"%s\" is \"%.*s\"; it must be %s/%s, the VM's "
				 "own directory",
				 vmmi_vm_fields[field].key, v->len > 200 ? 200 : (int)v->len, v->s,
				 r->vms_dir, name);
	return vm_edited(r, name, "field \"%s\" is \"%.*s\"; it must be a file in %s/%s, the "
			 "VM's own directory",
			 vmmi_vm_fields[field].key, v->len > 200 ? 200 : (int)v->len, v->s,
			 r->vms_dir, name);
}

static int handle_value(struct reader *r, const struct value *v)
{
	const struct vmmi_vm_field *f;
	struct vmm_vm *vm = r->vm;
	char buf[32], expected[96], found[96];
	char **slot;
	int rc;

	if (r->field < 0) {
		rc = keep(r, (json_t **)&vm->extra, r->key, v);
		free(r->key);
		r->key = NULL;
		return rc;
	}
	f = &vmmi_vm_fields[r->field];
	if (f->kind == VMMI_FK_NAME) {
		if (v->type != JSON_STRING || keycmp((const unsigned char *)v->s, v->len, vm->name,
						     strlen(vm->name)) != 0)
			return vm_error(r, vm->name, "the entry has a different \"name\"");
		return 1;
	}
	if (v->type == JSON_NULL)
		return 1; /* as if absent: the default */
	switch (f->kind) {
	case VMMI_FK_STR:
		if (v->type != JSON_STRING)
			return bad_field(r, f->key, "a string", type_name(v->type));
		if (!check_own_path(r, r->field, v))
			return 0;
		slot = vmmi_vm_str(vm, f);
		return (*slot = strndup(v->s, v->len)) ? 1 : oom(r);
	case VMMI_FK_INT:
		if (v->type == JSON_INTEGER && v->i >= f->min && v->i <= f->max) {
			vmmi_vm_int_set(vm, (enum vmmi_vm_field_id)r->field, v->i);
			return 1;
		}
		snprintf(expected, sizeof(expected), "an integer from %lld to %lld", f->min,
			 f->max);
		if (v->type == JSON_INTEGER)
			snprintf(found, sizeof(found), "%lld", v->i);
		else
			snprintf(found, sizeof(found), "%s", type_name(v->type));
		return bad_field(r, f->key, expected, found);
	case VMMI_FK_BACKEND:
	case VMMI_FK_STATE:
		if (v->type == JSON_STRING) {
			const char *name = small_cstr(v, buf, sizeof(buf));

			if ((f->kind == VMMI_FK_BACKEND ? vmm_backend_parse(name, &vm->backend)
							: vmm_vm_state_parse(name, &vm->state)) == 0)
				return 1;
		}
		if (v->type == JSON_STRING)
			snprintf(found, sizeof(found), "\"%.*s\"", v->len > 40 ? 40 : (int)v->len,
				 v->s);
		else
			snprintf(found, sizeof(found), "%s", type_name(v->type));
		return bad_field(r, f->key,
				 f->kind == VMMI_FK_BACKEND ? "\"qemu\", \"libvirt\", \"propolis\" or \"noop\""
							    : "a state name such as \"running\"",
				 found);
	case VMMI_FK_SHARES:
		if (v->type != JSON_ARRAY)
			return bad_field(r, f->key, "an array", type_name(v->type));
		if (!(r->shares = json_array()))
			return oom(r);
		return push(r, r->shares);
	case VMMI_FK_NET:
		if (v->type == JSON_STRING) { /* the short form "network": "user" */
			r->net_seen = 1u << NK_TYPE;
			r->net_type[NK_TYPE] = JSON_STRING;
			if (!(r->net_str[NK_TYPE] = strndup(v->s, v->len)))
				return oom(r);
			return net_finish(r);
		}
		if (v->type != JSON_OBJECT)
			return bad_field(r, f->key, "an object", type_name(v->type));
		r->where = W_NET;
		return 1;
	case VMMI_FK_FWD:
		if (v->type != JSON_ARRAY)
			return bad_field(r, f->key, "an array", type_name(v->type));
		/* built as a jansson value, then read at its end (fwd_finish) */
		return keep(r, &r->fwd, f->key, v);
	default:
		return 1;
	}
}

/* One forward of the array: {"protocol", "address", "host_port",
 * "guest_port", "auto"}; other keys are read and dropped. */
static int fwd_one(struct reader *r, size_t i, json_t *o, struct vmm_forward *fw)
{
	const char *proto, *addr;
	json_t *hp, *gp, *au;
	struct in_addr in;
	char what[64];

	snprintf(what, sizeof(what), "forwards[%zu]", i);
	if (!json_is_object(o))
		return bad_field(r, what, "an object", type_name(json_typeof(o)));
	proto = json_string_value(json_object_get(o, "protocol"));
	addr = json_string_value(json_object_get(o, "address"));
	hp = json_object_get(o, "host_port");
	gp = json_object_get(o, "guest_port");
	au = json_object_get(o, "auto");
	if (!proto || (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0))
		return vm_error(r, r->vm->name, "field \"%s.protocol\" must be \"tcp\" or \"udp\"",
				what);
	if (!addr || strlen(addr) >= sizeof(fw->address) || inet_pton(AF_INET, addr, &in) != 1)
		return vm_error(r, r->vm->name,
				"field \"%s.address\" must be a dotted IPv4 address", what);
	if (!json_is_integer(hp) || json_integer_value(hp) < 0 || json_integer_value(hp) > 65535)
		return vm_error(r, r->vm->name,
				"field \"%s.host_port\" must be an integer from 0 to 65535", what);
	if (!json_is_integer(gp) || json_integer_value(gp) < 1 || json_integer_value(gp) > 65535)
		return vm_error(r, r->vm->name,
				"field \"%s.guest_port\" must be an integer from 1 to 65535", what);
	if (au && !json_is_boolean(au))
		return vm_error(r, r->vm->name, "field \"%s.auto\" must be true or false", what);
	inet_ntop(AF_INET, &in, fw->address, sizeof(fw->address));
	fw->udp = strcmp(proto, "udp") == 0;
	fw->host_port = (unsigned)json_integer_value(hp);
	fw->guest_port = (unsigned)json_integer_value(gp);
	fw->auto_port = json_is_true(au);
	return 1;
}

/* The "forwards" array, read whole. */
static int fwd_finish(struct reader *r)
{
	json_t *a = json_object_get(r->fwd, "forwards");
	size_t n = json_array_size(a);
	int rc = 1;

	if (n > VMM_FORWARDS_MAX) {
		rc = vm_error(r, r->vm->name, "field \"forwards\" has %zu entries, at most %d", n,
			      VMM_FORWARDS_MAX);
	} else if (n) {
		if (!(r->vm->forwards = calloc(n, sizeof(*r->vm->forwards))))
			rc = oom(r);
		for (size_t i = 0; rc && i < n; i++)
			rc = fwd_one(r, i, json_array_get(a, i), &r->vm->forwards[i]);
		r->vm->n_forwards = n;
	}
	json_decref(r->fwd);
	r->fwd = NULL;
	return rc;
}

static int net_value(struct reader *r, const struct value *v)
{
	static const char *const keys[NK__COUNT] = {
		[NK_TYPE] = "type",
#define NET_KEY(m, key, ...) [1 + VMMI_NF_##m] = key,
		VMMI_NET_FIELDS(NET_KEY)
#undef NET_KEY
	};
	int k = r->net_key, rc;

	if (k < 0) {
		rc = keep(r, &r->net_discard, r->key, v);
		free(r->key);
		r->key = NULL;
		return rc;
	}
	r->net_type[k] = v->type;
	if (v->type == JSON_STRING)
		return (r->net_str[k] = strndup(v->s, v->len)) ? 1 : oom(r);
	if (v->type == JSON_OBJECT || v->type == JSON_ARRAY) /* read past it */
		return keep(r, &r->net_discard, keys[k], v);
	return 1;
}

static int on_value(struct reader *r, const struct value *v)
{
	if (r->sp)
		return build(r, v);
	switch (r->where) {
	case W_DOC:
		if (v->type != JSON_OBJECT)
			return format_error(r, offset(r), VMM_E_STORE_CORRUPT,
					    "the top level must be a JSON object, found %s",
					    type_name(v->type));
		r->where = r->format == FMT_REFERENCE ? W_VMS : W_TOP;
		return 1;
	case W_TOP: return top_value(r, v);
	case W_VMS: return vms_value(r, v);
	case W_HANDLE: return handle_value(r, v);
	case W_NET: return net_value(r, v);
	default: return 0;
	}
}

/* ---- yajl's callbacks ---- */

static int cb_null(void *ctx)
{
	struct value v = {.type = JSON_NULL};

	return on_value(ctx, &v);
}

static int cb_boolean(void *ctx, int b)
{
	struct value v = {.type = b ? JSON_TRUE : JSON_FALSE};

	return on_value(ctx, &v);
}

static int cb_number(void *ctx, const char *s, size_t len)
{
	struct reader *r = ctx;
	struct value v = {.type = JSON_INTEGER, .s = s, .len = len};
	char buf[32], *end;

	if (memchr(s, '.', len) || memchr(s, 'e', len) || memchr(s, 'E', len)) {
		v.type = JSON_REAL;
		return on_value(r, &v);
	}
	/* As jansson: an integer is a long long, or an error. */
	if (len < sizeof(buf)) {
		memcpy(buf, s, len);
		buf[len] = '\0';
		errno = 0;
		v.i = strtoll(buf, &end, 10);
		if (errno == 0 && *end == '\0')
			return on_value(r, &v);
	}
	return syntax_error(r, offset(r), "too big %sinteger", s[0] == '-' ? "negative " : "");
}

static int cb_string(void *ctx, const unsigned char *s, size_t len)
{
	struct reader *r = ctx;
	struct value v = {.type = JSON_STRING, .s = (const char *)s, .len = len};

	return string_ok(r, s, len) ? on_value(r, &v) : 0;
}

static int cb_start_map(void *ctx)
{
	struct value v = {.type = JSON_OBJECT};

	return on_value(ctx, &v);
}

static int cb_start_array(void *ctx)
{
	struct value v = {.type = JSON_ARRAY};

	return on_value(ctx, &v);
}

/* A key of "vms" is a VM name as vmctl takes it: one that is not (a "/",
 * "..", a control character) can name no directory of its own, and no
 * command could name it to remove it. */
static int valid_name(struct reader *r, const unsigned char *key, size_t len)
{
	struct vmm_error why;
	int line, col;

	if (memchr(key, '\0', len) == NULL && vmm_vm_name_validate(r->name, &why) == 0)
		return 1;
	if (memchr(key, '\0', len))
		snprintf(why.message, sizeof(why.message), "VM name contains a NUL byte");
	position(r, offset(r), &line, &col);
	vmm_error_set(r->err, VMM_E_STORE_CORRUPT, 0,
		      "vms.json was edited by hand or by another program: rename or remove that "
		      "entry (a VM name has letters, digits, '.', '_' and '-', and does not start "
		      "with '.' or '-')",
		      "%s:%d:%d: the key \"%.*s\" of \"vms\" is not a valid VM name: %s", r->file,
		      line, col, len > 64 ? 64 : (int)len, (const char *)key, why.message);
	r->failed = true;
	return 0;
}

/* The names of "vms" are unique: while they come sorted (as written) each
 * is after the last; after that, a set of them tells. */
static int vm_name_key(struct reader *r, const unsigned char *key, size_t len)
{
	struct vmmi_store *st = r->st;

	if (!r->names && st->n &&
	    keycmp(key, len, st->vms[st->n - 1]->name, strlen(st->vms[st->n - 1]->name)) <= 0) {
		if (!(r->names = json_object()))
			return oom(r);
		for (size_t i = 0; i < st->n; i++)
			if (json_object_set_new(r->names, st->vms[i]->name, json_null()) < 0)
				return oom(r);
	}
	if (r->names) {
		if (json_object_getn(r->names, (const char *)key, len))
			return duplicate(r, key, len);
		if (json_object_setn_new(r->names, (const char *)key, len, json_null()) < 0)
			return oom(r);
	}
	if (!(r->name = strndup((const char *)key, len)))
		return oom(r);
	return valid_name(r, key, len);
}

static int cb_map_key(void *ctx, const unsigned char *key, size_t len)
{
	struct reader *r = ctx;
	json_t *top;
	int k;

	if (!string_ok(r, key, len))
		return 0;
	if (r->sp) {
		top = r->stack[r->sp - 1];
		if (json_object_getn(top, (const char *)key, len))
			return duplicate(r, key, len);
		return (r->bkey = strndup((const char *)key, len)) ? 1 : oom(r);
	}
	switch (r->where) {
	case W_TOP:
		if (r->format == FMT_UNKNOWN) {
			if (!key_is(key, len, "version")) { /* look for it first */
				r->need_format = true;
				return 0;
			}
			r->format = FMT_1;
		}
		if (key_is(key, len, "version")) {
			if (r->seen_version)
				return duplicate(r, key, len);
			r->seen_version = true;
			r->top_key = TK_VERSION;
			return 1;
		}
		if (key_is(key, len, "vms")) {
			if (r->seen_vms)
				return duplicate(r, key, len);
			r->seen_vms = true;
			r->top_key = TK_VMS;
			return 1;
		}
		if (json_object_getn(r->st->root, (const char *)key, len))
			return duplicate(r, key, len);
		r->top_key = TK_OTHER;
		return (r->key = strndup((const char *)key, len)) ? 1 : oom(r);
	case W_VMS:
		return vm_name_key(r, key, len);
	case W_HANDLE:
		r->field = find_field(r, key, len);
		if (r->field >= 0) {
			if (r->seen & (1u << r->field))
				return duplicate(r, key, len);
			r->seen |= 1u << r->field;
			return 1;
		}
		if (r->vm->extra && json_object_getn(r->vm->extra, (const char *)key, len))
			return duplicate(r, key, len);
		return (r->key = strndup((const char *)key, len)) ? 1 : oom(r);
	case W_NET:
		r->net_key = -1;
		if (key_is(key, len, "type"))
			r->net_key = NK_TYPE;
		for (int i = 0; i < VMMI_NF__COUNT; i++)
			if (key_is(key, len, vmmi_net_fields[i].key))
				r->net_key = 1 + i;
		k = r->net_key;
		if (k >= 0) {
			if (r->net_seen & (1u << k))
				return duplicate(r, key, len);
			r->net_seen |= 1u << k;
			return 1;
		}
		if (r->net_discard && json_object_getn(r->net_discard, (const char *)key, len))
			return duplicate(r, key, len);
		return (r->key = strndup((const char *)key, len)) ? 1 : oom(r);
	default:
		return 0;
	}
}

static int add_vm(struct reader *r)
{
	struct vmmi_store *st = r->st;

	if (st->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 64;
		struct vmm_vm **grown = realloc(st->vms, cap * sizeof(*grown));

		if (!grown)
			return oom(r);
		st->vms = grown;
		r->cap = cap;
	}
	st->vms[st->n++] = r->vm;
	r->vm = NULL;
	return 1;
}

static int cb_end_map(void *ctx)
{
	struct reader *r = ctx;

	if (r->sp) {
		r->sp--;
		return 1;
	}
	switch (r->where) {
	case W_NET:
		r->where = W_HANDLE;
		return net_finish(r);
	case W_HANDLE:
		r->where = W_VMS;
		return add_vm(r);
	case W_VMS:
		r->where = r->format == FMT_REFERENCE ? W_DONE : W_TOP;
		r->end = offset(r);
		return 1;
	default:
		r->where = W_DONE;
		r->end = offset(r);
		return 1;
	}
}

/* The shares from the array built for them: objects {"host", "guest"
 * (absolute paths), "readonly" (boolean, default false), "type" ("virtiofs"
 * or "9p", default "virtiofs")}. */
static int shares_finish(struct reader *r)
{
	struct vmm_shares *sh = &r->vm->shares;
	size_t n = json_array_size(r->shares);
	char key[48];

	if (n && !(sh->v = calloc(n, sizeof(*sh->v))))
		return oom(r);
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_array_get(r->shares, i), *t;
		struct vmm_share *x = &sh->v[i];
		const char *p[2];

		snprintf(key, sizeof(key), "shares[%zu]", i);
		if (!json_is_object(o))
			return bad_field(r, key, "an object", type_name(json_typeof(o)));
		for (int k = 0; k < 2; k++) {
			json_t *pv = json_object_get(o, k ? "guest" : "host");

			p[k] = json_string_value(pv);
			if (!p[k] || p[k][0] != '/') {
				snprintf(key, sizeof(key), "shares[%zu].%s", i, k ? "guest" : "host");
				return bad_field(r, key, "an absolute path",
						 pv ? type_name(json_typeof(pv)) : "nothing");
			}
		}
		sh->n = i + 1;
		if (!(x->host = strdup(p[0])) || !(x->guest = strdup(p[1])))
			return oom(r);
		t = json_object_get(o, "readonly");
		if (t && !json_is_boolean(t)) {
			snprintf(key, sizeof(key), "shares[%zu].readonly", i);
			return bad_field(r, key, "true or false", type_name(json_typeof(t)));
		}
		x->readonly = json_is_true(t);
		t = json_object_get(o, "type");
		if (t && !(json_is_string(t) && (!strcmp(json_string_value(t), "virtiofs") ||
						  !strcmp(json_string_value(t), "9p")))) {
			snprintf(key, sizeof(key), "shares[%zu].type", i);
			return bad_field(r, key, "\"virtiofs\" or \"9p\"",
					 json_is_string(t) ? "another string"
							   : type_name(json_typeof(t)));
		}
		x->type = t && !strcmp(json_string_value(t), "9p") ? VMM_SHARE_9P
								   : VMM_SHARE_VIRTIOFS;
	}
	json_decref(r->shares);
	r->shares = NULL;
	return 1;
}

static int cb_end_array(void *ctx)
{
	struct reader *r = ctx;

	if (!r->sp)
		return 0; /* not reached: arrays are only read as built values */
	r->sp--;
	if (r->sp == 0 && r->fwd && r->where == W_HANDLE)
		return fwd_finish(r);
	if (!r->sp && r->shares)
		return shares_finish(r);
	return 1;
}

static const yajl_callbacks callbacks = {
	.yajl_null = cb_null,
	.yajl_boolean = cb_boolean,
	.yajl_number = cb_number,
	.yajl_string = cb_string,
	.yajl_start_map = cb_start_map,
	.yajl_map_key = cb_map_key,
	.yajl_end_map = cb_end_map,
	.yajl_start_array = cb_start_array,
	.yajl_end_array = cb_end_array,
};

static bool text_is(const char *text, size_t n, const char *literal)
{
	return strlen(literal) == n && memcmp(text, literal, n) == 0;
}

/* yajl's message for a syntax error, as "FILE:LINE:COL: invalid JSON: ...". */
static void yajl_syntax_error(struct reader *r)
{
	unsigned char *msg = yajl_get_error(r->h, 0, r->data, r->len);
	const char *text = msg ? (const char *)msg : "error";
	const char *colon = strstr(text, ": ");
	size_t off = r->completing ? r->len : yajl_get_bytes_consumed(r->h), n;

	if (colon)
		text = colon + 2;
	n = strcspn(text, "\n");
	while (n && text[n - 1] == '.')
		n--;
	if (text_is(text, n, "premature EOF")) {
		syntax_error(r, r->len, "the document ends too early (premature end of file)");
	} else if (text_is(text, n, "trailing garbage")) {
		/* at what follows the value, not at its end */
		size_t at = r->where == W_DONE && r->end ? r->end : off;

		while (at < r->len && (r->data[at] == ' ' || r->data[at] == '\t' ||
				       r->data[at] == '\r' || r->data[at] == '\n'))
			at++;
		syntax_error(r, at + 1, "end of file expected after the top-level object, found more");
	} else if (text_is(text, n, "invalid bytes in UTF8 string")) {
		syntax_error(r, off, "invalid UTF-8 in a string");
	} else {
		/* A control character in a string: say which, where it is. */
		size_t at = off ? off - 1 : 0;

		while (at < r->len && r->data[at] >= 0x20 && r->data[at] != '"')
			at++;
		if (text_is(text, n, "invalid character inside string") &&
		    at < r->len && r->data[at] < 0x20)
			syntax_error(r, at + 1,
				     "control character 0x%02x in a string (escape it, e.g. as "
				     "\\u%04x)",
				     r->data[at], r->data[at]);
		else
			syntax_error(r, off, "%.*s", (int)n, text);
	}
	yajl_free_error(r->h, msg);
}

/* ---- the first pass, for "version" when it is not the first key ---- */

struct prescan {
	yajl_handle h;
	int depth;
	bool at_version;
	struct version_seen *ver;
};

static int pre_value(struct prescan *p, json_type type, const char *s, size_t len)
{
	char buf[32], *end;

	if (p->depth != 1 || !p->at_version)
		return 1;
	p->ver->found = true;
	p->ver->type = type;
	p->ver->off = yajl_get_bytes_consumed(p->h);
	if (type == JSON_INTEGER && len < sizeof(buf)) {
		memcpy(buf, s, len);
		buf[len] = '\0';
		errno = 0;
		p->ver->value = strtoll(buf, &end, 10);
		if (errno || *end)
			p->ver->found = false; /* the main pass says what is wrong */
	}
	return 0; /* found: stop */
}

static int pre_null(void *ctx)
{
	return pre_value(ctx, JSON_NULL, NULL, 0);
}

static int pre_boolean(void *ctx, int b)
{
	return pre_value(ctx, b ? JSON_TRUE : JSON_FALSE, NULL, 0);
}

static int pre_number(void *ctx, const char *s, size_t len)
{
	bool real = memchr(s, '.', len) || memchr(s, 'e', len) || memchr(s, 'E', len);

	return pre_value(ctx, real ? JSON_REAL : JSON_INTEGER, s, len);
}

static int pre_string(void *ctx, const unsigned char *s, size_t len)
{
	(void)s;
	(void)len;
	return pre_value(ctx, JSON_STRING, NULL, 0);
}

static int pre_start(void *ctx, json_type type)
{
	struct prescan *p = ctx;

	if (!pre_value(p, type, NULL, 0))
		return 0;
	p->depth++;
	return 1;
}

static int pre_start_map(void *ctx)
{
	return pre_start(ctx, JSON_OBJECT);
}

static int pre_start_array(void *ctx)
{
	return pre_start(ctx, JSON_ARRAY);
}

static int pre_end(void *ctx)
{
	((struct prescan *)ctx)->depth--;
	return 1;
}

static int pre_map_key(void *ctx, const unsigned char *key, size_t len)
{
	struct prescan *p = ctx;

	if (p->depth == 1)
		p->at_version = key_is(key, len, "version");
	return 1;
}

static const yajl_callbacks pre_callbacks = {
	.yajl_null = pre_null,
	.yajl_boolean = pre_boolean,
	.yajl_number = pre_number,
	.yajl_string = pre_string,
	.yajl_start_map = pre_start_map,
	.yajl_map_key = pre_map_key,
	.yajl_end_map = pre_end,
	.yajl_start_array = pre_start_array,
	.yajl_end_array = pre_end,
};

/* Whether the document has a top-level "version" (a syntax error before
 * one is found is for the main pass to report). */
static bool has_version(const char *data, size_t len, struct version_seen *ver, bool *oom_)
{
	struct prescan p = {.ver = ver};

	memset(ver, 0, sizeof(*ver));
	*oom_ = false;
	if (!(p.h = yajl_alloc(&pre_callbacks, NULL, &p))) {
		*oom_ = true;
		return false;
	}
	if (yajl_parse(p.h, (const unsigned char *)data, len) == yajl_status_ok)
		yajl_complete_parse(p.h);
	yajl_free(p.h);
	return ver->found || p.at_version;
}

/* ---- one pass ---- */

static int cmp_vm(const void *a, const void *b)
{
	return strcmp((*(struct vmm_vm *const *)a)->name, (*(struct vmm_vm *const *)b)->name);
}

static bool any_high_byte(const char *data, size_t len)
{
	uint64_t high = 0, word;
	size_t i = 0;

	for (; i + sizeof(word) <= len; i += sizeof(word)) {
		memcpy(&word, data + i, sizeof(word));
		high |= word;
	}
	for (; i < len; i++)
		high |= (unsigned char)data[i];
	return (high & UINT64_C(0x8080808080808080)) != 0;
}

/* Read data in the given format into st (released on failure). Sets
 * *need_format, with nothing filled, when the format is to be found first. */
static int read_pass(const char *file, const char *vms_dir, const char *data, size_t len,
		     enum format format, const struct version_seen *ver, struct vmmi_store *st,
		     struct vmm_error *err, bool *need_format)
{
	struct reader r = {
		.file = file,
		.vms_dir = vms_dir,
		.vms_dir_len = strlen(vms_dir),
		.data = (const unsigned char *)data,
		.len = len,
		.st = st,
		.err = err,
		.format = format,
		.escapes = memchr(data, '\\', len) != NULL,
		.high = any_high_byte(data, len),
	};
	yajl_status status;
	const char *vt, *ff;
	int rc = 0;

	*need_format = false;
	memset(st, 0, sizeof(*st));
	sort_fields(&r);
	if (!(st->root = json_object()) || !(r.h = yajl_alloc(&callbacks, NULL, &r))) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto out;
	}
	/* yajl takes vertical tab and form feed for white space; JSON does not
	 * (and in a string, no control character is allowed). */
	vt = memchr(data, '\v', len);
	ff = memchr(data, '\f', len);
	if (vt || ff) {
		const char *at = vt && (!ff || vt < ff) ? vt : ff;

		syntax_error(&r, (size_t)(at - data) + 1,
			     "control character 0x%02x (between values, JSON allows only space, "
			     "tab, CR and LF)",
			     (unsigned char)*at);
		rc = -(int)err->code;
		goto out;
	}
	if (ver && ver->found && !check_version(&r, ver->type, ver->value, ver->off)) {
		rc = -(int)err->code;
		goto out;
	}
	status = yajl_parse(r.h, (const unsigned char *)data, len);
	if (status == yajl_status_ok) {
		r.completing = true;
		status = yajl_complete_parse(r.h);
	}
	if (status == yajl_status_error) {
		yajl_syntax_error(&r);
	} else if (status == yajl_status_client_canceled && r.need_format) {
		*need_format = true;
	} else if (status != yajl_status_ok && !r.failed) {
		vmm_error_set(err, VMM_E_INTERNAL, 0, NULL, "reading %s stopped early", file);
		r.failed = true;
	}
	if (status == yajl_status_ok) {
		/* yajl lets an unfinished token after the value pass (`{}"`) */
		size_t i = r.end;

		while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' ||
				   data[i] == '\n'))
			i++;
		if (i < len) {
			syntax_error(&r, i + 1,
				     "end of file expected after the top-level object, found more");
			status = yajl_status_error;
		}
	}
	if (status != yajl_status_ok) {
		rc = *need_format ? 0 : -(int)err->code;
		goto out;
	}
	if (!st->vms && !(st->vms = calloc(1, sizeof(*st->vms)))) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		goto out;
	}
	if (r.names) /* they came unsorted */
		qsort(st->vms, st->n, sizeof(*st->vms), cmp_vm);
out:
	if (r.h)
		yajl_free(r.h);
	free(r.key);
	free(r.bkey);
	free(r.name);
	free(r.stack);
	vmm_vm_free(r.vm);
	net_reset(&r);
	json_decref(r.fwd);
	json_decref(r.shares);
	json_decref(r.names);
	if (rc < 0 || *need_format)
		vmmi_store_release(st);
	return rc;
}

/* A message quotes what the file holds: control characters in it are
 * written as escapes, never raw (C1 controls, U+0080 to U+009F, too). */
static void escape_message(char *msg, size_t size)
{
	char out[VMM_ERROR_MSG_MAX];
	size_t o = 0;

	if (size > sizeof(out))
		size = sizeof(out);
	for (const unsigned char *p = (const unsigned char *)msg; *p && o + 1 < size; p++) {
		char esc[8];
		size_t n;

		if (*p < 0x20 || *p == 0x7f) {
			n = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", *p);
		} else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			n = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", p[1]);
			p++;
		} else {
			out[o++] = (char)*p;
			continue;
		}
		if (o + n + 1 > size)
			break;
		memcpy(out + o, esc, n);
		o += n;
	}
	out[o] = '\0';
	memcpy(msg, out, o + 1);
}

/* DIR/vms for the registry DIR/vms.json ("vms" for a bare name). */
static char *vms_dir_of(const char *file)
{
	const char *slash = strrchr(file, '/');

	if (!slash)
		return strdup("vms");
	return vmmi_asprintf("%.*s/vms", (int)(slash - file), file);
}

/* "FILE is N bytes; the limit is ..." */
static int too_big(const char *file, unsigned long long size, struct vmm_error *err)
{
	return vmm_error_set(err, VMM_E_STORE_CORRUPT, EFBIG,
			     "a registry of a thousand VMs is about 400 KB: this one was not "
			     "written by vmctl; move it aside to start with an empty registry",
			     "%s is %llu bytes; vmctl reads a registry of up to %u MiB", file, size,
			     VMMI_STORE_MAX_SIZE >> 20);
}

int vmmi_store_parse(const char *file, const char *data, size_t len, struct vmmi_store *st,
		     struct vmm_error *err)
{
	struct vmm_error scratch;
	struct version_seen ver;
	bool need_format, no_memory;
	char *vms_dir;
	size_t i = 0;
	int rc;

	if (!err)
		err = &scratch;
	memset(st, 0, sizeof(*st));
	if (len > VMMI_STORE_MAX_SIZE)
		return too_big(file, len, err);
	while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n'))
		i++;
	if (i == len) {
		/* An empty file cannot come from our writes (they are atomic); it
		 * is most likely a truncated copy. Refuse rather than forget VMs. */
		return vmm_error_set(err, VMM_E_STORE_CORRUPT, 0,
				     "restore it from a backup, or move it aside to start with "
				     "an empty registry; vmctl never overwrites it",
				     "%s is empty", file);
	}
	if (!(vms_dir = vms_dir_of(file)))
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	rc = read_pass(file, vms_dir, data, len, FMT_UNKNOWN, NULL, st, err, &need_format);
	if (need_format) {
		if (has_version(data, len, &ver, &no_memory))
			rc = read_pass(file, vms_dir, data, len, FMT_1, &ver, st, err,
				       &need_format);
		else if (no_memory)
			rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		else
			rc = read_pass(file, vms_dir, data, len, FMT_REFERENCE, NULL, st, err,
				       &need_format);
	}
	free(vms_dir);
	if (rc < 0)
		escape_message(err->message, sizeof(err->message));
	return rc;
}

/* ---- the writer ---------------------------------------------------------- */

void vmmi_store_release(struct vmmi_store *st)
{
	if (!st)
		return;
	json_decref((json_t *)st->root);
	vmm_vm_list_free(st->vms, st->n);
	memset(st, 0, sizeof(*st));
}

/* Read path whole, refusing anything but a regular file of up to
 * VMMI_STORE_MAX_SIZE before it is read into memory. */
static int read_registry(const char *path, char **data, size_t *len, struct vmm_error *err)
{
	struct stat sb;
	size_t cap, n = 0;
	char *buf;
	int fd, rc;

	*data = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return vmm_error_errno(err, VMM_E_STORE_CORRUPT, NULL, "cannot open '%s'", path);
	if (fstat(fd, &sb) < 0) {
		rc = vmm_error_errno(err, VMM_E_STORE_CORRUPT, NULL, "cannot read '%s'", path);
		goto fail;
	}
	if (!S_ISREG(sb.st_mode)) {
		rc = vmm_error_set(err, VMM_E_STORE_CORRUPT, 0,
				   "move it aside: the registry is a plain file vmctl writes",
				   "%s is not a regular file", path);
		goto fail;
	}
	if ((unsigned long long)sb.st_size > VMMI_STORE_MAX_SIZE) {
		rc = too_big(path, (unsigned long long)sb.st_size, err);
		goto fail;
	}
	/* one byte more than the limit: a file that grew is seen */
	cap = (size_t)sb.st_size + 1;
	if (!(buf = malloc(cap + 1))) {
		rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory reading %s", path);
		goto fail;
	}
	for (;;) {
		ssize_t k;

		if (n == cap) {
			char *grown;

			if (cap > VMMI_STORE_MAX_SIZE) {
				free(buf);
				rc = too_big(path, (unsigned long long)n, err);
				goto fail;
			}
			cap = cap * 2 > VMMI_STORE_MAX_SIZE + 1 ? VMMI_STORE_MAX_SIZE + 1 : cap * 2;
			if (!(grown = realloc(buf, cap + 1))) {
				free(buf);
				rc = vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL,
						   "out of memory reading %s", path);
				goto fail;
			}
			buf = grown;
		}
		k = read(fd, buf + n, cap - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			free(buf);
			rc = vmm_error_errno(err, VMM_E_STORE_CORRUPT, NULL, "cannot read '%s'",
					     path);
			goto fail;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	close(fd);
	buf[n] = '\0';
	*data = buf;
	*len = n;
	return 0;
fail:
	close(fd);
	return rc;
}

int vmmi_store_load(const char *path, struct vmmi_store *st, struct vmm_error *err)
{
	char *data = NULL;
	size_t len = 0;
	int rc;

	memset(st, 0, sizeof(*st));
	if (access(path, F_OK) < 0 && errno == ENOENT) {
		st->root = json_object();
		st->vms = calloc(1, sizeof(*st->vms));
		if (!st->root || !st->vms) {
			vmmi_store_release(st);
			return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
		}
		vmm_trace(MOD, "read %s (absent: no VMs)", path);
		return 0;
	}
	if ((rc = read_registry(path, &data, &len, err)) < 0) {
		if (err && err->code == VMM_E_STORE_CORRUPT && !err->hint[0])
			snprintf(err->hint, sizeof(err->hint), "check the permissions of %s", path);
		return rc;
	}
	rc = vmmi_store_parse(path, data, len, st, err);
	free(data);
	if (rc == 0)
		vmm_trace(MOD, "read %s (%zu VMs)", path, st->n);
	return rc;
}

int vmmi_store_dump(const struct vmmi_store *st, char **text, size_t *len,
		    struct vmm_error *err)
{
	json_t *root = json_deep_copy((json_t *)st->root), *vms = json_object();
	char *body = NULL;

	*text = NULL;
	*len = 0;
	if (!root || !vms)
		goto oom;
	for (size_t i = 0; i < st->n; i++) {
		json_t *o = vmmi_vm_json(st->vms[i], VMMI_JSON_STORE);

		if (!o || json_object_set_new(vms, st->vms[i]->name, o) < 0)
			goto oom;
	}
	if (json_object_set_new(root, "version", json_integer(VMMI_STORE_VERSION)) < 0 ||
	    json_object_set(root, "vms", vms) < 0)
		goto oom;
	body = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	/* json_dumps writes no trailing newline; add one for cat and diff. */
	if (!body || !(*text = vmmi_asprintf("%s\n", body)))
		goto oom;
	*len = strlen(*text);
	free(body);
	json_decref(vms);
	json_decref(root);
	return 0;
oom:
	free(body);
	json_decref(vms);
	json_decref(root);
	return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory writing the registry");
}

int vmmi_store_save(const char *path, const struct vmmi_store *st, struct vmm_error *err)
{
	char *text;
	size_t len;
	int rc;

	if ((rc = vmmi_store_dump(st, &text, &len, err)) < 0)
		return rc;
	rc = vmmi_write_file_atomic(path, text, len, 0600, err);
	vmm_trace(MOD, "wrote %s (%zu VMs)", path, st->n);
	free(text);
	return rc;
}

struct vmm_vm *vmmi_store_find(const struct vmmi_store *st, const char *name)
{
	for (size_t i = 0; i < st->n; i++)
		if (strcmp(st->vms[i]->name, name) == 0)
			return st->vms[i];
	return NULL;
}

int vmmi_store_put(struct vmmi_store *st, const struct vmm_vm *vm, struct vmm_error *err)
{
	struct vmm_vm *copy = vmm_vm_dup(vm), **grown;

	if (!copy)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	for (size_t i = 0; i < st->n; i++) {
		if (strcmp(st->vms[i]->name, vm->name) == 0) {
			vmm_vm_free(st->vms[i]);
			st->vms[i] = copy;
			return 0;
		}
	}
	grown = realloc(st->vms, (st->n + 1) * sizeof(*st->vms));
	if (!grown) {
		vmm_vm_free(copy);
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	}
	st->vms = grown;
	st->vms[st->n++] = copy;
	qsort(st->vms, st->n, sizeof(*st->vms), cmp_vm);
	return 0;
}

int vmmi_store_remove(struct vmmi_store *st, const char *name)
{
	for (size_t i = 0; i < st->n; i++) {
		if (strcmp(st->vms[i]->name, name) == 0) {
			vmm_vm_free(st->vms[i]);
			memmove(&st->vms[i], &st->vms[i + 1], (st->n - i - 1) * sizeof(*st->vms));
			st->n--;
			return 1;
		}
	}
	return 0;
}

int vmmi_store_lock(const struct vmm_paths *paths, struct vmm_error *err)
{
	char *p = vmmi_path_join(paths->locks_dir, "store.lock");
	int fd;

	if (!p)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	fd = vmmi_lock_path(p, err);
	free(p);
	return fd;
}

int vmmi_vm_lock(const struct vmm_paths *paths, const char *name, struct vmm_error *err)
{
	char *p = vmmi_asprintf("%s/vm-%s.lock", paths->locks_dir, name);
	int fd;

	if (!p)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	fd = vmmi_lock_path(p, err);
	free(p);
	return fd;
}
