/*
 * conf: owns the table of settings and their meaning. inih only splits
 * the file into key/value pairs; the table decides types, ranges,
 * defaults, which settings a reload may change and what the documentation
 * says, so the file, the flags, --print-config and the docs cannot
 * disagree.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "util/util.h"
#include "conf/conf.h"
#include "guard/guard.h"

#define CONF_OFF_CONF_DAEMON(n)		offsetof(struct conf, n)
#define CONF_OFF_CONF_JOB(n)		offsetof(struct conf, n)
#define CONF_OFF_CONF_JOBONLY(n)	CONF_NOFIELD
#define CONF_OFF_JOB_DAEMON(n)		CONF_NOFIELD
#define CONF_OFF_JOB_JOB(n)		offsetof(struct job_opts, n)
#define CONF_OFF_JOB_JOBONLY(n)		offsetof(struct job_opts, n)

static const struct conf_setting conf_table[] = {
#define SETTING(name, type, scope, apply, min, max, def, summary, doc)	\
	{ #name, CONF_##type, CONF_SCOPE_##scope, CONF_##apply, min, max,	\
	  def, summary, doc, CONF_OFF_CONF_##scope(name),		\
	  CONF_OFF_JOB_##scope(name) },
#include "conf/settings.def"
#undef SETTING
};
#define NROWS (sizeof(conf_table) / sizeof(conf_table[0]))

const struct conf_setting *
conf_setting_at(size_t i)
{
	return i < NROWS ? &conf_table[i] : NULL;
}

const struct conf_setting *
conf_setting_find(const char *name)
{
	size_t i;

	for (i = 0; i < NROWS; i++)
		if (strcmp(conf_table[i].name, name) == 0)
			return &conf_table[i];
	return NULL;
}

int
conf_type_is_string(enum conf_type t)
{
	switch (t) {
	case CONF_STRING:
	case CONF_SECRET:
	case CONF_CIDRS:
	case CONF_HEADERS:
	case CONF_PROXY:
	case CONF_URL:
	case CONF_EXTRACT:
	case CONF_FOLLOW:
	case CONF_SITEMAPS:
		return 1;
	default:
		return 0;
	}
}

/* The i-th configuration key (rows a job alone has are not keys). */
static const struct conf_setting *
conf_key(size_t i)
{
	size_t k;

	for (k = 0; k < NROWS; k++) {
		if (conf_table[k].conf_off == CONF_NOFIELD)
			continue;
		if (i-- == 0)
			return &conf_table[k];
	}
	return NULL;
}

size_t
conf_nkeys(void)
{
	size_t i, n = 0;

	for (i = 0; i < NROWS; i++)
		n += conf_table[i].conf_off != CONF_NOFIELD;
	return n;
}

const char *
conf_key_name(size_t i)
{
	const struct conf_setting *d = conf_key(i);

	return d != NULL ? d->name : NULL;
}

const char *
conf_key_help(size_t i)
{
	const struct conf_setting *d = conf_key(i);

	return d != NULL ? d->summary : NULL;
}

static const struct conf_setting *
conf_find_key(const char *key)
{
	const struct conf_setting *d = conf_setting_find(key);

	return d != NULL && d->conf_off != CONF_NOFIELD ? d : NULL;
}

/* Parses a whole decimal number within [min, max] (strtonum-style). */
static int
conf_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno == ERANGE || v < min ||
	    v > max)
		return -1;
	*out = v;
	return 0;
}

static int
conf_parse_bool(const char *s, int64_t *out)
{
	if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0 ||
	    strcmp(s, "on") == 0 || strcmp(s, "1") == 0)
		*out = 1;
	else if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0 ||
	    strcmp(s, "off") == 0 || strcmp(s, "0") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

