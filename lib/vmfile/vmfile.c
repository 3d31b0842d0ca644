/* SPDX-License-Identifier: MIT */
/*
 * The VMFile schema on top of the KDL document model: every node, its
 * arguments, properties and children are checked, and every problem is
 * recorded as a diagnostic at its source span; validation goes on after an
 * error so one run reports all of them. The result is built while
 * checking and thrown away if anything was wrong.
 */
#include "vmfile/vmfile_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"
#include "vmm/kdl.h"
#include "vmm/log.h"
#include "vmm/suggest.h"

#define MOD "vmfile"

struct ctx {
	struct vmm_diags *diags;
	const char *base_dir;
	unsigned flags;
	size_t nerr;
	const struct vmm_vmfile *vf; /* for `host` references */
};

/* ---- messages -------------------------------------------------------- */

static struct vmm_span sp(const struct vmm_kdl_span *k)
{
	struct vmm_span s = {k->offset, k->length, k->line, k->column};

	return s;
}

/* Cover from the start of a to the end of b. */
static struct vmm_span sp_join(const struct vmm_kdl_span *a, const struct vmm_kdl_span *b)
{
	struct vmm_span s = sp(a);

	if (b->offset + b->length > a->offset)
		s.length = b->offset + b->length - a->offset;
	return s;
}

static struct vmm_diag *verr(struct ctx *c, struct vmm_span span, const char *hint,
			     const char *fmt, va_list ap)
{
	char *msg = NULL;
	struct vmm_diag *g;

	c->nerr++;
	if (vasprintf(&msg, fmt, ap) < 0) {
		c->diags->oom = true;
		return NULL;
	}
	g = vmm_diags_add(c->diags, VMM_E_VMFILE_VALIDATION, span, hint, "%s", msg);
	free(msg);
	return g;
}

static struct vmm_diag *error_at(struct ctx *c, const struct vmm_kdl_span *k, const char *hint,
				 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static struct vmm_diag *error_at(struct ctx *c, const struct vmm_kdl_span *k, const char *hint,
				 const char *fmt, ...)
{
	struct vmm_diag *g;
	va_list ap;

	va_start(ap, fmt);
	g = verr(c, sp(k), hint, fmt, ap);
	va_end(ap);
	return g;
}

static struct vmm_diag *error_span(struct ctx *c, struct vmm_span span, const char *hint,
				   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static struct vmm_diag *error_span(struct ctx *c, struct vmm_span span, const char *hint,
				   const char *fmt, ...)
{
	struct vmm_diag *g;
	va_list ap;

	va_start(ap, fmt);
	g = verr(c, span, hint, fmt, ap);
	va_end(ap);
	return g;
}

static void related(struct ctx *c, struct vmm_diag *g, const struct vmm_kdl_span *k,
		    const char *label)
{
	vmm_diag_set_related(c->diags, g, sp(k), label);
}

/*
 * A name or value made safe and short for a one-line message: control
 * characters, backslashes and backticks escaped, at most ~60 characters.
 */
static const char *show(char *buf, size_t size, const char *s, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 8 < size; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (i >= 60) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (ch < 0x20 || ch == 0x7f)
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", ch);
		else if (ch == '`' || ch == '\\')
			o += (size_t)snprintf(buf + o, size - o, "\\%c", ch);
		else
			buf[o++] = (char)ch;
	}
	buf[o] = '\0';
	return buf;
}

#define SHOWBUF 256

/* "a string `"big"`", "an integer `4`", "a boolean `#true`", "#null": the
 * value's kind and its text as written in the VMFile. */
static char *describe_value(struct ctx *c, const struct vmm_kdl_value *v)
{
	const char *kind = vmm_kdl_value_kind(v);
	char buf[SHOWBUF];
	const char *text = c->diags->source;

	if (strcmp(kind, "null") == 0)
		return strdup("#null");
	if (!text || v->span.offset + v->span.length > c->diags->source_len)
		return vmmi_asprintf("a %s", kind);
	show(buf, sizeof(buf), text + v->span.offset, v->span.length);
	return vmmi_asprintf("%s %s `%s`", kind[0] == 'i' ? "an" : "a", kind, buf);
}

/* ---- the schema ------------------------------------------------------ */

struct field {
	const char *name;
	const char *unit;    /* for range errors: " MB", or "" */
	const char *expects; /* "an integer (number of virtual CPUs)" */
	const char *example; /* "vcpus 2" */
};

static const struct field fields[] = {
	{"vm", "", "a string (the VM name)", "vm \"web\" { image \"disk.qcow2\" }"},
	{"image", "", "a string (path to a local disk image)", "image \"images/base.qcow2\""},
	{"image-url", "", "a string (URL of a disk image)",
	 "image-url \"https://example.com/image.qcow2\""},
	{"vcpus", "", "an integer (number of virtual CPUs)", "vcpus 2"},
	{"memory", " (MB)", "an integer (memory in MB)", "memory 2048"},
	{"disk", " (GB)", "an integer (disk size in GB)", "disk 20"},
	{"network", "", "a string (\"user\", \"tap\", \"vnic\" or \"none\")", "network \"user\""},
	{"bridge", "", "a string (bridge interface name)", "bridge \"br0\""},
	{"name", "", "a string (VNIC link name)", "name \"vnic0\""},
	{"cloud-init", "", "a block", "cloud-init { hostname \"web\" }"},
	{"hostname", "", "a string (host name)", "hostname \"web\""},
	{"ssh-key", "", "a string (path to an SSH public key file)",
	 "ssh-key \"~/.ssh/id_ed25519.pub\""},
	{"user-data", "", "a string (path to a cloud-config file)", "user-data \"cloud-config.yaml\""},
	{"ssh", "", "a block", "ssh { user \"ubuntu\" }"},
	{"user", "", "a string (SSH user name)", "user \"ubuntu\""},
	{"private-key", "", "a string (path to an SSH private key file)",
	 "private-key \"~/.ssh/id_ed25519\""},
	{"provision", "", "a string (\"shell\" or \"file\")", "provision \"shell\" { inline \"uptime\" }"},
	{"inline", "", "a string (a shell command)", "inline \"sudo apt-get update\""},
	{"script", "", "a string (path to a local script)", "script \"scripts/setup.sh\""},
	{"source", "", "a string (path to a local file)", "source \"config/app.conf\""},
	{"destination", "", "a string (absolute path on the guest)",
	 "destination \"/etc/app/app.conf\""},
	{"sha256", "", "a string (64 hexadecimal digits)", "sha256=\"<64 hex digits>\""},
	{"forward", "", "two integers (the host port, then the guest port)", "forward 8080 80"},
	{"protocol", "", "a string (\"tcp\" or \"udp\")", "forward 5353 53 protocol=\"udp\""},
	{"address", "", "a string (an IPv4 address of the host)",
	 "forward 8443 443 address=\"0.0.0.0\""},
	{"backend", "", "a string (\"qemu\", \"propolis\" or \"noop\")", "backend \"propolis\""},
	{"share", "", "two strings (a host directory and an absolute guest path)",
	 "share \"./src\" \"/home/vm/src\""},
	{"readonly", "", "#true or #false", "share \"./src\" \"/srv/src\" readonly=#true"},
	{"depends-on", "", "one or more strings (names of other VMs of the file)",
	 "depends-on \"db\" \"cache\""},
	{"host", "", "a string (the name of a libvirt host)",
	 "host \"build1\" uri=\"qemu+ssh://admin@build1/system\""},
	{"uri", "", "a string (a libvirt URI)", "uri=\"qemu+ssh://admin@build1/system\""},
	{"pool", "", "a string (a libvirt storage pool)", "pool=\"default\""},
};

static const struct field *field_of(const char *name)
{
	for (size_t i = 0; i < VMMI_ARRAY_SIZE(fields); i++)
		if (strcmp(fields[i].name, name) == 0)
			return &fields[i];
	return NULL;
}

static const char *expects_of(const char *name)
{
	const struct field *f = field_of(name);

	return f ? f->expects : "a value";
}

/* "write it like `vcpus 2`" */
static char *example_hint(const char *name)
{
	const struct field *f = field_of(name);

	return f ? vmmi_asprintf("for example: `%s`", f->example) : NULL;
}

static const char *const top_nodes[] = {"vm", "host", NULL};
static const char *const host_props[] = {"uri", "pool", "network", NULL};
static const char *const vm_nodes[] = {"image",      "image-url", "vcpus",
				       "memory",     "disk",      "network",
				       "cloud-init", "ssh",       "provision",
				       "backend",    "share",      "depends-on",
				       "host",       NULL};
static const char *const cloud_init_nodes[] = {"hostname", "ssh-key", "user-data", NULL};
static const char *const ssh_nodes[] = {"user", "private-key", NULL};
static const char *const shell_nodes[] = {"inline", "script", NULL};
static const char *const file_nodes[] = {"source", "destination", NULL};
static const char *const tap_nodes[] = {"bridge", NULL};
static const char *const user_nodes[] = {"forward", NULL};
static const char *const vnic_nodes[] = {"name", NULL};
static const char *const no_names[] = {NULL};
static const char *const net_types[] = {"user", "tap", "vnic", "none", NULL};
static const char *const prov_types[] = {"shell", "file", NULL};
static const char *const url_props[] = {"sha256", NULL};
static const char *const backend_names[] = {"qemu", "propolis", "noop", NULL};
static const char *const share_props[] = {"readonly", NULL};

static bool in_list(const char *name, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(name, *list) == 0)
			return true;
	return false;
}

