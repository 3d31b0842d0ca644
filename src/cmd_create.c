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
	const char *sha256 = NULL;
	uint64_t max_size = 0;
	char *fetched = NULL;
	int c, rc = CLI_EXIT_ERROR;

	vmm_vm_spec_init(&spec);
	vmm_create_opts_init(&co);
	while ((c = cli_getopt(cmd, argc, argv, "", longopts)) != -1) {
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
		case OPT_CONNECT:
			if (!*optarg)
				return cli_usage_error(cmd, "--connect needs a libvirt URI");
			spec.uri = optarg;
			break;
		}
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (!spec.name)
		return cli_usage_error(cmd, "--name is required");
	if (!spec.image_path == !spec.image_url)
		return cli_usage_error(cmd, "give exactly one of --image and --image-url");
	if (sha256 && !spec.image_url)
		return cli_usage_error(cmd, "--sha256 checks a download: it needs --image-url");
	if (max_size && !spec.image_url)
		return cli_usage_error(cmd, "--max-size limits a download: it needs --image-url");
	if (cloud_init_path && ssh_key_path)
		return cli_usage_error(cmd, "--cloud-init and --ssh-key cannot be combined: raw "
					    "user-data must set up SSH access itself");
	if (vmm_vm_name_validate(spec.name, &err) < 0)
		return cli_error(&err);
	if (cli_backend_from_env(&co.backend) < 0)
		return CLI_EXIT_ERROR;

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
	if (co.start) {
		printf("Started VM '%s'", vm->name);
		if (vm->ssh_host_port)
			printf(" (SSH on 127.0.0.1:%u)", vm->ssh_host_port);
		printf("\n");
	}
	rc = CLI_EXIT_OK;
out:
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
		"      --cloud-init FILE   Raw cloud-init user-data to pass to the guest\n"
		"      --ssh-key FILE      SSH public key(s) to authorize for the VM's user\n"
		"      --start             Start the VM after creating it\n"
		"      --connect URI       Place the VM on this libvirt host (the libvirt\n"
		"                          backend), e.g. qemu+ssh://admin@build1/system;\n"
		"                          with VMCTL_BACKEND=libvirt and no --connect,\n"
		"                          LIBVIRT_DEFAULT_URI\n",
	.run = run,
};
