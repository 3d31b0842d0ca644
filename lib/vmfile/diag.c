/* SPDX-License-Identifier: MIT */
/*
 * Source diagnostics: collecting them and rendering them with a snippet of
 * the offending line and a caret under the span. The renderer must stay
 * safe on any input (binary garbage, invalid UTF-8, huge lines): it never
 * copies a raw control character or an invalid byte to the terminal.
 */
#include "vmm/diag.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/* Lines longer than this many columns are shown as a window around the
 * span, with "..." where text was cut. */
#define WINDOW_BEFORE 40
#define WINDOW_MAX 160

void vmm_diags_init(struct vmm_diags *d)
{
	memset(d, 0, sizeof(*d));
}

static void diag_release(struct vmm_diag *g)
{
	free(g->message);
	free(g->hint);
	free(g->related_label);
}

void vmm_diags_release(struct vmm_diags *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		diag_release(&d->items[i]);
	free(d->items);
	free(d->file);
	free(d->source);
	vmm_diags_init(d);
}

void vmm_diags_clear(struct vmm_diags *d)
{
	vmm_diags_release(d);
}

int vmm_diags_set_source(struct vmm_diags *d, const char *file, const char *source,
			 size_t len)
{
	char *f = strdup(file ? file : "<input>");
	char *s = malloc(len + 1);

	if (!f || !s) {
		free(f);
		free(s);
		d->oom = true;
		return -VMM_E_NOMEM;
	}
	if (len)
		memcpy(s, source, len);
	s[len] = '\0';
	free(d->file);
	free(d->source);
	d->file = f;
	d->source = s;
	d->source_len = len;
	return 0;
}

struct vmm_diag *vmm_diags_add(struct vmm_diags *d, enum vmm_errcode code,
			       struct vmm_span span, const char *hint, const char *fmt, ...)
{
	struct vmm_diag *g;
	va_list ap;
	char *msg = NULL;
	int n;

	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 8;
		struct vmm_diag *p = realloc(d->items, cap * sizeof(*p));

		if (!p) {
			d->oom = true;
			return NULL;
		}
		d->items = p;
		d->cap = cap;
	}
	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0) {
		d->oom = true;
		return NULL;
	}
	g = &d->items[d->n];
	memset(g, 0, sizeof(*g));
	g->code = code;
	g->span = span;
	g->message = msg;
	if (hint && *hint) {
		g->hint = strdup(hint);
		if (!g->hint) {
			free(msg);
			d->oom = true;
			return NULL;
		}
	}
	d->n++;
	return g;
}

void vmm_diag_set_related(struct vmm_diags *d, struct vmm_diag *diag, struct vmm_span span,
			  const char *label)
{
	char *l;

	if (!diag)
		return;
	l = strdup(label ? label : "");
	if (!l) {
		d->oom = true;
		return;
	}
	free(diag->related_label);
	diag->related_label = l;
	diag->related = span;
}

void vmm_diags_sort(struct vmm_diags *d)
{
	/* Insertion sort: stable, and the lists are short and nearly sorted. */
	for (size_t i = 1; i < d->n; i++) {
		struct vmm_diag t = d->items[i];
		size_t j = i;

		while (j > 0 && d->items[j - 1].span.offset > t.span.offset) {
			d->items[j] = d->items[j - 1];
			j--;
		}
		d->items[j] = t;
	}
}

/* ---- source lines ---------------------------------------------------- */

/* Whether a line break ends just before position p. */
static bool break_before(const unsigned char *s, size_t p)
{
	unsigned char b;

	if (p == 0)
		return false;
	b = s[p - 1];
	if (b == '\n' || b == '\r' || b == '\v' || b == '\f')
		return true;
	if (b == 0x85 && p >= 2 && s[p - 2] == 0xc2)
		return true;
	if ((b == 0xa8 || b == 0xa9) && p >= 3 && s[p - 3] == 0xe2 && s[p - 2] == 0x80)
		return true;
	return false;
}

/* Whether a line break starts at position p. */
static bool break_at(const unsigned char *s, size_t len, size_t p)
{
	unsigned char b = s[p];

	if (b == '\n' || b == '\r' || b == '\v' || b == '\f')
		return true;
	if (b == 0xc2 && p + 1 < len && s[p + 1] == 0x85)
		return true;
	if (b == 0xe2 && p + 2 < len && s[p + 1] == 0x80 && (s[p + 2] == 0xa8 || s[p + 2] == 0xa9))
		return true;
	return false;
}