static char *join_list(const char *const *list)
{
	struct vmmi_buf b;

	vmmi_buf_init(&b);
	for (size_t i = 0; list[i]; i++)
		if (vmmi_buf_printf(&b, "%s`%s`", i == 0 ? "" : list[i + 1] ? ", " : " or ",
				    list[i]) < 0) {
			vmmi_buf_release(&b);
			return NULL;
		}
	return vmmi_buf_steal(&b);
}

/* An unknown node or property name: suggest the nearest allowed one. */
static void unknown_name(struct ctx *c, const struct vmm_kdl_span *where, const char *what,
			 const char *name, size_t len, const char *context,
			 const char *const *allowed, const char *fallback_hint)
{
	char buf[SHOWBUF];
	const char *guess = memchr(name, '\0', len) ? NULL : vmm_suggest(name, allowed);
	char *hint = NULL, *list = NULL;

	if (!guess && !fallback_hint && !memchr(name, '\0', len)) {
		/* "username" -> "user": a known name the word starts with (a
		 * hint that says where the word belongs is worth more) */
		for (const char *const *a = allowed; *a; a++)
			if (strlen(*a) >= 3 && strncmp(name, *a, strlen(*a)) == 0)
				guess = *a;
	}
	if (guess) {
		hint = vmmi_asprintf("did you mean `%s`?", guess);
	} else if (fallback_hint) {
		hint = strdup(fallback_hint);
	} else if (allowed[0]) {
		list = join_list(allowed);
		hint = vmmi_asprintf("%s %s", allowed[1] ? "expected one of" : "expected",
				     list ? list : "");
	}
	error_at(c, where, hint, "unknown %s `%s`%s%s", what, show(buf, sizeof(buf), name, len),
		 context ? (strcmp(what, "property") == 0 ? " on " : " in ") : "",
		 context ? context : "");
	free(hint);
	free(list);
}

/*
 * The common shape of a node: nargs_max arguments at most (and at least
 * nargs_min), the properties in props, and a children block only if
 * children_ok. Reports every violation; returns false if the node's own
 * arguments cannot be used.
 */
static bool check_shape(struct ctx *c, const struct vmm_kdl_node *n, size_t nargs_min,
			size_t nargs_max, const char *const *props, bool children_ok)
{
	const char *name = n->name;
	bool ok = true;

	if (n->nargs < nargs_min) {
		char *hint = example_hint(name);

		error_at(c, &n->name_span, hint, "`%s` needs %s", name, expects_of(name));
		free(hint);
		ok = false;
	} else if (n->nargs > nargs_max) {
		const struct vmm_kdl_value *first = &n->args[nargs_max];
		const struct vmm_kdl_value *last = &n->args[n->nargs - 1];
		char *hint = example_hint(name);

		if (nargs_max == 0)
			error_span(c, sp_join(&first->span, &last->span), hint,
				   "`%s` takes no arguments, got %zu", name, n->nargs);
		else
			error_span(c, sp_join(&first->span, &last->span), hint,
				   "`%s` takes one value, got %zu", name, n->nargs);
		free(hint);
	}
	for (size_t i = 0; i < n->nprops; i++) {
		const struct vmm_kdl_prop *p = &n->props[i];
		char ctxbuf[96];
		char *hint = NULL;

		if (in_list(p->key, props) && !memchr(p->key, '\0', p->key_len))
			continue;
		snprintf(ctxbuf, sizeof(ctxbuf), "`%s`", name);
		if (!props[0])
			hint = vmmi_asprintf("`%s` takes no properties", name);
		unknown_name(c, &p->key_span, "property", p->key, p->key_len, ctxbuf, props, hint);
		free(hint);
	}
	if (n->has_children && !children_ok) {
		char *hint = example_hint(name);

		error_at(c, &n->children_span, hint, "`%s` takes no children block", name);
		free(hint);
	}
	return ok;
}

/* The string value of v (a node argument or property) for node name. */
static const char *get_string(struct ctx *c, const char *name, const struct vmm_kdl_value *v,
			      bool allow_empty)
{
	const char *s;
	char *hint;

	if (v->type != VMM_KDL_STRING) {
		char *desc = describe_value(c, v);

		hint = example_hint(name);
		error_at(c, &v->span, hint, "`%s` expects %s, got %s", name, expects_of(name),
			 desc ? desc : "another type");
		free(desc);
		free(hint);
		return NULL;
	}
	s = vmm_kdl_value_str(v);
	if (!s) {
		error_at(c, &v->span, "remove the \\u{0} escape from the string",
			 "`%s` must not contain a NUL character", name);
		return NULL;
	}
	if (!allow_empty && !*s) {
		hint = example_hint(name);
		error_at(c, &v->span, hint, "`%s` must not be empty", name);
		free(hint);
		return NULL;
	}
	return s;
}

/* An integer value in [min, max]. */
static bool get_uint(struct ctx *c, const char *name, const struct vmm_kdl_value *v,
		     uint64_t min, uint64_t max, uint64_t *out)
{
	char *hint = example_hint(name);
	bool ok = false;

	if (v->type != VMM_KDL_NUMBER || v->num.kind != VMM_KDL_NUM_INT) {
		char *desc = describe_value(c, v);

		error_at(c, &v->span, hint, "`%s` expects %s, got %s", name, expects_of(name),
			 desc ? desc : "another type");
		free(desc);
	} else if (v->num.overflow || v->num.i < 0 || (uint64_t)v->num.i < min ||
		   (uint64_t)v->num.i > max) {
		char buf[SHOWBUF];

		const struct field *f = field_of(name);

		error_at(c, &v->span, hint, "`%s` must be between %" PRIu64 " and %" PRIu64
			 "%s, got %s", name, min, max, f ? f->unit : "",
			 show(buf, sizeof(buf), v->num.text, strlen(v->num.text)));
	} else {
		*out = (uint64_t)v->num.i;
		ok = true;
	}
	free(hint);
	return ok;
}

static char *xstrdup(struct ctx *c, const char *s)
{
	char *r = strdup(s);

	if (!r)
		c->diags->oom = true;
	return r;
}

/* Resolve a local path setting and check that the file exists. */
static void get_path(struct ctx *c, const char *name, const struct vmm_kdl_value *v,
		     struct vmm_vmfile_path *out)
{
	const char *s = get_string(c, name, v, false);
	char buf[SHOWBUF];
	struct stat st;

	if (!s)
		return;
	free(out->raw);
	free(out->path);
	out->raw = xstrdup(c, s);
	out->path = vmm_vmfile_resolve_path(s, c->base_dir);
	out->span = sp(&v->span);
	if (!out->raw || !out->path) {
		c->diags->oom = true;
		return;
	}
	if (c->flags & VMM_VMFILE_NO_FS_CHECKS)
		return;
	show(buf, sizeof(buf), s, strlen(s));
	if (stat(out->path, &st) < 0) {
		char *hint;

		if (s[0] == '/')
			hint = strdup("check the path");
		else if (s[0] == '~')
			hint = vmmi_asprintf("it resolves to %s (`~` is the home directory)",
					     out->path);
		else
			hint = vmmi_asprintf("it resolves to %s (paths are relative to the "
					     "VMFile's directory)",
					     out->path);

		if (errno == ENOENT || errno == ENOTDIR)
			error_at(c, &v->span, hint, "%s file `%s` does not exist", name, buf);
		else
			error_at(c, &v->span, hint, "%s file `%s` cannot be accessed: %s", name, buf,
				 strerror(errno));
		free(hint);
	} else if (S_ISDIR(st.st_mode)) {
		char *hint = vmmi_asprintf("it resolves to %s; name a file inside it", out->path);

		error_at(c, &v->span, hint, "%s `%s` is a directory, not a file", name, buf);
		free(hint);
	} else if (access(out->path, R_OK) < 0) {
		char *hint = vmmi_asprintf("check the permissions of %s", out->path);

		error_at(c, &v->span, hint, "%s file `%s` is not readable: %s", name, buf,
			 strerror(errno));
		free(hint);
	}
}

