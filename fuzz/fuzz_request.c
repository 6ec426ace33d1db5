/*
 * libFuzzer target: the job-request parser (JSON and text/plain bodies,
 * option validation, URL validation and canonicalisation with curl_url).
 * The first byte picks the Content-Type; the rest is the body.
 */
#include "config.h"

#include <locale.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "api/api.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* As harvestd does: international host names need a UTF-8 LC_CTYPE. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setlocale(LC_CTYPE, "C.UTF-8");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const types[] = { "application/json",
	    "text/plain", NULL, "application/x-www-form-urlencoded" };
	static const struct api_limits lim = { 10000, 8192 };
	struct api_request req;
	const char *code = NULL;
	char *cause = NULL;

	if (size == 0)
		return 0;
	if (api_request_parse((const char *)data + 1, size - 1,
	    types[data[0] % 4], &lim, &req, &code, &cause) == 0)
		api_request_clear(&req);
	else
		free(cause);
	return 0;
}
