/* SPDX-License-Identifier: MIT */
/* vmctl image pull|list|inspect|rm - the image cache and disk images. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "progress.h"
#include "vmm/image.h"
#include "vmm/manager.h"
#include "vmm/paths.h"

#define MIB (1024.0 * 1024.0)

static void fmt_bytes(uint64_t b, char *buf, size_t size)
{
	if (b >= 1024ull * 1024 * 1024)
		snprintf(buf, size, "%.2f GiB", (double)b / (MIB * 1024.0));
	else
		snprintf(buf, size, "%.1f MiB", (double)b / MIB);
}

/* ---- pull ---- */

static int cmd_pull(const struct cli_command *cmd, int argc, char **argv)
{
	enum { OPT_NAME = 1, OPT_SHA, OPT_QUIET, OPT_STALL };
	static const struct option longopts[] = {
		{"name", required_argument, NULL, OPT_NAME},
		{"sha256", required_argument, NULL, OPT_SHA},
		{"quiet", no_argument, NULL, OPT_QUIET},
		{"stall-timeout", required_argument, NULL, OPT_STALL},
		{0},
	};
	struct vmm_image_pull_opts opts;
	struct vmm_paths paths;
	struct vmm_cached_image *img = NULL;
	struct vmm_error err;
	struct cli_progress progress;
	bool quiet = false;
	const char *url;
	int c, rc;

	vmm_image_pull_opts_init(&opts);
	while ((c = cli_getopt(cmd, argc, argv, "q", longopts)) != -1) {
		switch (c) {
		case OPT_NAME:
			opts.name = optarg;
			break;
		case OPT_SHA:
			opts.sha256 = optarg;
			break;
		case 'q':
		case OPT_QUIET:
			quiet = true;
			break;
		case OPT_STALL:
			opts.stall_timeout_s =
				(unsigned)cli_parse_u64(cmd, "--stall-timeout", optarg, 1, 3600);
			break;
		}
	}
	url = cli_one_operand(cmd, argc, argv, "URL");
	cli_progress_init(&progress, quiet);
	opts.progress = cli_progress_draw;
	opts.progress_data = &progress;
	if (vmm_paths_init(&paths, &err) < 0)
		return cli_error(&err);
	rc = vmm_image_pull(&paths, url, &opts, &img, &err);
	cli_progress_finish(&progress);
	vmm_paths_release(&paths);
	if (rc < 0)
		return cli_error(&err);
	if (!quiet)
		fprintf(stderr, "%s: sha256 %s\n", img->name, img->sha256);
	printf("%s\n", img->path);
	vmm_cached_image_free(img);
	return CLI_EXIT_OK;
}

/* ---- list ---- */

static json_t *image_json(const struct vmm_cached_image *img)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:I, s:s, s:s}", "name", img->name,
			 "url", img->url, "path", img->path, "size", (json_int_t)img->size,
			 "sha256", img->sha256, "compression", img->compression,
			 "download_size", (json_int_t)img->download_size, "pulled_at",
			 img->pulled_at ? img->pulled_at : "", "key", img->key);
}

static int print_json(json_t *j)
{
	char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;

	json_decref(j);
	if (!text) {
		fprintf(stderr, "vmctl: out of memory\n");
		return CLI_EXIT_ERROR;
	}
	printf("%s\n", text);
	free(text);
	return CLI_EXIT_OK;
}

static int cmd_list(const struct cli_command *cmd, int argc, char **argv)
{
	enum { OPT_JSON = 1, OPT_DIGEST };
	static const struct option longopts[] = {
		{"json", no_argument, NULL, OPT_JSON},
		{"digests", no_argument, NULL, OPT_DIGEST},
		{0},
	};
	struct vmm_paths paths;
	struct vmm_cached_image **imgs = NULL;
	struct vmm_error err;
	bool json = false, digests = false;
	size_t n = 0, wname = 4;
	int c, rc;

	while ((c = cli_getopt(cmd, argc, argv, "", longopts)) != -1) {
		if (c == OPT_JSON)
			json = true;
		else if (c == OPT_DIGEST)
			digests = true;
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (vmm_paths_init(&paths, &err) < 0)
		return cli_error(&err);
	rc = vmm_image_list(&paths, &imgs, &n, &err);
	vmm_paths_release(&paths);
	if (rc < 0)
		return cli_error(&err);
	if (json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < n && arr; i++)
			json_array_append_new(arr, image_json(imgs[i]));
		vmm_cached_image_list_free(imgs, n);
		return print_json(arr);
	}
	for (size_t i = 0; i < n; i++)
		if (strlen(imgs[i]->name) > wname)
			wname = strlen(imgs[i]->name);
	if (digests)
		printf("%-*s  %10s  %-64s  %s\n", (int)wname, "NAME", "SIZE", "SHA256", "PATH");
	else
		printf("%-*s  %10s  %s\n", (int)wname, "NAME", "SIZE", "PATH");
	for (size_t i = 0; i < n; i++) {
		char size[32];

		/* GB as the reference prints it (10^9 bytes, two decimals) */
		snprintf(size, sizeof(size), "%.2f GB", (double)imgs[i]->size / 1e9);
		if (digests)
			printf("%-*s  %10s  %-64s  %s\n", (int)wname, imgs[i]->name, size,
			       imgs[i]->sha256, imgs[i]->path);
		else
			printf("%-*s  %10s  %s\n", (int)wname, imgs[i]->name, size, imgs[i]->path);
	}
	vmm_cached_image_list_free(imgs, n);
	return CLI_EXIT_OK;
}