int
conf_set(struct conf *c, const char *key, const char *value, char **cause)
{
	const struct conf_setting *d;
	enum log_level level;
	void *field;
	char *copy;

	if ((d = conf_find_key(key)) == NULL) {
		*cause = util_asprintf("unknown key \"%s\"", key);
		return -1;
	}
	field = (char *)c + d->conf_off;
	switch (d->type) {
	case CONF_INT:
		if (conf_parse_int(value, d->min, d->max, field) != 0) {
			*cause = util_asprintf("%s: \"%s\" is not a whole number "
			    "from %" PRId64 " to %" PRId64, key, value, d->min,
			    d->max);
			return -1;
		}
		return 0;
	case CONF_BOOL:
		if (conf_parse_bool(value, field) != 0) {
			*cause = util_asprintf("%s: \"%s\" is not true or false",
			    key, value);
			return -1;
		}
		return 0;
	case CONF_LOGLEVEL:
		if (log_level_parse(value, &level) != 0) {
			*cause = util_asprintf("%s: \"%s\" is not one of error, "
			    "warn, info, debug", key, value);
			return -1;
		}
		*(int64_t *)field = level;
		return 0;
	case CONF_STRING:
	case CONF_SECRET:
	case CONF_CIDRS:
		if (strlen(value) < (size_t)d->min ||
		    strlen(value) > (size_t)d->max) {
			*cause = util_asprintf("%s: length must be %" PRId64
			    " to %" PRId64, key, d->min, d->max);
			return -1;
		}
		if ((copy = strdup(value)) == NULL) {
			*cause = util_asprintf("out of memory");
			return -1;
		}
		free(*(char **)field);
		*(char **)field = copy;
		return 0;
	default:
		break;
	}
	*cause = util_asprintf("%s: bad type", key);
	return -1;
}

int
conf_init(struct conf *c)
{
	char *cause = NULL;
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < NROWS; i++) {
		if (conf_table[i].conf_off == CONF_NOFIELD)
			continue;
		if (conf_set(c, conf_table[i].name, conf_table[i].def,
		    &cause) != 0) {
			free(cause);
			conf_clear(c);
			return -1;
		}
	}
	return 0;
}

void
conf_clear(struct conf *c)
{
	size_t i;

	for (i = 0; i < NROWS; i++) {
		if (conf_table[i].conf_off == CONF_NOFIELD ||
		    !conf_type_is_string(conf_table[i].type))
			continue;
		free(*(char **)(void *)((char *)c + conf_table[i].conf_off));
		*(char **)(void *)((char *)c + conf_table[i].conf_off) = NULL;
	}
	guard_free(c->guard);
	c->guard = NULL;
}

struct conf_load_ctx {
	struct conf	*conf;
	char		*cause;
};

/*
 * inih callback. Returning 0 marks the line as bad: ini_parse() then
 * returns the number of the first bad line, which makes "file:line".
 */
static int
conf_ini_cb(void *arg, const char *section, const char *name,
    const char *value)
{
	struct conf_load_ctx *ctx = arg;

	if (ctx->cause != NULL)
		return 1;
	if (section != NULL && *section != '\0') {
		ctx->cause = util_asprintf("unknown section [%s]", section);
		return 0;
	}
	if (conf_set(ctx->conf, name, value, &ctx->cause) != 0)
		return 0;
	return 1;
}

