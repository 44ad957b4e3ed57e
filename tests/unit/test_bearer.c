/* Unit tests for src/bearer.c: every way an MCP request can be refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bearer.h"
#include "metadata.h"
#include "scope.h"
#include "tap.h"

static struct config cfg;
static struct crypto_keyring ring;
static struct store *st;

/* A request built from a NULL-terminated list of NAME=VALUE strings. */
static void
req_from(struct http_req *req, char **envp)
{
	http_req_init(req, envp, NULL, NULL);
}

static void
mint(char *out, size_t outsz, const char *grant, time_t exp, const char *resource)
{
	struct token_access a;

	memset(&a, 0, sizeof(a));
	snprintf(a.grant_id, sizeof(a.grant_id), "%s", grant);
	snprintf(a.user, sizeof(a.user), "local:alice");
	snprintf(a.client_id, sizeof(a.client_id), "c1");
	a.scope = SCOPE_SNIPPETS_READ;
	a.exp = exp;
	if (token_access_issue(&ring, resource, &a, out, outsz) != 0)
		out[0] = '\0';
}

static const char *
hdr(const struct http_resp *resp, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < resp->nhdr; i++)
		if (strncasecmp(resp->hdr[i], name, n) == 0 && resp->hdr[i][n] == ':')
			return resp->hdr[i] + n + 2;
	return NULL;
}

static int
check(char **envp, int live, struct token_access *who)
{
	struct http_req req;
	int rc;

	req_from(&req, envp);
	rc = bearer_check(&cfg, &ring, st, &req, live, who);
	http_req_free(&req);
	return rc;
}

