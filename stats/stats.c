/*
 * stats: owns the process-wide live counters and the once-a-second
 * samples that turn them into rates.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "stats/stats.h"

#define STATS_RING 61

static _Atomic uint64_t st_in_flight;
static _Atomic uint64_t st_window;
static _Atomic uint64_t st_by_kind[RESULT_KIND_MAX];
static _Atomic uint64_t st_bytes;
static double st_started;

const double stats_latency_bounds[STATS_LATENCY_BUCKETS] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30
};
static _Atomic uint64_t st_fetch_kind[RESULT_KIND_MAX];
static _Atomic uint64_t st_fetch_class[6];
static _Atomic uint64_t st_retries;
static _Atomic uint64_t st_active_hosts;
static _Atomic uint64_t st_latency[STATS_LATENCY_BUCKETS + 1];
static _Atomic uint64_t st_latency_us;	/* sum, in microseconds */

static pthread_mutex_t st_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	double		t;
	uint64_t	committed;
} st_ring[STATS_RING];
static unsigned st_head, st_count;

static double
stats_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
stats_init(void)
{
	st_started = stats_now();
	pthread_mutex_lock(&st_lock);
	st_head = st_count = 0;
	pthread_mutex_unlock(&st_lock);
}

void
stats_set_in_flight(uint64_t n)
{
	atomic_store(&st_in_flight, n);
}

void
stats_set_window(uint64_t n)
{
	atomic_store(&st_window, n);
}

void
stats_add_committed(enum result_kind kind, uint64_t n)
{
	if ((unsigned)kind < RESULT_KIND_MAX)
		atomic_fetch_add(&st_by_kind[kind], n);
}

void
stats_add_bytes(uint64_t n)
{
	atomic_fetch_add(&st_bytes, n);
}

static uint64_t
stats_committed(uint64_t *failed)
{
	uint64_t total = 0, v;
	int k;

	*failed = 0;
	for (k = 0; k < RESULT_KIND_MAX; k++) {
		v = atomic_load(&st_by_kind[k]);
		total += v;
		if (k != RESULT_OK)
			*failed += v;
	}
	return total;
}

void
stats_tick(void)
{
	uint64_t failed;

	pthread_mutex_lock(&st_lock);
	st_ring[st_head].t = stats_now();
	st_ring[st_head].committed = stats_committed(&failed);
	st_head = (st_head + 1) % STATS_RING;
	if (st_count < STATS_RING)
		st_count++;
	pthread_mutex_unlock(&st_lock);
}

/* Rate over the newest sample and the one about secs older; lock held. */
static double
stats_rate_locked(unsigned secs)
{
	unsigned newest, oldest, back;
	double dt;

	if (st_count < 2)
		return 0.0;
	back = secs < st_count - 1 ? secs : st_count - 1;
	newest = (st_head + STATS_RING - 1) % STATS_RING;
	oldest = (newest + STATS_RING - back) % STATS_RING;
	dt = st_ring[newest].t - st_ring[oldest].t;
	if (dt <= 0.0)
		return 0.0;
	return (double)(st_ring[newest].committed -
	    st_ring[oldest].committed) / dt;
}

void
stats_snapshot(struct stats_snapshot *s)
{
	int k;

	memset(s, 0, sizeof(*s));
	s->uptime_s = stats_now() - st_started;
	s->in_flight = atomic_load(&st_in_flight);
	s->window = atomic_load(&st_window);
	for (k = 0; k < RESULT_KIND_MAX; k++)
		s->by_kind[k] = atomic_load(&st_by_kind[k]);
	s->committed = stats_committed(&s->failed);
	s->bytes = atomic_load(&st_bytes);
	pthread_mutex_lock(&st_lock);
	s->rate_10s = stats_rate_locked(10);
	s->rate_60s = stats_rate_locked(60);
	pthread_mutex_unlock(&st_lock);
}

void
stats_record_fetch(enum result_kind kind, long status, double secs)
{
	size_t b;

	if ((unsigned)kind < RESULT_KIND_MAX)
		atomic_fetch_add(&st_fetch_kind[kind], 1);
	atomic_fetch_add(&st_fetch_class[status >= 100 && status < 600 ?
	    status / 100 : 0], 1);
	for (b = 0; b < STATS_LATENCY_BUCKETS &&
	    secs > stats_latency_bounds[b]; b++)
		;
	atomic_fetch_add(&st_latency[b], 1);
	atomic_fetch_add(&st_latency_us, (uint64_t)(secs * 1e6));
}

void
stats_add_retry(void)
{
	atomic_fetch_add(&st_retries, 1);
}

void
stats_set_active_hosts(uint64_t n)
{
	atomic_store(&st_active_hosts, n);
}

void
stats_fetches(struct stats_fetches *f)
{
	size_t i;

	memset(f, 0, sizeof(*f));
	for (i = 0; i < RESULT_KIND_MAX; i++)
		f->by_kind[i] = atomic_load(&st_fetch_kind[i]);
	for (i = 0; i < 6; i++)
		f->by_class[i] = atomic_load(&st_fetch_class[i]);
	f->retries = atomic_load(&st_retries);
	f->active_hosts = atomic_load(&st_active_hosts);
	for (i = 0; i <= STATS_LATENCY_BUCKETS; i++) {
		f->latency[i] = atomic_load(&st_latency[i]);
		f->latency_count += f->latency[i];
	}
	f->latency_sum = (double)atomic_load(&st_latency_us) / 1e6;
}
