/*
 * http: one request in, one response out, over FastCGI or plain CGI.
 * See http.h for the contract.  Nothing here trusts the wire: every length
 * is checked before it is used and every header we emit is checked for
 * CR/LF so a value can never start a second header or the body.
 */
#include "http.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>
#include <json-c/json.h>

#include "crypto.h"
#include "log.h"
#include "store.h"

/* Room for every handler header plus our own defaults and the status line. */
#define HTTP_HEAD_MAX ((size_t)HTTP_HEADERS_MAX * (HTTP_HEADER_LEN + 2) + 512)
/* FCGX_GetStr/FCGX_PutStr take an int count; move data in slices of this. */
#define HTTP_IO_CHUNK (64 * 1024)

static const char http_text_plain[] = "text/plain; charset=utf-8";

/* ---- small ASCII helpers (locale-independent on purpose) ---- */

static int
http_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int
http_ncase_eq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (http_lower((unsigned char)a[i]) != http_lower((unsigned char)b[i]))
			return 0;
	return 1;
}

static int
http_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = http_lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* RFC 9110 §5.6.2 token characters, which is all a field name may hold. */
static int
http_is_tchar(int c)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* ---- request ---- */

/* NULL when absent, unlike http_getenv. */
static const char *
http_env_raw(const struct http_req *req, const char *name)
{
	if (name == NULL)
		return NULL;
	if (req->envp != NULL)
		return FCGX_GetParam(name, req->envp);
	return getenv(name);
}

const char *
http_getenv(const struct http_req *req, const char *name)
{
	const char *v = http_env_raw(req, name);

	return v != NULL ? v : "";
}

static void
http_new_id(char *id, size_t idsz)
{
	/* A random start per thread, then a counter through a bijective mixer
	 * (splitmix64's finaliser): ids stay unique within the process and
	 * unguessable-looking without a CSPRNG call per request, which was 4 %
	 * of a snippet read.  They only correlate log lines. */
	static _Thread_local uint64_t next;
	static _Thread_local int seeded;
	static const char hex[] = "0123456789abcdef";
	uint64_t v;
	size_t i;

	if (!seeded) {
		if (crypto_random(&next, sizeof(next)) != 0) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			next = ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)ts.tv_nsec ^
			       ((uint64_t)getpid() << 44);
		}
		seeded = 1;
	}
	v = next++;
	v = (v ^ (v >> 30)) * 0xbf58476d1ce4e5b9ULL;
	v = (v ^ (v >> 27)) * 0x94d049bb133111ebULL;
	v ^= v >> 31;
	for (i = 0; i < 8 && 2 * i + 2 < idsz; i++) {
		unsigned b = (unsigned)(v >> (56 - 8 * i)) & 0xff;

		id[2 * i] = hex[b >> 4];
		id[2 * i + 1] = hex[b & 15];
	}
	id[2 * i] = '\0';
}

void
http_req_init(struct http_req *req, char **envp, struct FCGX_Stream *in,
	      struct FCGX_Stream *out)
{
	const char *q;
	size_t n;

	memset(req, 0, sizeof(*req));
	req->envp = envp;
	req->in = in;
	req->out = out;
	req->method = http_getenv(req, "REQUEST_METHOD");
	req->uri = http_getenv(req, "REQUEST_URI");
	req->query = http_getenv(req, "QUERY_STRING");
	req->content_type = http_getenv(req, "CONTENT_TYPE");
	req->remote_addr = http_getenv(req, "REMOTE_ADDR");
	q = strchr(req->uri, '?');
	n = q != NULL ? (size_t)(q - req->uri) : strlen(req->uri);
	/* A path that does not fit is left empty so it can never match a route
	 * by accident of truncation. */
	if (n < sizeof(req->path)) {
		memcpy(req->path, req->uri, n);
		req->path[n] = '\0';
	}
	http_new_id(req->id, sizeof(req->id));
}

void
http_req_free(struct http_req *req)
{
	if (req == NULL)
		return;
	if (req->body != NULL) {
		/* Bodies carry client secrets, codes and refresh tokens. */
		crypto_wipe(req->body, req->bodylen);
		free(req->body);
	}
	req->body = NULL;
	req->bodylen = 0;
}

