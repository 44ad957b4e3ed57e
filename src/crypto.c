#include "crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#define CRYPTO_GCM_NONCE_LEN 12
#define CRYPTO_GCM_TAG_LEN 16
#define CRYPTO_PURPOSE_MAX 48
#define CRYPTO_INFO_PREFIX "mcpgate/v1/"
#define CRYPTO_TOKEN_BYTES_MAX 256
#define CRYPTO_PKCE_MIN 43 /* RFC 7636 §4.1 */
#define CRYPTO_PKCE_MAX 128
#define CRYPTO_KEYFILE_MAX 16384
#define CRYPTO_HEX_LEN ((size_t)2 * CRYPTO_SHA256_LEN)
/* Base64 chunk decoded per EVP_DecodeBlock call (a multiple of 4). */
#define CRYPTO_B64_CHUNK 256
/* Largest input whose base64 text length still fits in an int. */
#define CRYPTO_B64_IN_MAX ((size_t)INT_MAX / 4 * 3 - 3)

/* The key-file messages and header spell these limits out. */
_Static_assert(CRYPTO_KID_MAX == 16 && CRYPTO_KEYS_MAX == 8, "update key file texts");

/*
 * Algorithms fetched once per process.  OpenSSL 3 looks an algorithm up in
 * the provider store (under a lock) every time EVP_sha256() and friends are
 * used implicitly; the threaded sse program seals and hashes on every
 * request, so the fetch is done once here.  Written only by crypto_algs_init()
 * under pthread_once and read-only afterwards, hence safe to share.
 */
struct crypto_algs {
	EVP_MD *sha256;
	EVP_MAC *hmac;
	EVP_KDF *hkdf;
	EVP_CIPHER *aes_gcm;
	int ok;
};

static struct crypto_algs crypto_algs_g;
static pthread_once_t crypto_algs_once = PTHREAD_ONCE_INIT;

static void
crypto_algs_init(void)
{
	struct crypto_algs *a = &crypto_algs_g;

	a->sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
	a->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	a->hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	a->aes_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	a->ok = a->sha256 != NULL && a->hmac != NULL && a->hkdf != NULL && a->aes_gcm != NULL;
	if (!a->ok) {
		EVP_MD_free(a->sha256);
		EVP_MAC_free(a->hmac);
		EVP_KDF_free(a->hkdf);
		EVP_CIPHER_free(a->aes_gcm);
		memset(a, 0, sizeof(*a));
		ERR_clear_error();
	}
}

static const struct crypto_algs *
crypto_algs(void)
{
	if (pthread_once(&crypto_algs_once, crypto_algs_init) != 0 || !crypto_algs_g.ok)
		return NULL;
	return &crypto_algs_g;
}

/*
 * Drop whatever a failed call left on this thread's OpenSSL error queue:
 * libcurl shares the queue, and a stale entry makes its next TLS call
 * misreport an error.
 */
static int
crypto_fail(void)
{
	ERR_clear_error();
	return -1;
}

void
crypto_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		OPENSSL_cleanse(p, n);
}

int
crypto_random(void *buf, size_t n)
{
	unsigned char *p = buf;
	size_t chunk;

	if (p == NULL && n > 0)
		return -1;
	while (n > 0) {
		chunk = n < (size_t)INT_MAX ? n : (size_t)INT_MAX;
		if (RAND_bytes(p, (int)chunk) != 1)
			return crypto_fail();
		p += chunk;
		n -= chunk;
	}
	return 0;
}

int
crypto_random_token(char *out, size_t outsz, size_t nbytes)
{
	unsigned char raw[CRYPTO_TOKEN_BYTES_MAX];
	int rc = -1;

	/* crypto_b64url_encode checks outsz against the exact unpadded length,
	 * so a buffer of exactly that length + 1 is enough. */
	if (out == NULL || nbytes == 0 || nbytes > sizeof(raw))
		return -1;
	if (crypto_random(raw, nbytes) != 0)
		goto done;
	if (crypto_b64url_encode(raw, nbytes, out, outsz) < 0)
		goto done;
	rc = 0;
done:
	crypto_wipe(raw, nbytes);
	return rc;
}

/* ---- base64url (RFC 4648 §5), layered on OpenSSL's standard base64 ---- */

