/*
 * test_jose: JWS verification against JWK Sets, with keys generated here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "jose.h"
#include "tap.h"

struct tkey {
	const char *kid;
	EVP_PKEY *pkey;
};

static void
b64url(const unsigned char *in, size_t n, char *out, size_t outsz)
{
	static const char tbl[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0, i;

	for (i = 0; i + 2 < n && o + 4 < outsz; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		out[o++] = tbl[v >> 18 & 63];
		out[o++] = tbl[v >> 12 & 63];
		out[o++] = tbl[v >> 6 & 63];
		out[o++] = tbl[v & 63];
	}
	if (n - i == 1 && o + 2 < outsz) {
		out[o++] = tbl[in[i] >> 2];
		out[o++] = tbl[(in[i] & 3) << 4];
	} else if (n - i == 2 && o + 3 < outsz) {
		unsigned v = (unsigned)in[i] << 8 | in[i + 1];
		out[o++] = tbl[v >> 10 & 63];
		out[o++] = tbl[v >> 4 & 63];
		out[o++] = tbl[(v & 15) << 2];
	}
	out[o] = '\0';
}

/* Use snprintf's result: a truncated JWK would make a confusing test failure. */
static void
checked(int n, char *out, size_t outsz)
{
	if (n < 0 || (size_t)n >= outsz)
		out[0] = '\0';
}

static void
b64url_bn(const BIGNUM *bn, size_t pad, char *out, size_t outsz)
{
	unsigned char b[1024];
	int n = pad ? BN_bn2binpad(bn, b, (int)pad) : BN_bn2bin(bn, b);

	b64url(b, (size_t)n, out, outsz);
}

/* The public JWK for k, with extra members (",\"alg\":\"RS256\"" etc.) appended. */
static void
jwk_of(const struct tkey *k, const char *extra, char *out, size_t outsz)
{
	char a[1400], b[1400];
	BIGNUM *x = NULL, *y = NULL;

	if (EVP_PKEY_is_a(k->pkey, "RSA")) {
		EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_N, &x);
		EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_E, &y);
		b64url_bn(x, 0, a, sizeof(a));
		b64url_bn(y, 0, b, sizeof(b));
		checked(snprintf(out, outsz, "{\"kty\":\"RSA\",\"kid\":\"%s\",\"n\":\"%s\",\"e\":\"%s\"%s}",
			 k->kid, a, b, extra),
			out, outsz);
	} else {
		char group[32];
		size_t glen, coord;
		EVP_PKEY_get_utf8_string_param(k->pkey, OSSL_PKEY_PARAM_GROUP_NAME, group,
					       sizeof(group), &glen);
		coord = strcmp(group, "prime256v1") == 0 ? 32 : strcmp(group, "secp384r1") == 0 ? 48 : 66;
		EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x);
		EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y);
		b64url_bn(x, coord, a, sizeof(a));
		b64url_bn(y, coord, b, sizeof(b));
		checked(snprintf(out, outsz,
				 "{\"kty\":\"EC\",\"kid\":\"%s\",\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"%s}",
				 k->kid, coord == 32 ? "P-256" : coord == 48 ? "P-384" : "P-521", a, b,
				 extra),
			out, outsz);
	}
	BN_free(x);
	BN_free(y);
}

/* Sign header.payload with k under alg; out gets the compact JWS. */
static void
sign_jws(const struct tkey *k, const char *alg, const char *header, const char *payload,
	 char *out, size_t outsz)
{
	char h[4096], p[8192], sigb[2048];
	unsigned char sig[1024], raw[132];
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	const char *dg = strstr(alg, "256") ? "SHA256" : strstr(alg, "384") ? "SHA384" : "SHA512";
	int n;

	b64url((const unsigned char *)header, strlen(header), h, sizeof(h));
	b64url((const unsigned char *)payload, strlen(payload), p, sizeof(p));
	n = snprintf(out, outsz, "%s.%s", h, p);
	EVP_DigestSignInit_ex(md, &pctx, dg, NULL, NULL, k->pkey, NULL);
	if (alg[0] == 'P') {
		EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
		EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
	}
	EVP_DigestSign(md, sig, &siglen, (const unsigned char *)out, (size_t)n);
	EVP_MD_CTX_free(md);
	if (alg[0] == 'E') {
		const unsigned char *q = sig;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long)siglen);
		size_t coord = strstr(alg, "256") ? 32 : strstr(alg, "384") ? 48 : 66;
		BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, (int)coord);
		BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + coord, (int)coord);
		ECDSA_SIG_free(es);
		b64url(raw, 2 * coord, sigb, sizeof(sigb));
	} else {
		b64url(sig, siglen, sigb, sizeof(sigb));
	}
	snprintf(out + n, outsz - (size_t)n, ".%s", sigb);
}

