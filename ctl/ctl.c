/*
 * ctl: argument parsing, submission building and output formatting for
 * harvestctl, kept apart from the network code so they can be tested.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "ctl/ctl.h"

void
ctl_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: harvestctl [--url URL] [--token TOKEN] COMMAND [ARGS]\n"
	    "\n"
	    "commands:\n"
	    "  submit [FILE|-]      submit a URL list (one per line) or a JSON "
	    "job\n"
	    "      --concurrency N --timeout-ms N --connect-timeout-ms N\n"
	    "      --priority N --max-attempts N --per-host-concurrency N\n"
	    "      --per-host-delay-ms N --max-body-bytes N --max-redirects N\n"
	    "      --no-follow-redirects --obey-robots --autothrottle\n"
	    "      --user-agent UA --method GET|HEAD --proxy URL\n"
	    "      --header 'Name: value' (repeatable) --callback-url URL\n"
	    "      --wait (then wait as below) --json (print the raw answer)\n"
	    "  jobs                 list jobs\n"
	    "  job ID               show one job\n"
	    "  wait ID              follow a job until it ends: a progress bar "
	    "on a\n"
	    "                       terminal, periodic lines otherwise\n"
	    "      --fail-on-errors (exit 3 if any URL failed) --timeout S\n"
	    "  cancel ID [--purge]  cancel a job (--purge: delete a finished "
	    "one)\n"
	    "  results ID           print results\n"
	    "      --format jsonl|csv --with-body --failed-only\n"
	    "      --fields (CSV with a column per extract field)\n"
	    "  retry ID             submit the failed URLs of a finished job "
	    "again,\n"
	    "                       as a new job with the same options\n"
	    "      --wait (then wait as above) --json (print the raw answer)\n"
	    "  status               daemon status\n"
	    "\n"
	    "The server is --url, else $HARVESTD_URL, else "
	    "http://127.0.0.1:8080;\n"
	    "the token is --token, else $HARVESTD_TOKEN.\n"
	    "Exit status: 0 ok, 1 error, 2 usage, 3 job had failures "
	    "(--fail-on-errors).\n");
}

void
ctl_opts_clear(struct ctl_opts *o)
{
	json_decref(o->job_options);
	memset(o, 0, sizeof(*o));
}

/* Parses a whole number within [min, max]. */
static int
ctl_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

enum {
	O_URL = 256, O_TOKEN, O_JSON, O_WAIT, O_FAIL, O_TIMEOUT, O_PURGE,
	O_FORMAT, O_BODY, O_FAILED, O_FIELDS, O_HEADER, O_NOFOLLOW, O_ROBOTS,
	O_THROTTLE, O_INT, O_STR
};

/* Job fields settable from the command line: flag name -> JSON field. */
static const struct {
	const char	*flag;
	const char	*field;
	int		 is_int;
} ctl_fields[] = {
	{ "concurrency", "concurrency", 1 },
	{ "timeout-ms", "timeout_ms", 1 },
	{ "connect-timeout-ms", "connect_timeout_ms", 1 },
	{ "priority", "priority", 1 },
	{ "max-attempts", "max_attempts", 1 },
	{ "per-host-concurrency", "per_host_concurrency", 1 },
	{ "per-host-delay-ms", "per_host_delay_ms", 1 },
	{ "max-body-bytes", "max_body_bytes", 1 },
	{ "max-redirects", "max_redirects", 1 },
	{ "user-agent", "user_agent", 0 },
	{ "method", "method", 0 },
	{ "proxy", "proxy", 0 },
	{ "callback-url", "callback_url", 0 },
};
#define NFIELDS (sizeof(ctl_fields) / sizeof(ctl_fields[0]))

static int
ctl_set_field(struct ctl_opts *o, const char *flag, const char *value,
    char **err)
{
	int64_t v;
	size_t i;

	for (i = 0; i < NFIELDS; i++) {
		if (strcmp(ctl_fields[i].flag, flag) != 0)
			continue;
		if (ctl_fields[i].is_int) {
			if (ctl_int(value, INT32_MIN, INT64_MAX / 2, &v) != 0) {
				*err = util_asprintf("--%s: \"%s\" is not a "
				    "number", flag, value);
				return -1;
			}
			json_object_set_new(o->job_options,
			    ctl_fields[i].field, json_integer(v));
		} else
			json_object_set_new(o->job_options,
			    ctl_fields[i].field, json_string(value));
		return 0;
	}
	*err = util_asprintf("unknown option --%s", flag);
	return -1;
}

