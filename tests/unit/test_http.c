/*
 * test_http: request parsing, response framing and the error renderers,
 * including a run of the real CGI path (environment, stdin, stdout).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fcgiapp.h>
#include <json-c/json.h>

#include "http.h"
#include "store.h"
#include "tap.h"

/* ---- helpers ---- */

/* "[name]=[value]" for each field, in order. */
static const char *
form_dump(const struct http_form *f, char *out, size_t outsz)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < f->n && o < outsz; i++) {
		int n = snprintf(out + o, outsz - o, "[%s]=[%s]", f->kv[i].name, f->kv[i].value);
		if (n < 0)
			break;
		o += (size_t)n;
	}
	return out;
}

/* Value of the first response header called name, or NULL. */
static const char *
resp_hdr(const struct http_resp *resp, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < resp->nhdr; i++)
		if (strncasecmp(resp->hdr[i], name, n) == 0 && resp->hdr[i][n] == ':')
			return resp->hdr[i] + n + 2;
	return NULL;
}

static size_t
resp_hdr_count(const struct http_resp *resp, const char *name)
{
	size_t n = strlen(name), c = 0;

	for (size_t i = 0; i < resp->nhdr; i++)
		if (strncasecmp(resp->hdr[i], name, n) == 0 && resp->hdr[i][n] == ':')
			c++;
	return c;
}

/* Make data the whole of stdin (the write end is closed, so EOF follows). */
static int
feed_stdin(const char *data, size_t n)
{
	int fd[2];

	if (pipe(fd) != 0)
		return -1;
	if (n > 0 && write(fd[1], data, n) != (ssize_t)n)
		return -1;
	close(fd[1]);
	if (dup2(fd[0], STDIN_FILENO) < 0)
		return -1;
	close(fd[0]);
	clearerr(stdin);
	return 0;
}

struct capture {
	int saved;
	int rfd;
};

/* Redirect stdout into a pipe.  Nothing may print TAP until capture_end. */
static int
capture_begin(struct capture *c)
{
	int fd[2];

	fflush(stdout);
	if (pipe(fd) != 0)
		return -1;
	c->saved = dup(STDOUT_FILENO);
	if (c->saved < 0 || dup2(fd[1], STDOUT_FILENO) < 0)
		return -1;
	close(fd[1]);
	c->rfd = fd[0];
	return 0;
}

/* Restore stdout and return what was written (NUL-terminated). */
static size_t
capture_end(struct capture *c, char *out, size_t outsz)
{
	size_t o = 0;
	ssize_t r;

	fflush(stdout);
	dup2(c->saved, STDOUT_FILENO);
	close(c->saved);
	clearerr(stdout);
	for (int guard = 0; guard < 10000 && o + 1 < outsz; guard++) {
		r = read(c->rfd, out + o, outsz - 1 - o);
		if (r <= 0)
			break;
		o += (size_t)r;
	}
	close(c->rfd);
	out[o] = '\0';
	return o;
}

/* ---- form parsing ---- */

struct form_case {
	const char *in;
	size_t len; /* 0: strlen(in) */
	size_t maxfields;
	int rc;
	const char *dump; /* expected fields when rc == HTTP_OK */
};

static const struct form_case form_cases[] = {
	{"a=b&c=d", 0, 0, HTTP_OK, "[a]=[b][c]=[d]"},
	{"", 0, 0, HTTP_OK, ""},
	{"&&a=1&&", 0, 0, HTTP_OK, "[a]=[1]"},
	{"&", 0, 0, HTTP_OK, ""},
	{"a", 0, 0, HTTP_OK, "[a]=[]"},
	{"a=", 0, 0, HTTP_OK, "[a]=[]"},
	{"=v", 0, 0, HTTP_OK, "[]=[v]"},
	{"=", 0, 0, HTTP_OK, "[]=[]"},
	{"a=b=c", 0, 0, HTTP_OK, "[a]=[b=c]"},
	{"a+b=c+d+", 0, 0, HTTP_OK, "[a b]=[c d ]"},
	{"a%2Bb=%2b%20", 0, 0, HTTP_OK, "[a+b]=[+ ]"},
	{"%41%62=%7e%7E", 0, 0, HTTP_OK, "[Ab]=[~~]"},
	{"x=%C3%A9", 0, 0, HTTP_OK, "[x]=[\xc3\xa9]"},
	{"x=%FF", 0, 0, HTTP_OK, "[x]=[\xff]"},
	{"x=%26%3D", 0, 0, HTTP_OK, "[x]=[&=]"},
	{"a=1&a=2", 0, 0, HTTP_OK, "[a]=[1][a]=[2]"},
	{"k=v;x=y", 0, 0, HTTP_OK, "[k]=[v;x=y]"},
	{"x=%", 0, 0, HTTP_E_MALFORMED, NULL},
	{"x=%4", 0, 0, HTTP_E_MALFORMED, NULL},
	{"x=%41", 4, 0, HTTP_E_MALFORMED, NULL}, /* escape cut by the length */
	{"x=%41", 5, 0, HTTP_OK, "[x]=[A]"},
	{"x=%zz", 0, 0, HTTP_E_MALFORMED, NULL},
	{"x=%4g", 0, 0, HTTP_E_MALFORMED, NULL},
	{"x=%g4", 0, 0, HTTP_E_MALFORMED, NULL},
	{"x=%%41", 0, 0, HTTP_E_MALFORMED, NULL},
	{"x=%00", 0, 0, HTTP_E_MALFORMED, NULL},
	{"%00=x", 0, 0, HTTP_E_MALFORMED, NULL},
	{"%=x", 0, 0, HTTP_E_MALFORMED, NULL},
	{"a=1&b=2&c=%", 0, 0, HTTP_E_MALFORMED, NULL},
	{"a=b\0c", 5, 0, HTTP_E_MALFORMED, NULL},
	{"a&b", 0, 2, HTTP_OK, "[a]=[][b]=[]"},
	{"a&b&c", 0, 2, HTTP_E_TOO_MANY, NULL},
	{"a&&&b&&&", 0, 2, HTTP_OK, "[a]=[][b]=[]"},
	{"a=1", 0, 1, HTTP_OK, "[a]=[1]"},
	{"a=1&b", 0, 1, HTTP_E_TOO_MANY, NULL},
	{"a=b&c=d", 3, 0, HTTP_OK, "[a]=[b]"},
};

