/*
 * test_crypto: known-answer vectors for every primitive (FIPS 180, RFC 4231,
 * RFC 5869, RFC 4648, RFC 7636), AEAD tamper resistance, key rotation, and
 * the key file loader/generator against good and hostile files.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "tap.h"

#define KEY_A "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8" /* bytes 0..31 */
#define KEY_B "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8" /* bytes 32..63 */

static char tmpdir[64];

/* ---- helpers ---- */

static size_t
hex2bin(const char *hex, unsigned char *out, size_t outsz)
{
	size_t n = strlen(hex) / 2, i;
	unsigned int v;

	for (i = 0; i < n && i < outsz; i++) {
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return 0;
		out[i] = (unsigned char)v;
	}
	return i;
}

static const char *
bin2hex(const unsigned char *in, size_t n, char *out, size_t outsz)
{
	size_t i;

	out[0] = '\0';
	for (i = 0; i < n && 2 * i + 2 < outsz; i++)
		snprintf(out + 2 * i, 3, "%02x", in[i]);
	return out;
}

static void
ring_set(struct crypto_keyring *ring, size_t i, const char *kid, unsigned char fill)
{
	snprintf(ring->keys[i].kid, sizeof(ring->keys[i].kid), "%s", kid);
	memset(ring->keys[i].key, fill, CRYPTO_KEY_LEN);
	if (ring->nkeys < i + 1)
		ring->nkeys = i + 1;
}

static void
tmp_path(char *out, size_t outsz, const char *name)
{
	snprintf(out, outsz, "%s/%s", tmpdir, name);
}

static int
write_file(const char *name, const char *text, mode_t mode, char *path, size_t pathsz)
{
	FILE *f;

	tmp_path(path, pathsz, name);
	unlink(path);
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	fputs(text, f);
	if (fclose(f) != 0)
		return -1;
	return chmod(path, mode);
}

/* ---- hashes, MAC, KDF ---- */

static void
test_sha256(void)
{
	static const struct {
		const char *in, *want;
	} t[] = {
		/* FIPS 180-2 Appendix B.1, B.2 and the empty string */
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	};
	unsigned char d[CRYPTO_SHA256_LEN];
	char hex[65];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		is_int(crypto_sha256(t[i].in, strlen(t[i].in), d), 0, "sha256 #%zu runs", i);
		is_str(bin2hex(d, sizeof(d), hex, sizeof(hex)), t[i].want, "sha256 #%zu", i);
	}
	is_int(crypto_sha256(NULL, 0, d), 0, "sha256 of NULL,0 is the empty string");
	is_str(bin2hex(d, sizeof(d), hex, sizeof(hex)), t[1].want, "sha256 NULL,0 value");
	is_int(crypto_sha256(NULL, 1, d), -1, "sha256 NULL with length refused");
}

