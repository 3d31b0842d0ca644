/* SPDX-License-Identifier: MIT */
#include "progress.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"

#define MIB (1024.0 * 1024.0)

void cli_progress_init(struct cli_progress *st, bool quiet)
{
	memset(st, 0, sizeof(*st));
	st->tty = cli_stderr_tty();
	st->quiet = quiet;
	st->last_step = -1;
}

void cli_progress_finish(struct cli_progress *st)
{
	if (st->drew) {
		fputc('\n', stderr);
		st->drew = false;
	}
}

static void fmt_bytes(uint64_t b, char *buf, size_t size)
{
	if (b >= 1024ull * 1024 * 1024)
		snprintf(buf, size, "%.2f GiB", (double)b / (MIB * 1024.0));
	else
		snprintf(buf, size, "%.1f MiB", (double)b / MIB);
}

static void fmt_eta(double secs, char *buf, size_t size)
{
	unsigned long s = secs > 0 && secs < 360000 ? (unsigned long)(secs + 0.5) : 0;

	if (s >= 3600)
		snprintf(buf, size, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
	else
		snprintf(buf, size, "%lu:%02lu", s / 60, s % 60);
}

void cli_progress_draw(const struct vmm_image_progress *p, void *userdata)
{
	struct cli_progress *st = userdata;
	char done[32], total[32], rate[32], eta[32];

	if (st->quiet)
		return;

	fmt_bytes(p->done, done, sizeof(done));
	fmt_bytes(p->total, total, sizeof(total));
	fmt_bytes((uint64_t)p->rate, rate, sizeof(rate));
	if (st->tty) {
		static const char spinner[] = "|/-\\";

		if (p->total) {
			double frac = (double)p->done / (double)p->total;
			char bar[31];
			int fill = (int)(frac * 30.0);

			if (fill > 30)
				fill = 30;
			memset(bar, '#', (size_t)fill);
			memset(bar + fill, '-', (size_t)(30 - fill));
			bar[30] = '\0';
			fmt_eta(p->rate > 0 ? (double)(p->total - p->done) / p->rate : 0, eta,
				sizeof(eta));
			fprintf(stderr, "\r%s [%s] %3d%% %s / %s  %s/s  ETA %s\033[K", p->name, bar,
				(int)(frac * 100.0), done, total, rate, eta);
		} else {
			fprintf(stderr, "\r%s %c %s  %s/s\033[K", p->name,
				p->finished ? ' ' : spinner[st->spin++ % 4], done, rate);
		}
		st->drew = true;
		if (p->finished) {
			fputc('\n', stderr);
			st->drew = false;
		}
		fflush(stderr);
		return;
	}
	/* not a terminal: a plain line every 5 % (every 100 MiB if the size is
	 * unknown), and one at the end */
	if (p->finished) {
		fprintf(stderr, "Downloaded %s: %s\n", p->name, done);
		return;
	}
	if (p->total) {
		int step = (int)((double)p->done * 20.0 / (double)p->total);

		if (step > st->last_step) {
			st->last_step = step;
			fprintf(stderr, "Downloading %s: %d%% (%s of %s, %s/s)\n", p->name, step * 5,
				done, total, rate);
		}
	} else if (p->done >= st->last_mark + 100ull * 1024 * 1024 || st->last_step < 0) {
		st->last_step = 0;
		st->last_mark = p->done;
		fprintf(stderr, "Downloading %s: %s (size unknown, %s/s)\n", p->name, done, rate);
	}
}