static void
test_form_table(void)
{
	char dump[256];

	for (size_t i = 0; i < sizeof(form_cases) / sizeof(form_cases[0]); i++) {
		const struct form_case *c = &form_cases[i];
		struct http_form f;
		size_t len = c->len != 0 ? c->len : strlen(c->in);
		int rc = http_form_parse(c->in, len, c->maxfields, &f);

		is_int(rc, c->rc, "form %zu \"%s\": rc", i, c->in);
		if (c->rc == HTTP_OK)
			is_str(form_dump(&f, dump, sizeof(dump)), c->dump, "form %zu: fields", i);
		http_form_free(&f);
		is_int(f.n, 0, "form %zu: freed", i);
	}
}

static void
test_form_limits(void)
{
	struct buf b;
	struct http_form f;
	size_t cnt = 0;
	int rc;

	/* HTTP_FIELDS_MAX fields pass, one more fails; 0 and >max mean the default. */
	buf_init(&b, 0);
	for (int i = 0; i < HTTP_FIELDS_MAX; i++)
		buf_printf(&b, "%sf%d=%d", i ? "&" : "", i, i);
	rc = http_form_parse(b.data, b.len, 0, &f);
	is_int(rc, HTTP_OK, "64 fields accepted");
	is_int(f.n, HTTP_FIELDS_MAX, "64 fields stored");
	is_str(http_form_get(&f, "f63", NULL), "63", "last field value");
	http_form_free(&f);
	buf_puts(&b, "&one=more");
	is_int(http_form_parse(b.data, b.len, 0, &f), HTTP_E_TOO_MANY, "65 fields refused");
	is_int(f.n, HTTP_FIELDS_MAX, "fields parsed so far are kept for freeing");
	http_form_free(&f);
	is_int(http_form_parse(b.data, b.len, 1000, &f), HTTP_E_TOO_MANY,
	       "maxfields above HTTP_FIELDS_MAX is clamped");
	http_form_free(&f);
	buf_free(&b);

	/* Overlong input: a 1 MiB value is decoded whole (the body cap bounds it). */
	buf_init(&b, 0);
	buf_puts(&b, "big=");
	for (int i = 0; i < 1024 * 1024 / 4; i++)
		buf_puts(&b, "ab+c");
	buf_puts(&b, "&x=%2");
	is_int(http_form_parse(b.data, b.len, 0, &f), HTTP_E_MALFORMED,
	       "truncated escape after a 1 MiB value");
	http_form_free(&f);
	b.len -= 5;
	b.data[b.len] = '\0';
	rc = http_form_parse(b.data, b.len, 0, &f);
	is_int(rc, HTTP_OK, "1 MiB value parsed");
	is_int(f.n == 1 ? f.kv[0].valuelen : 0, 1024 * 1024, "1 MiB value length");
	ok(f.n == 1 && memcmp(f.kv[0].value, "ab c", 4) == 0, "1 MiB value decoded");
	http_form_free(&f);
	buf_free(&b);

	/* http_form_get counts duplicates; NULL input is an empty form. */
	http_form_parse("a=1&b=2&a=3&a=", 14, 0, &f);
	is_str(http_form_get(&f, "a", &cnt), "1", "form_get first value");
	is_int(cnt, 3, "form_get counts duplicates");
	ok(http_form_get(&f, "c", &cnt) == NULL && cnt == 0, "form_get absent");
	http_form_free(&f);
	http_form_free(&f);
	http_form_free(NULL);
	ok(1, "form_free twice and on NULL");
	is_int(http_form_parse(NULL, 0, 0, &f), HTTP_OK, "NULL, 0 is an empty form");
	http_form_free(&f);
}

/* Hostile random input: whatever comes back must be consistent and freeable. */
static void
test_form_random(void)
{
	static const char alpha[] = "a=&%+0fF z\xc3\x00";
	uint32_t seed = 12345;
	int bad = 0, oks = 0;

	for (int iter = 0; iter < 20000; iter++) {
		char s[48];
		size_t len;
		struct http_form f;
		int rc;

		seed = seed * 1103515245u + 12345u;
		len = (seed >> 16) % sizeof(s);
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			s[i] = alpha[(seed >> 16) % (sizeof(alpha) - 1)];
		}
		rc = http_form_parse(s, len, 8, &f);
		if (rc == HTTP_OK) {
			oks++;
			for (size_t i = 0; i < f.n; i++)
				if (strlen(f.kv[i].value) != f.kv[i].valuelen)
					bad++;
			if (memchr(s, '\0', len) != NULL || f.n > 8)
				bad++;
		} else if (rc != HTTP_E_MALFORMED && rc != HTTP_E_TOO_MANY) {
			bad++;
		}
		http_form_free(&f);
	}
	is_int(bad, 0, "random forms: consistent results");
	ok(oks > 1000, "random forms: %d parsed ok", oks);
}

/* ---- request environment ---- */

static int
id_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void
test_req_env(void)
{
	/* FCGX_GetParam takes char ** but never writes through it. */
	char *env[] = {
		(char *)"REQUEST_METHOD=POST",
		(char *)"REQUEST_URI=/oauth/token?x=1&y=%3F",
		(char *)"QUERY_STRING=x=1&y=%3F",
		(char *)"CONTENT_TYPE=application/x-www-form-urlencoded; charset=UTF-8",
		(char *)"HTTP_AUTHORIZATION=Basic YTpi",
		(char *)"HTTP_X_FORWARDED_FOR=192.0.2.1",
		(char *)"HTTP_EMPTY=",
		NULL,
	};
	static const struct {
		const char *name, *want;
	} hdrs[] = {
		{"Authorization", "Basic YTpi"},
		{"authorization", "Basic YTpi"},
		{"X-Forwarded-For", "192.0.2.1"},
		{"Content-Type", "application/x-www-form-urlencoded; charset=UTF-8"},
		{"content-type", "application/x-www-form-urlencoded; charset=UTF-8"},
		{"Empty", ""},
		{"Content-Length", NULL},
		{"Cookie", NULL},
		{"Bad Name", NULL},
		{"Bad\nName", NULL},
		{"", NULL},
	};
	struct http_req req, req2;
	char longname[300];

	http_req_init(&req, env, NULL, NULL);
	is_str(req.method, "POST", "method");
	is_str(req.uri, "/oauth/token?x=1&y=%3F", "uri");
	is_str(req.path, "/oauth/token", "path stops at '?'");
	is_str(req.query, "x=1&y=%3F", "query");
	is_str(req.remote_addr, "", "unset variable is \"\"");
	ok(req.body == NULL && !req.headers_sent, "fresh request state");
	is_int(strlen(req.id), 16, "request id length");
	is_int(strspn(req.id, "0123456789abcdef"), 16, "request id is hex");
	http_req_init(&req2, env, NULL, NULL);
	ok(strcmp(req.id, req2.id) != 0, "request ids differ");
	{
		/* Consecutive ids come from a counter: none may repeat, and they
		 * must not look sequential in the logs. */
		static char ids[2000][17];
		struct http_req r;
		int dup = 0, hexok = 1, close = 0;

		for (size_t i = 0; i < 2000; i++) {
			http_req_init(&r, env, NULL, NULL);
			memcpy(ids[i], r.id, sizeof(ids[i]));
			hexok &= strlen(r.id) == 16 && strspn(r.id, "0123456789abcdef") == 16;
			http_req_free(&r);
		}
		qsort(ids, 2000, sizeof(ids[0]), id_cmp);
		for (size_t i = 1; i < 2000; i++) {
			dup += strcmp(ids[i - 1], ids[i]) == 0;
			close += strncmp(ids[i - 1], ids[i], 8) == 0;
		}
		ok(hexok, "2000 ids: 16 hex digits each");
		is_int(dup, 0, "2000 ids: none repeats");
		ok(close < 5, "2000 ids: spread over the space (%d share their first half)", close);
	}
	is_str(http_getenv(&req, "NOPE"), "", "http_getenv absent");
	is_str(http_getenv(&req, "QUERY_STRING"), "x=1&y=%3F", "http_getenv present");
	for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++)
		is_str(http_header(&req, hdrs[i].name), hdrs[i].want, "header %zu", i);
	memset(longname, 'A', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	ok(http_header(&req, longname) == NULL, "overlong header name");
	http_req_free(&req);
	http_req_free(&req2);
	http_req_free(NULL);
}