int
main(void)
{
	static const char grant[] = "AAAAAAAAAAAAAAAAAAAAAA";
	char dir[] = "/tmp/mcpgate-test-bearer-XXXXXX", path[256], err[256], cmd[300];
	char tok[TOKEN_ACCESS_MAX], other[TOKEN_ACCESS_MAX], old[TOKEN_ACCESS_MAX];
	char auth[TOKEN_ACCESS_MAX + 32], auth_other[TOKEN_ACCESS_MAX + 32], auth_old[TOKEN_ACCESS_MAX + 32];
	char resource[600], url[700];
	struct token_access who;
	struct http_resp resp;
	const char *www;

	config_defaults(&cfg);
	snprintf(cfg.public_url, sizeof(cfg.public_url), "https://mcp.example.com/gw");
	snprintf(cfg.public_origin, sizeof(cfg.public_origin), "https://mcp.example.com");
	snprintf(cfg.public_path, sizeof(cfg.public_path), "/gw");
	ring.nkeys = 1;
	snprintf(ring.keys[0].kid, sizeof(ring.keys[0].kid), "k1");
	memset(ring.keys[0].key, 9, sizeof(ring.keys[0].key));
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/db", dir);
	st = store_open(path, 0, err, sizeof(err));
	ok(st != NULL, "store");
	metadata_resource(&cfg, resource, sizeof(resource));
	mint(tok, sizeof(tok), grant, time(NULL) + 600, resource);
	mint(other, sizeof(other), grant, time(NULL) + 600, "https://elsewhere.example/mcp");
	mint(old, sizeof(old), grant, time(NULL) - 1, resource);
	snprintf(auth, sizeof(auth), "HTTP_AUTHORIZATION=Bearer %s", tok);
	snprintf(auth_other, sizeof(auth_other), "HTTP_AUTHORIZATION=Bearer %s", other);
	snprintf(auth_old, sizeof(auth_old), "HTTP_AUTHORIZATION=Bearer %s", old);
	store_put(st, STORE_GRANT, grant, strlen(grant), "{}", 2, time(NULL) + 600, 0);

	{
		char *e[] = {(char[]){"REQUEST_METHOD=POST"}, auth, NULL};
		is_int(check(e, 1, &who), BEARER_OK, "valid token, live grant");
		is_str(who.user, "local:alice", "user from the token");
	}
	{
		char *e[] = {(char[]){"REQUEST_METHOD=POST"}, NULL};
		is_int(check(e, 1, &who), BEARER_NO_TOKEN, "no header");
	}
	{
		char *e[] = {(char[]){"REQUEST_METHOD=POST"}, (char[]){"HTTP_AUTHORIZATION=Basic YTpi"}, NULL};
		is_int(check(e, 1, &who), BEARER_NO_TOKEN, "Basic is not a bearer token");
	}
	{
		char *e[] = {(char[]){"REQUEST_METHOD=POST"}, (char[]){"HTTP_AUTHORIZATION=Bearer mga_garbage"}, NULL};
		is_int(check(e, 1, &who), BEARER_INVALID, "garbage token");
	}
	{
		char *e[] = {(char[]){"REQUEST_METHOD=POST"}, auth_other, NULL};
		is_int(check(e, 1, &who), BEARER_INVALID, "token for another resource");
	}
	{
		char *e[] = {(char[]){"REQUEST_METHOD=POST"}, auth_old, NULL};
		is_int(check(e, 1, &who), BEARER_INVALID, "expired token");
	}
	{
		char *e[] = {(char[]){"REQUEST_METHOD=POST"}, auth, (char[]){"QUERY_STRING=access_token=x"}, NULL};
		is_int(check(e, 1, &who), BEARER_IN_QUERY, "token in the query refused even with a header");
	}
	{
		char *e[] = {(char[]){"REQUEST_METHOD=POST"}, auth, (char[]){"HTTP_ORIGIN=https://evil.example"}, NULL};
		is_int(check(e, 1, &who), BEARER_ORIGIN, "foreign origin");
	}
	{
		char *e[] = {(char[]){"REQUEST_METHOD=POST"}, auth, (char[]){"HTTP_ORIGIN=https://mcp.example.com"}, NULL};
		is_int(check(e, 1, &who), BEARER_OK, "own origin");
	}
	store_del(st, STORE_GRANT, grant, strlen(grant));
	{
		char *e[] = {(char[]){"REQUEST_METHOD=POST"}, auth, NULL};
		is_int(check(e, 1, &who), BEARER_INVALID, "revoked grant refused");
		is_int(check(e, 0, &who), BEARER_OK, "liveness left to the caller when asked");
	}

	is_int(bearer_metadata_url(&cfg, url, sizeof(url)), 0, "metadata url");
	is_str(url, "https://mcp.example.com/.well-known/oauth-protected-resource/gw/mcp",
	       "RFC 9728 path insertion");
	http_resp_init(&resp);
	bearer_error(&resp, &cfg, BEARER_INVALID);
	is_int(resp.status, 401, "invalid -> 401");
	www = hdr(&resp, "WWW-Authenticate");
	ok(www != NULL && strstr(www, "error=\"invalid_token\"") != NULL &&
		   strstr(www, "resource_metadata=\"https://mcp.example.com/.well-known/"
			       "oauth-protected-resource/gw/mcp\"") != NULL,
	   "challenge names the metadata and the error");
	http_resp_free(&resp);
	http_resp_init(&resp);
	bearer_error(&resp, &cfg, BEARER_NO_TOKEN);
	www = hdr(&resp, "WWW-Authenticate");
	ok(resp.status == 401 && www != NULL && strstr(www, "error=") == NULL,
	   "no token -> 401 without an error code (RFC 6750 §3.1)");
	http_resp_free(&resp);
	http_resp_init(&resp);
	bearer_error(&resp, &cfg, BEARER_ORIGIN);
	is_int(resp.status, 403, "origin -> 403");
	http_resp_free(&resp);
	http_resp_init(&resp);
	bearer_error(&resp, &cfg, BEARER_BUSY);
	ok(resp.status == 503 && hdr(&resp, "Retry-After") != NULL, "busy -> 503 + Retry-After");
	http_resp_free(&resp);
	http_resp_init(&resp);
	bearer_insufficient_scope(&resp, &cfg, SCOPE_SNIPPETS_WRITE);
	www = hdr(&resp, "WWW-Authenticate");
	ok(resp.status == 403 && www != NULL && strstr(www, "insufficient_scope") != NULL &&
		   strstr(www, "snippets:write") != NULL,
	   "step-up: 403 insufficient_scope naming the scope");
	http_resp_free(&resp);

	store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("cleanup failed");
	return tap_done();
}
