#include "jose.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "crypto.h"

#define JOSE_HEADER_MAX 2048 /* decoded protected header */
#define JOSE_SIG_MAX 1024    /* RSA-8192 */
#define JOSE_RSA_MIN 256     /* modulus bytes: 2048 bits (RFC 7518 §3.3) */
#define JOSE_RSA_MAX 1024
#define JOSE_KEYS_SCAN_MAX 256 /* entries looked at in one JWKS */
#define JOSE_JSON_MAX (1024 * 1024)

enum jose_kty { JOSE_KTY_RSA = 1, JOSE_KTY_EC = 2 };

/* RFC 7518 §3.1: the algorithms we verify, and what key each one needs. */
struct jose_alg {
	const char *name;
	enum jose_kty kty;
	const char *md;
	int pss;
	const char *crv;  /* EC curve name in JWK terms */
	const char *group; /* its OpenSSL group name */
	size_t coord;     /* EC coordinate / signature half length */
};

static const struct jose_alg jose_algs[] = {
    {"RS256", JOSE_KTY_RSA, "SHA256", 0, NULL, NULL, 0},
    {"RS384", JOSE_KTY_RSA, "SHA384", 0, NULL, NULL, 0},
    {"RS512", JOSE_KTY_RSA, "SHA512", 0, NULL, NULL, 0},
    {"PS256", JOSE_KTY_RSA, "SHA256", 1, NULL, NULL, 0},
    {"PS384", JOSE_KTY_RSA, "SHA384", 1, NULL, NULL, 0},
    {"PS512", JOSE_KTY_RSA, "SHA512", 1, NULL, NULL, 0},
    {"ES256", JOSE_KTY_EC, "SHA256", 0, "P-256", "prime256v1", 32},
    {"ES384", JOSE_KTY_EC, "SHA384", 0, "P-384", "secp384r1", 48},
    {"ES512", JOSE_KTY_EC, "SHA512", 0, "P-521", "secp521r1", 66},
};
#define JOSE_NALGS (sizeof(jose_algs) / sizeof(jose_algs[0]))

struct jose_key {
	char kid[JOSE_KID_MAX + 1];
	int has_kid;
	enum jose_kty kty;
	const char *crv;  /* static, EC only */
	const struct jose_alg *alg; /* the key's own "alg", NULL when absent */
	EVP_PKEY *pkey;
};

struct jose_jwks {
	size_t n;
	struct jose_key keys[JOSE_JWKS_KEYS_MAX];
};

const char *
jose_strerror(int status)
{
	switch (status) {
	case JOSE_OK:
		return "ok";
	case JOSE_EMALFORMED:
		return "malformed";
	case JOSE_EALG:
		return "algorithm refused";
	case JOSE_ENOKEY:
		return "no matching key";
	case JOSE_ESIG:
		return "bad signature";
	default:
		return "internal error";
	}
}

static const struct jose_alg *
jose_alg_find(const char *name)
{
	for (size_t i = 0; i < JOSE_NALGS; i++)
		if (strcmp(jose_algs[i].name, name) == 0)
			return &jose_algs[i];
	return NULL;
}

/* JWS (RFC 7515 §2) uses base64url without padding: refuse '=' and let the
 * strict decoder in crypto.c do the rest. */
int
jose_b64url_decode(const char *in, size_t inlen, unsigned char *out, size_t outsz)
{
	if (memchr(in, '=', inlen) != NULL)
		return -1;
	return crypto_b64url_decode(in, inlen, out, outsz);
}

/*
 * RFC 8259 grammar check.  json-c, even in strict mode, accepts single
 * quotes, NaN and Infinity; documents from other parties must be JSON
 * exactly, so the text is checked here before json-c builds the tree.
 * Recursion is bounded by depth.
 */
struct jose_scan {
	const char *s;
	size_t n, i;
};

static void
jose_scan_ws(struct jose_scan *sc)
{
	while (sc->i < sc->n && (sc->s[sc->i] == ' ' || sc->s[sc->i] == '\t' ||
				 sc->s[sc->i] == '\r' || sc->s[sc->i] == '\n'))
		sc->i++;
}