/* A network interface / link name: it ends up in QEMU's option syntax,
 * where ',' and '=' have meaning, so only a safe set is allowed. */
static void check_ifname(struct ctx *c, const char *what, const char *s,
			 const struct vmm_kdl_value *v, size_t maxlen)
{
	size_t len = strlen(s);
	char buf[SHOWBUF];
	char hint[160];
	bool ok = len >= 1 && len <= maxlen && s[0] != '-' && strcmp(s, ".") != 0 &&
		  strcmp(s, "..") != 0;

	for (size_t i = 0; ok && i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		     (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-';
	}
	if (ok)
		return;
	snprintf(hint, sizeof(hint),
		 "use 1-%zu letters, digits, '_', '.' or '-', not starting with '-'", maxlen);
	error_at(c, &v->span, hint, "invalid %s name `%s`", what, show(buf, sizeof(buf), s, len));
}

/* RFC 1123 host name: dot-separated labels of letters, digits and '-'. */
static void check_hostname(struct ctx *c, const char *s, const struct vmm_kdl_value *v)
{
	size_t len = strlen(s), label = 0;
	char buf[SHOWBUF];
	bool ok = len >= 1 && len <= 253;

	for (size_t i = 0; ok && i <= len; i++) {
		char ch = s[i];

		if (ch == '.' || ch == '\0') {
			ok = label >= 1 && label <= 63 && s[i - 1] != '-';
			label = 0;
		} else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			   (ch >= '0' && ch <= '9') || ch == '-') {
			ok = !(ch == '-' && label == 0);
			label++;
		} else {
			ok = false;
		}
	}
	if (!ok)
		error_at(c, &v->span,
			 "use letters, digits and '-' in dot-separated labels of at most 63 "
			 "characters, not starting or ending with '-'",
			 "invalid hostname `%s`", show(buf, sizeof(buf), s, len));
}

static void check_username(struct ctx *c, const char *s, const struct vmm_kdl_value *v)
{
	size_t len = strlen(s);
	char buf[SHOWBUF];
	bool ok = len >= 1 && len <= 32 && s[0] != '-';

	for (size_t i = 0; ok && i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		     (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-';
	}
	if (!ok)
		error_at(c, &v->span,
			 "use 1-32 letters, digits, '_', '.' or '-', not starting with '-'",
			 "invalid SSH user name `%s`", show(buf, sizeof(buf), s, len));
}

/* NULL if u is a usable image URL, else why not. */
static const char *url_problem(const char *u)
{
	static const char *const schemes[] = {"http://", "https://", "file://"};
	size_t skip = 0;

	for (size_t i = 0; i < VMMI_ARRAY_SIZE(schemes); i++)
		if (strncasecmp(u, schemes[i], strlen(schemes[i])) == 0)
			skip = strlen(schemes[i]);
	if (skip == 0)
		return "must be an http://, https:// or file:// URL";
	if (u[skip] == '\0')
		return "has nothing after the scheme";
	for (const unsigned char *p = (const unsigned char *)u; *p; p++) {
		if (*p == ' ')
			return "contains a space (write it as %20)";
		if (*p < 0x20 || *p == 0x7f)
			return "contains a control character";
	}
	return NULL;
}

/*
 * Singleton settings: the first node of each name seen in a block, to
 * report a repeated one with a pointer back to the first.
 */
struct seen {
	const struct vmm_kdl_node *nodes[16];
	const char *names[16];
	size_t n;
};

/* Whether n is the first of its name in this block; reports it if not. */
static bool first_of(struct ctx *c, struct seen *s, const struct vmm_kdl_node *n,
		     const char *block)
{
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->names[i], n->name) == 0) {
			struct vmm_diag *g;

			g = error_at(c, &n->name_span, "remove one of them",
				     "`%s` is set more than once in %s", n->name, block);
			related(c, g, &s->nodes[i]->name_span, "first set here");
			return false;
		}
	}
	if (s->n < VMMI_ARRAY_SIZE(s->nodes)) {
		s->nodes[s->n] = n;
		s->names[s->n] = n->name;
		s->n++;
	}
	return true;
}

/* ---- blocks ---------------------------------------------------------- */

static const char *const forward_props[] = {"protocol", "address", NULL};

/* A port of `forward HOST GUEST`, in [min, 65535]. */
static bool forward_port(struct ctx *c, const struct vmm_kdl_value *v, const char *what,
			 unsigned min, unsigned *out)
{
	char *desc;

	if (v->type == VMM_KDL_NUMBER && v->num.kind == VMM_KDL_NUM_INT && !v->num.overflow &&
	    v->num.i >= (long long)min && v->num.i <= 65535) {
		*out = (unsigned)v->num.i;
		return true;
	}
	desc = describe_value(c, v);
	error_at(c, &v->span, "for example: `forward 8080 80` (host port 0: vmctl picks one)",
		 "the %s of `forward` must be an integer from %u to 65535, got %s", what, min,
		 desc ? desc : "another value");
	free(desc);
	return false;
}

/* `forward HOST GUEST protocol="tcp"|"udp" address="IPv4"`, a child of
 * network "user". */
static void parse_forward(struct ctx *c, const struct vmm_kdl_node *k,
			  struct vmm_vmfile_network *net, const char *type)
{
	const struct vmm_kdl_prop *pp = vmm_kdl_node_prop(k, "protocol");
	const struct vmm_kdl_prop *pa = vmm_kdl_node_prop(k, "address");
	struct vmm_forward f = {.address = VMM_FORWARD_DEFAULT_ADDR};
	struct vmm_forward *fw;
	struct vmm_span *spans;
	size_t nerr;
	bool ok;

	if (net->type != VMM_NET_USER) {
		error_at(c, &k->name_span,
			 "forwards need `network \"user\"`; a guest on a bridge is reached at its "
			 "own address, and one without a network not at all",
			 "`forward` does not apply to network \"%s\"", type);
		return;
	}
	if (k->nargs > 2) {
		error_span(c, sp_join(&k->args[2].span, &k->args[k->nargs - 1].span),
			   "for example: `forward 8080 80`",
			   "`forward` takes two values (the host port, then the guest port), got %zu",
			   k->nargs);
		return;
	}
	nerr = c->nerr;
	if (!check_shape(c, k, 2, 2, forward_props, false) || c->nerr != nerr)
		return; /* a forward with a wrong part is not kept */
	ok = forward_port(c, &k->args[0], "host port", 0, &f.host_port);
	ok &= forward_port(c, &k->args[1], "guest port", 1, &f.guest_port);
	if (pp) {
		const char *s = get_string(c, "protocol", &pp->value, false);

		if (s && strcmp(s, "udp") == 0) {
			f.udp = true;
		} else if (s && strcmp(s, "tcp") != 0) {
			char buf[SHOWBUF];

			error_at(c, &pp->value.span,
				 "use protocol=\"tcp\" (the default) or protocol=\"udp\"",
				 "unknown protocol \"%s\" of `forward`", show(buf, sizeof(buf), s,
										strlen(s)));
			ok = false;
		}
		ok &= s != NULL;
	}
	if (pa) {
		const char *s = get_string(c, "address", &pa->value, false);
		struct in_addr in;

		if (s && (strlen(s) >= sizeof(f.address) || inet_pton(AF_INET, s, &in) != 1)) {
			char buf[SHOWBUF];

			error_at(c, &pa->value.span,
				 "give a dotted IPv4 address of this host: address=\"0.0.0.0\" "
				 "(every address) or \"127.0.0.1\" (the default)",
				 "`address` \"%s\" is not an IPv4 address",
				 show(buf, sizeof(buf), s, strlen(s)));
			s = NULL;
		}
		if (s)
			inet_ntop(AF_INET, &in, f.address, sizeof(f.address));
		ok &= s != NULL;
	}
	if (!ok)
		return;
	for (size_t i = 0; i < net->n_forwards && f.host_port; i++) {
		if (net->forwards[i].host_port == f.host_port && net->forwards[i].udp == f.udp) {
			struct vmm_diag *g = error_at(c, &k->args[0].span,
						      "give each forward its own host port (0 "
						      "lets vmctl pick one)",
						      "host port %u/%s is forwarded twice", f.host_port,
						      vmm_forward_proto(&f));

			if (g)
				vmm_diag_set_related(c->diags, g, net->forward_spans[i],
						     "first forwarded here");
			return;
		}
	}
	if (net->n_forwards == VMM_FORWARDS_MAX) {
		error_at(c, &k->name_span, "forward fewer ports", "more than %d forwards",
			 VMM_FORWARDS_MAX);
		return;
	}
	fw = realloc(net->forwards, (net->n_forwards + 1) * sizeof(*fw));
	if (fw)
		net->forwards = fw;
	spans = realloc(net->forward_spans, (net->n_forwards + 1) * sizeof(*spans));
	if (spans)
		net->forward_spans = spans;
	if (!fw || !spans) {
		c->diags->oom = true;
		return;
	}
	f.auto_port = f.host_port == 0;
	fw[net->n_forwards] = f;
	spans[net->n_forwards++] = sp(&k->span);
}