/* Value of a base64url character, or -1 for anything else (including '='). */
static int
b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int
crypto_b64url_encode(const void *in, size_t inlen, char *out, size_t outsz)
{
	const unsigned char *p = in;
	size_t full = inlen / 3 * 3, rem = inlen - full, need, i;
	unsigned char tail[8];

	if (out == NULL || (p == NULL && inlen > 0) || inlen > CRYPTO_B64_IN_MAX)
		return -1;
	need = full / 3 * 4 + (rem > 0 ? rem + 1 : 0);
	if (outsz <= need)
		return -1;
	/* EVP_EncodeBlock pads with '=', so full groups go straight to out and
	 * the 1- or 2-byte tail through a scratch buffer, never writing past
	 * the unpadded length. */
	if (full > 0)
		EVP_EncodeBlock((unsigned char *)out, p, (int)full);
	if (rem > 0) {
		EVP_EncodeBlock(tail, p + full, (int)rem);
		memcpy(out + full / 3 * 4, tail, rem + 1);
		crypto_wipe(tail, sizeof(tail));
	}
	out[need] = '\0';
	for (i = 0; i < need; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	return (int)need;
}

/*
 * Length of in without its padding, or (size_t)-1 if the padding is wrong.
 * Padding is optional, but when present it must complete the last quantum
 * exactly (RFC 4648 §3.2): "xx==" or "xxx=".
 */
static size_t
b64url_unpadded_len(const char *in, size_t inlen)
{
	size_t pad = 0;

	if (inlen == 0 || inlen % 4 != 0 || in[inlen - 1] != '=')
		return inlen;
	pad = in[inlen - 2] == '=' ? 2 : 1;
	if ((inlen - pad) % 4 != 4 - pad)
		return (size_t)-1;
	return inlen - pad;
}

/*
 * Strictness that EVP_DecodeBlock lacks (RFC 4648 §3.3, §3.5): only the
 * url alphabet, no whitespace, and the unused low bits of the last
 * character must be zero so every byte string has exactly one encoding.
 */
static int
b64url_check(const char *in, size_t n)
{
	size_t i;
	int v = 0;

	if (n % 4 == 1)
		return -1;
	for (i = 0; i < n; i++) {
		v = b64url_value((unsigned char)in[i]);
		if (v < 0)
			return -1;
	}
	if (n % 4 == 2 && (v & 0x0f) != 0)
		return -1;
	if (n % 4 == 3 && (v & 0x03) != 0)
		return -1;
	return 0;
}

/* Decode n (a multiple of 4) checked url-alphabet characters into out. */
static int
b64url_decode_groups(const char *in, size_t n, unsigned char *out)
{
	unsigned char std[CRYPTO_B64_CHUNK];
	size_t off, chunk, i;
	int rc = -1;

	for (off = 0; off < n; off += chunk) {
		chunk = n - off < sizeof(std) ? n - off : sizeof(std);
		for (i = 0; i < chunk; i++) {
			std[i] = (unsigned char)in[off + i];
			if (std[i] == '-')
				std[i] = '+';
			else if (std[i] == '_')
				std[i] = '/';
		}
		if (EVP_DecodeBlock(out + off / 4 * 3, std, (int)chunk) != (int)(chunk / 4 * 3))
			goto done;
	}
	rc = 0;
done:
	crypto_wipe(std, sizeof(std));
	return rc;
}

int
crypto_b64url_decode(const char *in, size_t inlen, void *out, size_t outsz)
{
	unsigned char *o = out;
	unsigned char last[8];
	size_t n, full, rem, need;
	int rc = -1;

	if ((in == NULL && inlen > 0) || (o == NULL && outsz > 0) || inlen > (size_t)INT_MAX)
		return -1;
	n = b64url_unpadded_len(in, inlen);
	if (n == (size_t)-1 || b64url_check(in, n) != 0)
		return -1;
	full = n / 4 * 4;
	rem = n - full;
	need = full / 4 * 3 + (rem > 0 ? rem - 1 : 0);
	if (need > outsz)
		return -1;
	if (b64url_decode_groups(in, full, o) != 0)
		goto done;
	if (rem > 0) {
		/* Re-pad the last quantum for EVP_DecodeBlock, which always
		 * yields 3 bytes per group; keep only the real ones. */
		memcpy(last, "====", 4);
		memcpy(last, in + full, rem);
		if (b64url_decode_groups((const char *)last, 4, last + 4) != 0)
			goto done;
		memcpy(o + full / 4 * 3, last + 4, rem - 1);
	}
	rc = (int)need;
done:
	crypto_wipe(last, sizeof(last));
	if (rc < 0)
		crypto_wipe(o, need);
	return rc < 0 ? crypto_fail() : rc;
}

/* ---- hashes, MAC, KDF ---- */

int
crypto_sha256(const void *in, size_t inlen, unsigned char out[CRYPTO_SHA256_LEN])
{
	const struct crypto_algs *a = crypto_algs();
	unsigned int len = 0;

	if (a == NULL || out == NULL || (in == NULL && inlen > 0))
		return -1;
	if (EVP_Digest(in != NULL ? in : "", inlen, out, &len, a->sha256, NULL) != 1 ||
	    len != CRYPTO_SHA256_LEN)
		return crypto_fail();
	return 0;
}

int
crypto_hmac_sha256(const void *key, size_t keylen, const void *in, size_t inlen,
		   unsigned char out[CRYPTO_SHA256_LEN])
{
	const struct crypto_algs *a = crypto_algs();
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];
	size_t len = 0;
	int rc = -1;

	if (a == NULL || out == NULL || (key == NULL && keylen > 0) || (in == NULL && inlen > 0))
		return -1;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA2-256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if ((ctx = EVP_MAC_CTX_new(a->hmac)) == NULL)
		goto done;
	/* A NULL key means "keep the previous key" to EVP_MAC_init, so an
	 * empty key (valid in RFC 2104) is passed as a non-NULL pointer. */
	if (EVP_MAC_init(ctx, key != NULL ? key : (const void *)"", keylen, params) != 1 ||
	    EVP_MAC_update(ctx, in != NULL ? in : (const void *)"", inlen) != 1 ||
	    EVP_MAC_final(ctx, out, &len, CRYPTO_SHA256_LEN) != 1 || len != CRYPTO_SHA256_LEN)
		goto done;
	rc = 0;
done:
	EVP_MAC_CTX_free(ctx);
	return rc == 0 ? 0 : crypto_fail();
}

