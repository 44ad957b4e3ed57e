/* Unit tests for src/token.c (access tokens) and src/session.c (transport sessions). */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "scope.h"
#include "session.h"
#include "store.h"
#include "tap.h"
#include "token.h"

static const char resource[] = "https://mcp.example.com/mcp";

static void
make_ring(struct crypto_keyring *ring, const char *kid, unsigned char fill)
{
	memset(ring, 0, sizeof(*ring));
	ring->nkeys = 1;
	snprintf(ring->keys[0].kid, sizeof(ring->keys[0].kid), "%s", kid);
	memset(ring->keys[0].key, fill, CRYPTO_KEY_LEN);
}

static struct token_access
sample(time_t exp)
{
	struct token_access a;

	memset(&a, 0, sizeof(a));
	token_grant_id_new(a.grant_id);
	snprintf(a.user, sizeof(a.user), "local:alice");
	snprintf(a.name, sizeof(a.name), "Alice Ä");
	snprintf(a.client_id, sizeof(a.client_id), "https://client.example/meta.json");
	a.scope = SCOPE_ALL;
	a.exp = exp;
	return a;
}

static void
test_roundtrip(void)
{
	struct crypto_keyring ring, other, rotated;
	struct token_access a = sample(time(NULL) + 3600), b;
	char tok[TOKEN_ACCESS_MAX], bad[TOKEN_ACCESS_MAX];
	time_t now = time(NULL);

	make_ring(&ring, "k1", 0x11);
	make_ring(&other, "k1", 0x22);
	is_int(token_access_issue(&ring, resource, &a, tok, sizeof(tok)), 0, "issue");
	ok(strncmp(tok, "mga_", 4) == 0, "prefix");
	ok(token_from_authorization("Bearer x") != NULL, "bearer parses");
	is_int(token_access_verify(&ring, resource, tok, now, &b), TOKEN_OK, "verify");
	is_str(b.user, a.user, "user survives");
	is_str(b.name, a.name, "name survives (UTF-8)");
	is_str(b.client_id, a.client_id, "client survives");
	is_str(b.grant_id, a.grant_id, "grant id survives");
	is_int(b.scope, SCOPE_ALL, "scope survives");
	is_int(b.exp, a.exp, "expiry survives");
	is_int(token_access_verify(&ring, "https://other.example/mcp", tok, now, &b),
	       TOKEN_MALFORMED, "another resource's audience refused (RFC 8707)");
	is_int(token_access_verify(&other, resource, tok, now, &b), TOKEN_MALFORMED,
	       "another key refused");
	is_int(token_access_verify(&ring, resource, tok, a.exp, &b), TOKEN_EXPIRED, "expired at exp");
	/* Rotation: a new current key, the old one kept for opening. */
	rotated = ring;
	rotated.nkeys = 2;
	rotated.keys[1] = ring.keys[0];
	snprintf(rotated.keys[0].kid, sizeof(rotated.keys[0].kid), "k2");
	memset(rotated.keys[0].key, 0x33, CRYPTO_KEY_LEN);
	is_int(token_access_verify(&rotated, resource, tok, now, &b), TOKEN_OK,
	       "old token opens after rotation");
	/* Every single-character change is refused. */
	{
		size_t len = strlen(tok), refused = 0;
		for (size_t i = 4; i < len; i++) {
			memcpy(bad, tok, len + 1);
			bad[i] = bad[i] == 'A' ? 'B' : 'A';
			if (token_access_verify(&ring, resource, bad, now, &b) != TOKEN_OK)
				refused++;
		}
		/* Changing the last char may only flip unused padding bits; those
		 * are refused by strict base64url decoding too. */
		is_int(refused, len - 4, "every altered character refused");
		memcpy(bad, tok, len + 1);
		bad[len - 5] = '\0';
		is_int(token_access_verify(&ring, resource, bad, now, &b), TOKEN_MALFORMED,
		       "truncated refused");
	}
	crypto_keyring_wipe(&ring);
}

