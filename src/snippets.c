/*
 * snippets: the snippet records.  See snippets.h for the contract.
 *
 * Record value (persisted; bump SNIPPET_FORMAT to change it):
 *   <format byte = 1><mtime: u64 big-endian seconds><UTF-8 content>
 */
#include "snippets.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "token.h"
#include "valid.h"

#define SNIPPET_FORMAT 1
/* A transaction callback's "grant revoked", distinct from every STORE_*. */
#define SNIPPET_TX_REVOKED 100

struct snippet_key {
	unsigned char buf[STORE_KEY_MAX];
	size_t len;
};

int
snippet_name_valid(const char *name, size_t len)
{
	if (name == NULL || len == 0 || len > SNIPPET_NAME_MAX || name[0] == '.')
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

int
snippet_content_check(const char *content, size_t len, size_t max)
{
	if (len > max || len > SNIPPET_CONTENT_LIMIT)
		return SNIPPET_TOO_BIG;
	if (len > 0 && (content == NULL || !valid_utf8(content, len)))
		return SNIPPET_BAD_TEXT;
	return SNIPPET_OK;
}

/* <ns> NUL [name]: with name NULL, the prefix of every key of ns. */
static int
snippet_key_make(struct snippet_key *k, const char *ns, const char *name)
{
	size_t nl = strlen(ns), ml = name != NULL ? strlen(name) : 0;

	if (name != NULL && !snippet_name_valid(name, ml))
		return SNIPPET_BAD_NAME;
	if (nl + 1 + ml > sizeof(k->buf))
		return SNIPPET_BAD_NAME;
	memcpy(k->buf, ns, nl);
	k->buf[nl] = '\0';
	memcpy(k->buf + nl + 1, name != NULL ? name : "", ml);
	k->len = nl + 1 + ml;
	return SNIPPET_OK;
}

static int
snippet_from_store(int rc)
{
	switch (rc) {
	case SNIPPET_TX_REVOKED: return SNIPPET_REVOKED;
	case STORE_OK: return SNIPPET_OK;
	case STORE_NOTFOUND: return SNIPPET_NOTFOUND;
	case STORE_BUSY: return SNIPPET_BUSY;
	default: return SNIPPET_ERROR;
	}
}

/* The grant check that opens every transaction. */
static int
snippet_live(struct store_txn *tx, const char *grant_id)
{
	int rc;

	if (grant_id == NULL)
		return STORE_OK;
	rc = token_grant_live_tx(tx, grant_id);
	return rc == STORE_NOTFOUND ? SNIPPET_TX_REVOKED : rc;
}

/* ---- get ------------------------------------------------------------------ */

struct snippet_get_arg {
	const char *grant_id;
	const struct snippet_key *k;
	struct snippet *out;
};

static int
snippet_decode(struct store_val *v, struct snippet *out)
{
	const unsigned char *p = v->data;
	uint64_t t = 0;

	if (v->len < SNIPPET_HDR_LEN || p[0] != SNIPPET_FORMAT)
		return STORE_ERROR;
	for (int i = 1; i < SNIPPET_HDR_LEN; i++)
		t = t << 8 | p[i];
	/* The store's buffer becomes the content: slide it over the header. */
	out->len = v->len - SNIPPET_HDR_LEN;
	memmove(v->data, p + SNIPPET_HDR_LEN, out->len);
	out->content = v->data;
	out->content[out->len] = '\0'; /* room: the header was longer than one byte */
	out->mtime = t > INT64_MAX ? 0 : (time_t)t;
	v->data = NULL;
	return STORE_OK;
}

static int
snippet_get_fn(struct store_txn *tx, void *arg)
{
	struct snippet_get_arg *a = arg;
	struct store_val v = {0};
	int rc = snippet_live(tx, a->grant_id);

	if (rc != STORE_OK)
		return rc;
	rc = store_txn_get(tx, STORE_SNIPPET, a->k->buf, a->k->len, &v);
	if (rc == STORE_OK && (rc = snippet_decode(&v, a->out)) != STORE_OK)
		log_msg(LOG_ERROR, "msg=\"corrupt snippet record\"");
	store_val_free(&v);
	return rc;
}

int
snippet_get(struct store *st, const char *grant_id, const char *ns, const char *name,
	    struct snippet *out)
{
	struct snippet_key k;
	struct snippet_get_arg a;
	int rc;

	memset(out, 0, sizeof(*out));
	a.grant_id = grant_id;
	a.k = &k;
	a.out = out;
	if ((rc = snippet_key_make(&k, ns, name)) != SNIPPET_OK)
		return rc;
	rc = store_txn(st, 0, snippet_get_fn, &a);
	if (rc != STORE_OK)
		snippet_free(out);
	return snippet_from_store(rc);
}

/* ---- put and delete -------------------------------------------------------- */

struct snippet_put_arg {
	const char *grant_id;
	const struct snippet_key *k;
	const unsigned char *rec;
	size_t reclen;
	int created;
	int del;
};

static int
snippet_write_fn(struct store_txn *tx, void *arg)
{
	struct snippet_put_arg *a = arg;
	int rc = snippet_live(tx, a->grant_id);

	if (rc != STORE_OK)
		return rc;
	if (a->del)
		return store_txn_del(tx, STORE_SNIPPET, a->k->buf, a->k->len);
	rc = store_txn_put(tx, STORE_SNIPPET, a->k->buf, a->k->len, a->rec, a->reclen, 0,
			   STORE_PUT_INSERT);
	a->created = rc == STORE_OK;
	if (rc == STORE_EXISTS)
		rc = store_txn_put(tx, STORE_SNIPPET, a->k->buf, a->k->len, a->rec, a->reclen, 0,
				   STORE_PUT_REPLACE);
	return rc;
}

static unsigned char *
snippet_encode(const char *content, size_t len, size_t *reclen)
{
	unsigned char *p = malloc(SNIPPET_HDR_LEN + len);
	uint64_t t = (uint64_t)time(NULL);

	if (p == NULL)
		return NULL;
	p[0] = SNIPPET_FORMAT;
	for (int i = SNIPPET_HDR_LEN - 1; i >= 1; i--, t >>= 8)
		p[i] = (unsigned char)(t & 0xff);
	if (len > 0)
		memcpy(p + SNIPPET_HDR_LEN, content, len);
	*reclen = SNIPPET_HDR_LEN + len;
	return p;
}

int
snippet_put(struct store *st, const char *grant_id, const char *ns, const char *name,
	    const char *content, size_t len, size_t max, int *created)
{
	struct snippet_key k;
	struct snippet_put_arg a = {grant_id, &k, NULL, 0, 0, 0};
	unsigned char *rec;
	int rc;

	if (created != NULL)
		*created = 0;
	if ((rc = snippet_key_make(&k, ns, name)) != SNIPPET_OK ||
	    (rc = snippet_content_check(content, len, max)) != SNIPPET_OK)
		return rc;
	if ((rec = snippet_encode(content, len, &a.reclen)) == NULL)
		return SNIPPET_ERROR;
	a.rec = rec;
	rc = store_txn(st, 1, snippet_write_fn, &a);
	free(rec);
	if (rc == STORE_OK && created != NULL)
		*created = a.created;
	return snippet_from_store(rc);
}

int
snippet_delete(struct store *st, const char *grant_id, const char *ns, const char *name)
{
	struct snippet_key k;
	struct snippet_put_arg a = {grant_id, &k, NULL, 0, 0, 1};
	int rc;

	if ((rc = snippet_key_make(&k, ns, name)) != SNIPPET_OK)
		return rc;
	return snippet_from_store(store_txn(st, 1, snippet_write_fn, &a));
}

/* ---- list ------------------------------------------------------------------- */

struct snippet_list_arg {
	const char *grant_id;
	const struct snippet_key *k; /* namespace prefix */
	const char *prefix, *after;
	size_t max;
	struct snippet_names *out;
};

/* Keep the max smallest names seen so far, sorted: insertion into a
 * bounded array, so a namespace of any size costs O(max) memory. */
static void
snippet_names_offer(struct snippet_list_arg *a, const char *name, size_t len)
{
	struct snippet_names *o = a->out;
	size_t lo = 0, hi = o->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(o->names[mid], name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo >= a->max) {
		o->more = 1;
		return;
	}
	if (o->n == a->max)
		o->more = 1;
	else
		o->n++;
	memmove(o->names[lo + 1], o->names[lo], (o->n - 1 - lo) * sizeof(o->names[0]));
	memcpy(o->names[lo], name, len);
	o->names[lo][len] = '\0';
}

static int
snippet_list_visit(const void *key, size_t keylen, const struct store_val *val, void *arg)
{
	struct snippet_list_arg *a = arg;
	const char *name = (const char *)key + a->k->len;
	size_t len = keylen - a->k->len;
	char tmp[SNIPPET_NAME_MAX + 1];

	(void)val;
	/* Skip anything that is not a well-formed name of exactly this
	 * namespace (the prefix match alone admits nothing else, but a
	 * record written by a buggy version must not break the listing). */
	if (!snippet_name_valid(name, len))
		return 0;
	memcpy(tmp, name, len);
	tmp[len] = '\0';
	if (a->prefix != NULL && strncmp(tmp, a->prefix, strlen(a->prefix)) != 0)
		return 0;
	if (a->after != NULL && strcmp(tmp, a->after) <= 0)
		return 0;
	a->out->total++;
	snippet_names_offer(a, tmp, len);
	return 0;
}

static int
snippet_list_fn(struct store_txn *tx, void *arg)
{
	struct snippet_list_arg *a = arg;
	int rc = snippet_live(tx, a->grant_id);

	if (rc != STORE_OK)
		return rc;
	a->out->n = a->out->total = 0;
	a->out->more = 0;
	return store_txn_each(tx, STORE_SNIPPET, a->k->buf, a->k->len, snippet_list_visit, a);
}

int
snippet_list(struct store *st, const char *grant_id, const char *ns, const char *prefix,
	     const char *after, size_t max, struct snippet_names *out)
{
	struct snippet_key k;
	struct snippet_list_arg a = {grant_id, &k, prefix, after, max, NULL};
	int rc;

	memset(out, 0, sizeof(*out));
	a.out = out;
	if (max == 0 || max > SNIPPET_LIST_MAX || snippet_key_make(&k, ns, NULL) != SNIPPET_OK)
		return SNIPPET_ERROR;
	if (prefix != NULL && *prefix == '\0')
		a.prefix = NULL;
	if (after != NULL && *after == '\0')
		a.after = NULL;
	if ((out->names = calloc(max, sizeof(out->names[0]))) == NULL)
		return SNIPPET_ERROR;
	rc = store_txn(st, 0, snippet_list_fn, &a);
	if (rc != STORE_OK)
		snippet_names_free(out);
	return snippet_from_store(rc);
}

void
snippet_free(struct snippet *s)
{
	if (s == NULL)
		return;
	if (s->content != NULL) {
		explicit_bzero(s->content, s->len);
		free(s->content);
	}
	memset(s, 0, sizeof(*s));
}

void
snippet_names_free(struct snippet_names *n)
{
	if (n == NULL)
		return;
	free(n->names);
	memset(n, 0, sizeof(*n));
}