int
crypto_hkdf(const void *ikm, size_t ikmlen, const void *salt, size_t saltlen, const char *info,
	    void *out, size_t outlen)
{
	const struct crypto_algs *a = crypto_algs();
	EVP_KDF_CTX *ctx = NULL;
	OSSL_PARAM params[5], *p = params;
	int rc = -1;

	/* RFC 5869 §2.3: L <= 255 * HashLen. */
	if (a == NULL || ikm == NULL || ikmlen == 0 || (salt == NULL && saltlen > 0) ||
	    out == NULL || outlen == 0 || outlen > (size_t)255 * CRYPTO_SHA256_LEN)
		return -1;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA2-256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikmlen);
	if (saltlen > 0)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt,
							 saltlen);
	if (info != NULL && info[0] != '\0')
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info,
							 strlen(info));
	*p = OSSL_PARAM_construct_end();
	if ((ctx = EVP_KDF_CTX_new(a->hkdf)) == NULL)
		goto done;
	if (EVP_KDF_derive(ctx, out, outlen, params) != 1)
		goto done;
	rc = 0;
done:
	EVP_KDF_CTX_free(ctx);
	if (rc != 0)
		crypto_wipe(out, outlen);
	return rc == 0 ? 0 : crypto_fail();
}

int
crypto_ct_eq(const void *a, size_t alen, const void *b, size_t blen)
{
	/* Only the contents are secret; lengths are public (token formats are
	 * fixed-size), so an early length check leaks nothing useful. */
	if (alen != blen || (alen > 0 && (a == NULL || b == NULL)))
		return 0;
	if (alen == 0)
		return 1;
	return CRYPTO_memcmp(a, b, alen) == 0;
}

/* ---- PKCE ---- */

/* RFC 7636 §4.1: code_verifier = 43*128unreserved. */
static int
pkce_verifier_ok(const char *v, size_t len)
{
	size_t i;
	unsigned char c;

	if (len < CRYPTO_PKCE_MIN || len > CRYPTO_PKCE_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		c = (unsigned char)v[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == '_' || c == '~'))
			return 0;
	}
	return 1;
}

