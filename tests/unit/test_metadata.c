/* Unit tests for src/metadata.c and src/scope.c. */
#include <json-c/json.h>
#include <string.h>

#include "metadata.h"
#include "scope.h"
#include "tap.h"

static struct config
make_cfg(const char *url, const char *origin, const char *path)
{
	struct config cfg;

	config_defaults(&cfg);
	snprintf(cfg.public_url, sizeof(cfg.public_url), "%s", url);
	snprintf(cfg.public_origin, sizeof(cfg.public_origin), "%s", origin);
	snprintf(cfg.public_path, sizeof(cfg.public_path), "%s", path);
	return cfg;
}

static const char *
field(json_object *o, const char *name)
{
	json_object *v;

	return json_object_object_get_ex(o, name, &v) ? json_object_get_string(v) : NULL;
}

static void
test_docs(void)
{
	struct config cfg = make_cfg("https://mcp.example.com", "https://mcp.example.com", "");
	struct metadata_docs d;
	json_object *as, *prm, *v;

	is_int(metadata_build(&cfg, &d), 0, "build");
	as = json_tokener_parse(d.json[METADATA_AS]);
	prm = json_tokener_parse(d.json[METADATA_PRM]);
	ok(as != NULL && prm != NULL, "both documents are JSON");
	is_str(field(as, "issuer"), "https://mcp.example.com", "issuer is public_url");
	ok(strstr(d.json[METADATA_AS], "\\/") == NULL, "no escaped slashes");
	ok(json_object_object_get_ex(as, "code_challenge_methods_supported", &v) &&
		   json_object_array_length(v) == 1 &&
		   strcmp(json_object_get_string(json_object_array_get_idx(v, 0)), "S256") == 0,
	   "only S256");
	ok(json_object_object_get_ex(as, "response_types_supported", &v) &&
		   json_object_array_length(v) == 1,
	   "one response type");
	is_str(field(as, "authorization_endpoint"), "https://mcp.example.com/oauth/authorize",
	       "authorization endpoint");
	is_str(field(as, "registration_endpoint"), "https://mcp.example.com/oauth/register",
	       "registration endpoint");
	is_str(field(as, "token_endpoint"), "https://mcp.example.com/oauth/token", "token endpoint");
	is_str(field(as, "revocation_endpoint"), "https://mcp.example.com/oauth/revoke",
	       "revocation endpoint");
	is_str(field(as, "introspection_endpoint"), "https://mcp.example.com/oauth/introspect",
	       "introspection endpoint");
	ok(!json_object_object_get_ex(as, "userinfo_endpoint", &v) &&
		   !json_object_object_get_ex(as, "device_authorization_endpoint", &v),
	   "no endpoint advertised that is not implemented");
	ok(json_object_object_get_ex(as, "grant_types_supported", &v) &&
		   json_object_array_length(v) == 2 &&
		   strcmp(json_object_get_string(json_object_array_get_idx(v, 0)),
			  "authorization_code") == 0 &&
		   strcmp(json_object_get_string(json_object_array_get_idx(v, 1)), "refresh_token") ==
			   0,
	   "grant types: authorization_code and refresh_token only");
	ok(json_object_object_get_ex(as, "token_endpoint_auth_methods_supported", &v) &&
		   json_object_array_length(v) == 3 &&
		   strcmp(json_object_get_string(json_object_array_get_idx(v, 0)), "none") == 0,
	   "token endpoint auth methods");
	ok(json_object_object_get_ex(as, "revocation_endpoint_auth_methods_supported", &v) &&
		   json_object_array_length(v) == 3,
	   "revocation endpoint auth methods");
	ok(json_object_object_get_ex(as, "introspection_endpoint_auth_methods_supported", &v) &&
		   json_object_array_length(v) == 2 &&
		   strcmp(json_object_get_string(json_object_array_get_idx(v, 0)),
			  "client_secret_basic") == 0,
	   "introspection takes confidential clients only");
	ok(json_object_object_get_ex(as, "client_id_metadata_document_supported", &v) &&
		   json_object_get_boolean(v),
	   "client ID metadata documents supported");
	is_str(field(prm, "resource"), "https://mcp.example.com/mcp", "resource");
	ok(json_object_object_get_ex(prm, "authorization_servers", &v) &&
		   strcmp(json_object_get_string(json_object_array_get_idx(v, 0)),
			  "https://mcp.example.com") == 0,
	   "authorization_servers");
	ok(json_object_object_get_ex(prm, "bearer_methods_supported", &v) &&
		   strcmp(json_object_get_string(json_object_array_get_idx(v, 0)), "header") == 0,
	   "header only");
	is_int(metadata_route(&d, "/.well-known/oauth-authorization-server"), METADATA_AS, "AS path");
	is_int(metadata_route(&d, "/.well-known/openid-configuration"), METADATA_AS, "OIDC alias");
	is_int(metadata_route(&d, "/.well-known/oauth-protected-resource/mcp"), METADATA_PRM, "PRM path");
	is_int(metadata_route(&d, "/.well-known/oauth-protected-resource"), METADATA_PRM, "PRM root");
	is_int(metadata_route(&d, "/.well-known/oauth-authorization-server/"), METADATA_NONE,
	       "trailing slash is not a document");
	is_int(metadata_route(&d, "/.well-known/other"), METADATA_NONE, "unknown");
	json_object_put(as);
	json_object_put(prm);
	metadata_free(&d);
}

