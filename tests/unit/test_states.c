/* Unit tests for the task and job state machines (job/): the one door
 * every state change of the store goes through. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "job/job.h"

static void
test_task_moves(void **state)
{
	int from, to, allowed;

	(void)state;
	for (from = 0; from < TASK_NSTATES; from++) {
		for (to = 0; to < TASK_NSTATES; to++) {
			allowed = (from == TASK_QUEUED && (to == TASK_RUNNING ||
			    to == TASK_CANCELLED)) || (from == TASK_RUNNING &&
			    to != TASK_RUNNING);
			assert_int_equal(task_state_change(1,
			    (enum task_state)from, (enum task_state)to),
			    allowed ? 0 : -1);
		}
	}
	/* Nothing leaves an end state; nothing skips the claim. */
	assert_int_equal(task_state_change(1, TASK_DONE, TASK_QUEUED), -1);
	assert_int_equal(task_state_change(1, TASK_QUEUED, TASK_DONE), -1);
	assert_int_equal(task_state_change(1, TASK_NSTATES, TASK_DONE), -1);
}

static void
test_job_moves(void **state)
{
	(void)state;
	assert_int_equal(job_state_change(1, JOB_QUEUED, JOB_RUNNING), 0);
	assert_int_equal(job_state_change(1, JOB_RUNNING, JOB_DONE), 0);
	assert_int_equal(job_state_change(1, JOB_QUEUED, JOB_CANCELLED), 0);
	assert_int_equal(job_state_change(1, JOB_RUNNING, JOB_CANCELLED), 0);
	assert_int_equal(job_state_change(1, JOB_DONE, JOB_RUNNING), -1);
	assert_int_equal(job_state_change(1, JOB_CANCELLED, JOB_DONE), -1);
	assert_int_equal(job_state_change(1, JOB_RUNNING, JOB_QUEUED), -1);
	assert_true(job_state_ended(JOB_DONE));
	assert_true(job_state_ended(JOB_CANCELLED));
	assert_false(job_state_ended(JOB_RUNNING));
}

/* The names are the public contract (SQL, JSON): they round-trip. */
static void
test_state_names(void **state)
{
	enum task_state t;
	enum job_state j;
	int i;

	(void)state;
	for (i = 0; i < TASK_NSTATES; i++) {
		assert_int_equal(task_state_parse(task_state_name(
		    (enum task_state)i), &t), 0);
		assert_int_equal(t, i);
	}
	for (i = 0; i < JOB_NSTATES; i++) {
		assert_int_equal(job_state_parse(job_state_name(
		    (enum job_state)i), &j), 0);
		assert_int_equal(j, i);
	}
	assert_string_equal(task_state_name(TASK_FAILED), "failed");
	assert_string_equal(job_state_name(JOB_CANCELLED), "cancelled");
	assert_int_equal(task_state_parse("paused", &t), -1);
	assert_int_equal(result_task_end(RESULT_OK), TASK_DONE);
	assert_int_equal(result_task_end(RESULT_DNS), TASK_FAILED);
	assert_int_equal(result_task_end(RESULT_CANCELLED), TASK_CANCELLED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_task_moves),
		cmocka_unit_test(test_job_moves),
		cmocka_unit_test(test_state_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