/* ---- inspect ---- */

static int cmd_inspect(const struct cli_command *cmd, int argc, char **argv)
{
	enum { OPT_JSON = 1 };
	static const struct option longopts[] = {
		{"json", no_argument, NULL, OPT_JSON},
		{0},
	};
	struct vmm_image_info info;
	struct vmm_error err;
	bool json = false;
	const char *path;
	char a[32], b[32];
	int c;

	while ((c = cli_getopt(cmd, argc, argv, "", longopts)) != -1)
		if (c == OPT_JSON)
			json = true;
	path = cli_one_operand(cmd, argc, argv, "PATH");
	if (vmm_image_info(path, &info, &err) < 0)
		return cli_error(&err);
	if (json) {
		json_t *j = json_pack("{s:s, s:s, s:I, s:I, s:[]}", "path", info.path, "format",
				      info.format, "virtual_size", (json_int_t)info.virtual_size,
				      "actual_size", (json_int_t)info.actual_size, "backing_chain");
		json_t *chain = j ? json_object_get(j, "backing_chain") : NULL;

		for (size_t i = 0; chain && i < info.n_backing; i++)
			json_array_append_new(chain,
					      json_pack("{s:s, s:s?}", "filename",
							info.backing[i].filename, "format",
							info.backing[i].format));
		vmm_image_info_release(&info);
		return print_json(j);
	}
	fmt_bytes(info.virtual_size, a, sizeof(a));
	fmt_bytes(info.actual_size, b, sizeof(b));
	printf("Path:          %s\n", info.path);
	printf("Format:        %s\n", info.format);
	printf("Virtual size:  %s (%llu bytes)\n", a, (unsigned long long)info.virtual_size);
	printf("Actual size:   %s (%llu bytes)\n", b, (unsigned long long)info.actual_size);
	if (info.n_backing == 0)
		printf("Backing chain: none\n");
	for (size_t i = 0; i < info.n_backing; i++)
		printf("%s %s (%s)\n", i == 0 ? "Backing chain:" : "              ",
		       info.backing[i].filename,
		       info.backing[i].format ? info.backing[i].format : "unknown format");
	vmm_image_info_release(&info);
	return CLI_EXIT_OK;
}

/* ---- rm ---- */

static bool same_file(const char *a, const char *b)
{
	char *ra, *rb;
	bool same;

	if (!a || !b)
		return false;
	if (strcmp(a, b) == 0)
		return true;
	ra = realpath(a, NULL);
	rb = realpath(b, NULL);
	same = ra && rb && strcmp(ra, rb) == 0;
	free(ra);
	free(rb);
	return same;
}

static int cmd_rm(const struct cli_command *cmd, int argc, char **argv)
{
	struct vmm_ctx *ctx = NULL;
	struct vmm_cached_image *img = NULL;
	struct vmm_vm **vms = NULL;
	struct vmm_error err;
	const char *what;
	char users[512] = "";
	size_t n = 0, nusers = 0;
	int c, rc = CLI_EXIT_OK;

	while ((c = cli_getopt(cmd, argc, argv, "", NULL)) != -1)
		;
	what = cli_one_operand(cmd, argc, argv, "NAME");
	if (vmm_ctx_new(&ctx, &err) < 0)
		return cli_error(&err);
	if (vmm_image_find(vmm_ctx_paths(ctx), what, &img, &err) < 0 ||
	    vmm_vm_list(ctx, &vms, &n, &err) < 0) {
		rc = cli_error(&err);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (!same_file(vms[i]->image_path, img->path) &&
		    !(vms[i]->image_url && strcmp(vms[i]->image_url, img->url) == 0))
			continue;
		if (nusers++)
			strncat(users, ", ", sizeof(users) - strlen(users) - 1);
		strncat(users, vms[i]->name, sizeof(users) - strlen(users) - 1);
	}
	if (nusers) {
		vmm_error_set(&err, VMM_E_IMAGE_IN_USE, 0, NULL,
			      "image '%s' is the base of %zu VM%s: %s", img->name, nusers,
			      nusers == 1 ? "" : "s", users);
		snprintf(err.hint, sizeof(err.hint),
			 "destroy the VM%s first (`vmctl destroy NAME`); their overlays "
			 "read from this image",
			 nusers == 1 ? "" : "s");
		rc = cli_error(&err);
		goto out;
	}
	if (vmm_image_remove(vmm_ctx_paths(ctx), img->path, &err) < 0) {
		rc = cli_error(&err);
		goto out;
	}
	printf("Removed %s (%s)\n", img->name, img->url);
out:
	vmm_vm_list_free(vms, n);
	vmm_cached_image_free(img);
	vmm_ctx_free(ctx);
	return rc;
}

