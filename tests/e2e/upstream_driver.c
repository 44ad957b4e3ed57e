/*
 * upstream_driver: runs the upstream (OIDC) login steps from the command
 * line, for tests/e2e/upstream_idp.t.  The configuration comes from
 * MCPGATE_CONFIG, as in the programs.
 *
 *   upstream_driver keygen PATH                 write a fresh key file
 *   upstream_driver begin                       url= state= nonce= verifier=
 *   upstream_driver finish CODE VERIFIER NONCE  status= user= name= email=
 *   upstream_driver iss [ISS]                   status= (RFC 9207 check)
 *   upstream_driver callback-error ERROR        status= (the error we would send)
 *   upstream_driver tokens USER                 sealed provider tokens: present, opened,
 *                                               never in clear in the store
 *
 * Exit status 0 when the step succeeded, 1 when it failed, 2 on usage or setup errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "crypto.h"
#include "jose.h"
#include "log.h"
#include "store.h"
#include "upstream.h"

static int
setup(struct app *app)
{
	char err[1024];

	memset(app, 0, sizeof(*app));
	if (config_load(&app->cfg, config_path_from_env(), err, sizeof(err)) != 0 ||
	    crypto_keyring_load(&app->keys, app->cfg.key_file, 0, err, sizeof(err)) != 0 ||
	    (app->store = store_open(app->cfg.store, 0, err, sizeof(err))) == NULL) {
		fprintf(stderr, "upstream_driver: %s\n", err);
		return -1;
	}
	log_set_level((enum log_level)app->cfg.log_level);
	return 0;
}

static const char *
status_name(int rc)
{
	return rc == UPSTREAM_OK ? "ok" : upstream_oauth_error(rc);
}

static int
cmd_begin(struct app *app)
{
	struct upstream_login l;
	int rc = upstream_begin(app, &l);

	printf("status=%s\n", status_name(rc));
	if (rc == UPSTREAM_OK)
		printf("url=%s\nstate=%s\nnonce=%s\nverifier=%s\n", l.url, l.state, l.nonce,
		       l.verifier);
	return rc == UPSTREAM_OK ? 0 : 1;
}

static int
cmd_finish(struct app *app, const char *code, const char *verifier, const char *nonce)
{
	struct upstream_identity who;
	int rc = upstream_finish(app, code, verifier, nonce, &who);

	printf("status=%s\n", status_name(rc));
	if (rc == UPSTREAM_OK)
		printf("user=%s\nname=%s\nemail=%s\n", who.user, who.name, who.email);
	return rc == UPSTREAM_OK ? 0 : 1;
}

/* Open a user's sealed provider tokens as upstream.h documents the record:
 * STORE_OK, STORE_NOTFOUND, or STORE_ERROR when it does not open. */
static int
tokens_open(struct app *app, const char *user, struct json_object **out)
{
	char aad[300];
	struct store_val v;
	char *pt = NULL;
	int n, st, aadlen = snprintf(aad, sizeof(aad), "mcpgate-upstream-v1%c%s", '\0', user);

	*out = NULL;
	memset(&v, 0, sizeof(v));
	if (aadlen < 0 || (size_t)aadlen >= sizeof(aad))
		return STORE_ERROR;
	if ((st = store_get(app->store, STORE_UPSTREAM, user, strlen(user), &v)) != STORE_OK)
		return st;
	st = STORE_ERROR;
	pt = malloc(v.len + 1);
	n = pt == NULL ? -1
		       : crypto_open(&app->keys, "upstream-token", aad, (size_t)aadlen, v.data,
				     v.len, pt, v.len);
	if (n > 0 && jose_json_parse(pt, (size_t)n, out) == JOSE_OK)
		st = STORE_OK;
	free(pt);
	store_val_free(&v);
	return st;
}

static int
cmd_tokens(struct app *app, const char *user)
{
	struct json_object *tok = NULL, *v;
	struct store_val raw;
	const char *access = NULL;
	int rc = tokens_open(app, user, &tok), clear = -1;

	memset(&raw, 0, sizeof(raw));
	if (rc == STORE_OK && json_object_object_get_ex(tok, "access_token", &v))
		access = json_object_get_string(v);
	if (access != NULL &&
	    store_get(app->store, STORE_UPSTREAM, user, strlen(user), &raw) == STORE_OK)
		clear = memmem(raw.data, raw.len, access, strlen(access)) != NULL;
	printf("tokens=%s\nopened_access_token=%s\nclear_in_store=%s\n",
	       rc == STORE_OK ? "ok" : store_strerror(rc), access != NULL ? "yes" : "no",
	       clear < 0 ? "unknown" : clear ? "yes" : "no");
	store_val_free(&raw);
	json_object_put(tok);
	return rc == STORE_OK && access != NULL && clear == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	struct app app;
	char err[256];
	int rc = 2;

	log_init("upstream-driver");
	if (argc == 3 && strcmp(argv[1], "keygen") == 0) {
		if (crypto_keyring_generate(argv[2], "e2e", err, sizeof(err)) == 0)
			return 0;
		fprintf(stderr, "upstream_driver: %s\n", err);
		return 2;
	}
	if (argc == 3 && strcmp(argv[1], "callback-error") == 0) {
		printf("status=%s\n", status_name(upstream_callback_error(argv[2])));
		return 0;
	}
	if (argc < 2 || setup(&app) != 0)
		return 2;
	if (argc == 2 && strcmp(argv[1], "begin") == 0)
		rc = cmd_begin(&app);
	else if (argc == 5 && strcmp(argv[1], "finish") == 0)
		rc = cmd_finish(&app, argv[2], argv[3], argv[4]);
	else if ((argc == 2 || argc == 3) && strcmp(argv[1], "iss") == 0) {
		int st = upstream_response_iss_check(&app, argc == 3 ? argv[2] : NULL);
		printf("status=%s\n", status_name(st));
		rc = st == UPSTREAM_OK ? 0 : 1;
	} else if (argc == 3 && strcmp(argv[1], "tokens") == 0)
		rc = cmd_tokens(&app, argv[2]);
	else
		fprintf(stderr, "upstream_driver: bad usage (see the comment in the source)\n");
	store_close(app.store);
	crypto_keyring_wipe(&app.keys);
	config_wipe(&app.cfg);
	return rc;
}
