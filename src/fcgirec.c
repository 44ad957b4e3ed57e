/*
 * fcgirec: FastCGI 1.0 record parsing and encoding.  See fcgirec.h.
 *
 * The parser is a byte-at-a-time state machine over (header, content,
 * padding): it never needs a whole record in memory, so a 64 KiB record
 * costs nothing, and input split at any byte boundary parses the same.
 * Only a request's parameters are gathered (at most FCGIREC_PARAMS_MAX),
 * because they are needed all at once.
 */
#include "fcgirec.h"

#include <fastcgi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
fcgirec_init(struct fcgirec *p)
{
	memset(p, 0, sizeof(*p));
	p->max_conns = 1;
}

static void
fcgirec_drop_params(struct fcgirec *p)
{
	free(p->params);
	p->params = NULL;
	p->params_len = p->params_cap = 0;
}

void
fcgirec_free(struct fcgirec *p)
{
	unsigned max;

	if (p == NULL)
		return;
	max = p->max_conns;
	fcgirec_drop_params(p);
	free(p->env);
	fcgirec_init(p);
	p->max_conns = max;
}

static enum fcgirec_event
fcgirec_fail(struct fcgirec *p, struct fcgirec_ev *ev, const char *why)
{
	p->dead = 1;
	ev->type = FCGIREC_ERROR;
	ev->error = why;
	return FCGIREC_ERROR;
}

static void
fcgirec_put_header(unsigned char *h, unsigned type, unsigned id, size_t clen)
{
	h[0] = FCGI_VERSION_1;
	h[1] = (unsigned char)type;
	h[2] = (unsigned char)(id >> 8);
	h[3] = (unsigned char)id;
	h[4] = (unsigned char)(clen >> 8);
	h[5] = (unsigned char)clen;
	h[6] = 0; /* no padding: alignment is only a recommendation (§3.3) */
	h[7] = 0;
}

/* FCGI_END_REQUEST body: appStatus (4 bytes), protocolStatus, reserved. */
static size_t
fcgirec_put_end(unsigned char *out, unsigned id, unsigned app_status, unsigned proto)
{
	fcgirec_put_header(out, FCGI_END_REQUEST, id, 8);
	out[8] = (unsigned char)(app_status >> 24);
	out[9] = (unsigned char)(app_status >> 16);
	out[10] = (unsigned char)(app_status >> 8);
	out[11] = (unsigned char)app_status;
	out[12] = (unsigned char)proto;
	memset(out + 13, 0, 3);
	return 16;
}

/* ---- name-value pairs (§3.4) ---- */

/* One length: 1 byte when < 128, else 4 bytes with the top bit set. */
static int
fcgirec_nvlen(const unsigned char *s, size_t n, size_t *pos, size_t *out)
{
	if (*pos >= n)
		return -1;
	if (s[*pos] < 0x80) {
		*out = s[(*pos)++];
		return 0;
	}
	if (n - *pos < 4)
		return -1;
	*out = ((size_t)(s[*pos] & 0x7f) << 24) | ((size_t)s[*pos + 1] << 16) |
	       ((size_t)s[*pos + 2] << 8) | s[*pos + 3];
	*pos += 4;
	return 0;
}

/* Walk the pairs in p->params.  With env == NULL only count them and the
 * bytes their "NAME=VALUE\0" strings need; else write them into area. */
static int
fcgirec_pairs(const struct fcgirec *p, size_t *npairs, size_t *bytes, char **env, char *area)
{
	const unsigned char *s = (const unsigned char *)p->params;
	size_t pos = 0, n = p->params_len, k = 0, used = 0;

	while (pos < n) {
		size_t nl, vl;

		if (fcgirec_nvlen(s, n, &pos, &nl) != 0 || fcgirec_nvlen(s, n, &pos, &vl) != 0 ||
		    nl > n - pos || vl > n - pos - nl)
			return -1;
		/* An empty name, or '=' or NUL in one, would let one parameter
		 * pose as another in a "NAME=VALUE" lookup; NUL would cut a value. */
		if (nl == 0 || memchr(s + pos, '=', nl) != NULL || memchr(s + pos, '\0', nl + vl) != NULL)
			return -1;
		if (++k > FCGIREC_ENV_MAX)
			return -1;
		if (env != NULL) {
			env[k - 1] = area + used;
			memcpy(area + used, s + pos, nl);
			area[used + nl] = '=';
			memcpy(area + used + nl + 1, s + pos + nl, vl);
			area[used + nl + 1 + vl] = '\0';
		}
		used += nl + vl + 2;
		pos += nl + vl;
	}
	*npairs = k;
	*bytes = used;
	return 0;
}

