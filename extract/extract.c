/*
 * extract: owns harvestd's use of libxml2 (its one-time set-up, silence
 * and refusal to load anything), turning bodies into trees without network
 * or entity expansion, the job field "extract", and XPath evaluation into
 * JSON values bounded in size and in work.
 */
#include "config.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/HTMLparser.h>
#include <libxml/SAX2.h>
#include <libxml/entities.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "util/util.h"
#include "extract/extract.h"

/* libxml2 2.12 made the structured error handler's error const. */
#if LIBXML_VERSION >= 21200
#define EXTRACT_XML_ERROR	const xmlError
#else
#define EXTRACT_XML_ERROR	xmlError
#endif

struct extract_field {
	char	*name;
	char	*xpath;
	int	 all;
};

struct extract {
	struct extract_field	*fields;
	size_t			 nfields;
};

struct extract_doc {
	xmlDocPtr	 tree;
	int		 is_xml;
};

/* What is left to spend in one extract_run. */
struct extract_budget {
	size_t		 output;	/* bytes of values */
	unsigned long	 ops;		/* libxml2 XPath operations */
	unsigned long	 visits;	/* nodes walked for string values */
};

static pthread_once_t extract_once = PTHREAD_ONCE_INIT;

static void
extract_generic_cb(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

static void
extract_structured_cb(void *ctx, EXTRACT_XML_ERROR *error)
{
	(void)ctx;
	(void)error;
}

/* Nothing is ever loaded on a document's behalf: DTDs, external entities. */
static xmlParserInputPtr
extract_no_loader_cb(const char *url, const char *id, xmlParserCtxtPtr ctxt)
{
	(void)url;
	(void)id;
	(void)ctxt;
	return NULL;
}

/*
 * Every entity a document declares is declared empty instead: nothing is
 * loaded (XXE), nothing expands however the declarations nest (billion
 * laughs), and the references stay well-formed. Dropping the declarations
 * would make each reference an error, after which libxml2's recovery
 * drops even &amp; and &lt; for the rest of the document.
 */
static void
extract_entity_decl_cb(void *ctx, const xmlChar *name, int type,
    const xmlChar *public_id, const xmlChar *system_id, xmlChar *content)
{
	static xmlChar empty[] = "";

	(void)public_id;
	(void)system_id;
	(void)content;
	if (type == XML_INTERNAL_PARAMETER_ENTITY ||
	    type == XML_EXTERNAL_PARAMETER_ENTITY)
		type = XML_INTERNAL_PARAMETER_ENTITY;
	else
		type = XML_INTERNAL_GENERAL_ENTITY;
	xmlSAX2EntityDecl(ctx, name, type, NULL, NULL, empty);
}

static void
extract_init_once(void)
{
	xmlInitParser();
	/* Threads libxml2 has not seen yet start with these handlers. */
	xmlThrDefSetGenericErrorFunc(NULL, extract_generic_cb);
	xmlThrDefSetStructuredErrorFunc(NULL, extract_structured_cb);
	xmlSetExternalEntityLoader(extract_no_loader_cb);
}

void
extract_global_init(void)
{
	pthread_once(&extract_once, extract_init_once);
	/* Per thread in a threaded libxml2: set on every call, so a worker
	 * that libxml2 met before the defaults were set is silent too. */
	xmlSetGenericErrorFunc(NULL, extract_generic_cb);
	xmlSetStructuredErrorFunc(NULL, extract_structured_cb);
}

void
extract_free(struct extract *x)
{
	size_t i;

	if (x == NULL)
		return;
	for (i = 0; i < x->nfields; i++) {
		free(x->fields[i].name);
		free(x->fields[i].xpath);
	}
	free(x->fields);
	free(x);
}

/* A field name: 1 to EXTRACT_MAX_NAME bytes, no control characters. */
static int
extract_name_ok(const char *name)
{
	size_t len = strlen(name), i;

	if (len < 1 || len > EXTRACT_MAX_NAME)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return 0;
	return 1;
}

/* Validates one field's value and appends it to x. */
static int
extract_add(struct extract *x, const char *name, json_t *value, char **cause)
{
	struct extract_field *f = &x->fields[x->nfields];
	xmlXPathContextPtr ctx = NULL;
	xmlXPathCompExprPtr comp = NULL;
	json_t *xv = value, *av, *v;
	const char *key, *xpath;
	size_t len, i;
	int all = 0;

	for (i = 0; i < x->nfields; i++) {
		if (strcmp(x->fields[i].name, name) == 0) {
			*cause = util_asprintf("field \"extract.%s\" is given "
			    "twice", name);
			goto fail;
		}
	}
	if (json_is_object(value)) {
		json_object_foreach(value, key, v) {
			if (strcmp(key, "xpath") != 0 &&
			    strcmp(key, "all") != 0) {
				*cause = util_asprintf("field \"extract.%s\" "
				    "accepts only \"xpath\" and \"all\"", name);
				goto fail;
			}
		}
		if ((av = json_object_get(value, "all")) != NULL) {
			if (!json_is_boolean(av)) {
				*cause = util_asprintf("field \"extract.%s\": "
				    "\"all\" must be true or false", name);
				goto fail;
			}
			all = json_is_true(av);
		}
		if ((xv = json_object_get(value, "xpath")) == NULL) {
			*cause = util_asprintf("field \"extract.%s\": "
			    "\"xpath\" is required", name);
			goto fail;
		}
	} else if (!json_is_string(value)) {
		*cause = util_asprintf("field \"extract.%s\" must be an XPath "
		    "string or {\"xpath\": ..., \"all\": ...}", name);
		goto fail;
	}
	if (!json_is_string(xv)) {
		*cause = util_asprintf("field \"extract.%s\": \"xpath\" must "
		    "be a string", name);
		goto fail;
	}
	xpath = json_string_value(xv);
	len = json_string_length(xv);
	if (len < 1 || len > EXTRACT_MAX_XPATH || strlen(xpath) != len) {
		*cause = util_asprintf("field \"extract.%s\": the XPath "
		    "expression must be 1 to %d bytes", name,
		    EXTRACT_MAX_XPATH);
		goto fail;
	}
	/* With a context, libxml2 bounds the nesting it compiles. */
	if ((ctx = xmlXPathNewContext(NULL)) == NULL) {
		*cause = util_asprintf("out of memory");
		goto fail;
	}
	if ((comp = xmlXPathCtxtCompile(ctx, (const xmlChar *)xpath)) ==
	    NULL) {
		*cause = util_asprintf("field \"extract.%s\": invalid XPath "
		    "expression \"%s\"", name, xpath);
		goto fail;
	}
	if ((f->name = strdup(name)) == NULL ||
	    (f->xpath = strdup(xpath)) == NULL) {
		free(f->name);
		f->name = NULL;
		*cause = util_asprintf("out of memory");
		goto fail;
	}
	f->all = all;
	x->nfields++;
	xmlXPathFreeCompExpr(comp);
	xmlXPathFreeContext(ctx);
	return 0;
fail:
	xmlXPathFreeCompExpr(comp);
	xmlXPathFreeContext(ctx);
	return -1;
}

struct extract *
extract_compile(json_t *spec, char **cause)
{
	struct extract *x = NULL;
	const char *name;
	json_t *value;
	size_t n;

	*cause = NULL;
	extract_global_init();
	if (!json_is_object(spec)) {
		*cause = util_asprintf("field \"extract\" must be an object of "
		    "field names and XPath expressions");
		goto fail;
	}
	if ((n = json_object_size(spec)) > EXTRACT_MAX_FIELDS) {
		*cause = util_asprintf("field \"extract\": at most %d fields",
		    EXTRACT_MAX_FIELDS);
		goto fail;
	}
	if ((x = calloc(1, sizeof(*x))) == NULL ||
	    (x->fields = calloc(n > 0 ? n : 1, sizeof(*x->fields))) == NULL) {
		*cause = util_asprintf("out of memory");
		goto fail;
	}
	json_object_foreach(spec, name, value) {
		if (!extract_name_ok(name)) {
			*cause = util_asprintf("field \"extract\": names must "
			    "be 1 to %d bytes without control characters",
			    EXTRACT_MAX_NAME);
			goto fail;
		}
		if (extract_add(x, name, value, cause) != 0)
			goto fail;
	}
	return x;
fail:
	extract_free(x);
	if (*cause == NULL)
		*cause = util_asprintf("out of memory");
	return NULL;
}

json_t *
extract_to_json(const struct extract *x)
{
	json_t *spec, *field;
	size_t i;

	if ((spec = json_object()) == NULL)
		return NULL;
	for (i = 0; i < x->nfields; i++) {
		field = json_pack("{s:s, s:b}", "xpath", x->fields[i].xpath,
		    "all", x->fields[i].all);
		if (field == NULL ||
		    json_object_set_new(spec, x->fields[i].name, field) != 0) {
			json_decref(spec);
			return NULL;
		}
	}
	return spec;
}

/*
 * Whether the media type of a Content-Type value is XML: text/xml,
 * application/xml, or a "+xml" type but application/xhtml+xml, which the
 * HTML parser reads so that expressions need no XHTML namespace prefix.
 */
static int
extract_type_is_xml(const char *ct)
{
	static const char xhtml[] = "application/xhtml+xml";
	const char *slash, *sub;
	size_t n, sublen;

	if (ct == NULL)
		return 0;
	ct += strspn(ct, " \t");
	n = strcspn(ct, "; \t");
	if ((slash = memchr(ct, '/', n)) == NULL)
		return 0;
	if (n == sizeof(xhtml) - 1 && strncasecmp(ct, xhtml, n) == 0)
		return 0;
	sub = slash + 1;
	sublen = n - (size_t)(sub - ct);
	return (sublen == 3 && strncasecmp(sub, "xml", 3) == 0) ||
	    (sublen > 4 && strncasecmp(sub + sublen - 4, "+xml", 4) == 0);
}

/* The charset parameter of a Content-Type value, NULL when there is none
 * (libxml2 ignores a name it has no decoder for). */
static const char *
extract_charset(const char *ct, char *buf, size_t size)
{
	const char *p, *v;
	size_t n;

	if (ct == NULL)
		return NULL;
	for (p = strchr(ct, ';'); p != NULL; p = strchr(p + 1, ';')) {
		v = p + 1 + strspn(p + 1, " \t");
		if (strncasecmp(v, "charset=", 8) != 0)
			continue;
		v += 8;
		if (*v == '"')
			v++;
		n = strcspn(v, "\"; \t");
		if (n == 0 || n >= size)
			return NULL;
		memcpy(buf, v, n);
		buf[n] = '\0';
		return buf;
	}
	return NULL;
}

struct extract_doc *
extract_doc_parse(const char *body, size_t len, const char *content_type,
    const char *url)
{
	struct extract_doc *doc = NULL;
	xmlParserCtxtPtr ctxt = NULL;
	xmlDocPtr tree = NULL;
	const char *enc;
	char charset[64];
	int is_xml;

	extract_global_init();
	if (body == NULL || len == 0 || len > EXTRACT_MAX_BODY)
		return NULL;
	enc = extract_charset(content_type, charset, sizeof(charset));
	if ((is_xml = extract_type_is_xml(content_type))) {
		/* Without XML_PARSE_NOENT, DTDLOAD or DTDATTR nothing external
		 * is read; NONET and the refusing loader are the belt and
		 * braces; HUGE stays off so libxml2's size limits hold. */
		if ((ctxt = xmlNewParserCtxt()) == NULL)
			goto out;
		ctxt->sax->entityDecl = extract_entity_decl_cb;
		tree = xmlCtxtReadMemory(ctxt, body, (int)len, url, enc,
		    XML_PARSE_NONET | XML_PARSE_RECOVER | XML_PARSE_NOERROR |
		    XML_PARSE_NOWARNING | XML_PARSE_COMPACT);
	} else
		tree = htmlReadMemory(body, (int)len, url, enc,
		    HTML_PARSE_RECOVER | HTML_PARSE_NOERROR |
		    HTML_PARSE_NOWARNING | HTML_PARSE_NONET |
		    HTML_PARSE_COMPACT);
	if (tree == NULL || xmlDocGetRootElement(tree) == NULL)
		goto out;
	if ((doc = calloc(1, sizeof(*doc))) == NULL)
		goto out;
	doc->tree = tree;
	doc->is_xml = is_xml;
	tree = NULL;
out:
	if (tree != NULL)
		xmlFreeDoc(tree);
	if (ctxt != NULL)
		xmlFreeParserCtxt(ctxt);
	return doc;
}

int
extract_doc_is_xml(const struct extract_doc *doc)
{
	return doc->is_xml;
}

struct _xmlDoc *
extract_doc_tree(struct extract_doc *doc)
{
	return doc->tree;
}

void
extract_doc_free(struct extract_doc *doc)
{
	if (doc == NULL)
		return;
	xmlFreeDoc(doc->tree);
	free(doc);
}

/*
 * The length of the well-formed UTF-8 sequence at s (Unicode table 3-7: no
 * overlong forms, no surrogates, nothing past U+10FFFF), 0 when none.
 */
static size_t
extract_utf8_len(const unsigned char *s, size_t len)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/*
 * Copies s into out as valid UTF-8 of at most max bytes, stopping before
 * a character that does not fit; a byte that starts no well-formed
 * sequence becomes U+FFFD. Done by hand because jansson refuses invalid
 * UTF-8 without repairing it, libxml2 passes the bytes of a page whose
 * charset lies through as they are, and its xmlGetUTF8Char accepts
 * overlong forms and surrogates that jansson would refuse.
 */
static size_t
extract_utf8_clean(const unsigned char *s, size_t len, char *out, size_t max)
{
	size_t i = 0, o = 0, n;

	while (i < len) {
		if ((n = extract_utf8_len(s + i, len - i)) == 0) {
			if (o + 3 > max)
				break;
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
			continue;
		}
		if (o + n > max)
			break;
		memcpy(out + o, s + i, n);
		o += n;
		i += n;
	}
	return o;
}

/* A JSON string of s, cleaned and cut to what one value and the run's
 * output budget allow. NULL on ENOMEM. */
static json_t *
extract_string(struct extract_budget *b, const char *s, size_t len)
{
	size_t max = b->output < EXTRACT_MAX_VALUE ? b->output :
	    EXTRACT_MAX_VALUE, n;
	json_t *v;
	char *out;

	/* Each input byte gives at most 3 output bytes (U+FFFD). */
	if (len < max / 3)
		max = len * 3;
	if ((out = malloc(max + 1)) == NULL)
		return NULL;
	n = extract_utf8_clean((const unsigned char *)s, len, out, max);
	b->output -= n;
	v = json_stringn(out, n);
	free(out);
	return v;
}

/* Appends at most what fits under max to a growing buffer. */
static int
extract_append(char **buf, size_t *len, size_t *cap, size_t max,
    const char *s)
{
	size_t n = strlen(s), want;
	char *p;

	if (n > max - *len)
		n = max - *len;
	if (*len + n > *cap) {
		want = *cap == 0 ? 256 : *cap;
		while (want < *len + n)
			want *= 2;
		if (want > max)
			want = max;
		if ((p = realloc(*buf, want)) == NULL)
			return -1;
		*buf = p;
		*cap = want;
	}
	memcpy(*buf + *len, s, n);
	*len += n;
	return 0;
}

/*
 * The XPath string value of an element or document: its descendant text in
 * document order. Walked here rather than by xmlXPathCastNodeToString,
 * which copies the whole subtree of every node: an "all" over every
 * element of a deeply nested page would copy the page once per element.
 * The walk stops when the value is full or the run's visits are spent, and
 * does not enter entity references.
 */
static json_t *
extract_text_value(xmlNodePtr top, struct extract_budget *b)
{
	size_t max, len = 0, cap = 0;
	xmlNodePtr cur = top->children;
	char *buf = NULL;
	json_t *v;

	max = b->output < EXTRACT_MAX_VALUE ? b->output : EXTRACT_MAX_VALUE;
	max += 3;	/* so that the last character that fits is whole */
	while (cur != NULL && len < max && b->visits > 0) {
		b->visits--;
		if ((cur->type == XML_TEXT_NODE ||
		    cur->type == XML_CDATA_SECTION_NODE) &&
		    cur->content != NULL && extract_append(&buf, &len, &cap,
		    max, (const char *)cur->content) != 0) {
			free(buf);
			return NULL;
		}
		if (cur->type == XML_ELEMENT_NODE && cur->children != NULL) {
			cur = cur->children;
			continue;
		}
		while (cur != top && cur->next == NULL)
			cur = cur->parent;
		cur = cur == top ? NULL : cur->next;
	}
	v = extract_string(b, buf != NULL ? buf : "", len);
	free(buf);
	return v;
}

/* The string value of one node of a node-set. */
static json_t *
extract_node_value(xmlNodePtr node, struct extract_budget *b)
{
	xmlChar *s;
	json_t *v;

	switch (node->type) {
	case XML_ELEMENT_NODE:
	case XML_DOCUMENT_NODE:
	case XML_HTML_DOCUMENT_NODE:
	case XML_DOCUMENT_FRAG_NODE:
		return extract_text_value(node, b);
	default:
		/* Attributes, text, comments, namespaces: one node's own. */
		if ((s = xmlXPathCastNodeToString(node)) == NULL)
			return NULL;
		v = extract_string(b, (const char *)s, strlen((char *)s));
		xmlFree(s);
		return v;
	}
}

static json_t *
extract_nodeset(xmlNodeSetPtr set, int all, struct extract_budget *b)
{
	json_t *array, *v;
	int i;

	if (set == NULL || set->nodeNr == 0)
		return json_null();
	/* libxml2 sorts the result of an evaluation in document order. */
	if (!all)
		return extract_node_value(set->nodeTab[0], b);
	if ((array = json_array()) == NULL)
		return NULL;
	for (i = 0; i < set->nodeNr && i < EXTRACT_MAX_ALL; i++) {
		if (i > 0 && b->output == 0)
			break;
		if ((v = extract_node_value(set->nodeTab[i], b)) == NULL ||
		    json_array_append_new(array, v) != 0) {
			json_decref(array);
			return NULL;
		}
	}
	return array;
}

/* count(//a) is 3, not 3.0; JSON has no NaN or infinities. */
static json_t *
extract_number(double d)
{
	if (isnan(d) || isinf(d))
		return json_null();
	if (d == floor(d) && fabs(d) <= 9007199254740992.0)
		return json_integer((json_int_t)d);
	return json_real(d);
}

/* One field's value: a new reference, json null when the expression fails
 * at evaluation, NULL on ENOMEM. */
static json_t *
extract_eval(xmlXPathContextPtr ctx, const struct extract_field *f,
    struct extract_budget *b)
{
	xmlXPathCompExprPtr comp;
	xmlXPathObjectPtr obj;
	json_t *v;

	/*
	 * Compiled again on every run: libxml2's evaluator caches function
	 * lookups in the compiled steps (op->cache), so a compiled
	 * expression is written to while it runs and cannot be shared by
	 * threads. Compiling is cheap next to parsing the page; the spec was
	 * checked in extract_compile, so this fails only on ENOMEM.
	 */
	if (b->ops == 0 ||
	    (comp = xmlXPathCtxtCompile(ctx, (const xmlChar *)f->xpath)) ==
	    NULL)
		return json_null();
	ctx->node = (xmlNodePtr)ctx->doc;
	ctx->opLimit = b->ops;
	ctx->opCount = 0;
	obj = xmlXPathCompiledEval(comp, ctx);
	b->ops = ctx->opCount >= b->ops ? 0 : b->ops - ctx->opCount;
	xmlXPathFreeCompExpr(comp);
	if (obj == NULL)
		return json_null();
	switch (obj->type) {
	case XPATH_NODESET:
		v = extract_nodeset(obj->nodesetval, f->all, b);
		break;
	case XPATH_BOOLEAN:
		v = json_boolean(obj->boolval);
		break;
	case XPATH_NUMBER:
		v = extract_number(obj->floatval);
		break;
	case XPATH_STRING:
		v = extract_string(b, (const char *)obj->stringval,
		    strlen((const char *)obj->stringval));
		break;
	default:
		v = json_null();
		break;
	}
	xmlXPathFreeObject(obj);
	return v;
}

json_t *
extract_run(const struct extract *x, struct extract_doc *doc)
{
	struct extract_budget b = { EXTRACT_MAX_OUTPUT, EXTRACT_MAX_OPS,
	    EXTRACT_MAX_VISITS };
	xmlXPathContextPtr ctx = NULL;
	xmlNodePtr root;
	xmlNsPtr ns;
	json_t *out, *v;
	size_t i;

	extract_global_init();
	if ((out = json_object()) == NULL)
		return NULL;
	if (doc != NULL) {
		if ((ctx = xmlXPathNewContext(doc->tree)) == NULL)
			goto fail;
		/* XPath 1.0 has no default namespace: the root's prefixes
		 * are the ones a user of an XML feed can know. */
		root = xmlDocGetRootElement(doc->tree);
		for (ns = root != NULL && doc->is_xml ? root->nsDef : NULL;
		    ns != NULL; ns = ns->next)
			if (ns->prefix != NULL && ns->href != NULL)
				(void)xmlXPathRegisterNs(ctx, ns->prefix,
				    ns->href);
	}
	for (i = 0; i < x->nfields; i++) {
		v = ctx != NULL ? extract_eval(ctx, &x->fields[i], &b) :
		    json_null();
		if (v == NULL ||
		    json_object_set_new(out, x->fields[i].name, v) != 0)
			goto fail;
	}
	xmlXPathFreeContext(ctx);
	return out;
fail:
	xmlXPathFreeContext(ctx);
	json_decref(out);
	return NULL;
}
