/* progress.c - how far a long operation has come (DESIGN.md §8): the
 * counter the working code moves (an image checked or unpacked, a bundle
 * hashed), and the one line that shows it: what, bytes done of the total,
 * the percentage, the rate and the time left. core never prints: whoever
 * watches (the command layer, on a terminal) gives a draw function, which
 * is called at most ten times a second, from a quarter of a second into a
 * phase (one over sooner is not shown), and once more at its end if it
 * was shown. A NULL
 * progress, or one without draw, costs a test and nothing else. */
#include "core/internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define DRAW_EVERY_US 100000
#define FIRST_DRAW_US 250000 /* a phase over sooner shows nothing */

int64_t al_progress_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void al_progress_phase(struct al_progress *p, const char *what, uint64_t total)
{
	if (p == NULL || p->draw == NULL)
		return;
	(void)al_snprintf(p->what, sizeof p->what, "%s", what);
	p->total = total;
	p->done = 0;
	p->t0_us = al_progress_now_us();
	p->drawn_us = 0;
}

void al_progress_at(struct al_progress *p, uint64_t done)
{
	int64_t now;

	if (p == NULL || p->draw == NULL)
		return;
	p->done = done;
	now = al_progress_now_us();
	if (now - p->t0_us < FIRST_DRAW_US || now - p->drawn_us < DRAW_EVERY_US)
		return;
	p->drawn_us = now;
	p->draw(p, 0, p->ctx);
}

void al_progress_end(struct al_progress *p)
{
	if (p == NULL || p->draw == NULL || p->t0_us == 0)
		return;
	if (p->drawn_us != 0)
		p->draw(p, 1, p->ctx);
	p->t0_us = p->drawn_us = 0;
}

/* "12.3 MiB", "512 B": binary units, one decimal from KiB on. */
static void human(uint64_t v, char *buf, size_t n)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double d = (double)v;
	size_t u = 0;

	while (d >= 1024 && u + 1 < sizeof unit / sizeof unit[0]) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, n, "%llu B", (unsigned long long)v);
	else
		snprintf(buf, n, "%.1f %s", d, unit[u]);
}

/* "0:07", "1:02:03". */
static void clock_text(int64_t s, char *buf, size_t n)
{
	if (s >= 3600)
		snprintf(buf, n, "%lld:%02lld:%02lld", (long long)(s / 3600), (long long)(s / 60 % 60),
		         (long long)(s % 60));
	else
		snprintf(buf, n, "%lld:%02lld", (long long)(s / 60), (long long)(s % 60));
}

size_t al_progress_line(const struct al_progress *p, int64_t now_us, char *buf, size_t n)
{
	char done[32], total[32], rate[32], eta[32];
	double secs = (double)(now_us - p->t0_us) / 1e6;
	double per_s = secs > 0.05 ? (double)p->done / secs : 0;
	int k;

	human(p->done, done, sizeof done);
	human((uint64_t)per_s, rate, sizeof rate);
	if (p->total > 0) {
		uint64_t left = p->total > p->done ? p->total - p->done : 0;
		human(p->total, total, sizeof total);
		if (per_s >= 1)
			clock_text((int64_t)((double)left / per_s + 0.5), eta, sizeof eta);
		else
			snprintf(eta, sizeof eta, "-:--");
		k = snprintf(buf, n, "%s%s%s  %s of %s  %3u%%  %s/s  %s left", p->subject,
		             p->subject[0] != '\0' ? ": " : "", p->what, done, total,
		             (unsigned)(p->done >= p->total ? 100 : p->done * 100 / p->total), rate, eta);
	} else {
		k = snprintf(buf, n, "%s%s%s  %s  %s/s", p->subject, p->subject[0] != '\0' ? ": " : "",
		             p->what, done, rate);
	}
	if (k < 0)
		return 0;
	return (size_t)k < n ? (size_t)k : n - 1;
}
