/*
 * conf: the daemon's settings. One table (name, type, range, default, help)
 * drives parsing of the INI file (inih), command-line overrides, validation
 * and the printed effective configuration.
 */
#ifndef HARVESTD_CONF_H
#define HARVESTD_CONF_H

#include <stdint.h>
#include <stdio.h>

#include "log/log.h"

struct conf {
	char		*db;
	char		*listen;
	int64_t		 port;
	int64_t		 concurrency;
	enum log_level	 log_level;
	int64_t		 connect_timeout_ms;
	int64_t		 timeout_ms;
	int64_t		 low_speed_limit;
	int64_t		 low_speed_time_ms;
	int64_t		 max_body_bytes;
	int64_t		 max_redirects;
	int64_t		 follow_redirects;
	char		*user_agent;
	int64_t		 max_request_bytes;
	int64_t		 results_page_max;
	int64_t		 batch_size;
	int64_t		 batch_interval_ms;
	int64_t		 busy_timeout_ms;
	int64_t		 window_size;
	int64_t		 api_connection_timeout_s;
	int64_t		 api_connection_limit;
	int64_t		 shutdown_grace_ms;
	int64_t		 retention_days;
	int64_t		 wal_limit_bytes;
	int64_t		 per_host_concurrency;
	int64_t		 per_host_delay_ms;
	int64_t		 per_host_jitter_ms;
	int64_t		 max_attempts;
	int64_t		 retry_backoff_ms;
	int64_t		 retry_backoff_max_ms;
	int64_t		 obey_robots;
	int64_t		 robots_ttl_s;
	int64_t		 autothrottle;
	int64_t		 autothrottle_start_delay_ms;
	int64_t		 autothrottle_max_delay_ms;
	int64_t		 autothrottle_target_concurrency;
	int64_t		 api_per_ip_connection_limit;
	int64_t		 api_connection_memory_limit;
	int64_t		 max_urls_per_job;
	int64_t		 max_url_length;
	char		*api_token;
	int64_t		 allow_unauthenticated;
	int64_t		 block_private_addresses;
	char		*allowed_networks;
};

/* Fills c with the built-in defaults; -1 on ENOMEM. */
int	 conf_init(struct conf *c);
void	 conf_clear(struct conf *c);
/* Sets key from its text form; -1 with *cause (allocated) when invalid. */
int	 conf_set(struct conf *c, const char *key, const char *value,
	    char **cause);
/*
 * Reads an INI file into c (keys outside any [section]). On error returns
 * -1 with *cause as "file:line: problem".
 */
int	 conf_load(struct conf *c, const char *path, char **cause);
/* Cross-field checks after everything is set. */
int	 conf_validate(const struct conf *c, char **cause);
/* Writes every key = value, as an INI file would hold it. */
void	 conf_print(const struct conf *c, FILE *fp);
/* Number of keys and the name/help of key i, for docs and --help. */
size_t	 conf_nkeys(void);
const char *conf_key_name(size_t i);
const char *conf_key_help(size_t i);

#endif
