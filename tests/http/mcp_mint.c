/*
 * mcp_mint: test-only helper for the MCP endpoint tests.  It stands in for
 * the OAuth programs: it mints access tokens directly and manages the
 * records that decide whether they are live.  Never install it.
 *
 *   mcp_mint CONFIG keygen
 *   mcp_mint CONFIG token USER SCOPES [TTL [NAME [RESOURCE]]]
 *       creates a live grant (STORE_GRANT record) and prints "TOKEN GRANT_ID";
 *       TTL <= 0 gives an already expired token; RESOURCE defaults to ours
 *   mcp_mint CONFIG revoke GRANT_ID
 *       deletes the grant record (what revocation does)
 *   mcp_mint CONFIG session USER streamable|legacy [SOCKET]
 *       creates a transport session for USER and prints its id
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "crypto.h"
#include "metadata.h"
#include "scope.h"
#include "session.h"
#include "store.h"
#include "token.h"

struct mint {
	struct config cfg;
	struct crypto_keyring keys;
	struct store *st;
};

static int
mint_open(struct mint *m, const char *path, int need_keys)
{
	char err[1024];

	if (config_load(&m->cfg, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "mcp_mint: %s\n", err);
		return -1;
	}
	if (need_keys && crypto_keyring_load(&m->keys, m->cfg.key_file, 1, err, sizeof(err)) != 0) {
		fprintf(stderr, "mcp_mint: %s\n", err);
		return -1;
	}
	m->st = store_open(m->cfg.store, 2000, err, sizeof(err));
	if (m->st == NULL) {
		fprintf(stderr, "mcp_mint: %s\n", err);
		return -1;
	}
	return 0;
}

static int
mint_grant_id(char out[TOKEN_GRANT_ID_LEN + 1])
{
	unsigned char raw[16];
	char tmp[CRYPTO_B64URL_LEN(16)];

	if (crypto_random(raw, sizeof(raw)) != 0 ||
	    crypto_b64url_encode(raw, sizeof(raw), tmp, sizeof(tmp)) != TOKEN_GRANT_ID_LEN)
		return -1;
	memcpy(out, tmp, TOKEN_GRANT_ID_LEN + 1);
	return 0;
}

static int
mint_token(struct mint *m, int argc, char **argv)
{
	struct token_access acc;
	char resource[CONFIG_STR_MAX + 8], tok[TOKEN_ACCESS_MAX];
	long ttl = argc > 5 ? strtol(argv[5], NULL, 10) : 3600;
	const char *grant = "{\"test\":true}";

	memset(&acc, 0, sizeof(acc));
	if (argc < 5 || scope_parse(argv[4], &acc.scope) != 0 || mint_grant_id(acc.grant_id) != 0)
		return 2;
	snprintf(acc.user, sizeof(acc.user), "%s", argv[3]);
	snprintf(acc.name, sizeof(acc.name), "%s", argc > 6 ? argv[6] : "");
	snprintf(acc.client_id, sizeof(acc.client_id), "mcp-test-client");
	acc.exp = time(NULL) + ttl;
	if (argc > 7)
		snprintf(resource, sizeof(resource), "%s", argv[7]);
	else if (metadata_resource(&m->cfg, resource, sizeof(resource)) != 0)
		return 1;
	if (store_put(m->st, STORE_GRANT, acc.grant_id, strlen(acc.grant_id), grant, strlen(grant),
		      time(NULL) + 86400, STORE_PUT_REPLACE) != STORE_OK ||
	    token_access_issue(&m->keys, resource, &acc, tok, sizeof(tok)) != 0) {
		fprintf(stderr, "mcp_mint: cannot mint\n");
		return 1;
	}
	printf("%s %s\n", tok, acc.grant_id);
	return 0;
}

static int
mint_session(struct mint *m, int argc, char **argv)
{
	struct session s;
	int rc;

	memset(&s, 0, sizeof(s));
	if (argc < 5)
		return 2;
	snprintf(s.user, sizeof(s.user), "%s", argv[3]);
	s.kind = strcmp(argv[4], "legacy") == 0 ? SESSION_LEGACY_SSE : SESSION_STREAMABLE;
	snprintf(s.sock, sizeof(s.sock), "%s", argc > 5 ? argv[5] : "");
	snprintf(s.protocol_version, sizeof(s.protocol_version), "%s",
		 s.kind == SESSION_LEGACY_SSE ? "2024-11-05" : "");
	s.exp = time(NULL) + 3600;
	if ((rc = session_create(m->st, &s)) != STORE_OK) {
		fprintf(stderr, "mcp_mint: session_create: %s\n", store_strerror(rc));
		return 1;
	}
	printf("%s\n", s.id);
	return 0;
}

int
main(int argc, char **argv)
{
	struct mint m;
	char err[512];
	int rc = 2;

	memset(&m, 0, sizeof(m));
	if (argc < 3)
		goto usage;
	if (strcmp(argv[2], "keygen") == 0) {
		if (config_load(&m.cfg, argv[1], err, sizeof(err)) != 0 ||
		    crypto_keyring_generate(m.cfg.key_file, "test", err, sizeof(err)) != 0) {
			fprintf(stderr, "mcp_mint: %s\n", err);
			return 1;
		}
		return 0;
	}
	if (mint_open(&m, argv[1], strcmp(argv[2], "token") == 0) != 0)
		return 1;
	if (strcmp(argv[2], "token") == 0)
		rc = mint_token(&m, argc, argv);
	else if (strcmp(argv[2], "revoke") == 0 && argc == 4)
		rc = store_del(m.st, STORE_GRANT, argv[3], strlen(argv[3])) == STORE_OK ? 0 : 1;
	else if (strcmp(argv[2], "session") == 0)
		rc = mint_session(&m, argc, argv);
	store_close(m.st);
	crypto_keyring_wipe(&m.keys);
	if (rc != 2)
		return rc;
usage:
	fprintf(stderr, "usage: mcp_mint CONFIG keygen | token USER SCOPES [TTL [NAME [RESOURCE]]]"
			" | revoke GRANT | session USER streamable|legacy [SOCKET]\n");
	return 2;
}