static const char *payload = "{\"iss\":\"https://idp.example\",\"sub\":\"alice\",\"aud\":\"c1\"}";

static struct tkey rsa1 = {"rsa1", NULL}, rsa2 = {"rsa2", NULL}, ec1 = {"ec1", NULL},
		   ec384 = {"ec384", NULL}, ec521 = {"ec521", NULL}, rogue = {"rsa1", NULL};

static struct jose_jwks *
jwks_from(const char *json)
{
	struct jose_jwks *j = NULL;
	int rc = jose_jwks_parse(json, strlen(json), &j);

	if (rc != JOSE_OK)
		printf("# jwks parse failed: %s\n", jose_strerror(rc));
	return j;
}

static int
verify(const struct jose_jwks *j, const char *jws)
{
	struct json_object *claims = NULL;
	int rc = jose_jws_verify(j, jws, strlen(jws), &claims, NULL, 0, NULL, 0);

	if (rc == JOSE_OK && claims == NULL)
		rc = 99;
	if (rc != JOSE_OK && claims != NULL)
		rc = 98;
	json_object_put(claims);
	return rc;
}

static char *
make_jwks(void)
{
	static char out[16384];
	char a[2048], b[2048], c[1024], d[1024], e[1024];

	jwk_of(&rsa1, ",\"use\":\"sig\"", a, sizeof(a));
	jwk_of(&rsa2, ",\"alg\":\"RS256\"", b, sizeof(b));
	jwk_of(&ec1, ",\"alg\":\"ES256\",\"key_ops\":[\"verify\"]", c, sizeof(c));
	jwk_of(&ec384, "", d, sizeof(d));
	jwk_of(&ec521, "", e, sizeof(e));
	snprintf(out, sizeof(out), "{\"keys\":[%s,%s,%s,%s,%s]}", a, b, c, d, e);
	return out;
}

static void
test_algorithms(const struct jose_jwks *j)
{
	static const struct {
		const char *alg;
		struct tkey *key;
	} t[] = {
	    {"RS256", &rsa1}, {"RS384", &rsa1}, {"RS512", &rsa1}, {"PS256", &rsa1},
	    {"PS384", &rsa1}, {"PS512", &rsa1}, {"ES256", &ec1},  {"ES384", &ec384},
	    {"ES512", &ec521}, {"RS256", &rsa2},
	};
	char hdr[256], jws[16384];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct json_object *claims = NULL, *sub;
		char alg[16], kid[64];
		int rc;
		snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}", t[i].alg,
			 t[i].key->kid);
		sign_jws(t[i].key, t[i].alg, hdr, payload, jws, sizeof(jws));
		rc = jose_jws_verify(j, jws, strlen(jws), &claims, alg, sizeof(alg), kid, sizeof(kid));
		is_int(rc, JOSE_OK, "%s with %s verifies", t[i].alg, t[i].key->kid);
		ok(claims != NULL && json_object_object_get_ex(claims, "sub", &sub) &&
		       strcmp(json_object_get_string(sub), "alice") == 0,
		   "%s claims returned", t[i].alg);
		is_str(alg, t[i].alg, "alg reported (%zu)", i);
		is_str(kid, t[i].key->kid, "kid reported (%zu)", i);
		json_object_put(claims);
	}
}