int
crypto_pkce_s256_check(const char *verifier, const char *challenge)
{
	unsigned char digest[CRYPTO_SHA256_LEN];
	char want[CRYPTO_B64URL_LEN(CRYPTO_SHA256_LEN)];
	size_t vlen, clen;
	int n, eq = 0;

	if (verifier == NULL || challenge == NULL)
		return 0;
	vlen = strnlen(verifier, CRYPTO_PKCE_MAX + 1);
	clen = strnlen(challenge, sizeof(want));
	if (!pkce_verifier_ok(verifier, vlen))
		return 0;
	if (crypto_sha256(verifier, vlen, digest) != 0)
		return 0;
	n = crypto_b64url_encode(digest, sizeof(digest), want, sizeof(want));
	if (n > 0)
		eq = crypto_ct_eq(want, (size_t)n, challenge, clen);
	crypto_wipe(digest, sizeof(digest));
	crypto_wipe(want, sizeof(want));
	return eq;
}

/* ---- key ring ---- */

static void
crypto_err(char *err, size_t errlen, const char *path, size_t line, const char *msg)
{
	if (err == NULL || errlen == 0)
		return;
	if (line > 0)
		snprintf(err, errlen, "%s:%zu: %s", path, line, msg);
	else
		snprintf(err, errlen, "%s: %s", path, msg);
}

/* A kid is 1..CRYPTO_KID_MAX characters of [A-Za-z0-9_-]; NULL msg when valid. */
static const char *
kid_problem(const char *kid, size_t len)
{
	size_t i;
	unsigned char c;

	if (len == 0)
		return "empty key id";
	if (len > CRYPTO_KID_MAX)
		return "key id longer than 16 characters";
	for (i = 0; i < len; i++) {
		c = (unsigned char)kid[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return "key id may only contain A-Z a-z 0-9 _ -";
	}
	return NULL;
}

static int
keyring_find(const struct crypto_keyring *ring, const char *kid, size_t kidlen)
{
	size_t i;

	for (i = 0; i < ring->nkeys && i < CRYPTO_KEYS_MAX; i++) {
		if (strnlen(ring->keys[i].kid, CRYPTO_KID_MAX + 1) == kidlen &&
		    memcmp(ring->keys[i].kid, kid, kidlen) == 0)
			return (int)i;
	}
	return -1;
}

static int
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Next run of non-blank characters at or after *pos (before end); 0 if none. */
static size_t
next_field(const char *line, size_t end, size_t *pos)
{
	size_t start;

	while (*pos < end && is_blank(line[*pos]))
		(*pos)++;
	start = *pos;
	while (*pos < end && !is_blank(line[*pos]))
		(*pos)++;
	return *pos - start;
}

/* Parse one line "<kid> <key>" into the ring; NULL when fine (or a comment). */
static const char *
keyring_parse_line(struct crypto_keyring *ring, const char *line, size_t len)
{
	unsigned char key[CRYPTO_KEY_LEN + 3];
	size_t pos = 0, kidlen, keylen;
	const char *kid, *b64, *why;
	int n;

	kidlen = next_field(line, len, &pos);
	kid = line + pos - kidlen;
	if (kidlen == 0 || kid[0] == '#')
		return NULL;
	if ((why = kid_problem(kid, kidlen)) != NULL)
		return why;
	keylen = next_field(line, len, &pos);
	b64 = line + pos - keylen;
	if (keylen == 0)
		return "expected \"<key id> <base64url key>\"";
	if (next_field(line, len, &pos) != 0)
		return "unexpected text after the key";
	n = crypto_b64url_decode(b64, keylen, key, sizeof(key));
	if (n != CRYPTO_KEY_LEN)
		why = "key is not base64url of exactly 32 bytes";
	else if (keyring_find(ring, kid, kidlen) >= 0)
		why = "duplicate key id";
	else if (ring->nkeys >= CRYPTO_KEYS_MAX)
		why = "more than 8 keys";
	if (why == NULL) {
		memcpy(ring->keys[ring->nkeys].kid, kid, kidlen);
		ring->keys[ring->nkeys].kid[kidlen] = '\0';
		memcpy(ring->keys[ring->nkeys].key, key, CRYPTO_KEY_LEN);
		ring->nkeys++;
	}
	crypto_wipe(key, sizeof(key));
	return why;
}

static int
keyring_parse(struct crypto_keyring *ring, const char *buf, size_t len, const char *path,
	      char *err, size_t errlen)
{
	size_t off = 0, lineno = 0, linelen;
	const char *nl, *why;

	while (off < len) {
		lineno++;
		nl = memchr(buf + off, '\n', len - off);
		linelen = nl != NULL ? (size_t)(nl - (buf + off)) : len - off;
		if ((why = keyring_parse_line(ring, buf + off, linelen)) != NULL) {
			crypto_err(err, errlen, path, lineno, why);
			return -1;
		}
		off += linelen + 1;
	}
	if (ring->nkeys == 0) {
		crypto_err(err, errlen, path, 0, "no keys in key file");
		return -1;
	}
	return 0;
}

/* Read the whole of fd into buf (NUL-terminated); -1 with a message if too big. */
static int
keyfile_read(int fd, char *buf, size_t bufsz, size_t *len, const char **why)
{
	ssize_t n;

	*len = 0;
	for (;;) {
		if (*len == bufsz - 1) {
			*why = "key file too large";
			return -1;
		}
		n = read(fd, buf + *len, bufsz - 1 - *len);
		if (n == 0)
			break;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*why = strerror(errno);
			return -1;
		}
		*len += (size_t)n;
	}
	buf[*len] = '\0';
	return 0;
}

