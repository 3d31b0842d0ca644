/* SPDX-License-Identifier: MIT */
/* vmctl log: show a VM's console and provision logs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vmm/file.h"

enum { OPT_CONSOLE = 256, OPT_PROVISION, OPT_TAIL };

static const struct option longopts[] = {
	{"console", no_argument, NULL, OPT_CONSOLE},
	{"provision", no_argument, NULL, OPT_PROVISION},
	{"tail", required_argument, NULL, OPT_TAIL},
	{0},
};

/* Print the file, or its last `tail` lines (0: all). Returns 1 if the file
 * exists, 0 if not, -1 on a read error (printed). */
static int show(const char *dir, const char *file, unsigned long long tail, bool header)
{
	char path[4096];
	char *data = NULL;
	size_t len = 0, start;
	struct vmm_error err;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (vmm_file_read(path, &data, &len, &err) < 0) {
		if (err.sys_errno == ENOENT)
			return 0;
		cli_error(&err);
		return -1;
	}
	start = vmm_text_tail(data, len, (size_t)tail);
	if (header)
		printf("==> %s <==\n", file);
	fwrite(data + start, 1, len - start, stdout);
	if (len > 0 && data[len - 1] != '\n')
		putchar('\n');
	free(data);
	return 1;
}

static int run(const struct cli_command *cmd, int argc, char **argv)
{
	bool console = false, provision = false;
	unsigned long long tail = 0;
	struct vmm_ctx *ctx;
	struct vmm_vm *vm = NULL;
	struct vmm_error err;
	const char *name;
	int c, rc = CLI_EXIT_OK, a = 0, b = 0;

	while ((c = cli_getopt(cmd, argc, argv, "n:", longopts)) != -1) {
		if (c == OPT_CONSOLE)
			console = true;
		else if (c == OPT_PROVISION)
			provision = true;
		else if (c == OPT_TAIL || c == 'n')
			tail = cli_parse_u64(cmd, "--tail", optarg, 0, 1000000000ull);
	}
	name = cli_one_operand(cmd, argc, argv, "VM name");
	if (!console && !provision)
		console = provision = true;
	if (!(ctx = cli_ctx_open()))
		return CLI_EXIT_ERROR;
	if (vmm_vm_lookup(ctx, name, &vm, &err) < 0) {
		rc = cli_error(&err);
		goto out;
	}
	fflush(stdout);
	if (console && (a = show(vm->work_dir, "console.log", tail, console && provision)) < 0)
		rc = CLI_EXIT_ERROR;
	if (provision && rc == CLI_EXIT_OK &&
	    (b = show(vm->work_dir, "provision.log", tail, console && provision)) < 0)
		rc = CLI_EXIT_ERROR;
	if (rc == CLI_EXIT_OK && a == 0 && b == 0)
		fprintf(stderr, "vmctl: VM '%s' has no %s yet\n", name,
			console && provision ? "logs" : console ? "console log" : "provision log");
out:
	vmm_vm_free(vm);
	vmm_ctx_free(ctx);
	return rc;
}

const struct cli_command cmd_log = {
	.name = "log",
	.summary = "Show VM logs",
	.usage = "  vmctl log [--console] [--provision] [--tail N] NAME",
	.help = "Shows the serial console log (boot and cloud-init output) and the provision\n"
		"log (output of provisioners). Without --console or --provision, both.\n"
		"\n"
		"Options:\n"
		"      --console           Show only the console log\n"
		"      --provision         Show only the provision log\n"
		"  -n, --tail N            Show the last N lines (0: all, the default)\n",
	.run = run,
};
