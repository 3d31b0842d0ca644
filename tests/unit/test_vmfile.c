/* SPDX-License-Identifier: MIT */
/* Unit tests of the VMFile API (vmm/vmfile.h) and the diagnostics renderer
 * (vmm/diag.h). The golden corpus in tests/vmfile/ covers the messages
 * through the CLI; these cover the library's contract. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/diag.h"
#include "vmm/vmfile.h"

static int parse(const char *text, unsigned flags, struct vmm_vmfile **vf,
		 struct vmm_diags *d, struct vmm_error *err)
{
	vmm_diags_init(d);
	vmm_error_clear(err);
	return vmm_vmfile_parse(text, strlen(text), "VMFile.kdl", "/base", flags, vf, d, err);
}

static void test_defaults(void **state)
{
	struct vmm_vmfile *vf;
	struct vmm_diags d;
	struct vmm_error err;
	const struct vmm_vmfile_vm *vm;

	(void)state;
	assert_int_equal(parse("vm \"m\" { image-url \"https://example.com/a.img\"; }\n", 0, &vf,
			       &d, &err),
			 0);
	assert_int_equal(d.n, 0);
	assert_int_equal(vf->n_vms, 1);
	assert_string_equal(vf->base_dir, "/base");
	assert_string_equal(vf->path, "");
	assert_int_equal(vf->kdl_version, 2);
	vm = &vf->vms[0];
	assert_string_equal(vm->name, "m");
	assert_int_equal(vm->image.kind, VMM_IMAGE_URL);
	assert_string_equal(vm->image.url, "https://example.com/a.img");
	assert_null(vm->image.sha256);
	assert_int_equal(vm->vcpus, 1);
	assert_int_equal(vm->memory_mb, 1024);
	assert_int_equal(vm->disk_gb, 0);
	assert_int_equal(vm->network.type, VMM_NET_USER);
	assert_null(vm->network.bridge);
	assert_null(vm->cloud_init);
	assert_null(vm->ssh);
	assert_int_equal(vm->n_provisions, 0);
	assert_int_equal(vm->name_span.line, 1);
	assert_int_equal(vm->name_span.column, 4);
	vmm_vmfile_free(vf);
	vmm_diags_release(&d);
}

/* share nodes: in file order, host paths resolved against the VMFile's
 * directory, readonly, and the list create takes (vmm_vmfile_vm_spec). */
static void test_shares(void **state)
{
	struct vmm_vmfile *vf;
	struct vmm_diags d;
	struct vmm_error err;
	struct vmm_vm_spec spec;
	const struct vmm_vmfile_vm *vm;

	(void)state;
	assert_int_equal(parse("vm \"m\" {\n"
			       "    image-url \"https://example.com/a.img\"\n"
			       "    share \"src\" \"/home/vm/src\"\n"
			       "    share \"/abs/data\" \"/srv/data\" readonly=#true\n"
			       "    share \"../up\" \"/up\" readonly=#false\n"
			       "}\n",
			       VMM_VMFILE_NO_FS_CHECKS, &vf, &d, &err),
			 0);
	assert_int_equal(d.n, 0);
	vm = &vf->vms[0];
	assert_int_equal(vm->n_shares, 3);
	assert_string_equal(vm->shares[0].host.raw, "src");
	assert_string_equal(vm->shares[0].host.path, "/base/src");
	assert_string_equal(vm->shares[0].guest, "/home/vm/src");
	assert_false(vm->shares[0].readonly);
	assert_int_equal(vm->shares[0].span.line, 3);
	assert_int_equal(vm->shares[0].host.span.column, 11);
	assert_string_equal(vm->shares[1].host.path, "/abs/data");
	assert_true(vm->shares[1].readonly);
	assert_string_equal(vm->shares[2].host.path, "/base/../up");
	assert_false(vm->shares[2].readonly);
	vmm_vmfile_vm_spec(vm, &spec);
	assert_int_equal(spec.n_shares, 3);
	assert_string_equal(spec.shares[1].host, "/abs/data");
	assert_string_equal(spec.shares[1].guest, "/srv/data");
	assert_true(spec.shares[1].readonly);
	vmm_vmfile_free(vf);
	vmm_diags_release(&d);
	/* without shares, none */
	assert_int_equal(parse("vm \"m\" { image-url \"https://example.com/a.img\"; }\n", 0, &vf,
			       &d, &err),
			 0);
	vmm_vmfile_vm_spec(&vf->vms[0], &spec);
	assert_int_equal(spec.n_shares, 0);
	assert_null(spec.shares);
	vmm_vmfile_free(vf);
	vmm_diags_release(&d);
}

