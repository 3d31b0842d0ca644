/* SPDX-License-Identifier: MIT */
/* vmctl image pull|list|inspect|rm|prune - the image cache and disk images. */
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
	enum { OPT_NAME = 1, OPT_SHA, OPT_QUIET, OPT_STALL, OPT_MAX, OPT_LSL, OPT_LST };
	static const struct option longopts[] = {
		{"name", required_argument, NULL, OPT_NAME},
		{"sha256", required_argument, NULL, OPT_SHA},
		{"quiet", no_argument, NULL, OPT_QUIET},
		{"stall-timeout", required_argument, NULL, OPT_STALL},
		{"max-size", required_argument, NULL, OPT_MAX},
		{"low-speed-limit", required_argument, NULL, OPT_LSL},
		{"low-speed-time", required_argument, NULL, OPT_LST},
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
		case OPT_MAX:
			if (vmm_image_parse_size(optarg, &opts.max_size, &err) < 0)
				return cli_usage_error(cmd, "--max-size: %s; %s", err.message,
						       err.hint);
			break;
		case OPT_LSL:
			opts.low_speed_limit = (unsigned)cli_parse_u64(cmd, "--low-speed-limit",
								       optarg, 0, 1u << 30);
			break;
		case OPT_LST:
			opts.low_speed_time_s =
				(unsigned)cli_parse_u64(cmd, "--low-speed-time", optarg, 1, 3600);
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
	bool complete = img->state == VMM_IMAGE_COMPLETE;
	json_t *users = json_array();
	json_t *j;

	for (size_t i = 0; users && i < img->n_users; i++)
		json_array_append_new(users, json_string(img->users[i]));
	j = json_pack("{s:s, s:s?, s:s, s:I, s:s?, s:s?, s:I, s:s?, s:s, s:s, s:I, s:o?}", "name",
		      img->name, "url", img->url, "path", img->path, "size",
		      (json_int_t)img->size, "sha256", img->sha256, "compression",
		      img->compression, "download_size", (json_int_t)img->download_size,
		      "pulled_at", img->pulled_at ? img->pulled_at : complete ? "" : NULL,
		      "key", img->key, "state", vmm_image_state_name(img->state), "disk_usage",
		      (json_int_t)img->disk_usage, "used_by", users);
	return j;
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

/* "vm1,vm2", or "-" for none (malloc'd; NULL on allocation failure). */
static char *users_column(const struct vmm_cached_image *img)
{
	size_t len = 2;
	char *s;

	for (size_t i = 0; i < img->n_users; i++)
		len += strlen(img->users[i]) + 1;
	if (!(s = malloc(len)))
		return NULL;
	strcpy(s, img->n_users ? "" : "-");
	for (size_t i = 0; i < img->n_users; i++) {
		if (i)
			strcat(s, ",");
		strcat(s, img->users[i]);
	}
	return s;
}

static int cmd_list(const struct cli_command *cmd, int argc, char **argv)
{
	enum { OPT_JSON = 1, OPT_DIGEST };
	static const struct option longopts[] = {
		{"json", no_argument, NULL, OPT_JSON},
		{"digests", no_argument, NULL, OPT_DIGEST},
		{0},
	};
	struct vmm_ctx *ctx = NULL;
	struct vmm_cached_image **imgs = NULL;
	struct vmm_error err;
	bool json = false, digests = false;
	size_t n = 0, wname = 4, wusers = 3;
	uint64_t total = 0;
	char **users = NULL;
	char size[32];
	int c, rc;

	while ((c = cli_getopt(cmd, argc, argv, "", longopts)) != -1) {
		if (c == OPT_JSON)
			json = true;
		else if (c == OPT_DIGEST)
			digests = true;
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (vmm_ctx_new(&ctx, &err) < 0)
		return cli_error(&err);
	rc = vmm_image_entries(ctx, &imgs, &n, &err);
	vmm_ctx_free(ctx);
	if (rc < 0)
		return cli_error(&err);
	if (json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < n && arr; i++)
			json_array_append_new(arr, image_json(imgs[i]));
		vmm_cached_image_list_free(imgs, n);
		return print_json(arr);
	}
	if (n && !(users = calloc(n, sizeof(*users)))) {
		vmm_cached_image_list_free(imgs, n);
		fprintf(stderr, "vmctl: out of memory\n");
		return CLI_EXIT_ERROR;
	}
	rc = CLI_EXIT_OK;
	for (size_t i = 0; i < n; i++) {
		if (!(users[i] = users_column(imgs[i]))) {
			fprintf(stderr, "vmctl: out of memory\n");
			rc = CLI_EXIT_ERROR;
			goto out;
		}
		if (strlen(imgs[i]->name) > wname)
			wname = strlen(imgs[i]->name);
		if (strlen(users[i]) > wusers)
			wusers = strlen(users[i]);
		total += imgs[i]->disk_usage;
	}
	printf("%-*s  %-11s  %10s  %-*s  ", (int)wname, "NAME", "STATE", "SIZE", (int)wusers,
	       "VMS");
	if (digests)
		printf("%-64s  ", "SHA256");
	printf("PATH\n");
	for (size_t i = 0; i < n; i++) {
		const struct vmm_cached_image *img = imgs[i];

		/* SIZE: what the entry takes on disk (images are sparse) */
		printf("%-*s  %-11s  %10s  %-*s  ", (int)wname, img->name,
		       vmm_image_state_name(img->state),
		       cli_human_size(img->disk_usage, size, sizeof(size)), (int)wusers, users[i]);
		if (digests)
			printf("%-64s  ", img->sha256 ? img->sha256 : "-");
		printf("%s\n", img->path);
	}
	printf("Total: %s on disk (%zu entr%s)\n", cli_human_size(total, size, sizeof(size)), n,
	       n == 1 ? "y" : "ies");
out:
	for (size_t i = 0; users && i < n; i++)
		free(users[i]);
	free(users);
	vmm_cached_image_list_free(imgs, n);
	return rc;
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

static int cmd_rm(const struct cli_command *cmd, int argc, char **argv)
{
	struct vmm_ctx *ctx = NULL;
	struct vmm_cached_image *img = NULL;
	struct vmm_error err;
	const char *what;
	int c, rc = CLI_EXIT_OK;

	while ((c = cli_getopt(cmd, argc, argv, "", NULL)) != -1)
		;
	what = cli_one_operand(cmd, argc, argv, "NAME");
	if (vmm_ctx_new(&ctx, &err) < 0)
		return cli_error(&err);
	if (vmm_image_remove_unused(ctx, what, &img, &err) < 0)
		rc = cli_error(&err);
	else
		printf("Removed %s%s (%s)\n",
		       img->state == VMM_IMAGE_COMPLETE ? "" : "partial download ", img->name,
		       img->url ? img->url : img->path);
	vmm_cached_image_free(img);
	vmm_ctx_free(ctx);
	return rc;
}

/* ---- prune ---- */

static const char *prune_what(enum vmm_image_prune_kind kind)
{
	switch (kind) {
	case VMM_PRUNE_PARTIAL:
		return "partial download";
	case VMM_PRUNE_LOCK:
		return "stale lock";
	case VMM_PRUNE_TEMP:
		return "leftover file";
	case VMM_PRUNE_UNUSED:
		return "unused image";
	case VMM_PRUNE_BUSY:
		break;
	}
	return "";
}

static json_t *pruned_json(const struct vmm_image_pruned *it)
{
	return json_pack("{s:s, s:s, s:s?, s:s?, s:I}", "kind", vmm_image_prune_kind_name(it->kind),
			 "path", it->path, "name", it->name, "url", it->url, "bytes",
			 (json_int_t)it->bytes);
}

static int cmd_prune(const struct cli_command *cmd, int argc, char **argv)
{
	enum { OPT_ALL = 1, OPT_DRY, OPT_JSON };
	static const struct option longopts[] = {
		{"all", no_argument, NULL, OPT_ALL},
		{"dry-run", no_argument, NULL, OPT_DRY},
		{"json", no_argument, NULL, OPT_JSON},
		{0},
	};
	struct vmm_image_prune_opts opts = {0};
	struct vmm_image_prune_report r;
	struct vmm_ctx *ctx = NULL;
	struct vmm_error err;
	bool json = false;
	size_t removed = 0;
	char size[32];
	int c, rc;

	while ((c = cli_getopt(cmd, argc, argv, "", longopts)) != -1) {
		if (c == OPT_ALL)
			opts.all = true;
		else if (c == OPT_DRY)
			opts.dry_run = true;
		else if (c == OPT_JSON)
			json = true;
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (vmm_ctx_new(&ctx, &err) < 0)
		return cli_error(&err);
	rc = vmm_image_prune(ctx, &opts, &r, &err);
	vmm_ctx_free(ctx);
	if (rc < 0)
		return cli_error(&err);
	if (json) {
		json_t *j = json_pack("{s:b, s:I, s:[], s:[]}", "dry_run", opts.dry_run, "freed",
				      (json_int_t)r.freed, "removed", "kept");
		json_t *rem = j ? json_object_get(j, "removed") : NULL;
		json_t *kept = j ? json_object_get(j, "kept") : NULL;

		for (size_t i = 0; j && i < r.n; i++)
			json_array_append_new(r.items[i].kind == VMM_PRUNE_BUSY ? kept : rem,
					      pruned_json(&r.items[i]));
		vmm_image_prune_report_release(&r);
		return print_json(j);
	}
	for (size_t i = 0; i < r.n; i++) {
		const struct vmm_image_pruned *it = &r.items[i];

		if (it->kind == VMM_PRUNE_BUSY) {
			printf("Kept %s (%s): a pull is in progress\n", it->name,
			       it->url ? it->url : it->path);
			continue;
		}
		removed++;
		printf("%s %s ", opts.dry_run ? "Would remove" : "Removed", prune_what(it->kind));
		if (it->kind == VMM_PRUNE_PARTIAL || it->kind == VMM_PRUNE_UNUSED)
			printf("%s (%s)", it->name, it->url ? it->url : it->path);
		else
			printf("%s", it->path);
		printf(": %s\n", cli_human_size(it->bytes, size, sizeof(size)));
	}
	if (removed == 0)
		printf("Nothing to remove\n");
	else
		printf("%s %s (%llu bytes)\n", opts.dry_run ? "Would free" : "Freed",
		       cli_human_size(r.freed, size, sizeof(size)), (unsigned long long)r.freed);
	vmm_image_prune_report_release(&r);
	return CLI_EXIT_OK;
}

/* ---- dispatch ---- */

static const struct cli_command sub_pull = {
	.name = "image pull",
	.summary = "Download an image into the cache",
	.usage = "  vmctl image pull [--name NAME] [--sha256 HEX] [-q|--quiet]\n"
		 "                   [--stall-timeout SECONDS] [--max-size SIZE|none]\n"
		 "                   [--low-speed-limit BYTES] [--low-speed-time SECONDS] URL",
	.help = "Downloads URL into the image cache (decompressing .zst, .xz and .gz images\n"
		"on the fly) and prints the cached image's path. An image already cached\n"
		"for URL is not downloaded again. Concurrent pulls of one URL download it\n"
		"once; an interrupted download is resumed by the next pull.\n\n"
		"A server is not trusted: a web page or text (by its Content-Type or its\n"
		"first bytes), a redirect off http(s), a file:// URL that is not a regular\n"
		"file are refused; a download stops at the size limit, or when it would\n"
		"leave less than 1 GiB (or 5 % if less) free on the cache's filesystem.\n"
		"Nothing is cached then, and no partial file is kept.\n\n"
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
		"                          SECONDS seconds (default 30)\n"
		"      --max-size SIZE|none\n"
		"                          Stop if the image, as published or decompressed,\n"
		"                          is larger than SIZE (bytes, or with a K, M, G or\n"
		"                          T suffix: 10M, 20G; default 256G); none: no\n"
		"                          limit\n"
		"      --low-speed-limit BYTES\n"
		"      --low-speed-time SECONDS\n"
		"                          Retry a connection slower than BYTES per second\n"
		"                          for SECONDS seconds (defaults 1024 and 60; a\n"
		"                          limit of 0 turns the check off)\n",
	.run = cmd_pull,
};

static const struct cli_command sub_list = {
	.name = "image list",
	.summary = "List cached images",
	.usage = "  vmctl image list [--json] [--digests]",
	.help = "Lists the entries of the image cache: NAME STATE SIZE VMS PATH, and the\n"
		"total. STATE is complete (an image), partial (a pull that failed or was\n"
		"killed left its part file: never used as an image; `vmctl image prune`\n"
		"or `vmctl image rm NAME` removes it) or downloading (a pull is running).\n"
		"SIZE is what the entry takes on disk; VMS, the VMs created from it.\n\n"
		"Options:\n"
		"      --json              Machine-readable output (with URL, sha256, exact\n"
		"                          sizes, ...)\n"
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
	.help = "Removes a cached image, or what a failed or killed pull left (a partial\n"
		"entry, named as the pull would have named the image). Refuses while a\n"
		"registered VM was created from the image, or while a pull of a partial\n"
		"entry is running. A name two cached images share is ambiguous: give the\n"
		"URL or path.\n",
	.run = cmd_rm,
};

static const struct cli_command sub_prune = {
	.name = "image prune",
	.summary = "Clean the image cache up",
	.usage = "  vmctl image prune [--all] [--dry-run] [--json]",
	.help = "Removes what failed or killed pulls left in the image cache: partial\n"
		"downloads (never one a running pull is writing), lock files nobody holds,\n"
		"leftover temporary files. Prints what it removed and the space freed.\n\n"
		"Options:\n"
		"      --all               Also remove the images no registered VM uses\n"
		"      --dry-run           Remove nothing; show what would be removed\n"
		"      --json              Machine-readable output\n",
	.run = cmd_prune,
};

static const struct cli_command *const subs[] = {&sub_pull,	&sub_list,  &sub_inspect,
						 &sub_rm,	&sub_prune, NULL};

static int run(const struct cli_command *cmd, int argc, char **argv)
{
	/* options before the subcommand: --help, or a usage error */
	if (argc >= 2 && argv[1][0] == '-')
		while (cli_getopt(cmd, argc, argv, "", NULL) != -1)
			;
	if (argc < 2)
		return cli_usage_error(cmd, "missing subcommand (pull, list, inspect, rm or prune)");
	for (const struct cli_command *const *s = subs; *s; s++) {
		if (strcmp((*s)->name + strlen("image "), argv[1]) == 0) {
			cli_getopt_reset();
			return (*s)->run(*s, argc - 1, argv + 1);
		}
	}
	return cli_usage_error(cmd, "unknown subcommand '%s' (pull, list, inspect, rm or prune)",
			       argv[1]);
}

const struct cli_command cmd_image = {
	.name = "image",
	.summary = "Manage VM disk images (pull, list, inspect, rm, prune)",
	.usage = "  vmctl image pull [--name NAME] [--sha256 HEX] [-q|--quiet]\n"
		 "                   [--stall-timeout SECONDS] [--max-size SIZE|none]\n"
		 "                   [--low-speed-limit BYTES] [--low-speed-time SECONDS] URL\n"
		 "  vmctl image list [--json] [--digests]\n"
		 "  vmctl image inspect [--json] PATH\n"
		 "  vmctl image rm NAME|URL|PATH\n"
		 "  vmctl image prune [--all] [--dry-run] [--json]",
	.help = "Subcommands:\n"
		"  pull      Download an image into the cache\n"
		"  list      List cached images\n"
		"  inspect   Show a disk image's format and details\n"
		"  rm        Remove an image from the cache\n"
		"  prune     Clean the image cache up\n\n"
		"Run 'vmctl image <SUBCOMMAND> --help' for its options.\n",
	.run = run,
};
