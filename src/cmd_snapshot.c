/* SPDX-License-Identifier: MIT */
/* vmctl snapshot: create, list, restore and remove a VM's snapshots. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vmjson.h"

enum { OPT_JSON = 256 };

/* The operands of a subcommand: NAME, then TAG (required or optional). */
static int operands(const struct cli_command *cmd, int argc, char **argv, bool tag_required,
		    const char **name, const char **tag)
{
	int left = argc - optind;

	*tag = NULL;
	if (left < 1)
		return cli_usage_error(cmd, "missing VM name");
	if (tag_required && left < 2)
		return cli_usage_error(cmd, "missing snapshot tag");
	if (left > 2)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind + 2]);
	*name = argv[optind];
	if (left == 2)
		*tag = argv[optind + 1];
	return 0;
}

static int cmd_create(const struct cli_command *cmd, int argc, char **argv)
{
	struct vmm_ctx *ctx;
	struct vmm_error err;
	const char *name, *tag;
	char *made = NULL;
	uint64_t t0;
	int rc = CLI_EXIT_OK;

	while (cli_getopt(cmd, argc, argv, "", NULL) != -1)
		;
	if ((rc = operands(cmd, argc, argv, false, &name, &tag)) != 0)
		return rc;
	if (!(ctx = cli_ctx_open()))
		return CLI_EXIT_ERROR;
	t0 = cli_now_ms();
	if (vmm_snapshot_create(ctx, name, tag, &made, &err) < 0)
		rc = cli_error(&err);
	else
		printf("Created snapshot '%s' of VM '%s' in %.1fs\n", made, name,
		       (double)(cli_now_ms() - t0) / 1000.0);
	free(made);
	vmm_ctx_free(ctx);
	return rc;
}

static int print_list(const struct vmm_snapshot *s, size_t n, bool json)
{
	if (json) {
		json_t *a = json_array();

		for (size_t i = 0; a && i < n; i++) {
			json_t *o = json_pack("{s:s, s:s?, s:I, s:b}", "tag", s[i].tag, "date",
					      s[i].date, "vm_state_size",
					      (json_int_t)s[i].vm_state_size, "ram", s[i].ram);

			if (!o || json_array_append_new(a, o) < 0) {
				json_decref(a);
				a = NULL;
			}
		}
		if (!a)
			return cli_errorf(VMM_E_NOMEM, NULL, "out of memory");
		cli_print_json(a);
		json_decref(a);
		return CLI_EXIT_OK;
	}
	if (n == 0) {
		printf("No snapshots\n");
		return CLI_EXIT_OK;
	}
	{
		size_t w = strlen("TAG"), dw = strlen("DATE");

		for (size_t i = 0; i < n; i++) {
			if (strlen(s[i].tag) > w)
				w = strlen(s[i].tag);
			if (s[i].date && strlen(s[i].date) > dw)
				dw = strlen(s[i].date);
		}
		printf("%-*s  %-*s  %-10s  %s\n", (int)w, "TAG", (int)dw, "DATE", "SIZE", "RAM");
		for (size_t i = 0; i < n; i++) {
			char size[32];

			printf("%-*s  %-*s  %-10s  %s\n", (int)w, s[i].tag, (int)dw,
			       s[i].date ? s[i].date : "-",
			       s[i].ram ? cli_human_size(s[i].vm_state_size, size, sizeof(size)) : "-",
			       s[i].ram ? "yes" : "no");
		}
	}
	return CLI_EXIT_OK;
}

static int cmd_list(const struct cli_command *cmd, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, OPT_JSON},
		{0},
	};
	struct vmm_snapshot *snaps = NULL;
	struct vmm_ctx *ctx;
	struct vmm_error err;
	const char *name;
	bool json = false;
	size_t n = 0;
	int c, rc;

	while ((c = cli_getopt(cmd, argc, argv, "", longopts)) != -1)
		if (c == OPT_JSON)
			json = true;
	name = cli_one_operand(cmd, argc, argv, "VM name");

	if (!(ctx = cli_ctx_open()))
		return CLI_EXIT_ERROR;
	if (vmm_snapshot_list(ctx, name, &snaps, &n, &err) < 0)
		rc = cli_error(&err);
	else
		rc = print_list(snaps, n, json);
	vmm_snapshot_list_free(snaps, n);
	vmm_ctx_free(ctx);
	return rc;
}