static int
jose_scan_lit(struct jose_scan *sc, const char *lit)
{
	size_t l = strlen(lit);

	if (sc->n - sc->i < l || memcmp(sc->s + sc->i, lit, l) != 0)
		return -1;
	sc->i += l;
	return 0;
}

static int
jose_scan_digits(struct jose_scan *sc)
{
	size_t start = sc->i;

	while (sc->i < sc->n && sc->s[sc->i] >= '0' && sc->s[sc->i] <= '9')
		sc->i++;
	return sc->i > start ? 0 : -1;
}

static int
jose_scan_number(struct jose_scan *sc)
{
	if (sc->i < sc->n && sc->s[sc->i] == '-')
		sc->i++;
	if (sc->i < sc->n && sc->s[sc->i] == '0')
		sc->i++;
	else if (jose_scan_digits(sc) != 0)
		return -1;
	if (sc->i < sc->n && sc->s[sc->i] == '.') {
		sc->i++;
		if (jose_scan_digits(sc) != 0)
			return -1;
	}
	if (sc->i < sc->n && (sc->s[sc->i] == 'e' || sc->s[sc->i] == 'E')) {
		sc->i++;
		if (sc->i < sc->n && (sc->s[sc->i] == '+' || sc->s[sc->i] == '-'))
			sc->i++;
		if (jose_scan_digits(sc) != 0)
			return -1;
	}
	return 0;
}

static int
jose_scan_string(struct jose_scan *sc)
{
	if (sc->i >= sc->n || sc->s[sc->i] != '"')
		return -1;
	for (sc->i++; sc->i < sc->n; sc->i++) {
		unsigned char c = (unsigned char)sc->s[sc->i];
		if (c == '"') {
			sc->i++;
			return 0;
		}
		if (c < 0x20)
			return -1;
		if (c != '\\')
			continue;
		if (++sc->i >= sc->n)
			return -1;
		c = (unsigned char)sc->s[sc->i];
		if (c == 'u') {
			for (int k = 0; k < 4; k++) {
				if (++sc->i >= sc->n || !isxdigit((unsigned char)sc->s[sc->i]))
					return -1;
			}
		} else if (strchr("\"\\/bfnrt", c) == NULL) {
			return -1;
		}
	}
	return -1;
}

static int jose_scan_value(struct jose_scan *sc, int depth);

/* Object or array, after its opening bracket was seen. */
static int
jose_scan_container(struct jose_scan *sc, int depth, char close, int object)
{
	sc->i++;
	jose_scan_ws(sc);
	if (sc->i < sc->n && sc->s[sc->i] == close) {
		sc->i++;
		return 0;
	}
	for (;;) {
		if (object) {
			if (jose_scan_string(sc) != 0)
				return -1;
			jose_scan_ws(sc);
			if (sc->i >= sc->n || sc->s[sc->i++] != ':')
				return -1;
		}
		if (jose_scan_value(sc, depth + 1) != 0)
			return -1;
		jose_scan_ws(sc);
		if (sc->i >= sc->n)
			return -1;
		if (sc->s[sc->i] == close) {
			sc->i++;
			return 0;
		}
		if (sc->s[sc->i++] != ',')
			return -1;
		jose_scan_ws(sc);
	}
}

static int
jose_scan_value(struct jose_scan *sc, int depth)
{
	if (depth > JOSE_JSON_DEPTH)
		return -1;
	jose_scan_ws(sc);
	if (sc->i >= sc->n)
		return -1;
	switch (sc->s[sc->i]) {
	case '{':
		return jose_scan_container(sc, depth, '}', 1);
	case '[':
		return jose_scan_container(sc, depth, ']', 0);
	case '"':
		return jose_scan_string(sc);
	case 't':
		return jose_scan_lit(sc, "true");
	case 'f':
		return jose_scan_lit(sc, "false");
	case 'n':
		return jose_scan_lit(sc, "null");
	default:
		return jose_scan_number(sc);
	}
}

static int
jose_json_valid(const char *s, size_t n)
{
	struct jose_scan sc = {s, n, 0};

	if (jose_scan_value(&sc, 1) != 0)
		return 0;
	jose_scan_ws(&sc);
	return sc.i == n;
}