/* backend "qemu" | "propolis" | "noop" */
static void parse_backend(struct ctx *c, const struct vmm_kdl_node *n, struct vmm_vmfile_vm *vm)
{
	const char *name;

	if (!check_shape(c, n, 1, 1, no_names, false))
		return;
	if (!(name = get_string(c, "backend", &n->args[0], false)))
		return;
	if (!in_list(name, backend_names) || vmm_backend_parse(name, &vm->backend) < 0) {
		unknown_name(c, &n->args[0].span, "backend", name, strlen(name), NULL,
			     backend_names, NULL);
		return;
	}
	vm->backend_set = true;
}

static void parse_network(struct ctx *c, const struct vmm_kdl_node *n,
			  struct vmm_vmfile_network *net)
{
	static const char *const props_all[] = {"bridge", "name", NULL};
	const struct vmm_kdl_value *v;
	const struct vmm_kdl_prop *pb, *pn;
	const char *type;
	const char *const *kids = no_names;
	const char *value_key = NULL; /* "bridge" / "name" */
	const struct vmm_kdl_value *val = NULL;
	const struct vmm_kdl_node *val_node = NULL;

	net->span = sp(&n->span);
	if (!check_shape(c, n, 1, 1, props_all, true))
		return;
	v = &n->args[0];
	type = get_string(c, "network", v, false);
	if (!type)
		return;
	if (vmm_net_type_parse(type, &net->type) < 0 || !in_list(type, net_types)) {
		unknown_name(c, &v->span, "network type", type, strlen(type), NULL, net_types,
			     NULL);
		return;
	}
	if (net->type == VMM_NET_USER)
		kids = user_nodes;
	if (net->type == VMM_NET_TAP) {
		kids = tap_nodes;
		value_key = "bridge";
	} else if (net->type == VMM_NET_VNIC) {
		kids = vnic_nodes;
		value_key = "name";
	}
	pb = vmm_kdl_node_prop(n, "bridge");
	pn = vmm_kdl_node_prop(n, "name");
	if (pb && net->type != VMM_NET_TAP)
		error_at(c, &pb->key_span, "`bridge` applies to `network \"tap\"` only",
			 "`bridge` is not a setting of network \"%s\"", type);
	if (pn && net->type != VMM_NET_VNIC)
		error_at(c, &pn->key_span, "`name` applies to `network \"vnic\"` only",
			 "`name` is not a setting of network \"%s\"", type);
	if (value_key) {
		const struct vmm_kdl_prop *p = net->type == VMM_NET_TAP ? pb : pn;

		if (p)
			val = &p->value;
	}
	for (size_t i = 0; i < n->nchildren; i++) {
		const struct vmm_kdl_node *k = &n->children[i];

		if (strcmp(k->name, "forward") == 0 && !memchr(k->name, '\0', k->name_len)) {
			parse_forward(c, k, net, type);
			continue;
		}
		if (!in_list(k->name, kids) || memchr(k->name, '\0', k->name_len)) {
			char ctxbuf[64];
			char *hint = NULL;

			snprintf(ctxbuf, sizeof(ctxbuf), "network \"%s\"", type);
			if (!kids[0])
				hint = vmmi_asprintf("network \"%s\" takes no settings", type);
			else if (in_list(k->name, props_all))
				hint = vmmi_asprintf("`%s` applies to `network \"%s\"` only",
						     k->name,
						     strcmp(k->name, "bridge") == 0 ? "tap"
										     : "vnic");
			unknown_name(c, &k->name_span, "node", k->name, k->name_len, ctxbuf, kids,
				     hint);
			free(hint);
			continue;
		}
		if (!check_shape(c, k, 1, 1, no_names, false))
			continue;
		if (val || val_node) {
			struct vmm_diag *g = error_at(c, &k->name_span, "keep only one of them",
						      "`%s` is set more than once for network \"%s\"",
						      k->name, type);

			if (val_node)
				related(c, g, &val_node->name_span, "first set here");
			else if (value_key)
				related(c, g, &vmm_kdl_node_prop(n, value_key)->key_span,
					"first set here");
			continue;
		}
		val_node = k;
		val = &k->args[0];
	}
	if (net->type == VMM_NET_TAP) {
		const char *s = val ? get_string(c, "bridge", val, false) : VMM_VMFILE_DEFAULT_BRIDGE;

		if (s && val)
			check_ifname(c, "bridge", s, val, 15);
		if (s)
			net->bridge = xstrdup(c, s);
	} else if (net->type == VMM_NET_VNIC) {
		const char *s;

		if (!val) {
			error_at(c, &v->span, "for example: `network \"vnic\" { name \"vnic0\" }`",
				 "network \"vnic\" needs the VNIC's `name`");
			return;
		}
		s = get_string(c, "name", val, false);
		if (s) {
			check_ifname(c, "VNIC", s, val, 31);
			net->vnic = xstrdup(c, s);
		}
	}
}

static void parse_cloud_init(struct ctx *c, const struct vmm_kdl_node *n,
			     struct vmm_vmfile_cloud_init *ci)
{
	struct seen seen = {0};

	ci->span = sp(&n->span);
	check_shape(c, n, 0, 0, no_names, true);
	for (size_t i = 0; i < n->nchildren; i++) {
		const struct vmm_kdl_node *k = &n->children[i];

		if (!in_list(k->name, cloud_init_nodes) || memchr(k->name, '\0', k->name_len)) {
			unknown_name(c, &k->name_span, "node", k->name, k->name_len, "`cloud-init`",
				     cloud_init_nodes, NULL);
			continue;
		}
		if (!first_of(c, &seen, k, "`cloud-init`"))
			continue;
		if (!check_shape(c, k, 1, 1, no_names, false))
			continue;
		if (strcmp(k->name, "hostname") == 0) {
			const char *s = get_string(c, "hostname", &k->args[0], false);

			if (s) {
				check_hostname(c, s, &k->args[0]);
				ci->hostname = xstrdup(c, s);
				ci->hostname_span = sp(&k->args[0].span);
			}
		} else if (strcmp(k->name, "ssh-key") == 0) {
			get_path(c, "ssh-key", &k->args[0], &ci->ssh_key);
		} else {
			get_path(c, "user-data", &k->args[0], &ci->user_data);
		}
	}
}

static void parse_ssh(struct ctx *c, const struct vmm_kdl_node *n, struct vmm_vmfile_ssh *ssh)
{
	struct seen seen = {0};

	ssh->span = sp(&n->span);
	check_shape(c, n, 0, 0, no_names, true);
	for (size_t i = 0; i < n->nchildren; i++) {
		const struct vmm_kdl_node *k = &n->children[i];

		if (!in_list(k->name, ssh_nodes) || memchr(k->name, '\0', k->name_len)) {
			unknown_name(c, &k->name_span, "node", k->name, k->name_len, "`ssh`",
				     ssh_nodes, NULL);
			continue;
		}
		if (!first_of(c, &seen, k, "`ssh`"))
			continue;
		if (!check_shape(c, k, 1, 1, no_names, false))
			continue;
		if (strcmp(k->name, "user") == 0) {
			const char *s = get_string(c, "user", &k->args[0], false);

			if (s) {
				check_username(c, s, &k->args[0]);
				free(ssh->user);
				ssh->user = xstrdup(c, s);
				ssh->user_span = sp(&k->args[0].span);
			}
		} else {
			get_path(c, "private-key", &k->args[0], &ssh->private_key);
		}
	}
	if (!ssh->user)
		ssh->user = xstrdup(c, VMM_VMFILE_DEFAULT_SSH_USER);
}

