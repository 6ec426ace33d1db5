/*
 * crawl/sitemap: owns reading one sitemap file (sitemaps.org): gzip
 * (zlib, concatenated members too), XML through libxml2's SAX interface
 * (no tree, no DTD, no entities, no network), plain text, and the
 * protocol's limits of 50,000 URLs and 50 MiB.
 */
#include "config.h"

#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <zlib.h>

#include "util/util.h"
#include "crawl/crawl.h"

#define SITEMAP_SPACE	" \t\n\f\r"
/* A <loc> longer than a followable URL plus some whitespace is skipped. */
#define SITEMAP_MAX_LOC	(CRAWL_MAX_URL + 256)

/* libxml2 2.12 made the structured error handler's error const. */
#if LIBXML_VERSION >= 21200
#define SITEMAP_XML_ERROR	const xmlError
#else
#define SITEMAP_XML_ERROR	xmlError
#endif

enum sitemap_root {
	SITEMAP_ROOT_NONE,
	SITEMAP_ROOT_URLSET,
	SITEMAP_ROOT_INDEX,
	SITEMAP_ROOT_OTHER
};

struct sitemap {
	xmlParserCtxtPtr	 ctxt;
	crawl_link_cb		 cb;
	void			*arg;
	enum sitemap_root	 root;
	char			 root_name[64];	/* for the error, when safe */
	int			 depth;
	int			 in_entry;	/* in <url> or <sitemap> */
	int			 in_loc;
	char			*loc;
	size_t			 loclen;
	int			 loc_overflow;
	int			 count;
	int			 stop;
};

/* Passes one URL on when it is followable; says whether to stop. */
static int
sitemap_emit(struct sitemap *s, const char *text, size_t len)
{
	char *raw, *url;

	while (len > 0 && strchr(SITEMAP_SPACE, *text) != NULL) {
		text++;
		len--;
	}
	while (len > 0 && strchr(SITEMAP_SPACE, text[len - 1]) != NULL)
		len--;
	if (len == 0 || s->stop || (raw = strndup(text, len)) == NULL)
		return s->stop;
	url = crawl_url_normalise(NULL, raw);
	free(raw);
	if (url == NULL)
		return 0;
	s->count++;
	if (s->cb(url, s->arg) != 0 || s->count >= CRAWL_SITEMAP_MAX_URLS)
		s->stop = 1;
	free(url);
	return s->stop;
}

static int
sitemap_name_is(const xmlChar *name, const char *want)
{
	return xmlStrcasecmp(name, (const xmlChar *)want) == 0;
}

/* Elements by local name only: any namespace, or none, is accepted. */
static void
sitemap_start_cb(void *ctx, const xmlChar *localname, const xmlChar *prefix,
    const xmlChar *uri, int nb_namespaces, const xmlChar **namespaces,
    int nb_attributes, int nb_defaulted, const xmlChar **attributes)
{
	struct sitemap *s = ctx;
	size_t len, i;

	(void)prefix;
	(void)uri;
	(void)nb_namespaces;
	(void)namespaces;
	(void)nb_attributes;
	(void)nb_defaulted;
	(void)attributes;
	if (++s->depth == 1) {
		if (sitemap_name_is(localname, "urlset"))
			s->root = SITEMAP_ROOT_URLSET;
		else if (sitemap_name_is(localname, "sitemapindex"))
			s->root = SITEMAP_ROOT_INDEX;
		else {
			s->root = SITEMAP_ROOT_OTHER;
			/* Named in the error only when plainly printable. */
			len = strlen((const char *)localname);
			for (i = 0; i < len && len < sizeof(s->root_name); i++)
				if (localname[i] <= 0x20 ||
				    localname[i] >= 0x7f)
					break;
			if (i == len && len < sizeof(s->root_name))
				memcpy(s->root_name, localname, len + 1);
			xmlStopParser(s->ctxt);
		}
	} else if (s->depth == 2)
		s->in_entry = sitemap_name_is(localname,
		    s->root == SITEMAP_ROOT_URLSET ? "url" : "sitemap");
	else if (s->depth == 3 && s->in_entry &&
	    sitemap_name_is(localname, "loc")) {
		s->in_loc = 1;
		s->loclen = 0;
		s->loc_overflow = 0;
	}
}

static void
sitemap_end_cb(void *ctx, const xmlChar *localname, const xmlChar *prefix,
    const xmlChar *uri)
{
	struct sitemap *s = ctx;

	(void)localname;
	(void)prefix;
	(void)uri;
	if (s->depth == 3 && s->in_loc) {
		s->in_loc = 0;
		if (!s->loc_overflow && sitemap_emit(s, s->loc, s->loclen))
			xmlStopParser(s->ctxt);
	} else if (s->depth == 2)
		s->in_entry = 0;
	s->depth--;
}

/* Text and CDATA directly inside <loc>. */
static void
sitemap_text_cb(void *ctx, const xmlChar *ch, int len)
{
	struct sitemap *s = ctx;

	if (!s->in_loc || s->depth != 3 || s->loc_overflow || len <= 0)
		return;
	if ((size_t)len > SITEMAP_MAX_LOC - s->loclen) {
		s->loc_overflow = 1;
		return;
	}
	memcpy(s->loc + s->loclen, ch, (size_t)len);
	s->loclen += (size_t)len;
}

