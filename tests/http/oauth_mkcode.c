/*
 * oauth_mkcode: test-only helper for tests/http/oauth_*.t (never installed).
 *
 * Issues an authorization code straight into the store, as the authorize
 * and consent programs do once a user has approved, so the token endpoint
 * can be tested on its own:
 *
 *   oauth_mkcode CONFIG CLIENT_ID REDIRECT_URI CODE_CHALLENGE [SCOPE [USER [RESOURCE]]]
 *
 * SCOPE defaults to every scope, USER to local:alice, RESOURCE to the MCP
 * resource of the configuration.  Prints the code.
 */
#include <stdio.h>
#include <string.h>

#include "metadata.h"
#include "oauth.h"
#include "scope.h"

static int
mkcode_fail(const char *what)
{
	fprintf(stderr, "oauth_mkcode: %s\n", what);
	return 1;
}

static int
mkcode_fill(struct app *app, int argc, char **argv, struct oauth_code *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->client_id, sizeof(c->client_id), "%s", argv[2]);
	snprintf(c->redirect_uri, sizeof(c->redirect_uri), "%s", argv[3]);
	snprintf(c->code_challenge, sizeof(c->code_challenge), "%s", argv[4]);
	c->scope = SCOPE_ALL;
	if (argc > 5 && scope_parse(argv[5], &c->scope) != 0)
		return -1;
	snprintf(c->user, sizeof(c->user), "%s", argc > 6 ? argv[6] : "local:alice");
	snprintf(c->name, sizeof(c->name), "%s", "Alice");
	if (argc > 7)
		snprintf(c->resource, sizeof(c->resource), "%s", argv[7]);
	else if (metadata_resource(&app->cfg, c->resource, sizeof(c->resource)) != 0)
		return -1;
	return 0;
}

int
main(int argc, char **argv)
{
	struct app app;
	struct oauth_code c;
	char err[512], code[OAUTH_CODE_LEN + 1];
	int rc;

	if (argc < 5 || argc > 8)
		return mkcode_fail("usage: CONFIG CLIENT_ID REDIRECT_URI CHALLENGE [SCOPE [USER [RESOURCE]]]");
	memset(&app, 0, sizeof(app));
	if (config_load(&app.cfg, argv[1], err, sizeof(err)) != 0 ||
	    crypto_keyring_load(&app.keys, app.cfg.key_file, 0, err, sizeof(err)) != 0 ||
	    (app.store = store_open(app.cfg.store, 5000, err, sizeof(err))) == NULL)
		return mkcode_fail(err);
	if (mkcode_fill(&app, argc, argv, &c) != 0)
		return mkcode_fail("bad scope or resource");
	rc = oauth_code_issue(&app, &c, code, sizeof(code));
	store_close(app.store);
	crypto_keyring_wipe(&app.keys);
	if (rc != STORE_OK)
		return mkcode_fail(store_strerror(rc));
	printf("%s\n", code);
	return 0;
}
