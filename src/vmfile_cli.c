/* SPDX-License-Identifier: MIT */
#include "vmfile_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "progress.h"

struct vmm_vmfile *cli_vmfile_load(const char *file, char **path_out)
{
	struct vmm_vmfile *vf = NULL;
	struct vmm_diags diags;
	struct vmm_error err;
	char *path = NULL, *text;

	vmm_diags_init(&diags);
	if (vmm_vmfile_discover(file, &path, &err) < 0) {
		cli_error(&err);
		goto out;
	}
	if (vmm_vmfile_load(path, 0, &vf, &diags, &err) < 0) {
		if (diags.n == 0) {
			cli_error(&err);
			goto out;
		}
		text = vmm_diags_render(&diags, cli_stderr_tty() && !getenv("NO_COLOR")
							? VMM_DIAG_COLOR
							: 0);
		if (text)
			fputs(text, stderr);
		free(text);
		fprintf(stderr, "\nerror: %s is invalid: %zu error%s\n", path, diags.n,
			diags.n == 1 ? "" : "s");
		vf = NULL;
	}
out:
	vmm_diags_release(&diags);
	if (vf && path_out)
		*path_out = path;
	else
		free(path);
	return vf;
}

int cli_vmfile_targets(const struct vmm_vmfile *vf, const char *name,
		       const struct vmm_vmfile_vm ***out, size_t *n)
{
	const struct vmm_vmfile_vm **list;
	struct vmm_error err;

	list = calloc(vf->n_vms, sizeof(*list));
	if (!list) {
		cli_errorf(VMM_E_NOMEM, NULL, "out of memory");
		return -1;
	}
	if (name) {
		if (vmm_vmfile_select(vf, name, &list[0], &err) < 0) {
			free(list);
			cli_error(&err);
			return -1;
		}
		*n = 1;
	} else {
		for (size_t i = 0; i < vf->n_vms; i++)
			list[i] = &vf->vms[i];
		*n = vf->n_vms;
	}
	*out = list;
	return 0;
}

int cli_vmfile_cmd_parse(const struct cli_command *cmd, int argc, char **argv,
			 struct cli_vmfile_cmd *c, const struct cli_vmfile_flag *flags)
{
	enum { OPT_FILE = 256, OPT_NAME, OPT_PARALLEL, OPT_FAIL_FAST, OPT_FLAG };
	struct option longopts[12] = {
		{"file", required_argument, NULL, OPT_FILE},
		{"name", required_argument, NULL, OPT_NAME},
		{"parallel", required_argument, NULL, OPT_PARALLEL},
		{"fail-fast", no_argument, NULL, OPT_FAIL_FAST},
	};
	size_t n = 4;
	int opt;

	for (const struct cli_vmfile_flag *f = flags; f && f->name; f++) {
		if (n + 1 >= sizeof(longopts) / sizeof(longopts[0]))
			abort(); /* a command with more flags needs a larger table */
		longopts[n] = (struct option){f->name, no_argument, NULL, OPT_FLAG + (int)(f - flags)};
		n++;
	}
	while ((opt = cli_getopt(cmd, argc, argv, "f:j:", longopts)) != -1) {
		if (opt == OPT_FILE || opt == 'f')
			c->file = optarg;
		else if (opt == OPT_NAME)
			c->name = optarg;
		else if (opt == 'j' || opt == OPT_PARALLEL)
			c->jobs = (unsigned)cli_parse_u64(cmd, "--parallel", optarg, 1, 1024);
		else if (opt == OPT_FAIL_FAST)
			c->fail_fast = true;
		else if (opt >= OPT_FLAG)
			*flags[opt - OPT_FLAG].set = true;
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	return 0;
}

/* The targets in the order the commands take them: each after what it
 * depends on; --name's dependencies brought along where the command does
 * that, unless --no-deps. */
static int order_targets(struct cli_vmfile_cmd *c)
{
	const struct vmm_vmfile *vf = c->vf;
	bool *sel = calloc(vf->n_vms + 1, sizeof(*sel));
	size_t *order = calloc(vf->n_vms + 1, sizeof(*order));
	struct vmm_error err;
	size_t n = 0;
	int rc = -1;

	if (!sel || !order) {
		cli_errorf(VMM_E_NOMEM, NULL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < c->n; i++) {
		size_t at = (size_t)(c->targets[i] - vf->vms);

		if (c->with_deps && !c->no_deps)
			vmm_vmfile_with_deps(vf, at, sel);
		else
			sel[at] = true;
	}
	if (vmm_vmfile_order(vf, order, &err) < 0) {
		cli_error(&err);
		goto out;
	}
	free(c->targets);
	if (!(c->targets = calloc(vf->n_vms, sizeof(*c->targets)))) {
		cli_errorf(VMM_E_NOMEM, NULL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < vf->n_vms; i++)
		if (sel[order[i]])
			c->targets[n++] = &vf->vms[order[i]];
	c->n = n;
	rc = 0;
out:
	free(sel);
	free(order);
	return rc;
}

int cli_vmfile_cmd_open(struct cli_vmfile_cmd *c)
{
	if (!(c->vf = cli_vmfile_load(c->file, NULL)) ||
	    cli_vmfile_targets(c->vf, c->name, &c->targets, &c->n) < 0 ||
	    order_targets(c) < 0 || !(c->ctx = cli_ctx_open()))
		return -1;
	return 0;
}

void cli_vmfile_cmd_close(struct cli_vmfile_cmd *c)
{
	free(c->targets);
	vmm_vmfile_free(c->vf);
	vmm_ctx_free(c->ctx);
	c->targets = NULL;
	c->vf = NULL;
	c->ctx = NULL;
}