static int
ctl_add_header(struct ctl_opts *o, const char *line, char **err)
{
	const char *colon = strchr(line, ':');
	json_t *h;
	char *name;

	if (colon == NULL || colon == line) {
		*err = util_asprintf("--header wants 'Name: value', not \"%s\"",
		    line);
		return -1;
	}
	if ((h = json_object_get(o->job_options, "headers")) == NULL) {
		h = json_object();
		json_object_set_new(o->job_options, "headers", h);
	}
	if ((name = strndup(line, (size_t)(colon - line))) == NULL) {
		*err = util_asprintf("out of memory");
		return -1;
	}
	colon++;
	while (*colon == ' ' || *colon == '\t')
		colon++;
	json_object_set_new(h, name, json_string(colon));
	free(name);
	return 0;
}

static const struct {
	const char	*name;
	enum ctl_cmd	 cmd;
	int		 takes_id;
} ctl_cmds[] = {
	{ "submit", CTL_SUBMIT, 0 },
	{ "jobs", CTL_JOBS, 0 },
	{ "job", CTL_JOB, 1 },
	{ "wait", CTL_WAIT, 1 },
	{ "cancel", CTL_CANCEL, 1 },
	{ "results", CTL_RESULTS, 1 },
	{ "status", CTL_STATUS, 0 },
	{ "retry", CTL_RETRY, 1 },
};

