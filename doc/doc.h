/*
 * doc: the JSON documents harvestd shows the world: a job as GET
 * /v1/jobs/{id} answers it (and completion callbacks POST it), a result
 * row as the results export gives it, and the error document. It sits
 * below api/ and notify/, which both speak these documents, and above
 * store/, whose rows it dresses.
 */
#ifndef HARVESTD_DOC_H
#define HARVESTD_DOC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct conf;
struct store_job;
struct store_row;

/* How every document is dumped: compact, ASCII only, reals to 10 digits. */
#define DOC_JSON_FLAGS \
	(JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(10))

/*
 * A job: id, state, total, counts, options (credentials redacted: see
 * job_opts_redact), timestamps, and "warnings" when it runs with
 * something unsafe (tls_verify off, its own or, with c, the
 * configuration's). NULL on ENOMEM.
 */
json_t	*doc_job(const struct store_job *j, const struct conf *c);
/*
 * One results row; the keys are the column names. With with_body the body
 * is "body" (text) or "body_base64" (not UTF-8); headers when the row has
 * them. url and final_url are shown redacted (job_redact_url). NULL on
 * ENOMEM.
 */
json_t	*doc_result(const struct store_row *r, int with_body);

/*
 * A results line streamed instead of built, for bodies too big to hold
 * (max_body_bytes each, and six times that as JSON). Its bytes are those
 * of doc_result(r, 1) dumped with DOC_JSON_FLAGS, in parts:
 *
 *	doc_result_head(r)			the row without its body and
 *						without the closing brace
 *	DOC_BODY_TEXT or DOC_BODY_BASE64	the body's key, opening quote
 *	doc_body_text() or doc_body_base64()	the string, piece by piece
 *	DOC_RESULT_TAIL				closing quote and brace
 *
 * Text or base64 is doc_utf8_*'s verdict over the whole body, fed in
 * pieces; an empty or absent body is no streaming matter (doc_result).
 */
#define DOC_BODY_TEXT		",\"body\":\""
#define DOC_BODY_BASE64		",\"body_base64\":\""
#define DOC_RESULT_TAIL		"\"}"
/* Allocated; NULL on ENOMEM. */
char	*doc_result_head(const struct store_row *r);

struct doc_utf8 {
	uint32_t	cp;	/* the character being read */
	uint32_t	min;	/* its least value (no overlong forms) */
	unsigned	need;	/* continuation bytes still to come */
	int		bad;
};
void	 doc_utf8_init(struct doc_utf8 *u);
/* The next len bytes; -1 once the body cannot be text. */
int	 doc_utf8_feed(struct doc_utf8 *u, const unsigned char *p,
	    size_t len);
/* 0 when everything fed is text: valid UTF-8 without NUL. */
int	 doc_utf8_end(const struct doc_utf8 *u);

/*
 * The JSON escaping of text (doc_utf8 said so) into out, whole characters
 * while they fit in outlen. *used gets the input consumed: it stops short
 * of a character cut by the end of in, which comes again with the next
 * piece. Returns the bytes written, or -1 when in is not UTF-8 after all.
 */
int64_t	 doc_body_text(char *out, size_t outlen, const unsigned char *in,
	    size_t inlen, size_t *used);
/*
 * Base64 of in into out, whole groups of three bytes while they fit;
 * with last (in ends the body), the padded rest too. *used gets the
 * input consumed. Returns the bytes written.
 */
size_t	 doc_body_base64(char *out, size_t outlen, const unsigned char *in,
	    size_t inlen, int last, size_t *used);
/* {"error": {"code": ..., "message": ...}}; NULL on ENOMEM. */
json_t	*doc_error(const char *code, const char *message);
/* Base64 (RFC 4648) of len bytes; NULL on ENOMEM. */
char	*doc_base64(const unsigned char *p, size_t len);

#endif
