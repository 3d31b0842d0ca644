/* SPDX-License-Identifier: MIT */
/* vmctl list: one line per registered VM. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vmjson.h"

enum { OPT_JSON = 256, OPT_HOST };

static const struct option longopts[] = {
	{"json", no_argument, NULL, OPT_JSON},
	{"host", required_argument, NULL, OPT_HOST},
	{0},
};

#define NCOLS 10
/* The HOST column: shown when a VM of the table is on a libvirt host. */
#define COL_HOST 2
static bool show_host;

/* The table is written with fputs and padding rather than printf: with a
 * thousand VMs, formatting was a good part of the time `vmctl list` took. */
static void put_cell(const char *s, size_t width, bool last)
{
	static const char spaces[] = "                                        ";
	size_t pad = width - strlen(s) + 2;

	fputs(s, stdout);
	if (last) {
		putchar('\n');
		return;
	}
	while (pad > 0) {
		size_t k = pad < sizeof(spaces) - 1 ? pad : sizeof(spaces) - 1;

		fwrite(spaces, 1, k, stdout);
		pad -= k;
	}
}

static void print_row(const char *const row[NCOLS], const size_t width[NCOLS])
{
	for (int c = 0; c < NCOLS; c++)
		if (c != COL_HOST || show_host)
			put_cell(row[c], width[c], c == NCOLS - 1);
}

/* A VM's host: its name in the VMFile, else its libvirt URI; NULL: local. */
static const char *host_of(const struct vmm_vm *vm)
{
	return vm->host ? vm->host : vm->uri;
}

/* The numbers of a row, formatted; the other cells are the VM's strings.
 * name is the VM's name escaped when it holds a control character (a
 * valid name cannot, but the table never sends one to the terminal). */
struct numbers {
	char vcpus[12], mem[24], pid[24], ssh[12];
	char *name;
	char *ports; /* "8080->80/tcp,5353->53/udp", NULL: none */
	bool name_failed;
};

/* s with control characters (C0, DEL, C1) and backslashes escaped, or
 * NULL when it has none (or, with *failed, on allocation failure). */
static char *escaped(const char *s, bool *failed)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out, *o;

	*failed = false;
	for (; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '\\' || (*p == 0xc2 && p[1] >= 0x80 &&
								p[1] <= 0x9f))
			break;
	if (!*p)
		return NULL;
	if (!(out = malloc(6 * strlen(s) + 1))) {
		*failed = true;
		return NULL;
	}
	o = out;
	for (p = (const unsigned char *)s; *p; p++) {
		if (*p == '\\')
			o += sprintf(o, "\\\\");
		else if (*p < 0x20 || *p == 0x7f)
			o += sprintf(o, "\\x%02x", *p);
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			o += sprintf(o, "\\u%04x", *++p);
		else
			*o++ = (char)*p;
	}
	*o = '\0';
	return out;
}

static void format_numbers(const struct vmm_vm *vm, struct numbers *num)
{
	num->name = escaped(vm->name, &num->name_failed);
	snprintf(num->vcpus, sizeof(num->vcpus), "%u", vm->vcpus);
	snprintf(num->mem, sizeof(num->mem), "%llu", (unsigned long long)vm->memory_mb);
	if (vm->pid)
		snprintf(num->pid, sizeof(num->pid), "%ld", (long)vm->pid);
	else
		snprintf(num->pid, sizeof(num->pid), "-");
	if (vm->ssh_host_port)
		snprintf(num->ssh, sizeof(num->ssh), "%u", vm->ssh_host_port);
	else
		snprintf(num->ssh, sizeof(num->ssh), "-");
	num->ports = NULL;
	if (vm->n_forwards && (num->ports = malloc(vm->n_forwards * 40))) {
		size_t at = 0;

		for (size_t i = 0; i < vm->n_forwards; i++) {
			if (i)
				num->ports[at++] = ',';
			vmm_forward_format(&vm->forwards[i], num->ports + at, 39);
			at += strlen(num->ports + at);
		}
	}
}