static void parse_provision(struct ctx *c, const struct vmm_kdl_node *n,
			    struct vmm_vmfile_provision *pr)
{
	const struct vmm_kdl_value *v;
	const char *type;
	const char *const *kids;
	const struct vmm_kdl_node *k_inline = NULL, *k_script = NULL, *k_src = NULL,
				  *k_dst = NULL;
	struct seen seen = {0};

	pr->span = sp(&n->span);
	if (!check_shape(c, n, 1, 1, no_names, true))
		return;
	v = &n->args[0];
	type = get_string(c, "provision", v, false);
	if (!type)
		return;
	if (strcmp(type, "shell") == 0) {
		pr->kind = VMM_PROVISION_SHELL;
		kids = shell_nodes;
	} else if (strcmp(type, "file") == 0) {
		pr->kind = VMM_PROVISION_FILE;
		kids = file_nodes;
	} else {
		unknown_name(c, &v->span, "provisioner type", type, strlen(type), NULL, prov_types,
			     NULL);
		return;
	}
	for (size_t i = 0; i < n->nchildren; i++) {
		const struct vmm_kdl_node *k = &n->children[i];
		char ctxbuf[64];

		snprintf(ctxbuf, sizeof(ctxbuf), "provision \"%s\"", type);
		if (!in_list(k->name, kids) || memchr(k->name, '\0', k->name_len)) {
			const char *const *other = kids == shell_nodes ? file_nodes : shell_nodes;
			char *hint = NULL;

			if (in_list(k->name, other))
				hint = vmmi_asprintf(
					"`%s` belongs to provision \"%s\"; provision \"%s\" takes "
					"%s",
					k->name, kids == shell_nodes ? "file" : "shell", type,
					kids == shell_nodes ? "`inline` or `script`"
							    : "`source` and `destination`");
			unknown_name(c, &k->name_span, "node", k->name, k->name_len, ctxbuf, kids,
				     hint);
			free(hint);
			continue;
		}
		if (!first_of(c, &seen, k, ctxbuf))
			continue;
		if (!check_shape(c, k, 1, 1, no_names, false))
			continue;
		if (strcmp(k->name, "inline") == 0) {
			const char *s = get_string(c, "inline", &k->args[0], false);

			k_inline = k;
			pr->inline_span = sp(&k->args[0].span);
			if (s)
				pr->inline_cmd = xstrdup(c, s);
		} else if (strcmp(k->name, "script") == 0) {
			k_script = k;
			get_path(c, "script", &k->args[0], &pr->script);
		} else if (strcmp(k->name, "source") == 0) {
			k_src = k;
			get_path(c, "source", &k->args[0], &pr->source);
		} else {
			const char *s = get_string(c, "destination", &k->args[0], false);

			k_dst = k;
			pr->destination_span = sp(&k->args[0].span);
			if (s && s[0] != '/') {
				char buf[SHOWBUF];
				char *hint = vmmi_asprintf("for example: `destination \"/%s\"`",
							   show(buf, sizeof(buf), s, strlen(s)));

				error_at(c, &k->args[0].span, hint,
					 "`destination` must be an absolute path on the guest, got "
					 "`%s`",
					 buf);
				free(hint);
			} else if (s) {
				pr->destination = xstrdup(c, s);
			}
		}
	}
	if (pr->kind == VMM_PROVISION_SHELL) {
		if (k_inline && k_script) {
			const struct vmm_kdl_node *second =
				k_inline->name_span.offset > k_script->name_span.offset ? k_inline
											: k_script;
			const struct vmm_kdl_node *first = second == k_inline ? k_script : k_inline;
			struct vmm_diag *g = error_at(
				c, &second->name_span,
				"a shell provisioner runs either an `inline` command or a `script`; "
				"split it into two provision blocks",
				"provision \"shell\" has both `inline` and `script`");

			related(c, g, &first->name_span, "also set here");
		} else if (!k_inline && !k_script) {
			error_at(c, &n->name_span,
				 "add `inline \"COMMAND\"` or `script \"path/to/script.sh\"`",
				 "provision \"shell\" needs `inline` or `script`");
		}
	} else {
		if (!k_src)
			error_at(c, &n->name_span, "add `source \"path/to/local/file\"`",
				 "provision \"file\" needs a `source`");
		if (!k_dst)
			error_at(c, &n->name_span, "add `destination \"/absolute/path/on/guest\"`",
				 "provision \"file\" needs a `destination`");
	}
}

static void parse_image_url(struct ctx *c, const struct vmm_kdl_node *k,
			    struct vmm_vmfile_image *img)
{
	const char *s;
	const struct vmm_kdl_prop *p;
	char buf[SHOWBUF];

	img->kind = VMM_IMAGE_URL;
	img->span = sp(&k->span);
	if (!check_shape(c, k, 1, 1, url_props, false))
		return;
	s = get_string(c, "image-url", &k->args[0], false);
	if (s && url_problem(s)) {
		error_at(c, &k->args[0].span,
			 "for example: `image-url \"https://example.com/image.qcow2\"`; for a file "
			 "on this machine use `image \"PATH\"`",
			 "`image-url` %s, got `%s`", url_problem(s),
			 show(buf, sizeof(buf), s, strlen(s)));
	} else if (s) {
		img->url = xstrdup(c, s);
	}
	p = vmm_kdl_node_prop(k, "sha256");
	if (p) {
		const char *h = get_string(c, "sha256", &p->value, true);
		size_t len = h ? strlen(h) : 0, bad = len;

		for (size_t i = 0; bad == len && i < len; i++)
			if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f') ||
			      (h[i] >= 'A' && h[i] <= 'F')))
				bad = i;
		if (h && bad < len) {
			char ch[SHOWBUF];
			size_t l = 1;

			while (bad + l < len && ((unsigned char)h[bad + l] & 0xc0) == 0x80)
				l++;
			error_at(c, &p->value.span,
				 "use the output of `sha256sum IMAGE` (64 hexadecimal digits)",
				 "`sha256` must be 64 hexadecimal digits, but character %zu is `%s`",
				 bad + 1, show(ch, sizeof(ch), h + bad, l));
		} else if (h && len != 64) {
			error_at(c, &p->value.span,
				 "use the output of `sha256sum IMAGE` (64 hexadecimal digits)",
				 "`sha256` must be 64 hexadecimal digits, not %zu", len);
		} else if (h) {
			img->sha256 = xstrdup(c, h);
			for (char *q = img->sha256; q && *q; q++)
				if (*q >= 'A' && *q <= 'F')
					*q = (char)(*q - 'A' + 'a');
		}
	}
}

/* `share "HOST" "GUEST" [readonly=#true]`: HOST an existing directory
 * (relative to the VMFile), GUEST absolute. */
static void parse_share(struct ctx *c, const struct vmm_kdl_node *k, struct vmm_vmfile_share *sh)
{
	const struct vmm_kdl_prop *p;
	const char *g, *h;
	char buf[SHOWBUF];
	struct stat st;

	sh->span = sp(&k->span);
	if (!check_shape(c, k, 2, 2, share_props, false))
		return;
	h = get_string(c, "share", &k->args[0], false);
	g = get_string(c, "share", &k->args[1], false);
	if (h) {
		sh->host.raw = xstrdup(c, h);
		sh->host.path = vmm_vmfile_resolve_path(h, c->base_dir);
		sh->host.span = sp(&k->args[0].span);
		if (!sh->host.path)
			c->diags->oom = true;
		else if (!(c->flags & VMM_VMFILE_NO_FS_CHECKS) &&
			 (stat(sh->host.path, &st) < 0 || !S_ISDIR(st.st_mode))) {
			bool exists = stat(sh->host.path, &st) == 0;
			char *hint = vmmi_asprintf("it resolves to %s (paths are relative to the "
						   "VMFile's directory); create it, or fix the path",
						   sh->host.path);

			error_at(c, &k->args[0].span, hint, "shared directory `%s` %s",
				 show(buf, sizeof(buf), h, strlen(h)),
				 exists ? "is not a directory" : "does not exist");
			free(hint);
		}
	}
	if (g && g[0] != '/')
		error_at(c, &k->args[1].span, "write the mount point in the guest as an absolute path",
			 "the guest path of a share must be absolute, got `%s`",
			 show(buf, sizeof(buf), g, strlen(g)));
	else if (g && strpbrk(g, " \t\n"))
		error_at(c, &k->args[1].span, "pick a mount point without blanks",
			 "the guest path of a share cannot hold blanks, got `%s`",
			 show(buf, sizeof(buf), g, strlen(g)));
	else if (g)
		sh->guest = xstrdup(c, g);
	p = vmm_kdl_node_prop(k, "readonly");
	if (p) {
		if (p->value.type != VMM_KDL_BOOL)
			error_at(c, &p->value.span, "write readonly=#true or readonly=#false",
				 "`readonly` expects #true or #false");
		else
			sh->readonly = p->value.boolean;
	}
}

