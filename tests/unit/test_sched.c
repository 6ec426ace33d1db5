/* Unit tests for sched/: the claim protocol's state machine, its every
 * transition, and the lost wake-up it once had. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sched/sched.h"

#define S(x)	SCHED_CLAIM_##x
#define E(x)	SCHED_EV_##x
#define ASK	SCHED_ACT_ASK
#define DRY	SCHED_ACT_DRY

static void
expect_step(enum sched_claim from, enum sched_claim_event ev,
    enum sched_claim to, unsigned act)
{
	unsigned got;

	assert_int_equal(sched_claim_step(from, ev, &got), to);
	assert_int_equal(got, act);
}

/* Every cell of the table in sched.c. */
static void
test_claim_table(void **state)
{
	(void)state;
	expect_step(S(READY), E(LOW), S(ASKED), ASK);
	expect_step(S(READY), E(LOW_COVERED), S(ASKED), ASK);
	expect_step(S(READY), E(WORK), S(READY), 0);

	expect_step(S(ASKED), E(LOW), S(ASKED), 0);
	expect_step(S(ASKED), E(LOW_COVERED), S(ASKED), 0);
	expect_step(S(ASKED), E(FOUND), S(READY), 0);
	expect_step(S(ASKED), E(EMPTY), S(DRY), DRY);
	expect_step(S(ASKED), E(WORK), S(STALE), 0);

	expect_step(S(STALE), E(LOW), S(STALE), 0);
	expect_step(S(STALE), E(FOUND), S(READY), 0);
	expect_step(S(STALE), E(EMPTY), S(READY), 0);
	expect_step(S(STALE), E(WORK), S(STALE), 0);

	expect_step(S(DRY), E(LOW), S(DRY_ASKED), ASK);
	expect_step(S(DRY), E(LOW_COVERED), S(DRY), 0);
	expect_step(S(DRY), E(WORK), S(READY), 0);

	expect_step(S(DRY_ASKED), E(LOW), S(DRY_ASKED), 0);
	expect_step(S(DRY_ASKED), E(FOUND), S(DRY), 0);
	expect_step(S(DRY_ASKED), E(EMPTY), S(DRY), DRY);
	expect_step(S(DRY_ASKED), E(WORK), S(STALE), 0);
}

/* No claim is out in READY or DRY: an answer changes nothing. */
static void
test_claim_unasked_answers(void **state)
{
	(void)state;
	expect_step(S(READY), E(FOUND), S(READY), 0);
	expect_step(S(READY), E(EMPTY), S(READY), 0);
	expect_step(S(DRY), E(FOUND), S(DRY), 0);
	expect_step(S(DRY), E(EMPTY), S(DRY), 0);
}

/*
 * A job submitted while a claim is out: the empty answer to that claim
 * predates the job and must not make the loop dry, or the job would wait
 * for the next unrelated event (seen once in CI).
 */
static void
test_claim_no_lost_wakeup(void **state)
{
	enum sched_claim st = S(READY);
	unsigned act;

	(void)state;
	st = sched_claim_step(st, E(LOW), &act);
	assert_true(act & ASK);
	st = sched_claim_step(st, E(WORK), &act);	/* submitted now */
	st = sched_claim_step(st, E(EMPTY), &act);	/* asked before it */
	assert_int_equal(st, S(READY));
	assert_false(act & DRY);
	/* The next time the window is low, the job is claimed. */
	st = sched_claim_step(st, E(LOW_COVERED), &act);
	assert_true(act & ASK);
}

/* Dry, nothing new: the queue is not rescanned, however often asked. */
static void
test_claim_dry_does_not_rescan(void **state)
{
	enum sched_claim st = S(DRY);
	unsigned act;
	int i;

	(void)state;
	for (i = 0; i < 100; i++) {
		st = sched_claim_step(st, E(LOW_COVERED), &act);
		assert_int_equal(act, 0);
	}
	assert_int_equal(st, S(DRY));
	st = sched_claim_step(st, E(WORK), &act);
	st = sched_claim_step(st, E(LOW_COVERED), &act);
	assert_true(act & ASK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_claim_table),
		cmocka_unit_test(test_claim_unasked_answers),
		cmocka_unit_test(test_claim_no_lost_wakeup),
		cmocka_unit_test(test_claim_dry_does_not_rescan),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
