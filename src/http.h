/*
 * http: one request in, one response out, over FastCGI or plain CGI.
 *
 * The same binary serves both: app.c accepts with FCGX_Accept_r when started
 * as FastCGI and fills a struct http_req from the FastCGI streams, or, when
 * FCGX_IsCGI(), from environ/stdin/stdout for exactly one request.
 *
 * Parsers never trust the wire: the body size is checked against a cap before
 * reading (413), field counts and lengths are capped, percent-escapes are
 * validated, and a decoded NUL is refused.
 *
 * Each protocol renders its errors in exactly one place:
 *   http_error_html()   HTML error page (browser-facing endpoints)
 *   http_error_oauth()  RFC 6749 §5.2 JSON error
 *   http_error_store()  503 + Retry-After for STORE_BUSY, 500 otherwise
 *   (JSON-RPC errors live in jsonrpc.c)
 */
#ifndef MCPGATE_HTTP_H
#define MCPGATE_HTTP_H

#include <stddef.h>

#include "buf.h"

struct FCGX_Stream;

#define HTTP_FIELDS_MAX 64     /* form/query/cookie fields per request */
#define HTTP_HEADERS_MAX 32    /* response headers */
#define HTTP_HEADER_LEN 2048   /* one response header line */

enum http_err {
	HTTP_OK = 0,
	HTTP_E_MALFORMED = -1, /* bad escape, decoded NUL, syntax: 400 */
	HTTP_E_TOO_MANY = -2,  /* more than the allowed number of fields: 400 */
	HTTP_E_TOO_LARGE = -3, /* body over the cap: 413 */
	HTTP_E_IO = -4,        /* short read, client went away */
	HTTP_E_NOMEM = -5
};

/* One parsed name=value pair (both percent-decoded, NUL-terminated). */
struct http_kv {
	char *name;
	char *value;
	size_t valuelen;
};

/* Parsed fields; owns its memory.  Order is the wire order. */
struct http_form {
	size_t n;
	struct http_kv kv[HTTP_FIELDS_MAX];
};

struct http_req {
	/* From the environment (pointers into envp; never NULL, "" when unset). */
	const char *method;       /* REQUEST_METHOD */
	const char *uri;          /* REQUEST_URI as sent (path + query) */
	const char *query;        /* QUERY_STRING */
	const char *content_type; /* CONTENT_TYPE */
	const char *remote_addr;  /* REMOTE_ADDR */
	char path[1024];          /* REQUEST_URI up to '?', not decoded; "" if too long */
	/* Body, after http_read_body (NUL-terminated; NULL before). */
	char *body;
	size_t bodylen;
	char id[17];              /* request id for logs: 16 hex chars */
	/* I/O: FastCGI streams, or NULL for CGI (stdin/stdout). */
	char **envp;
	struct FCGX_Stream *in;
	struct FCGX_Stream *out;
	int headers_sent;
};

struct http_resp {
	int status;
	size_t nhdr;
	char hdr[HTTP_HEADERS_MAX][HTTP_HEADER_LEN];
	struct buf body;
};

/* Fill req's environment fields and a fresh request id.  envp/in/out may be
 * NULL for CGI (environ, stdin, stdout). */
void http_req_init(struct http_req *req, char **envp, struct FCGX_Stream *in,
		   struct FCGX_Stream *out);
/* Free the body and anything else req owns. */
void http_req_free(struct http_req *req);
/* CGI/FastCGI variable by name ("" if absent, never NULL). */
const char *http_getenv(const struct http_req *req, const char *name);
/* Request header by HTTP name, e.g. "Authorization" -> HTTP_AUTHORIZATION; NULL if absent.
 * (Content-Type and Content-Length come from their CGI variables.) */