int
ctl_parse_args(int argc, char **argv, struct ctl_opts *o, char **err)
{
	static struct option longopts[NFIELDS + 20];
	const char *env;
	size_t i, n = 0, k;
	int ch, idx;

	memset(o, 0, sizeof(*o));
	*err = NULL;
	if ((o->job_options = json_object()) == NULL) {
		*err = util_asprintf("out of memory");
		return -1;
	}
	o->url = (env = getenv("HARVESTD_URL")) != NULL && *env != '\0' ? env :
	    "http://127.0.0.1:8080";
	o->token = (env = getenv("HARVESTD_TOKEN")) != NULL && *env != '\0' ?
	    env : NULL;
#define OPT(nm, arg, val) longopts[n++] = (struct option){ nm, arg, NULL, val }
	n = 0;
	OPT("url", required_argument, O_URL);
	OPT("token", required_argument, O_TOKEN);
	OPT("json", no_argument, O_JSON);
	OPT("wait", no_argument, O_WAIT);
	OPT("fail-on-errors", no_argument, O_FAIL);
	OPT("timeout", required_argument, O_TIMEOUT);
	OPT("purge", no_argument, O_PURGE);
	OPT("format", required_argument, O_FORMAT);
	OPT("with-body", no_argument, O_BODY);
	OPT("failed-only", no_argument, O_FAILED);
	OPT("fields", no_argument, O_FIELDS);
	OPT("header", required_argument, O_HEADER);
	OPT("no-follow-redirects", no_argument, O_NOFOLLOW);
	OPT("obey-robots", no_argument, O_ROBOTS);
	OPT("autothrottle", no_argument, O_THROTTLE);
	OPT("help", no_argument, 'h');
	for (k = 0; k < NFIELDS; k++)
		OPT(ctl_fields[k].flag, required_argument, O_STR);
	OPT(NULL, 0, 0);
#undef OPT
	optind = 1;
	opterr = 0;
	/* "+": stop at the first non-option only if POSIXLY_CORRECT; GNU
	 * getopt permutes, so flags may come before or after the command. */
	while ((ch = getopt_long(argc, argv, "h", longopts, &idx)) != -1) {
		switch (ch) {
		case O_URL:
			o->url = optarg;
			break;
		case O_TOKEN:
			o->token = optarg;
			break;
		case O_JSON:
			o->json_out = 1;
			break;
		case O_WAIT:
			o->wait = 1;
			break;
		case O_FAIL:
			o->fail_on_errors = 1;
			break;
		case O_TIMEOUT:
			if (ctl_int(optarg, 0, 31536000, &o->wait_timeout_s)) {
				*err = util_asprintf("--timeout: \"%s\" is not a "
				    "number of seconds", optarg);
				return -1;
			}
			break;
		case O_PURGE:
			o->purge = 1;
			break;
		case O_FORMAT:
			if (strcmp(optarg, "jsonl") == 0)
				o->format = CTL_JSONL;
			else if (strcmp(optarg, "csv") == 0)
				o->format = CTL_CSV;
			else {
				*err = util_asprintf("--format: jsonl or csv, "
				    "not \"%s\"", optarg);
				return -1;
			}
			break;
		case O_BODY:
			o->with_body = 1;
			break;
		case O_FAILED:
			o->failed_only = 1;
			break;
		case O_FIELDS:
			/* Columns are CSV's. */
			o->fields = 1;
			o->format = CTL_CSV;
			break;
		case O_HEADER:
			if (ctl_add_header(o, optarg, err) != 0)
				return -1;
			break;
		case O_NOFOLLOW:
			json_object_set_new(o->job_options, "follow_redirects",
			    json_false());
			break;
		case O_ROBOTS:
			json_object_set_new(o->job_options, "obey_robots",
			    json_true());
			break;
		case O_THROTTLE:
			json_object_set_new(o->job_options, "autothrottle",
			    json_true());
			break;
		case O_STR:
			if (ctl_set_field(o, longopts[idx].name, optarg,
			    err) != 0)
				return -1;
			break;
		case 'h':
			o->cmd = CTL_NONE;
			return 0;
		default:
			*err = util_asprintf("unknown or incomplete option \"%s\"",
			    argv[optind - 1]);
			return -1;
		}
	}
	if (optind >= argc) {
		*err = util_asprintf("no command given");
		return -1;
	}
	for (i = 0; i < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]); i++)
		if (strcmp(argv[optind], ctl_cmds[i].name) == 0)
			break;
	if (i == sizeof(ctl_cmds) / sizeof(ctl_cmds[0])) {
		*err = util_asprintf("unknown command \"%s\"", argv[optind]);
		return -1;
	}
	o->cmd = ctl_cmds[i].cmd;
	optind++;
	if (ctl_cmds[i].takes_id) {
		if (optind >= argc || ctl_int(argv[optind], 1, INT64_MAX,
		    &o->job_id) != 0) {
			*err = util_asprintf("%s needs a job id", ctl_cmds[i].name);
			return -1;
		}
		optind++;
	} else if (o->cmd == CTL_SUBMIT && optind < argc)
		o->file = argv[optind++];
	if (optind < argc) {
		*err = util_asprintf("unexpected argument \"%s\"", argv[optind]);
		return -1;
	}
	return 0;
}

char *
ctl_build_submission(const char *text, size_t len, json_t *job_options,
    char **err)
{
	const char *p = text, *end = text + len, *nl, *s, *e;
	json_t *doc = NULL, *urls;
	json_error_t jerr;
	char *out, *line;

	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	if (p < end && *p == '{') {
		if ((doc = json_loadb(text, len, JSON_REJECT_DUPLICATES,
		    &jerr)) == NULL || !json_is_object(doc)) {
			*err = util_asprintf("input is not a JSON object: %s",
			    doc == NULL ? jerr.text : "not an object");
			json_decref(doc);
			return NULL;
		}
	} else {
		doc = json_object();
		urls = json_array();
		json_object_set_new(doc, "urls", urls);
		for (p = text; p < end; p = nl + 1) {
			if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
				nl = end;
			for (s = p; s < nl && (*s == ' ' || *s == '\t'); s++)
				;
			for (e = nl; e > s && (e[-1] == ' ' || e[-1] == '\t' ||
			    e[-1] == '\r'); e--)
				;
			if (s == e || *s == '#')
				continue;
			if ((line = strndup(s, (size_t)(e - s))) == NULL)
				break;
			json_array_append_new(urls, json_string(line));
			free(line);
		}
	}
	json_object_update(doc, job_options);
	out = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (out == NULL)
		*err = util_asprintf("out of memory");
	return out;
}

