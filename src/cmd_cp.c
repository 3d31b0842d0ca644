/* SPDX-License-Identifier: MIT */
/* vmctl cp: copy files and directories between the host and a VM over SFTP,
 * in scp's notation (NAME:PATH is in the VM NAME). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "progress.h"
#include "vmfile_cli.h"
#include "vmm/copy.h"
#include "vmm/flow.h"

/* Files from this size on get a progress bar (on a terminal only). */
#define BAR_MIN_BYTES (4ull * 1024 * 1024)

enum { OPT_USER = 256, OPT_KEY, OPT_FILE };

static const struct option longopts[] = {
	{"recursive", no_argument, NULL, 'r'},
	{"user", required_argument, NULL, OPT_USER},
	{"key", required_argument, NULL, OPT_KEY},
	{"file", required_argument, NULL, OPT_FILE},
	{0},
};

struct bar {
	struct cli_progress st;
	char name[256];
	uint64_t t0;
};

static void draw(const struct vmm_copy_progress *p, void *userdata)
{
	struct bar *b = userdata;
	struct vmm_image_progress ip = {0};
	const char *base = strrchr(p->path, '/');
	uint64_t ms;

	if (p->total < BAR_MIN_BYTES)
		return;
	if (p->done == 0 && !p->finished) {
		cli_progress_init(&b->st, false);
		b->t0 = cli_now_ms();
		snprintf(b->name, sizeof(b->name), "%s", base && base[1] ? base + 1 : p->path);
	}
	ms = cli_now_ms() - b->t0;
	ip.name = b->name;
	ip.done = p->done;
	ip.total = p->total;
	ip.rate = ms ? (double)p->done * 1000.0 / (double)ms : 0;
	ip.finished = p->finished;
	cli_progress_draw(&ip, &b->st);
}

/* The VM's entry in the VMFile (its ssh user and key), when the command
 * names a VMFile or one is here; *vf is then to free. Returns 0, or an exit
 * code. */
static int load_def(const char *file, const char *name, struct vmm_vmfile **vf,
		    const struct vmm_vmfile_vm **def)
{
	*vf = NULL;
	*def = NULL;
	if (!file && access(VMM_VMFILE_DEFAULT_NAME, F_OK) < 0)
		return 0;
	if (!(*vf = cli_vmfile_load(file, NULL)))
		return CLI_EXIT_ERROR;
	*def = vmm_vmfile_find(*vf, name);
	return 0;
}

static int connect_vm(struct vmm_ctx *ctx, const char *name, const struct vmm_vmfile_vm *def,
		      const char *user, const char *key, struct vmm_ssh **s,
		      struct vmm_error *err)
{
	struct vmm_vm *vm = NULL;
	struct vmm_ssh_target t = {0};
	int rc;

	if ((rc = vmm_vm_lookup(ctx, name, &vm, err)) < 0)
		return rc;
	if (vm->state != VMM_STATE_RUNNING) {
		char hint[256];

		snprintf(hint, sizeof(hint), "start it with `vmctl start %s` (or `vmctl up`)", name);
		rc = vmm_error_set(err, VMM_E_INVALID_STATE, 0, hint,
				   "cannot copy to or from VM '%s': it is %s", name,
				   vmm_vm_state_name(vm->state));
		goto out;
	}
	rc = vmm_flow_ssh_target(ctx, vm, user, def && def->ssh ? def->ssh->user : NULL,
				 key ? key : def && def->ssh ? def->ssh->private_key.path : NULL,
				 &t, err);
	if (rc == 0)
		rc = vmm_flow_ssh_connect(vm, &t, VMM_FLOW_SSH_TIMEOUT_MS, s, err);
	vmm_ssh_target_release(&t);
out:
	vmm_vm_free(vm);
	return rc;
}

static int run(const struct cli_command *cmd, int argc, char **argv)
{
	const char *user = NULL, *key = NULL, *file = NULL;
	struct vmm_copy_operand src = {0}, dst = {0};
	struct vmm_copy_opts opts = {0};
	struct vmm_vmfile *vf = NULL;
	const struct vmm_vmfile_vm *def = NULL;
	struct vmm_ctx *ctx = NULL;
	struct vmm_ssh *s = NULL;
	struct vmm_error err;
	struct bar bar = {0};
	const char *vm;
	int c, rc;

	while ((c = cli_getopt(cmd, argc, argv, "rRf:", longopts)) != -1) {
		if (c == 'r' || c == 'R')
			opts.recursive = true;
		else if (c == OPT_USER)
			user = optarg;
		else if (c == OPT_KEY)
			key = optarg;
		else if (c == OPT_FILE || c == 'f')
			file = optarg;
	}
	if (argc - optind != 2)
		return cli_usage_error(cmd, argc - optind < 2 ? "give a SRC and a DST"
							      : "give one SRC and one DST");
	if (vmm_copy_parse_pair(argv[optind], argv[optind + 1], &src, &dst, &err) < 0)
		return cli_error(&err);
	vm = src.vm ? src.vm : dst.vm;
	if ((rc = load_def(file, vm, &vf, &def)) != 0)
		goto out;
	rc = CLI_EXIT_ERROR;
	if (!(ctx = cli_ctx_open()))
		goto out;
	if (connect_vm(ctx, vm, def, user, key, &s, &err) < 0) {
		rc = cli_error(&err);
		goto out;
	}
	if (cli_stderr_tty()) {
		opts.progress = draw;
		opts.progress_data = &bar;
	}
	if ((src.vm ? vmm_copy_from_guest(s, src.path, dst.path, &opts, &err)
		    : vmm_copy_to_guest(s, src.path, dst.path, &opts, &err)) < 0) {
		cli_progress_finish(&bar.st);
		rc = cli_error(&err);
		goto out;
	}
	rc = CLI_EXIT_OK;
out:
	vmm_ssh_free(s);
	vmm_ctx_free(ctx);
	vmm_vmfile_free(vf);
	vmm_copy_operand_release(&src);
	vmm_copy_operand_release(&dst);
	return rc;
}

const struct cli_command cmd_cp = {
	.name = "cp",
	.summary = "Copy files and directories between the host and a VM",
	.usage = "  vmctl cp [-r] [--user USER] [--key PATH] [--file PATH] SRC DST",
	.help = "Copies over SFTP, verifying the guest's host key as `vmctl ssh` does. One of\n"
		"SRC and DST is in the VM, written NAME:PATH as for scp (a relative PATH starts\n"
		"in the SSH user's home directory); the other is on the host (write a host\n"
		"path holding a ':' as ./PATH). A DST ending in '/' or naming an existing\n"
		"directory means into it; otherwise DST is the new name. The directory the\n"
		"copy lands in must exist.\n"
		"\n"
		"Each file is written to a temporary name beside its destination and renamed\n"
		"over it when complete, so a failed copy leaves no half-written file.\n"
		"Permission bits are kept; owners and times are not. With -r, symbolic links\n"
		"inside a directory are copied as links (never followed); a link given as\n"
		"SRC is followed. Files of 4 MiB or more show a progress bar on a terminal.\n"
		"\n"
		"Examples:\n"
		"  vmctl cp ./app.tar web:/tmp/\n"
		"  vmctl cp web:/var/log/syslog ./logs/\n"
		"  vmctl cp -r ./site web:/srv/site\n"
		"\n"
		"Options:\n"
		"  -r, --recursive         Copy directories and what they hold\n"
		"      --user USER         SSH user (as for vmctl ssh)\n"
		"      --key PATH          SSH private key (as for vmctl ssh)\n"
		"  -f, --file PATH         The VMFile to read the VM's SSH user and key from\n",
	.run = run,
};
