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

#include <jansson.h>

struct conf;
struct store_job;
struct store_row;

/*
 * A job: id, state, total, counts, options, timestamps, and "warnings"
 * when it runs with something unsafe (tls_verify off, its own or, with c,
 * the configuration's). NULL on ENOMEM.
 */
json_t	*doc_job(const struct store_job *j, const struct conf *c);
/*
 * One results row; the keys are the column names. With with_body the body
 * is "body" (text) or "body_base64" (not UTF-8); headers when the row has
 * them. NULL on ENOMEM.
 */
json_t	*doc_result(const struct store_row *r, int with_body);
/* {"error": {"code": ..., "message": ...}}; NULL on ENOMEM. */
json_t	*doc_error(const char *code, const char *message);
/* Base64 (RFC 4648) of len bytes; NULL on ENOMEM. */
char	*doc_base64(const unsigned char *p, size_t len);

#endif