/* depends-on "NAME"...: the names as written; they are resolved, and the
 * graph checked for cycles, once every VM is known (check_deps). */
static void parse_depends_on(struct ctx *c, const struct vmm_kdl_node *n,
			     struct vmm_vmfile_vm *vm)
{
	if (!check_shape(c, n, 1, SIZE_MAX, no_names, false))
		return;
	vm->deps = calloc(n->nargs, sizeof(*vm->deps));
	if (!vm->deps) {
		c->diags->oom = true;
		return;
	}
	for (size_t i = 0; i < n->nargs; i++) {
		const char *name = get_string(c, "depends-on", &n->args[i], false);
		struct vmm_vmfile_dep *d = &vm->deps[vm->n_deps];
		bool dup = false;

		if (!name)
			continue;
		for (size_t j = 0; j < vm->n_deps && !dup; j++) {
			if (strcmp(vm->deps[j].name, name) == 0) {
				struct vmm_diag *g;
				char buf[SHOWBUF];

				g = error_at(c, &n->args[i].span, "name each VM once",
					     "`%s` is listed twice in depends-on",
					     show(buf, sizeof(buf), name, strlen(name)));
				vmm_diag_set_related(c->diags, g, vm->deps[j].span, "first listed here");
				dup = true;
			}
		}
		if (dup)
			continue;
		d->name = xstrdup(c, name);
		d->index = SIZE_MAX;
		d->span = sp(&n->args[i].span);
		if (d->name)
			vm->n_deps++;
	}
}

/* ---- libvirt hosts ----------------------------------------------------- */

/* An optional string property of a host node (NULL: absent). */
static char *host_prop(struct ctx *c, const struct vmm_kdl_node *n, const char *key)
{
	const struct vmm_kdl_prop *p = vmm_kdl_node_prop(n, key);
	const char *s = p ? get_string(c, key, &p->value, false) : NULL;

	if (s && !*s) {
		error_at(c, &p->value.span, NULL, "`%s` is empty", key);
		return NULL;
	}
	if (s && strcmp(key, "uri") == 0 && !strstr(s, "://"))
		error_at(c, &p->value.span, "for example: `uri=\"qemu+ssh://admin@build1/system\"`",
			 "`%s` is not a libvirt URI", s);
	return s ? xstrdup(c, s) : NULL;
}

/* `host "NAME" uri=... pool=... network=...` at the top level. */
static void parse_host(struct ctx *c, const struct vmm_kdl_node *n, struct vmm_vmfile *vf)
{
	struct vmm_vmfile_host *h = &vf->hosts[vf->n_hosts];
	const char *name;

	memset(h, 0, sizeof(*h));
	h->span = sp(&n->span);
	if (!check_shape(c, n, 1, 1, host_props, false) ||
	    !(name = get_string(c, "host", &n->args[0], true)))
		return;
	for (size_t i = 0; i < vf->n_hosts; i++) {
		if (vf->hosts[i].name && strcmp(vf->hosts[i].name, name) == 0) {
			struct vmm_diag *g = error_at(c, &n->args[0].span,
						      "host names must be unique within a VMFile",
						      "duplicate host name `%s`", name);

			vmm_diag_set_related(c->diags, g, vf->hosts[i].span, "first defined here");
			return;
		}
	}
	h->name = xstrdup(c, name);
	h->uri = host_prop(c, n, "uri");
	h->pool = host_prop(c, n, "pool");
	h->network = host_prop(c, n, "network");
	vf->n_hosts++;
}

/* `host "NAME"` in a vm block: one of the VMFile's hosts. */
static void parse_vm_host(struct ctx *c, const struct vmm_kdl_node *k, struct vmm_vmfile_vm *vm)
{
	const char **names;
	const char *name, *guess;
	char *hint = NULL;

	if (!check_shape(c, k, 1, 1, no_names, false) ||
	    !(name = get_string(c, "host", &k->args[0], true)))
		return;
	vm->host_span = sp(&k->args[0].span);
	for (size_t i = 0; i < c->vf->n_hosts; i++) {
		if (c->vf->hosts[i].name && strcmp(c->vf->hosts[i].name, name) == 0) {
			vm->host = &c->vf->hosts[i];
			return;
		}
	}
	names = calloc(c->vf->n_hosts + 1, sizeof(*names));
	if (!names) {
		c->diags->oom = true;
		return;
	}
	for (size_t i = 0, nn = 0; i < c->vf->n_hosts; i++)
		if (c->vf->hosts[i].name)
			names[nn++] = c->vf->hosts[i].name;
	guess = vmm_suggest(name, names);
	if (guess)
		hint = vmmi_asprintf("did you mean `%s`?", guess);
	else
		hint = strdup("define it at the top level: `host \"NAME\" "
			      "uri=\"qemu+ssh://user@host/system\"`");
	error_at(c, &k->args[0].span, hint, "unknown host `%s`: the VMFile defines no such host",
		 name);
	free(hint);
	free(names);
}