const char *
http_header(const struct http_req *req, const char *name)
{
	char var[128];
	size_t i, n;

	if (name == NULL)
		return NULL;
	n = strlen(name);
	/* RFC 3875 §4.1.2, §4.1.3: these two are meta-variables, not HTTP_*. */
	if (n == 12 && http_ncase_eq(name, "Content-Type", 12))
		return http_env_raw(req, "CONTENT_TYPE");
	if (n == 14 && http_ncase_eq(name, "Content-Length", 14))
		return http_env_raw(req, "CONTENT_LENGTH");
	if (n == 0 || n >= sizeof(var) - 5)
		return NULL;
	memcpy(var, "HTTP_", 5);
	for (i = 0; i < n; i++) {
		int c = (unsigned char)name[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return NULL;
		/* RFC 3875 §4.1.18: upper case, '-' replaced by '_'. */
		var[5 + i] = c == '-' ? '_' : (char)(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
	}
	var[5 + n] = '\0';
	return http_env_raw(req, var);
}

/* CONTENT_LENGTH is 1*digit (RFC 3875 §4.1.2): no sign, space or prefix.
 * A number too big for size_t is still a number, just too large. */
static int
http_parse_length(const char *s, size_t max, size_t *out)
{
	size_t v = 0, n = strspn(s, "0123456789");

	*out = 0;
	if (*s == '\0')
		return HTTP_OK; /* no body */
	if (s[n] != '\0')
		return HTTP_E_MALFORMED;
	for (size_t i = 0; i < n; i++) {
		if (v > (SIZE_MAX - 9) / 10)
			return HTTP_E_TOO_LARGE;
		v = v * 10 + (size_t)(s[i] - '0');
	}
	if (v > max || v == SIZE_MAX)
		return HTTP_E_TOO_LARGE;
	*out = v;
	return HTTP_OK;
}

/* Read up to n bytes; 0 on end of input or error. */
static size_t
http_read_some(struct http_req *req, char *p, size_t n)
{
	int r;

	if (n > HTTP_IO_CHUNK)
		n = HTTP_IO_CHUNK;
	if (req->in == NULL)
		return fread(p, 1, n, stdin);
	r = FCGX_GetStr(p, (int)n, req->in);
	return r > 0 ? (size_t)r : 0;
}

int
http_read_body(struct http_req *req, size_t max)
{
	size_t len, got = 0, n;
	char *p;
	int rc;

	if (req->body != NULL)
		return req->bodylen <= max ? HTTP_OK : HTTP_E_TOO_LARGE;
	rc = http_parse_length(http_getenv(req, "CONTENT_LENGTH"), max, &len);
	if (rc != HTTP_OK)
		return rc;
	if ((p = malloc(len + 1)) == NULL)
		return HTTP_E_NOMEM;
	/* Bounded: every pass either makes progress or ends the loop. */
	while (got < len && (n = http_read_some(req, p + got, len - got)) > 0)
		got += n;
	if (got < len) {
		log_msg(LOG_WARN, "msg=\"short request body\" want=%zu got=%zu", len, got);
		crypto_wipe(p, got);
		free(p);
		return HTTP_E_IO;
	}
	p[len] = '\0';
	req->body = p;
	req->bodylen = len;
	return HTTP_OK;
}

int
http_content_type_is(const struct http_req *req, const char *type)
{
	const char *ct = http_getenv(req, "CONTENT_TYPE");
	size_t n = strcspn(ct, ";");

	/* RFC 9110 §8.3.1: media type, then optional whitespace and parameters. */
	while (n > 0 && (*ct == ' ' || *ct == '\t')) {
		ct++;
		n--;
	}
	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	return type != NULL && n == strlen(type) && http_ncase_eq(ct, type, n);
}

/* ---- forms and cookies ---- */

/* Decode src[0..n) into dst ('+' is a space, %XX a byte); dst gets at most
 * n bytes plus a NUL.  -1 on a bad escape, a raw or decoded NUL. */
static int
http_urldecode(const char *src, size_t n, char *dst, size_t *outlen)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		int c = (unsigned char)src[i];

		if (c == '%') {
			int hi, lo;

			if (n - i < 3 || (hi = http_hexval((unsigned char)src[i + 1])) < 0 ||
			    (lo = http_hexval((unsigned char)src[i + 2])) < 0)
				return -1;
			c = hi << 4 | lo;
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		/* A NUL would silently cut the C string the handler sees. */
		if (c == '\0')
			return -1;
		dst[o++] = (char)c;
	}
	dst[o] = '\0';
	*outlen = o;
	return 0;
}

/* Name and value share one allocation: name, NUL, value, NUL. */
static int
http_form_add(struct http_form *f, const char *s, size_t n, size_t maxfields)
{
	const char *eq = memchr(s, '=', n);
	size_t nlen = eq != NULL ? (size_t)(eq - s) : n;
	size_t vlen = eq != NULL ? n - nlen - 1 : 0;
	size_t dn, dv;
	char *p;

	if (f->n >= maxfields)
		return HTTP_E_TOO_MANY;
	if ((p = malloc(nlen + vlen + 2)) == NULL)
		return HTTP_E_NOMEM;
	if (http_urldecode(s, nlen, p, &dn) != 0 ||
	    http_urldecode(eq != NULL ? eq + 1 : "", vlen, p + dn + 1, &dv) != 0) {
		crypto_wipe(p, nlen + vlen + 2);
		free(p);
		return HTTP_E_MALFORMED;
	}
	f->kv[f->n].name = p;
	f->kv[f->n].value = p + dn + 1;
	f->kv[f->n].valuelen = dv;
	f->n++;
	return HTTP_OK;
}

int
http_form_parse(const char *s, size_t len, size_t maxfields, struct http_form *out)
{
	size_t i = 0;

	memset(out, 0, sizeof(*out));
	if (maxfields == 0 || maxfields > HTTP_FIELDS_MAX)
		maxfields = HTTP_FIELDS_MAX;
	if (s == NULL)
		return len == 0 ? HTTP_OK : HTTP_E_MALFORMED;
	/* WHATWG URL "application/x-www-form-urlencoded parsing": split on '&',
	 * skip empty sequences, split each at the first '='. */
	while (i < len) {
		const char *amp = memchr(s + i, '&', len - i);
		size_t end = amp != NULL ? (size_t)(amp - s) : len;
		int rc;

		if (end > i && (rc = http_form_add(out, s + i, end - i, maxfields)) != HTTP_OK)
			return rc;
		i = end + 1;
	}
	return HTTP_OK;
}

void
http_form_free(struct http_form *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->n && i < HTTP_FIELDS_MAX; i++) {
		struct http_kv *kv = &f->kv[i];

		if (kv->name == NULL)
			continue;
		/* Values may be secrets (client_secret, code_verifier, tokens). */
		crypto_wipe(kv->name, (size_t)(kv->value - kv->name) + kv->valuelen + 1);
		free(kv->name);
		kv->name = kv->value = NULL;
		kv->valuelen = 0;
	}
	f->n = 0;
}