/* Replace the character at position pos with another base64url character. */
static void
flip(char *s, size_t pos)
{
	s[pos] = s[pos] == 'A' ? 'B' : 'A';
}

static void
test_tampering(const struct jose_jwks *j)
{
	char jws[16384], t[16384], *d1, *d2;
	const char *hdr = "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}";
	char ehdr[64] = "{\"alg\":\"ES256\",\"kid\":\"ec1\"}";

	sign_jws(&rsa1, "RS256", hdr, payload, jws, sizeof(jws));
	is_int(verify(j, jws), JOSE_OK, "baseline RS256");
	d1 = strchr(jws, '.');
	d2 = strchr(d1 + 1, '.');

	memcpy(t, jws, sizeof(t));
	flip(t, (size_t)(d1 - jws) + 5);
	is_int(verify(j, t), JOSE_ESIG, "tampered payload fails");
	memcpy(t, jws, sizeof(t));
	flip(t, (size_t)(d2 - jws) + 10);
	is_int(verify(j, t), JOSE_ESIG, "tampered signature fails");
	memcpy(t, jws, sizeof(t));
	t[(size_t)(d2 - jws) + 1] = '\0';
	is_int(verify(j, t), JOSE_EMALFORMED, "empty signature is malformed");

	/* The same signature under another header. */
	{
		char h[256], t2[16384];
		b64url((const unsigned char *)"{\"alg\":\"RS256\",\"kid\":\"rsa2\"}", 28, h,
		       sizeof(h));
		snprintf(t2, sizeof(t2), "%s%s", h, d1);
		is_int(verify(j, t2), JOSE_ESIG, "header swapped to another kid fails");
		b64url((const unsigned char *)"{\"alg\":\"RS384\",\"kid\":\"rsa1\"}", 28, h,
		       sizeof(h));
		snprintf(t2, sizeof(t2), "%s%s", h, d1);
		is_int(verify(j, t2), JOSE_ESIG, "header alg changed RS256->RS384 fails");
	}

	/* ES256: tamper, and a DER signature where raw r||s is required. */
	sign_jws(&ec1, "ES256", ehdr, payload, jws, sizeof(jws));
	is_int(verify(j, jws), JOSE_OK, "baseline ES256");
	d1 = strchr(jws, '.');
	memcpy(t, jws, sizeof(t));
	flip(t, (size_t)(d1 - jws) + 3);
	is_int(verify(j, t), JOSE_ESIG, "ES256 tampered payload fails");
	{
		char der[256];
		unsigned char junk[72];
		memset(junk, 0x30, sizeof(junk));
		b64url(junk, sizeof(junk), der, sizeof(der));
		d2 = strrchr(jws, '.');
		snprintf(d2 + 1, sizeof(jws) - (size_t)(d2 + 1 - jws), "%s", der);
		is_int(verify(j, jws), JOSE_ESIG, "ES256 signature of wrong length fails");
	}
}

