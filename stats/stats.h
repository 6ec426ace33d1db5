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
