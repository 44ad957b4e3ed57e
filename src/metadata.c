#include "metadata.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scope.h"

/*
 * Endpoints this build implements.  RFC 8414 §2 and the original sample's
 * flaw (it advertised revocation and refresh it never had) say: advertise
 * only what works, so an endpoint appears here when its program lands.
 */
struct metadata_endpoint {
	const char *field;
	const char *path;
};

static const struct metadata_endpoint metadata_endpoints[] = {
	{"authorization_endpoint", "/oauth/authorize"},
	{"registration_endpoint", "/oauth/register"},
	{"token_endpoint", "/oauth/token"},
	{"revocation_endpoint", "/oauth/revoke"},
	{"introspection_endpoint", "/oauth/introspect"},
	{NULL, NULL}, /* the OAuth programs add themselves above */
};

static const char *const metadata_grants[] = {"authorization_code", "refresh_token", NULL};
/* Token and revocation endpoints; introspection takes confidential clients only. */
static const char *const metadata_auth_methods[] = {"none", "client_secret_basic",
						    "client_secret_post", NULL};
static const char *const metadata_introspect_auth[] = {"client_secret_basic",
						       "client_secret_post", NULL};

static json_object *
metadata_strarray(const char *const *v)
{
	json_object *a = json_object_new_array();

	for (; a != NULL && *v != NULL; v++)
		json_object_array_add(a, json_object_new_string(*v));
	return a;
}

static json_object *
metadata_scopes(void)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; a != NULL && i < scope_count; i++)
		json_object_array_add(a, json_object_new_string(scope_table[i].name));
	return a;
}

static void
metadata_url(json_object *o, const char *field, const struct config *cfg, const char *path)
{
	char url[CONFIG_STR_MAX * 2];

	if (path == NULL)
		return;
	snprintf(url, sizeof(url), "%s%s", cfg->public_url, path);
	json_object_object_add(o, field, json_object_new_string(url));
}

static json_object *
metadata_as(const struct config *cfg)
{
	static const char *const code[] = {"code", NULL};
	static const char *const s256[] = {"S256", NULL};
	json_object *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	json_object_object_add(o, "issuer", json_object_new_string(cfg->public_url));
	for (size_t i = 0; i < sizeof(metadata_endpoints) / sizeof(metadata_endpoints[0]); i++)
		if (metadata_endpoints[i].field != NULL)
			metadata_url(o, metadata_endpoints[i].field, cfg, metadata_endpoints[i].path);
	json_object_object_add(o, "response_types_supported", metadata_strarray(code));
	json_object_object_add(o, "response_modes_supported",
			       metadata_strarray((const char *const[]){"query", NULL}));
	if (metadata_grants[0] != NULL)
		json_object_object_add(o, "grant_types_supported", metadata_strarray(metadata_grants));
	json_object_object_add(o, "code_challenge_methods_supported", metadata_strarray(s256));
	if (metadata_auth_methods[0] != NULL) {
		json_object_object_add(o, "token_endpoint_auth_methods_supported",
				       metadata_strarray(metadata_auth_methods));
		/* RFC 8414 §2: omitted means client_secret_basic only. */
		json_object_object_add(o, "revocation_endpoint_auth_methods_supported",
				       metadata_strarray(metadata_auth_methods));
		json_object_object_add(o, "introspection_endpoint_auth_methods_supported",
				       metadata_strarray(metadata_introspect_auth));
	}
	json_object_object_add(o, "scopes_supported", metadata_scopes());
	json_object_object_add(o, "authorization_response_iss_parameter_supported",
			       json_object_new_boolean(1));
	json_object_object_add(o, "client_id_metadata_document_supported",
			       json_object_new_boolean(1));
	return o;
}