/* 1 when s[end..len) is empty or JSON whitespace only. */
static int
jose_json_rest_blank(const char *s, size_t end, size_t len)
{
	if (end > len)
		return 0;
	for (size_t i = end; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
			return 0;
	return 1;
}

int
jose_json_parse(const char *s, size_t len, struct json_object **out)
{
	struct json_tokener *tok;
	struct json_object *o;
	int rc = JOSE_EMALFORMED;

	*out = NULL;
	if (s == NULL || len == 0 || len > JOSE_JSON_MAX || memchr(s, '\0', len) != NULL ||
	    !jose_json_valid(s, len))
		return JOSE_EMALFORMED;
	tok = json_tokener_new_ex(JOSE_JSON_DEPTH);
	if (tok == NULL)
		return JOSE_ERROR;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, s, (int)len);
	/* The whole input must be the one JSON value (RFC 8259 §2: whitespace
	 * around it is allowed): bytes after it would let two parsers see two
	 * documents.  The scanner above checks this too; json-c's own end is
	 * checked as well so the two can never disagree silently. */
	if (o != NULL && json_tokener_get_error(tok) == json_tokener_success &&
	    jose_json_rest_blank(s, json_tokener_get_parse_end(tok), len) &&
	    json_object_is_type(o, json_type_object)) {
		*out = o;
		o = NULL;
		rc = JOSE_OK;
	}
	json_object_put(o);
	json_tokener_free(tok);
	return rc;
}

/* Decode a base64url member of a JWK into a fresh buffer of at most max bytes. */
static int
jose_member_bytes(struct json_object *k, const char *name, unsigned char *out, size_t max,
		  size_t *outlen)
{
	struct json_object *v;
	const char *s;
	int n;

	if (!json_object_object_get_ex(k, name, &v) || !json_object_is_type(v, json_type_string))
		return -1;
	s = json_object_get_string(v);
	n = jose_b64url_decode(s, (size_t)json_object_get_string_len(v), out, max);
	if (n <= 0)
		return -1;
	*outlen = (size_t)n;
	return 0;
}

static EVP_PKEY *
jose_pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY_CTX *chk = NULL;
	EVP_PKEY *pkey = NULL;

	if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	/* Reject what OpenSSL would accept but is not a sane public key
	 * (even RSA modulus, EC point off the curve). */
	chk = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (chk == NULL || EVP_PKEY_public_check(chk) != 1) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
out:
	EVP_PKEY_CTX_free(chk);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pkey;
}

static EVP_PKEY *
jose_rsa_key(struct json_object *k)
{
	unsigned char n[JOSE_RSA_MAX], e[8];
	size_t nlen, elen;
	BIGNUM *bn = NULL, *be = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *pkey = NULL;

	if (jose_member_bytes(k, "n", n, sizeof(n), &nlen) != 0 ||
	    jose_member_bytes(k, "e", e, sizeof(e), &elen) != 0)
		return NULL;
	if (nlen < JOSE_RSA_MIN || n[0] == 0)
		return NULL;
	bn = BN_bin2bn(n, (int)nlen, NULL);
	be = BN_bin2bn(e, (int)elen, NULL);
	bld = OSSL_PARAM_BLD_new();
	if (bn == NULL || be == NULL || bld == NULL ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) != 1)
		goto out;
	pkey = jose_pkey_fromdata("RSA", bld);
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	return pkey;
}

static EVP_PKEY *
jose_ec_key(struct json_object *k, const struct jose_alg *curve)
{
	unsigned char pub[1 + 2 * 66];
	size_t xlen, ylen;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *pkey = NULL;

	/* RFC 7518 §6.2.1.2: coordinates are exactly the field size, zero-padded. */
	pub[0] = 0x04; /* uncompressed point */
	if (jose_member_bytes(k, "x", pub + 1, curve->coord, &xlen) != 0 || xlen != curve->coord ||
	    jose_member_bytes(k, "y", pub + 1 + curve->coord, curve->coord, &ylen) != 0 ||
	    ylen != curve->coord)
		return NULL;
	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, curve->group, 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub,
					     1 + 2 * curve->coord) != 1)
		goto out;
	pkey = jose_pkey_fromdata("EC", bld);