static void line_bounds(const struct vmm_diags *d, size_t off, size_t *start, size_t *end)
{
	const unsigned char *s = (const unsigned char *)d->source;
	size_t len = d->source ? d->source_len : 0;
	size_t a, b;

	if (off > len)
		off = len;
	a = off;
	while (a > 0 && !break_before(s, a))
		a--;
	b = off;
	while (b < len && !break_at(s, len, b))
		b++;
	*start = a;
	*end = b;
}

/*
 * Decode one UTF-8 character at s[0..n). Returns its length (>= 1) and
 * stores the code point, or -1 in *cp for an invalid byte (length 1).
 */
static size_t utf8_next(const unsigned char *s, size_t n, long *cp)
{
	unsigned char c = s[0];
	size_t need;
	long v, min;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		need = 1;
		v = c & 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		v = c & 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		v = c & 0x07;
		min = 0x10000;
	} else {
		*cp = -1;
		return 1;
	}
	if (need >= n) {
		*cp = -1;
		return 1;
	}
	for (size_t i = 1; i <= need; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			*cp = -1;
			return 1;
		}
		v = (v << 6) | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) {
		*cp = -1;
		return 1;
	}
	*cp = v;
	return need + 1;
}

/* Characters that take two terminal columns (East Asian wide and
 * fullwidth forms, emoji). */
static bool is_wide(long c)
{
	return (c >= 0x1100 && c <= 0x115f) || (c >= 0x2e80 && c <= 0x303e) ||
	       (c >= 0x3041 && c <= 0x33ff) || (c >= 0x3400 && c <= 0x4dbf) ||
	       (c >= 0x4e00 && c <= 0x9fff) || (c >= 0xa000 && c <= 0xa4cf) ||
	       (c >= 0xac00 && c <= 0xd7a3) || (c >= 0xf900 && c <= 0xfaff) ||
	       (c >= 0xfe30 && c <= 0xfe4f) || (c >= 0xff00 && c <= 0xff60) ||
	       (c >= 0xffe0 && c <= 0xffe6) || (c >= 0x1f300 && c <= 0x1f64f) ||
	       (c >= 0x1f900 && c <= 0x1f9ff) || (c >= 0x20000 && c <= 0x3fffd);
}

/* Characters never copied to the terminal: controls, and the invisible
 * format characters that can reorder or hide text. */
static bool is_unsafe(long c)
{
	return c < 0 || (c < 0x20 && c != '\t') || (c >= 0x7f && c <= 0x9f) ||
	       (c >= 0x200b && c <= 0x200f) || (c >= 0x202a && c <= 0x202e) ||
	       (c >= 0x2066 && c <= 0x2069);
}

/* Display width of one character as the renderer shows it. */
static unsigned char_width(long c)
{
	if (c == '\t')
		return 4;
	if (c == 0xfeff)
		return 0;
	if (is_unsafe(c))
		return 1;
	return is_wide(c) ? 2 : 1;
}

/* Display column (0-based) of byte position pos within a line. */
static size_t display_col(const unsigned char *s, size_t start, size_t pos)
{
	size_t col = 0;

	for (size_t p = start; p < pos;) {
		long cp;
		size_t l = utf8_next(s + p, pos - p, &cp);

		col += char_width(cp);
		p += l;
	}
	return col;
}

/* Append the characters of s[start..end) whose display columns fall in
 * [from, to), sanitised. */
static int append_line(struct vmmi_buf *b, const unsigned char *s, size_t start, size_t end,
		       size_t from, size_t to)
{
	size_t col = 0;
	int rc = 0;

	for (size_t p = start; p < end && col < to && rc == 0;) {
		long cp;
		size_t l = utf8_next(s + p, end - p, &cp);
		unsigned w = char_width(cp);

		if (col >= from && col + w <= to) {
			if (cp == '\t')
				rc = vmmi_buf_append(b, "    ", 4);
			else if (cp == 0xfeff)
				rc = 0;
			else if (is_unsafe(cp))
				rc = vmmi_buf_append(b, "\xef\xbf\xbd", 3);
			else
				rc = vmmi_buf_append(b, s + p, l);
		}
		col += w;
		p += l;
	}
	return rc;
}

/* ---- rendering ------------------------------------------------------- */

struct style {
	const char *err, *help, *gutter, *caret, *related, *bold, *reset;
};

static const struct style plain = {"", "", "", "", "", "", ""};
static const struct style ansi = {"\033[1;31m", "\033[1;36m", "\033[1;34m", "\033[1;31m",
				  "\033[1;34m", "\033[1m", "\033[0m"};