int
conf_load(struct conf *c, const char *path, char **cause)
{
	struct conf_load_ctx ctx = { c, NULL };
	int rc;

	rc = ini_parse(path, conf_ini_cb, &ctx);
	if (ctx.cause != NULL) {
		*cause = util_asprintf("%s:%d: %s", path, rc, ctx.cause);
		free(ctx.cause);
		return -1;
	}
	if (rc == -1) {
		*cause = util_asprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	if (rc != 0) {
		*cause = util_asprintf("%s:%d: syntax error", path, rc);
		return -1;
	}
	return 0;
}

int
conf_validate(struct conf *c, char **cause)
{
	struct guard *g;

	if (c->window_size != 0 && c->window_size < c->concurrency) {
		*cause = util_asprintf("window_size (%" PRId64 ") must be 0 or "
		    "at least concurrency (%" PRId64 ")", c->window_size,
		    c->concurrency);
		return -1;
	}
	/* Always parsed, so a bad list is refused even with the guard off. */
	if ((g = guard_create(c->allowed_networks, cause)) == NULL)
		return -1;
	guard_free(c->guard);
	c->guard = NULL;
	if (c->block_private_addresses)
		c->guard = g;
	else
		guard_free(g);
	return 0;
}

const struct guard *
conf_guard(const struct conf *c)
{
	return c->guard;
}

/* The text form of a row's value in c, as --print-config shows it. */
static void
conf_print_value(const struct conf_setting *d, const void *field, FILE *fp)
{
	switch (d->type) {
	case CONF_INT:
		fprintf(fp, "%" PRId64, *(const int64_t *)field);
		break;
	case CONF_BOOL:
		fputs(*(const int64_t *)field ? "true" : "false", fp);
		break;
	case CONF_LOGLEVEL:
		fputs(log_level_name((enum log_level)*(const int64_t *)field),
		    fp);
		break;
	case CONF_SECRET:
		/* Never echo a secret. */
		fputs(**(char *const *)field != '\0' ? "(set)" : "", fp);
		break;
	default:
		fputs(*(char *const *)field, fp);
		break;
	}
}

void
conf_print(const struct conf *c, FILE *fp)
{
	const struct conf_setting *d;
	size_t i;

	for (i = 0; (d = conf_key(i)) != NULL; i++) {
		fprintf(fp, "%s = ", d->name);
		conf_print_value(d, (const char *)c + d->conf_off, fp);
		fputc('\n', fp);
	}
}

struct conf *
conf_create(void)
{
	struct conf *c;

	if ((c = malloc(sizeof(*c))) == NULL)
		return NULL;
	if (conf_init(c) != 0) {
		free(c);
		return NULL;
	}
	atomic_init(&c->refs, 1);
	return c;
}

struct conf *
conf_ref(struct conf *c)
{
	atomic_fetch_add(&c->refs, 1);
	return c;
}

void
conf_unref(struct conf *c)
{
	if (c == NULL || atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	conf_clear(c);
	free(c);
}

void
conf_replace(struct conf **slot, pthread_mutex_t *lock, struct conf *c)
{
	struct conf *old;

	conf_ref(c);
	if (lock != NULL)
		pthread_mutex_lock(lock);
	old = *slot;
	*slot = c;
	if (lock != NULL)
		pthread_mutex_unlock(lock);
	conf_unref(old);
}

/* Whether row d holds the same value in a and b. */
static int
conf_same(const struct conf_setting *d, const struct conf *a,
    const struct conf *b)
{
	const void *x = (const char *)a + d->conf_off;
	const void *y = (const char *)b + d->conf_off;

	if (conf_type_is_string(d->type))
		return strcmp(*(char *const *)x, *(char *const *)y) == 0;
	return *(const int64_t *)x == *(const int64_t *)y;
}

int
conf_keep_restart(struct conf *next, const struct conf *running)
{
	const struct conf_setting *d;
	char **dst, *copy;
	size_t i;

	for (i = 0; (d = conf_key(i)) != NULL; i++) {
		if (d->apply != CONF_RESTART || conf_same(d, next, running))
			continue;
		log_warnx("reload: %s takes effect only at restart", d->name);
		if (!conf_type_is_string(d->type)) {
			*(int64_t *)(void *)((char *)next + d->conf_off) =
			    *(const int64_t *)(const void *)
			    ((const char *)running + d->conf_off);
			continue;
		}
		if ((copy = strdup(*(char *const *)(const void *)
		    ((const char *)running + d->conf_off))) == NULL)
			return -1;
		dst = (char **)(void *)((char *)next + d->conf_off);
		free(*dst);
		*dst = copy;
	}
	return 0;
}

/* --- documentation ---------------------------------------------------- */

/* Writes text wrapped at width columns, each line started with prefix. */
static void
conf_wrap(FILE *fp, const char *prefix, const char *text, size_t width)
{
	const char *p = text, *w;
	size_t col = 0, len;

	while (*p != '\0') {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		for (w = p; *w != '\0' && *w != ' '; w++)
			;
		len = (size_t)(w - p);
		if (col > 0 && col + 1 + len > width) {
			fputc('\n', fp);
			col = 0;
		}
		if (col == 0) {
			fputs(prefix, fp);
			col = strlen(prefix);
		} else {
			fputc(' ', fp);
			col++;
		}
		fwrite(p, 1, len, fp);
		col += len;
		p = w;
	}
	if (col > 0)
		fputc('\n', fp);
}

/* The full prose of a configuration key, as one paragraph. */
static char *
conf_prose(const struct conf_setting *d)
{
	const char *job = d->scope == CONF_SCOPE_JOB ? " Jobs may set " : "";

	return util_asprintf("%c%s.%s%s%s%s%s%s", d->summary[0] >= 'a' &&
	    d->summary[0] <= 'z' ? d->summary[0] - 'a' + 'A' : d->summary[0],
	    d->summary + 1, *d->doc != '\0' ? " " : "", d->doc, job,
	    *job != '\0' ? d->name : "", *job != '\0' ? " too." : "",
	    d->apply == CONF_RESTART ? " Needs a restart." : "");
}

static void
conf_doc_file(FILE *fp)
{
	const struct conf_setting *d;
	char *prose;
	size_t i;

	fputs("# harvestd configuration: every key with its built-in default.\n"
	    "# Generated from the settings table (conf/settings.def) by "
	    "`make docs`.\n"
	    "# Keys are set outside any [section]. Each can also be set on "
	    "the command\n# line with --set key=value (or its own flag, where "
	    "one exists), which wins\n# over this file. Send SIGHUP to "
	    "reload; keys marked \"Needs a restart\" keep\n# their running "
	    "value until the next start.\n"
	    "# Check a file with: harvestd --config FILE --check-config\n",
	    fp);
	for (i = 0; (d = conf_key(i)) != NULL; i++) {
		fputc('\n', fp);
		if ((prose = conf_prose(d)) != NULL)
			conf_wrap(fp, "# ", prose, 76);
		free(prose);
		fprintf(fp, "%s = %s\n", d->name, d->def);
	}
}

/* roff: backslashes doubled, minus signs escaped. */
static void
conf_roff(FILE *fp, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\\\", fp);
		else if (*s == '-')
			fputs("\\-", fp);
		else
			fputc(*s, fp);
	}
}

static void
conf_doc_man(FILE *fp)
{
	const struct conf_setting *d;
	char *prose;
	size_t i;

	fputs(".TH HARVESTD.CONF 5 \"2026-11-25\" \"harvestd " PACKAGE_VERSION
	    "\" \"File Formats Manual\"\n"
	    ".SH NAME\nharvestd.conf \\- harvestd configuration file\n"
	    ".SH DESCRIPTION\nAn INI file of \\fIkey\\fR = \\fIvalue\\fR lines "
	    "outside any section;\nlines starting with ; or # are comments. "
	    "Each key can also be set on the\ncommand line with "
	    "\\fB\\-\\-set\\fR \\fIkey\\fR=\\fIvalue\\fR, which wins over the "
	    "file.\n\\fBharvestd \\-\\-config\\fR \\fIfile\\fR "
	    "\\fB\\-\\-check\\-config\\fR reports the\nfirst bad line as "
	    "\\fIfile\\fR:\\fIline\\fR. SIGHUP reloads the file.\nJobs may "
	    "override the per-request settings with fields of the same name.\n"
	    ".SH KEYS\n", fp);
	for (i = 0; (d = conf_key(i)) != NULL; i++) {
		fprintf(fp, ".TP\n.B %s\nDefault: ", d->name);
		conf_roff(fp, d->def);
		fputs(".\n", fp);
		if ((prose = conf_prose(d)) != NULL)
			conf_roff(fp, prose);
		fputc('\n', fp);
		free(prose);
	}
	fputs(".SH SEE ALSO\n.BR harvestd (8)\n", fp);
}

/* Markdown table cell: pipes escaped. */
static void
conf_md(FILE *fp, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '|')
			fputc('\\', fp);
		fputc(*s, fp);
	}
}