static void test_everything_resolved(void **state)
{
	const char *text = "vm \"a\" {\n"
			   "  image \"img/disk.qcow2\"\n"
			   "  vcpus 4; memory 8192; disk 30\n"
			   "  network \"tap\"\n"
			   "  cloud-init { hostname \"h\"; ssh-key \"~/k.pub\"; user-data \"ud.yaml\"; }\n"
			   "  ssh {}\n"
			   "  provision \"shell\" { inline \"echo 1\"; }\n"
			   "  provision \"shell\" { script \"./s//x.sh\"; }\n"
			   "  provision \"file\" { source \"../f\"; destination \"/d\"; }\n"
			   "}\n"
			   "vm \"b\" { image-url \"http://h/x\" sha256=\"" 
			   "ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789\"; "
			   "network \"vnic\" name=\"v0\"; ssh { user \"u\"; private-key \"/k\"; } }\n";
	struct vmm_vmfile *vf;
	struct vmm_diags d;
	struct vmm_error err;
	const struct vmm_vmfile_vm *a, *b;
	const char *home = getenv("HOME");
	char want[4096];

	(void)state;
	assert_int_equal(parse(text, VMM_VMFILE_NO_FS_CHECKS, &vf, &d, &err), 0);
	assert_int_equal(vf->n_vms, 2);
	a = vmm_vmfile_find(vf, "a");
	b = vmm_vmfile_find(vf, "b");
	assert_non_null(a);
	assert_non_null(b);
	assert_null(vmm_vmfile_find(vf, "c"));
	assert_int_equal(a->image.kind, VMM_IMAGE_LOCAL);
	assert_string_equal(a->image.local.raw, "img/disk.qcow2");
	assert_string_equal(a->image.local.path, "/base/img/disk.qcow2");
	assert_int_equal(a->image.local.span.line, 2);
	assert_int_equal(a->image.local.span.column, 9);
	assert_int_equal(a->vcpus, 4);
	assert_int_equal(a->memory_mb, 8192);
	assert_int_equal(a->disk_gb, 30);
	assert_int_equal(a->vcpus_span.line, 3);
	assert_int_equal(a->vcpus_span.column, 9);
	assert_int_equal(a->memory_span.column, 19);
	assert_int_equal(a->disk_span.column, 30);
	assert_int_equal(b->vcpus_span.line, 0);
	assert_int_equal(a->network.type, VMM_NET_TAP);
	assert_string_equal(a->network.bridge, "br0");
	assert_non_null(a->cloud_init);
	assert_string_equal(a->cloud_init->hostname, "h");
	snprintf(want, sizeof(want), "%s/k.pub", home && *home ? home : "/");
	assert_string_equal(a->cloud_init->ssh_key.path, want);
	assert_string_equal(a->cloud_init->user_data.path, "/base/ud.yaml");
	assert_non_null(a->ssh);
	assert_string_equal(a->ssh->user, "vm");
	assert_null(a->ssh->private_key.path);
	assert_int_equal(a->n_provisions, 3);
	assert_int_equal(a->provisions[0].kind, VMM_PROVISION_SHELL);
	assert_string_equal(a->provisions[0].inline_cmd, "echo 1");
	assert_null(a->provisions[0].script.path);
	assert_int_equal(a->provisions[1].kind, VMM_PROVISION_SHELL);
	assert_null(a->provisions[1].inline_cmd);
	assert_string_equal(a->provisions[1].script.path, "/base/s/x.sh");
	assert_int_equal(a->provisions[2].kind, VMM_PROVISION_FILE);
	assert_string_equal(a->provisions[2].source.path, "/base/../f");
	assert_string_equal(a->provisions[2].destination, "/d");
	assert_int_equal(a->provisions[2].span.line, 9);

	{
		struct vmm_vm_spec spec;

		vmm_vmfile_vm_spec(a, &spec);
		assert_string_equal(spec.name, "a");
		assert_string_equal(spec.image_path, "/base/img/disk.qcow2");
		assert_null(spec.image_url);
		assert_int_equal(spec.vcpus, 4);
		assert_int_equal(spec.memory_mb, 8192);
		assert_int_equal(spec.disk_gb, 30);
		assert_int_equal(spec.network.type, VMM_NET_TAP);
		assert_string_equal(spec.network.bridge, "br0");
		assert_string_equal(spec.ssh_user, "vm");
		assert_null(spec.cloud_init);
		vmm_vmfile_vm_spec(b, &spec);
		assert_null(spec.image_path);
		assert_string_equal(spec.image_url, "http://h/x");
		assert_string_equal(spec.network.vnic, "v0");
	}
	assert_int_equal(b->image.kind, VMM_IMAGE_URL);
	assert_string_equal(b->image.sha256,
			    "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
	assert_int_equal(b->network.type, VMM_NET_VNIC);
	assert_string_equal(b->network.vnic, "v0");
	assert_string_equal(b->ssh->user, "u");
	assert_string_equal(b->ssh->private_key.path, "/k");
	vmm_vmfile_free(vf);
	vmm_diags_release(&d);
}

/* libvirt hosts: defined at the top level (before or after the VMs that
 * name them), resolved into the VM and its create spec. */
static void test_hosts(void **state)
{
	const char *text = "vm \"a\" {\n    image-url \"https://e.com/a.img\"\n"
			   "    host \"build1\"\n}\n"
			   "vm \"b\" { image-url \"https://e.com/a.img\"; }\n"
			   "host \"build1\" uri=\"qemu+ssh://admin@build1/system\" pool=\"fast\" "
			   "network=\"lan\"\n"
			   "host \"build2\"\n";
	struct vmm_vmfile *vf;
	struct vmm_diags d;
	struct vmm_error err;
	struct vmm_vm_spec spec;

	(void)state;
	assert_int_equal(parse(text, 0, &vf, &d, &err), 0);
	assert_int_equal(vf->n_hosts, 2);
	assert_string_equal(vf->hosts[0].name, "build1");
	assert_string_equal(vf->hosts[0].uri, "qemu+ssh://admin@build1/system");
	assert_string_equal(vf->hosts[0].pool, "fast");
	assert_string_equal(vf->hosts[0].network, "lan");
	assert_null(vf->hosts[1].uri); /* LIBVIRT_DEFAULT_URI at create */
	assert_ptr_equal(vf->vms[0].host, &vf->hosts[0]);
	assert_int_equal(vf->vms[0].host_span.line, 3);
	assert_null(vf->vms[1].host);
	vmm_vmfile_vm_spec(&vf->vms[0], &spec);
	assert_string_equal(spec.uri, "qemu+ssh://admin@build1/system");
	assert_string_equal(spec.host, "build1");
	assert_string_equal(spec.pool, "fast");
	assert_string_equal(spec.libvirt_network, "lan");
	vmm_vmfile_vm_spec(&vf->vms[1], &spec);
	assert_null(spec.uri);
	assert_null(spec.host);
	vmm_vmfile_free(vf);
	vmm_diags_release(&d);
}

static void test_host_errors(void **state)
{
	const char *text = "host \"build1\" uri=\"qemu+ssh://b1/system\"\n"
			   "host \"build1\"\n"
			   "host \"x\" uri=\"nonsense\" colour=\"red\"\n"
			   "vm \"a\" {\n    image-url \"https://e.com/a.img\"\n"
			   "    host \"biuld1\"\n}\n";
	struct vmm_vmfile *vf = (struct vmm_vmfile *)1;
	struct vmm_diags d;
	struct vmm_error err;

	(void)state;
	assert_int_equal(parse(text, 0, &vf, &d, &err), -VMM_E_VMFILE_VALIDATION);
	assert_null(vf);
	assert_int_equal(d.n, 4);
	assert_string_equal(d.items[0].message, "duplicate host name `build1`");
	assert_int_equal(d.items[0].span.line, 2);
	assert_string_equal(d.items[1].message, "`nonsense` is not a libvirt URI");
	assert_int_equal(d.items[1].span.line, 3);
	assert_string_equal(d.items[2].message, "unknown property `colour` on `host`");
	assert_string_equal(d.items[3].message,
			    "unknown host `biuld1`: the VMFile defines no such host");
	assert_string_equal(d.items[3].hint, "did you mean `build1`?");
	assert_int_equal(d.items[3].span.line, 6);
	assert_int_equal(d.items[3].span.column, 10);
	vmm_diags_release(&d);
}

static void test_collects_all_errors_sorted(void **state)
{
	/* The missing image is found after the children are checked, but is
	 * reported in source order (at the vm node, first). */
	const char *text = "vm \"web\" {\n"
			   "    cpus 4\n"
			   "    memory -5\n"
			   "    disk \"big\"\n"
			   "}\n";
	struct vmm_vmfile *vf = (struct vmm_vmfile *)1;
	struct vmm_diags d;
	struct vmm_error err;

	(void)state;
	assert_int_equal(parse(text, 0, &vf, &d, &err), -VMM_E_VMFILE_VALIDATION);
	assert_null(vf);
	assert_int_equal(err.code, VMM_E_VMFILE_VALIDATION);
	assert_string_equal(err.message, "VMFile.kdl has 4 errors");
	assert_int_equal(d.n, 4);
	assert_string_equal(d.items[0].message, "vm \"web\" has no image source");
	assert_int_equal(d.items[0].span.line, 1);
	assert_string_equal(d.items[1].message, "unknown node `cpus` in vm \"web\"");
	assert_string_equal(d.items[1].hint, "did you mean `vcpus`?");
	assert_int_equal(d.items[1].span.line, 2);
	assert_int_equal(d.items[1].span.column, 5);
	assert_int_equal(d.items[1].span.offset, 15);
	assert_int_equal(d.items[1].span.length, 4);
	assert_int_equal(d.items[2].span.line, 3);
	assert_non_null(strstr(d.items[2].message, "`memory` must be between 1 and"));
	assert_int_equal(d.items[3].span.line, 4);
	assert_non_null(strstr(d.items[3].message, "expects an integer"));
	for (size_t i = 0; i < d.n; i++)
		assert_int_equal(d.items[i].code, VMM_E_VMFILE_VALIDATION);
	vmm_diags_release(&d);
}

static void test_syntax_error(void **state)
{
	struct vmm_vmfile *vf;
	struct vmm_diags d;
	struct vmm_error err;

	(void)state;
	assert_int_equal(parse("vm \"a\" {\n  image \"x\n}\n", 0, &vf, &d, &err),
			 -VMM_E_VMFILE_PARSE);
	assert_null(vf);
	assert_int_equal(err.code, VMM_E_VMFILE_PARSE);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.items[0].code, VMM_E_VMFILE_PARSE);
	/* KDL 2 stops at the newline (line 2); KDL 1, which allows it, at the
	 * end of input (line 4): the parser reports the error of the grammar
	 * that got further. */
	assert_true(d.items[0].span.line >= 2);
	assert_non_null(d.items[0].hint);
	vmm_diags_release(&d);
}

