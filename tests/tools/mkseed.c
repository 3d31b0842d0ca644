/* SPDX-License-Identifier: MIT */
/*
 * mkseed - test helper: make a NoCloud seed and keys with libvmm, the way
 * vmctl does, for tests that boot the test guest with plain QEMU.
 *
 *   mkseed --dir DIR [--hostname H] [--user U] [--port P] [--append LINE]
 *          [--user-data FILE] [--no-host-key]
 *
 * Writes DIR/id_ed25519_generated(.pub) (client key), DIR/seed.iso, and with
 * a host key (default) DIR/host_ed25519.pub and, given --port,
 * DIR/known_hosts pinning it for [127.0.0.1]:P. --append adds a line to the
 * generated cloud-config (passed on as raw user-data); --user-data uses a
 * file as raw user-data instead.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "vmm/cloudinit.h"
#include "vmm/keys.h"

static int fail(const struct vmm_error *err)
{
	fprintf(stderr, "mkseed: %s\n", err->message);
	if (err->hint[0])
		fprintf(stderr, "mkseed: hint: %s\n", err->hint);
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"dir", required_argument, NULL, 'd'},
		{"hostname", required_argument, NULL, 'h'},
		{"user", required_argument, NULL, 'u'},
		{"port", required_argument, NULL, 'p'},
		{"append", required_argument, NULL, 'a'},
		{"user-data", required_argument, NULL, 'D'},
		{"no-host-key", no_argument, NULL, 'n'},
		{NULL, 0, NULL, 0},
	};
	const char *dir = NULL, *append = NULL, *ud_file = NULL;
	struct vmm_seed_spec spec = {0};
	struct vmm_keypair host = {0};
	struct vmm_error err = {0};
	char *pub = NULL, *ud = NULL, *raw = NULL, *kh = NULL, *path = NULL;
	size_t ud_len = 0;
	unsigned port = 0;
	int host_key = 1, c, rc = 1;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'h': spec.hostname = optarg; break;
		case 'u': spec.user = optarg; break;
		case 'p': port = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'a': append = optarg; break;
		case 'D': ud_file = optarg; break;
		case 'n': host_key = 0; break;
		default: return 2;
		}
	}
	if (!dir) {
		fprintf(stderr, "usage: mkseed --dir DIR [options]\n");
		return 2;
	}
	if (vmmi_mkdir_p(dir, 0700, &err) < 0 ||
	    vmm_keys_generate_vm(dir, "vmctl-test", &pub, NULL, &err) < 0)
		goto out;
	spec.authorized_keys = pub;
	if (host_key) {
		if (vmm_keypair_generate(&host, NULL, &err) < 0)
			goto out;
		spec.host_key_private = host.private_openssh;
		spec.host_key_public = host.public_line;
		free(path);
		path = vmmi_path_join(dir, "host_ed25519.pub");
		if (vmmi_write_file_atomic(path, host.public_line, strlen(host.public_line), 0644,
					   &err) < 0)
			goto out;
		if (port) {
			if (vmm_known_hosts_line("127.0.0.1", port, host.public_line, &kh, &err) < 0)
				goto out;
			free(path);
			path = vmmi_path_join(dir, "known_hosts");
			free(raw);
			raw = vmmi_asprintf("%s\n", kh);
			if (vmmi_write_file_atomic(path, raw, strlen(raw), 0644, &err) < 0)
				goto out;
		}
	}
	if (ud_file) {
		if (vmmi_read_file(ud_file, &ud, &ud_len, &err) < 0)
			goto out;
		spec.user_data = ud;
		spec.user_data_len = ud_len;
	} else if (append) {
		if (vmm_cloudinit_user_data(&spec, &ud, &ud_len, &err) < 0)
			goto out;
		free(raw);
		raw = vmmi_asprintf("%s%s\n", ud, append);
		spec.user_data = raw;
		spec.user_data_len = strlen(raw);
	}
	free(path);
	path = vmmi_path_join(dir, "seed.iso");
	if (vmm_cloudinit_write_seed(&spec, path, &err) < 0)
		goto out;
	printf("%s\n", path);
	rc = 0;
out:
	if (rc)
		fail(&err);
	vmm_keypair_release(&host);
	free(pub);
	free(ud);
	free(raw);
	free(kh);
	free(path);
	return rc;
}