static void
test_req_path(void)
{
	static char uri[1100];
	char *env[] = {uri, NULL};
	char *noenv[] = {NULL};
	struct http_req req;
	size_t n = strlen("REQUEST_URI=");

	memcpy(uri, "REQUEST_URI=", n);
	memset(uri + n, 'a', 1023);
	uri[n] = '/';
	uri[n + 1023] = '\0';
	http_req_init(&req, env, NULL, NULL);
	is_int(strlen(req.path), 1023, "1023-byte path fits");
	memcpy(uri + n + 1023, "b?q", 4);
	http_req_init(&req, env, NULL, NULL);
	is_str(req.path, "", "1024-byte path is left empty, not truncated");
	http_req_init(&req, noenv, NULL, NULL);
	ok(req.path[0] == '\0' && req.method[0] == '\0' && req.uri[0] == '\0',
	   "empty environment");
}

static void
test_content_type(void)
{
	static const struct {
		const char *ct, *type;
		int want;
	} cases[] = {
		{"application/x-www-form-urlencoded", "application/x-www-form-urlencoded", 1},
		{"Application/X-WWW-Form-Urlencoded;charset=UTF-8", "application/x-www-form-urlencoded", 1},
		{" application/json ; charset=utf-8", "application/json", 1},
		{"application/json\t", "application/json", 1},
		{"application/jsonx", "application/json", 0},
		{"application/json-seq", "application/json", 0},
		{"application/jso", "application/json", 0},
		{"text/plain", "application/json", 0},
		{"", "application/json", 0},
		{";application/json", "application/json", 0},
	};
	char var[128];
	char *env[] = {var, NULL};
	struct http_req req;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(var, sizeof(var), "CONTENT_TYPE=%s", cases[i].ct);
		http_req_init(&req, env, NULL, NULL);
		is_int(http_content_type_is(&req, cases[i].type), cases[i].want,
		       "content type \"%s\" is %s", cases[i].ct, cases[i].type);
	}
}

static void
test_cookies(void)
{
	static const struct {
		const char *header; /* NULL: no Cookie header */
		const char *dump;
	} cases[] = {
		{"a=b; c=d", "[a]=[b][c]=[d]"},
		{"a=b;c=d", "[a]=[b][c]=[d]"},
		{"  a = b ;c=d;;  ; e=\"q v\"  ", "[a]=[b][c]=[d][e]=[\"q v\"]"},
		{"noval; x=1", "[x]=[1]"},
		{"=v; y=2", "[y]=[2]"},
		{"a=%41+b", "[a]=[%41+b]"},
		{"a=", "[a]=[]"},
		{"a=b=c", "[a]=[b=c]"},
		{"s=1; s=2", "[s]=[1][s]=[2]"},
		{"", ""},
		{";;;", ""},
		{NULL, ""},
	};
	char var[256], dump[256];
	char *env[] = {var, NULL};
	struct http_form f;
	struct http_req req;
	struct buf b;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].header != NULL)
			snprintf(var, sizeof(var), "HTTP_COOKIE=%s", cases[i].header);
		else
			snprintf(var, sizeof(var), "HTTP_OTHER=1");
		http_req_init(&req, env, NULL, NULL);
		is_int(http_cookies_parse(&req, &f), HTTP_OK, "cookie %zu rc", i);
		is_str(form_dump(&f, dump, sizeof(dump)), cases[i].dump, "cookie %zu \"%s\"", i,
		       cases[i].header ? cases[i].header : "(none)");
		http_form_free(&f);
	}

	/* More cookies than fields: the first ones are kept, the caller is told. */
	buf_init(&b, 0);
	buf_puts(&b, "HTTP_COOKIE=");
	for (int i = 0; i < HTTP_FIELDS_MAX + 1; i++)
		buf_printf(&b, "%sc%d=%d", i ? "; " : "", i, i);
	env[0] = b.data;
	http_req_init(&req, env, NULL, NULL);
	is_int(http_cookies_parse(&req, &f), HTTP_E_TOO_MANY, "65 cookies: too many");
	is_int(f.n, HTTP_FIELDS_MAX, "65 cookies: first 64 kept");
	is_str(http_form_get(&f, "c0", NULL), "0", "65 cookies: first value");
	http_form_free(&f);
	buf_free(&b);
}

/* ---- response headers ---- */