static void
test_alg_rules(const struct jose_jwks *j)
{
	char jws[16384], h[256], p[512], s[128];
	unsigned char mac[64];
	unsigned maclen = 0;
	unsigned char *der = NULL;
	int derlen;

	/* alg none, with and without a signature. */
	b64url((const unsigned char *)"{\"alg\":\"none\"}", 14, h, sizeof(h));
	b64url((const unsigned char *)payload, strlen(payload), p, sizeof(p));
	snprintf(jws, sizeof(jws), "%s.%s.", h, p);
	is_int(verify(j, jws), JOSE_EALG, "alg none refused");
	snprintf(jws, sizeof(jws), "%s.%s.AAAA", h, p);
	is_int(verify(j, jws), JOSE_EALG, "alg none with signature refused");
	b64url((const unsigned char *)"{\"alg\":\"None\"}", 14, h, sizeof(h));
	snprintf(jws, sizeof(jws), "%s.%s.AAAA", h, p);
	is_int(verify(j, jws), JOSE_EALG, "alg None refused");

	/* HS256 keyed with the RSA public key: the confusion attack. */
	derlen = i2d_PUBKEY(rsa1.pkey, &der);
	b64url((const unsigned char *)"{\"alg\":\"HS256\",\"kid\":\"rsa1\"}", 28, h, sizeof(h));
	snprintf(jws, sizeof(jws), "%s.%s", h, p);
	HMAC(EVP_sha256(), der, derlen, (const unsigned char *)jws, strlen(jws), mac, &maclen);
	b64url(mac, maclen, s, sizeof(s));
	snprintf(jws + strlen(jws), sizeof(jws) - strlen(jws), ".%s", s);
	is_int(verify(j, jws), JOSE_EALG, "HS256 with the RSA key as secret refused");
	OPENSSL_free(der);

	/* Algorithm and key type must agree. */
	sign_jws(&ec1, "ES256", "{\"alg\":\"ES256\",\"kid\":\"rsa1\"}", payload, jws, sizeof(jws));
	is_int(verify(j, jws), JOSE_ENOKEY, "ES256 naming an RSA kid: no key");
	sign_jws(&rsa1, "RS256", "{\"alg\":\"RS256\",\"kid\":\"ec1\"}", payload, jws, sizeof(jws));
	is_int(verify(j, jws), JOSE_ENOKEY, "RS256 naming an EC kid: no key");
	sign_jws(&ec384, "ES256", "{\"alg\":\"ES256\",\"kid\":\"ec384\"}", payload, jws,
		 sizeof(jws));
	is_int(verify(j, jws), JOSE_ENOKEY, "ES256 naming a P-384 key: no key");
	sign_jws(&rsa2, "PS256", "{\"alg\":\"PS256\",\"kid\":\"rsa2\"}", payload, jws, sizeof(jws));
	is_int(verify(j, jws), JOSE_ENOKEY, "PS256 with a key pinned to RS256: no key");
	sign_jws(&rsa1, "RS256", "{\"alg\":\"RS256\",\"kid\":\"nosuch\"}", payload, jws,
		 sizeof(jws));
	is_int(verify(j, jws), JOSE_ENOKEY, "unknown kid: no key");
	sign_jws(&rsa1, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"crit\":[\"exp\"],\"exp\":1}",
		 payload, jws, sizeof(jws));
	is_int(verify(j, jws), JOSE_EALG, "crit header refused");
	sign_jws(&rsa1, "RS256", "{\"alg\":\"RS999\",\"kid\":\"rsa1\"}", payload, jws, sizeof(jws));
	is_int(verify(j, jws), JOSE_EALG, "unknown alg refused");
	sign_jws(&rsa1, "RS256", "{\"alg\":\"rs256\",\"kid\":\"rsa1\"}", payload, jws, sizeof(jws));
	is_int(verify(j, jws), JOSE_EALG, "alg is case-sensitive");
	sign_jws(&rsa1, "RS256", "{\"alg\":\"RS256\\u0000\",\"kid\":\"rsa1\"}", payload, jws,
		 sizeof(jws));
	is_int(verify(j, jws), JOSE_EMALFORMED, "alg hiding a NUL refused");
	sign_jws(&rsa1, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\\u0000x\"}", payload, jws,
		 sizeof(jws));
	is_int(verify(j, jws), JOSE_EMALFORMED, "kid hiding a NUL refused");

	/* No kid: every compatible key is tried. */
	sign_jws(&rsa2, "RS256", "{\"alg\":\"RS256\"}", payload, jws, sizeof(jws));
	is_int(verify(j, jws), JOSE_OK, "no kid: matching key found among several");
	sign_jws(&rogue, "RS256", "{\"alg\":\"RS256\"}", payload, jws, sizeof(jws));
	is_int(verify(j, jws), JOSE_ESIG, "no kid, foreign key: bad signature");

	/* A key embedded in the header is never trusted. */
	{
		char jwk[2048], hdr[2600];
		jwk_of(&rogue, "", jwk, sizeof(jwk));
		snprintf(hdr, sizeof(hdr), "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"jwk\":%s}", jwk);
		sign_jws(&rogue, "RS256", hdr, payload, jws, sizeof(jws));
		is_int(verify(j, jws), JOSE_ESIG, "embedded jwk ignored");
		snprintf(hdr, sizeof(hdr),
			 "{\"alg\":\"RS256\",\"kid\":\"rsa1\",\"jku\":\"https://evil/jwks\"}");
		sign_jws(&rogue, "RS256", hdr, payload, jws, sizeof(jws));
		is_int(verify(j, jws), JOSE_ESIG, "jku ignored");
	}
	is_int(verify(NULL, jws), JOSE_ENOKEY, "no key set: no key");
}

