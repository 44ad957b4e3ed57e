/*
 * bearer: authorisation of MCP requests.  See bearer.h.
 */
#include "bearer.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "metadata.h"
#include "scope.h"

/* RFC 6750 §2.3 names the parameter; any occurrence refuses the request. */
static int
bearer_in_query(const struct http_req *req)
{
	struct http_form f;
	int found;

	if (req->query[0] == '\0')
		return 0;
	memset(&f, 0, sizeof(f));
	/* A query too malformed to parse is checked for the name literally,
	 * so garbage around it cannot smuggle a token past this check. */
	if (http_form_parse(req->query, strlen(req->query), 0, &f) != HTTP_OK)
		found = strstr(req->query, "access_token") != NULL;
	else
		found = http_form_get(&f, "access_token", NULL) != NULL;
	http_form_free(&f);
	return found;
}

static int
bearer_live(struct store *st, const char *grant_id)
{
	int rc = token_grant_live(st, grant_id);

	if (rc == STORE_OK)
		return BEARER_OK;
	if (rc == STORE_NOTFOUND)
		return BEARER_INVALID;
	log_msg(LOG_WARN, "msg=\"grant check failed\" error=%s", store_strerror(rc));
	return rc == STORE_BUSY ? BEARER_BUSY : BEARER_ERROR;
}

int
bearer_check(const struct config *cfg, const struct crypto_keyring *keys, struct store *st,
	     const struct http_req *req, int check_live, struct token_access *out)
{
	const char *origin = http_header(req, "Origin");
	const char *auth = http_header(req, "Authorization");
	const char *tok;
	char resource[CONFIG_STR_MAX + 8];

	memset(out, 0, sizeof(*out));
	if (origin != NULL && !config_origin_allowed(cfg, origin))
		return BEARER_ORIGIN;
	if (bearer_in_query(req))
		return BEARER_IN_QUERY;
	tok = token_from_authorization(auth);
	if (tok == NULL)
		/* "Bearer" with a garbled credential is a bad token; any other
		 * scheme (or none) is no token at all (RFC 6750 §3.1). */
		return auth != NULL && strncasecmp(auth, "Bearer", 6) == 0 ? BEARER_INVALID
									    : BEARER_NO_TOKEN;
	if (metadata_resource(cfg, resource, sizeof(resource)) != 0)
		return BEARER_ERROR;
	if (token_access_verify(keys, resource, tok, time(NULL), out) != TOKEN_OK) {
		memset(out, 0, sizeof(*out));
		return BEARER_INVALID;
	}
	if (check_live) {
		int rc = bearer_live(st, out->grant_id);

		if (rc != BEARER_OK)
			memset(out, 0, sizeof(*out));
		return rc;
	}
	return BEARER_OK;
}

int
bearer_metadata_url(const struct config *cfg, char *out, size_t outsz)
{
	int n = snprintf(out, outsz, "%s/.well-known/oauth-protected-resource%s/mcp",
			 cfg->public_origin, cfg->public_path);

	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

/* WWW-Authenticate: Bearer resource_metadata="...", scope="..."[, error="..."] */
static void
bearer_challenge(struct http_resp *resp, const struct config *cfg, unsigned scopes,
		 const char *error, const char *desc)
{
	char prm[CONFIG_STR_MAX + 64], sc[256], err[160] = "";

	if (bearer_metadata_url(cfg, prm, sizeof(prm)) != 0 ||
	    scope_format(scopes, sc, sizeof(sc)) != 0)
		return;
	if (error != NULL)
		snprintf(err, sizeof(err), ", error=\"%s\", error_description=\"%s\"", error, desc);
	http_resp_header(resp, "WWW-Authenticate", "Bearer resource_metadata=\"%s\", scope=\"%s\"%s",
			 prm, sc, err);
}

void
bearer_error(struct http_resp *resp, const struct config *cfg, int status)
{
	switch (status) {
	case BEARER_NO_TOKEN:
		http_error_oauth(resp, 401, "invalid_request",
				 "a bearer token is required in the Authorization header");
		bearer_challenge(resp, cfg, SCOPE_ALL, NULL, NULL);
		break;
	case BEARER_INVALID:
		http_error_oauth(resp, 401, "invalid_token",
				 "the access token is invalid, expired or revoked");
		bearer_challenge(resp, cfg, SCOPE_ALL, "invalid_token",
				 "the access token is invalid, expired or revoked");
		break;
	case BEARER_IN_QUERY:
		http_error_oauth(resp, 400, "invalid_request",
				 "send the access token in the Authorization header, not the URL");
		bearer_challenge(resp, cfg, SCOPE_ALL, "invalid_request",
				 "send the access token in the Authorization header");
		break;
	case BEARER_ORIGIN:
		http_error_oauth(resp, 403, "forbidden", "this Origin may not call this server");
		break;
	case BEARER_BUSY:
		http_error_store(resp, STORE_BUSY, 0);
		break;
	default:
		http_error_store(resp, STORE_ERROR, 0);
		break;
	}
}

void
bearer_insufficient_scope(struct http_resp *resp, const struct config *cfg, unsigned needed)
{
	http_error_oauth(resp, 403, "insufficient_scope",
			 "the access token lacks a scope this request needs");
	bearer_challenge(resp, cfg, needed, "insufficient_scope",
			 "the access token lacks a scope this request needs");
}
