/* SPDX-License-Identifier: MIT */
/*
 * bench/sftp_upload.c - upload one file through libvmm's SFTP and print the
 * elapsed wall time in seconds (used by bench/sftp.sh).
 *
 *   sftp_upload HOST PORT USER KEY KNOWN_HOSTS LOCAL REMOTE
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "vmm/error.h"
#include "vmm/ssh.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct vmm_ssh_config cfg = {0};
	struct vmm_ssh *s = NULL;
	struct vmm_error err;
	double t0;

	if (argc != 8) {
		fprintf(stderr, "usage: %s HOST PORT USER KEY KNOWN_HOSTS LOCAL REMOTE\n", argv[0]);
		return 2;
	}
	cfg.host = argv[1];
	cfg.port = (unsigned)atoi(argv[2]);
	cfg.user = argv[3];
	cfg.key_path = argv[4];
	cfg.known_hosts = argv[5];
	cfg.hostkey_policy = VMM_SSH_HOSTKEY_PINNED;
	if (vmm_ssh_connect(&cfg, &s, &err) < 0) {
		fprintf(stderr, "error[%s]: %s\n", vmm_errcode_name(err.code), err.message);
		return 1;
	}
	t0 = now_s();
	if (vmm_ssh_upload(s, argv[6], argv[7], -1, &err) < 0) {
		fprintf(stderr, "error[%s]: %s\n", vmm_errcode_name(err.code), err.message);
		vmm_ssh_free(s);
		return 1;
	}
	printf("%.3f\n", now_s() - t0);
	vmm_ssh_free(s);
	return 0;
}