static void test_render_exact(void **state)
{
	const char *text = "vm \"web\" {\n"
			   "    image-url \"https://example.com/a.img\"\n"
			   "    cpus 4\n"
			   "}\n";
	struct vmm_vmfile *vf;
	struct vmm_diags d;
	struct vmm_error err;
	char *out;

	(void)state;
	assert_int_equal(parse(text, 0, &vf, &d, &err), -VMM_E_VMFILE_VALIDATION);
	assert_int_equal(d.n, 1);
	out = vmm_diags_render(&d, 0);
	assert_non_null(out);
	assert_string_equal(out, "error[vm_manager::vmfile::validation]: unknown node `cpus` in vm "
				 "\"web\"\n"
				 "  --> VMFile.kdl:3:5\n"
				 "   |\n"
				 " 3 |     cpus 4\n"
				 "   |     ^^^^\n"
				 "   = help: did you mean `vcpus`?\n");
	free(out);
	out = vmm_diags_render(&d, VMM_DIAG_COLOR);
	assert_non_null(strstr(out, "\033["));
	free(out);
	vmm_diags_release(&d);
}

static void test_render_is_safe(void **state)
{
	/* Control characters, invalid UTF-8, a bidi override and a tab in the
	 * line and in the message. */
	static const char src[] = "a\tb\x1b[31m\xff\xe2\x80\xae z\n";
	struct vmm_diags d;
	struct vmm_span s = {13, 1, 1, 12};
	struct vmm_span r = {0, 1, 1, 1};
	struct vmm_diag *g;
	char *out;

	(void)state;
	vmm_diags_init(&d);
	assert_int_equal(vmm_diags_set_source(&d, "f.kdl", src, sizeof(src) - 1), 0);
	g = vmm_diags_add(&d, VMM_E_VMFILE_VALIDATION, s, "hint\x07", "bad `%s`", "\x1b\xe2\x80\xae");
	assert_non_null(g);
	vmm_diag_set_related(&d, g, r, "here");
	out = vmm_diags_render(&d, 0);
	assert_non_null(out);
	for (const unsigned char *p = (const unsigned char *)out; *p; p++)
		assert_true(*p >= 0x20 || *p == '\n');
	assert_null(strstr(out, "\xe2\x80\xae"));
	assert_non_null(strstr(out, "bad `\\x1b\\u{202e}`"));
	assert_non_null(strstr(out, "= help: hint\\x07\n"));
	/* "a" + tab (4 columns) + "b" + ESC "[31m" + invalid byte + U+202E
	 * = 1+4+1+1+4+1+1 = 13 columns before the space; the caret is on 'z'. */
	assert_non_null(strstr(out, " 1 | a    b\xef\xbf\xbd[31m\xef\xbf\xbd\xef\xbf\xbd z\n"));
	assert_non_null(strstr(out, "   | -             ^\n"));
	assert_non_null(strstr(out, "   | |\n   | here\n"));
	free(out);
	vmm_diags_release(&d);
}