static void parse_vm(struct ctx *c, const struct vmm_kdl_node *n, struct vmm_vmfile_vm *vm)
{
	struct seen seen = {0};
	const struct vmm_kdl_node *img_node = NULL;
	char block[96], buf[SHOWBUF];

	vm->vcpus = VMM_VMFILE_DEFAULT_VCPUS;
	vm->memory_mb = VMM_VMFILE_DEFAULT_MEMORY_MB;
	vm->network.type = VMM_NET_USER;
	vm->span = sp(&n->span);
	vm->name_span = sp(&n->name_span);
	if (check_shape(c, n, 1, 1, no_names, true)) {
		const char *name = get_string(c, "vm", &n->args[0], true);

		vm->name_span = sp(&n->args[0].span);
		if (name) {
			struct vmm_error e;

			vmm_error_clear(&e);
			if (vmm_vm_name_validate(name, &e) < 0)
				error_at(c, &n->args[0].span, e.hint, "%s", e.message);
			vm->name = xstrdup(c, name);
		}
	}
	snprintf(block, sizeof(block), "vm \"%s\"",
		 vm->name ? show(buf, sizeof(buf), vm->name, strlen(vm->name)) : "?");
	if (!n->has_children) {
		error_at(c, &n->name_span,
			 "for example: `vm \"web\" { image-url \"https://example.com/disk.qcow2\" }`",
			 "%s has no block: it needs at least an image", block);
		return;
	}
	for (size_t i = 0; i < n->nchildren; i++) {
		const struct vmm_kdl_node *k = &n->children[i];
		const char *kn = k->name;
		uint64_t u;

		if (!in_list(kn, vm_nodes) || memchr(kn, '\0', k->name_len)) {
			char *hint = NULL;

			if (in_list(kn, cloud_init_nodes))
				hint = vmmi_asprintf("`%s` belongs in the `cloud-init` block", kn);
			else if (in_list(kn, ssh_nodes))
				hint = vmmi_asprintf("`%s` belongs in the `ssh` block", kn);
			else if (in_list(kn, shell_nodes) || in_list(kn, file_nodes))
				hint = vmmi_asprintf("`%s` belongs in a `provision` block", kn);
			else if (strcmp(kn, "vm") == 0)
				hint = strdup("vm blocks cannot be nested; define each VM at the top "
					      "level");
			unknown_name(c, &k->name_span, "node", kn, k->name_len, block, vm_nodes,
				     hint);
			free(hint);
			continue;
		}
		if (strcmp(kn, "provision") != 0 && strcmp(kn, "share") != 0 &&
		    !first_of(c, &seen, k, block))
			continue;
		if (strcmp(kn, "image") == 0 || strcmp(kn, "image-url") == 0) {
			if (img_node) {
				struct vmm_diag *g = error_at(
					c, &k->name_span, "keep exactly one image source",
					"%s has both `image` and `image-url`", block);

				related(c, g, &img_node->name_span, "first image source");
				continue;
			}
			img_node = k;
			if (strcmp(kn, "image") == 0) {
				vm->image.kind = VMM_IMAGE_LOCAL;
				vm->image.span = sp(&k->span);
				if (check_shape(c, k, 1, 1, no_names, false))
					get_path(c, "image", &k->args[0], &vm->image.local);
			} else {
				parse_image_url(c, k, &vm->image);
			}
		} else if (strcmp(kn, "vcpus") == 0) {
			if (check_shape(c, k, 1, 1, no_names, false) &&
			    get_uint(c, kn, &k->args[0], 1, VMM_VMFILE_MAX_VCPUS, &u)) {
				vm->vcpus = (unsigned)u;
				vm->vcpus_span = sp(&k->args[0].span);
			}
		} else if (strcmp(kn, "memory") == 0) {
			if (check_shape(c, k, 1, 1, no_names, false) &&
			    get_uint(c, kn, &k->args[0], 1, VMM_VMFILE_MAX_MEMORY_MB, &u)) {
				vm->memory_mb = u;
				vm->memory_span = sp(&k->args[0].span);
			}
		} else if (strcmp(kn, "disk") == 0) {
			if (check_shape(c, k, 1, 1, no_names, false) &&
			    get_uint(c, kn, &k->args[0], 1, VMM_VMFILE_MAX_DISK_GB, &u)) {
				vm->disk_gb = (unsigned)u;
				vm->disk_span = sp(&k->args[0].span);
			}
		} else if (strcmp(kn, "network") == 0) {
			parse_network(c, k, &vm->network);
		} else if (strcmp(kn, "backend") == 0) {
			parse_backend(c, k, vm);
		} else if (strcmp(kn, "host") == 0) {
			parse_vm_host(c, k, vm);
		} else if (strcmp(kn, "cloud-init") == 0) {
			vm->cloud_init = calloc(1, sizeof(*vm->cloud_init));
			if (!vm->cloud_init) {
				c->diags->oom = true;
				return;
			}
			parse_cloud_init(c, k, vm->cloud_init);
		} else if (strcmp(kn, "share") == 0) {
			struct vmm_vmfile_share *sh =
				realloc(vm->shares, (vm->n_shares + 1) * sizeof(*sh));

			if (!sh) {
				c->diags->oom = true;
				return;
			}
			vm->shares = sh;
			memset(&sh[vm->n_shares], 0, sizeof(*sh));
			parse_share(c, k, &sh[vm->n_shares]);
			vm->n_shares++;
		} else if (strcmp(kn, "depends-on") == 0) {
			parse_depends_on(c, k, vm);
		} else if (strcmp(kn, "ssh") == 0) {
			vm->ssh = calloc(1, sizeof(*vm->ssh));
			if (!vm->ssh) {
				c->diags->oom = true;
				return;
			}
			parse_ssh(c, k, vm->ssh);
		} else {
			struct vmm_vmfile_provision *p =
				realloc(vm->provisions, (vm->n_provisions + 1) * sizeof(*p));

			if (!p) {
				c->diags->oom = true;
				return;
			}
			vm->provisions = p;
			memset(&p[vm->n_provisions], 0, sizeof(*p));
			parse_provision(c, k, &p[vm->n_provisions]);
			vm->n_provisions++;
		}
	}
	if (!img_node)
		error_at(c, &n->name_span,
			 "add `image \"path/to/disk.qcow2\"` or `image-url \"https://...\"`",
			 "%s has no image source", block);
	if (vm->backend_set && vm->host)
		error_span(c, vm->host_span,
			   "remove `backend` (a VM on a libvirt host runs on libvirt) or `host` (to "
			   "run it with that backend here)",
			   "%s sets both `backend \"%s\"` and `host`", block,
			   vmm_backend_name(vm->backend));
	if (vm->n_shares && !(vm->share_specs = calloc(vm->n_shares, sizeof(*vm->share_specs)))) {
		c->diags->oom = true;
		return;
	}
	for (size_t i = 0; i < vm->n_shares; i++) {
		const struct vmm_vmfile_share *sh = &vm->shares[i];

		if (!sh->host.path || !sh->guest) {
			free(vm->share_specs);
			vm->share_specs = NULL;
			break;
		}
		vm->share_specs[i] = (struct vmm_share){sh->host.path, sh->guest, sh->readonly,
							sh->readonly ? VMM_SHARE_9P
								     : VMM_SHARE_VIRTIOFS};
	}
}

static void vm_release(struct vmm_vmfile_vm *vm);

/* The path of a dependency cycle, for its message: "a -> b -> a". */
static char *cycle_text(const struct vmm_vmfile *vf, const size_t *stack, size_t depth,
			size_t from)
{
	struct vmmi_buf b;
	char buf[SHOWBUF];

	vmmi_buf_init(&b);
	for (size_t i = from; i < depth; i++) {
		const char *name = vf->vms[stack[i]].name;

		if (vmmi_buf_printf(&b, "%s -> ", show(buf, sizeof(buf), name, strlen(name))) < 0)
			goto fail;
	}
	if (vmmi_buf_printf(&b, "%s", show(buf, sizeof(buf), vf->vms[stack[from]].name,
					   strlen(vf->vms[stack[from]].name))) < 0)
		goto fail;
	return vmmi_buf_steal(&b);
fail:
	vmmi_buf_release(&b);
	return NULL;
}

/*
 * Resolve every depends-on name to its VM (an unknown one, or the VM
 * itself, is an error at the name with a did-you-mean), then look for
 * cycles: a depth-first walk in file order, where an edge back to a VM on
 * the current path closes a cycle, reported at that edge's name.
 */
static void check_deps(struct ctx *c, struct vmm_vmfile *vf)
{
	const char **names = calloc(vf->n_vms + 1, sizeof(*names));
	/* 0: not seen, 1: on the current path, 2: done */
	unsigned char *color = calloc(vf->n_vms + 1, 1);
	size_t *stack = calloc(vf->n_vms + 1, sizeof(*stack));
	size_t *edge = calloc(vf->n_vms + 1, sizeof(*edge));
	char buf[SHOWBUF], buf2[SHOWBUF];

	if (!names || !color || !stack || !edge) {
		c->diags->oom = true;
		goto out;
	}
	for (size_t i = 0, n = 0; i < vf->n_vms; i++)
		if (vf->vms[i].name)
			names[n++] = vf->vms[i].name;
	for (size_t i = 0; i < vf->n_vms; i++) {
		struct vmm_vmfile_vm *vm = &vf->vms[i];

		/* a VM without a usable name has its error already */
		for (size_t j = 0; vm->name && j < vm->n_deps; j++) {
			struct vmm_vmfile_dep *d = &vm->deps[j];
			const struct vmm_vmfile_vm *to = vmm_vmfile_find(vf, d->name);
			const char *guess;
			char *hint;

			if (to == vm) {
				error_span(c, d->span, "remove it from depends-on",
					   "VM `%s` depends on itself",
					   show(buf, sizeof(buf), d->name, strlen(d->name)));
				continue;
			}
			if (to) {
				d->index = (size_t)(to - vf->vms);
				continue;
			}
			guess = vmm_suggest(d->name, names);
			if (guess && strcmp(guess, vm->name) == 0)
				guess = NULL;
			hint = guess ? vmmi_asprintf("did you mean `%s`?", guess)
				     : strdup("depends-on names other VMs of this VMFile");
			error_span(c, d->span, hint, "VM `%s` depends on `%s`, which the VMFile "
				   "does not define",
				   show(buf, sizeof(buf), vm->name, strlen(vm->name)),
				   show(buf2, sizeof(buf2), d->name, strlen(d->name)));
			free(hint);
		}
	}
	for (size_t root = 0; root < vf->n_vms; root++) {
		size_t depth = 0;

		if (color[root])
			continue;
		stack[depth] = root;
		edge[depth++] = 0;
		color[root] = 1;
		while (depth > 0) {
			size_t at = stack[depth - 1];
			const struct vmm_vmfile_vm *vm = &vf->vms[at];
			const struct vmm_vmfile_dep *d;

			if (edge[depth - 1] >= vm->n_deps) {
				color[at] = 2;
				depth--;
				continue;
			}
			d = &vm->deps[edge[depth - 1]++];
			if (d->index == SIZE_MAX)
				continue;
			if (color[d->index] == 1) {
				size_t from = 0;
				char *path;

				while (stack[from] != d->index)
					from++;
				path = cycle_text(vf, stack, depth, from);
				error_span(c, d->span,
					   "remove one of the depends-on in the cycle: each VM waits "
					   "for the next, so none could start",
					   "dependency cycle: %s", path ? path : "?");
				free(path);
			} else if (color[d->index] == 0) {
				color[d->index] = 1;
				stack[depth] = d->index;
				edge[depth++] = 0;
			}
		}
	}
out:
	free(names);
	free(color);
	free(stack);
	free(edge);
}