/* Turn the gathered PARAMS into p->env (one allocation). */
static int
fcgirec_build_env(struct fcgirec *p)
{
	size_t n, bytes, n2, bytes2;
	char **env;

	if (fcgirec_pairs(p, &n, &bytes, NULL, NULL) != 0)
		return -1;
	env = malloc((n + 1) * sizeof(*env) + bytes);
	if (env == NULL)
		return -1;
	if (fcgirec_pairs(p, &n2, &bytes2, env, (char *)(env + n + 1)) != 0) {
		free(env);
		return -1;
	}
	env[n] = NULL;
	free(p->env);
	p->env = env;
	fcgirec_drop_params(p);
	return 0;
}

/* ---- management answers ---- */

static size_t
fcgirec_put_pair(unsigned char *out, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value); /* both < 128 */

	out[0] = (unsigned char)nl;
	out[1] = (unsigned char)vl;
	memcpy(out + 2, name, nl);
	memcpy(out + 2 + nl, value, vl);
	return 2 + nl + vl;
}

/* FCGI_GET_VALUES (§4.1): answered with every variable we know, whatever
 * was asked: a web server looks up the ones it wants by name. */
static enum fcgirec_event
fcgirec_values(struct fcgirec *p, struct fcgirec_ev *ev)
{
	char conns[16];
	size_t n = 8;
	int k = snprintf(conns, sizeof(conns), "%u", p->max_conns);

	if (k < 0 || (size_t)k >= sizeof(conns))
		return fcgirec_fail(p, ev, "internal error formatting FCGI_MAX_CONNS");
	n += fcgirec_put_pair(ev->reply + n, FCGI_MAX_CONNS, conns);
	n += fcgirec_put_pair(ev->reply + n, FCGI_MAX_REQS, conns);
	n += fcgirec_put_pair(ev->reply + n, FCGI_MPXS_CONNS, "0");
	fcgirec_put_header(ev->reply, FCGI_GET_VALUES_RESULT, 0, n - 8);
	ev->reply_len = n;
	ev->type = FCGIREC_REPLY;
	return FCGIREC_REPLY;
}

static enum fcgirec_event
fcgirec_unknown(unsigned type, struct fcgirec_ev *ev)
{
	fcgirec_put_header(ev->reply, FCGI_UNKNOWN_TYPE, 0, 8);
	memset(ev->reply + 8, 0, 8);
	ev->reply[8] = (unsigned char)type;
	ev->reply_len = 16;
	ev->type = FCGIREC_REPLY;
	return FCGIREC_REPLY;
}

/* ---- the state machine ---- */

/* A complete FCGI_BEGIN_REQUEST body (§5.1). */
static enum fcgirec_event
fcgirec_begin(struct fcgirec *p, struct fcgirec_ev *ev)
{
	unsigned role = (unsigned)p->begin[0] << 8 | p->begin[1];
	unsigned proto = FCGI_REQUEST_COMPLETE;

	if (p->req_id != 0)
		proto = FCGI_CANT_MPX_CONN;
	else if (role != FCGI_RESPONDER)
		proto = FCGI_UNKNOWN_ROLE;
	if (proto != FCGI_REQUEST_COMPLETE) {
		ev->reply_len = fcgirec_put_end(ev->reply, p->id, 0, proto);
		ev->type = FCGIREC_REPLY;
		return FCGIREC_REPLY;
	}
	p->req_id = p->id;
	p->keep_conn = (p->begin[2] & FCGI_KEEP_CONN) != 0;
	p->params_done = 0;
	return FCGIREC_NONE;
}

