/*
 * util: the few helpers every module needs and none owns.
 */
#ifndef HARVESTD_UTIL_H
#define HARVESTD_UTIL_H

/* printf into a new string (the caller frees it); NULL on ENOMEM. */
char	*util_asprintf(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));

#endif
