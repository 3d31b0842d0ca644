/* SPDX-License-Identifier: MIT */
/*
 * vmctl validate: check a VMFile without side effects and print the plan it
 * resolves to (or every problem in it).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vmfile_cli.h"
#include "vmm/diag.h"
#include "vmm/vmfile.h"

/* Print s with control characters escaped, so a multi-line inline command
 * stays on one line of the plan. */
static void put_escaped(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\n')
			fputs("\\n", stdout);
		else if (*p == '\t')
			fputs("\\t", stdout);
		else if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			printf("\\x%02x", *p);
		else
			putchar(*p);
	}
}

/* The order `vmctl up` brings the VMs up in (each after what it depends
 * on), or NULL when no VM depends on another: file order. */
static size_t *up_order(const struct vmm_vmfile *vf)
{
	struct vmm_error err;
	bool any = false;
	size_t *order;

	for (size_t i = 0; i < vf->n_vms; i++)
		any = any || vf->vms[i].n_deps > 0;
	if (!any || !(order = calloc(vf->n_vms, sizeof(*order))))
		return NULL;
	if (vmm_vmfile_order(vf, order, &err) < 0) {
		free(order);
		return NULL;
	}
	return order;
}

static void print_plan(const struct vmm_vmfile *vf)
{
	size_t *order = up_order(vf);

	printf("VMFile: %s (KDL %u)\n", vf->path, vf->kdl_version);
	printf("%zu VM%s\n", vf->n_vms, vf->n_vms == 1 ? "" : "s");
	for (size_t i = 0; order && i < vf->n_vms; i++)
		printf("%s%s%s", i == 0 ? "order: " : " -> ", vf->vms[order[i]].name,
		       i + 1 == vf->n_vms ? "\n" : "");
	free(order);
	for (size_t i = 0; i < vf->n_vms; i++) {
		const struct vmm_vmfile_vm *vm = &vf->vms[i];
		const struct vmm_vmfile_network *net = &vm->network;

		printf("\nvm \"%s\"\n", vm->name);
		if (vm->image.kind == VMM_IMAGE_URL) {
			printf("  image:       %s\n", vm->image.url);
			if (vm->image.sha256)
				printf("  sha256:      %s\n", vm->image.sha256);
		} else {
			printf("  image:       %s\n", vm->image.local.path);
		}
		printf("  vcpus:       %u\n", vm->vcpus);
		printf("  memory:      %llu MB\n", (unsigned long long)vm->memory_mb);
		if (vm->disk_gb)
			printf("  disk:        %u GB\n", vm->disk_gb);
		else
			printf("  disk:        (size of the base image)\n");
		if (net->type == VMM_NET_TAP)
			printf("  network:     tap (bridge %s)\n", net->bridge);
		else if (net->type == VMM_NET_VNIC)
			printf("  network:     vnic (%s)\n", net->vnic);
		else
			printf("  network:     %s\n", vmm_net_type_name(net->type));
		for (size_t k = 0; k < net->n_forwards; k++) {
			const struct vmm_forward *f = &net->forwards[k];

			if (f->host_port)
				printf("  %-12s %s:%u -> %u/%s\n", k ? "" : "forward:", f->address,
				       f->host_port, f->guest_port, vmm_forward_proto(f));
			else
				printf("  %-12s %s:(picked by vmctl) -> %u/%s\n", k ? "" : "forward:",
				       f->address, f->guest_port, vmm_forward_proto(f));
		}
		if (vm->backend_set)
			printf("  backend:     %s\n", vmm_backend_name(vm->backend));
		for (size_t k = 0; k < vm->n_shares; k++)
			printf("  %-12s %s -> %s%s\n", k ? "" : "share:", vm->shares[k].host.path,
			       vm->shares[k].guest, vm->shares[k].readonly ? " (readonly)" : "");
		if (vm->host)
			printf("  host:        %s (%s)\n", vm->host->name,
			       vm->host->uri ? vm->host->uri : "LIBVIRT_DEFAULT_URI");
		if (vm->cloud_init) {
			const struct vmm_vmfile_cloud_init *ci = vm->cloud_init;

			printf("  cloud-init:  hostname %s\n",
			       ci->hostname ? ci->hostname : vm->name);
			if (ci->user_data.path)
				printf("               user-data %s\n", ci->user_data.path);
			if (ci->ssh_key.path)
				printf("               ssh-key %s\n", ci->ssh_key.path);
			else if (!ci->user_data.path)
				printf("               ssh-key (generated for this VM)\n");
		} else {
			printf("  cloud-init:  none\n");
		}
		if (vm->ssh)
			printf("  ssh:         user %s, key %s\n", vm->ssh->user,
			       vm->ssh->private_key.path ? vm->ssh->private_key.path
							 : "(generated or ~/.ssh)");
		else
			printf("  ssh:         none\n");
		for (size_t j = 0; j < vm->n_deps; j++)
			printf("%s%s%s", j == 0 ? "  depends-on:  " : ", ", vm->deps[j].name,
			       j + 1 == vm->n_deps ? "\n" : "");
		if (vm->n_provisions == 0)
			printf("  provision:   none\n");
		for (size_t j = 0; j < vm->n_provisions; j++) {
			const struct vmm_vmfile_provision *p = &vm->provisions[j];

			printf("  %-12s %zu. ", j == 0 ? "provision:" : "", j + 1);
			if (p->kind == VMM_PROVISION_FILE) {
				printf("file %s -> %s\n", p->source.path, p->destination);
			} else if (p->inline_cmd) {
				fputs("shell \"", stdout);
				put_escaped(p->inline_cmd);
				fputs("\"\n", stdout);
			} else {
				printf("shell script %s\n", p->script.path);
			}
		}
	}
}