static int cmd_restore(const struct cli_command *cmd, int argc, char **argv)
{
	struct vmm_ctx *ctx;
	struct vmm_error err;
	const char *name, *tag;
	bool started = false;
	int rc;

	while (cli_getopt(cmd, argc, argv, "", NULL) != -1)
		;
	if ((rc = operands(cmd, argc, argv, true, &name, &tag)) != 0)
		return rc;
	if (!(ctx = cli_ctx_open()))
		return CLI_EXIT_ERROR;
	if (vmm_snapshot_restore(ctx, name, tag, &started, &err) < 0)
		rc = cli_error(&err);
	else
		printf("Restored snapshot '%s' of VM '%s'%s\n", tag, name,
		       started ? "; the VM runs from that moment" : "");
	vmm_ctx_free(ctx);
	return rc;
}

static int cmd_rm(const struct cli_command *cmd, int argc, char **argv)
{
	struct vmm_ctx *ctx;
	struct vmm_error err;
	const char *name, *tag;
	int rc;

	while (cli_getopt(cmd, argc, argv, "", NULL) != -1)
		;
	if ((rc = operands(cmd, argc, argv, true, &name, &tag)) != 0)
		return rc;
	if (!(ctx = cli_ctx_open()))
		return CLI_EXIT_ERROR;
	if (vmm_snapshot_delete(ctx, name, tag, &err) < 0)
		rc = cli_error(&err);
	else
		printf("Removed snapshot '%s' of VM '%s'\n", tag, name);
	vmm_ctx_free(ctx);
	return rc;
}

static const struct cli_command sub_create = {
	.name = "snapshot create",
	.summary = "Take a snapshot of a VM",
	.usage = "  vmctl snapshot create NAME [TAG]",
	.help = "Of a running (or suspended) VM, the disk and the RAM together; of a stopped\n"
		"one, the disk. The seed CD is not part of it. TAG follows the rules of VM\n"
		"names; without it, one is made of the time (snap-YYYYMMDD-HHMMSS).\n",
	.run = cmd_create,
};

static const struct cli_command sub_list = {
	.name = "snapshot list",
	.summary = "List a VM's snapshots",
	.usage = "  vmctl snapshot list [--json] NAME",
	.help = "Shows each snapshot's tag, date (UTC), the size of its saved RAM and\n"
		"devices, and whether it includes the RAM.\n\n"
		"Options:\n"
		"      --json              Machine-readable output\n",
	.run = cmd_list,
};

static const struct cli_command sub_restore = {
	.name = "snapshot restore",
	.summary = "Bring a VM back to a snapshot",
	.usage = "  vmctl snapshot restore NAME TAG",
	.help = "On a running VM, the disk and RAM of a snapshot that has both: the guest\n"
		"continues from that moment. On a stopped VM, the disk; a snapshot with RAM\n"
		"also starts the VM from that moment. A snapshot of the disk only cannot be\n"
		"restored under a running VM: stop it first.\n",
	.run = cmd_restore,
};

static const struct cli_command sub_rm = {
	.name = "snapshot rm",
	.summary = "Remove a snapshot",
	.usage = "  vmctl snapshot rm NAME TAG",
	.help = "Deletes the snapshot from the VM's disk.\n",
	.run = cmd_rm,
};

static const struct cli_command *const subs[] = {&sub_create, &sub_list, &sub_restore, &sub_rm,
						 NULL};

static int run(const struct cli_command *cmd, int argc, char **argv)
{
	/* options before the subcommand: --help, or a usage error */
	if (argc >= 2 && argv[1][0] == '-')
		while (cli_getopt(cmd, argc, argv, "", NULL) != -1)
			;
	if (argc < 2)
		return cli_usage_error(cmd, "missing subcommand (create, list, restore or rm)");
	for (const struct cli_command *const *s = subs; *s; s++) {
		if (strcmp((*s)->name + strlen("snapshot "), argv[1]) == 0) {
			cli_getopt_reset();
			return (*s)->run(*s, argc - 1, argv + 1);
		}
	}
	return cli_usage_error(cmd, "unknown subcommand '%s' (create, list, restore or rm)",
			       argv[1]);
}

const struct cli_command cmd_snapshot = {
	.name = "snapshot",
	.summary = "Manage a VM's snapshots (create, list, restore, rm)",
	.usage = "  vmctl snapshot create NAME [TAG]\n"
		 "  vmctl snapshot list [--json] NAME\n"
		 "  vmctl snapshot restore NAME TAG\n"
		 "  vmctl snapshot rm NAME TAG",
	.help = "Snapshots are kept inside the VM's disk. A running VM's include its RAM,\n"
		"a stopped VM's are of the disk only.\n\n"
		"Subcommands:\n"
		"  create    Take a snapshot\n"
		"  list      List the snapshots\n"
		"  restore   Bring the VM back to a snapshot\n"
		"  rm        Remove a snapshot\n\n"
		"Run 'vmctl snapshot <SUBCOMMAND> --help' for its options.\n",
	.run = run,
};
