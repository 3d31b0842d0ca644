/* SPDX-License-Identifier: MIT */
/* Download progress on stderr: a bar on a terminal, a plain line every 5 %
 * otherwise. */
#ifndef VMCTL_PROGRESS_H
#define VMCTL_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/image.h"

struct cli_progress {
	bool tty;
	bool quiet;
	int last_step;      /* last 5 % step printed (plain mode) */
	uint64_t last_mark; /* bytes at the last plain line, size unknown */
	unsigned spin;
	bool drew;          /* a bar is on the screen, without its newline */
};

void cli_progress_init(struct cli_progress *st, bool quiet);

/* A vmm_image_progress_fn; userdata is a struct cli_progress. */
void cli_progress_draw(const struct vmm_image_progress *p, void *userdata);

/* End a bar left on the screen (before printing anything else). */
void cli_progress_finish(struct cli_progress *st);

#endif