static void
sitemap_error_cb(void *ctx, SITEMAP_XML_ERROR *error)
{
	(void)ctx;
	(void)error;
}

/* Whether the "&" at p starts a reference: &name; &#38; &#x26; */
static int
sitemap_is_ref(const char *p, const char *end)
{
	const char *q = p + 1, *start;
	int hex = 0;

	if (q < end && *q == '#') {
		if (++q < end && (*q == 'x' || *q == 'X')) {
			hex = 1;
			q++;
		}
		for (start = q; q < end && q - start < 16; q++)
			if (!isdigit((unsigned char)*q) &&
			    !(hex && isxdigit((unsigned char)*q)))
				break;
	} else {
		for (start = q; q < end && q - start < 64; q++)
			if (*q == '\0' || !(isalnum((unsigned char)*q) ||
			    strchr("._:-", *q) != NULL ||
			    (unsigned char)*q >= 0x80))
				break;
	}
	return q > start && q < end && *q == ';';
}

/*
 * A bare "&" (a query string pasted in unescaped, the commonest fault of
 * hand-made sitemaps) is a fatal error to XML, after which libxml2's
 * recovery drops every later &amp; too, so all later URLs with a query
 * would come out wrong: such ampersands are escaped first, outside CDATA
 * sections. *out stays NULL when there is nothing to escape.
 */
static int
sitemap_fix_amps(const char *data, size_t len, char **out, size_t *outlen)
{
	static const char cdata[] = "<![CDATA[";
	const char *p, *end = data + len, *close;
	size_t bare = 0, n = 0;
	char *buf = NULL;
	int pass;

	*out = NULL;
	*outlen = 0;
	/* The first pass counts, the second copies. */
	for (pass = 0; pass < 2; pass++) {
		for (p = data; p < end; p++) {
			if (*p == '<' &&
			    (size_t)(end - p) >= sizeof(cdata) - 1 &&
			    memcmp(p, cdata, sizeof(cdata) - 1) == 0) {
				close = p;
				while ((close = memchr(close, ']',
				    (size_t)(end - close))) != NULL &&
				    !(end - close >= 3 &&
				    memcmp(close, "]]>", 3) == 0))
					close++;
				if (close == NULL)
					close = end - 1;
				else
					close += 2;
				if (buf != NULL) {
					memcpy(buf + n, p,
					    (size_t)(close - p + 1));
					n += (size_t)(close - p + 1);
				}
				p = close;
				continue;
			}
			if (*p == '&' && !sitemap_is_ref(p, end)) {
				if (buf == NULL)
					bare++;
				else {
					memcpy(buf + n, "&amp;", 5);
					n += 5;
				}
			} else if (buf != NULL)
				buf[n++] = *p;
		}
		if (bare == 0)
			return 0;
		if (buf == NULL && (buf = malloc(len + 4 * bare)) == NULL)
			return -1;
	}
	*out = buf;
	*outlen = n;
	return 0;
}

/*
 * SAX: no tree is built, and with no entity handlers no entity is ever
 * declared, so none is expanded or loaded; predefined ones (&amp;) and
 * character references still work.
 */
static int
sitemap_xml(struct sitemap *s, const char *data, size_t len, char **cause)
{
	xmlSAXHandler sax;
	xmlParserCtxtPtr ctxt;

	if ((s->loc = malloc(SITEMAP_MAX_LOC)) == NULL ||
	    (ctxt = xmlCreateMemoryParserCtxt(data, (int)len)) == NULL) {
		*cause = util_asprintf("out of memory");
		return -1;
	}
	memset(&sax, 0, sizeof(sax));
	sax.initialized = XML_SAX2_MAGIC;
	sax.startElementNs = sitemap_start_cb;
	sax.endElementNs = sitemap_end_cb;
	sax.characters = sitemap_text_cb;
	sax.cdataBlock = sitemap_text_cb;
	sax.serror = sitemap_error_cb;
	memcpy(ctxt->sax, &sax, sizeof(sax));
	ctxt->userData = s;
	s->ctxt = ctxt;
	(void)xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_RECOVER |
	    XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	(void)xmlParseDocument(ctxt);
	s->ctxt = NULL;
	/* libxml2 keeps internal entities in a document of its own even in
	 * SAX mode ("expat compatibility"); it is ours to free. */
	if (ctxt->myDoc != NULL)
		xmlFreeDoc(ctxt->myDoc);
	xmlFreeParserCtxt(ctxt);
	if (s->root == SITEMAP_ROOT_URLSET || s->root == SITEMAP_ROOT_INDEX)
		return 0;
	if (s->root_name[0] != '\0')
		*cause = util_asprintf("not a sitemap: the root element is "
		    "<%s>, not <urlset> or <sitemapindex>", s->root_name);
	else
		*cause = util_asprintf("not a sitemap: no <urlset> or "
		    "<sitemapindex> root element");
	return -1;
}