static void
conf_doc_markdown(FILE *fp)
{
	const struct conf_setting *d;
	char *prose;
	size_t i;

	fputs("# Configuration\n\n"
	    "Generated from the settings table (`conf/settings.def`) by `make "
	    "docs`; the test suite checks that it is up to date.\n\n"
	    "harvestd reads one INI file (`--config FILE`): `key = value` "
	    "lines outside any section, `#` or `;` comments. Every key can "
	    "also be given on the command line as `--set key=value` (flags win "
	    "over the file); `--db`, `--listen`, `--port`, `--concurrency` and "
	    "`--log-level` are shortcuts. `harvestd --config FILE "
	    "--check-config` prints `configuration OK` or `FILE:LINE: "
	    "problem`; `--print-config` prints the effective configuration. "
	    "SIGHUP reloads the file; keys marked *restart* keep their running "
	    "value until the next start. Keys marked *job* are defaults that a "
	    "job may override with a field of the same name (see "
	    "[api.md](api.md)).\n\n"
	    "| key | default | applies | meaning |\n|---|---|---|---|\n", fp);
	for (i = 0; (d = conf_key(i)) != NULL; i++) {
		fprintf(fp, "| `%s` | `%s` | %s%s | ", d->name, d->def,
		    d->apply == CONF_RESTART ? "restart" : "reload",
		    d->scope == CONF_SCOPE_JOB ? ", job" : "");
		if ((prose = conf_prose(d)) != NULL)
			conf_md(fp, prose);
		free(prose);
		fputs(" |\n", fp);
	}
}