int
metadata_resource(const struct config *cfg, char *out, size_t outsz)
{
	int n = snprintf(out, outsz, "%s/mcp", cfg->public_url);

	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

static json_object *
metadata_prm(const struct config *cfg)
{
	char resource[CONFIG_STR_MAX + 8];
	json_object *o = json_object_new_object(), *as;

	if (o == NULL || metadata_resource(cfg, resource, sizeof(resource)) != 0) {
		json_object_put(o);
		return NULL;
	}
	json_object_object_add(o, "resource", json_object_new_string(resource));
	as = json_object_new_array();
	json_object_array_add(as, json_object_new_string(cfg->public_url));
	json_object_object_add(o, "authorization_servers", as);
	json_object_object_add(o, "scopes_supported", metadata_scopes());
	json_object_object_add(o, "bearer_methods_supported",
			       metadata_strarray((const char *const[]){"header", NULL}));
	json_object_object_add(o, "resource_name", json_object_new_string(cfg->server_name));
	return o;
}

static int
metadata_serialise(json_object *o, struct metadata_docs *out, enum metadata_doc d)
{
	const char *s;

	if (o == NULL)
		return -1;
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						      JSON_C_TO_STRING_NOSLASHESCAPE);
	out->json[d] = s != NULL ? strdup(s) : NULL;
	out->len[d] = out->json[d] != NULL ? strlen(out->json[d]) : 0;
	json_object_put(o);
	return out->json[d] != NULL ? 0 : -1;
}

static void
metadata_add_path(struct metadata_docs *out, enum metadata_doc d, const char *a, const char *b,
		  const char *c)
{
	if (out->npaths == METADATA_PATHS_MAX)
		return;
	snprintf(out->paths[out->npaths], sizeof(out->paths[0]), "%s%s%s", a, b, c);
	/* With public_path "" several forms coincide: keep one. */
	for (size_t i = 0; i < out->npaths; i++)
		if (strcmp(out->paths[i], out->paths[out->npaths]) == 0)
			return;
	out->path_doc[out->npaths++] = d;
}

int
metadata_build(const struct config *cfg, struct metadata_docs *out)
{
	const char *pp = cfg->public_path;

	memset(out, 0, sizeof(*out));
	if (metadata_serialise(metadata_as(cfg), out, METADATA_AS) != 0 ||
	    metadata_serialise(metadata_prm(cfg), out, METADATA_PRM) != 0) {
		metadata_free(out);
		return -1;
	}
	/* RFC 8414 §3.1: the well-known segment goes between host and the
	 * issuer's path; clients also try OIDC discovery in both its
	 * path-insertion and path-append forms (MCP 2025-11-25). */
	metadata_add_path(out, METADATA_AS, "/.well-known/oauth-authorization-server", pp, "");
	metadata_add_path(out, METADATA_AS, "/.well-known/openid-configuration", pp, "");
	metadata_add_path(out, METADATA_AS, pp, "/.well-known/openid-configuration", "");
	metadata_add_path(out, METADATA_AS, pp, "/.well-known/oauth-authorization-server", "");
	/* RFC 9728 §3.1: for resource <public_url>/mcp. The root form serves
	 * clients that strip the path. */
	metadata_add_path(out, METADATA_PRM, "/.well-known/oauth-protected-resource", pp, "/mcp");
	metadata_add_path(out, METADATA_PRM, "/.well-known/oauth-protected-resource", pp, "");
	metadata_add_path(out, METADATA_PRM, pp, "/.well-known/oauth-protected-resource", "/mcp");
	metadata_add_path(out, METADATA_PRM, pp, "/.well-known/oauth-protected-resource", "");
	return 0;
}

void
metadata_free(struct metadata_docs *docs)
{
	if (docs == NULL)
		return;
	for (int i = 0; i < METADATA__MAX; i++)
		free(docs->json[i]);
	memset(docs, 0, sizeof(*docs));
}

enum metadata_doc
metadata_route(const struct metadata_docs *docs, const char *path)
{
	for (size_t i = 0; i < docs->npaths; i++)
		if (strcmp(path, docs->paths[i]) == 0)
			return docs->path_doc[i];
	return METADATA_NONE;
}