static void test_render_spans_at_edges(void **state)
{
	struct vmm_diags d;
	struct vmm_span eof = {5, 0, 2, 1};
	struct vmm_span none = {0, 0, 0, 0};
	struct vmm_span past = {100, 50, 9, 9};
	char *out;

	(void)state;
	vmm_diags_init(&d);
	assert_int_equal(vmm_diags_set_source(&d, "f", "abcd\n", 5), 0);
	vmm_diags_add(&d, VMM_E_VMFILE_PARSE, eof, NULL, "unexpected end");
	vmm_diags_add(&d, VMM_E_VMFILE_VALIDATION, none, NULL, "no position");
	vmm_diags_add(&d, VMM_E_VMFILE_VALIDATION, past, NULL, "past the end");
	out = vmm_diags_render(&d, 0);
	assert_non_null(out);
	assert_non_null(strstr(out, " 2 | \n   | ^\n"));
	assert_non_null(strstr(out, "no position\n  --> f\n"));
	assert_non_null(strstr(out, "past the end\n  --> f:9:9\n"));
	free(out);
	vmm_diags_release(&d);
}

static void test_select(void **state)
{
	struct vmm_vmfile *vf;
	struct vmm_diags d;
	struct vmm_error err;
	const struct vmm_vmfile_vm *vm;

	(void)state;
	assert_int_equal(parse("vm \"web\" { image-url \"https://e/a\"; }\n"
			       "vm \"db\" { image-url \"https://e/b\"; }\n",
			       0, &vf, &d, &err),
			 0);
	assert_int_equal(vmm_vmfile_select(vf, "db", &vm, &err), 0);
	assert_string_equal(vm->name, "db");
	assert_int_equal(vmm_vmfile_select(vf, NULL, &vm, &err), -VMM_E_USAGE);
	assert_null(vm);
	assert_non_null(strstr(err.hint, "web, db"));
	assert_int_equal(vmm_vmfile_select(vf, "wbe", &vm, &err), -VMM_E_VM_NOT_FOUND);
	assert_non_null(strstr(err.hint, "did you mean 'web'?"));
	vmm_vmfile_free(vf);
	vmm_diags_release(&d);

	assert_int_equal(parse("vm \"only\" { image-url \"https://e/a\"; }\n", 0, &vf, &d, &err),
			 0);
	assert_int_equal(vmm_vmfile_select(vf, NULL, &vm, &err), 0);
	assert_string_equal(vm->name, "only");
	vmm_vmfile_free(vf);
	vmm_diags_release(&d);
}

