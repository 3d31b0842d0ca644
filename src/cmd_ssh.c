/* SPDX-License-Identifier: MIT */
/* vmctl ssh: check the VM answers over SSH, then hand over to the system ssh. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "vmfile_cli.h"
#include "vmm/flow.h"

enum { OPT_USER = 256, OPT_KEY, OPT_FILE, OPT_NAME };

static const struct option longopts[] = {
	{"user", required_argument, NULL, OPT_USER},
	{"key", required_argument, NULL, OPT_KEY},
	{"file", required_argument, NULL, OPT_FILE},
	{"name", required_argument, NULL, OPT_NAME},
	{0},
};

__attribute__((format(printf, 1, 2))) static char *fmt_alloc(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

/* s in single quotes for the shell that runs a ProxyCommand (malloc'd). */
static char *shell_quote(const char *s)
{
	size_t n = 3;
	char *q, *p;

	for (const char *c = s; *c; c++)
		n += *c == '\'' ? 4 : 1;
	if (!(q = p = malloc(n)))
		return NULL;
	*p++ = '\'';
	for (const char *c = s; *c; c++) {
		if (*c == '\'') {
			memcpy(p, "'\\''", 4);
			p += 4;
		} else {
			*p++ = *c;
		}
	}
	*p++ = '\'';
	*p = '\0';
	return q;
}

/*
 * The way through a libvirt host, for the system ssh: ProxyJump, or, when
 * the URI names a key or turns host key checks off (which a jump cannot
 * carry), the same hop as a ProxyCommand. malloc'd "-J"/"-o" argument.
 */
static char *jump_arg(const struct vmm_ssh_jump *j, const char **flag)
{
	char *key = NULL, *res;
	char port[16] = "";

	if (j->port)
		snprintf(port, sizeof(port), ":%u", j->port);
	if (!j->key_path && !j->no_verify) {
		*flag = "-J";
		return fmt_alloc("%s%s%s%s", j->user ? j->user : "", j->user ? "@" : "",
				    j->host, port);
	}
	*flag = "-o";
	if (j->key_path && !(key = shell_quote(j->key_path)))
		return NULL;
	res = fmt_alloc("ProxyCommand=ssh%s%s -p %u%s -W [%%h]:%%p %s%s%s", key ? " -i " : "",
			   key ? key : "", j->port ? j->port : 22,
			   j->no_verify ? " -o StrictHostKeyChecking=no "
					  "-o UserKnownHostsFile=/dev/null"
					: "",
			   j->user ? j->user : "", j->user ? "@" : "", j->host);
	free(key);
	return res;
}

/* argv for the system ssh; strings borrowed from t and cmdv. */
static char **ssh_argv(const struct vmm_ssh_target *t, char **cmdv, int cmdc, char *port,
		       char *kh, char *alias, char *dest, char **jump)
{
	char **av = calloc((size_t)cmdc + 24, sizeof(*av));
	const char *jump_flag = NULL;
	int n = 0;

	if (!av)
		return NULL;
	if (t->jump.host && !(*jump = jump_arg(&t->jump, &jump_flag))) {
		free(av);
		return NULL;
	}
	snprintf(port, 16, "%u", t->port);
	snprintf(kh, 4200, "UserKnownHostsFile=%s", t->known_hosts);
	snprintf(alias, 200, "HostKeyAlias=%s", t->host_alias);
	snprintf(dest, 600, "%s@%s", t->user, t->host);
	av[n++] = "ssh";
	av[n++] = "-i";
	av[n++] = t->key_path;
	av[n++] = "-p";
	av[n++] = port;
	av[n++] = "-o";
	av[n++] = "IdentitiesOnly=yes";
	av[n++] = "-o";
	av[n++] = "StrictHostKeyChecking=yes";
	av[n++] = "-o";
	av[n++] = kh;
	av[n++] = "-o";
	av[n++] = alias;
	av[n++] = "-o";
	av[n++] = "LogLevel=ERROR";
	if (t->jump.host && *jump) {
		av[n++] = (char *)jump_flag;
		av[n++] = *jump;
	}
	av[n++] = dest;
	if (cmdc > 0) {
		av[n++] = "--";
		for (int i = 0; i < cmdc; i++)
			av[n++] = cmdv[i];
	}
	av[n] = NULL;
	return av;
}

/* The VMFile, when the command names none or one exists here: it names the
 * VM and says its SSH user and key. Returns 0, or an exit code. */