static void
test_resp_header(void)
{
	static const struct {
		const char *name, *value;
		int rc;
	} cases[] = {
		{"X-A", "ok", 0},
		{"X-A", "tab\tok", 0},
		{"X-A", "", 0},
		{"X-A", "a\r\nSet-Cookie: x=y", -1},
		{"X-A", "a\nb", -1},
		{"X-A", "a\rb", -1},
		{"X-A", "a\x01" "b", -1},
		{"X-A", "a\x7f", -1},
		{"X-A\r\nX-B", "v", -1},
		{"X A", "v", -1},
		{"X:A", "v", -1},
		{"", "v", -1},
		{"Status", "302 Found", -1},
		{"status", "200", -1},
		{"Content-Length", "0", -1},
		{"content-length", "0", -1},
	};
	struct http_resp *resp = malloc(sizeof(*resp));
	char big[HTTP_HEADER_LEN + 8];
	size_t fit = HTTP_HEADER_LEN - 1 - strlen("X-L: ");

	http_resp_init(resp);
	is_int(resp->status, 200, "resp_init status");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t before = resp->nhdr;
		int rc = http_resp_header(resp, cases[i].name, "%s", cases[i].value);

		is_int(rc, cases[i].rc, "header %zu rc", i);
		is_int(resp->nhdr, before + (rc == 0), "header %zu count", i);
	}
	is_int(http_resp_header(resp, "X-A", "a%cb", 0), -1, "NUL via %%c refused");
	is_int(http_resp_header(resp, NULL, "x"), -1, "NULL name refused");
	memset(big, 'v', fit);
	big[fit] = '\0';
	is_int(http_resp_header(resp, "X-L", "%s", big), 0, "line of exactly %d bytes fits",
	       HTTP_HEADER_LEN - 1);
	big[fit] = 'v';
	big[fit + 1] = '\0';
	is_int(http_resp_header(resp, "X-L", "%s", big), -1, "one byte more is refused");
	is_str(resp->hdr[0], "X-A: ok", "stored as \"Name: value\"");
	while (resp->nhdr < HTTP_HEADERS_MAX)
		if (http_resp_header(resp, "X-Fill", "%zu", resp->nhdr) != 0)
			break;
	is_int(resp->nhdr, HTTP_HEADERS_MAX, "headers up to the maximum");
	is_int(http_resp_header(resp, "X-More", "1"), -1, "header past the maximum refused");
	http_resp_free(resp);
	http_resp_free(NULL);
	free(resp);
}

/* ---- error renderers ---- */

static void
test_error_html(void)
{
	struct http_resp *resp = malloc(sizeof(*resp));
	const char *body;

	http_resp_init(resp);
	http_resp_header(resp, "X-Old", "1");
	buf_puts(&resp->body, "stale");
	http_error_html(resp, 400, "<script>alert(1)</script>", "a & b \"c\" 'd' <i>");
	body = resp->body.data;
	is_int(resp->status, 400, "html: status");
	ok(resp_hdr(resp, "X-Old") == NULL, "html: earlier headers dropped");
	ok(strstr(body, "stale") == NULL, "html: earlier body dropped");
	ok(strncmp(body, "<!DOCTYPE html>", 15) == 0, "html: doctype");
	ok(strstr(body, "<title>&lt;script&gt;alert(1)&lt;/script&gt;</title>") != NULL,
	   "html: title escaped");
	ok(strstr(body, "<p>a &amp; b &quot;c&quot; &#39;d&#39; &lt;i&gt;</p>") != NULL,
	   "html: detail escaped");
	ok(strstr(body, "<script") == NULL && strstr(body, "<i>") == NULL, "html: no raw markup");
	ok(strstr(body, "src=") == NULL && strstr(body, "href=") == NULL &&
	   strstr(body, "<link") == NULL && strstr(body, "url(") == NULL,
	   "html: no external assets");
	ok(strstr(body, "HTTP 400 Bad Request") != NULL, "html: status shown");
	is_str(resp_hdr(resp, "Content-Type"), "text/html; charset=utf-8", "html: content type");
	is_str(resp_hdr(resp, "Content-Security-Policy"),
	       "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'", "html: CSP");
	is_str(resp_hdr(resp, "X-Frame-Options"), "DENY", "html: X-Frame-Options");
	is_str(resp_hdr(resp, "Referrer-Policy"), "no-referrer", "html: Referrer-Policy");

	http_error_html(resp, 404, NULL, NULL);
	ok(strstr(resp->body.data, "<title>Not Found</title>") != NULL, "html: default title");
	ok(strstr(resp->body.data, "<p>") == NULL, "html: no detail paragraph");
	is_int(resp_hdr_count(resp, "Content-Type"), 1, "html: one Content-Type after re-render");
	http_resp_free(resp);
	free(resp);
}

static void
test_error_oauth(void)
{
	static const struct {
		int status;
		const char *error, *desc;
		const char *want_error;
		int www_auth;
	} cases[] = {
		{400, "invalid_request", "missing \"code\" \\ </script>\n\x01", "invalid_request", 0},
		{401, "invalid_client", "client authentication failed", "invalid_client", 1},
		{400, "invalid_client", "bad", "invalid_client", 0},
		{401, "invalid_grant", "bad", "invalid_grant", 0},
		{500, NULL, NULL, "server_error", 0},
		{400, "invalid_scope", "caf\xc3\xa9", "invalid_scope", 0},
	};
	struct http_resp *resp = malloc(sizeof(*resp));

	http_resp_init(resp);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct json_object *o, *e = NULL, *d = NULL;

		http_resp_header(resp, "Content-Type", "text/html");
		http_error_oauth(resp, cases[i].status, cases[i].error, cases[i].desc);
		is_int(resp->status, cases[i].status, "oauth %zu: status", i);
		o = json_tokener_parse(resp->body.data);
		ok(o != NULL && json_object_is_type(o, json_type_object), "oauth %zu: JSON object", i);
		json_object_object_get_ex(o, "error", &e);
		is_str(e ? json_object_get_string(e) : NULL, cases[i].want_error, "oauth %zu: error", i);
		json_object_object_get_ex(o, "error_description", &d);
		is_str(d ? json_object_get_string(d) : NULL, cases[i].desc,
		       "oauth %zu: description round-trips", i);
		json_object_put(o);
		is_str(resp_hdr(resp, "Content-Type"), "application/json", "oauth %zu: type", i);
		is_int(resp_hdr_count(resp, "Content-Type"), 1, "oauth %zu: one type", i);
		is_str(resp_hdr(resp, "Cache-Control"), "no-store", "oauth %zu: no-store", i);
		is_str(resp_hdr(resp, "WWW-Authenticate"),
		       cases[i].www_auth ? "Basic realm=\"mcpgate\"" : NULL,
		       "oauth %zu: WWW-Authenticate", i);
	}
	http_error_oauth(resp, 400, "invalid_request", "x");
	is_str(resp->body.data, "{\"error\":\"invalid_request\",\"error_description\":\"x\"}",
	       "oauth: exact JSON");
	http_resp_free(resp);
	free(resp);
}