out:
	OSSL_PARAM_BLD_free(bld);
	return pkey;
}

static const char *
jose_str(struct json_object *o, const char *name)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, name, &v))
		return NULL;
	/* Present but not a plain string (or hiding a \u0000): treated as empty,
	 * which every caller refuses. */
	if (!json_object_is_type(v, json_type_string) ||
	    strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
		return "";
	return json_object_get_string(v);
}

/* A key may be used to verify signatures: "use" absent or "sig", "key_ops"
 * absent or containing "verify" (RFC 7517 §4.2, §4.3). */
static int
jose_key_for_sig(struct json_object *k)
{
	struct json_object *ops;
	const char *use = jose_str(k, "use");

	if (use != NULL && strcmp(use, "sig") != 0)
		return 0;
	if (!json_object_object_get_ex(k, "key_ops", &ops))
		return 1;
	if (!json_object_is_type(ops, json_type_array))
		return 0;
	for (size_t i = 0; i < json_object_array_length(ops) && i < 16; i++) {
		struct json_object *op = json_object_array_get_idx(ops, i);
		if (json_object_is_type(op, json_type_string) &&
		    strcmp(json_object_get_string(op), "verify") == 0)
			return 1;
	}
	return 0;
}

/* Curves agree (both NULL for RSA). */
static int
jose_same_crv(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* The curve entry (first EC alg row) for a JWK "crv" value. */
static const struct jose_alg *
jose_curve_find(const char *crv)
{
	for (size_t i = 0; crv != NULL && i < JOSE_NALGS; i++)
		if (jose_algs[i].crv != NULL && strcmp(jose_algs[i].crv, crv) == 0)
			return &jose_algs[i];
	return NULL;
}

/* Fill key from JWK object k; 0 when usable, -1 to skip it. */
static int
jose_key_load(struct json_object *k, struct jose_key *key)
{
	const char *kty = jose_str(k, "kty"), *kid = jose_str(k, "kid"), *alg = jose_str(k, "alg");
	const struct jose_alg *curve = NULL;

	memset(key, 0, sizeof(*key));
	if (kty == NULL || !jose_key_for_sig(k))
		return -1;
	if (kid != NULL) {
		size_t n = strlen(kid);
		if (n == 0 || n > JOSE_KID_MAX)
			return -1;
		memcpy(key->kid, kid, n + 1);
		key->has_kid = 1;
	}
	if (alg != NULL && (key->alg = jose_alg_find(alg)) == NULL)
		return -1; /* HS256, none, anything we would not verify with */
	if (strcmp(kty, "RSA") == 0) {
		key->kty = JOSE_KTY_RSA;
		key->pkey = jose_rsa_key(k);
	} else if (strcmp(kty, "EC") == 0) {
		key->kty = JOSE_KTY_EC;
		if ((curve = jose_curve_find(jose_str(k, "crv"))) == NULL)
			return -1;
		key->crv = curve->crv;
		key->pkey = jose_ec_key(k, curve);
	} else {
		return -1;
	}
	if (key->pkey == NULL ||
	    (key->alg != NULL && (key->alg->kty != key->kty || !jose_same_crv(key->alg->crv, key->crv)))) {
		EVP_PKEY_free(key->pkey);
		key->pkey = NULL;
		return -1;
	}
	return 0;
}

int
jose_jwks_parse(const char *json, size_t len, struct jose_jwks **out)
{
	struct json_object *root = NULL, *keys;
	struct jose_jwks *set;
	int rc;

	*out = NULL;
	if (len > JOSE_JWKS_MAX)
		return JOSE_EMALFORMED;
	if ((rc = jose_json_parse(json, len, &root)) != JOSE_OK)
		return rc;
	rc = JOSE_EMALFORMED;
	if (!json_object_object_get_ex(root, "keys", &keys) ||
	    !json_object_is_type(keys, json_type_array))
		goto out;
	rc = JOSE_ERROR;
	if ((set = calloc(1, sizeof(*set))) == NULL)
		goto out;
	for (size_t i = 0; i < json_object_array_length(keys) && i < JOSE_KEYS_SCAN_MAX &&
			   set->n < JOSE_JWKS_KEYS_MAX;
	     i++) {
		struct json_object *k = json_object_array_get_idx(keys, i);
		if (json_object_is_type(k, json_type_object) &&
		    jose_key_load(k, &set->keys[set->n]) == 0)
			set->n++;
	}
	*out = set;
	rc = JOSE_OK;
out:
	json_object_put(root);
	return rc;
}

void
jose_jwks_free(struct jose_jwks *jwks)
{
	if (jwks == NULL)
		return;
	for (size_t i = 0; i < jwks->n; i++)
		EVP_PKEY_free(jwks->keys[i].pkey);
	free(jwks);
}

size_t
jose_jwks_count(const struct jose_jwks *jwks)
{
	return jwks != NULL ? jwks->n : 0;
}

/* JWS signatures for ECDSA are r||s (RFC 7518 §3.4); EVP wants DER. */
static int
jose_ecdsa_der(const unsigned char *sig, size_t siglen, size_t coord, unsigned char **der,
	       int *derlen)
{
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	int rc = -1;

	*der = NULL;
	if (siglen != 2 * coord)
		return -1;
	r = BN_bin2bn(sig, (int)coord, NULL);
	s = BN_bin2bn(sig + coord, (int)coord, NULL);
	if (r == NULL || s == NULL || (es = ECDSA_SIG_new()) == NULL)
		goto out;
	if (ECDSA_SIG_set0(es, r, s) != 1)
		goto out;
	r = s = NULL; /* owned by es now */
	*derlen = i2d_ECDSA_SIG(es, der);
	rc = *derlen > 0 ? 0 : -1;
out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	return rc;
}

/* 1 verified, 0 not, -1 error. */
static int
jose_verify_with(const struct jose_alg *alg, EVP_PKEY *pkey, const unsigned char *tbs,
		 size_t tbslen, const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char *der = NULL;
	int derlen = 0, rc = -1;

	if (md == NULL || EVP_DigestVerifyInit_ex(md, &pctx, alg->md, NULL, NULL, pkey, NULL) != 1)
		goto out;
	/* RFC 7518 §3.5: PSS with MGF1 over the same hash, salt = hash length. */
	if (alg->pss && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
			 EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
		goto out;
	if (alg->kty == JOSE_KTY_EC) {
		if (jose_ecdsa_der(sig, siglen, alg->coord, &der, &derlen) != 0) {
			rc = 0;
			goto out;
		}
		sig = der;
		siglen = (size_t)derlen;
	}
	rc = EVP_DigestVerify(md, sig, siglen, tbs, tbslen) == 1;
out:
	OPENSSL_free(der);
	EVP_MD_CTX_free(md);
	return rc;
}

static int
jose_key_matches(const struct jose_key *k, const struct jose_alg *alg, const char *kid)
{
	if (k->kty != alg->kty || !jose_same_crv(alg->crv, k->crv))
		return 0;
	if (k->alg != NULL && k->alg != alg)
		return 0;
	if (kid != NULL)
		return k->has_kid && strcmp(k->kid, kid) == 0;
	return 1;
}

/* Header checks: alg supported, no crit.  Fills *alg and kid (or kid[0] = 0 when absent). */
static int
jose_header(const char *seg, size_t len, const struct jose_alg **alg, char *kid, int *has_kid)
{
	unsigned char raw[JOSE_HEADER_MAX];
	struct json_object *h = NULL, *v;
	const char *a, *k;
	int n, rc = JOSE_EMALFORMED;

	*has_kid = 0;
	if ((n = jose_b64url_decode(seg, len, raw, sizeof(raw))) <= 0 ||
	    jose_json_parse((const char *)raw, (size_t)n, &h) != JOSE_OK)
		goto out;
	a = jose_str(h, "alg");
	k = jose_str(h, "kid");
	if (a == NULL || *a == '\0' || (k != NULL && (*k == '\0' || strlen(k) > JOSE_KID_MAX)))
		goto out;
	if (k != NULL) {
		memcpy(kid, k, strlen(k) + 1);
		*has_kid = 1;
	}
	rc = JOSE_EALG;
	if (json_object_object_get_ex(h, "crit", &v) || (*alg = jose_alg_find(a)) == NULL)
		goto out;
	rc = JOSE_OK;
out:
	json_object_put(h);
	return rc;
}

static void
jose_copy(char *dst, size_t dstsz, const char *src)
{
	if (dst == NULL || dstsz == 0)
		return;
	snprintf(dst, dstsz, "%s", src);
}

/* Peek at the header's alg and kid for the caller's logs (best effort). */
static void
jose_header_names(const char *seg, size_t len, char *alg_out, size_t alg_outsz, char *kid_out,
		  size_t kid_outsz)
{
	unsigned char raw[JOSE_HEADER_MAX];
	struct json_object *h = NULL;
	const char *a, *k;
	int n = jose_b64url_decode(seg, len, raw, sizeof(raw));

	if (n <= 0 || jose_json_parse((const char *)raw, (size_t)n, &h) != JOSE_OK)
		return;
	if ((a = jose_str(h, "alg")) != NULL)
		jose_copy(alg_out, alg_outsz, a);
	if ((k = jose_str(h, "kid")) != NULL)
		jose_copy(kid_out, kid_outsz, k);
	json_object_put(h);
}

static int
jose_check_sig(const struct jose_jwks *jwks, const struct jose_alg *alg, const char *kid,
	       const char *jws, size_t tbslen, const unsigned char *sig, size_t siglen)
{
	int tried = 0;

	for (size_t i = 0; jwks != NULL && i < jwks->n; i++) {
		int v;
		if (!jose_key_matches(&jwks->keys[i], alg, kid))
			continue;
		tried = 1;
		v = jose_verify_with(alg, jwks->keys[i].pkey, (const unsigned char *)jws, tbslen,
				     sig, siglen);
		if (v < 0)
			return JOSE_ERROR;
		if (v == 1)
			return JOSE_OK;
	}
	return tried ? JOSE_ESIG : JOSE_ENOKEY;
}

static int
jose_payload(const char *seg, size_t len, struct json_object **claims)
{
	unsigned char *raw = malloc(len);
	int n, rc = JOSE_ERROR;

	if (raw == NULL)
		return JOSE_ERROR;
	n = jose_b64url_decode(seg, len, raw, len);
	rc = n <= 0 ? JOSE_EMALFORMED : jose_json_parse((const char *)raw, (size_t)n, claims);
	free(raw);
	return rc;
}

int
jose_jws_verify(const struct jose_jwks *jwks, const char *jws, size_t len,
		struct json_object **claims, char *alg_out, size_t alg_outsz, char *kid_out,
		size_t kid_outsz)
{
	const char *d1, *d2;
	const struct jose_alg *alg = NULL;
	unsigned char sig[JOSE_SIG_MAX];
	char kid[JOSE_KID_MAX + 1];
	int has_kid, n, rc;

	*claims = NULL;
	jose_copy(alg_out, alg_outsz, "");
	jose_copy(kid_out, kid_outsz, "");
	if (jws == NULL || len == 0 || len > JOSE_JWS_MAX || memchr(jws, '\0', len) != NULL)
		return JOSE_EMALFORMED;
	d1 = memchr(jws, '.', len);
	d2 = d1 != NULL ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - jws)) : NULL;
	if (d1 == NULL || d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - jws)) != NULL ||
	    d1 == jws || d2 == d1 + 1)
		return JOSE_EMALFORMED;
	jose_header_names(jws, (size_t)(d1 - jws), alg_out, alg_outsz, kid_out, kid_outsz);
	rc = jose_header(jws, (size_t)(d1 - jws), &alg, kid, &has_kid);
	if (rc != JOSE_OK)
		return rc;
	n = jose_b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - jws), sig, sizeof(sig));
	if (n <= 0)
		return JOSE_EMALFORMED;
	/* The signature covers the encoded header and payload (RFC 7515 §5.2);
	 * the payload is only parsed once it is known to be authentic. */
	rc = jose_check_sig(jwks, alg, has_kid ? kid : NULL, jws, (size_t)(d2 - jws), sig,
			    (size_t)n);
	if (rc != JOSE_OK)
		return rc;
	return jose_payload(d1 + 1, (size_t)(d2 - d1 - 1), claims);
}