static void
test_malformed(const struct jose_jwks *j)
{
	static const char *const bad[] = {
	    "",
	    "abc",
	    "abc.def",
	    "a.b.c.d",
	    ".eyJ9.AAAA",
	    "eyJhbGciOiJSUzI1NiJ9..AAAA",
	    "eyJhbGciOiJSUzI1NiJ9=.eyJ9.AAAA",
	    "eyJhbGciOi+SUzI1NiJ9.eyJ9.AAAA",
	    "eyJhbGciOi/SUzI1NiJ9.eyJ9.AAAA",
	    "eyJhbGciOi SUzI1NiJ9.eyJ9.AAAA",
	    "e.eyJ9.AAAA",
	    "bm90IGpzb24.eyJ9.AAAA",         /* "not json" */
	    "WyJSUzI1NiJd.eyJ9.AAAA",        /* ["RS256"] */
	    "eyJhbGciOiJSUzI1NiJ9eA.eyJ9.AAAA", /* {"alg":"RS256"}x */
	    "eyJraWQiOiJyc2ExIn0.eyJ9.AAAA", /* no alg */
	    "eyJhbGciOjF9.eyJ9.AAAA",        /* alg: 1 */
	    "eyJhbGciOiJSUzI1NiIsImtpZCI6MX0.eyJ9.AAAA", /* kid: 1 */
	    "eyJhbGciOiJSUzI1NiIsImtpZCI6IiJ9.eyJ9.AAAA", /* kid: "" */
	    "eyJhbGciOiJSUzI1NiJ9.eyJ9.AAA!",
	};
	char big[JOSE_JWS_MAX + 64], jws[16384];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(verify(j, bad[i]), JOSE_EMALFORMED, "malformed %zu \"%s\"", i, bad[i]);
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[10] = '.';
	big[20] = '.';
	is_int(verify(j, big), JOSE_EMALFORMED, "oversized JWS refused");

	/* Non-canonical base64url: flip the last signature char's zero bits. */
	sign_jws(&ec1, "ES256", "{\"alg\":\"ES256\",\"kid\":\"ec1\"}", payload, jws, sizeof(jws));
	{
		size_t n = strlen(jws);
		/* 64 bytes -> 86 chars, last char carries 2 zero bits. */
		jws[n - 1] = (char)(jws[n - 1] + 1);
		is_int(verify(j, jws), JOSE_EMALFORMED, "non-zero trailing bits refused");
	}
	/* NUL inside the token. */
	sign_jws(&rsa1, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", payload, jws, sizeof(jws));
	{
		size_t n = strlen(jws);
		struct json_object *c = NULL;
		jws[5] = '\0';
		is_int(jose_jws_verify(j, jws, n, &c, NULL, 0, NULL, 0), JOSE_EMALFORMED,
		       "embedded NUL refused");
		ok(c == NULL, "no claims on failure");
	}
	/* Payload that is not a JSON object, but correctly signed. */
	sign_jws(&rsa1, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", "[1,2]", jws, sizeof(jws));
	is_int(verify(j, jws), JOSE_EMALFORMED, "signed non-object payload refused");
	sign_jws(&rsa1, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", "{\"a\":1} x", jws,
		 sizeof(jws));
	is_int(verify(j, jws), JOSE_EMALFORMED, "signed payload with trailing garbage refused");
	sign_jws(&rsa1, "RS256", "{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", "{\"a\":\"\xff\"}", jws,
		 sizeof(jws));
	is_int(verify(j, jws), JOSE_EMALFORMED, "signed payload with bad UTF-8 refused");
}

static void
test_b64(void)
{
	static const struct {
		const char *in;
		int want;
	} t[] = {
	    {"", 0},     {"AA", 1},    {"AAA", 2},  {"AAAA", 3}, {"AB", -1},  {"AAB", -1},
	    {"A", -1},   {"AA==", -1}, {"+/8", -1}, {"_-8", 2},  {"AA A", -1}, {"QUJD", 3},
	};
	unsigned char out[8];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		is_int(jose_b64url_decode(t[i].in, strlen(t[i].in), out, sizeof(out)), t[i].want,
		       "b64url \"%s\"", t[i].in);
	is_int(jose_b64url_decode("AAAAAAAA", 8, out, 5), -1, "b64url output too small");
}

static void
test_json(void)
{
	static const struct {
		const char *in;
		int want;
	} t[] = {
	    {"{}", JOSE_OK},
	    {" {\"a\":[1,2,{\"b\":null}]}\r\n", JOSE_OK},
	    {"[]", JOSE_EMALFORMED},
	    {"\"s\"", JOSE_EMALFORMED},
	    {"{'a':1}", JOSE_EMALFORMED},
	    {"{\"a\":NaN}", JOSE_EMALFORMED},
	    {"{\"a\":1}{}", JOSE_EMALFORMED},
	    {"{\"a\":1} x", JOSE_EMALFORMED},
	    {"{\"a\":1}\n{\"b\":2}", JOSE_EMALFORMED},
	    {"{\"a\":1}\n\n", JOSE_OK},
	    {"{\"a\":1}]", JOSE_EMALFORMED},
	    {"{\"a\":1}}", JOSE_EMALFORMED},
	    {"{\"a\":1}0", JOSE_EMALFORMED},
	    {"{\"a\":1", JOSE_EMALFORMED},
	    {"{\"a\":1,}", JOSE_EMALFORMED},
	    {"", JOSE_EMALFORMED},
	    {"{\"a\":\"\xc3\x28\"}", JOSE_EMALFORMED},
	    {"{\"a\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}", JOSE_EMALFORMED},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct json_object *o = NULL;
		int rc = jose_json_parse(t[i].in, strlen(t[i].in), &o);
		is_int(rc, t[i].want, "json %zu", i);
		ok((rc == JOSE_OK) == (o != NULL), "json %zu object iff ok", i);
		json_object_put(o);
	}
	{
		struct json_object *o = NULL;
		is_int(jose_json_parse("{}\0{}", 5, &o), JOSE_EMALFORMED, "json with NUL refused");
	}
}

static void
test_jwks_parse(void)
{
	char a[2048], b[2048], doc[16384];
	struct jose_jwks *j = NULL;
	EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	struct tkey sk = {"small", small};
	static const char *const skipped[] = {
	    "{\"kty\":\"oct\",\"kid\":\"h\",\"k\":\"c2VjcmV0\"}",
	    "{\"kty\":\"EC\",\"kid\":\"k1\",\"crv\":\"secp256k1\",\"x\":\"AA\",\"y\":\"AA\"}",
	    "{\"kty\":\"EC\",\"kid\":\"bad\",\"crv\":\"P-256\",\"x\":\"AQ\",\"y\":\"AQ\"}",
	    "{\"kty\":\"OKP\",\"kid\":\"ed\",\"crv\":\"Ed25519\",\"x\":\"AA\"}",
	    "{\"kty\":\"RSA\",\"kid\":\"nn\",\"e\":\"AQAB\"}",
	    "\"not an object\"",
	};

	is_int(jose_jwks_parse("nope", 4, &j), JOSE_EMALFORMED, "jwks: not JSON");
	is_int(jose_jwks_parse("{\"keys\":{}}", 11, &j), JOSE_EMALFORMED, "jwks: keys not array");
	is_int(jose_jwks_parse("{}", 2, &j), JOSE_EMALFORMED, "jwks: no keys member");
	ok(j == NULL, "jwks: nothing returned on error");

	/* Each of these is skipped; the one good key remains. */
	jwk_of(&rsa1, "", b, sizeof(b));
	for (size_t i = 0; i < sizeof(skipped) / sizeof(skipped[0]); i++) {
		snprintf(doc, sizeof(doc), "{\"keys\":[%s,%s]}", skipped[i], b);
		is_int(jose_jwks_parse(doc, strlen(doc), &j), JOSE_OK, "jwks skip %zu parses", i);
		is_int(jose_jwks_count(j), 1, "jwks skip %zu: one usable key", i);
		jose_jwks_free(j);
		j = NULL;
	}
	{
		static const char *const extras[] = {
		    ",\"use\":\"enc\"",          ",\"key_ops\":[\"encrypt\"]", ",\"key_ops\":\"verify\"",
		    ",\"alg\":\"HS256\"",         ",\"alg\":\"ES256\"",         ",\"alg\":\"none\"",
		};
		for (size_t i = 0; i < sizeof(extras) / sizeof(extras[0]); i++) {
			jwk_of(&rsa2, extras[i], a, sizeof(a));
			snprintf(doc, sizeof(doc), "{\"keys\":[%s,%s]}", a, b);
			jose_jwks_parse(doc, strlen(doc), &j);
			is_int(jose_jwks_count(j), 1, "jwks: RSA key with %s skipped", extras[i]);
			jose_jwks_free(j);
			j = NULL;
		}
	}
	jwk_of(&sk, "", a, sizeof(a));
	snprintf(doc, sizeof(doc), "{\"keys\":[%s]}", a);
	jose_jwks_parse(doc, strlen(doc), &j);
	is_int(jose_jwks_count(j), 0, "jwks: RSA-1024 skipped");
	jose_jwks_free(j);
	j = NULL;
	{
		/* Many keys: capped. */
		size_t off = (size_t)snprintf(doc, sizeof(doc), "{\"keys\":[");
		jwk_of(&ec1, "", a, sizeof(a));
		for (int i = 0; i < 40 && off + strlen(a) + 4 < sizeof(doc); i++)
			off += (size_t)snprintf(doc + off, sizeof(doc) - off, "%s%s", i ? "," : "", a);
		snprintf(doc + off, sizeof(doc) - off, "]}");
		is_int(jose_jwks_parse(doc, strlen(doc), &j), JOSE_OK, "jwks: many keys parse");
		ok(jose_jwks_count(j) <= JOSE_JWKS_KEYS_MAX && jose_jwks_count(j) > 0,
		   "jwks: key count capped (%zu)", jose_jwks_count(j));
		jose_jwks_free(j);
		j = NULL;
	}
	{
		char *huge = malloc(JOSE_JWKS_MAX + 16);
		memset(huge, ' ', JOSE_JWKS_MAX + 15);
		memcpy(huge, "{\"keys\":[]}", 11);
		is_int(jose_jwks_parse(huge, JOSE_JWKS_MAX + 15, &j), JOSE_EMALFORMED,
		       "jwks: oversized refused");
		free(huge);
	}
	jose_jwks_free(NULL);
	EVP_PKEY_free(small);
}

int
main(void)
{
	struct jose_jwks *j;

	rsa1.pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	rsa2.pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	rogue.pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	ec1.pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ec384.pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	ec521.pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
	j = jwks_from(make_jwks());
	is_int(jose_jwks_count(j), 5, "test JWKS has five keys");

	test_algorithms(j);
	test_tampering(j);
	test_alg_rules(j);
	test_malformed(j);
	test_b64();
	test_json();
	test_jwks_parse();

	jose_jwks_free(j);
	EVP_PKEY_free(rsa1.pkey);
	EVP_PKEY_free(rsa2.pkey);
	EVP_PKEY_free(rogue.pkey);
	EVP_PKEY_free(ec1.pkey);
	EVP_PKEY_free(ec384.pkey);
	EVP_PKEY_free(ec521.pkey);
	return tap_done();
}