void
ctl_format_progress(char *buf, size_t len, int64_t done, int64_t total,
    int64_t failed, double rate, int bar_width)
{
	char bar[128];
	int i, fill;
	double frac = total > 0 ? (double)done / (double)total : 1.0;
	char eta[32] = "";

	if (bar_width > (int)sizeof(bar) - 3)
		bar_width = (int)sizeof(bar) - 3;
	fill = (int)(frac * bar_width + 0.5);
	bar[0] = '[';
	for (i = 0; i < bar_width; i++)
		bar[i + 1] = i < fill ? '#' : '-';
	bar[bar_width + 1] = ']';
	bar[bar_width + 2] = '\0';
	if (rate > 0 && done < total)
		snprintf(eta, sizeof(eta), "  ETA %.0fs",
		    (double)(total - done) / rate);
	snprintf(buf, len, "%s %lld/%lld %3.0f%%  %lld failed  %.1f/s%s",
	    bar_width > 0 ? bar : "", (long long)done, (long long)total,
	    frac * 100.0, (long long)failed, rate, eta);
}

void
ctl_csv_field(FILE *fp, const char *s)
{
	if (s == NULL)
		return;
	if (strpbrk(s, ",\"\r\n") == NULL) {
		fputs(s, fp);
		return;
	}
	fputc('"', fp);
	for (; *s != '\0'; s++) {
		if (*s == '"')
			fputc('"', fp);
		fputc(*s, fp);
	}
	fputc('"', fp);
}

static const char *const csv_cols[] = { "id", "url", "final_url", "status",
    "error_kind", "error_message", "content_type", "body_size", "truncated",
    "redirect_count", "time_total_ms", "attempts", "fetched_at" };
#define NCOLS (sizeof(csv_cols) / sizeof(csv_cols[0]))

void
ctl_csv_header(FILE *fp, int with_body)
{
	ctl_csv_header_fields(fp, with_body, NULL, 0);
}

void
ctl_csv_header_fields(FILE *fp, int with_body, const char *const *names,
    size_t n)
{
	size_t i;

	for (i = 0; i < NCOLS; i++)
		fprintf(fp, "%s%s", i > 0 ? "," : "", csv_cols[i]);
	for (i = 0; i < n; i++) {
		fputc(',', fp);
		ctl_csv_field(fp, names[i]);
	}
	fputs(with_body ? ",body\n" : "\n", fp);
}

void
ctl_csv_row(FILE *fp, json_t *result, int with_body)
{
	ctl_csv_row_fields(fp, result, with_body, NULL, 0);
}

/* One extract field as a CSV cell. */
static void
ctl_csv_value(FILE *fp, json_t *v)
{
	char *text;

	if (v == NULL || json_is_null(v))
		return;
	if (json_is_string(v)) {
		ctl_csv_field(fp, json_string_value(v));
		return;
	}
	if ((text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) != NULL) {
		ctl_csv_field(fp, text);
		free(text);
	}
}

void
ctl_csv_row_fields(FILE *fp, json_t *result, int with_body,
    const char *const *names, size_t n)
{
	json_t *fields = json_object_get(result, "fields");
	size_t k;

	json_t *v;
	char num[64];
	size_t i;

	for (i = 0; i < NCOLS; i++) {
		if (i > 0)
			fputc(',', fp);
		v = json_object_get(result, csv_cols[i]);
		if (json_is_string(v))
			ctl_csv_field(fp, json_string_value(v));
		else if (json_is_integer(v))
			fprintf(fp, "%lld", (long long)json_integer_value(v));
		else if (json_is_real(v)) {
			snprintf(num, sizeof(num), "%.3f", json_real_value(v));
			fputs(num, fp);
		} else if (json_is_boolean(v))
			fputs(json_is_true(v) ? "1" : "0", fp);
	}
	for (k = 0; k < n; k++) {
		fputc(',', fp);
		ctl_csv_value(fp, json_object_get(fields, names[k]));
	}
	if (with_body) {
		fputc(',', fp);
		v = json_object_get(result, "body");
		if (!json_is_string(v))
			v = json_object_get(result, "body_base64");
		if (json_is_string(v))
			ctl_csv_field(fp, json_string_value(v));
	}
	fputc('\n', fp);
}
