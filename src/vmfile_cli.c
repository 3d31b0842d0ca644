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
	enum { OPT_FILE = 256, OPT_NAME, OPT_FLAG };
	struct option longopts[8] = {
		{"file", required_argument, NULL, OPT_FILE},
		{"name", required_argument, NULL, OPT_NAME},
	};
	size_t n = 2;
	int opt;

	for (const struct cli_vmfile_flag *f = flags; f && f->name; f++) {
		if (n + 1 >= sizeof(longopts) / sizeof(longopts[0]))
			abort(); /* a command with more flags needs a larger table */
		longopts[n] = (struct option){f->name, no_argument, NULL, OPT_FLAG + (int)(f - flags)};
		n++;
	}
	while ((opt = cli_getopt(cmd, argc, argv, "f:", longopts)) != -1) {
		if (opt == OPT_FILE || opt == 'f')
			c->file = optarg;
		else if (opt == OPT_NAME)
			c->name = optarg;
		else if (opt >= OPT_FLAG)
			*flags[opt - OPT_FLAG].set = true;
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	return 0;
}

int cli_vmfile_cmd_open(struct cli_vmfile_cmd *c)
{
	if (!(c->vf = cli_vmfile_load(c->file, NULL)) ||
	    cli_vmfile_targets(c->vf, c->name, &c->targets, &c->n) < 0 ||
	    !(c->ctx = cli_ctx_open()))
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

static void on_phase_begin(void *ud, const char *vm, const char *phase)
{
	cli_progress_finish(ud);
	if (strcmp(phase, "ssh") == 0)
		printf("[%s] waiting for SSH...\n", vm);
	else if (strcmp(phase, "image") == 0)
		printf("[%s] fetching image...\n", vm);
	fflush(stdout);
}

static void on_phase_end(void *ud, const char *vm, const char *phase, bool ok,
			 uint64_t ms, const char *detail)
{
	cli_progress_finish(ud);
	if (strcmp(phase, "destroy") == 0) {
		printf("[%s] destroyed\n", vm);
		fflush(stdout);
		return;
	}
	printf("[%s] %-10s %s in %llu.%02llus%s%s\n", vm, phase, ok ? "done" : "FAILED",
	       (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000 / 10),
	       detail ? "  " : "", detail ? detail : "");
	fflush(stdout);
}

static void on_step_begin(void *ud, unsigned step, unsigned total,
			  const struct vmm_provision_step *s)
{
	(void)ud;
	printf("--- step %u/%u: %s", step, total, vmm_provision_step_kind_name(s->kind));
	if (s->kind == VMM_PROVISION_STEP_INLINE)
		printf(": %s", s->inline_cmd);
	else if (s->kind == VMM_PROVISION_STEP_SCRIPT)
		printf(": %s", s->script);
	else
		printf(": %s -> %s", s->source, s->destination);
	printf("\n");
	fflush(stdout);
}

static void on_output(void *ud, unsigned step, enum vmm_ssh_stream stream, const char *data,
		      size_t len)
{
	(void)ud;
	(void)step;
	if (stream == VMM_SSH_STDERR) {
		fflush(stdout);
		fwrite(data, 1, len, stderr);
		fflush(stderr);
	} else {
		fwrite(data, 1, len, stdout);
		fflush(stdout);
	}
}

static void on_step_end(void *ud, unsigned step, const struct vmm_provision_step *s,
			int exit_status, uint64_t ms)
{
	(void)ud;
	(void)s;
	if (exit_status == 0)
		printf("--- step %u ok in %llu.%02llus\n", step, (unsigned long long)(ms / 1000),
		       (unsigned long long)(ms % 1000 / 10));
	else if (exit_status > 0)
		printf("--- step %u FAILED with exit status %d\n", step, exit_status);
	else
		printf("--- step %u FAILED\n", step);
	fflush(stdout);
}

void cli_flow_events_init(struct vmm_flow_events *ev, struct cli_progress *progress)
{
	memset(ev, 0, sizeof(*ev));
	cli_progress_init(progress, false);
	ev->userdata = progress;
	ev->phase_begin = on_phase_begin;
	ev->phase_end = on_phase_end;
	ev->image_progress = cli_progress_draw;
	ev->provision.step_begin = on_step_begin;
	ev->provision.output = on_output;
	ev->provision.step_end = on_step_end;
}
