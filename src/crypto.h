/*
 * crypto: every primitive mcpgate needs, all from OpenSSL 3 (nothing hand-rolled).
 *
 * Keys: a key file holds one or more 256-bit master keys, one per line as
 *   <kid> <base64url of 32 bytes>
 * where <kid> is 1..16 characters of [A-Za-z0-9_-]; '#' lines and blank lines
 * are ignored.  The first key is the current one (used to seal and sign); the
 * others are kept only to open what older keys sealed (rotation).  Purpose
 * keys (token sealing, cookie HMAC, token hashing) are derived from a master
 * key with HKDF-SHA-256 so one secret never serves two purposes.
 *
 * All functions return 0 on success and -1 on failure unless stated.
 */
#ifndef MCPGATE_CRYPTO_H
#define MCPGATE_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define CRYPTO_KEY_LEN 32
#define CRYPTO_SHA256_LEN 32
#define CRYPTO_KID_MAX 16
#define CRYPTO_KEYS_MAX 8
/* Overhead of crypto_seal() output over the plaintext: see crypto_seal(). */
#define CRYPTO_SEAL_OVERHEAD (1 + CRYPTO_KID_MAX + 12 + 16)

/* Base64url without padding (RFC 4648 §5) of n bytes needs this many chars + NUL. */
#define CRYPTO_B64URL_LEN(n) ((((n) + 2) / 3) * 4 + 1)

struct crypto_key {
	char kid[CRYPTO_KID_MAX + 1];
	unsigned char key[CRYPTO_KEY_LEN];
};

struct crypto_keyring {
	size_t nkeys; /* keys[0] is current */
	struct crypto_key keys[CRYPTO_KEYS_MAX];
};

/* Fill buf with n bytes from the OpenSSL CSPRNG. */
int crypto_random(void *buf, size_t n);
/* Random token: nbytes of randomness as base64url (unpadded, ceil(4n/3) chars) into out;
 * outsz must exceed that length (CRYPTO_B64URL_LEN(nbytes) is always enough). */
int crypto_random_token(char *out, size_t outsz, size_t nbytes);

/* Base64url encode without padding; returns chars written (excluding NUL) or -1 if outsz too small. */
int crypto_b64url_encode(const void *in, size_t inlen, char *out, size_t outsz);
/* Decode base64url (padding optional, no whitespace); returns bytes written or -1
 * on a bad character, bad length or outsz too small. */
int crypto_b64url_decode(const char *in, size_t inlen, void *out, size_t outsz);

/* SHA-256 of in into out[32]. */
int crypto_sha256(const void *in, size_t inlen, unsigned char out[CRYPTO_SHA256_LEN]);
/* HMAC-SHA-256 of in under key into out[32]. */
int crypto_hmac_sha256(const void *key, size_t keylen, const void *in, size_t inlen,
		       unsigned char out[CRYPTO_SHA256_LEN]);
/* HKDF-SHA-256 (RFC 5869): derive outlen bytes from ikm with salt (may be NULL) and info. */
int crypto_hkdf(const void *ikm, size_t ikmlen, const void *salt, size_t saltlen,
		const char *info, void *out, size_t outlen);
/* Constant-time equality of two buffers; lengths may differ (then 0). 1 when equal. */
int crypto_ct_eq(const void *a, size_t alen, const void *b, size_t blen);
/* Wipe a secret (explicit_bzero / OPENSSL_cleanse). */
void crypto_wipe(void *p, size_t n);

/* PKCE S256 (RFC 7636 §4.6): 1 when BASE64URL(SHA256(verifier)) equals challenge,
 * compared in constant time; 0 otherwise (also for malformed input). */
int crypto_pkce_s256_check(const char *verifier, const char *challenge);

/* Load a key file; refuses a file readable by group/other (mode & 077) unless
 * allow_loose_mode. On error writes a message to err. */
int crypto_keyring_load(struct crypto_keyring *ring, const char *path, int allow_loose_mode,
			char *err, size_t errlen);
/* Create a key file with one fresh random key (mode 0600, O_EXCL); fails if it exists. */
int crypto_keyring_generate(const char *path, const char *kid, char *err, size_t errlen);
/* Wipe all keys. */
void crypto_keyring_wipe(struct crypto_keyring *ring);
/* Derive the purpose key for key index i (0 = current) into out[32]; purpose is a
 * short label such as "token-seal", "cookie-mac", "token-hash". */
int crypto_keyring_derive(const struct crypto_keyring *ring, size_t i, const char *purpose,
			  unsigned char out[CRYPTO_KEY_LEN]);

/*
 * AEAD seal with AES-256-GCM under the current key's purpose key, with a fresh
 * random 96-bit nonce. Output (binary):
 *   kidlen(1) kid(kidlen) nonce(12) ciphertext(ptlen) tag(16)
 * aad (may be NULL) is authenticated, not stored; so are kidlen and kid.
 * pt and out must not overlap. Returns bytes written or -1.
 */
int crypto_seal(const struct crypto_keyring *ring, const char *purpose, const void *aad,
		size_t aadlen, const void *pt, size_t ptlen, void *out, size_t outsz);
/* Open what crypto_seal wrote, choosing the key by kid; -1 on unknown kid, any
 * tampering or outsz too small. Returns plaintext bytes written. */
int crypto_open(const struct crypto_keyring *ring, const char *purpose, const void *aad,
		size_t aadlen, const void *in, size_t inlen, void *out, size_t outsz);

/* Keyed hash for storing tokens/secrets by value: HMAC-SHA-256 under the
 * current key's "token-hash" purpose key, hex-encoded into out (outsz >= 65).
 * Note: after rotation, hashes made with an older key are found by trying
 * crypto_token_hash_i() for each key index. */
int crypto_token_hash(const struct crypto_keyring *ring, const char *token, char *out, size_t outsz);
int crypto_token_hash_i(const struct crypto_keyring *ring, size_t i, const char *token, char *out,
			size_t outsz);

#endif