static void test_resolve_path(void **state)
{
	char *p, *cwd = getcwd(NULL, 0), want[4096];
	const char *home = getenv("HOME");

	(void)state;
	assert_non_null(cwd);
	p = vmm_vmfile_resolve_path("a/./b//c/", "/base");
	assert_string_equal(p, "/base/a/b/c");
	free(p);
	p = vmm_vmfile_resolve_path("/abs//x", "/base");
	assert_string_equal(p, "/abs/x");
	free(p);
	p = vmm_vmfile_resolve_path("../x", "/base/");
	assert_string_equal(p, "/base/../x");
	free(p);
	p = vmm_vmfile_resolve_path("~", "/base");
	assert_string_equal(p, home && *home ? home : "/");
	free(p);
	snprintf(want, sizeof(want), "%s/.ssh/k", home && *home ? home : "");
	p = vmm_vmfile_resolve_path("~/.ssh/k", "/base");
	assert_string_equal(p, want);
	free(p);
	p = vmm_vmfile_resolve_path("~root/x", "/base");
	assert_string_equal(p, "/root/x");
	free(p);
	p = vmm_vmfile_resolve_path("~no-such-user-here/x", "/base");
	assert_string_equal(p, "/base/~no-such-user-here/x");
	free(p);
	snprintf(want, sizeof(want), "%s/rel/x", strcmp(cwd, "/") ? cwd : "");
	p = vmm_vmfile_resolve_path("x", "rel");
	assert_string_equal(p, want);
	free(p);
	snprintf(want, sizeof(want), "%s/x", strcmp(cwd, "/") ? cwd : "");
	p = vmm_vmfile_resolve_path("x", NULL);
	assert_string_equal(p, want);
	free(p);
	assert_null(vmm_vmfile_resolve_path(NULL, "/base"));
	free(cwd);
}