/* Open path and check it is a regular file with a tight enough mode. */
static int
keyfile_open(const char *path, int allow_loose_mode, const char **why)
{
	struct stat st;
	int fd;

	/* O_NONBLOCK so a FIFO planted at path cannot hang start-up. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		*why = strerror(errno);
		return -1;
	}
	if (fstat(fd, &st) != 0)
		*why = strerror(errno);
	else if (!S_ISREG(st.st_mode))
		*why = "not a regular file";
	else if ((st.st_mode & 077) != 0 && !allow_loose_mode)
		*why = "key file is readable or writable by group or others (chmod 600 it)";
	else
		return fd;
	close(fd);
	return -1;
}

int
crypto_keyring_load(struct crypto_keyring *ring, const char *path, int allow_loose_mode,
		    char *err, size_t errlen)
{
	char buf[CRYPTO_KEYFILE_MAX];
	const char *why = NULL;
	size_t len = 0;
	int fd = -1, rc = -1;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (ring == NULL || path == NULL) {
		crypto_err(err, errlen, "(null)", 0, "no key file given");
		return -1;
	}
	memset(ring, 0, sizeof(*ring));
	if ((fd = keyfile_open(path, allow_loose_mode, &why)) < 0 ||
	    keyfile_read(fd, buf, sizeof(buf), &len, &why) != 0) {
		crypto_err(err, errlen, path, 0, why);
		goto done;
	}
	rc = keyring_parse(ring, buf, len, path, err, errlen);
done:
	if (fd >= 0)
		close(fd);
	crypto_wipe(buf, sizeof(buf));
	if (rc != 0)
		crypto_keyring_wipe(ring);
	return rc;
}

static const char keyfile_header[] =
	"# mcpgate key file. Keep it secret: mode 0600, owned by the user mcpgate\n"
	"# runs as.\n"
	"# Format: one key per line, \"<kid> <key>\", where kid is 1-16 characters\n"
	"# of A-Z a-z 0-9 _ - and key is 32 random bytes in base64url (no padding).\n"
	"# Lines starting with '#' and blank lines are ignored. At most 8 keys.\n"
	"# The FIRST key line is the current key: it seals and signs everything new.\n"
	"# Later lines are only used to open what they sealed earlier.\n"
	"# To rotate: add a new line with a new kid ABOVE the current one, e.g.\n"
	"#   printf 'k2 %s\\n' \"$(openssl rand 32 | basenc --base64url | tr -d =)\"\n"
	"# then restart mcpgate (keys are read at start-up). Keep the old lines until\n"
	"# every token sealed with them has expired, then delete them.\n";

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* fsync the directory holding path so the new name survives a crash.  Best
 * effort: some file systems refuse fsync on directories, and the file itself
 * is already on disk. */
static void
fsync_parent(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t len;
	int fd;

	if (slash == NULL) {
		dir[0] = '.';
		len = 1;
	} else {
		len = slash == path ? 1 : (size_t)(slash - path);
		if (len >= sizeof(dir))
			return;
		memcpy(dir, path, len);
	}
	dir[len] = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

/* Write header + "<kid> <key>\n" to the new file fd. */
static int
keyfile_write(int fd, const char *kid, const char **why)
{
	unsigned char key[CRYPTO_KEY_LEN];
	char line[sizeof(keyfile_header) + CRYPTO_KID_MAX + CRYPTO_B64URL_LEN(CRYPTO_KEY_LEN) + 2];
	char b64[CRYPTO_B64URL_LEN(CRYPTO_KEY_LEN)];
	int n, rc = -1;

	*why = "cannot make a random key";
	if (crypto_random(key, sizeof(key)) != 0 ||
	    crypto_b64url_encode(key, sizeof(key), b64, sizeof(b64)) < 0)
		goto done;
	n = snprintf(line, sizeof(line), "%s%s %s\n", keyfile_header, kid, b64);
	if (n < 0 || (size_t)n >= sizeof(line))
		goto done;
	*why = "write failed";
	/* fchmod: the umask may have narrowed 0600 (never widened it). */
	if (fchmod(fd, 0600) != 0 || write_all(fd, line, (size_t)n) != 0 || fsync(fd) != 0)
		goto done;
	rc = 0;
done:
	crypto_wipe(key, sizeof(key));
	crypto_wipe(b64, sizeof(b64));
	crypto_wipe(line, sizeof(line));
	return rc;
}

int
crypto_keyring_generate(const char *path, const char *kid, char *err, size_t errlen)
{
	const char *why;
	int fd, rc = -1;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (path == NULL || kid == NULL) {
		crypto_err(err, errlen, "(null)", 0, "no key file or key id given");
		return -1;
	}
	if ((why = kid_problem(kid, strnlen(kid, CRYPTO_KID_MAX + 1))) != NULL) {
		crypto_err(err, errlen, path, 0, why);
		return -1;
	}
	/* O_EXCL: never overwrite keys (that would orphan every sealed token);
	 * O_NOFOLLOW: never write through a planted symlink. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0) {
		crypto_err(err, errlen, path, 0, strerror(errno));
		return -1;
	}
	if (keyfile_write(fd, kid, &why) == 0)
		rc = 0;
	if (close(fd) != 0 && rc == 0) {
		why = "close failed";
		rc = -1;
	}
	if (rc != 0) {
		crypto_err(err, errlen, path, 0, why);
		(void)unlink(path);
		return -1;
	}
	fsync_parent(path);
	return 0;
}

/*
 * Every request derives one to three purpose keys (token sealing, token
 * hashing), and HKDF costs more than the AES-GCM pass it feeds.  A small
 * per-thread cache, keyed by the master key's bytes and the purpose, keeps
 * the result: thread-local, so the threaded sse program needs no lock, and
 * keyed by the key bytes, so a rotated or reloaded ring can never be served
 * a stale purpose key.
 */
#define CRYPTO_DERIVE_SLOTS 8

struct derive_slot {
	int used;
	unsigned char master[CRYPTO_KEY_LEN];
	char purpose[CRYPTO_PURPOSE_MAX + 1];
	unsigned char key[CRYPTO_KEY_LEN];
};

static _Thread_local struct derive_slot derive_cache[CRYPTO_DERIVE_SLOTS];
static _Thread_local unsigned derive_next;

void
crypto_keyring_wipe(struct crypto_keyring *ring)
{
	crypto_wipe(ring, ring != NULL ? sizeof(*ring) : 0);
	/* This thread's derived keys go too (other threads' die with them). */
	crypto_wipe(derive_cache, sizeof(derive_cache));
}

/* A purpose label is 1..CRYPTO_PURPOSE_MAX printable ASCII characters. */
static int
purpose_ok(const char *purpose)
{
	size_t i, len;

	if (purpose == NULL)
		return 0;
	len = strnlen(purpose, CRYPTO_PURPOSE_MAX + 1);
	if (len == 0 || len > CRYPTO_PURPOSE_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)purpose[i] <= 0x20 || (unsigned char)purpose[i] >= 0x7f)
			return 0;
	return 1;
}


int
crypto_keyring_derive(const struct crypto_keyring *ring, size_t i, const char *purpose,
		      unsigned char out[CRYPTO_KEY_LEN])
{
	char info[sizeof(CRYPTO_INFO_PREFIX) + CRYPTO_PURPOSE_MAX];
	struct derive_slot *slot;

	if (ring == NULL || out == NULL || i >= ring->nkeys || i >= CRYPTO_KEYS_MAX ||
	    !purpose_ok(purpose))
		return -1;
	for (size_t k = 0; k < CRYPTO_DERIVE_SLOTS; k++) {
		slot = &derive_cache[k];
		if (slot->used && strcmp(slot->purpose, purpose) == 0 &&
		    CRYPTO_memcmp(slot->master, ring->keys[i].key, CRYPTO_KEY_LEN) == 0) {
			memcpy(out, slot->key, CRYPTO_KEY_LEN);
			return 0;
		}
	}
	/* The master key is uniformly random, so no salt is needed (RFC 5869
	 * §3.1); the versioned info string separates the purposes (§3.2). */
	snprintf(info, sizeof(info), "%s%s", CRYPTO_INFO_PREFIX, purpose);
	if (crypto_hkdf(ring->keys[i].key, CRYPTO_KEY_LEN, NULL, 0, info, out, CRYPTO_KEY_LEN) != 0)
		return -1;
	slot = &derive_cache[derive_next++ % CRYPTO_DERIVE_SLOTS];
	slot->used = 1;
	memcpy(slot->master, ring->keys[i].key, CRYPTO_KEY_LEN);
	memcpy(slot->purpose, purpose, strlen(purpose) + 1);
	memcpy(slot->key, out, CRYPTO_KEY_LEN);
	return 0;
}

/* ---- AEAD ---- */

/*
 * One AES-256-GCM pass.  hdr (the kid prefix) and aad are both authenticated:
 * hdr is self-delimiting (length byte first), so the concatenation is
 * unambiguous and a blob cannot be replayed under another kid.
 */
struct gcm_job {
	int enc;
	const unsigned char *key, *nonce, *hdr, *aad, *in;
	size_t hdrlen, aadlen, len;
	unsigned char *out;
	unsigned char tag[CRYPTO_GCM_TAG_LEN];
};

static int
gcm_run(struct gcm_job *j)
{
	const struct crypto_algs *a = crypto_algs();
	EVP_CIPHER_CTX *ctx = NULL;
	unsigned char scratch[CRYPTO_GCM_TAG_LEN];
	int n = 0, rc = -1;

	if (a == NULL || (ctx = EVP_CIPHER_CTX_new()) == NULL)
		goto done;
	if (EVP_CipherInit_ex2(ctx, a->aes_gcm, j->key, j->nonce, j->enc, NULL) != 1 ||
	    EVP_CipherUpdate(ctx, NULL, &n, j->hdr, (int)j->hdrlen) != 1 ||
	    (j->aadlen > 0 && EVP_CipherUpdate(ctx, NULL, &n, j->aad, (int)j->aadlen) != 1))
		goto done;
	if (j->len > 0 && (EVP_CipherUpdate(ctx, j->out, &n, j->in, (int)j->len) != 1 ||
			   (size_t)n != j->len))
		goto done;
	if (!j->enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, sizeof(j->tag), j->tag) != 1)
		goto done;
	/* GCM's final step only computes/checks the tag; it emits no data. */
	if (EVP_CipherFinal_ex(ctx, scratch, &n) != 1 || n != 0)
		goto done;
	if (j->enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, sizeof(j->tag), j->tag) != 1)
		goto done;
	rc = 0;
done:
	EVP_CIPHER_CTX_free(ctx);
	return rc == 0 ? 0 : crypto_fail();
}