/* Check a complete header and set up the record. */
static enum fcgirec_event
fcgirec_header(struct fcgirec *p, struct fcgirec_ev *ev)
{
	const unsigned char *h = p->hdr;

	if (h[0] != FCGI_VERSION_1)
		return fcgirec_fail(p, ev, "not a FastCGI version 1 record");
	p->type = h[1];
	p->id = (unsigned)h[2] << 8 | h[3];
	p->rec_clen = p->clen = (size_t)h[4] << 8 | h[5];
	p->plen = h[6];
	p->blen = 0;
	if (p->type == FCGI_BEGIN_REQUEST && (p->clen != 8 || p->id == FCGI_NULL_REQUEST_ID))
		return fcgirec_fail(p, ev, "malformed FCGI_BEGIN_REQUEST");
	if (p->type == FCGI_PARAMS && p->id == p->req_id && !p->params_done &&
	    p->clen > FCGIREC_PARAMS_MAX - p->params_len)
		return fcgirec_fail(p, ev, "request parameters over the limit");
	return FCGIREC_NONE;
}

static int
fcgirec_active(const struct fcgirec *p)
{
	return p->req_id != 0 && p->id == p->req_id;
}

static int
fcgirec_params_add(struct fcgirec *p, const unsigned char *d, size_t n)
{
	if (p->params_len + n > p->params_cap) {
		/* The header check bounds the total; grow to what is known. */
		size_t cap = p->params_len + p->rec_clen;
		char *np;

		if (cap < p->params_len + n)
			return -1;
		np = realloc(p->params, cap);
		if (np == NULL)
			return -1;
		p->params = np;
		p->params_cap = cap;
	}
	memcpy(p->params + p->params_len, d, n);
	p->params_len += n;
	return 0;
}

/* n bytes of the current record's content. */
static enum fcgirec_event
fcgirec_content(struct fcgirec *p, const unsigned char *d, size_t n, struct fcgirec_ev *ev)
{
	if (p->type == FCGI_BEGIN_REQUEST) {
		memcpy(p->begin + p->blen, d, n); /* clen is 8: checked */
		p->blen += n;
	} else if (p->type == FCGI_PARAMS && fcgirec_active(p) && !p->params_done) {
		if (fcgirec_params_add(p, d, n) != 0)
			return fcgirec_fail(p, ev, "out of memory for request parameters");
	} else if (p->type == FCGI_STDIN && fcgirec_active(p)) {
		ev->type = FCGIREC_STDIN;
		ev->data = d;
		ev->len = n;
		return FCGIREC_STDIN;
	}
	return FCGIREC_NONE; /* records of other requests are ignored (§3.3) */
}

/* The current record is complete (content and padding). */
static enum fcgirec_event
fcgirec_record_end(struct fcgirec *p, struct fcgirec_ev *ev)
{
	switch (p->type) {
	case FCGI_BEGIN_REQUEST:
		return fcgirec_begin(p, ev);
	case FCGI_ABORT_REQUEST:
		if (!fcgirec_active(p))
			return FCGIREC_NONE;
		ev->type = FCGIREC_ABORT;
		return FCGIREC_ABORT;
	case FCGI_PARAMS:
		if (!fcgirec_active(p) || p->params_done || p->rec_clen != 0)
			return FCGIREC_NONE;
		if (fcgirec_build_env(p) != 0)
			return fcgirec_fail(p, ev, "malformed request parameters");
		p->params_done = 1;
		ev->type = FCGIREC_PARAMS;
		return FCGIREC_PARAMS;
	case FCGI_STDIN:
		if (!fcgirec_active(p) || p->rec_clen != 0)
			return FCGIREC_NONE;
		ev->type = FCGIREC_STDIN; /* len 0: end of input */
		return FCGIREC_STDIN;
	case FCGI_DATA:
		return FCGIREC_NONE; /* only for the Filter role */
	case FCGI_GET_VALUES:
		return fcgirec_values(p, ev);
	default:
		return fcgirec_unknown(p->type, ev);
	}
}

