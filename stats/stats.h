/*
 * stats: live counters shared between threads. Writers are the loop and
 * store threads; readers are the API (status) and the systemd notifier.
 * Everything is an atomic or sits behind one small mutex, so a reader never
 * waits for disk or the network.
 */
#ifndef HARVESTD_STATS_H
#define HARVESTD_STATS_H

#include <stdint.h>

#include "job/job.h"

void	 stats_init(void);
void	 stats_set_in_flight(uint64_t n);
void	 stats_set_window(uint64_t n);
void	 stats_add_committed(enum result_kind kind, uint64_t n);
void	 stats_add_bytes(uint64_t n);
/* One finished fetch attempt (retried ones too): outcome, status, time. */
void	 stats_record_fetch(enum result_kind kind, long status, double secs);
void	 stats_add_retry(void);
void	 stats_set_active_hosts(uint64_t n);

/* Histogram bucket bounds for request latency, in seconds. */
#define STATS_LATENCY_BUCKETS	12
extern const double stats_latency_bounds[STATS_LATENCY_BUCKETS];

struct stats_fetches {
	uint64_t	by_kind[RESULT_KIND_MAX];	/* attempts by outcome */
	uint64_t	by_class[6];	/* none, 1xx .. 5xx */
	uint64_t	retries;
	uint64_t	active_hosts;
	uint64_t	latency[STATS_LATENCY_BUCKETS + 1];	/* last: +Inf */
	double		latency_sum;
	uint64_t	latency_count;
};
void	 stats_fetches(struct stats_fetches *f);

struct stats_snapshot {
	double		uptime_s;
	uint64_t	in_flight;
	uint64_t	window;
	uint64_t	committed;		/* results written since start */
	uint64_t	failed;			/* of which with an error kind */
	uint64_t	by_kind[RESULT_KIND_MAX];
	uint64_t	bytes;			/* body bytes received */
	double		rate_10s;		/* results/s, last 10 s */
	double		rate_60s;		/* results/s, last 60 s */
};
void	 stats_snapshot(struct stats_snapshot *s);
/* Called once a second by the loop: records a point for the rates. */
void	 stats_tick(void);

#endif