const char *http_header(const struct http_req *req, const char *name);
/* Read the body when CONTENT_LENGTH <= max (checked before reading anything).
 * HTTP_E_TOO_LARGE when larger; HTTP_E_IO on a short read; HTTP_E_MALFORMED
 * when CONTENT_LENGTH is not all digits; absent or empty means no body.  On
 * success req->body is set (wiped by http_req_free); a second call keeps it. */
int http_read_body(struct http_req *req, size_t max);
/* 1 when the media type of CONTENT_TYPE equals type (case-insensitive, parameters ignored). */
int http_content_type_is(const struct http_req *req, const char *type);

/* Parse application/x-www-form-urlencoded text (a query string or form body).
 * Fails with HTTP_E_TOO_MANY past maxfields (<= HTTP_FIELDS_MAX; 0 or more means
 * HTTP_FIELDS_MAX), HTTP_E_MALFORMED on a bad escape or a raw or decoded NUL.
 * A pair without '=' has value "", "=v" has name "", empty pairs are skipped.
 * out must be freed with http_form_free even on error. */
int http_form_parse(const char *s, size_t len, size_t maxfields, struct http_form *out);
/* Wipe and free every field; accepts NULL and a form freed before. */
void http_form_free(struct http_form *f);
/* First value of name, or NULL; *count (may be NULL) gets the number of occurrences. */
const char *http_form_get(const struct http_form *f, const char *name, size_t *count);
/* Parse the Cookie header into out (names and values not percent-decoded,
 * whitespace trimmed, pairs without '=' or name skipped).  HTTP_E_TOO_MANY past
 * HTTP_FIELDS_MAX cookies, with out holding the first ones.  Free with
 * http_form_free. */
int http_cookies_parse(const struct http_req *req, struct http_form *out);

/* Response building.  http_resp_init sets status 200 and the default headers
 * are added by http_send: X-Content-Type-Options: nosniff, and
 * Cache-Control: no-store unless the handler set its own Cache-Control. */
void http_resp_init(struct http_resp *resp);
void http_resp_free(struct http_resp *resp);
/* Add a header; refuses (returns -1) names that are not RFC 9110 tokens,
 * values with CR, LF, NUL or other controls but tab, a line over
 * HTTP_HEADER_LEN, more than HTTP_HEADERS_MAX headers, and the names Status
 * and Content-Length (http_send writes those). */
int http_resp_header(struct http_resp *resp, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Send status line, headers (with Content-Length) and body; once only.
 * No body (and no Content-Length) for 1xx/204/304; no body for HEAD.  A body
 * that overflowed its cap is replaced by a 500 page.  0, or -1 on a write error. */
int http_send(struct http_req *req, struct http_resp *resp);
/* Streaming (SSE): send status and headers now (no Content-Length), then write
 * and flush chunks.  Returns -1 once the client has gone away. */
int http_send_headers(struct http_req *req, struct http_resp *resp);
int http_write(struct http_req *req, const void *p, size_t n);
int http_flush(struct http_req *req);

/* For programs that do their own I/O (sse's event loop): append to out
 * exactly what http_send / http_send_headers would write, and mark the
 * headers sent.  0, or -1 when out is full or headers were sent. */
int http_render(struct http_req *req, struct http_resp *resp, struct buf *out);
int http_render_headers(struct http_req *req, struct http_resp *resp, struct buf *out);

/* Standard reason phrase for a status code. */
const char *http_reason(int status);

/* Error renderers (the only places these formats are produced).  Each resets
 * the response body and headers (anything the handler set is dropped) and
 * sets status and headers; the caller then http_send()s.  title (NULL: the
 * reason phrase) and detail (may be NULL) are plain text, escaped here. */
void http_error_html(struct http_resp *resp, int status, const char *title, const char *detail);
void http_error_oauth(struct http_resp *resp, int status, const char *error,
		      const char *description);
void http_error_store(struct http_resp *resp, int store_status, int html);
/* 405 with Allow: allow. */
void http_error_method(struct http_resp *resp, const char *allow, int html);

#endif