static void test_load_and_discover(void **state)
{
	char dir[] = "/tmp/vmfile-test-XXXXXX", *path = NULL, *old = getcwd(NULL, 0);
	char file[256], sub[256], *real;
	struct vmm_vmfile *vf;
	struct vmm_diags d;
	struct vmm_error err;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	real = realpath(dir, NULL);
	assert_non_null(real);
	assert_int_equal(chdir(dir), 0);

	/* Nothing there yet. */
	assert_int_equal(vmm_vmfile_discover(NULL, &path, &err), -VMM_E_VMFILE_NOT_FOUND);
	assert_null(path);
	assert_string_equal(err.hint, vmm_errcode_default_hint(VMM_E_VMFILE_NOT_FOUND));
	assert_int_equal(vmm_vmfile_discover("nope.kdl", &path, &err), -VMM_E_VMFILE_NOT_FOUND);

	snprintf(file, sizeof(file), "%s/VMFile.kdl", dir);
	f = fopen(file, "w");
	assert_non_null(f);
	fputs("vm \"x\" { image \"disk.img\"; }\n", f);
	fclose(f);

	assert_int_equal(vmm_vmfile_discover(NULL, &path, &err), 0);
	assert_string_equal(path, "VMFile.kdl");
	/* The disk does not exist yet: an error at its line. */
	vmm_diags_init(&d);
	assert_int_equal(vmm_vmfile_load(path, 0, &vf, &d, &err), -VMM_E_VMFILE_VALIDATION);
	assert_int_equal(d.n, 1);
	assert_non_null(strstr(d.items[0].message, "does not exist"));
	assert_string_equal(d.file, "VMFile.kdl");
	vmm_diags_release(&d);
	/* ... unless file checks are off. */
	assert_int_equal(vmm_vmfile_load(path, VMM_VMFILE_NO_FS_CHECKS, &vf, NULL, &err), 0);
	vmm_vmfile_free(vf);

	snprintf(sub, sizeof(sub), "%s/disk.img", dir);
	f = fopen(sub, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(vmm_vmfile_load(path, 0, &vf, NULL, &err), 0);
	snprintf(file, sizeof(file), "%s/VMFile.kdl", real);
	assert_string_equal(vf->path, file);
	assert_string_equal(vf->base_dir, real);
	snprintf(sub, sizeof(sub), "%s/disk.img", real);
	assert_string_equal(vf->vms[0].image.local.path, sub);
	vmm_vmfile_free(vf);
	free(path);

	/* --file naming the directory finds the VMFile.kdl inside it. */
	assert_int_equal(chdir("/"), 0);
	assert_int_equal(vmm_vmfile_discover(dir, &path, &err), 0);
	snprintf(file, sizeof(file), "%s/VMFile.kdl", dir);
	assert_string_equal(path, file);
	free(path);
	/* Loading a directory is an error, not a crash. */
	assert_int_equal(vmm_vmfile_load(dir, 0, &vf, NULL, &err), -VMM_E_VMFILE_NOT_FOUND);

	unlink(sub);
	snprintf(sub, sizeof(sub), "%s/disk.img", dir);
	unlink(sub);
	unlink(file);
	rmdir(dir);
	assert_int_equal(chdir(old), 0);
	free(old);
	free(real);
}

static void test_kdl_v1_document(void **state)
{
	struct vmm_vmfile *vf;
	struct vmm_diags d;
	struct vmm_error err;

	(void)state;
	assert_int_equal(parse("vm \"legacy\" { image-url r\"https://e/a\"; vcpus 2; }\n", 0, &vf,
			       &d, &err),
			 0);
	assert_int_equal(vf->kdl_version, 1);
	assert_string_equal(vf->vms[0].image.url, "https://e/a");
	vmm_vmfile_free(vf);
	vmm_diags_release(&d);
}

static void test_binary_garbage(void **state)
{
	unsigned char buf[512];
	struct vmm_vmfile *vf;
	struct vmm_diags d;
	struct vmm_error err;
	char *out;

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 37 + 11);
	vmm_diags_init(&d);
	assert_int_equal(vmm_vmfile_parse((const char *)buf, sizeof(buf), "bin", "/", 0, &vf, &d,
					  &err),
			 -VMM_E_VMFILE_PARSE);
	assert_int_equal(d.n, 1);
	out = vmm_diags_render(&d, 0);
	assert_non_null(out);
	for (const unsigned char *p = (const unsigned char *)out; *p; p++)
		assert_true(*p >= 0x20 || *p == '\n');
	free(out);
	vmm_diags_release(&d);
}