static const char *
conf_type_doc(enum conf_type t)
{
	switch (t) {
	case CONF_INT:
		return "integer";
	case CONF_BOOL:
		return "boolean";
	case CONF_HEADERS:
	case CONF_EXTRACT:
	case CONF_FOLLOW:
		return "object";
	case CONF_SITEMAPS:
		return "array";
	default:
		return "string";
	}
}

static void
conf_doc_jobfields(FILE *fp)
{
	const struct conf_setting *d;
	const char *summary;
	size_t i;

	fputs("| field | type | range | default | meaning |\n"
	    "|---|---|---|---|---|\n", fp);
	for (i = 0; i < NROWS; i++) {
		d = &conf_table[i];
		if (d->job_off == CONF_NOFIELD)
			continue;
		fprintf(fp, "| `%s` | %s | ", d->name, conf_type_doc(d->type));
		if (d->type == CONF_INT)
			fprintf(fp, "%" PRId64 "–%" PRId64, d->min, d->max);
		else if (conf_type_is_string(d->type) && d->max > 0)
			fprintf(fp, "≤ %" PRId64 " bytes", d->max);
		fputs(" | ", fp);
		if (d->scope == CONF_SCOPE_JOB)
			fprintf(fp, "`%s` setting", d->name);
		else if (*d->def != '\0')
			fprintf(fp, "`%s`", d->def);
		fputs(" | ", fp);
		/* The flag is the daemon's business, not the job's. */
		summary = strstr(d->summary, " (--");
		fprintf(fp, "%.*s", summary != NULL ? (int)(summary -
		    d->summary) : (int)strlen(d->summary), d->summary);
		if (*d->doc != '\0') {
			fputs(". ", fp);
			conf_md(fp, d->doc);
		}
		fputs(" |\n", fp);
	}
}

int
conf_write_doc(const char *kind, FILE *fp)
{
	if (strcmp(kind, "conf") == 0)
		conf_doc_file(fp);
	else if (strcmp(kind, "man") == 0)
		conf_doc_man(fp);
	else if (strcmp(kind, "markdown") == 0)
		conf_doc_markdown(fp);
	else if (strcmp(kind, "jobfields") == 0)
		conf_doc_jobfields(fp);
	else
		return -1;
	return 0;
}
