/* SPDX-License-Identifier: MIT */
/* vmctl port: a VM's port forwards, shown as `docker port` shows them, and
 * added or removed (live on a running VM). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vmjson.h"

enum { OPT_ADD = 256, OPT_RM, OPT_JSON };

static const struct option longopts[] = {
	{"add", required_argument, NULL, OPT_ADD},
	{"rm", required_argument, NULL, OPT_RM},
	{"json", no_argument, NULL, OPT_JSON},
	{0},
};

/* "80/tcp -> 127.0.0.1:8080", as `docker port NAME` prints a mapping. */
static void print_mapping(const struct vmm_forward *f)
{
	if (f->host_port)
		printf("%u/%s -> %s:%u\n", f->guest_port, vmm_forward_proto(f), f->address,
		       f->host_port);
	else /* a backend that forwards no host ports records none */
		printf("%u/%s -> %s:-\n", f->guest_port, vmm_forward_proto(f), f->address);
}

/* `vmctl port NAME [GUESTPORT[/PROTO]]`. */
static int show(struct vmm_ctx *ctx, const char *name, const char *filter, bool json)
{
	struct vmm_forward want = {0};
	struct vmm_vm *vm = NULL;
	struct vmm_error err;
	bool found = false;
	int rc = CLI_EXIT_OK;

	if (filter && vmm_forward_parse(filter, &want, &err) < 0)
		return cli_error(&err);
	if (filter && want.host_port)
		return cli_errorf(VMM_E_USAGE, "give the guest port alone, e.g. 80 or 53/udp",
				  "'%s' names a host port: `vmctl port NAME PORT` takes the guest "
				  "port",
				  filter);
	if (vmm_vm_lookup(ctx, name, &vm, &err) < 0)
		return cli_error(&err);
	if (json) {
		json_t *o = vmm_vm_to_json(vm);

		cli_print_json(o ? json_object_get(o, "forwards") : NULL);
		json_decref(o);
		vmm_vm_free(vm);
		return CLI_EXIT_OK;
	}
	for (size_t i = 0; i < vm->n_forwards; i++) {
		const struct vmm_forward *f = &vm->forwards[i];

		if (!filter) {
			print_mapping(f);
		} else if (f->guest_port == want.guest_port && f->udp == want.udp) {
			found = true;
			if (f->host_port)
				printf("%s:%u\n", f->address, f->host_port);
			else
				printf("%s:-\n", f->address);
		}
	}
	if (filter && !found)
		rc = cli_errorf(VMM_E_INVALID_CONFIG, "`vmctl port NAME` lists its forwards",
				"no host port forwards to %u/%s of VM '%s'", want.guest_port,
				vmm_forward_proto(&want), name);
	vmm_vm_free(vm);
	return rc;
}

static int run(const struct cli_command *cmd, int argc, char **argv)
{
	const char *adds[VMM_FORWARDS_MAX], *rms[VMM_FORWARDS_MAX];
	size_t n_add = 0, n_rm = 0;
	struct vmm_ctx *ctx;
	struct vmm_error err;
	const char *name, *filter = NULL;
	bool json = false;
	int c, rc = CLI_EXIT_OK;

	while ((c = cli_getopt(cmd, argc, argv, "", longopts)) != -1) {
		switch (c) {
		case OPT_ADD:
			if (n_add == VMM_FORWARDS_MAX)
				return cli_usage_error(cmd, "--add: at most %d at once",
						       VMM_FORWARDS_MAX);
			adds[n_add++] = optarg;
			break;
		case OPT_RM:
			if (n_rm == VMM_FORWARDS_MAX)
				return cli_usage_error(cmd, "--rm: at most %d at once",
						       VMM_FORWARDS_MAX);
			rms[n_rm++] = optarg;
			break;
		case OPT_JSON:
			json = true;
			break;
		}
	}
	if (optind >= argc)
		return cli_usage_error(cmd, "missing VM name");
	name = argv[optind++];
	if (optind < argc)
		filter = argv[optind++];
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if ((n_add || n_rm) && (filter || json))
		return cli_usage_error(cmd, "--add and --rm take no PORT and no --json");
	/* every value is checked before anything changes */
	for (size_t i = 0; i < n_add; i++) {
		struct vmm_forward f;

		if (vmm_forward_parse(adds[i], &f, &err) < 0)
			return cli_usage_error(cmd, "--add: %s; %s", err.message, err.hint);
	}
	for (size_t i = 0; i < n_rm; i++) {
		unsigned port;
		bool udp;

		if (vmm_forward_parse_host(rms[i], &port, &udp, &err) < 0)
			return cli_usage_error(cmd, "--rm: %s; %s", err.message, err.hint);
	}
	if (vmm_vm_name_validate(name, &err) < 0)
		return cli_error(&err);
	if (!(ctx = cli_ctx_open()))
		return CLI_EXIT_ERROR;
	if (!n_add && !n_rm) {
		rc = show(ctx, name, filter, json);
		vmm_ctx_free(ctx);
		return rc;
	}
	/* removals first, so that `--rm 8080 --add 8080:81` moves a port */
	for (size_t i = 0; i < n_rm && rc == CLI_EXIT_OK; i++) {
		struct vmm_forward gone;
		unsigned port;
		bool udp;

		vmm_forward_parse_host(rms[i], &port, &udp, &err);
		if (vmm_vm_forward_remove(ctx, name, port, udp, &gone, &err) < 0) {
			rc = cli_error(&err);
			break;
		}
		printf("Removed ");
		print_mapping(&gone);
	}
	for (size_t i = 0; i < n_add && rc == CLI_EXIT_OK; i++) {
		struct vmm_forward f, added;

		vmm_forward_parse(adds[i], &f, &err);
		if (vmm_vm_forward_add(ctx, name, &f, &added, &err) < 0) {
			rc = cli_error(&err);
			break;
		}
		printf("Added ");
		print_mapping(&added);
	}
	vmm_ctx_free(ctx);
	return rc;
}

const struct cli_command cmd_port = {
	.name = "port",
	.summary = "List, add or remove a VM's port forwards",
	.usage = "  vmctl port NAME [GUESTPORT[/udp]] [--json]\n"
		 "  vmctl port NAME [--add [IP:][HOSTPORT:]GUESTPORT[/udp]]... [--rm HOSTPORT[/udp]]...",
	.help = "Without options, prints each forward as `docker port` does:\n"
		"  80/tcp -> 127.0.0.1:8080\n"
		"and with a guest port, the host address and port forwarded to it.\n"
		"--add and --rm change the forwards of a VM with user networking: on a\n"
		"running VM at once (QEMU's hostfwd_add and hostfwd_remove), else from its\n"
		"next start; the record is updated either way. A host port held by another\n"
		"VM or by another process is an error naming it. Removals are done first.\n"
		"\n"
		"Options:\n"
		"      --add SPEC          Forward a host port: 8080:80, 127.0.0.1:5353:53/udp,\n"
		"                          80 (host port omitted or 0: vmctl picks one)\n"
		"      --rm HOSTPORT[/udp] Stop forwarding that host port\n"
		"      --json              Print the forwards as a JSON array\n",
	.run = run,
};
