/*
 * extract: parses a fetched body into a document (libxml2's HTML parser,
 * or its XML parser when the content type says XML) and pulls named fields
 * out of it with XPath 1.0. Pure: no I/O, no network, nothing printed.
 *
 * Threads: a compiled struct extract is read-only and may be shared by
 * any number of threads; a struct extract_doc belongs to one thread at a
 * time.
 */
#ifndef HARVESTD_EXTRACT_H
#define HARVESTD_EXTRACT_H

#include <stddef.h>

#include <jansson.h>

#define EXTRACT_MAX_FIELDS	64
#define EXTRACT_MAX_NAME	64		/* bytes in a field name */
#define EXTRACT_MAX_XPATH	2048		/* bytes in an expression */
/* Bodies larger than this are not parsed at all. */
#define EXTRACT_MAX_BODY	(16 * 1024 * 1024)
/* Bytes in one value, cut at a UTF-8 character boundary. */
#define EXTRACT_MAX_VALUE	(64 * 1024)
/* Entries in the array of an "all" field. */
#define EXTRACT_MAX_ALL		10000
/* Bytes of values in one run; later values are cut short, down to "". */
#define EXTRACT_MAX_OUTPUT	(16 * 1024 * 1024)
/* libxml2 XPath operations in one run (about 0.4 s); past it, null. */
#define EXTRACT_MAX_OPS		50000000UL
/* Nodes visited to build string values in one run; past it, cut short. */
#define EXTRACT_MAX_VISITS	50000000UL

struct extract;
struct extract_doc;
struct _xmlDoc;

/*
 * Initialises libxml2 once (xmlInitParser), makes it silent (no-op error
 * handlers, for the calling thread and as the default of new threads) and
 * forbids it to load anything (an external entity loader that refuses).
 * Any thread may call it any number of times: every entry point of extract
 * and crawl calls it, so that libxml2 stays silent on each worker thread;
 * the daemon calls it once at start-up, before the workers start.
 */
void		 extract_global_init(void);

/*
 * Validates the job field "extract", a JSON object (borrowed) that maps
 * field names to an XPath string or to {"xpath": "...", "all": bool}.
 * NULL with *cause set (the caller frees it) when it is invalid, e.g.
 * field "extract.title": invalid XPath expression "//[".
 */
struct extract	*extract_compile(json_t *spec, char **cause);
/* The normalised spec, every field as {"xpath": ..., "all": ...}: new
 * reference, what the job stores; extract_compile accepts it back. */
json_t		*extract_to_json(const struct extract *x);
void		 extract_free(struct extract *x);

/*
 * Parses body (borrowed). XML parser when the media type of content_type
 * is text/xml, application/xml or any other "+xml" type except
 * application/xhtml+xml; the HTML parser otherwise, including XHTML (so
 * that "//title" works without namespace prefixes) and a NULL type. A
 * charset parameter libxml2 knows overrides the document's own
 * declaration. No network, no DTD loading, no entity expansion (every
 * entity a document declares is declared empty: XXE and billion-laughs
 * safe); broken markup is recovered as libxml2 recovers it (it keeps 256
 * levels of nesting, and after an error in XML it drops even &amp;). url
 * (may be NULL) is recorded as the document's URL. NULL when nothing
 * parses or len > EXTRACT_MAX_BODY.
 */
struct extract_doc *extract_doc_parse(const char *body, size_t len,
		    const char *content_type, const char *url);
/* Whether the XML parser was used. */
int		 extract_doc_is_xml(const struct extract_doc *doc);
/* The libxml2 tree (borrowed, read it only): for crawl/. */
struct _xmlDoc	*extract_doc_tree(struct extract_doc *doc);
void		 extract_doc_free(struct extract_doc *doc);

/*
 * Runs every field of x against doc and returns a new JSON object with one
 * key per field, in the spec's order:
 * - a node-set gives the string value of its first node in document order
 *   (an element's text, @href an attribute's value), or for "all" an
 *   array of the string values of every node (at most EXTRACT_MAX_ALL);
 *   an empty node-set gives null, for "all" too;
 * - a number gives a JSON integer when integral (count(//a)), else a real
 *   (NaN and infinities give null); a boolean and a string give theirs,
 *   whether or not "all" is set;
 * - an evaluation error (unknown function or namespace prefix, the
 *   EXTRACT_MAX_OPS budget spent) gives null.
 * Values are not trimmed: whitespace is the document's. Invalid UTF-8 is
 * replaced by U+FFFD. For XML documents, the namespace prefixes declared on
 * the root element may be used in expressions. doc may be NULL (a body
 * that did not parse): every field is null then. NULL on ENOMEM.
 */
json_t		*extract_run(const struct extract *x, struct extract_doc *doc);

#endif