/* One URL a line; when the body was cut, its last line may be too. */
static void
sitemap_text(struct sitemap *s, const char *data, size_t len, int truncated)
{
	const char *p = data, *end = data + len, *nl;

	while (p < end && !s->stop) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL) {
			if (truncated)
				break;
			nl = end;
		}
		(void)sitemap_emit(s, p, (size_t)(nl - p));
		p = nl + 1;
	}
}

/*
 * Inflates a gzip body into at most CRAWL_SITEMAP_MAX_BYTES (a gzip bomb
 * stops there, *truncated set). Members may follow one another, as gzip
 * allows; bytes after the last member are ignored.
 */
static int
sitemap_gunzip(const char *in, size_t inlen, char **out, size_t *outlen,
    int *truncated, char **cause)
{
	size_t cap = 0, have = 0, want, left = inlen;
	z_stream zs;
	char *buf = NULL, *p;
	int rc;

	*out = NULL;
	*outlen = 0;
	*truncated = 0;
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
		*cause = util_asprintf("out of memory");
		return -1;
	}
	zs.next_in = (Bytef *)(uintptr_t)in;
	for (;;) {
		/* avail_in is a uInt: feed a huge body in pieces. */
		if (zs.avail_in == 0 && left > 0) {
			zs.avail_in = left > UINT_MAX ? UINT_MAX : (uInt)left;
			left -= zs.avail_in;
		}
		if (have == cap) {
			if (cap == CRAWL_SITEMAP_MAX_BYTES) {
				*truncated = 1;
				break;
			}
			want = cap == 0 ? 65536 : cap * 2;
			if (want > CRAWL_SITEMAP_MAX_BYTES)
				want = CRAWL_SITEMAP_MAX_BYTES;
			if ((p = realloc(buf, want)) == NULL) {
				*cause = util_asprintf("out of memory");
				goto fail;
			}
			buf = p;
			cap = want;
		}
		zs.next_out = (Bytef *)buf + have;
		zs.avail_out = (uInt)(cap - have);
		rc = inflate(&zs, Z_NO_FLUSH);
		have = cap - zs.avail_out;
		if (rc == Z_STREAM_END) {
			if (zs.avail_in >= 2 && zs.next_in[0] == 0x1f &&
			    zs.next_in[1] == 0x8b && inflateReset(&zs) == Z_OK)
				continue;
			break;
		}
		if (rc == Z_BUF_ERROR && zs.avail_out > 0) {
			*cause = util_asprintf("gzip data is truncated");
			goto fail;
		}
		if (rc != Z_OK && rc != Z_BUF_ERROR) {
			*cause = util_asprintf("corrupt gzip data (%s)",
			    zs.msg != NULL ? zs.msg : "inflate failed");
			goto fail;
		}
	}
	inflateEnd(&zs);
	*out = buf;
	*outlen = have;
	return 0;
fail:
	inflateEnd(&zs);
	free(buf);
	return -1;
}

int
crawl_sitemap_parse(const char *body, size_t len, int *is_index,
    crawl_link_cb cb, void *arg, char **cause)
{
	struct sitemap s;
	const char *data = body;
	char *plain = NULL, *fixed = NULL;
	size_t n = len, n2, i = 0;
	int truncated = 0, utf16, ret = -1;

	*cause = NULL;
	if (is_index != NULL)
		*is_index = 0;
	crawl_global_init();
	memset(&s, 0, sizeof(s));
	s.cb = cb;
	s.arg = arg;
	if (body == NULL)
		n = 0;
	else if (len >= 2 && (unsigned char)body[0] == 0x1f &&
	    (unsigned char)body[1] == 0x8b) {
		if (sitemap_gunzip(body, len, &plain, &n, &truncated,
		    cause) != 0)
			goto out;
		data = plain;
	} else if (len > CRAWL_SITEMAP_MAX_BYTES) {
		n = CRAWL_SITEMAP_MAX_BYTES;
		truncated = 1;
	}
	/* XML starts with "<" after an optional BOM and whitespace, or with
	 * a UTF-16 BOM. */
	if (n >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	while (i < n && strchr(SITEMAP_SPACE, data[i]) != NULL &&
	    data[i] != '\0')
		i++;
	utf16 = n >= 2 && (memcmp(data, "\xfe\xff", 2) == 0 ||
	    memcmp(data, "\xff\xfe", 2) == 0);
	if ((i < n && data[i] == '<') || utf16) {
		if (!utf16 && sitemap_fix_amps(data, n, &fixed, &n2) != 0) {
			*cause = util_asprintf("out of memory");
			goto out;
		}
		if (fixed != NULL) {
			data = fixed;
			n = n2;
		}
		if (sitemap_xml(&s, data, n, cause) != 0)
			goto out;
		if (is_index != NULL)
			*is_index = s.root == SITEMAP_ROOT_INDEX;
	} else
		sitemap_text(&s, data, n, truncated);
	ret = s.count;
out:
	free(s.loc);
	free(fixed);
	free(plain);
	return ret;
}