static void fill_row(const struct vmm_vm *vm, const struct numbers *num, const char *row[NCOLS])
{
	row[0] = num->name ? num->name : num->name_failed ? "?" : vm->name;
	row[1] = vmm_backend_name(vm->backend);
	row[COL_HOST] = host_of(vm) ? host_of(vm) : "-";
	row[3] = num->vcpus;
	row[4] = num->mem;
	row[5] = vmm_net_type_name(vm->network.type);
	row[6] = num->pid;
	row[7] = num->ssh;
	row[8] = num->ports ? num->ports : "-";
	row[9] = vmm_vm_state_name(vm->state); /* last: scripts read it with $ */
}

static void print_table(struct vmm_vm **vms, size_t n)
{
	static const char *const heads[NCOLS] = {"NAME", "BACKEND", "HOST",  "VCPUS",
						 "MEM",  "NETWORK", "PID",   "SSH",
						 "PORTS", "STATE"};
	size_t width[NCOLS];
	struct numbers *nums = calloc(n ? n : 1, sizeof(*nums));
	const char *row[NCOLS];

	if (!nums)
		return;
	for (int c = 0; c < NCOLS; c++)
		width[c] = strlen(heads[c]);
	for (size_t i = 0; i < n; i++)
		if (host_of(vms[i]))
			show_host = true;
	for (size_t i = 0; i < n; i++) {
		format_numbers(vms[i], &nums[i]);
		fill_row(vms[i], &nums[i], row);
		for (int c = 0; c < NCOLS; c++) {
			size_t len = strlen(row[c]);

			if (len > width[c])
				width[c] = len;
		}
	}
	print_row(heads, width);
	for (size_t i = 0; i < n; i++) {
		fill_row(vms[i], &nums[i], row);
		print_row(row, width);
		free(nums[i].name);
		free(nums[i].ports);
	}
	free(nums);
}

static int run(const struct cli_command *cmd, int argc, char **argv)
{
	struct vmm_ctx *ctx;
	struct vmm_vm **vms = NULL;
	struct vmm_error err;
	const char *host = NULL;
	bool json = false;
	size_t n = 0;
	int c, rc = CLI_EXIT_OK;

	while ((c = cli_getopt(cmd, argc, argv, "", longopts)) != -1) {
		if (c == OPT_JSON)
			json = true;
		else if (c == OPT_HOST)
			host = optarg;
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (!(ctx = cli_ctx_open()))
		return CLI_EXIT_ERROR;
	if (vmm_vm_list(ctx, &vms, &n, &err) < 0) {
		rc = cli_error(&err);
		goto out;
	}
	if (host) { /* only the VMs on that host (by its name or URI; "local") */
		size_t k = 0;

		for (size_t i = 0; i < n; i++) {
			const char *h = host_of(vms[i]);
			bool keep = h ? strcmp(vms[i]->host ? vms[i]->host : "", host) == 0 ||
						strcmp(vms[i]->uri ? vms[i]->uri : "", host) == 0
				      : strcmp(host, "local") == 0;

			if (keep)
				vms[k++] = vms[i];
			else
				vmm_vm_free(vms[i]);
		}
		n = k;
	}
	if (json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < n && arr; i++)
			json_array_append_new(arr, vmm_vm_to_json(vms[i]));
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
	.usage = "  vmctl list [--host NAME] [--json]",
	.help = "Columns: NAME BACKEND VCPUS MEM (MB) NETWORK PID SSH (host port) PORTS\n"
		"(forwards, host->guest: 8080->80/tcp; an address other than 127.0.0.1\n"
		"is shown, 0.0.0.0:8443->443/tcp) STATE, and HOST (the VMFile's host\n"
		"name, else the libvirt URI) after BACKEND when a VM is on a libvirt\n"
		"host. States are read from the live process (or the libvirt daemon),\n"
		"not only from the record.\n"
		"\n"
		"Options:\n"
		"      --host NAME         Only the VMs on this host (its VMFile name or its\n"
		"                          URI; \"local\": the VMs of this machine)\n"
		"      --json              Print a JSON array for scripts\n",
	.run = run,
};