static void
test_error_store_method(void)
{
	static const struct {
		int store, html, status;
		const char *type, *error, *retry;
	} cases[] = {
		{STORE_BUSY, 0, 503, "application/json", "temporarily_unavailable", "1"},
		{STORE_BUSY, 1, 503, "text/html; charset=utf-8", NULL, "1"},
		{STORE_ERROR, 0, 500, "application/json", "server_error", NULL},
		{STORE_ERROR, 1, 500, "text/html; charset=utf-8", NULL, NULL},
		{STORE_EXISTS, 0, 500, "application/json", "server_error", NULL},
	};
	struct http_resp *resp = malloc(sizeof(*resp));

	http_resp_init(resp);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char want[80];

		http_error_store(resp, cases[i].store, cases[i].html);
		is_int(resp->status, cases[i].status, "store %zu: status", i);
		is_str(resp_hdr(resp, "Content-Type"), cases[i].type, "store %zu: type", i);
		is_str(resp_hdr(resp, "Retry-After"), cases[i].retry, "store %zu: Retry-After", i);
		if (cases[i].error != NULL) {
			snprintf(want, sizeof(want), "{\"error\":\"%s\",", cases[i].error);
			ok(strncmp(resp->body.data, want, strlen(want)) == 0, "store %zu: error %s", i,
			   cases[i].error);
		}
	}
	http_error_method(resp, "GET, POST", 0);
	is_int(resp->status, 405, "method: 405");
	is_str(resp_hdr(resp, "Allow"), "GET, POST", "method: Allow");
	is_str(resp_hdr(resp, "Content-Type"), "application/json", "method: JSON");
	http_error_method(resp, "POST", 1);
	is_str(resp_hdr(resp, "Allow"), "POST", "method html: Allow");
	is_str(resp_hdr(resp, "Content-Type"), "text/html; charset=utf-8", "method html: type");
	http_error_method(resp, "GET\r\nX-Evil: 1", 1);
	ok(resp_hdr(resp, "Allow") == NULL && resp_hdr(resp, "X-Evil") == NULL,
	   "method: injected Allow refused");
	is_str(http_reason(413), "Content Too Large", "reason 413");
	is_str(http_reason(302), "Found", "reason 302");
	is_str(http_reason(799), "Unknown", "reason unknown");
	http_resp_free(resp);
	free(resp);
}

/* ---- the CGI path: environment, stdin and stdout ---- */

static void
cgi_env(const char *method, const char *length)
{
	setenv("REQUEST_METHOD", method, 1);
	setenv("REQUEST_URI", "/oauth/token?x=1", 1);
	setenv("QUERY_STRING", "x=1", 1);
	setenv("CONTENT_TYPE", "application/x-www-form-urlencoded", 1);
	setenv("REMOTE_ADDR", "127.0.0.1", 1);
	if (length != NULL)
		setenv("CONTENT_LENGTH", length, 1);
	else
		unsetenv("CONTENT_LENGTH");
}

/* Send resp for req (CGI) and return what reached stdout. */
static size_t
cgi_send(struct http_req *req, struct http_resp *resp, int *rc, char *out, size_t outsz)
{
	struct capture c;

	if (capture_begin(&c) != 0) {
		*rc = -99;
		out[0] = '\0';
		return 0;
	}
	*rc = http_send(req, resp);
	return capture_end(&c, out, outsz);
}

static void
test_cgi_roundtrip(void)
{
	static const char body[] = "grant_type=authorization_code&code=abc%2B1";
	static const char want[] =
		"Status: 200 OK\r\n"
		"X-Test: 1\r\n"
		"Content-Type: text/plain; charset=utf-8\r\n"
		"X-Content-Type-Options: nosniff\r\n"
		"Cache-Control: no-store\r\n"
		"Content-Length: 5\r\n"
		"\r\n"
		"hello";
	struct http_resp *resp = malloc(sizeof(*resp));
	struct http_req req;
	struct http_form f;
	char len[16], out[4096];
	size_t n;
	int rc;

	snprintf(len, sizeof(len), "%zu", sizeof(body) - 1);
	cgi_env("POST", len);
	feed_stdin(body, sizeof(body) - 1);
	http_req_init(&req, NULL, NULL, NULL);
	is_str(req.method, "POST", "cgi: method from environ");
	is_str(req.path, "/oauth/token", "cgi: path from environ");
	is_str(req.remote_addr, "127.0.0.1", "cgi: remote_addr");
	is_int(http_read_body(&req, 1024), HTTP_OK, "cgi: body read");
	is_int(req.bodylen, sizeof(body) - 1, "cgi: body length");
	is_str(req.body, body, "cgi: body bytes");
	is_int(http_read_body(&req, 1024), HTTP_OK, "cgi: second read_body is a no-op");
	is_int(http_read_body(&req, 10), HTTP_E_TOO_LARGE, "cgi: body already read, over new cap");
	is_int(http_form_parse(req.body, req.bodylen, 0, &f), HTTP_OK, "cgi: body parses");
	is_str(http_form_get(&f, "code", NULL), "abc+1", "cgi: form value");
	http_form_free(&f);

	http_resp_init(resp);
	http_resp_header(resp, "X-Test", "1");
	buf_puts(&resp->body, "hello");
	n = cgi_send(&req, resp, &rc, out, sizeof(out));
	is_int(rc, 0, "cgi: send ok");
	is_int(n, sizeof(want) - 1, "cgi: bytes written");
	is_str(out, want, "cgi: exact response");
	ok(req.headers_sent, "cgi: headers_sent set");
	n = cgi_send(&req, resp, &rc, out, sizeof(out));
	ok(rc == -1 && n == 0, "cgi: second send refused, nothing written");
	http_resp_free(resp);
	http_req_free(&req);
	ok(req.body == NULL && req.bodylen == 0, "cgi: req_free clears the body");
	free(resp);
}

