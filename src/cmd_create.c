/* SPDX-License-Identifier: MIT */
/* vmctl create: register a new VM, prepare its resources, optionally start it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vmm/file.h"
#include "progress.h"
#include "vmm/image.h"
#include "vmm/keys.h"

enum {
	OPT_NAME = 256,
	OPT_IMAGE,
	OPT_IMAGE_URL,
	OPT_SHA256,
	OPT_MAX_SIZE,
	OPT_VCPUS,
	OPT_MEMORY,
	OPT_DISK,
	OPT_BRIDGE,
	OPT_CLOUD_INIT,
	OPT_SSH_KEY,
	OPT_START,
	OPT_BACKEND,
	OPT_VNIC,
	OPT_PUBLISH = 'p',
	OPT_SHARE,
	OPT_CONNECT,
};

static const struct option longopts[] = {
	{"name", required_argument, NULL, OPT_NAME},
	{"image", required_argument, NULL, OPT_IMAGE},
	{"image-url", required_argument, NULL, OPT_IMAGE_URL},
	{"sha256", required_argument, NULL, OPT_SHA256},
	{"max-size", required_argument, NULL, OPT_MAX_SIZE},
	{"vcpus", required_argument, NULL, OPT_VCPUS},
	{"memory", required_argument, NULL, OPT_MEMORY},
	{"disk", required_argument, NULL, OPT_DISK},
	{"bridge", required_argument, NULL, OPT_BRIDGE},
	{"cloud-init", required_argument, NULL, OPT_CLOUD_INIT},
	{"ssh-key", required_argument, NULL, OPT_SSH_KEY},
	{"start", no_argument, NULL, OPT_START},
	{"publish", required_argument, NULL, OPT_PUBLISH},
	{"backend", required_argument, NULL, OPT_BACKEND},
	{"vnic", required_argument, NULL, OPT_VNIC},
	{"share", required_argument, NULL, OPT_SHARE},
	{"connect", required_argument, NULL, OPT_CONNECT},
	{0},
};

/* Read a file the user named with option opt (printing the error). */
static char *read_named(const char *opt, const char *path, size_t *len)
{
	struct vmm_error err;
	char *data;

	if (vmm_file_read(path, &data, len, &err) < 0) {
		snprintf(err.message, sizeof(err.message), "cannot open %s file '%s': %s", opt,
			 path, strerror(err.sys_errno));
		snprintf(err.hint, sizeof(err.hint), "check the path given to %s", opt);
		cli_error(&err);
		return NULL;
	}
	return data;
}