static void
test_path_insertion(void)
{
	struct config cfg = make_cfg("https://h.example/gw", "https://h.example", "/gw");
	struct metadata_docs d;
	json_object *prm;

	is_int(metadata_build(&cfg, &d), 0, "build with a path");
	is_int(metadata_route(&d, "/.well-known/oauth-authorization-server/gw"), METADATA_AS,
	       "RFC 8414 path insertion");
	is_int(metadata_route(&d, "/.well-known/openid-configuration/gw"), METADATA_AS,
	       "OIDC path insertion");
	is_int(metadata_route(&d, "/gw/.well-known/openid-configuration"), METADATA_AS,
	       "OIDC path append");
	is_int(metadata_route(&d, "/.well-known/oauth-protected-resource/gw/mcp"), METADATA_PRM,
	       "RFC 9728 path insertion");
	is_int(metadata_route(&d, "/.well-known/oauth-authorization-server"), METADATA_NONE,
	       "root AS path is not ours when the issuer has a path");
	prm = json_tokener_parse(d.json[METADATA_PRM]);
	is_str(field(prm, "resource"), "https://h.example/gw/mcp", "resource with path");
	{
		json_object *as = json_tokener_parse(d.json[METADATA_AS]);
		is_str(field(as, "token_endpoint"), "https://h.example/gw/oauth/token",
		       "endpoints under the issuer's path");
		is_str(field(as, "authorization_endpoint"), "https://h.example/gw/oauth/authorize",
		       "authorization endpoint under the issuer's path");
		json_object_put(as);
	}
	json_object_put(prm);
	metadata_free(&d);
	metadata_free(NULL);
}

static void
test_scopes(void)
{
	unsigned bits;
	char out[128];

	is_int(scope_parse("snippets:read snippets:write", &bits), 0, "two scopes");
	is_int(bits, SCOPE_ALL, "both bits");
	is_int(scope_parse("", &bits), 0, "empty scope");
	is_int(bits, 0, "no bits");
	is_int(scope_parse("snippets:read  admin", &bits), -1, "unknown scope refused");
	is_int(scope_parse("snippets:rea", &bits), -1, "prefix is not a scope");
	is_int(scope_parse("snippets:readx", &bits), -1, "longer is not a scope");
	is_int(scope_format(SCOPE_ALL, out, sizeof(out)), 0, "format");
	is_str(out, "snippets:read snippets:write", "formatted");
	is_int(scope_format(SCOPE_ALL, out, 5), -1, "format overflow refused");
}

int
main(void)
{
	test_docs();
	test_path_insertion();
	test_scopes();
	return tap_done();
}