static void
test_cgi_body_errors(void)
{
	static const struct {
		const char *length; /* NULL: unset */
		const char *stdin_data;
		size_t max;
		int rc;
		int untouched; /* stdin must still hold stdin_data afterwards */
	} cases[] = {
		{"1000", "abc", 100, HTTP_E_TOO_LARGE, 1},
		{"101", "abc", 100, HTTP_E_TOO_LARGE, 1},
		{"18446744073709551615", "abc", 100, HTTP_E_TOO_LARGE, 1},
		{"99999999999999999999999999", "abc", 100, HTTP_E_TOO_LARGE, 1},
		{"-1", "abc", 100, HTTP_E_MALFORMED, 1},
		{"+3", "abc", 100, HTTP_E_MALFORMED, 1},
		{" 3", "abc", 100, HTTP_E_MALFORMED, 1},
		{"3 ", "abc", 100, HTTP_E_MALFORMED, 1},
		{"0x3", "abc", 100, HTTP_E_MALFORMED, 1},
		{"3a", "abc", 100, HTTP_E_MALFORMED, 1},
		{"1e2", "abc", 100, HTTP_E_MALFORMED, 1},
		{"99999999999999999999x", "abc", 100, HTTP_E_MALFORMED, 1},
		{"10", "short", 100, HTTP_E_IO, 0},
		{"1", "", 100, HTTP_E_IO, 0},
		{"100", "abc", 100, HTTP_E_IO, 0},
	};
	struct http_req req;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char left[16];
		ssize_t r;

		cgi_env("POST", cases[i].length);
		feed_stdin(cases[i].stdin_data, strlen(cases[i].stdin_data));
		http_req_init(&req, NULL, NULL, NULL);
		is_int(http_read_body(&req, cases[i].max), cases[i].rc, "body %zu (\"%s\"): rc", i,
		       cases[i].length ? cases[i].length : "(unset)");
		ok(req.body == NULL && req.bodylen == 0, "body %zu: no body on error", i);
		if (cases[i].untouched) {
			r = read(STDIN_FILENO, left, sizeof(left));
			ok(r == (ssize_t)strlen(cases[i].stdin_data) &&
			   memcmp(left, cases[i].stdin_data, (size_t)r) == 0,
			   "body %zu: nothing read before refusing", i);
		}
		http_req_free(&req);
	}
}

static void
test_cgi_body_ok(void)
{
	static const struct {
		const char *method, *length, *stdin_data, *want;
	} cases[] = {
		{"POST", NULL, "ignored", ""},
		{"POST", "", "ignored", ""},
		{"POST", "0", "ignored", ""},
		{"POST", "007", "1234567xyz", "1234567"},
		{"PUT", "3", "abcdef", "abc"},
	};
	struct http_req req;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cgi_env(cases[i].method, cases[i].length);
		feed_stdin(cases[i].stdin_data, strlen(cases[i].stdin_data));
		http_req_init(&req, NULL, NULL, NULL);
		is_int(http_read_body(&req, 100), HTTP_OK, "body ok %zu: rc", i);
		ok(req.body != NULL, "body ok %zu: body is set", i);
		is_str(req.body, cases[i].want, "body ok %zu: bytes", i);
		is_int(req.bodylen, strlen(cases[i].want), "body ok %zu: length", i);
		http_req_free(&req);
	}
}

static void
test_cgi_framing(void)
{
	static const char *const tail = "X-Content-Type-Options: nosniff\r\n"
					"Cache-Control: no-store\r\n";
	struct http_resp *resp = malloc(sizeof(*resp));
	struct http_req req;
	char out[8192], want[512];
	int rc;

	/* 204: neither body nor Content-Length (RFC 9110 §8.6). */
	cgi_env("DELETE", NULL);
	http_req_init(&req, NULL, NULL, NULL);
	http_resp_init(resp);
	resp->status = 204;
	cgi_send(&req, resp, &rc, out, sizeof(out));
	snprintf(want, sizeof(want), "Status: 204 No Content\r\n%s\r\n", tail);
	is_str(out, want, "cgi: 204 framing");
	http_resp_free(resp);

	/* HEAD: Content-Length of the GET body, no body. */
	cgi_env("HEAD", NULL);
	http_req_init(&req, NULL, NULL, NULL);
	http_resp_init(resp);
	http_resp_header(resp, "Content-Type", "application/json");
	http_resp_header(resp, "Cache-Control", "max-age=3600");
	buf_puts(&resp->body, "{}");
	cgi_send(&req, resp, &rc, out, sizeof(out));
	is_str(out,
	       "Status: 200 OK\r\nContent-Type: application/json\r\nCache-Control: max-age=3600\r\n"
	       "X-Content-Type-Options: nosniff\r\nContent-Length: 2\r\n\r\n",
	       "cgi: HEAD framing, handler Cache-Control kept");
	http_resp_free(resp);

	/* Empty 200: no default Content-Type; bad status becomes 500. */
	cgi_env("GET", NULL);
	http_req_init(&req, NULL, NULL, NULL);
	http_resp_init(resp);
	resp->status = 0;
	cgi_send(&req, resp, &rc, out, sizeof(out));
	snprintf(want, sizeof(want), "Status: 500 Internal Server Error\r\n%sContent-Length: 0\r\n\r\n",
		 tail);
	is_str(out, want, "cgi: invalid status sent as 500, empty body");
	http_resp_free(resp);

	/* A body that overflowed its cap is never sent truncated. */
	http_req_init(&req, NULL, NULL, NULL);
	http_resp_init(resp);
	buf_init(&resp->body, 4);
	http_resp_header(resp, "Content-Type", "application/json");
	buf_puts(&resp->body, "{\"partial\":");
	cgi_send(&req, resp, &rc, out, sizeof(out));
	ok(strncmp(out, "Status: 500 Internal Server Error\r\nContent-Type: text/html; charset=utf-8\r\n",
		   75) == 0,
	   "cgi: overflowed body replaced by a 500 page");
	ok(strstr(out, "partial") == NULL && strstr(out, "application/json") == NULL,
	   "cgi: nothing of the overflowed response leaks");
	http_resp_free(resp);
	free(resp);
}

