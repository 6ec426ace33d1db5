/*
 * ctl: harvestctl, the command-line client. This header holds the parts
 * that need no server (argument parsing, building a submission, output
 * formatting) so they can be unit-tested; ctl/main.c does the HTTP.
 */
#ifndef HARVESTD_CTL_H
#define HARVESTD_CTL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

enum ctl_cmd {
	CTL_NONE = 0,
	CTL_SUBMIT,
	CTL_JOBS,
	CTL_JOB,
	CTL_WAIT,
	CTL_CANCEL,
	CTL_RESULTS,
	CTL_STATUS,
	CTL_RETRY,
};

enum ctl_format { CTL_JSONL = 0, CTL_CSV };

struct ctl_opts {
	enum ctl_cmd	 cmd;
	const char	*url;		/* server, e.g. http://127.0.0.1:8080 */
	const char	*token;
	int64_t		 job_id;
	const char	*file;		/* submit: path, "-" or NULL (stdin) */
	json_t		*job_options;	/* submit: fields to send (owned) */
	int		 json_out;	/* print raw JSON */
	int		 wait;		/* submit, retry --wait */
	int		 fail_on_errors;	/* wait: exit 3 on failures */
	int64_t		 wait_timeout_s;	/* wait: give up after; 0: never */
	int		 purge;		/* cancel --purge */
	enum ctl_format	 format;
	int		 with_body;
	int		 failed_only;
	int		 fields;	/* results: extract's fields as columns */
};

/*
 * Parses argv (flags, environment HARVESTD_URL / HARVESTD_TOKEN as
 * defaults). Returns 0, or -1 with *err (allocated) for a usage error.
 */
int	 ctl_parse_args(int argc, char **argv, struct ctl_opts *o, char **err);
void	 ctl_opts_clear(struct ctl_opts *o);
void	 ctl_usage(FILE *fp);

/*
 * Builds a submission body from a file's text: JSON objects pass through
 * with the command-line options merged in (flags win); anything else is a
 * URL list. Returns the JSON text (allocated) or NULL with *err.
 */
char	*ctl_build_submission(const char *text, size_t len,
	    json_t *job_options, char **err);

/* One progress line: "[#####-----]  532/1000  53%  12 failed ...". */
void	 ctl_format_progress(char *buf, size_t len, int64_t done,
	    int64_t total, int64_t failed, double rate, int bar_width);
/* Writes one field in CSV (RFC 4180) quoting. */
void	 ctl_csv_field(FILE *fp, const char *s);
/* The CSV header and one result as a CSV row. */
void	 ctl_csv_header(FILE *fp, int with_body);
void	 ctl_csv_row(FILE *fp, json_t *result, int with_body);
/*
 * The same with a column for each of the n extract fields named (after
 * the others, before the body): a string as it is, null empty, anything
 * else (numbers, lists of "all" fields) as JSON.
 */
void	 ctl_csv_header_fields(FILE *fp, int with_body,
	    const char *const *names, size_t n);
void	 ctl_csv_row_fields(FILE *fp, json_t *result, int with_body,
	    const char *const *names, size_t n);

#endif