static unsigned digits(uint32_t v)
{
	unsigned n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

static int put_spaces(struct vmmi_buf *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (vmmi_buf_append(b, " ", 1) < 0)
			return -1;
	return 0;
}

/* Append text with control characters, invisible format characters and
 * invalid UTF-8 escaped: messages quote names and values from the file, and
 * nothing from it may drive or mislead the terminal. */
static int append_clean(struct vmmi_buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);

	for (size_t i = 0; i < n;) {
		long cp;
		size_t l = utf8_next(p + i, n - i, &cp);
		int rc;

		if (cp < 0)
			rc = vmmi_buf_printf(b, "\\x%02x", p[i]);
		else if (cp == '\t' || is_unsafe(cp))
			rc = cp < 0x80 ? vmmi_buf_printf(b, "\\x%02lx", cp)
				       : vmmi_buf_printf(b, "\\u{%lx}", cp);
		else
			rc = vmmi_buf_append(b, p + i, l);
		if (rc < 0)
			return -1;
		i += l;
	}
	return 0;
}

struct marker {
	struct vmm_span span;
	char ch;
	const char *label; /* may be NULL */
};

/* Render one source line (the one containing markers[0]) with underline
 * markers. All markers given are on that line. */
static int render_line(struct vmmi_buf *b, const struct vmm_diags *d, const struct style *st,
		       unsigned w, uint32_t lineno, const struct marker *m, size_t nm)
{
	const unsigned char *s = (const unsigned char *)(d->source ? d->source : "");
	size_t ls, le, linew, from = 0, to, shift = 0, row_len = 0;
	size_t cs[2], ce[2];
	char *row = NULL;
	const char *label = NULL;
	size_t li = 0;
	bool label_below = false;
	int rc = -1;

	line_bounds(d, m[0].span.offset, &ls, &le);
	linew = display_col(s, ls, le);
	for (size_t i = 0; i < nm; i++) {
		size_t a = m[i].span.offset, e;

		if (a < ls)
			a = ls;
		if (a > le)
			a = le;
		e = m[i].span.offset + m[i].span.length;
		if (e > le)
			e = le;
		if (e < a)
			e = a;
		cs[i] = display_col(s, ls, a);
		ce[i] = cs[i] + display_col(s, a, e);
		if (ce[i] == cs[i])
			ce[i] = cs[i] + 1;
		if (m[i].label && *m[i].label) {
			label = m[i].label;
			li = i;
		}
	}
	/* A label goes after the markers when its marker is the rightmost;
	 * otherwise below it, on rows of its own. */
	/* A window on very long lines: from a little before the leftmost
	 * marker, unless that would hide the primary one (markers[0]); a
	 * related marker left outside loses its label. */
	if (linew > WINDOW_MAX) {
		size_t left = cs[0];

		for (size_t i = 1; i < nm; i++)
			if (cs[i] < left && ce[0] < cs[i] + WINDOW_MAX - WINDOW_BEFORE)
				left = cs[i];
		if (left > WINDOW_BEFORE)
			from = left - WINDOW_BEFORE;
	}
	to = from + WINDOW_MAX;
	if (label && (cs[li] < from || cs[li] >= to))
		label = NULL;
	if (label && nm == 2 && cs[li] < cs[1 - li])
		label_below = true;
	if (from > 0)
		shift = 3; /* "..." */

	if (vmmi_buf_printf(b, "%s %*u |%s ", st->gutter, (int)w, (unsigned)lineno, st->reset) < 0)
		goto out;
	if (from > 0 && vmmi_buf_append(b, "...", 3) < 0)
		goto out;
	if (append_line(b, s, ls, le, from, to) < 0)
		goto out;
	if (linew > to && vmmi_buf_append(b, "...", 3) < 0)
		goto out;
	if (vmmi_buf_append(b, "\n", 1) < 0)
		goto out;

	/* The underline row: related markers first, the primary over them. */
	for (size_t i = 0; i < nm; i++) {
		size_t e = ce[i] > to ? to : ce[i];

		if (e > from && e - from + shift > row_len)
			row_len = e - from + shift;
	}
	if (row_len == 0)
		row_len = shift + 1;
	row = malloc(row_len + 1);
	if (!row)
		goto out;
	memset(row, ' ', row_len);
	row[row_len] = '\0';
	for (size_t k = nm; k-- > 0;) {
		for (size_t c = cs[k]; c < ce[k] && c < to; c++)
			if (c >= from)
				row[c - from + shift] = m[k].ch;
	}
	if (vmmi_buf_printf(b, "%s %*s |%s ", st->gutter, (int)w, "", st->reset) < 0)
		goto out;
	/* Color the markers; spaces stay plain. */
	{
		size_t first = 0;

		while (first < row_len && row[first] == ' ')
			first++;
		if (vmmi_buf_append(b, row, first) < 0)
			goto out;
		if (vmmi_buf_printf(b, "%s%s", m[0].ch == '^' ? st->caret : st->related,
				    row + first) < 0)
			goto out;
		if (label && !label_below &&
		    (vmmi_buf_append(b, " ", 1) < 0 || append_clean(b, label) < 0))
			goto out;
		if (vmmi_buf_printf(b, "%s\n", st->reset) < 0)
			goto out;
	}
	if (label_below) {
		size_t at = (cs[li] >= from ? cs[li] - from : 0) + shift;

		for (int r = 0; r < 2; r++) {
			if (vmmi_buf_printf(b, "%s %*s |%s ", st->gutter, (int)w, "", st->reset) < 0 ||
			    put_spaces(b, at) < 0 ||
			    vmmi_buf_printf(b, "%s", st->related) < 0 ||
			    append_clean(b, r == 0 ? "|" : label) < 0 ||
			    vmmi_buf_printf(b, "%s\n", st->reset) < 0)
				goto out;
		}
	}
	rc = 0;
out:
	free(row);
	return rc;
}