static void
test_cgi_error_page(void)
{
	struct http_resp *resp = malloc(sizeof(*resp));
	struct http_req req;
	struct buf want;
	char out[8192];
	int rc;

	cgi_env("POST", NULL);
	http_req_init(&req, NULL, NULL, NULL);
	http_resp_init(resp);
	http_error_method(resp, "GET, POST", 1);
	buf_init(&want, 0);
	buf_printf(&want,
		   "Status: 405 Method Not Allowed\r\n"
		   "Content-Type: text/html; charset=utf-8\r\n"
		   "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; "
		   "frame-ancestors 'none'\r\n"
		   "X-Frame-Options: DENY\r\n"
		   "Referrer-Policy: no-referrer\r\n"
		   "Allow: GET, POST\r\n"
		   "X-Content-Type-Options: nosniff\r\n"
		   "Cache-Control: no-store\r\n"
		   "Content-Length: %zu\r\n\r\n%s",
		   resp->body.len, resp->body.data);
	cgi_send(&req, resp, &rc, out, sizeof(out));
	is_int(rc, 0, "cgi: error page sent");
	is_str(out, want.data, "cgi: exact 405 page");
	buf_free(&want);
	http_resp_free(resp);

	http_req_init(&req, NULL, NULL, NULL);
	http_resp_init(resp);
	http_error_oauth(resp, 401, "invalid_client", "unknown client");
	cgi_send(&req, resp, &rc, out, sizeof(out));
	is_str(out,
	       "Status: 401 Unauthorized\r\n"
	       "Content-Type: application/json\r\n"
	       "Cache-Control: no-store\r\n"
	       "WWW-Authenticate: Basic realm=\"mcpgate\"\r\n"
	       "X-Content-Type-Options: nosniff\r\n"
	       "Content-Length: 63\r\n\r\n"
	       "{\"error\":\"invalid_client\",\"error_description\":\"unknown client\"}",
	       "cgi: exact OAuth error");
	http_resp_free(resp);
	free(resp);
}

static void
test_cgi_stream(void)
{
	struct http_resp *resp = malloc(sizeof(*resp));
	struct http_req req;
	struct capture c;
	char out[4096];
	int rc_w0, rc_h, rc_w, rc_f, rc_h2, rc_s;

	cgi_env("GET", NULL);
	http_req_init(&req, NULL, NULL, NULL);
	http_resp_init(resp);
	http_resp_header(resp, "Content-Type", "text/event-stream");
	http_resp_header(resp, "Cache-Control", "no-cache");
	if (capture_begin(&c) != 0) {
		ok(0, "capture");
		free(resp);
		return;
	}
	rc_w0 = http_write(&req, "early", 5);
	rc_h = http_send_headers(&req, resp);
	rc_w = http_write(&req, "data: 1\n\n", 9);
	rc_f = http_flush(&req);
	rc_h2 = http_send_headers(&req, resp);
	rc_s = http_send(&req, resp);
	capture_end(&c, out, sizeof(out));
	is_int(rc_w0, -1, "sse: write before headers refused");
	is_int(rc_h, 0, "sse: headers sent");
	is_int(rc_w, 0, "sse: write");
	is_int(rc_f, 0, "sse: flush");
	ok(rc_h2 == -1 && rc_s == -1, "sse: headers cannot be sent twice");
	is_str(out,
	       "Status: 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
	       "X-Content-Type-Options: nosniff\r\n\r\ndata: 1\n\n",
	       "sse: exact stream, no Content-Length");
	http_resp_free(resp);
	free(resp);
}

/* ---- the FastCGI path, against libfcgi over loopback ----
 * One process plays both sides: connect() completes from the listen backlog
 * before FCGX_Accept_r runs, and every message fits the socket buffers. */

enum { FCGI_BEGIN = 1, FCGI_END = 3, FCGI_PARAMS = 4, FCGI_STDIN = 5, FCGI_STDOUT = 6 };

static void
fcgi_record(struct buf *b, int type, const void *p, size_t n)
{
	unsigned char h[8] = {1, (unsigned char)type, 0, 1, (unsigned char)(n >> 8),
			      (unsigned char)(n & 0xff), 0, 0};

	buf_append(b, h, sizeof(h));
	buf_append(b, p, n);
}

static void
fcgi_len(struct buf *b, size_t n)
{
	unsigned char l[4] = {(unsigned char)(0x80 | n >> 24), (unsigned char)(n >> 16),
			      (unsigned char)(n >> 8), (unsigned char)n};

	if (n < 128)
		buf_append(b, l + 3, 1);
	else
		buf_append(b, l, 4);
}

/* BEGIN_REQUEST (responder), params "NAME=value" until NULL, stdin. */
static void
fcgi_build(struct buf *b, const char *const *params, const char *body, size_t bodylen)
{
	static const unsigned char begin[8] = {0, 1, 0, 0, 0, 0, 0, 0};
	struct buf pb;

	buf_init(&pb, 0);
	for (size_t i = 0; params[i] != NULL; i++) {
		const char *eq = strchr(params[i], '=');
		size_t nl = (size_t)(eq - params[i]);

		fcgi_len(&pb, nl);
		fcgi_len(&pb, strlen(eq + 1));
		buf_append(&pb, params[i], nl);
		buf_puts(&pb, eq + 1);
	}
	fcgi_record(b, FCGI_BEGIN, begin, sizeof(begin));
	fcgi_record(b, FCGI_PARAMS, pb.data, pb.len);
	fcgi_record(b, FCGI_PARAMS, "", 0);
	if (bodylen > 0)
		fcgi_record(b, FCGI_STDIN, body, bodylen);
	fcgi_record(b, FCGI_STDIN, "", 0);
	buf_free(&pb);
}

/* Concatenate the STDOUT records of a response; -1 if malformed or unended. */
static int
fcgi_stdout(const unsigned char *p, size_t n, struct buf *out)
{
	int ended = 0;

	while (n >= 8) {
		size_t len = (size_t)p[4] << 8 | p[5], rec = 8 + len + p[6];

		if (rec > n)
			return -1;
		if (p[1] == FCGI_STDOUT)
			buf_append(out, p + 8, len);
		if (p[1] == FCGI_END)
			ended = 1;
		p += rec;
		n -= rec;
	}
	return n == 0 && ended ? 0 : -1;
}

struct fcgi_peer {
	int lfd, cfd;
	FCGX_Request r;
};