static void test_diags_optional(void **state)
{
	struct vmm_vmfile *vf;
	struct vmm_error err;
	const char *bad = "vm \"a\" { cpus 1; }\n";

	(void)state;
	assert_int_equal(vmm_vmfile_parse(bad, strlen(bad), NULL, NULL, 0, &vf, NULL, &err),
			 -VMM_E_VMFILE_VALIDATION);
	assert_null(vf);
	assert_string_equal(err.message, "<input> has 2 errors");
	vmm_vmfile_free(NULL);
	assert_string_equal(vmm_image_kind_name(VMM_IMAGE_URL), "url");
	assert_string_equal(vmm_provision_kind_name(VMM_PROVISION_FILE), "file");
}

#define IMG "image-url \"https://example.com/a.img\"; "

static void test_depends_on_graph(void **state)
{
	/* a diamond declared out of order: d needs b and c, both need a */
	const char *text = "vm \"d\" { " IMG "depends-on \"b\" \"c\"; }\n"
			   "vm \"c\" { " IMG "depends-on \"a\"; }\n"
			   "vm \"b\" { " IMG "depends-on \"a\"; }\n"
			   "vm \"a\" { " IMG "}\n"
			   "vm \"z\" { " IMG "}\n";
	struct vmm_vmfile *vf;
	struct vmm_diags d;
	struct vmm_error err;
	size_t order[5];
	bool sel[5] = {false};

	(void)state;
	assert_int_equal(parse(text, 0, &vf, &d, &err), 0);
	assert_int_equal(vf->vms[0].n_deps, 2);
	assert_string_equal(vf->vms[0].deps[0].name, "b");
	assert_int_equal(vf->vms[0].deps[0].index, 2);
	assert_int_equal(vf->vms[0].deps[1].index, 1);
	assert_int_equal(vf->vms[0].deps[1].span.line, 1);
	assert_int_equal(vf->vms[0].deps[1].span.column, 64);
	assert_int_equal(vf->vms[3].n_deps, 0);
	assert_null(vf->vms[3].deps);
	/* each after what it needs, else file order: a first (c and b wait for
	 * it), then c before b as in the file, d, and z last */
	assert_int_equal(vmm_vmfile_order(vf, order, &err), 0);
	assert_int_equal(order[0], 3);
	assert_int_equal(order[1], 1);
	assert_int_equal(order[2], 2);
	assert_int_equal(order[3], 0);
	assert_int_equal(order[4], 4);
	/* --name c brings a too; d brings everything but z */
	vmm_vmfile_with_deps(vf, 1, sel);
	assert_true(sel[1] && sel[3] && !sel[0] && !sel[2] && !sel[4]);
	memset(sel, 0, sizeof(sel));
	vmm_vmfile_with_deps(vf, 0, sel);
	assert_true(sel[0] && sel[1] && sel[2] && sel[3] && !sel[4]);
	vmm_vmfile_free(vf);
	vmm_diags_release(&d);
}

