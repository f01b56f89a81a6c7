/* test_progress.c - the progress counter and its line (core/progress.c):
 * what the line says with and without a total, cut to the buffer; when it
 * is drawn (not in a phase's first quarter second, at most every 100 ms,
 * a final draw only after one was shown); NULL and draw-less progress
 * doing nothing. */
#include "tests/unit/unit.h"

static int draws, finals;

static void count_draw(const struct al_progress *p, int final, void *ctx)
{
	(void)p;
	(void)ctx;
	if (final)
		finals++;
	else
		draws++;
}

static struct al_progress counted(void)
{
	struct al_progress p;

	memset(&p, 0, sizeof p);
	p.draw = count_draw;
	snprintf(p.subject, sizeof p.subject, "image py");
	draws = finals = 0;
	return p;
}

static void test_line(void **state)
{
	struct al_progress p = counted();
	char buf[200];
	size_t n;

	(void)state;
	al_progress_phase(&p, "unpacking", 100u << 20);
	p.t0_us = 1000000;
	p.done = 50u << 20;
	n = al_progress_line(&p, 2000000, buf, sizeof buf);
	assert_string_equal(buf, "image py: unpacking  50.0 MiB of 100.0 MiB   50%  50.0 MiB/s  0:01 left");
	assert_int_equal(n, strlen(buf));
	/* an hour and more to go */
	p.total = 10ull << 40;
	n = al_progress_line(&p, 2000000, buf, sizeof buf);
	assert_non_null(strstr(buf, "of 10.0 TiB    0%  50.0 MiB/s  58:15:"));
	/* done, and past the total: 100%, nothing left */
	p.total = 10;
	p.done = 12;
	al_progress_line(&p, 2000000, buf, sizeof buf);
	assert_non_null(strstr(buf, "12 B of 10 B  100%"));
	assert_non_null(strstr(buf, "0:00 left"));
	/* no rate yet: no time left either */
	p.done = 0;
	al_progress_line(&p, 2000000, buf, sizeof buf);
	assert_non_null(strstr(buf, "0 B/s  -:-- left"));
	/* no total: what and how much, no percentage */
	p.total = 0;
	p.done = 3000;
	p.subject[0] = '\0';
	al_progress_line(&p, 2000000, buf, sizeof buf);
	assert_string_equal(buf, "unpacking  2.9 KiB  2.9 KiB/s");
	/* cut to the buffer, NUL-terminated */
	n = al_progress_line(&p, 2000000, buf, 8);
	assert_int_equal(n, 7);
	assert_string_equal(buf, "unpacki");
}

static void test_throttle(void **state)
{
	struct al_progress p = counted();

	(void)state;
	/* a phase over within a quarter second shows nothing, not even the end */
	al_progress_phase(&p, "checking", 1000);
	al_progress_at(&p, 10);
	al_progress_at(&p, 1000);
	al_progress_end(&p);
	assert_int_equal(draws, 0);
	assert_int_equal(finals, 0);
	/* a longer one: drawn, then not again within 100 ms, then erased */
	al_progress_phase(&p, "unpacking", 1000);
	p.t0_us -= 300000;
	al_progress_at(&p, 10);
	assert_int_equal(draws, 1);
	assert_int_equal(p.done, 10);
	al_progress_at(&p, 20);
	assert_int_equal(draws, 1);
	assert_int_equal(p.done, 20);
	p.drawn_us -= 100000;
	al_progress_at(&p, 30);
	assert_int_equal(draws, 2);
	al_progress_end(&p);
	al_progress_end(&p);
	assert_int_equal(finals, 1);
}

static void test_off(void **state)
{
	struct al_progress p;

	(void)state;
	memset(&p, 0, sizeof p);
	al_progress_phase(NULL, "x", 1);
	al_progress_at(NULL, 1);
	al_progress_end(NULL);
	/* without draw nothing is even recorded */
	al_progress_phase(&p, "x", 1);
	al_progress_at(&p, 1);
	al_progress_end(&p);
	assert_int_equal(p.done, 0);
	assert_int_equal(p.what[0], '\0');
	assert_true(al_progress_now_us() > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line),
		cmocka_unit_test(test_throttle),
		cmocka_unit_test(test_off),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