const char *
http_form_get(const struct http_form *f, const char *name, size_t *count)
{
	const char *first = NULL;
	size_t c = 0;

	for (size_t i = 0; f != NULL && name != NULL && i < f->n; i++) {
		if (strcmp(f->kv[i].name, name) != 0)
			continue;
		if (c++ == 0)
			first = f->kv[i].value;
	}
	if (count != NULL)
		*count = c;
	return first;
}

/* Add one cookie-pair s[0..n), trimmed; pairs without '=' or with an empty
 * name are not cookie-pairs (RFC 6265 §4.2.1) and are skipped. */
static int
http_cookie_add(struct http_form *f, const char *s, size_t n)
{
	const char *eq = memchr(s, '=', n);
	size_t nlen, vlen, voff;
	char *p;

	if (eq == NULL)
		return HTTP_OK;
	nlen = (size_t)(eq - s);
	while (nlen > 0 && (s[nlen - 1] == ' ' || s[nlen - 1] == '\t'))
		nlen--;
	voff = (size_t)(eq - s) + 1;
	while (voff < n && (s[voff] == ' ' || s[voff] == '\t'))
		voff++;
	vlen = n - voff;
	if (nlen == 0)
		return HTTP_OK;
	if (f->n >= HTTP_FIELDS_MAX)
		return HTTP_E_TOO_MANY;
	if ((p = malloc(nlen + vlen + 2)) == NULL)
		return HTTP_E_NOMEM;
	memcpy(p, s, nlen);
	p[nlen] = '\0';
	memcpy(p + nlen + 1, s + voff, vlen);
	p[nlen + 1 + vlen] = '\0';
	f->kv[f->n].name = p;
	f->kv[f->n].value = p + nlen + 1;
	f->kv[f->n].valuelen = vlen;
	f->n++;
	return HTTP_OK;
}