int
crypto_seal(const struct crypto_keyring *ring, const char *purpose, const void *aad,
	    size_t aadlen, const void *pt, size_t ptlen, void *out, size_t outsz)
{
	unsigned char key[CRYPTO_KEY_LEN], *o = out;
	struct gcm_job j;
	size_t kidlen, hdrlen, total;
	int rc = -1;

	if (ring == NULL || ring->nkeys == 0 || o == NULL || (pt == NULL && ptlen > 0) ||
	    (aad == NULL && aadlen > 0) || aadlen > (size_t)INT_MAX ||
	    ptlen > (size_t)INT_MAX - CRYPTO_SEAL_OVERHEAD)
		return -1;
	kidlen = strnlen(ring->keys[0].kid, CRYPTO_KID_MAX + 1);
	hdrlen = 1 + kidlen;
	total = hdrlen + CRYPTO_GCM_NONCE_LEN + ptlen + CRYPTO_GCM_TAG_LEN;
	if (kidlen == 0 || kidlen > CRYPTO_KID_MAX || total > outsz)
		return -1;
	if (crypto_keyring_derive(ring, 0, purpose, key) != 0)
		return -1;
	o[0] = (unsigned char)kidlen;
	memcpy(o + 1, ring->keys[0].kid, kidlen);
	/* Random 96-bit nonces: safe for about 2^32 messages per key (NIST
	 * SP 800-38D §8.3), far beyond one key's life between rotations. */
	if (crypto_random(o + hdrlen, CRYPTO_GCM_NONCE_LEN) != 0)
		goto done;
	j = (struct gcm_job){ .enc = 1, .key = key, .nonce = o + hdrlen, .hdr = o, .hdrlen = hdrlen,
			      .aad = aad, .aadlen = aadlen, .in = pt, .len = ptlen,
			      .out = o + hdrlen + CRYPTO_GCM_NONCE_LEN };
	if (gcm_run(&j) != 0)
		goto done;
	memcpy(o + hdrlen + CRYPTO_GCM_NONCE_LEN + ptlen, j.tag, CRYPTO_GCM_TAG_LEN);
	rc = (int)total;
done:
	crypto_wipe(key, sizeof(key));
	if (rc < 0)
		crypto_wipe(o, total);
	return rc;
}

