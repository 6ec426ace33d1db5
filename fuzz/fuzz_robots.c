/*
 * libFuzzer target: the robots.txt parser and matcher. The input is the
 * file; paths taken from its own lines are matched against it too.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "robots/robots.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const paths[] = { "/", "/a/b.gif", "/private?x=1",
	    "/%7Ea/*$", "/robots.txt", "/\xC3\xA4/%c3%a4", "/%", "/%4" };
	const char *const *urls;
	struct robots *r;
	char path[256];
	size_t i, n;

	if ((r = robots_parse((const char *)data, size, "harvestd")) == NULL)
		return 0;
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		(void)robots_allowed(r, paths[i]);
	/* A path made of the input's tail exercises the matcher's loops. */
	n = size < sizeof(path) - 2 ? size : sizeof(path) - 2;
	path[0] = '/';
	for (i = 0; i < n; i++)
		path[i + 1] = data[size - n + i] != '\0' ?
		    (char)data[size - n + i] : 'x';
	path[n + 1] = '\0';
	(void)robots_allowed(r, path);
	(void)robots_crawl_delay_ms(r);
	n = robots_sitemaps(r, &urls);
	for (i = 0; i < n; i++) {
		if (strlen(urls[i]) > ROBOTS_MAX_SITEMAP_LEN)
			abort();
	}
	robots_free(r);
	return 0;
}