static void
test_hmac(void)
{
	/* RFC 4231 §4.2, 4.3, 4.7, 4.8; key is hex, repeated keyrep times. */
	static const struct {
		const char *key;
		size_t keyrep;
		const char *data, *want;
	} t[] = {
		{ "0b", 20, "Hi There",
		  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
		{ "4a656665", 1, "what do ya want for nothing?",
		  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
		{ "aa", 131, "Test Using Larger Than Block-Size Key - Hash Key First",
		  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
		{ "aa", 131,
		  "This is a test using a larger than block-size key and a larger than "
		  "block-size data. The key needs to be hashed before being used by the HMAC "
		  "algorithm.",
		  "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2" },
		/* empty key and message (RFC 2104 allows a zero-length key) */
		{ "", 0, "", "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad" },
	};
	unsigned char key[256], mac[CRYPTO_SHA256_LEN];
	char hex[65];
	size_t i, r, klen, one;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		klen = 0;
		one = hex2bin(t[i].key, key, sizeof(key));
		for (r = 0; r < (t[i].keyrep ? t[i].keyrep : 1) && one > 0; r++)
			klen += hex2bin(t[i].key, key + klen, sizeof(key) - klen);
		is_int(crypto_hmac_sha256(klen ? key : NULL, klen, t[i].data, strlen(t[i].data), mac),
		       0, "hmac #%zu runs", i);
		is_str(bin2hex(mac, sizeof(mac), hex, sizeof(hex)), t[i].want, "hmac #%zu", i);
	}
	is_int(crypto_hmac_sha256(NULL, 4, "x", 1, mac), -1, "hmac NULL key with length refused");
}

static void
test_hkdf(void)
{
	unsigned char ikm[22], salt[13], okm[64], big[255 * 32 + 1];
	char hex[129];

	memset(ikm, 0x0b, sizeof(ikm));
	hex2bin("000102030405060708090a0b0c", salt, sizeof(salt));
	/* RFC 5869 A.1 */
	is_int(crypto_hkdf(ikm, sizeof(ikm), salt, sizeof(salt),
			   "\xf0\xf1\xf2\xf3\xf4\xf5\xf6\xf7\xf8\xf9", okm, 42),
	       0, "hkdf A.1 runs");
	is_str(bin2hex(okm, 42, hex, sizeof(hex)),
	       "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
	       "hkdf RFC 5869 A.1");
	/* RFC 5869 A.3: no salt, no info */
	is_int(crypto_hkdf(ikm, sizeof(ikm), NULL, 0, "", okm, 42), 0, "hkdf A.3 runs");
	is_str(bin2hex(okm, 42, hex, sizeof(hex)),
	       "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
	       "hkdf RFC 5869 A.3");
	is_int(crypto_hkdf(ikm, sizeof(ikm), NULL, 0, NULL, okm, 42), 0, "hkdf info NULL = empty");
	is_str(bin2hex(okm, 42, hex, sizeof(hex)),
	       "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
	       "hkdf info NULL value");
	is_int(crypto_hkdf(ikm, sizeof(ikm), NULL, 0, "x", okm, 0), -1, "hkdf outlen 0 refused");
	is_int(crypto_hkdf(ikm, sizeof(ikm), NULL, 0, "x", big, sizeof(big)), -1,
	       "hkdf outlen > 255*HashLen refused");
	is_int(crypto_hkdf(ikm, sizeof(ikm), NULL, 0, "x", big, sizeof(big) - 1), 0,
	       "hkdf outlen = 255*HashLen ok");
	is_int(crypto_hkdf(NULL, 0, NULL, 0, "x", okm, 32), -1, "hkdf without ikm refused");
	is_int(crypto_hkdf(ikm, sizeof(ikm), NULL, 3, "x", okm, 32), -1, "hkdf NULL salt w/ len");
}

static void
test_ct_eq(void)
{
	static const struct {
		const char *a, *b;
		size_t alen, blen;
		int want;
	} t[] = {
		{ "abc", "abc", 3, 3, 1 },   { "abc", "abd", 3, 3, 0 },  { "abc", "abcd", 3, 4, 0 },
		{ "abcd", "abc", 4, 3, 0 },  { "", "", 0, 0, 1 },        { "abc", "", 3, 0, 0 },
		{ "a\0b", "a\0c", 3, 3, 0 }, { "xbc", "abc", 3, 3, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		is_int(crypto_ct_eq(t[i].a, t[i].alen, t[i].b, t[i].blen), t[i].want, "ct_eq #%zu",
		       i);
	is_int(crypto_ct_eq(NULL, 0, NULL, 0), 1, "ct_eq NULL,0 == NULL,0");
	is_int(crypto_ct_eq(NULL, 3, "abc", 3), 0, "ct_eq NULL with length is 0");
}

/* ---- base64url ---- */

static void
test_b64url_vectors(void)
{
	/* RFC 4648 §10, plus bytes that hit the url-specific characters. */
	static const struct {
		const char *bin;
		size_t len;
		const char *enc;
	} t[] = {
		{ "", 0, "" },		{ "f", 1, "Zg" },	      { "fo", 2, "Zm8" },
		{ "foo", 3, "Zm9v" },	{ "foob", 4, "Zm9vYg" },      { "fooba", 5, "Zm9vYmE" },
		{ "foobar", 6, "Zm9vYmFy" }, { "\xfb\xff\xbf", 3, "-_-_" }, { "\xfb\xff", 2, "-_8" },
		{ "\xff", 1, "_w" },	{ "\0\0\0", 3, "AAAA" },
	};
	char enc[64];
	unsigned char dec[64];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		is_int(crypto_b64url_encode(t[i].bin, t[i].len, enc, sizeof(enc)),
		       (int)strlen(t[i].enc), "b64url encode #%zu length", i);
		is_str(enc, t[i].enc, "b64url encode #%zu", i);
		memset(dec, 0xee, sizeof(dec));
		is_int(crypto_b64url_decode(t[i].enc, strlen(t[i].enc), dec, sizeof(dec)),
		       (int)t[i].len, "b64url decode #%zu length", i);
		ok(memcmp(dec, t[i].bin, t[i].len) == 0, "b64url decode #%zu bytes", i);
		ok(dec[t[i].len] == 0xee, "b64url decode #%zu wrote no more", i);
	}
}

static void
test_b64url_padding_and_sizes(void)
{
	static const struct {
		const char *enc;
		int want;
	} padded[] = {
		{ "Zg==", 1 }, { "Zm8=", 2 }, { "Zm9v", 3 }, { "Zm9vYg==", 4 }, { "Zm9vYmE=", 5 },
	};
	unsigned char dec[16];
	char enc[16];
	size_t i;

	for (i = 0; i < sizeof(padded) / sizeof(padded[0]); i++)
		is_int(crypto_b64url_decode(padded[i].enc, strlen(padded[i].enc), dec, sizeof(dec)),
		       padded[i].want, "b64url padded %s accepted", padded[i].enc);
	/* "foobar" needs 8 chars + NUL; "fooba" 7 + NUL */
	is_int(crypto_b64url_encode("foobar", 6, enc, 8), -1, "encode outsz too small (no NUL room)");
	is_int(crypto_b64url_encode("foobar", 6, enc, 9), 8, "encode exact outsz");
	is_int(crypto_b64url_encode("fooba", 5, enc, 8), 7, "encode unpadded exact outsz");
	is_int(crypto_b64url_encode("fooba", 5, enc, 7), -1, "encode unpadded one short");
	is_int(crypto_b64url_encode("", 0, enc, 0), -1, "encode into outsz 0");
	is_int(crypto_b64url_encode(NULL, 3, enc, sizeof(enc)), -1, "encode NULL input w/ length");
	is_int(crypto_b64url_decode("Zm9vYmFy", 8, dec, 5), -1, "decode outsz too small");
	is_int(crypto_b64url_decode("Zm9vYmFy", 8, dec, 6), 6, "decode exact outsz");
	is_int(crypto_b64url_decode("Zm9vYmE", 7, dec, 4), -1, "decode tail does not fit");
	is_int(crypto_b64url_decode("", 0, NULL, 0), 0, "decode empty into nothing");
	is_int(crypto_b64url_decode("Zg==", 2, dec, sizeof(dec)), 1, "decode honours inlen");
}

static void
test_b64url_malformed(void)
{
	static const struct {
		const char *enc;
		size_t len; /* 0 = strlen */
		const char *why;
	} t[] = {
		{ "Z", 0, "length % 4 == 1" },
		{ "Zm9vY", 0, "length % 4 == 1 after groups" },
		{ "Zh", 0, "non-canonical bits (2 chars)" },
		{ "Zm9", 0, "non-canonical bits (3 chars)" },
		{ "Zm9vYh", 0, "non-canonical bits after a group" },
		{ "Zm+v", 0, "standard alphabet '+'" },
		{ "Zm/v", 0, "standard alphabet '/'" },
		{ "Zm9v ", 0, "trailing space" },
		{ " Zm9v", 0, "leading space" },
		{ "Zm9v\n", 0, "trailing newline" },
		{ "Zm\n9v", 0, "embedded newline" },
		{ "Zm\t9v", 0, "embedded tab" },
		{ "Zm9v\0Zm9v", 9, "embedded NUL" },
		{ "Zg=", 0, "short padding" },
		{ "Zg===", 0, "too much padding" },
		{ "Z===", 0, "padding after one char" },
		{ "====", 0, "only padding" },
		{ "=", 0, "lone padding" },
		{ "Zm9v=", 0, "padding after a full group" },
		{ "Zm8==", 0, "extra padding char" },
		{ "Zg==Zg==", 0, "padding in the middle" },
		{ "Zm=v", 0, "padding inside a group" },
		{ "Zh==", 0, "non-canonical padded" },
		{ "Zm9v\x80", 0, "high-bit byte" },
		{ "Zm9v.", 0, "dot" },
		{ "Zm9v~", 0, "tilde" },
	};
	unsigned char dec[32];
	size_t i, len;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		len = t[i].len ? t[i].len : strlen(t[i].enc);
		is_int(crypto_b64url_decode(t[i].enc, len, dec, sizeof(dec)), -1,
		       "b64url rejects %s", t[i].why);
	}
	is_int(crypto_b64url_decode(NULL, 4, dec, sizeof(dec)), -1, "decode NULL w/ length");
}

static void
test_b64url_roundtrip(void)
{
	unsigned char in[600], back[600];
	char enc[CRYPTO_B64URL_LEN(600)];
	size_t len;
	int bad = 0, n;

	crypto_random(in, sizeof(in));
	for (len = 0; len <= sizeof(in); len += len < 70 ? 1 : 53) {
		n = crypto_b64url_encode(in, len, enc, sizeof(enc));
		if (n < 0 || (size_t)n != (len * 4 + 2) / 3 || strchr(enc, '=') != NULL)
			bad++;
		else if (crypto_b64url_decode(enc, (size_t)n, back, sizeof(back)) != (int)len ||
			 memcmp(in, back, len) != 0)
			bad++;
	}
	is_int(bad, 0, "b64url round trip of lengths 0..600 (chunked decode included)");
}

/* ---- PKCE ---- */

static void
test_pkce(void)
{
	static const char v[] = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
	static const char c[] = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
	char longv[130], chal[CRYPTO_B64URL_LEN(32)];
	unsigned char d[32];

	is_int(crypto_pkce_s256_check(v, c), 1, "pkce RFC 7636 Appendix B");
	is_int(crypto_pkce_s256_check(v, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"), 0,
	       "pkce wrong challenge (last char)");
	is_int(crypto_pkce_s256_check(v, "F9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"), 0,
	       "pkce wrong challenge (first char)");
	is_int(crypto_pkce_s256_check(v, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM="), 0,
	       "pkce padded challenge");
	is_int(crypto_pkce_s256_check(v, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c"), 0,
	       "pkce truncated challenge");
	is_int(crypto_pkce_s256_check(v, ""), 0, "pkce empty challenge");
	is_int(crypto_pkce_s256_check(c, c), 0, "pkce plain (challenge as verifier)");
	is_int(crypto_pkce_s256_check(NULL, c), 0, "pkce NULL verifier");
	is_int(crypto_pkce_s256_check(v, NULL), 0, "pkce NULL challenge");
	is_int(crypto_pkce_s256_check("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX", c), 0,
	       "pkce 42-char verifier");

	/* 43 and 128 chars of the full unreserved set are fine; 129 is not. */
	memset(longv, 'a', sizeof(longv));
	memcpy(longv, "AZaz09-._~", 10);
	longv[128] = '\0';
	crypto_sha256(longv, 128, d);
	crypto_b64url_encode(d, sizeof(d), chal, sizeof(chal));
	is_int(crypto_pkce_s256_check(longv, chal), 1, "pkce 128-char verifier");
	longv[128] = 'a';
	longv[129] = '\0';
	crypto_sha256(longv, 129, d);
	crypto_b64url_encode(d, sizeof(d), chal, sizeof(chal));
	is_int(crypto_pkce_s256_check(longv, chal), 0, "pkce 129-char verifier refused");
	longv[43] = '\0';
	crypto_sha256(longv, 43, d);
	crypto_b64url_encode(d, sizeof(d), chal, sizeof(chal));
	is_int(crypto_pkce_s256_check(longv, chal), 1, "pkce 43-char verifier");
	longv[20] = '+';
	crypto_sha256(longv, 43, d);
	crypto_b64url_encode(d, sizeof(d), chal, sizeof(chal));
	is_int(crypto_pkce_s256_check(longv, chal), 0, "pkce verifier with '+' refused");
	longv[20] = ' ';
	crypto_sha256(longv, 43, d);
	crypto_b64url_encode(d, sizeof(d), chal, sizeof(chal));
	is_int(crypto_pkce_s256_check(longv, chal), 0, "pkce verifier with space refused");
}

/* ---- randomness ---- */

static void
test_random(void)
{
	char a[CRYPTO_B64URL_LEN(32)], b[CRYPTO_B64URL_LEN(32)];
	unsigned char z[64], zero[64];

	is_int(crypto_random_token(a, sizeof(a), 32), 0, "random token a");
	is_int(crypto_random_token(b, sizeof(b), 32), 0, "random token b");
	ok(strcmp(a, b) != 0, "random tokens differ");
	is_int((int)strlen(a), 43, "32-byte token is 43 chars");
	ok(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == 43,
	   "token uses the base64url alphabet only");
	is_int(crypto_random_token(a, 44, 32), 0, "token fits its exact length + NUL");
	is_int((long long)strlen(a), 43, "32 bytes -> 43 chars");
	is_int(crypto_random_token(a, 43, 32), -1, "token outsz without room for NUL refused");
	is_int(crypto_random_token(a, sizeof(a), 0), -1, "zero-byte token refused");
	is_int(crypto_random(NULL, 0), 0, "random of 0 bytes");
	is_int(crypto_random(NULL, 1), -1, "random into NULL refused");
	memset(z, 0, sizeof(z));
	memset(zero, 0, sizeof(zero));
	is_int(crypto_random(z, sizeof(z)), 0, "random 64 bytes");
	ok(memcmp(z, zero, sizeof(z)) != 0, "random bytes are not all zero");
	crypto_wipe(z, sizeof(z));
	ok(memcmp(z, zero, sizeof(z)) == 0, "wipe zeroes");
	crypto_wipe(NULL, 5);
	ok(1, "wipe NULL is harmless");
}

/* ---- key derivation ---- */

static void
test_derive(void)
{
	struct crypto_keyring ring;
	unsigned char k1[32], k2[32], k3[32], k4[32];
	char longp[64];

	memset(&ring, 0, sizeof(ring));
	ring_set(&ring, 0, "A", 0x11);
	ring_set(&ring, 1, "B", 0x22);
	is_int(crypto_keyring_derive(&ring, 0, "token-seal", k1), 0, "derive token-seal");
	is_int(crypto_keyring_derive(&ring, 0, "token-seal", k2), 0, "derive again");
	ok(memcmp(k1, k2, 32) == 0, "derive is deterministic");
	is_int(crypto_keyring_derive(&ring, 0, "cookie-mac", k3), 0, "derive cookie-mac");
	ok(memcmp(k1, k3, 32) != 0, "purposes give different keys");
	is_int(crypto_keyring_derive(&ring, 1, "token-seal", k4), 0, "derive from key 1");
	ok(memcmp(k1, k4, 32) != 0, "master keys give different keys");
	ok(memcmp(k1, ring.keys[0].key, 32) != 0, "purpose key is not the master key");
	is_int(crypto_keyring_derive(&ring, 2, "token-seal", k1), -1, "index past nkeys refused");
	is_int(crypto_keyring_derive(&ring, 0, NULL, k1), -1, "NULL purpose refused");
	is_int(crypto_keyring_derive(&ring, 0, "", k1), -1, "empty purpose refused");
	is_int(crypto_keyring_derive(&ring, 0, "token seal", k1), -1, "purpose with space refused");
	memset(longp, 'p', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	is_int(crypto_keyring_derive(&ring, 0, longp, k1), -1, "63-char purpose refused");
	is_int(crypto_keyring_derive(NULL, 0, "x", k1), -1, "NULL ring refused");
	crypto_keyring_wipe(&ring);
	is_int((int)ring.nkeys, 0, "keyring_wipe clears nkeys");
}

/* ---- AEAD ---- */

static void
test_seal_roundtrip(void)
{
	static const size_t lens[] = { 0, 1, 15, 16, 17, 200, 4096 };
	struct crypto_keyring ring;
	unsigned char pt[4096], blob[4096 + CRYPTO_SEAL_OVERHEAD], back[4096], blob2[64];
	size_t i;
	int n;

	memset(&ring, 0, sizeof(ring));
	ring_set(&ring, 0, "k-2026_01", 0x5a);
	crypto_random(pt, sizeof(pt));
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		n = crypto_seal(&ring, "token-seal", "aad", 3, pt, lens[i], blob, sizeof(blob));
		is_int(n, (int)(1 + 9 + 12 + lens[i] + 16), "seal %zu bytes: length", lens[i]);
		is_int(crypto_open(&ring, "token-seal", "aad", 3, blob, (size_t)n, back, sizeof(back)),
		       (int)lens[i], "open %zu bytes", lens[i]);
		ok(memcmp(pt, back, lens[i]) == 0, "open %zu bytes: same plaintext", lens[i]);
	}
	ok(blob[0] == 9 && memcmp(blob + 1, "k-2026_01", 9) == 0, "kid is embedded in the clear");
	n = crypto_seal(&ring, "p", NULL, 0, "secret", 6, blob, sizeof(blob));
	is_int(crypto_seal(&ring, "p", NULL, 0, "secret", 6, blob2, sizeof(blob2)), n, "seal twice");
	ok(memcmp(blob, blob2, (size_t)n) != 0, "fresh nonce: same plaintext seals differently");
	is_int(crypto_open(&ring, "p", NULL, 0, blob, (size_t)n, back, sizeof(back)), 6,
	       "open with NULL aad");
	is_int(crypto_open(&ring, "p", NULL, 0, blob, (size_t)n, back, 5), -1, "open outsz too small");
	is_int(crypto_seal(&ring, "p", NULL, 0, "secret", 6, blob2, (size_t)n - 1), -1,
	       "seal outsz too small");
	is_int(crypto_seal(&ring, "p", NULL, 3, "secret", 6, blob2, sizeof(blob2)), -1,
	       "seal NULL aad with length refused");
	ring.nkeys = 0;
	is_int(crypto_seal(&ring, "p", NULL, 0, "secret", 6, blob2, sizeof(blob2)), -1,
	       "seal with an empty ring refused");
	crypto_keyring_wipe(&ring);
}

static void
test_seal_tamper(void)
{
	struct crypto_keyring ring;
	unsigned char pt[40], blob[40 + CRYPTO_SEAL_OVERHEAD], back[64];
	size_t bit, len, opened = 0, trunc_opened = 0;
	int n;

	memset(&ring, 0, sizeof(ring));
	ring_set(&ring, 0, "cur", 0x01);
	ring_set(&ring, 1, "cus", 0x01); /* same key bytes: only the kid differs */
	memset(pt, 'p', sizeof(pt));
	n = crypto_seal(&ring, "token-seal", "client-1", 8, pt, sizeof(pt), blob, sizeof(blob));
	ok(n > 0, "seal for tamper tests");
	for (bit = 0; bit < (size_t)n * 8; bit++) {
		blob[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		if (crypto_open(&ring, "token-seal", "client-1", 8, blob, (size_t)n, back,
				sizeof(back)) >= 0)
			opened++;
		blob[bit / 8] ^= (unsigned char)(1u << (bit % 8));
	}
	is_int(opened, 0, "all %d single-bit flips rejected (kid, nonce, ciphertext, tag)", n * 8);
	for (len = 0; len < (size_t)n; len++)
		if (crypto_open(&ring, "token-seal", "client-1", 8, blob, len, back, sizeof(back)) >= 0)
			trunc_opened++;
	is_int(trunc_opened, 0, "every truncation rejected");
	is_int(crypto_open(&ring, "token-seal", "client-2", 8, blob, (size_t)n, back, sizeof(back)), -1,
	       "wrong aad rejected");
	is_int(crypto_open(&ring, "token-seal", "client-", 7, blob, (size_t)n, back, sizeof(back)), -1,
	       "aad prefix rejected");
	is_int(crypto_open(&ring, "token-seal", NULL, 0, blob, (size_t)n, back, sizeof(back)), -1,
	       "missing aad rejected");
	is_int(crypto_open(&ring, "cookie-mac", "client-1", 8, blob, (size_t)n, back, sizeof(back)), -1,
	       "wrong purpose rejected");
	blob[n] = 0;
	is_int(crypto_open(&ring, "token-seal", "client-1", 8, blob, (size_t)n + 1, back, sizeof(back)),
	       -1, "extra trailing byte rejected");
	is_int(crypto_open(&ring, "token-seal", "client-1", 8, blob, (size_t)n, back, sizeof(back)), 40,
	       "untouched blob still opens");
	memcpy(blob + 1, "cus", 3);
	is_int(crypto_open(&ring, "token-seal", "client-1", 8, blob, (size_t)n, back, sizeof(back)), -1,
	       "kid swapped to another key with the same bytes rejected (kid is authenticated)");
	crypto_keyring_wipe(&ring);
}

static void
test_seal_rotation(void)
{
	struct crypto_keyring a, ba, b;
	unsigned char blob[64], back[64];
	int n;

	memset(&a, 0, sizeof(a));
	memset(&ba, 0, sizeof(ba));
	memset(&b, 0, sizeof(b));
	ring_set(&a, 0, "A", 0xaa);
	ring_set(&ba, 0, "B", 0xbb);
	ring_set(&ba, 1, "A", 0xaa);
	ring_set(&b, 0, "B", 0xbb);
	n = crypto_seal(&a, "token-seal", "x", 1, "hello", 5, blob, sizeof(blob));
	ok(n > 0, "seal with [A]");
	is_int(crypto_open(&ba, "token-seal", "x", 1, blob, (size_t)n, back, sizeof(back)), 5,
	       "open with [B, A] after rotation");
	ok(memcmp(back, "hello", 5) == 0, "rotation plaintext");
	is_int(crypto_open(&b, "token-seal", "x", 1, blob, (size_t)n, back, sizeof(back)), -1,
	       "open with [B] (A retired) fails");
	n = crypto_seal(&ba, "token-seal", "x", 1, "hello", 5, blob, sizeof(blob));
	ok(n > 0 && blob[0] == 1 && blob[1] == 'B', "[B, A] seals with B");
	is_int(crypto_open(&a, "token-seal", "x", 1, blob, (size_t)n, back, sizeof(back)), -1,
	       "[A] cannot open what B sealed");
	/* Same kid, different key bytes: must fail, not open garbage. */
	ring_set(&b, 0, "B", 0xbc);
	is_int(crypto_open(&b, "token-seal", "x", 1, blob, (size_t)n, back, sizeof(back)), -1,
	       "same kid with other key bytes fails");
}

/* ---- token hashing ---- */

static void
test_token_hash(void)
{
	struct crypto_keyring ring;
	char h1[65], h2[65], h3[65], h4[65];

	memset(&ring, 0, sizeof(ring));
	ring_set(&ring, 0, "A", 0x31);
	ring_set(&ring, 1, "B", 0x32);
	is_int(crypto_token_hash(&ring, "tok-1", h1, sizeof(h1)), 0, "token_hash");
	is_int((int)strlen(h1), 64, "token_hash is 64 chars");
	ok(strspn(h1, "0123456789abcdef") == 64, "token_hash is lowercase hex");
	is_int(crypto_token_hash_i(&ring, 0, "tok-1", h2, sizeof(h2)), 0, "token_hash_i 0");
	is_str(h2, h1, "token_hash == token_hash_i(0)");
	is_int(crypto_token_hash_i(&ring, 1, "tok-1", h3, sizeof(h3)), 0, "token_hash_i 1");
	ok(strcmp(h1, h3) != 0, "older key hashes differently");
	is_int(crypto_token_hash(&ring, "tok-2", h4, sizeof(h4)), 0, "token_hash other token");
	ok(strcmp(h1, h4) != 0, "different tokens hash differently");
	is_int(crypto_token_hash(&ring, "tok-1", h4, 64), -1, "token_hash outsz 64 refused");
	is_int(crypto_token_hash_i(&ring, 2, "tok-1", h4, sizeof(h4)), -1, "index past nkeys");
	is_int(crypto_token_hash(&ring, NULL, h4, sizeof(h4)), -1, "NULL token refused");
	crypto_keyring_wipe(&ring);
}

/* ---- key files ---- */

static void
test_keyring_load_good(void)
{
	static const char text[] = "# comment\n"
				   "\n"
				   "   \t\n"
				   "  # indented comment\n"
				   "new_1 " KEY_B "\r\n"
				   "\told-0\t\t" KEY_A "  \n"
				   "# last line without newline\n"
				   "k3 " KEY_B;
	struct crypto_keyring ring;
	char path[256], err[512];
	size_t i;
	int good = 1;

	ok(write_file("good", text, 0600, path, sizeof(path)) == 0, "write good key file");
	/* k3 duplicates a key value (allowed: only kids must be unique) */
	is_int(crypto_keyring_load(&ring, path, 0, err, sizeof(err)), 0, "load good key file");
	is_str(err, "", "no error message on success");
	is_int((int)ring.nkeys, 3, "three keys");
	is_str(ring.keys[0].kid, "new_1", "first key is current");
	is_str(ring.keys[1].kid, "old-0", "second key");
	is_str(ring.keys[2].kid, "k3", "third key (no trailing newline)");
	for (i = 0; i < 32; i++)
		good &= ring.keys[0].key[i] == 32 + i && ring.keys[1].key[i] == i;
	ok(good, "key bytes decoded");
	crypto_keyring_wipe(&ring);

	ok(write_file("loose", "a " KEY_A "\n", 0644, path, sizeof(path)) == 0, "write 0644 file");
	is_int(crypto_keyring_load(&ring, path, 1, err, sizeof(err)), 0,
	       "0644 accepted with allow_loose_mode");
	crypto_keyring_wipe(&ring);
}

static void
test_keyring_load_bad(void)
{
	static const struct {
		const char *name, *text, *msg;
		mode_t mode;
	} t[] = {
		{ "empty", "", "no keys", 0600 },
		{ "comments", "# only\n\n# comments\n", "no keys", 0600 },
		{ "dup", "a " KEY_A "\nb " KEY_B "\na " KEY_B "\n", ":3: duplicate key id", 0600 },
		{ "badkid", "# x\na.b " KEY_A "\n", ":2: key id may only", 0600 },
		{ "kidnul", "a\001 " KEY_A "\n", ":1: key id may only", 0600 },
		{ "longkid", "abcdefghijklmnopq " KEY_A "\n", ":1: key id longer", 0600 },
		{ "nokey", "a\n", ":1: expected", 0600 },
		{ "extra", "a " KEY_A " b\n", ":1: unexpected text", 0600 },
		{ "short", "a AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg\n", ":1: key is not", 0600 },
		{ "long", "a AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g\n", ":1: key is not",
		  0600 },
		{ "noncanon", "a AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9\n", ":1: key is not",
		  0600 },
		{ "stdalpha", "a AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+/\n", ":1: key is not",
		  0600 },
		{ "nine",
		  "a " KEY_A "\nb " KEY_A "\nc " KEY_A "\nd " KEY_A "\ne " KEY_A "\nf " KEY_A
		  "\ng " KEY_A "\nh " KEY_A "\ni " KEY_A "\n",
		  ":9: more than 8 keys", 0600 },
		{ "mode644", "a " KEY_A "\n", "group or others", 0644 },
		{ "mode640", "a " KEY_A "\n", "group or others", 0640 },
		{ "mode602", "a " KEY_A "\n", "group or others", 0602 },
	};
	struct crypto_keyring ring;
	char path[256], err[512];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (write_file(t[i].name, t[i].text, t[i].mode, path, sizeof(path)) != 0) {
			ok(0, "write %s", t[i].name);
			continue;
		}
		memset(&ring, 0x5c, sizeof(ring));
		is_int(crypto_keyring_load(&ring, path, 0, err, sizeof(err)), -1, "refuse %s",
		       t[i].name);
		ok(strstr(err, path) != NULL && strstr(err, t[i].msg) != NULL,
		   "%s: message names file (and line): %s", t[i].name, err);
		ok(ring.nkeys == 0 && ring.keys[0].key[0] == 0, "%s: ring wiped on failure", t[i].name);
	}
	tmp_path(path, sizeof(path), "missing");
	is_int(crypto_keyring_load(&ring, path, 0, err, sizeof(err)), -1, "refuse missing file");
	ok(strstr(err, path) != NULL, "missing: %s", err);
	is_int(crypto_keyring_load(&ring, tmpdir, 1, err, sizeof(err)), -1, "refuse a directory");
	ok(strstr(err, "not a regular file") != NULL, "directory: %s", err);
	is_int(crypto_keyring_load(&ring, "/dev/null", 1, err, sizeof(err)), -1, "refuse /dev/null");
	is_int(crypto_keyring_load(&ring, NULL, 0, err, sizeof(err)), -1, "refuse NULL path");
	is_int(crypto_keyring_load(&ring, "/nonexistent", 0, NULL, 0), -1, "NULL err buffer is fine");
}

static void
test_keyring_load_big(void)
{
	char path[256], err[512], *big;
	struct crypto_keyring ring;
	size_t n = 64 * 1024;

	big = malloc(n + 1);
	if (big == NULL) {
		ok(0, "malloc");
		return;
	}
	memset(big, '#', n);
	big[n] = '\0';
	ok(write_file("big", big, 0600, path, sizeof(path)) == 0, "write 64 KiB file");
	is_int(crypto_keyring_load(&ring, path, 0, err, sizeof(err)), -1, "refuse oversized file");
	ok(strstr(err, "too large") != NULL, "oversized: %s", err);
	free(big);
}

static void
test_keyring_generate(void)
{
	struct crypto_keyring ring, ring2;
	char path[256], path2[256], link[256], err[512];
	struct stat st;
	mode_t old;

	tmp_path(path, sizeof(path), "gen");
	old = umask(022);
	is_int(crypto_keyring_generate(path, "k1", err, sizeof(err)), 0, "generate");
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "generated file is mode 0600");
	is_int(crypto_keyring_load(&ring, path, 0, err, sizeof(err)), 0, "generated file loads");
	is_int((int)ring.nkeys, 1, "one key");
	is_str(ring.keys[0].kid, "k1", "generated kid");
	is_int(crypto_keyring_generate(path, "k2", err, sizeof(err)), -1, "refuse existing file");
	ok(strstr(err, path) != NULL, "existing: %s", err);
	is_int(crypto_keyring_load(&ring2, path, 0, err, sizeof(err)), 0, "file unchanged");
	ok(memcmp(ring.keys[0].key, ring2.keys[0].key, 32) == 0, "same key after refused overwrite");

	tmp_path(path2, sizeof(path2), "gen2");
	is_int(crypto_keyring_generate(path2, "k1", err, sizeof(err)), 0, "generate another");
	is_int(crypto_keyring_load(&ring2, path2, 0, err, sizeof(err)), 0, "load another");
	ok(memcmp(ring.keys[0].key, ring2.keys[0].key, 32) != 0, "fresh random key each time");
	unlink(path2);

	tmp_path(link, sizeof(link), "dangling");
	ok(symlink(path2, link) == 0, "make dangling symlink");
	is_int(crypto_keyring_generate(link, "k1", err, sizeof(err)), -1,
	       "refuse to create through a symlink");
	ok(access(path2, F_OK) != 0 && errno == ENOENT, "symlink target not created");
	unlink(link);

	is_int(crypto_keyring_generate(path2, "bad kid", err, sizeof(err)), -1, "refuse bad kid");
	is_int(crypto_keyring_generate(path2, "", err, sizeof(err)), -1, "refuse empty kid");
	is_int(crypto_keyring_generate(path2, "abcdefghijklmnopq", err, sizeof(err)), -1,
	       "refuse 17-char kid");
	ok(access(path2, F_OK) != 0, "nothing created for a bad kid");
	umask(077);
	is_int(crypto_keyring_generate(path2, "u", err, sizeof(err)), 0, "generate under umask 077");
	ok(stat(path2, &st) == 0 && (st.st_mode & 0777) == 0600, "still mode 0600");
	unlink(path2);
	umask(old);
	crypto_keyring_wipe(&ring);
	crypto_keyring_wipe(&ring2);
}

/* ---- threads: the sse program seals and hashes from many threads ---- */

static struct crypto_keyring thread_ring; /* read-only while the threads run */

static void *
thread_work(void *arg)
{
	unsigned char blob[64], back[64];
	char h[65];
	int i, n, *bad = arg;

	for (i = 0; i < 2000; i++) {
		n = crypto_seal(&thread_ring, "token-seal", "t", 1, "payload", 7, blob, sizeof(blob));
		if (n < 0 || crypto_open(&thread_ring, "token-seal", "t", 1, blob, (size_t)n, back,
					 sizeof(back)) != 7 ||
		    crypto_token_hash(&thread_ring, "tok", h, sizeof(h)) != 0)
			(*bad)++;
	}
	return NULL;
}

static void
test_threads(void)
{
	pthread_t th[4];
	int bad[4] = { 0 }, started = 0, total = 0, i;

	memset(&thread_ring, 0, sizeof(thread_ring));
	ring_set(&thread_ring, 0, "t", 0x77);
	for (i = 0; i < 4; i++)
		if (pthread_create(&th[i], NULL, thread_work, &bad[i]) == 0)
			started++;
	for (i = 0; i < started; i++) {
		pthread_join(th[i], NULL);
		total += bad[i];
	}
	is_int(started, 4, "four threads started");
	is_int(total, 0, "concurrent seal/open/hash all succeed");
	crypto_keyring_wipe(&thread_ring);
}

static void
cleanup_tmpdir(void)
{
	static const char *const names[] = {
		"good", "loose", "empty", "comments", "dup", "badkid", "kidnul", "longkid",
		"nokey", "extra", "short", "long", "noncanon", "stdalpha", "nine", "mode644",
		"mode640", "mode602", "big", "gen", "gen2", "dangling",
	};
	char path[256];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		tmp_path(path, sizeof(path), names[i]);
		unlink(path);
	}
	if (rmdir(tmpdir) != 0)
		diag("temporary directory not empty");
}

int
main(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_crypto.XXXXXX",
		 base != NULL && strlen(base) < 32 ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		printf("Bail out! mkdtemp failed\n");
		return 1;
	}
	test_sha256();
	test_hmac();
	test_hkdf();
	test_ct_eq();
	test_b64url_vectors();
	test_b64url_padding_and_sizes();
	test_b64url_malformed();
	test_b64url_roundtrip();
	test_pkce();
	test_random();
	test_derive();
	test_seal_roundtrip();
	test_seal_tamper();
	test_seal_rotation();
	test_token_hash();
	test_keyring_load_good();
	test_keyring_load_bad();
	test_keyring_load_big();
	test_keyring_generate();
	test_threads();
	cleanup_tmpdir();
	return tap_done();
}
