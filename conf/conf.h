/*
 * conf: the settings. One table (conf/settings.def: name, type, scope,
 * range, default, help) declares every setting once; from it come the
 * fields of struct conf and struct job_opts, the INI file (inih),
 * --set, --help, --print-config, the documentation, job field validation
 * (job/) and the effective value of a setting for one transfer.
 *
 * A running daemon shares its configuration as a reference-counted,
 * immutable snapshot: a reload builds a new one and hands it to every
 * module, and a transfer keeps the snapshot it started with.
 */
#ifndef HARVESTD_CONF_H
#define HARVESTD_CONF_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "log/log.h"

/* A job field left unset follows the daemon's configuration. */
#define JOB_UNSET (-1)

#define JOB_METHOD_GET	0
#define JOB_METHOD_HEAD	1

/* The C type each setting type is stored as. */
#define CONF_CTYPE_INT		int64_t
#define CONF_CTYPE_BOOL		int64_t
#define CONF_CTYPE_LOGLEVEL	int64_t
#define CONF_CTYPE_METHOD	int64_t
#define CONF_CTYPE_STRING	char *
#define CONF_CTYPE_SECRET	char *
#define CONF_CTYPE_CIDRS	char *
#define CONF_CTYPE_HEADERS	char *
#define CONF_CTYPE_PROXY	char *
#define CONF_CTYPE_URL		char *
#define CONF_CTYPE_EXTRACT	char *
#define CONF_CTYPE_FOLLOW	char *
#define CONF_CTYPE_SITEMAPS	char *

/* Which struct gets a field, by scope. */
#define CONF_IN_CONF_DAEMON(t, n)	t n;
#define CONF_IN_CONF_JOB(t, n)		t n;
#define CONF_IN_CONF_JOBONLY(t, n)
#define CONF_IN_JOB_DAEMON(t, n)
#define CONF_IN_JOB_JOB(t, n)		t n;
#define CONF_IN_JOB_JOBONLY(t, n)	t n;

struct guard;

/* The daemon's settings: every DAEMON and JOB row. */
struct conf {
#define SETTING(name, type, scope, ...) \
	CONF_IN_CONF_##scope(CONF_CTYPE_##type, name)
#include "conf/settings.def"
#undef SETTING
	atomic_int	 refs;		/* conf_create()d snapshots */
	struct guard	*guard;		/* built by conf_validate */
};

/*
 * The fields one job may set: every JOB and JOBONLY row. A field left
 * unset (JOB_UNSET, or NULL for strings) follows the configuration.
 */
struct job_opts {
#define SETTING(name, type, scope, ...) \
	CONF_IN_JOB_##scope(CONF_CTYPE_##type, name)
#include "conf/settings.def"
#undef SETTING
};

/*
 * The value of a JOB setting for one job: its own when set, else the
 * daemon's. c and o are pointers; works for numbers and strings alike.
 */
#define conf_eff(c, o, name) _Generic((o)->name,			\
	char *: (const char *)conf_eff_str_(				\
	    (const char *)(intptr_t)(o)->name,				\
	    (const char *)(intptr_t)(c)->name),				\
	default: conf_eff_int_((int64_t)(intptr_t)(o)->name,		\
	    (int64_t)(intptr_t)(c)->name))
static inline int64_t
conf_eff_int_(int64_t job, int64_t def)
{
	return job != JOB_UNSET ? job : def;
}
static inline const char *
conf_eff_str_(const char *job, const char *def)
{
	return job != NULL ? job : def;
}

enum conf_type {
	CONF_INT, CONF_BOOL, CONF_STRING, CONF_SECRET, CONF_LOGLEVEL,
	CONF_CIDRS, CONF_METHOD, CONF_HEADERS, CONF_PROXY, CONF_URL,
	CONF_EXTRACT, CONF_FOLLOW, CONF_SITEMAPS	/* JSON, kept as text */
};
enum conf_scope { CONF_SCOPE_DAEMON, CONF_SCOPE_JOB, CONF_SCOPE_JOBONLY };
enum conf_apply { CONF_RELOAD, CONF_RESTART };

#define CONF_NOFIELD	((size_t)-1)

/* One row of the table. */
struct conf_setting {
	const char	*name;
	enum conf_type	 type;
	enum conf_scope	 scope;
	enum conf_apply	 apply;
	int64_t		 min;	/* numbers: range; strings: length */
	int64_t		 max;
	const char	*def;	/* as the file spells it; "" for none */
	const char	*summary;
	const char	*doc;	/* "" for none */
	size_t		 conf_off;	/* in struct conf, or CONF_NOFIELD */
	size_t		 job_off;	/* in struct job_opts, or CONF_NOFIELD */
};

/* Every row, in table order: i from 0 while it returns non-NULL. */
const struct conf_setting *conf_setting_at(size_t i);
const struct conf_setting *conf_setting_find(const char *name);
/* Whether a row's value is a string (char *) rather than a number. */
int	 conf_type_is_string(enum conf_type t);

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
/* Cross-field checks after everything is set; builds the guard. */
int	 conf_validate(struct conf *c, char **cause);
/* Writes every key = value, as an INI file would hold it. */
void	 conf_print(const struct conf *c, FILE *fp);
/* Number of configuration keys and the name/help of key i. */
size_t	 conf_nkeys(void);
const char *conf_key_name(size_t i);
const char *conf_key_help(size_t i);

/* A snapshot on the heap with the defaults, one reference; NULL: ENOMEM. */
struct conf	*conf_create(void);
struct conf	*conf_ref(struct conf *c);
/* Drops a reference; the last one frees the snapshot. NULL is fine. */
void		 conf_unref(struct conf *c);
/*
 * Points *slot at c (a reference is taken) under lock (may be NULL) and
 * drops the reference *slot held, outside the lock.
 */
void		 conf_replace(struct conf **slot, pthread_mutex_t *lock,
		    struct conf *c);
/*
 * The address guard the snapshot asks for (block_private_addresses with
 * allowed_networks), built by conf_validate; NULL when it is off.
 * Borrowed: it lives as long as the snapshot.
 */
const struct guard *conf_guard(const struct conf *c);
/*
 * Before a reload replaces running with next: every RESTART setting that
 * differs is logged and keeps its running value in next. -1 on ENOMEM.
 */
int	 conf_keep_restart(struct conf *next, const struct conf *running);

/*
 * Writes the documentation the table makes: "conf" (etc/harvestd.conf),
 * "man" (harvestd.conf(5)), "markdown" (docs/configuration.md) or
 * "jobfields" (the job field table of docs/api.md). -1 on an unknown kind.
 */
int	 conf_write_doc(const char *kind, FILE *fp);

#endif