static void
test_garbage(void)
{
	static const char *const junk[] = {
		"", "mga_", "mga_!!!!", "mgr_AAAA", "Bearer", "mga_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"mga_\xff\xfe", "mga_====",
	};
	struct crypto_keyring ring;
	struct token_access b;
	char big[5000];

	make_ring(&ring, "k1", 0x11);
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		is_int(token_access_verify(&ring, resource, junk[i], time(NULL), &b), TOKEN_MALFORMED,
		       "garbage %zu refused", i);
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "mga_", 4);
	is_int(token_access_verify(&ring, resource, big, time(NULL), &b), TOKEN_MALFORMED,
	       "oversized refused");
}

static void
test_authorization_header(void)
{
	is_str(token_from_authorization("Bearer abc.DEF-_~+/="), "abc.DEF-_~+/=", "token68");
	is_str(token_from_authorization("bearer abc"), "abc", "scheme is case-insensitive");
	ok(token_from_authorization(NULL) == NULL, "absent");
	ok(token_from_authorization("Basic abc") == NULL, "other scheme");
	ok(token_from_authorization("Bearer ") == NULL, "empty token");
	ok(token_from_authorization("Bearer a b") == NULL, "space inside");
	ok(token_from_authorization("Bearer a=b") == NULL, "= inside");
	ok(token_from_authorization("Bearer a\r\nX: y") == NULL, "CRLF");
	ok(token_from_authorization("Bearerabc") == NULL, "no space");
}

static void
test_store_backed(void)
{
	char dir[] = "/tmp/mcpgate-test-token-XXXXXX", path[256], err[256], cmd[300];
	struct session s, g;
	struct store *st;

	if (mkdtemp(dir) == NULL)
		return;
	snprintf(path, sizeof(path), "%s/db", dir);
	st = store_open(path, 0, err, sizeof(err));
	ok(st != NULL, "store opens");
	if (st == NULL)
		return;
	is_int(token_grant_live(st, "AAAAAAAAAAAAAAAAAAAAAA"), STORE_NOTFOUND, "unknown grant not live");
	is_int(store_put(st, STORE_GRANT, "AAAAAAAAAAAAAAAAAAAAAA", 22, "{}", 2, time(NULL) + 60, 0),
	       STORE_OK, "grant stored");
	is_int(token_grant_live(st, "AAAAAAAAAAAAAAAAAAAAAA"), STORE_OK, "grant live");
	is_int(store_del(st, STORE_GRANT, "AAAAAAAAAAAAAAAAAAAAAA", 22), STORE_OK, "grant revoked");
	is_int(token_grant_live(st, "AAAAAAAAAAAAAAAAAAAAAA"), STORE_NOTFOUND, "revoked not live");

	memset(&s, 0, sizeof(s));
	s.kind = SESSION_LEGACY_SSE;
	snprintf(s.user, sizeof(s.user), "local:alice");
	snprintf(s.sock, sizeof(s.sock), "/run/mcpgate/sse-1.sock");
	s.exp = time(NULL) + 60;
	is_int(session_create(st, &s), STORE_OK, "session created");
	ok(session_id_valid(s.id), "id has the documented shape");
	is_int(session_get(st, s.id, "local:alice", &g), STORE_OK, "owner finds it");
	is_str(g.sock, s.sock, "socket kept");
	is_int(g.kind, SESSION_LEGACY_SSE, "kind kept");
	is_int(session_get(st, s.id, "local:bob", &g), STORE_NOTFOUND,
	       "another user's session looks absent");
	snprintf(s.protocol_version, sizeof(s.protocol_version), "2025-06-18");
	is_int(session_update(st, &s), STORE_OK, "update");
	is_int(session_get(st, s.id, "local:alice", &g), STORE_OK, "reload");
	is_str(g.protocol_version, "2025-06-18", "version updated");
	is_int(session_delete(st, s.id, "local:bob"), STORE_NOTFOUND, "bob cannot end it");
	is_int(session_delete(st, s.id, "local:alice"), STORE_OK, "alice ends it");
	is_int(session_get(st, s.id, "local:alice", &g), STORE_NOTFOUND, "gone");
	is_int(session_get(st, "short", "local:alice", &g), STORE_NOTFOUND, "malformed id");
	is_int(session_get(st, "../../../../etc/passwd/AAAAAAAAAAAAAAAAAAAAAAAAAAA", "local:alice", &g),
	       STORE_NOTFOUND, "hostile id");
	store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("cleanup failed");
}

int
main(void)
{
	test_roundtrip();
	test_garbage();
	test_authorization_header();
	test_store_backed();
	return tap_done();
}