static int run(const struct cli_command *cmd, int argc, char **argv)
{
	struct vmm_vm_spec spec;
	struct vmm_cloud_init ci = {0};
	const char *cloud_init_path = NULL, *ssh_key_path = NULL;
	struct vmm_create_opts co;
	struct vmm_ctx *ctx = NULL;
	struct vmm_vm *vm = NULL;
	struct vmm_error err;
	const char *sha256 = NULL, *backend = NULL;
	uint64_t max_size = 0;
	char *fetched = NULL;
	struct vmm_forward fw[VMM_FORWARDS_MAX];
	struct vmm_share *shares = NULL;
	size_t n_shares = 0;
	int c, rc = CLI_EXIT_ERROR;

	vmm_vm_spec_init(&spec);
	vmm_create_opts_init(&co);
	spec.forwards = fw;
	while ((c = cli_getopt(cmd, argc, argv, "p:", longopts)) != -1) {
		switch (c) {
		case OPT_NAME:
			spec.name = optarg;
			break;
		case OPT_IMAGE:
			spec.image_path = optarg;
			break;
		case OPT_IMAGE_URL:
			spec.image_url = optarg;
			break;
		case OPT_SHA256:
			sha256 = optarg;
			break;
		case OPT_MAX_SIZE:
			if (vmm_image_parse_size(optarg, &max_size, &err) < 0)
				return cli_usage_error(cmd, "--max-size: %s; %s", err.message,
						       err.hint);
			break;
		case OPT_VCPUS:
			spec.vcpus = (unsigned)cli_parse_u64(cmd, "--vcpus", optarg, 1, VMM_VM_MAX_VCPUS);
			break;
		case OPT_MEMORY:
			spec.memory_mb = cli_parse_u64(cmd, "--memory", optarg, 1, VMM_VM_MAX_MEMORY_MB);
			break;
		case OPT_DISK:
			spec.disk_gb = (unsigned)cli_parse_u64(cmd, "--disk", optarg, 1, 65536);
			break;
		case OPT_BRIDGE:
			if (!*optarg)
				return cli_usage_error(cmd, "--bridge needs a bridge name");
			spec.network.type = VMM_NET_TAP;
			spec.network.bridge = optarg;
			break;
		case OPT_CLOUD_INIT:
			cloud_init_path = optarg;
			break;
		case OPT_SSH_KEY:
			ssh_key_path = optarg;
			break;
		case OPT_START:
			co.start = true;
			break;
		case OPT_PUBLISH:
			if (spec.n_forwards == VMM_FORWARDS_MAX)
				return cli_usage_error(cmd, "-p: at most %d forwards",
						       VMM_FORWARDS_MAX);
			if (vmm_forward_parse(optarg, &fw[spec.n_forwards], &err) < 0)
				return cli_usage_error(cmd, "-p: %s; %s", err.message, err.hint);
			spec.n_forwards++;
			break;
		case OPT_BACKEND:
			backend = optarg;
			break;
		case OPT_VNIC:
			if (!*optarg)
				return cli_usage_error(cmd, "--vnic needs a VNIC name");
			spec.network.type = VMM_NET_VNIC;
			spec.network.vnic = optarg;
			break;
		case OPT_SHARE: {
			struct vmm_share *grown = realloc(shares, (n_shares + 1) * sizeof(*grown));

			if (!grown) {
				rc = cli_errorf(VMM_E_NOMEM, NULL, "out of memory");
				goto out;
			}
			shares = grown;
			if (vmm_share_parse(optarg, &shares[n_shares], &err) < 0) {
				rc = err.code == VMM_E_USAGE && !err.sys_errno
					     ? cli_usage_error(cmd, "%s; %s", err.message, err.hint)
					     : cli_error(&err);
				goto out;
			}
			n_shares++;
			break;
		}
		case OPT_CONNECT:
			if (!*optarg)
				return cli_usage_error(cmd, "--connect needs a libvirt URI");
			spec.uri = optarg;
			break;
		}
	}
	spec.shares = shares;
	spec.n_shares = n_shares;
	if (optind < argc) {
		rc = cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (!spec.name) {
		rc = cli_usage_error(cmd, "--name is required");
		goto out;
	}
	if (!spec.image_path == !spec.image_url) {
		rc = cli_usage_error(cmd, "give exactly one of --image and --image-url");
		goto out;
	}
	if (sha256 && !spec.image_url) {
		rc = cli_usage_error(cmd, "--sha256 checks a download: it needs --image-url");
		goto out;
	}
	if (max_size && !spec.image_url) {
		rc = cli_usage_error(cmd, "--max-size limits a download: it needs --image-url");
		goto out;
	}
	if (cloud_init_path && ssh_key_path) {
		rc = cli_usage_error(cmd, "--cloud-init and --ssh-key cannot be combined: raw "
					  "user-data must set up SSH access itself");
		goto out;
	}
	if (vmm_vm_name_validate(spec.name, &err) < 0) {
		rc = cli_error(&err);
		goto out;
	}
	if (backend && vmm_backend_parse(backend, &co.backend) < 0) {
		rc = cli_usage_error(cmd, "--backend '%s' names no backend: use qemu, "
						  "propolis, libvirt or noop", backend);
		goto out;
	}
	if (!backend && cli_backend_from_env(&co.backend) < 0)
		goto out;
	if (spec.uri && backend && co.backend != VMM_BACKEND_LIBVIRT) {
		rc = cli_usage_error(cmd, "--connect places the VM on a libvirt host: it cannot "
					  "be combined with --backend %s", backend);
		goto out;
	}

	/* Every VM gets a cloud-init seed: vmctl's own cloud-config (with a
	 * generated key unless --ssh-key names one), or the user's raw
	 * user-data. */
	spec.cloud_init = &ci;
	if (cloud_init_path &&
	    !(ci.user_data = read_named("--cloud-init", cloud_init_path, &ci.user_data_len)))
		goto out;
	if (ssh_key_path && vmm_pubkey_file_read(ssh_key_path, &ci.ssh_pubkey, &err) < 0) {
		if (err.code == VMM_E_IO) {
			snprintf(err.message, sizeof(err.message), "cannot open --ssh-key file '%s': %s",
				 ssh_key_path, strerror(err.sys_errno));
			snprintf(err.hint, sizeof(err.hint), "check the path given to --ssh-key");
		}
		rc = cli_error(&err);
		goto out;
	}

	if (!(ctx = cli_ctx_open()))
		goto out;
	if (spec.image_url) {
		struct vmm_image_pull_opts po;
		struct cli_progress progress;

		vmm_image_pull_opts_init(&po);
		cli_progress_init(&progress, false);
		po.sha256 = sha256;
		if (max_size)
			po.max_size = max_size;
		po.progress = cli_progress_draw;
		po.progress_data = &progress;
		rc = vmm_image_fetch(vmm_ctx_paths(ctx), spec.image_url, &po, &fetched, &err);
		cli_progress_finish(&progress);
		if (rc < 0) {
			rc = cli_error(&err);
			goto out;
		}
		rc = CLI_EXIT_ERROR;
		spec.image_path = fetched;
	}
	if (vmm_vm_create(ctx, &spec, &co, &vm, &err) < 0) {
		rc = cli_error(&err);
		goto out;
	}
	printf("Created VM '%s' (%s backend)\n", vm->name, vmm_backend_name(vm->backend));
	for (size_t i = 0, shown = 0; i < vm->n_forwards; i++) {
		char text[64];

		if (!vm->forwards[i].host_port)
			continue; /* a backend that forwards no host ports */
		vmm_forward_format(&vm->forwards[i], text, sizeof(text));
		printf("%s %s", shown++ ? "," : "Forwarding", text);
	}
	for (size_t i = 0; i < vm->n_forwards; i++)
		if (vm->forwards[i].host_port) {
			putchar('\n');
			break;
		}
	if (co.start) {
		printf("Started VM '%s'", vm->name);
		if (vm->ssh_host_port)
			printf(" (SSH on 127.0.0.1:%u)", vm->ssh_host_port);
		printf("\n");
	}
	rc = CLI_EXIT_OK;
out:
	for (size_t i = 0; i < n_shares; i++)
		vmm_share_release(&shares[i]);
	free(shares);
	free(fetched);
	free(ci.user_data);
	free(ci.ssh_pubkey);
	vmm_vm_free(vm);
	vmm_ctx_free(ctx);
	return rc;
}

const struct cli_command cmd_create = {
	.name = "create",
	.summary = "Create a new VM and optionally start it",
	.usage = "  vmctl create --name NAME --image PATH [OPTIONS]\n"
		 "  vmctl create --name NAME --image-url URL [--sha256 HEX]\n"
		 "               [--max-size SIZE|none] [OPTIONS]",
	.help = "Registers a VM, makes a copy-on-write overlay of the image and a cloud-init\n"
		"seed (with a generated SSH key unless --ssh-key or --cloud-init is given).\n"
		"One of --image and --image-url is required.\n"
		"\n"
		"Options:\n"
		"      --name NAME         VM name (required): letters, digits, '.', '_', '-'\n"
		"      --image PATH        Local disk image to base the VM on\n"
		"      --image-url URL     Image to download (once: it is cached) and use\n"
		"      --sha256 HEX        Expected sha256 of the download (with --image-url)\n"
		"      --max-size SIZE|none\n"
		"                          Stop a download larger than SIZE (10M, 20G;\n"
		"                          default 256G) (with --image-url)\n"
		"      --vcpus N           Number of virtual CPUs (default: 1)\n"
		"      --memory MB         Memory in MB (default: 1024)\n"
		"      --disk GB           Grow the VM's disk to GB gigabytes\n"
		"      --bridge NAME       Use TAP networking on this bridge (default: user)\n"
		"  -p, --publish [IP:][HOSTPORT:]GUESTPORT[/udp]\n"
		"                          Forward a host port to the guest (user networking;\n"
		"                          repeatable): 8080:80, 127.0.0.1:5353:53/udp, 80\n"
		"                          (host port omitted or 0: vmctl picks one); the\n"
		"                          address defaults to 127.0.0.1\n"
		"      --vnic NAME         Use this illumos VNIC (propolis backend)\n"
		"      --backend NAME      qemu (default; propolis on illumos), propolis,\n"
		"                          libvirt or noop (default: $VMCTL_BACKEND)\n"
		"      --cloud-init FILE   Raw cloud-init user-data to pass to the guest\n"
		"      --ssh-key FILE      SSH public key(s) to authorize for the VM's user\n"
		"      --share HOST:GUEST[:ro]\n"
		"                          Share the host directory HOST with the guest at\n"
		"                          GUEST (absolute), read-only with :ro; repeatable.\n"
		"                          virtiofs, or virtio-9p where virtiofsd cannot run\n"
		"                          and for :ro; the generated cloud-config mounts it\n"
		
		"      --start             Start the VM after creating it\n"
		"      --connect URI       Place the VM on this libvirt host (the libvirt\n"
		"                          backend), e.g. qemu+ssh://admin@build1/system;\n"
		"                          with VMCTL_BACKEND=libvirt and no --connect,\n"
		"                          LIBVIRT_DEFAULT_URI\n",
	.run = run,
};