/* Listen on 127.0.0.1:0, connect, send the request, accept it. */
static int
fcgi_open(struct fcgi_peer *fp, const struct buf *rq)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fp->lfd = socket(AF_INET, SOCK_STREAM, 0);
	fp->cfd = socket(AF_INET, SOCK_STREAM, 0);
	if (fp->lfd < 0 || fp->cfd < 0 || bind(fp->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(fp->lfd, 4) != 0 || getsockname(fp->lfd, (struct sockaddr *)&sa, &sl) != 0 ||
	    connect(fp->cfd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		return -1;
	if (write(fp->cfd, rq->data, rq->len) != (ssize_t)rq->len)
		return -1;
	if (FCGX_InitRequest(&fp->r, fp->lfd, 0) != 0 || FCGX_Accept_r(&fp->r) != 0)
		return -1;
	return 0;
}

/* Finish the request and collect what the client received. */
static int
fcgi_close(struct fcgi_peer *fp, struct buf *out)
{
	unsigned char raw[16384];
	size_t n = 0;
	ssize_t r;

	/* libfcgi lingers up to 2 s on close until the peer has shut its side. */
	if (fp->cfd >= 0)
		shutdown(fp->cfd, SHUT_WR);
	FCGX_Finish_r(&fp->r);
	for (int guard = 0; guard < 1000 && fp->cfd >= 0 && n < sizeof(raw); guard++) {
		if ((r = read(fp->cfd, raw + n, sizeof(raw) - n)) <= 0)
			break;
		n += (size_t)r;
	}
	FCGX_Free(&fp->r, 1);
	if (fp->cfd >= 0)
		close(fp->cfd);
	close(fp->lfd);
	return out != NULL ? fcgi_stdout(raw, n, out) : 0;
}

static void
test_fcgi_roundtrip(void)
{
	static const char body[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}";
	static const char want[] = "Status: 202 Accepted\r\n"
				   "Content-Type: application/json\r\n"
				   "X-Content-Type-Options: nosniff\r\n"
				   "Cache-Control: no-store\r\n"
				   "Content-Length: 11\r\n"
				   "\r\n"
				   "{\"ok\":true}";
	const char *params[] = {
		"REQUEST_METHOD=POST", "REQUEST_URI=/mcp?session=1", "QUERY_STRING=session=1",
		"CONTENT_TYPE=application/json", "CONTENT_LENGTH=40",
		"HTTP_AUTHORIZATION=Bearer tok", "REMOTE_ADDR=127.0.0.1", NULL,
	};
	struct http_resp *resp = malloc(sizeof(*resp));
	struct fcgi_peer fp;
	struct http_req req;
	struct buf rq, out;

	_Static_assert(sizeof(body) - 1 == 40, "CONTENT_LENGTH above");
	buf_init(&rq, 0);
	buf_init(&out, 0);
	fcgi_build(&rq, params, body, sizeof(body) - 1);
	if (!ok(fcgi_open(&fp, &rq) == 0, "fcgi: request accepted")) {
		buf_free(&rq);
		free(resp);
		return;
	}
	http_req_init(&req, fp.r.envp, fp.r.in, fp.r.out);
	is_str(req.path, "/mcp", "fcgi: path");
	is_str(http_header(&req, "Authorization"), "Bearer tok", "fcgi: header from params");
	ok(http_content_type_is(&req, "application/json"), "fcgi: content type");
	is_int(http_read_body(&req, 4096), HTTP_OK, "fcgi: body read");
	is_str(req.body, body, "fcgi: body bytes");
	http_resp_init(resp);
	resp->status = 202;
	http_resp_header(resp, "Content-Type", "application/json");
	buf_puts(&resp->body, "{\"ok\":true}");
	is_int(http_send(&req, resp), 0, "fcgi: send");
	http_req_free(&req);
	http_resp_free(resp);
	is_int(fcgi_close(&fp, &out), 0, "fcgi: well-formed reply with END_REQUEST");
	is_str(out.data, want, "fcgi: exact response");
	buf_free(&out);
	buf_free(&rq);
	free(resp);
}

static void
test_fcgi_body_errors(void)
{
	static const struct {
		const char *length, *stdin_data;
		size_t max;
		int rc;
	} cases[] = {
		{"CONTENT_LENGTH=5000", "abc", 100, HTTP_E_TOO_LARGE},
		{"CONTENT_LENGTH=10", "abc", 100, HTTP_E_IO},
		{"CONTENT_LENGTH=1O", "abc", 100, HTTP_E_MALFORMED},
		{"CONTENT_LENGTH=3", "abc", 100, HTTP_OK},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *params[] = {"REQUEST_METHOD=POST", cases[i].length, NULL};
		struct fcgi_peer fp;
		struct http_req req;
		struct buf rq;

		buf_init(&rq, 0);
		fcgi_build(&rq, params, cases[i].stdin_data, strlen(cases[i].stdin_data));
		if (ok(fcgi_open(&fp, &rq) == 0, "fcgi body %zu: accepted", i)) {
			http_req_init(&req, fp.r.envp, fp.r.in, fp.r.out);
			is_int(http_read_body(&req, cases[i].max), cases[i].rc, "fcgi body %zu (%s)", i,
			       cases[i].length);
			http_req_free(&req);
			fcgi_close(&fp, NULL);
		}
		buf_free(&rq);
	}
}

/* Once the client has gone, writes and flushes start failing (bounded). */
static void
test_fcgi_client_gone(void)
{
	const char *params[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/sse", NULL};
	struct http_resp *resp = malloc(sizeof(*resp));
	struct fcgi_peer fp;
	struct http_req req;
	struct buf rq;
	char chunk[1024];
	int tries, gone = 0;

	buf_init(&rq, 0);
	fcgi_build(&rq, params, NULL, 0);
	if (ok(fcgi_open(&fp, &rq) == 0, "fcgi gone: accepted")) {
		http_req_init(&req, fp.r.envp, fp.r.in, fp.r.out);
		http_resp_init(resp);
		http_resp_header(resp, "Content-Type", "text/event-stream");
		is_int(http_send_headers(&req, resp), 0, "fcgi gone: headers while connected");
		close(fp.cfd);
		fp.cfd = -1;
		memset(chunk, ':', sizeof(chunk));
		for (tries = 0; tries < 200 && !gone; tries++)
			gone = http_write(&req, chunk, sizeof(chunk)) != 0 || http_flush(&req) != 0;
		ok(gone, "fcgi gone: write/flush report the closed client (after %d tries)", tries);
		http_resp_free(resp);
		http_req_free(&req);
		fcgi_close(&fp, NULL);
	}
	buf_free(&rq);
	free(resp);
}

int
main(void)
{
	/* Unbuffered, so stdin holds exactly what http_read_body did not read. */
	setvbuf(stdin, NULL, _IONBF, 0);
	test_form_table();
	test_form_limits();
	test_form_random();
	test_req_env();
	test_req_path();
	test_content_type();
	test_cookies();
	test_resp_header();
	test_error_html();
	test_error_oauth();
	test_error_store_method();
	test_cgi_roundtrip();
	test_cgi_body_errors();
	test_cgi_body_ok();
	test_cgi_framing();
	test_cgi_error_page();
	test_cgi_stream();
	/* A vanished client must show up as an error, not kill the process. */
	signal(SIGPIPE, SIG_IGN);
	if (FCGX_Init() != 0) {
		ok(0, "FCGX_Init");
		return tap_done();
	}
	test_fcgi_roundtrip();
	test_fcgi_body_errors();
	test_fcgi_client_gone();
	return tap_done();
}
