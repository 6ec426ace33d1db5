/* Unit tests for queue/: the store thread's decision table. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "queue/queue.h"

static enum queue_step
step(int calls, int backoff, int due, int want, int stopping, int empty)
{
	struct queue_view v = { calls, 0, backoff, due, want, stopping,
	    empty };

	return queue_next_step(&v);
}

static void
test_step_table(void **state)
{
	(void)state;
	/* Failing commits back off, whatever else is waiting... */
	assert_int_equal(step(0, 1, 1, 1, 0, 0), QUEUE_BACKOFF);
	assert_int_equal(step(0, 1, 1, 0, 1, 0), QUEUE_BACKOFF);
	/* ... but other threads' writes are still taken (API never starves). */
	assert_int_equal(step(1, 1, 1, 1, 0, 0), QUEUE_CALL);
	/* Work: a write to run, a due batch, or a claim (not at stop). */
	assert_int_equal(step(1, 0, 0, 0, 0, 1), QUEUE_WORK);
	assert_int_equal(step(0, 0, 1, 0, 0, 0), QUEUE_WORK);
	assert_int_equal(step(0, 0, 0, 1, 0, 1), QUEUE_WORK);
	assert_int_equal(step(0, 0, 1, 0, 1, 0), QUEUE_WORK);
	/* At stop a claim is not work; an empty hand-over ends the thread. */
	assert_int_equal(step(0, 0, 0, 1, 1, 1), QUEUE_EXIT);
	assert_int_equal(step(0, 0, 0, 0, 1, 1), QUEUE_EXIT);
	/* Results not due yet: wait for the batch deadline. */
	assert_int_equal(step(0, 0, 0, 0, 0, 0), QUEUE_WAIT);
	assert_int_equal(step(0, 0, 0, 0, 0, 1), QUEUE_WAIT);
}

/* A shared database's heartbeat is work too, unless commits back off. */
static void
test_step_heartbeat(void **state)
{
	struct queue_view v = { 0, 1, 0, 0, 0, 0, 1 };

	(void)state;
	assert_int_equal(queue_next_step(&v), QUEUE_WORK);
	v.backoff = 1;
	assert_int_equal(queue_next_step(&v), QUEUE_BACKOFF);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_step_table),
		cmocka_unit_test(test_step_heartbeat),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