/* ---- dispatch ---- */

static const struct cli_command sub_pull = {
	.name = "image pull",
	.summary = "Download an image into the cache",
	.usage = "  vmctl image pull [--name NAME] [--sha256 HEX] [--quiet] URL",
	.help = "Downloads URL into the image cache (decompressing .zst, .xz and .gz images\n"
		"on the fly) and prints the cached image's path. An image already cached\n"
		"for URL is not downloaded again. Concurrent pulls of one URL download it\n"
		"once; an interrupted download is resumed by the next pull.\n\n"
		"Options:\n"
		"      --name NAME         Name to show for the image (default: the URL's\n"
		"                          file name without a compression suffix)\n"
		"      --sha256 HEX        Expected sha256 of the file as published (for a\n"
		"                          compressed image, of the compressed file, as\n"
		"                          SHA256SUMS lists it); nothing is cached on a\n"
		"                          mismatch\n"
		"  -q, --quiet             No progress output\n"
		"      --stall-timeout SECONDS\n"
		"                          Retry a connection that sends nothing for\n"
		"                          SECONDS seconds (default 30)\n",
	.run = cmd_pull,
};

static const struct cli_command sub_list = {
	.name = "image list",
	.summary = "List cached images",
	.usage = "  vmctl image list [--json] [--digests]",
	.help = "Lists the images in the cache: NAME SIZE PATH.\n\n"
		"Options:\n"
		"      --json              Machine-readable output (with URL, sha256, ...)\n"
		"      --digests           Add a SHA256 column (digest of the file as\n"
		"                          published)\n",
	.run = cmd_list,
};

static const struct cli_command sub_inspect = {
	.name = "image inspect",
	.summary = "Show a disk image's format and details",
	.usage = "  vmctl image inspect [--json] PATH",
	.help = "Shows the format, virtual size, actual size and backing chain of a disk\n"
		"image (from qemu-img info).\n\n"
		"Options:\n"
		"      --json              Machine-readable output\n",
	.run = cmd_inspect,
};

static const struct cli_command sub_rm = {
	.name = "image rm",
	.summary = "Remove an image from the cache",
	.usage = "  vmctl image rm NAME|URL|PATH",
	.help = "Removes a cached image. Refuses while a registered VM was created from it.\n"
		"A name two cached images share is ambiguous: give the URL or path.\n",
	.run = cmd_rm,
};

static const struct cli_command *const subs[] = {&sub_pull, &sub_list, &sub_inspect, &sub_rm,
						 NULL};

static int run(const struct cli_command *cmd, int argc, char **argv)
{
	/* options before the subcommand: --help, or a usage error */
	if (argc >= 2 && argv[1][0] == '-')
		while (cli_getopt(cmd, argc, argv, "", NULL) != -1)
			;
	if (argc < 2)
		return cli_usage_error(cmd, "missing subcommand (pull, list, inspect or rm)");
	for (const struct cli_command *const *s = subs; *s; s++) {
		if (strcmp((*s)->name + strlen("image "), argv[1]) == 0) {
			cli_getopt_reset();
			return (*s)->run(*s, argc - 1, argv + 1);
		}
	}
	return cli_usage_error(cmd, "unknown subcommand '%s' (pull, list, inspect or rm)",
			       argv[1]);
}

const struct cli_command cmd_image = {
	.name = "image",
	.summary = "Manage VM disk images (pull, list, inspect, rm)",
	.usage = "  vmctl image pull [--name NAME] [--sha256 HEX] [--quiet] URL\n"
		 "  vmctl image list [--json] [--digests]\n"
		 "  vmctl image inspect [--json] PATH\n"
		 "  vmctl image rm NAME|URL|PATH",
	.help = "Subcommands:\n"
		"  pull      Download an image into the cache\n"
		"  list      List cached images\n"
		"  inspect   Show a disk image's format and details\n"
		"  rm        Remove an image from the cache\n\n"
		"Run 'vmctl image <SUBCOMMAND> --help' for its options.\n",
	.run = run,
};