int
http_cookies_parse(const struct http_req *req, struct http_form *out)
{
	const char *s = http_header(req, "Cookie");

	memset(out, 0, sizeof(*out));
	/* RFC 6265 §5.4: cookie-pair *( ";" SP cookie-pair ); be lenient about
	 * the whitespace, strict about nothing else: values are opaque here. */
	while (s != NULL && *s != '\0') {
		size_t n = strcspn(s, ";");
		size_t b = 0, e = n;
		int rc;

		while (b < e && (s[b] == ' ' || s[b] == '\t'))
			b++;
		while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t'))
			e--;
		if (e > b && (rc = http_cookie_add(out, s + b, e - b)) != HTTP_OK)
			return rc;
		s += n;
		if (*s == ';')
			s++;
	}
	return HTTP_OK;
}

/* ---- response ---- */

void
http_resp_init(struct http_resp *resp)
{
	resp->status = 200;
	resp->nhdr = 0;
	buf_init(&resp->body, 0);
}

void
http_resp_free(struct http_resp *resp)
{
	if (resp == NULL)
		return;
	buf_free(&resp->body);
	resp->nhdr = 0;
}

/* RFC 9110 §5.5: a field value holds no CR, LF or NUL (response splitting);
 * other controls are invalid too, except horizontal tab. */
static int
http_value_ok(const char *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 0;
	}
	return 1;
}

static int
http_name_ok(const char *name, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!http_is_tchar((unsigned char)name[i]))
			return 0;
	/* http_send owns these: a second Status or Content-Length would let a
	 * handler desynchronise the response framing. */
	if ((n == 6 && http_ncase_eq(name, "Status", 6)) ||
	    (n == 14 && http_ncase_eq(name, "Content-Length", 14)))
		return 0;
	return 1;
}

int
http_resp_header(struct http_resp *resp, const char *name, const char *fmt, ...)
{
	size_t nl = name != NULL ? strlen(name) : 0, room;
	char *line;
	va_list ap;
	int n;

	if (resp->nhdr >= HTTP_HEADERS_MAX || fmt == NULL || !http_name_ok(name, nl) ||
	    nl + 3 >= HTTP_HEADER_LEN)
		return -1;
	line = resp->hdr[resp->nhdr];
	memcpy(line, name, nl);
	memcpy(line + nl, ": ", 2);
	room = HTTP_HEADER_LEN - nl - 2;
	va_start(ap, fmt);
	n = vsnprintf(line + nl + 2, room, fmt, ap);
	va_end(ap);
	/* n counts every byte formatted, so a NUL from %c is seen here too. */
	if (n < 0 || (size_t)n >= room || !http_value_ok(line + nl + 2, (size_t)n)) {
		line[0] = '\0';
		return -1;
	}
	resp->nhdr++;
	return 0;
}

static int
http_has_header(const struct http_resp *resp, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < resp->nhdr; i++)
		if (http_ncase_eq(resp->hdr[i], name, n) && resp->hdr[i][n] == ':')
			return 1;
	return 0;
}

/* RFC 9110 §6.4.1: 1xx, 204 and 304 responses carry no content. */
static int
http_status_no_body(int status)
{
	return status < 200 || status == 204 || status == 304;
}

/* Status line, handler headers, then our defaults; length < 0 means none. */
static int
http_head(const struct http_resp *resp, int status, long long length, struct buf *h)
{
	buf_printf(h, "Status: %d %s\r\n", status, http_reason(status));
	for (size_t i = 0; i < resp->nhdr; i++)
		buf_printf(h, "%s\r\n", resp->hdr[i]);
	if (length > 0 && !http_has_header(resp, "Content-Type"))
		buf_printf(h, "Content-Type: %s\r\n", http_text_plain);
	if (!http_has_header(resp, "X-Content-Type-Options"))
		buf_puts(h, "X-Content-Type-Options: nosniff\r\n");
	if (!http_has_header(resp, "Cache-Control"))
		buf_puts(h, "Cache-Control: no-store\r\n");
	if (length >= 0)
		buf_printf(h, "Content-Length: %lld\r\n", length);
	buf_puts(h, "\r\n");
	return h->overflow ? -1 : 0;
}

static int
http_out(struct http_req *req, const void *p, size_t n)
{
	const char *s = p;

	if (req->out == NULL)
		return fwrite(s, 1, n, stdout) == n ? 0 : -1;
	while (n > 0) {
		int k = n > HTTP_IO_CHUNK ? HTTP_IO_CHUNK : (int)n;

		if (FCGX_PutStr(s, k, req->out) != k)
			return -1;
		s += k;
		n -= (size_t)k;
	}
	return 0;
}