static json_t *jstr_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *plan_json(const struct vmm_vmfile *vf)
{
	json_t *root = json_object(), *vms = json_array();
	size_t *order;

	json_object_set_new(root, "file", json_string(vf->path));
	json_object_set_new(root, "base_dir", json_string(vf->base_dir));
	json_object_set_new(root, "kdl_version", json_integer(vf->kdl_version));
	for (size_t i = 0; i < vf->n_vms; i++) {
		const struct vmm_vmfile_vm *vm = &vf->vms[i];
		json_t *o = json_object(), *img = json_object(), *net = json_object();
		json_t *provs = json_array();

		json_object_set_new(o, "name", json_string(vm->name));
		json_object_set_new(img, "type", json_string(vmm_image_kind_name(vm->image.kind)));
		if (vm->image.kind == VMM_IMAGE_URL) {
			json_object_set_new(img, "url", json_string(vm->image.url));
			json_object_set_new(img, "sha256", jstr_or_null(vm->image.sha256));
		} else {
			json_object_set_new(img, "path", json_string(vm->image.local.path));
		}
		json_object_set_new(o, "image", img);
		json_object_set_new(o, "vcpus", json_integer(vm->vcpus));
		json_object_set_new(o, "memory_mb", json_integer((json_int_t)vm->memory_mb));
		json_object_set_new(o, "disk_gb", vm->disk_gb ? json_integer(vm->disk_gb)
							      : json_null());
		json_object_set_new(net, "type", json_string(vmm_net_type_name(vm->network.type)));
		if (vm->network.type == VMM_NET_TAP)
			json_object_set_new(net, "bridge", json_string(vm->network.bridge));
		if (vm->network.type == VMM_NET_VNIC)
			json_object_set_new(net, "name", json_string(vm->network.vnic));
		if (vm->network.n_forwards) {
			json_t *fa = json_array();

			for (size_t k = 0; k < vm->network.n_forwards; k++) {
				const struct vmm_forward *f = &vm->network.forwards[k];

				json_array_append_new(
					fa, json_pack("{s:s, s:s, s:o, s:i}", "protocol",
						      vmm_forward_proto(f), "address", f->address,
						      "host_port",
						      f->host_port ? json_integer(f->host_port)
								   : json_null(),
						      "guest_port", (json_int_t)f->guest_port));
			}
			json_object_set_new(net, "forwards", fa);
		}
		json_object_set_new(o, "network", net);
		if (vm->backend_set)
			json_object_set_new(o, "backend", json_string(vmm_backend_name(vm->backend)));
		if (vm->n_shares) {
			json_t *sa = json_array();

			for (size_t k = 0; k < vm->n_shares; k++)
				json_array_append_new(sa, json_pack("{s:s, s:s, s:b}", "host",
								    vm->shares[k].host.path, "guest",
								    vm->shares[k].guest, "readonly",
								    vm->shares[k].readonly));
			json_object_set_new(o, "shares", sa);
		}
		if (vm->host) {
			json_t *h = json_object();

			json_object_set_new(h, "name", json_string(vm->host->name));
			json_object_set_new(h, "uri", jstr_or_null(vm->host->uri));
			json_object_set_new(h, "pool", jstr_or_null(vm->host->pool));
			json_object_set_new(h, "network", jstr_or_null(vm->host->network));
			json_object_set_new(o, "host", h);
		}
		if (vm->cloud_init) {
			json_t *ci = json_object();

			json_object_set_new(ci, "hostname", jstr_or_null(vm->cloud_init->hostname));
			json_object_set_new(ci, "ssh_key", jstr_or_null(vm->cloud_init->ssh_key.path));
			json_object_set_new(ci, "user_data",
					    jstr_or_null(vm->cloud_init->user_data.path));
			json_object_set_new(o, "cloud_init", ci);
		} else {
			json_object_set_new(o, "cloud_init", json_null());
		}
		if (vm->ssh) {
			json_t *s = json_object();

			json_object_set_new(s, "user", json_string(vm->ssh->user));
			json_object_set_new(s, "private_key",
					    jstr_or_null(vm->ssh->private_key.path));
			json_object_set_new(o, "ssh", s);
		} else {
			json_object_set_new(o, "ssh", json_null());
		}
		for (size_t j = 0; j < vm->n_provisions; j++) {
			const struct vmm_vmfile_provision *p = &vm->provisions[j];
			json_t *po = json_object();

			json_object_set_new(po, "type", json_string(vmm_provision_kind_name(p->kind)));
			if (p->kind == VMM_PROVISION_FILE) {
				json_object_set_new(po, "source", json_string(p->source.path));
				json_object_set_new(po, "destination", json_string(p->destination));
			} else if (p->inline_cmd) {
				json_object_set_new(po, "inline", json_string(p->inline_cmd));
			} else {
				json_object_set_new(po, "script", json_string(p->script.path));
			}
			json_array_append_new(provs, po);
		}
		json_object_set_new(o, "provision", provs);
		if (vm->n_deps) {
			json_t *deps = json_array();

			for (size_t j = 0; j < vm->n_deps; j++)
				json_array_append_new(deps, json_string(vm->deps[j].name));
			json_object_set_new(o, "depends_on", deps);
		}
		json_array_append_new(vms, o);
	}
	json_object_set_new(root, "vms", vms);
	if ((order = up_order(vf))) {
		json_t *o = json_array();

		for (size_t i = 0; i < vf->n_vms; i++)
			json_array_append_new(o, json_string(vf->vms[order[i]].name));
		json_object_set_new(root, "order", o);
		free(order);
	}
	return root;
}