static size_t
fcgirec_min(size_t a, size_t b)
{
	return a < b ? a : b;
}

static void
fcgirec_ev_reset(struct fcgirec_ev *ev)
{
	/* reply[] is written only when reply_len says so: not cleared. */
	ev->type = FCGIREC_NONE;
	ev->id = 0;
	ev->data = NULL;
	ev->len = ev->reply_len = 0;
	ev->error = NULL;
}

/* Skip over content or padding still owed: 1 when bytes were consumed. */
static int
fcgirec_skip(size_t *owed, size_t *i, size_t len)
{
	size_t n = fcgirec_min(*owed, len - *i);

	*i += n;
	*owed -= n;
	return n > 0;
}

enum fcgirec_event
fcgirec_feed(struct fcgirec *p, const unsigned char *in, size_t len, size_t *used,
	     struct fcgirec_ev *ev)
{
	enum fcgirec_event r = FCGIREC_NONE;
	size_t i = 0, n;

	fcgirec_ev_reset(ev);
	*used = 0;
	if (p->dead)
		return fcgirec_fail(p, ev, "connection already failed");
	for (;;) {
		if (p->hlen < sizeof(p->hdr)) {
			n = fcgirec_min(sizeof(p->hdr) - p->hlen, len - i);
			if (n > 0)
				memcpy(p->hdr + p->hlen, in + i, n);
			p->hlen += n;
			i += n;
			if (p->hlen < sizeof(p->hdr) || (r = fcgirec_header(p, ev)) != FCGIREC_NONE)
				break;
		}
		if (p->clen > 0) {
			n = fcgirec_min(p->clen, len - i);
			if (n == 0)
				break;
			r = fcgirec_content(p, in + i, n, ev);
			i += n;
			p->clen -= n;
			if (r != FCGIREC_NONE)
				break;
		} else if (p->plen > 0) {
			if (!fcgirec_skip(&p->plen, &i, len))
				break;
		} else {
			p->hlen = 0;
			if ((r = fcgirec_record_end(p, ev)) != FCGIREC_NONE)
				break;
		}
	}
	ev->id = p->id;
	*used = i;
	return r;
}

char **
fcgirec_env(const struct fcgirec *p)
{
	return p->params_done ? p->env : NULL;
}

unsigned
fcgirec_request_id(const struct fcgirec *p)
{
	return p->req_id;
}

int
fcgirec_keep_conn(const struct fcgirec *p)
{
	return p->keep_conn;
}

void
fcgirec_drop_env(struct fcgirec *p)
{
	free(p->env);
	p->env = NULL;
}

void
fcgirec_end_request(struct fcgirec *p)
{
	fcgirec_drop_params(p);
	free(p->env);
	p->env = NULL;
	p->req_id = 0;
	p->keep_conn = 0;
	p->params_done = 0;
}

/* ---- encoding ---- */

size_t
fcgirec_overhead(size_t n)
{
	return FCGI_HEADER_LEN * ((n + FCGI_MAX_LENGTH - 1) / FCGI_MAX_LENGTH);
}

int
fcgirec_stdout(struct buf *b, unsigned id, const void *data, size_t n)
{
	const unsigned char *d = data;
	unsigned char h[FCGI_HEADER_LEN];

	while (n > 0) {
		size_t k = fcgirec_min(n, FCGI_MAX_LENGTH);

		fcgirec_put_header(h, FCGI_STDOUT, id, k);
		if (buf_append(b, h, sizeof(h)) != 0 || buf_append(b, d, k) != 0)
			return -1;
		d += k;
		n -= k;
	}
	return 0;
}

int
fcgirec_end(struct buf *b, unsigned id, unsigned app_status)
{
	unsigned char r[FCGI_HEADER_LEN + 16];

	fcgirec_put_header(r, FCGI_STDOUT, id, 0);
	fcgirec_put_end(r + FCGI_HEADER_LEN, id, app_status, FCGI_REQUEST_COMPLETE);
	return buf_append(b, r, sizeof(r));
}
