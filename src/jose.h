/*
 * jose: verification of JWS compact serialisations (RFC 7515) signed with
 * asymmetric keys from a JWK Set (RFC 7517), for OpenID Connect ID tokens.
 *
 * Algorithms (RFC 7518): RS256/384/512, PS256/384/512, ES256/384/512.
 * "none" and every HMAC algorithm are refused: an ID token verified with a
 * key the provider publishes must be signed with that key's private half
 * (a public RSA key used as an HMAC secret is the classic confusion attack).
 * Keys are chosen by kid and must match the algorithm's key type (and curve,
 * and the key's own "alg" when it has one); embedded keys and key URLs in
 * the header (jwk, jku, x5u, x5c) are never used.  A header listing "crit"
 * extensions is refused (we implement none, RFC 7515 §4.1.11).
 *
 * Parsing is strict: base64url without padding and with zero trailing bits,
 * JSON objects only, no trailing bytes, bounded nesting and sizes.
 */
#ifndef MCPGATE_JOSE_H
#define MCPGATE_JOSE_H

#include <stddef.h>

#include <json-c/json.h>

#define JOSE_JWS_MAX (16 * 1024)   /* whole compact JWS */
#define JOSE_JWKS_MAX (64 * 1024)  /* JWK Set document */
#define JOSE_JWKS_KEYS_MAX 32      /* usable keys kept from one set */
#define JOSE_KID_MAX 128
#define JOSE_JSON_DEPTH 16

enum jose_status {
	JOSE_OK = 0,
	JOSE_EMALFORMED = -1, /* not a well-formed JWS/JWKS: segments, base64url, JSON, sizes */
	JOSE_EALG = -2,       /* alg missing, none, HMAC, unsupported, or crit present */
	JOSE_ENOKEY = -3,     /* no key in the set for this kid/alg: maybe refetch the JWKS */
	JOSE_ESIG = -4,       /* signature does not verify */
	JOSE_ERROR = -5       /* out of memory, OpenSSL failure */
};

struct jose_jwks; /* opaque parsed key set */

/* Parse a JWK Set.  Keys that are unusable (private-only kinds, oct keys,
 * unsupported curves, use other than "sig", RSA under 2048 bits, points not
 * on the curve) are skipped, not fatal.  JOSE_OK with *out set (possibly with
 * zero keys), or JOSE_EMALFORMED / JOSE_ERROR.  Free with jose_jwks_free. */
int jose_jwks_parse(const char *json, size_t len, struct jose_jwks **out);
void jose_jwks_free(struct jose_jwks *jwks);
/* Number of usable keys kept. */
size_t jose_jwks_count(const struct jose_jwks *jwks);

/*
 * Verify a compact JWS against jwks.  On JOSE_OK, *claims is the payload, a
 * JSON object the caller releases with json_object_put(); on any failure it
 * is NULL.  alg_out/kid_out (may be NULL) receive the header's alg and kid
 * (for logs) as soon as the header parses, whatever the outcome.
 */
int jose_jws_verify(const struct jose_jwks *jwks, const char *jws, size_t len,
		    struct json_object **claims, char *alg_out, size_t alg_outsz, char *kid_out,
		    size_t kid_outsz);

/* Parse len bytes of JSON text that must be exactly one object: strict
 * grammar, valid UTF-8, no NUL bytes, nothing after it, nesting bounded by
 * JOSE_JSON_DEPTH.  JOSE_OK with *out (release with json_object_put),
 * JOSE_EMALFORMED or JOSE_ERROR.  Used for every JSON document we fetch. */
int jose_json_parse(const char *s, size_t len, struct json_object **out);

/* Short name of a status for logs. */
const char *jose_strerror(int status);

/* Strict base64url decoding (no padding, no whitespace, zero trailing bits).
 * Returns bytes written, or -1.  Exposed for the tests and the fuzz target. */
int jose_b64url_decode(const char *in, size_t inlen, unsigned char *out, size_t outsz);

#endif