static int run(const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"file", required_argument, NULL, 'f'},
		{"json", no_argument, NULL, 'j'},
		{NULL, 0, NULL, 0},
	};
	const char *file = NULL;
	bool json = false;
	char *path = NULL;
	struct vmm_vmfile *vf = NULL;
	int c, rc = CLI_EXIT_OK;

	while ((c = cli_getopt(cmd, argc, argv, "f:", longopts)) != -1) {
		if (c == 'f')
			file = optarg;
		else if (c == 'j')
			json = true;
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);

	if (!(vf = cli_vmfile_load(file, &path))) {
		rc = CLI_EXIT_ERROR;
		goto out;
	}
	if (json) {
		json_t *plan = plan_json(vf);
		char *s = json_dumps(plan, JSON_INDENT(2));

		json_decref(plan);
		if (!s) {
			rc = cli_errorf(VMM_E_NOMEM, NULL, "out of memory");
			goto out;
		}
		printf("%s\n", s);
		free(s);
	} else {
		print_plan(vf);
	}
out:
	free(path);
	vmm_vmfile_free(vf);
	return rc;
}

const struct cli_command cmd_validate = {
	.name = "validate",
	.summary = "Check a VMFile and print the plan it resolves to",
	.usage = "  vmctl validate [--file PATH] [--json]",
	.help = "Parses and checks the VMFile without changing anything: every syntax and\n"
		"schema error is reported with its line and column. A valid VMFile's plan\n"
		"is printed: each VM's image, resources, network, cloud-init, SSH settings\n"
		"and provision steps, with every path resolved, and, when VMs depend on\n"
		"others (depends-on), the order `vmctl up` brings them up in. Exits 0 when the VMFile is\n"
		"valid, 1 when it is not.\n"
		"\n"
		"Options:\n"
		"  -f, --file PATH         The VMFile (default: ./VMFile.kdl)\n"
		"      --json              Print the plan as JSON\n",
	.run = run,
};
