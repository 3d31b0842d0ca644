/* SPDX-License-Identifier: MIT */
/* vmctl list: one line per registered VM. */
#include <string.h>

#include "cli.h"
#include "vmjson.h"

enum { OPT_JSON = 256 };

static const struct option longopts[] = {
	{"json", no_argument, NULL, OPT_JSON},
	{0},
};

#define NCOLS 8

static void print_row(const char *const row[NCOLS], const size_t width[NCOLS])
{
	for (int c = 0; c < NCOLS - 1; c++)
		printf("%-*s  ", (int)width[c], row[c]);
	printf("%s\n", row[NCOLS - 1]);
}

static void print_table(struct vmm_vm **vms, size_t n)
{
	static const char *const heads[NCOLS] = {"NAME", "BACKEND", "VCPUS", "MEM",
						 "NETWORK", "PID", "SSH", "STATE"};
	size_t width[NCOLS];
	char (*cells)[NCOLS][72] = calloc(n ? n : 1, sizeof(*cells));

	if (!cells)
		return;
	for (int c = 0; c < NCOLS; c++)
		width[c] = strlen(heads[c]);
	for (size_t i = 0; i < n; i++) {
		const struct vmm_vm *vm = vms[i];

		snprintf(cells[i][0], 72, "%s", vm->name);
		snprintf(cells[i][1], 72, "%s", vmm_backend_name(vm->backend));
		snprintf(cells[i][2], 72, "%u", vm->vcpus);
		snprintf(cells[i][3], 72, "%llu", (unsigned long long)vm->memory_mb);
		snprintf(cells[i][4], 72, "%s", vmm_net_type_name(vm->network.type));
		if (vm->pid)
			snprintf(cells[i][5], 72, "%ld", (long)vm->pid);
		else
			snprintf(cells[i][5], 72, "-");
		if (vm->ssh_host_port)
			snprintf(cells[i][6], 72, "%u", vm->ssh_host_port);
		else
			snprintf(cells[i][6], 72, "-");
		snprintf(cells[i][7], 72, "%s", vmm_vm_state_name(vm->state));
		for (int c = 0; c < NCOLS; c++)
			if (strlen(cells[i][c]) > width[c])
				width[c] = strlen(cells[i][c]);
	}
	print_row(heads, width);
	for (size_t i = 0; i < n; i++) {
		const char *row[NCOLS];

		for (int c = 0; c < NCOLS; c++)
			row[c] = cells[i][c];
		print_row(row, width);
	}
	free(cells);
}

static int run(const struct cli_command *cmd, int argc, char **argv)
{
	struct vmm_ctx *ctx;
	struct vmm_vm **vms = NULL;
	struct vmm_error err;
	bool json = false;
	size_t n = 0;
	int c, rc = CLI_EXIT_OK;

	while ((c = cli_getopt(cmd, argc, argv, "", longopts)) != -1)
		if (c == OPT_JSON)
			json = true;
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (!(ctx = cli_ctx_open()))
		return CLI_EXIT_ERROR;
	if (vmm_vm_list(ctx, &vms, &n, &err) < 0) {
		rc = cli_error(&err);
		goto out;
	}
	if (json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < n && arr; i++)
			json_array_append_new(arr, cli_vm_json(vms[i]));
		cli_print_json(arr);
		json_decref(arr);
	} else {
		print_table(vms, n);
	}
out:
	vmm_vm_list_free(vms, n);
	vmm_ctx_free(ctx);
	return rc;
}

const struct cli_command cmd_list = {
	.name = "list",
	.summary = "List all VMs",
	.usage = "  vmctl list [--json]",
	.help = "Columns: NAME BACKEND VCPUS MEM (MB) NETWORK PID SSH (host port) STATE.\n"
		"States are read from the live process, not only from the record.\n"
		"\n"
		"Options:\n"
		"      --json              Print a JSON array for scripts\n",
	.run = run,
};