static int render_one(struct vmmi_buf *b, const struct vmm_diags *d, const struct vmm_diag *g,
		      unsigned flags)
{
	const struct style *st = (flags & VMM_DIAG_COLOR) ? &ansi : &plain;
	const char *file = d->file ? d->file : "<input>";
	bool has_rel = g->related.line != 0 && d->source;
	uint32_t maxline = g->span.line;
	unsigned w;

	if (has_rel && g->related.line > maxline)
		maxline = g->related.line;
	w = digits(maxline);

	if (vmmi_buf_printf(b, "%serror[%s]%s%s: ", st->err, vmm_errcode_name(g->code),
			    st->reset, st->bold) < 0 ||
	    append_clean(b, g->message) < 0 || vmmi_buf_printf(b, "%s\n", st->reset) < 0)
		return -1;
	if (g->span.line == 0) {
		if (vmmi_buf_printf(b, " %*s%s-->%s %s\n", (int)w, "", st->gutter, st->reset,
				    file) < 0)
			return -1;
	} else {
		if (vmmi_buf_printf(b, " %*s%s-->%s %s:%u:%u\n", (int)w, "", st->gutter, st->reset,
				    file, (unsigned)g->span.line, (unsigned)g->span.column) < 0)
			return -1;
		if (d->source) {
			struct marker prim = {g->span, '^', NULL};
			struct marker rel = {g->related, '-', g->related_label};

			if (vmmi_buf_printf(b, "%s %*s |%s\n", st->gutter, (int)w, "", st->reset) <
			    0)
				return -1;
			if (has_rel && g->related.line == g->span.line) {
				struct marker both[2] = {prim, rel};

				if (render_line(b, d, st, w, g->span.line, both, 2) < 0)
					return -1;
			} else if (has_rel) {
				const struct marker *first = &rel, *second = &prim;

				if (g->span.line < g->related.line) {
					first = &prim;
					second = &rel;
				}
				if (render_line(b, d, st, w, first->span.line, first, 1) < 0)
					return -1;
				if (second->span.line > first->span.line + 1 &&
				    vmmi_buf_printf(b, "%s...%s\n", st->gutter, st->reset) < 0)
					return -1;
				if (render_line(b, d, st, w, second->span.line, second, 1) < 0)
					return -1;
			} else if (render_line(b, d, st, w, g->span.line, &prim, 1) < 0) {
				return -1;
			}
		}
	}
	if (g->hint && *g->hint) {
		if (put_spaces(b, w + 2) < 0 ||
		    vmmi_buf_printf(b, "%s=%s %shelp%s: ", st->gutter, st->reset, st->help,
				    st->reset) < 0 ||
		    append_clean(b, g->hint) < 0 || vmmi_buf_append(b, "\n", 1) < 0)
			return -1;
	}
	return 0;
}

char *vmm_diag_render(const struct vmm_diags *d, const struct vmm_diag *diag, unsigned flags)
{
	struct vmmi_buf b;

	vmmi_buf_init(&b);
	if (render_one(&b, d, diag, flags) < 0) {
		vmmi_buf_release(&b);
		return NULL;
	}
	return vmmi_buf_steal(&b);
}

char *vmm_diags_render(const struct vmm_diags *d, unsigned flags)
{
	struct vmmi_buf b;

	vmmi_buf_init(&b);
	for (size_t i = 0; i < d->n; i++) {
		if (i > 0 && vmmi_buf_append(&b, "\n", 1) < 0)
			goto fail;
		if (render_one(&b, d, &d->items[i], flags) < 0)
			goto fail;
	}
	return vmmi_buf_steal(&b);
fail:
	vmmi_buf_release(&b);
	return NULL;
}