static int
http_valid_status(int status)
{
	return status >= 100 && status <= 599 ? status : 500;
}

/* The head of resp appended to h, and headers_sent set.  whole: a complete
 * response, whose body (none for HEAD and bodiless statuses) goes in *body
 * and *blen; else only the head of a streamed one (no Content-Length). */
static int
http_start(struct http_req *req, struct http_resp *resp, int whole, struct buf *h,
	   const void **body, size_t *blen)
{
	int status, nobody, head;

	if (req->headers_sent)
		return -1;
	if (!whole) {
		resp->status = http_valid_status(resp->status);
		if (http_head(resp, resp->status, -1, h) != 0)
			return -1;
		req->headers_sent = 1;
		return 0;
	}
	if (resp->body.overflow) {
		/* A truncated body must never go out as if it were whole. */
		log_msg(LOG_ERROR, "msg=\"response body over its cap\" status=%d", resp->status);
		http_error_html(resp, 500, NULL, NULL);
	}
	status = resp->status = http_valid_status(resp->status);
	nobody = http_status_no_body(status);
	if (http_head(resp, status, nobody ? -1 : (long long)resp->body.len, h) != 0)
		return -1;
	req->headers_sent = 1;
	/* RFC 9110 §9.3.2: HEAD gets the headers GET would, without content. */
	head = req->method != NULL && strcmp(req->method, "HEAD") == 0;
	*body = resp->body.data;
	*blen = nobody || head ? 0 : resp->body.len;
	return 0;
}

int
http_send(struct http_req *req, struct http_resp *resp)
{
	struct buf h;
	const void *body = NULL;
	size_t blen = 0;
	int rc = -1;

	buf_init(&h, HTTP_HEAD_MAX);
	if (http_start(req, resp, 1, &h, &body, &blen) != 0 || http_out(req, h.data, h.len) != 0)
		goto out;
	if (blen > 0 && http_out(req, body, blen) != 0)
		goto out;
	rc = req->out == NULL ? http_flush(req) : 0;
out:
	buf_free(&h);
	return rc;
}

int
http_send_headers(struct http_req *req, struct http_resp *resp)
{
	struct buf h;
	int rc = -1;

	buf_init(&h, HTTP_HEAD_MAX);
	if (http_start(req, resp, 0, &h, NULL, NULL) == 0 && http_out(req, h.data, h.len) == 0)
		rc = http_flush(req);
	buf_free(&h);
	return rc;
}

/* The head and body http_send would write, appended to out instead. */
int
http_render(struct http_req *req, struct http_resp *resp, struct buf *out)
{
	const void *body = NULL;
	size_t blen = 0;

	if (http_start(req, resp, 1, out, &body, &blen) != 0)
		return -1;
	return blen > 0 ? buf_append(out, body, blen) : 0;
}

int
http_render_headers(struct http_req *req, struct http_resp *resp, struct buf *out)
{
	return http_start(req, resp, 0, out, NULL, NULL);
}

int
http_write(struct http_req *req, const void *p, size_t n)
{
	if (!req->headers_sent)
		return -1;
	return http_out(req, p, n);
}

int
http_flush(struct http_req *req)
{
	if (req->out == NULL)
		return fflush(stdout) != 0 || ferror(stdout) ? -1 : 0;
	/* A write error on the stream is how a vanished client shows up. */
	if (FCGX_FFlush(req->out) != 0 || FCGX_GetError(req->out) != 0)
		return -1;
	return 0;
}

const char *
http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Unknown";
	}
}

/* ---- error renderers ---- */

/* Every renderer starts a fresh response: headers a handler set for the
 * success path (Content-Type, Location, cookies) must not leak into an error. */
static void
http_resp_restart(struct http_resp *resp, int status)
{
	buf_reset(&resp->body);
	resp->nhdr = 0;
	resp->status = http_valid_status(status);
}

static const char http_page_head[] =
	"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	"<meta name=\"robots\" content=\"noindex\">\n<title>";