static void test_depends_on_long_chain(void **state)
{
	/* vm0 needs vm1, ..., vm499 needs nothing: order is the reverse */
	enum { N = 500 };
	char *text = malloc(N * 96), *p = text;
	struct vmm_vmfile *vf;
	struct vmm_diags d;
	struct vmm_error err;
	size_t *order = calloc(N, sizeof(*order));
	bool *sel = calloc(N, sizeof(*sel));

	(void)state;
	assert_non_null(text);
	for (int i = 0; i < N; i++)
		p += i + 1 < N ? sprintf(p, "vm \"vm%d\" { " IMG "depends-on \"vm%d\"; }\n", i, i + 1)
			       : sprintf(p, "vm \"vm%d\" { " IMG "}\n", i);
	assert_int_equal(parse(text, 0, &vf, &d, &err), 0);
	assert_int_equal(vmm_vmfile_order(vf, order, &err), 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(order[i], N - 1 - i);
	vmm_vmfile_with_deps(vf, 0, sel);
	for (int i = 0; i < N; i++)
		assert_true(sel[i]);
	vmm_vmfile_free(vf);
	vmm_diags_release(&d);
	/* closing the chain into a ring: one cycle, at the edge that closes it */
	sprintf(strrchr(text, '{'), "{ " IMG "depends-on \"vm0\"; }\n");
	assert_int_equal(parse(text, 0, &vf, &d, &err), -VMM_E_VMFILE_VALIDATION);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.items[0].span.line, N);
	assert_true(strncmp(d.items[0].message, "dependency cycle: vm0 -> vm1 -> vm2 -> ", 39) == 0);
	assert_non_null(strstr(d.items[0].message, " -> vm499 -> vm0"));
	vmm_diags_release(&d);
	free(text);
	free(order);
	free(sel);
}

static void test_depends_on_errors(void **state)
{
	const char *text = "vm \"web\" {\n"
			   "    " IMG "\n"
			   "    depends-on \"dbb\" \"cache\"\n"
			   "}\n"
			   "vm \"cache\" {\n"
			   "    " IMG "\n"
			   "    depends-on \"web\"\n"
			   "}\n"
			   "vm \"db\" { " IMG "depends-on \"db\"; }\n"
			   "vm \"x\" { " IMG "depends-on; depends-on \"db\"; }\n";
	struct vmm_vmfile *vf;
	struct vmm_diags d;
	struct vmm_error err;

	(void)state;
	assert_int_equal(parse(text, 0, &vf, &d, &err), -VMM_E_VMFILE_VALIDATION);
	assert_null(vf);
	assert_int_equal(d.n, 5);
	/* unknown name: at the value, with the nearest name */
	assert_int_equal(d.items[0].span.line, 3);
	assert_int_equal(d.items[0].span.column, 16);
	assert_string_equal(d.items[0].message,
			    "VM `web` depends on `dbb`, which the VMFile does not define");
	assert_string_equal(d.items[0].hint, "did you mean `db`?");
	/* the cycle, at the edge that closes it (cache's "web") */
	assert_int_equal(d.items[1].span.line, 7);
	assert_int_equal(d.items[1].span.column, 16);
	assert_string_equal(d.items[1].message, "dependency cycle: web -> cache -> web");
	assert_string_equal(d.items[2].message, "VM `db` depends on itself");
	/* no name at all; a second depends-on node */
	assert_int_equal(d.items[3].span.line, 10);
	assert_non_null(strstr(d.items[3].message, "`depends-on` needs one or more strings"));
	assert_non_null(strstr(d.items[4].message, "is set more than once"));
	vmm_diags_release(&d);	/* a VM without a usable name is never a suggestion, nor checked again */
	text = "vm 3 { " IMG "depends-on \"b\"; }\nvm \"b\" { " IMG "depends-on \"c\"; }\n";
	assert_int_equal(parse(text, 0, &vf, &d, &err), -VMM_E_VMFILE_VALIDATION);
	assert_int_equal(d.n, 2);
	assert_string_equal(d.items[1].message,
			    "VM `b` depends on `c`, which the VMFile does not define");
	assert_string_equal(d.items[1].hint, "depends-on names other VMs of this VMFile");
	vmm_diags_release(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_shares),
		cmocka_unit_test(test_everything_resolved),
		cmocka_unit_test(test_hosts),
		cmocka_unit_test(test_host_errors),
		cmocka_unit_test(test_collects_all_errors_sorted),
		cmocka_unit_test(test_syntax_error),
		cmocka_unit_test(test_render_exact),
		cmocka_unit_test(test_render_is_safe),
		cmocka_unit_test(test_render_spans_at_edges),
		cmocka_unit_test(test_select),
		cmocka_unit_test(test_resolve_path),
		cmocka_unit_test(test_load_and_discover),
		cmocka_unit_test(test_kdl_v1_document),
		cmocka_unit_test(test_binary_garbage),
		cmocka_unit_test(test_diags_optional),
		cmocka_unit_test(test_depends_on_graph),
		cmocka_unit_test(test_depends_on_long_chain),
		cmocka_unit_test(test_depends_on_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
