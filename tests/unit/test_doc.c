/*
 * Unit tests for doc/: a streamed results line is byte for byte the line
 * doc_result makes (what the export sent before it streamed), whatever
 * the body and however it is cut into pieces; credentials are redacted
 * in job and result documents.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "doc/doc.h"
#include "store/store.h"

struct text {
	char	*p;
	size_t	 len;
};

static void
text_add(struct text *t, const char *p, size_t len)
{
	t->p = realloc(t->p, t->len + len + 1);
	assert_non_null(t->p);
	memcpy(t->p + t->len, p, len);
	t->len += len;
	t->p[t->len] = '\0';
}

/* A deterministic generator, so a failure can be replayed. */
static uint32_t
rnd(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

static void
row_init(struct store_row *r, const unsigned char *body, size_t len,
    int with_headers)
{
	memset(r, 0, sizeof(*r));
	r->id = 42;
	r->task_id = 7;
	r->job_id = 3;
	r->url = "http://example.com/a?b=c";
	r->final_url = "http://example.com/a?b=c";
	r->status = 200;
	r->content_type = "text/html; charset=\"utf-8\"";
	r->headers = with_headers ? "HTTP/1.1 200 OK\r\nX-A: \"\\\xc3\xa9\r\n\r\n" :
	    NULL;
	r->body = body;
	r->body_len = len;
	r->body_size = (int64_t)len;
	r->content_length = -1;
	r->time_dns_ms = 0.123456789012;
	r->time_total_ms = 15.5;
	r->attempts = 1;
	r->fetched_at = "2026-11-25T00:23:21.277Z";
	r->error_message = "a \x01 \"message\"";
}

/* The line as the export made it before it streamed: one document. */
static char *
reference(const struct store_row *r)
{
	json_t *doc = doc_result(r, 1);
	char *line;

	assert_non_null(doc);
	line = json_dumps(doc, DOC_JSON_FLAGS);
	json_decref(doc);
	assert_non_null(line);
	return line;
}

/*
 * The line as the export streams it: the verdict over pieces, then the
 * head, the key, the body read in pieces of random sizes and encoded
 * into buffers of random sizes (carrying what a read cut), the tail.
 */
static char *
streamed(const struct store_row *r, uint32_t seed)
{
	const unsigned char *body = r->body;
	struct doc_utf8 u;
	struct text t = { NULL, 0 };
	size_t len = r->body_len, off, n, rd = 0, cons = 0, used, outlen;
	char *head, out[512];
	int64_t w;
	int text, last, steps;

	doc_utf8_init(&u);
	for (off = 0; off < len; off += n) {
		n = 1 + rnd(&seed) % 300;
		if (n > len - off)
			n = len - off;
		doc_utf8_feed(&u, body + off, n);
	}
	text = doc_utf8_end(&u) == 0;
	head = doc_result_head(r);
	assert_non_null(head);
	text_add(&t, head, strlen(head));
	free(head);
	if (text)
		text_add(&t, DOC_BODY_TEXT, strlen(DOC_BODY_TEXT));
	else
		text_add(&t, DOC_BODY_BASE64, strlen(DOC_BODY_BASE64));
	for (steps = 0; steps < 10000000; steps++) {
		last = rd == len;
		if (cons == rd && last)
			break;
		outlen = rnd(&seed) % 4 == 0 ? sizeof(out) :
		    12 + rnd(&seed) % 40;
		if (cons < rd) {
			if (text)
				w = doc_body_text(out, outlen, body + cons,
				    rd - cons, &used);
			else
				w = (int64_t)doc_body_base64(out, outlen,
				    body + cons, rd - cons, last, &used);
			assert_true(w >= 0);
			cons += used;
			if (w > 0) {
				text_add(&t, out, (size_t)w);
				continue;
			}
			assert_false(last);
		}
		n = 1 + rnd(&seed) % 700;
		rd += n > len - rd ? len - rd : n;
	}
	text_add(&t, DOC_RESULT_TAIL, strlen(DOC_RESULT_TAIL));
	return t.p;
}

static void
same_line(const unsigned char *body, size_t len, uint32_t seed)
{
	struct store_row r;
	char *want, *got;

	row_init(&r, body, len, seed % 2);
	want = reference(&r);
	got = streamed(&r, seed);
	if (strcmp(want, got) != 0)
		fail_msg("seed %u, %zu bytes:\nwant %.300s\ngot  %.300s",
		    (unsigned)seed, len, want, got);
	free(want);
	free(got);
}

/* Appends code point cp as UTF-8. */
static size_t
put_utf8(unsigned char *p, uint32_t cp)
{
	if (cp < 0x80) {
		p[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		p[0] = (unsigned char)(0xc0 | cp >> 6);
		p[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		p[0] = (unsigned char)(0xe0 | cp >> 12);
		p[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		p[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	p[0] = (unsigned char)(0xf0 | cp >> 18);
	p[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
	p[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
	p[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

static void
test_text_bodies(void **state)
{
	static const uint32_t edges[] = { 0x01, 0x08, 0x09, 0x0a, 0x0c, 0x0d,
	    0x1f, 0x20, 0x22, 0x2f, 0x5c, 0x7e, 0x7f, 0x80, 0xe9, 0x7ff,
	    0x800, 0x20ac, 0xd7ff, 0xe000, 0xfffd, 0xffff, 0x10000, 0x1f600,
	    0x10ffff };
	unsigned char *b = malloc(400000);
	uint32_t seed, s, cp;
	size_t len, i;

	(void)state;
	assert_non_null(b);
	/* Every edge alone, and all of them in a row. */
	for (i = 0, len = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
		same_line(b + len, put_utf8(b + len, edges[i]), (uint32_t)i);
		len += put_utf8(b + len, edges[i]);
	}
	same_line(b, len, 99);
	/* Every ASCII byte but NUL. */
	for (i = 0; i < 127; i++)
		b[i] = (unsigned char)(i + 1);
	same_line(b, 127, 7);
	/* Random text of every width, short and past the export's pieces. */
	for (seed = 1; seed <= 300; seed++) {
		s = seed;
		len = seed % 50 == 0 ? 300000 : rnd(&s) % 3000;
		for (i = 0; i + 4 <= len; ) {
			switch (rnd(&s) % 5) {
			case 0:
				cp = edges[rnd(&s) % (sizeof(edges) /
				    sizeof(edges[0]))];
				break;
			case 1:
				cp = 0x80 + rnd(&s) % 0x780;
				break;
			case 2:
				cp = 0x800 + rnd(&s) % 0xd000;
				break;
			case 3:
				cp = 0x10000 + rnd(&s) % 0x100000;
				break;
			default:
				cp = 0x20 + rnd(&s) % 0x5f;
			}
			i += put_utf8(b + i, cp);
		}
		same_line(b, i, seed);
	}
	free(b);
}

static void
test_binary_bodies(void **state)
{
	static const char *const bad[] = {
		"a\0b",			/* NUL: never text */
		"\x80", "ab\xbf",	/* a lone continuation byte */
		"\xc0\x80", "\xc1\xbf",	/* overlong */
		"\xe0\x80\x80", "\xe0\x9f\xbf", "\xf0\x80\x80\x80",
		"\xf0\x8f\xbf\xbf",
		"\xed\xa0\x80", "\xed\xbf\xbf",	/* surrogates */
		"\xf4\x90\x80\x80",	/* past U+10FFFF */
		"\xf5\x80\x80\x80", "\xff", "\xfe",
		"\xe2\x82", "ab\xf0\x9f\x98",	/* cut at the end */
		"\xe2\x28\xa1", "\xc3\x28",	/* a broken sequence */
	};
	static const size_t badlen[] = { 3, 1, 3, 2, 2, 3, 3, 4, 4, 3, 3, 4,
	    4, 1, 1, 2, 5, 3, 2 };
	unsigned char *b = malloc(300000);
	uint32_t seed, s;
	size_t len, i;

	(void)state;
	assert_non_null(b);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		same_line((const unsigned char *)bad[i], badlen[i],
		    (uint32_t)i);
		/* A bad sequence after good text, at a piece's edge. */
		memset(b, 'x', 1000);
		memcpy(b + 1000, bad[i], badlen[i]);
		same_line(b, 1000 + badlen[i], (uint32_t)i + 100);
	}
	/* Random bytes: every length mod 3, so every padding. */
	for (seed = 1; seed <= 300; seed++) {
		s = seed;
		len = seed % 50 == 0 ? 250000 + seed % 3 : seed;
		for (i = 0; i < len; i++)
			b[i] = (unsigned char)rnd(&s);
		same_line(b, len, seed);
	}
	free(b);
}

/* What doc_result says about no body, and what base64 always said. */
static void
test_empty_and_base64(void **state)
{
	struct store_row r;
	json_t *doc;
	char *s;

	(void)state;
	row_init(&r, NULL, 0, 0);
	doc = doc_result(&r, 1);
	assert_string_equal(json_string_value(json_object_get(doc, "body")),
	    "");
	json_decref(doc);
	r.status = 0;
	doc = doc_result(&r, 1);
	assert_true(json_is_null(json_object_get(doc, "body")));
	json_decref(doc);
	s = doc_base64((const unsigned char *)"", 0);
	assert_string_equal(s, "");
	free(s);
	s = doc_base64((const unsigned char *)"f", 1);
	assert_string_equal(s, "Zg==");
	free(s);
	s = doc_base64((const unsigned char *)"fo", 2);
	assert_string_equal(s, "Zm8=");
	free(s);
	s = doc_base64((const unsigned char *)"foobar", 6);
	assert_string_equal(s, "Zm9vYmFy");
	free(s);
}

static void
test_redacted(void **state)
{
	struct store_job j;
	struct store_row r;
	json_t *doc, *opts;
	char *text;

	(void)state;
	memset(&j, 0, sizeof(j));
	j.id = 1;
	j.state_code = JOB_DONE;
	j.options = "{\"callback_url\":\"http://carol:cb@h.test/x\","
	    "\"headers\":{\"Authorization\":\"Bearer tok\",\"Cookie\":\"a=b\","
	    "\"X-Other\":\"v\"},\"proxy\":\"http://bob:pw@127.0.0.1:1\"}";
	j.created_at = "2026-11-25T00:00:00.000Z";
	doc = doc_job(&j, NULL);
	assert_non_null(doc);
	opts = json_object_get(doc, "options");
	text = json_dumps(opts, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(text, "{\"callback_url\":\"http://carol:***@h.test"
	    "/x\",\"headers\":{\"Authorization\":\"***\",\"Cookie\":\"***\","
	    "\"X-Other\":\"v\"},\"proxy\":\"http://bob:***@127.0.0.1:1/\"}");
	free(text);
	json_decref(doc);

	/* A result row stored before results were redacted. */
	row_init(&r, NULL, 0, 0);
	r.url = "http://alice:s3cret@example.com/a";
	r.final_url = "http://alice:s3cret@example.com/b";
	doc = doc_result(&r, 0);
	assert_string_equal(json_string_value(json_object_get(doc, "url")),
	    "http://alice:***@example.com/a");
	assert_string_equal(json_string_value(json_object_get(doc,
	    "final_url")), "http://alice:***@example.com/b");
	json_decref(doc);
	r.final_url = NULL;
	doc = doc_result(&r, 0);
	assert_true(json_is_null(json_object_get(doc, "final_url")));
	json_decref(doc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_bodies),
		cmocka_unit_test(test_binary_bodies),
		cmocka_unit_test(test_empty_and_base64),
		cmocka_unit_test(test_redacted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
