#include "token.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#define TOKEN_VERSION 1
#define TOKEN_PT_MAX (1 + 8 + 4 + 16 + 3 * (1 + TOKEN_FIELD_MAX))
#define TOKEN_AAD_MAX 600

static const char token_purpose[] = "access-token";
static const char token_aad_label[] = "mcpgate-access-v1";

static size_t
token_aad(const char *resource, unsigned char *aad, size_t aadsz)
{
	size_t l = sizeof(token_aad_label), r = strlen(resource);

	if (l + r > aadsz)
		return 0;
	memcpy(aad, token_aad_label, l); /* includes the NUL separator */
	memcpy(aad + l, resource, r);
	return l + r;
}

static void
token_put_be(unsigned char *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)(v & 0xff);
}

static uint64_t
token_get_be(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

static int
token_put_str(unsigned char *pt, size_t *o, const char *s)
{
	size_t l = strlen(s);

	if (l > TOKEN_FIELD_MAX)
		return -1;
	pt[(*o)++] = (unsigned char)l;
	memcpy(pt + *o, s, l);
	*o += l;
	return 0;
}

static int
token_get_str(const unsigned char *pt, size_t len, size_t *o, char *out)
{
	size_t l;

	if (*o >= len)
		return -1;
	l = pt[(*o)++];
	if (l > len - *o || memchr(pt + *o, '\0', l) != NULL)
		return -1;
	memcpy(out, pt + *o, l);
	out[l] = '\0';
	*o += l;
	return 0;
}

int
token_access_issue(const struct crypto_keyring *ring, const char *resource,
		   const struct token_access *acc, char *out, size_t outsz)
{
	unsigned char pt[TOKEN_PT_MAX], sealed[TOKEN_PT_MAX + CRYPTO_SEAL_OVERHEAD];
	unsigned char aad[TOKEN_AAD_MAX], grant[16];
	size_t o = 0, aadlen = token_aad(resource, aad, sizeof(aad));
	int n, rc = -1;

	if (aadlen == 0 || outsz < sizeof(TOKEN_ACCESS_PREFIX) ||
	    crypto_b64url_decode(acc->grant_id, strlen(acc->grant_id), grant, sizeof(grant)) != 16)
		return -1;
	pt[o++] = TOKEN_VERSION;
	token_put_be(pt + o, (uint64_t)acc->exp, 8);
	o += 8;
	token_put_be(pt + o, acc->scope, 4);
	o += 4;
	memcpy(pt + o, grant, 16);
	o += 16;
	if (token_put_str(pt, &o, acc->user) != 0 || token_put_str(pt, &o, acc->name) != 0 ||
	    token_put_str(pt, &o, acc->client_id) != 0)
		goto out;
	n = crypto_seal(ring, token_purpose, aad, aadlen, pt, o, sealed, sizeof(sealed));
	if (n < 0)
		goto out;
	memcpy(out, TOKEN_ACCESS_PREFIX, sizeof(TOKEN_ACCESS_PREFIX) - 1);
	if (crypto_b64url_encode(sealed, (size_t)n, out + sizeof(TOKEN_ACCESS_PREFIX) - 1,
				 outsz - (sizeof(TOKEN_ACCESS_PREFIX) - 1)) < 0)
		goto out;
	rc = 0;
out:
	crypto_wipe(pt, sizeof(pt));
	return rc;
}

int
token_access_verify(const struct crypto_keyring *ring, const char *resource, const char *token,
		    time_t now, struct token_access *out)
{
	unsigned char pt[TOKEN_PT_MAX], sealed[TOKEN_PT_MAX + CRYPTO_SEAL_OVERHEAD];
	unsigned char aad[TOKEN_AAD_MAX];
	size_t tlen = strlen(token), aadlen = token_aad(resource, aad, sizeof(aad)), o = 0;
	const size_t plen = sizeof(TOKEN_ACCESS_PREFIX) - 1;
	int n, m, rc = TOKEN_MALFORMED;

	memset(out, 0, sizeof(*out));
	/* Cheap shape checks first: hostile input never reaches the cipher. */
	if (aadlen == 0 || tlen <= plen || tlen >= TOKEN_ACCESS_MAX ||
	    memcmp(token, TOKEN_ACCESS_PREFIX, plen) != 0)
		return TOKEN_MALFORMED;
	n = crypto_b64url_decode(token + plen, tlen - plen, sealed, sizeof(sealed));
	if (n < 0)
		return TOKEN_MALFORMED;
	m = crypto_open(ring, token_purpose, aad, aadlen, sealed, (size_t)n, pt, sizeof(pt));
	if (m < 1 + 8 + 4 + 16 || pt[0] != TOKEN_VERSION)
		goto out;
	o = 1;
	out->exp = (time_t)token_get_be(pt + o, 8);
	o += 8;
	out->scope = (unsigned)token_get_be(pt + o, 4);
	o += 4;
	if (crypto_b64url_encode(pt + o, 16, out->grant_id, sizeof(out->grant_id)) < 0)
		goto out;
	o += 16;
	if (token_get_str(pt, (size_t)m, &o, out->user) != 0 ||
	    token_get_str(pt, (size_t)m, &o, out->name) != 0 ||
	    token_get_str(pt, (size_t)m, &o, out->client_id) != 0 || o != (size_t)m)
		goto out;
	rc = out->exp > now ? TOKEN_OK : TOKEN_EXPIRED;
out:
	crypto_wipe(pt, sizeof(pt));
	if (rc == TOKEN_MALFORMED)
		memset(out, 0, sizeof(*out));
	return rc;
}

int
token_grant_id_new(char out[TOKEN_GRANT_ID_LEN + 1])
{
	return crypto_random_token(out, TOKEN_GRANT_ID_LEN + 1, 16);
}

static int
token_grant_live_fn(struct store_txn *tx, void *arg)
{
	return token_grant_live_tx(tx, arg);
}

int
token_grant_live_tx(struct store_txn *tx, const char *grant_id)
{
	struct store_val v = {0};
	int rc = store_txn_get(tx, STORE_GRANT, grant_id, strlen(grant_id), &v);

	store_val_free(&v);
	return rc;
}

int
token_grant_live(struct store *st, const char *grant_id)
{
	return store_txn(st, 0, token_grant_live_fn, (void *)(uintptr_t)grant_id);
}

/* RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
static int
token_b64char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("-._~+/", c) != NULL);
}

const char *
token_from_authorization(const char *header)
{
	const char *t;
	size_t i = 0;

	if (header == NULL || strncasecmp(header, "Bearer ", 7) != 0)
		return NULL;
	t = header + 7;
	while (*t == ' ')
		t++;
	while (token_b64char(t[i]))
		i++;
	if (i == 0)
		return NULL;
	while (t[i] == '=')
		i++;
	return t[i] == '\0' ? t : NULL;
}
