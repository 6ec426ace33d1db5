/*
 * libFuzzer target: a body through extract_doc_parse (the HTML parser, or
 * the XML one for inputs of odd length), crawl_links against a fixed base
 * URL with and without nofollow, and a fixed extract spec. Every link must
 * be an absolute http(s) URL of printable ASCII, and every result valid
 * JSON.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "extract/extract.h"
#include "crawl/crawl.h"
#include "fuzz/fuzz_url.h"

#define FUZZ_BASE	"https://fuzz.example/dir/page.html?q=1"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct extract *fuzz_spec;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	json_t *spec;
	char *cause = NULL;

	(void)argc;
	(void)argv;
	crawl_global_init();
	spec = json_loads("{\"title\": \"//title\", \"links\": {\"xpath\": "
	    "\"//a/@href\", \"all\": true}, \"all\": {\"xpath\": \"//*\", "
	    "\"all\": true}, \"n\": \"count(//a)\", \"text\": \"string(/)\", "
	    "\"attrs\": {\"xpath\": \"//@*\", \"all\": true}}", 0, NULL);
	if (spec == NULL || (fuzz_spec = extract_compile(spec, &cause)) == NULL)
		abort();
	json_decref(spec);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct extract_doc *doc;
	size_t n = 0, m = 0;
	json_t *out;
	char *s;
	int rc;

	doc = extract_doc_parse((const char *)data, size, size % 2 ?
	    "application/xml" : "text/html; charset=utf-8", FUZZ_BASE);
	if (doc == NULL)
		return 0;
	if ((rc = crawl_links(doc, FUZZ_BASE, 0, 0, fuzz_url_cb, &n)) < 0 ||
	    (size_t)rc != n)
		abort();
	if ((rc = crawl_links(doc, FUZZ_BASE, 1, 100, fuzz_url_cb, &m)) < 0 ||
	    (size_t)rc != m || m > 100 || (m < 100 && m < n))
		abort();
	if ((out = extract_run(fuzz_spec, doc)) == NULL ||
	    (s = json_dumps(out, 0)) == NULL)
		abort();
	free(s);
	json_decref(out);
	extract_doc_free(doc);
	return 0;
}