int
crypto_open(const struct crypto_keyring *ring, const char *purpose, const void *aad,
	    size_t aadlen, const void *in, size_t inlen, void *out, size_t outsz)
{
	const unsigned char *p = in;
	unsigned char key[CRYPTO_KEY_LEN];
	struct gcm_job j;
	size_t kidlen, hdrlen, ctlen;
	int idx, rc = -1;

	if (ring == NULL || p == NULL || inlen == 0 || (aad == NULL && aadlen > 0) ||
	    aadlen > (size_t)INT_MAX || inlen > (size_t)INT_MAX)
		return -1;
	kidlen = p[0];
	hdrlen = 1 + kidlen;
	if (kidlen == 0 || kidlen > CRYPTO_KID_MAX ||
	    inlen < hdrlen + CRYPTO_GCM_NONCE_LEN + CRYPTO_GCM_TAG_LEN)
		return -1;
	ctlen = inlen - hdrlen - CRYPTO_GCM_NONCE_LEN - CRYPTO_GCM_TAG_LEN;
	if (ctlen > outsz || (out == NULL && ctlen > 0))
		return -1;
	if ((idx = keyring_find(ring, (const char *)p + 1, kidlen)) < 0)
		return -1;
	if (crypto_keyring_derive(ring, (size_t)idx, purpose, key) != 0)
		return -1;
	j = (struct gcm_job){ .enc = 0, .key = key, .nonce = p + hdrlen, .hdr = p, .hdrlen = hdrlen,
			      .aad = aad, .aadlen = aadlen, .in = p + hdrlen + CRYPTO_GCM_NONCE_LEN,
			      .len = ctlen, .out = out };
	memcpy(j.tag, p + inlen - CRYPTO_GCM_TAG_LEN, CRYPTO_GCM_TAG_LEN);
	if (gcm_run(&j) == 0)
		rc = (int)ctlen;
	else /* never hand out unauthenticated plaintext */
		crypto_wipe(out, ctlen);
	crypto_wipe(key, sizeof(key));
	return rc;
}

/* ---- token hashing ---- */

int
crypto_token_hash_i(const struct crypto_keyring *ring, size_t i, const char *token, char *out,
		    size_t outsz)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char key[CRYPTO_KEY_LEN], mac[CRYPTO_SHA256_LEN];
	size_t k;
	int rc = -1;

	if (token == NULL || out == NULL || outsz < CRYPTO_HEX_LEN + 1)
		return -1;
	if (crypto_keyring_derive(ring, i, "token-hash", key) != 0 ||
	    crypto_hmac_sha256(key, sizeof(key), token, strlen(token), mac) != 0)
		goto done;
	for (k = 0; k < sizeof(mac); k++) {
		out[2 * k] = hex[mac[k] >> 4];
		out[2 * k + 1] = hex[mac[k] & 0x0f];
	}
	out[CRYPTO_HEX_LEN] = '\0';
	rc = 0;
done:
	crypto_wipe(key, sizeof(key));
	crypto_wipe(mac, sizeof(mac));
	return rc;
}

int
crypto_token_hash(const struct crypto_keyring *ring, const char *token, char *out, size_t outsz)
{
	return crypto_token_hash_i(ring, 0, token, out, outsz);
}
