/*
 * libFuzzer target: a body through crawl_sitemap_parse (gzip, XML or plain
 * text, as the body says). Every URL must be an absolute http(s) URL of
 * printable ASCII, at most 50,000 of them; a failure must say why.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crawl/crawl.h"
#include "fuzz/fuzz_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *cause = NULL;
	size_t n = 0;
	int is_index = -1, rc;

	rc = crawl_sitemap_parse((const char *)data, size, &is_index,
	    fuzz_url_cb, &n, &cause);
	if (rc < 0 ? cause == NULL : (cause != NULL || (size_t)rc != n ||
	    n > CRAWL_SITEMAP_MAX_URLS))
		abort();
	if (is_index != 0 && is_index != 1)
		abort();
	free(cause);
	return 0;
}