static int load_vmfile(const char *file, const char **name, struct vmm_vmfile **vf,
		       const struct vmm_vmfile_vm **def)
{
	struct vmm_error err;
	char *path = NULL;

	*vf = NULL;
	*def = NULL;
	if (!file && *name && access(VMM_VMFILE_DEFAULT_NAME, F_OK) < 0)
		return 0;
	if (!file && !*name && vmm_vmfile_discover(NULL, &path, &err) < 0) {
		snprintf(err.hint, sizeof(err.hint),
			 "name the VM: `vmctl ssh NAME` (`vmctl list` shows them), or give a "
			 "VMFile with --file");
		return cli_error(&err);
	}
	free(path);
	if (!(*vf = cli_vmfile_load(file, NULL)))
		return CLI_EXIT_ERROR;
	if (*name) {
		*def = vmm_vmfile_find(*vf, *name);
		return 0;
	}
	if (vmm_vmfile_select(*vf, NULL, def, &err) < 0)
		return cli_error(&err);
	*name = (*def)->name;
	return 0;
}

static int run(const struct cli_command *cmd, int argc, char **argv)
{
	const char *user = NULL, *key = NULL, *file = NULL, *name = NULL;
	char **cmdv = NULL, **av = NULL, *jump = NULL;
	int cmdc = 0, c, dd, rc = CLI_EXIT_ERROR;
	struct vmm_vmfile *vf = NULL;
	const struct vmm_vmfile_vm *def = NULL;
	struct vmm_ctx *ctx = NULL;
	struct vmm_ssh_target t = {0};
	struct vmm_error err;
	char port[16], kh[4200], alias[200], dest[600];

	/* Everything after "--" is the command to run in the guest. */
	for (dd = 1; dd < argc && strcmp(argv[dd], "--") != 0; dd++)
		;
	if (dd < argc) {
		cmdv = argv + dd + 1;
		cmdc = argc - dd - 1;
		if (cmdc == 0)
			return cli_usage_error(cmd, "'--' must be followed by a command");
	}
	while ((c = cli_getopt(cmd, dd, argv, "f:", longopts)) != -1) {
		if (c == OPT_USER)
			user = optarg;
		else if (c == OPT_KEY)
			key = optarg;
		else if (c == OPT_FILE || c == 'f')
			file = optarg;
		else if (c == OPT_NAME)
			name = optarg;
	}
	if (optind < dd) {
		if (name)
			return cli_usage_error(cmd, "give the VM name once (NAME or --name)");
		name = argv[optind++];
	}
	if (optind < dd)
		return cli_usage_error(cmd, "unexpected argument '%s' (put the command after '--')",
				       argv[optind]);
	if ((rc = load_vmfile(file, &name, &vf, &def)) != 0)
		goto out;
	rc = CLI_EXIT_ERROR;
	if (!(ctx = cli_ctx_open()))
		goto out;
	if (vmm_flow_ssh_ready(ctx, name, def, user, key, VMM_FLOW_SSH_TIMEOUT_MS, &t, &err) < 0) {
		rc = cli_error(&err);
		goto out;
	}
	if (!(av = ssh_argv(&t, cmdv, cmdc, port, kh, alias, dest, &jump))) {
		rc = cli_errorf(VMM_E_NOMEM, NULL, "out of memory");
		goto out;
	}
	fflush(NULL);
	execvp("ssh", av);
	rc = cli_errorf(VMM_E_SSH,
			"install the OpenSSH client (Debian: apt-get install openssh-client)",
			"cannot run ssh: %s", strerror(errno));
out:
	free(av);
	free(jump);
	vmm_ssh_target_release(&t);
	vmm_ctx_free(ctx);
	vmm_vmfile_free(vf);
	return rc;
}

const struct cli_command cmd_ssh = {
	.name = "ssh",
	.summary = "Open a shell or run a command in a VM over SSH",
	.usage = "  vmctl ssh [NAME] [--user USER] [--key PATH] [--file PATH] [-- COMMAND...]",
	.help = "Checks that the VM answers over SSH (retrying for up to 30 seconds), then\n"
		"hands the terminal to the system ssh. With a COMMAND, runs it without a\n"
		"terminal and exits with its exit status. The guest's host key is verified\n"
		"against the VM's own known_hosts file. NAME may be left out when the\n"
		"VMFile defines one VM. A VM on a remote libvirt host is reached through\n"
		"that host: the system ssh gets a ProxyJump to the URI's user, host and\n"
		"port (a ProxyCommand when the URI names a keyfile or no_verify).\n"
		"\n"
		"Key: the VM's generated key, else --key (or the VMFile's private-key), else\n"
		"~/.ssh/id_ed25519, id_ecdsa, id_rsa. User: --user, else the VMFile's ssh\n"
		"user, else the user the VM was created with, else \"vm\".\n"
		"\n"
		"Options:\n"
		"      --name NAME         The VM (same as NAME)\n"
		"      --user USER         SSH user\n"
		"      --key PATH          SSH private key\n"
		"  -f, --file PATH         The VMFile to read the VM and user from\n",
	.run = run,
};
