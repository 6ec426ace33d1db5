/*
 * fuzz_url.h: what every URL the crawl parsers hand out must be, checked
 * by the link and sitemap fuzzers alike: http or https, no fragment, at
 * most CRAWL_MAX_URL bytes, printable ASCII only. Counts them in *arg
 * (a size_t).
 */
#ifndef HARVESTD_FUZZ_URL_H
#define HARVESTD_FUZZ_URL_H

#include <stdlib.h>
#include <string.h>

#include "crawl/crawl.h"

static int
fuzz_url_cb(const char *url, void *arg)
{
	const unsigned char *c;

	if (strncmp(url, "http://", 7) != 0 &&
	    strncmp(url, "https://", 8) != 0)
		abort();
	if (strlen(url) > CRAWL_MAX_URL || strchr(url, '#') != NULL)
		abort();
	for (c = (const unsigned char *)url; *c != '\0'; c++)
		if (*c <= 0x20 || *c >= 0x7f)
			abort();
	(*(size_t *)arg)++;
	return 0;
}

#endif