static const char http_page_style[] =
	"</title>\n<style>\n"
	"body{margin:0;font:16px/1.5 system-ui,sans-serif;color:#222;background:#f4f4f5}\n"
	"main{max-width:36em;margin:10vh auto;padding:1.5em 2em;background:#fff;"
	"border:1px solid #ddd;border-radius:8px}\n"
	"h1{font-size:1.4em;margin:0 0 .5em}\n"
	".status{color:#777;font-size:.85em;margin-top:1.5em}\n"
	"@media (prefers-color-scheme:dark){body{background:#111;color:#ddd}"
	"main{background:#1c1c1e;border-color:#333}}\n"
	"</style>\n</head>\n<body>\n<main>\n<h1>";

void
http_error_html(struct http_resp *resp, int status, const char *title, const char *detail)
{
	struct buf *b = &resp->body;

	http_resp_restart(resp, status);
	if (title == NULL || *title == '\0')
		title = http_reason(resp->status);
	buf_puts(b, http_page_head);
	buf_html(b, title);
	buf_puts(b, http_page_style);
	buf_html(b, title);
	buf_puts(b, "</h1>\n");
	if (detail != NULL && *detail != '\0') {
		buf_puts(b, "<p>");
		buf_html(b, detail);
		buf_puts(b, "</p>\n");
	}
	buf_printf(b, "<p class=\"status\">HTTP %d %s</p>\n</main>\n</body>\n</html>\n",
		   resp->status, http_reason(resp->status));
	if (b->overflow) {
		buf_reset(b);
		buf_puts(b, "<!DOCTYPE html>\n<title>Error</title>\n<h1>Error</h1>\n");
	}
	http_resp_header(resp, "Content-Type", "text/html; charset=utf-8");
	/* Nothing external and no script: the page needs only its inline style. */
	http_resp_header(resp, "Content-Security-Policy",
			 "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
	http_resp_header(resp, "X-Frame-Options", "DENY");
	http_resp_header(resp, "Referrer-Policy", "no-referrer");
}

static int
http_json_add(struct json_object *o, const char *key, const char *val)
{
	struct json_object *s = json_object_new_string(val);

	if (s == NULL)
		return -1;
	if (json_object_object_add(o, key, s) != 0) {
		json_object_put(s);
		return -1;
	}
	return 0;
}

void
http_error_oauth(struct http_resp *resp, int status, const char *error,
		 const char *description)
{
	struct json_object *o;
	const char *s = NULL;

	http_resp_restart(resp, status);
	if (error == NULL || *error == '\0')
		error = "server_error";
	/* json-c does the escaping, so a description can never break the JSON. */
	o = json_object_new_object();
	if (o != NULL && http_json_add(o, "error", error) == 0 &&
	    (description == NULL || http_json_add(o, "error_description", description) == 0))
		s = json_object_to_json_string_ext(
			o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s == NULL || buf_puts(&resp->body, s) != 0) {
		buf_reset(&resp->body);
		buf_puts(&resp->body, "{\"error\":\"server_error\"}");
	}
	json_object_put(o);
	http_resp_header(resp, "Content-Type", "application/json");
	http_resp_header(resp, "Cache-Control", "no-store");
	/* RFC 6749 §5.2: a 401 for invalid_client names the scheme the client
	 * should authenticate with. */
	if (resp->status == 401 && strcmp(error, "invalid_client") == 0)
		http_resp_header(resp, "WWW-Authenticate", "Basic realm=\"mcpgate\"");
}

void
http_error_store(struct http_resp *resp, int store_status, int html)
{
	int busy = store_status == STORE_BUSY;

	if (html && busy)
		http_error_html(resp, 503, NULL,
				"The server is busy. Please try again in a moment.");
	else if (html)
		http_error_html(resp, 500, NULL,
				"Something went wrong on our side. Please try again later.");
	else if (busy)
		http_error_oauth(resp, 503, "temporarily_unavailable",
				 "the server is busy, retry shortly");
	else
		http_error_oauth(resp, 500, "server_error", "internal error");
	/* A busy store clears within the lock timeout; tell clients when to retry. */
	if (busy)
		http_resp_header(resp, "Retry-After", "1");
}

void
http_error_method(struct http_resp *resp, const char *allow, int html)
{
	if (html)
		http_error_html(resp, 405, NULL,
				"This address does not accept that request method.");
	else
		http_error_oauth(resp, 405, "invalid_request", "method not allowed");
	/* RFC 9110 §15.5.6: a 405 MUST carry Allow. */
	http_resp_header(resp, "Allow", "%s", allow != NULL ? allow : "");
}
