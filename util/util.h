/*
 * util: the few helpers every module needs and none owns: formatted
 * strings, a growable array of ids, and monotonic-clock deadlines.
 */
#ifndef HARVESTD_UTIL_H
#define HARVESTD_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* printf into a new string (the caller frees it); NULL on ENOMEM. */
char	*util_asprintf(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));

/* A growable array of ids (jobs, tasks); zero-initialised is empty. */
struct util_ids {
	int64_t	*v;
	size_t	 n;
	size_t	 cap;
};
/* Appends id; -1 on ENOMEM (the array is unchanged). */
int	 util_ids_push(struct util_ids *a, int64_t id);
/* Appends n ids; -1 on ENOMEM (the array is unchanged). */
int	 util_ids_append(struct util_ids *a, const int64_t *ids, size_t n);
int	 util_ids_has(const struct util_ids *a, int64_t id);
/* Frees the array and leaves it empty. */
void	 util_ids_free(struct util_ids *a);

/* Seconds on the monotonic clock. */
double	 util_mono_s(void);
/*
 * The monotonic time ms milliseconds after *from (now when from is NULL),
 * for pthread_cond_timedwait on a CLOCK_MONOTONIC condition.
 */
struct timespec util_deadline(const struct timespec *from, int64_t ms);
/* Whether the monotonic clock has reached deadline. */
int	 util_passed(const struct timespec *deadline);

#endif