static int cmp_vm_by_name(const void *a, const void *b)
{
	const struct vmm_vmfile_vm *x = *(const struct vmm_vmfile_vm *const *)a;
	const struct vmm_vmfile_vm *y = *(const struct vmm_vmfile_vm *const *)b;
	int r = strcmp(x->name, y->name);

	return r ? r : (x < y ? -1 : x > y); /* the first defined first */
}

/* Every VM whose name an earlier VM has, pointing back at the first one:
 * sorted by name, so that a file of many VMs is checked in n log n. */
static void report_duplicate_names(struct ctx *c, const struct vmm_vmfile *vf)
{
	const struct vmm_vmfile_vm **by_name = calloc(vf->n_vms + 1, sizeof(*by_name));
	size_t n = 0;

	if (!by_name) {
		c->diags->oom = true;
		return;
	}
	for (size_t i = 0; i < vf->n_vms; i++)
		if (vf->vms[i].name)
			by_name[n++] = &vf->vms[i];
	qsort(by_name, n, sizeof(*by_name), cmp_vm_by_name);
	for (size_t i = 1, first = 0; i < n; i++) {
		struct vmm_diag *g;

		if (strcmp(by_name[i]->name, by_name[first]->name) != 0) {
			first = i;
			continue;
		}
		g = error_span(c, by_name[i]->name_span, "VM names must be unique within a VMFile",
			       "duplicate VM name `%s`", by_name[i]->name);
		vmm_diag_set_related(c->diags, g, by_name[first]->name_span, "first defined here");
	}
	free(by_name);
}

int vmmi_vmfile_from_document(const struct vmm_kdl_document *doc, const char *base_dir,
			      unsigned flags, struct vmm_diags *diags, struct vmm_vmfile **out)
{
	struct ctx c = {diags, base_dir, flags, 0, NULL};
	struct vmm_vmfile *vf = calloc(1, sizeof(*vf));
	bool unknown_top = false;
	size_t nvm = 0, nhost = 0;

	*out = NULL;
	if (!vf)
		return -VMM_E_NOMEM;
	vf->kdl_version = doc->version == VMM_KDL_V1 ? 1 : 2;
	for (size_t i = 0; i < doc->nnodes; i++)
		if (strcmp(doc->nodes[i].name, "vm") == 0)
			nvm++;
	vf->vms = calloc(nvm ? nvm : 1, sizeof(*vf->vms));
	/* the hosts first: a vm may name one defined below it */
	for (size_t i = 0; i < doc->nnodes; i++)
		if (strcmp(doc->nodes[i].name, "host") == 0)
			nhost++;
	vf->hosts = calloc(nhost ? nhost : 1, sizeof(*vf->hosts));
	if (!vf->vms || !vf->hosts) {
		free(vf->vms);
		free(vf->hosts);
		free(vf);
		return -VMM_E_NOMEM;
	}
	c.vf = vf;
	for (size_t i = 0; i < doc->nnodes; i++)
		if (strcmp(doc->nodes[i].name, "host") == 0 &&
		    !memchr(doc->nodes[i].name, '\0', doc->nodes[i].name_len))
			parse_host(&c, &doc->nodes[i], vf);
	for (size_t i = 0; i < doc->nnodes; i++) {
		const struct vmm_kdl_node *n = &doc->nodes[i];
		struct vmm_vmfile_vm *vm;

		if (strcmp(n->name, "host") == 0 && !memchr(n->name, '\0', n->name_len))
			continue;
		if (strcmp(n->name, "vm") != 0 || memchr(n->name, '\0', n->name_len)) {
			char *hint = NULL;

			if (in_list(n->name, vm_nodes))
				hint = vmmi_asprintf("`%s` belongs inside a `vm \"NAME\" { ... }` "
						     "block",
						     n->name);
			else
				hint = vmm_suggest(n->name, top_nodes)
					       ? NULL
					       : strdup("a VMFile holds `vm \"NAME\" { ... }` "
							"blocks only");
			unknown_name(&c, &n->name_span, "top-level node", n->name, n->name_len,
				     NULL, top_nodes, hint);
			free(hint);
			unknown_top = true;
			continue;
		}
		vm = &vf->vms[vf->n_vms++];
		parse_vm(&c, n, vm);
	}
	report_duplicate_names(&c, vf);
	check_deps(&c, vf);
	if (vf->n_vms == 0 && !unknown_top) {
		struct vmm_span start = {0, 0, 1, 1};

		error_span(&c, start, "add a block such as `vm \"web\" { image-url \"https://...\" }`",
			   "the VMFile defines no VM");
	}
	if (diags->oom) {
		vmm_vmfile_free(vf);
		return -VMM_E_NOMEM;
	}
	if (c.nerr) {
		vmm_diags_sort(diags);
		vmm_vmfile_free(vf);
		return -VMM_E_VMFILE_VALIDATION;
	}
	vmm_debug(MOD, "VMFile has %zu VM%s (KDL %u)", vf->n_vms, vf->n_vms == 1 ? "" : "s",
		  vf->kdl_version);
	*out = vf;
	return 0;
}

static void path_release(struct vmm_vmfile_path *p)
{
	free(p->raw);
	free(p->path);
}

static void vm_release(struct vmm_vmfile_vm *vm)
{
	free(vm->name);
	path_release(&vm->image.local);
	free(vm->image.url);
	free(vm->image.sha256);
	free(vm->network.bridge);
	free(vm->network.vnic);
	free(vm->network.forwards);
	free(vm->network.forward_spans);
	if (vm->cloud_init) {
		free(vm->cloud_init->hostname);
		path_release(&vm->cloud_init->ssh_key);
		path_release(&vm->cloud_init->user_data);
		free(vm->cloud_init);
	}
	if (vm->ssh) {
		free(vm->ssh->user);
		path_release(&vm->ssh->private_key);
		free(vm->ssh);
	}
	for (size_t i = 0; i < vm->n_provisions; i++) {
		struct vmm_vmfile_provision *p = &vm->provisions[i];

		free(p->inline_cmd);
		path_release(&p->script);
		path_release(&p->source);
		free(p->destination);
	}
	free(vm->provisions);
	for (size_t i = 0; i < vm->n_shares; i++) {
		path_release(&vm->shares[i].host);
		free(vm->shares[i].guest);
	}
	free(vm->shares);
	free(vm->share_specs);
	for (size_t i = 0; i < vm->n_deps; i++)
		free(vm->deps[i].name);
	free(vm->deps);
}

void vmm_vmfile_free(struct vmm_vmfile *vf)
{
	if (!vf)
		return;
	for (size_t i = 0; i < vf->n_vms; i++)
		vm_release(&vf->vms[i]);
	free(vf->vms);
	for (size_t i = 0; i < vf->n_hosts; i++) {
		free(vf->hosts[i].name);
		free(vf->hosts[i].uri);
		free(vf->hosts[i].pool);
		free(vf->hosts[i].network);
	}
	free(vf->hosts);
	free(vf->path);
	free(vf->base_dir);
	free(vf);
}

int vmm_vmfile_order(const struct vmm_vmfile *vf, size_t *order, struct vmm_error *err)
{
	bool *placed = calloc(vf->n_vms + 1, sizeof(*placed));
	size_t n = 0;

	if (!placed)
		return vmm_error_set(err, VMM_E_NOMEM, ENOMEM, NULL, "out of memory");
	/* n_vms rounds at most: each places the first VM (in file order) whose
	 * dependencies are all placed; validation ruled out cycles */
	while (n < vf->n_vms) {
		size_t pick = SIZE_MAX;

		for (size_t i = 0; i < vf->n_vms && pick == SIZE_MAX; i++) {
			bool ready = !placed[i];

			for (size_t j = 0; ready && j < vf->vms[i].n_deps; j++) {
				size_t d = vf->vms[i].deps[j].index;

				ready = d >= vf->n_vms || placed[d];
			}
			if (ready)
				pick = i;
		}
		if (pick == SIZE_MAX) /* a cycle after all: the rest in file order */
			for (size_t i = 0; i < vf->n_vms && pick == SIZE_MAX; i++)
				if (!placed[i])
					pick = i;
		placed[pick] = true;
		order[n++] = pick;
	}
	free(placed);
	return 0;
}

void vmm_vmfile_with_deps(const struct vmm_vmfile *vf, size_t i, bool *sel)
{
	if (i >= vf->n_vms || sel[i])
		return;
	sel[i] = true;
	for (size_t j = 0; j < vf->vms[i].n_deps; j++)
		vmm_vmfile_with_deps(vf, vf->vms[i].deps[j].index, sel);
}
