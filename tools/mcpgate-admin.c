/*
 * mcpgate-admin [-c FILE] consents list USER
 * mcpgate-admin [-c FILE] consents revoke USER [CLIENT_ID]
 *
 * The remembered approvals of a user (as stored: "local:<name>" or
 * "oidc:<iss>#<sub>").  Revoking deletes the records; the consent cookies
 * that named them stop counting, so the next authorization shows the
 * consent page again.  Tokens already issued are not touched.
 * The configuration is FILE, else $MCPGATE_CONFIG, else the default.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "config.h"
#include "oauth.h"
#include "store.h"

#define ADMIN_LIST_MAX 1000

static int
admin_usage(void)
{
	fprintf(stderr, "usage: mcpgate-admin [-c FILE] consents list USER\n"
			"       mcpgate-admin [-c FILE] consents revoke USER [CLIENT_ID]\n");
	return 2;
}

static int
admin_list(struct app *app, const char *user)
{
	struct oauth_consent *c = calloc(ADMIN_LIST_MAX, sizeof(*c));
	size_t n = 0, total = 0;
	int rc;

	if (c == NULL)
		return 1;
	rc = oauth_consent_list(app, user, c, ADMIN_LIST_MAX, &n, &total);
	for (size_t i = 0; rc == STORE_OK && i < n; i++) {
		char at[32] = "", exp[32] = "";
		struct tm tm;

		if (gmtime_r(&c[i].at, &tm) != NULL)
			strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
		if (gmtime_r(&c[i].exp, &tm) != NULL)
			strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%SZ", &tm);
		printf("%s\t%s\tscope=%u\tapproved=%s\texpires=%s\n", c[i].client_id,
		       c[i].redirect_key, c[i].scope, at, exp);
	}
	if (rc == STORE_OK && total > n)
		fprintf(stderr, "(%zu more not shown)\n", total - n);
	free(c);
	if (rc != STORE_OK && rc != STORE_NOTFOUND)
		fprintf(stderr, "mcpgate-admin: store: %s\n", store_strerror(rc));
	return rc == STORE_OK ? 0 : 1;
}

static int
admin_revoke(struct app *app, const char *user, const char *client_id)
{
	size_t removed = 0;
	int rc = oauth_consent_revoke(app, user, client_id, &removed);

	if (rc != STORE_OK) {
		fprintf(stderr, "mcpgate-admin: %s\n",
			rc == STORE_NOTFOUND ? "bad user" : store_strerror(rc));
		return 1;
	}
	printf("%zu consent%s revoked\n", removed, removed == 1 ? "" : "s");
	return 0;
}

int
main(int argc, char **argv)
{
	const char *path = config_path_from_env();
	struct app app;
	char err[1024];
	int i = 1, rc;

	if (argc > 2 && strcmp(argv[1], "-c") == 0) {
		path = argv[2];
		i = 3;
	}
	if (argc - i < 3 || argc - i > 4 || strcmp(argv[i], "consents") != 0 ||
	    (strcmp(argv[i + 1], "list") == 0 && argc - i != 3) ||
	    (strcmp(argv[i + 1], "list") != 0 && strcmp(argv[i + 1], "revoke") != 0))
		return admin_usage();
	memset(&app, 0, sizeof(app));
	if (config_load(&app.cfg, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	app.store = store_open(app.cfg.store, (unsigned)app.cfg.store_lock_timeout_ms, err,
			       sizeof(err));
	if (app.store == NULL) {
		fprintf(stderr, "%s: store: %s\n", path, err);
		config_wipe(&app.cfg);
		return 1;
	}
	if (strcmp(argv[i + 1], "list") == 0)
		rc = admin_list(&app, argv[i + 2]);
	else
		rc = admin_revoke(&app, argv[i + 2], argc - i == 4 ? argv[i + 3] : NULL);
	store_close(app.store);
	config_wipe(&app.cfg);
	return rc;
}
