/* Unit tests for src/config.c: every key kind, and every way a file can be wrong. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "tap.h"

static char dir[] = "/tmp/mcpgate-test-config-XXXXXX";

static const char *
write_file(const char *name, const char *text)
{
	static char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "w");
	if (fp == NULL)
		return NULL;
	fputs(text, fp);
	fclose(fp);
	return path;
}

#define BASE "public_url = https://mcp.example.com\nstore = /var/lib/x.db\nkey_file = /var/lib/keys\n"

struct bad_case {
	const char *text;
	const char *want; /* substring of the error */
};

static const struct bad_case bad[] = {
	{BASE "colour = blue\n", ":4: colour: unknown key"},
	{BASE "store = /again\n", ":4: store: given twice"},
	{BASE "access_token_ttl = 5\n", ":4: access_token_ttl: must be an integer from 10"},
	{BASE "access_token_ttl = 3600s\n", ":4: access_token_ttl: must be an integer"},
	{BASE "access_token_ttl = 99999999999999999999999\n", "access_token_ttl: must be an integer"},
	{BASE "insecure_loopback = maybe\n", ":4: insecure_loopback: must be true or false"},
	{BASE "identity = ldap\n", ":4: identity: must be remote-user or oidc"},
	{BASE "log_level = loud\n", ":4: log_level: must be error"},
	{BASE "just words\n", ":4: expected `key = value`"},
	{"store = /a\nkey_file = /b\n", "public_url: required key missing"},
	{"public_url = https://x\nkey_file = /b\n", "store: required key missing"},
	{"public_url = http://mcp.example.com\nstore = /a\nkey_file = /b\n",
	 "public_url: must use https unless the host is loopback"},
	{"public_url = https://mcp.example.com/\nstore = /a\nkey_file = /b\n",
	 ":1: public_url: must not end with '/'"},
	{"public_url = https://u:p@mcp.example.com\nstore = /a\nkey_file = /b\n",
	 ":1: public_url: needs a host and no userinfo"},
	{"public_url = https://mcp.example.com?x=1\nstore = /a\nkey_file = /b\n",
	 ":1: public_url: must not have a query or fragment"},
	{"public_url = ftp://mcp.example.com\nstore = /a\nkey_file = /b\n", ":1: public_url: must start"},
	{"public_url = https://mcp.example.com:99999\nstore = /a\nkey_file = /b\n", "bad port"},
	{"public_url = https://[::1\nstore = /a\nkey_file = /b\n", "malformed IPv6"},
	{BASE "store_lock_timeout_ms = -1\n", "store_lock_timeout_ms: must be an integer"},
	{"public_url = https://x\nstore = relative.db\nkey_file = /b\n", ":2: store: must be an absolute path"},
	{BASE "identity = oidc\n", "upstream_issuer: required when identity = oidc"},
	{BASE "identity = oidc\nupstream_issuer = http://idp.example.com\nupstream_client_id = c\n",
	 "upstream_issuer: must use https"},
	{BASE "upstream_client_secret_file = /nonexistent/secret\n",
	 ":4: upstream_client_secret_file: cannot be read"},
	{BASE "allowed_origins = https://a.example/path\n", "allowed_origins: origins have no path"},
	{BASE "allowed_origins = https://a.example/\n", "allowed_origins: origins have no path"},
	{"public_url = https://mcp.example.com/gw/\nstore = /a\nkey_file = /b\n",
	 ":1: public_url: must not end with '/'"},
};

static void
test_good(void)
{
	struct config cfg;
	char err[512] = "";
	const char *p = write_file("good.conf",
				   "# comment\n\n  public_url = https://MCP.Example.com:8443/gw  \n"
				   "store=/var/lib/mcpgate/db\nkey_file = /var/lib/mcpgate/keys\n"
				   "access_token_ttl = 600\ninsecure_loopback = yes\n"
				   "allowed_origins = https://a.example, http://127.0.0.1:6274\n"
				   "log_level = debug\nserver_name = Team snippets\n");

	is_int(config_load(&cfg, p, err, sizeof(err)), 0, "good config loads");
	if (err[0] != '\0')
		diag(err);
	is_str(cfg.public_url, "https://MCP.Example.com:8443/gw", "public_url kept as written");
	is_str(cfg.public_origin, "https://mcp.example.com:8443", "origin lowercased");
	is_str(cfg.public_path, "/gw", "path split off");
	is_int(cfg.access_token_ttl, 600, "integer key");
	is_int(cfg.refresh_token_ttl, 30L * 86400, "default refresh ttl");
	is_int(cfg.insecure_loopback, 1, "bool yes");
	is_int(cfg.n_allowed_origins, 2, "two origins");
	is_str(cfg.server_name, "Team snippets", "value with spaces");
	ok(config_origin_allowed(&cfg, "http://127.0.0.1:6274"), "listed origin allowed");
	ok(!config_origin_allowed(&cfg, "http://localhost:6274"), "unlisted loopback refused when a list is set");
}

static void
test_defaults_origins(void)
{
	struct config cfg;
	char err[512];
	const char *p = write_file("loop.conf", "public_url = http://127.0.0.1:8080\n"
						"store = /a\nkey_file = /b\n");

	is_int(config_load(&cfg, p, err, sizeof(err)), 0, "http on loopback is allowed");
	ok(config_origin_allowed(&cfg, "http://127.0.0.1:8080"), "own origin allowed");
	ok(config_origin_allowed(&cfg, "http://localhost:6274"), "loopback origin allowed by default");
	ok(config_origin_allowed(&cfg, "http://[::1]:3000"), "IPv6 loopback origin allowed");
	ok(!config_origin_allowed(&cfg, "https://evil.example"), "foreign origin refused");
	ok(!config_origin_allowed(&cfg, "http://127.0.0.1.evil.example"), "lookalike refused");
	ok(!config_origin_allowed(&cfg, "null"), "null origin refused");
	is_int(cfg.identity, CONFIG_IDENTITY_REMOTE_USER, "identity defaults to remote-user");
}

static void
test_issuer_slash(void)
{
	struct config cfg;
	char err[512] = "";
	const char *p = write_file("auth0.conf", BASE "identity = oidc\n"
						   "upstream_issuer = https://tenant.auth0.example/\n"
						   "upstream_client_id = c\n");

	is_int(config_load(&cfg, p, err, sizeof(err)), 0, "issuer with a trailing slash is kept");
	is_str(cfg.upstream_issuer, "https://tenant.auth0.example/", "exactly as written");
}

static void
test_secret_file(void)
{
	struct config cfg;
	char err[512], text[512];
	const char *sp = write_file("secret", "s3cret-value\n");
	char spath[256];
	const char *p;

	snprintf(spath, sizeof(spath), "%s", sp);
	snprintf(text, sizeof(text),
		 BASE "identity = oidc\nupstream_issuer = https://idp.example.com\n"
		      "upstream_client_id = mcpgate\nupstream_client_secret_file = %s\n",
		 spath);
	p = write_file("oidc.conf", text);
	is_int(config_load(&cfg, p, err, sizeof(err)), 0, "oidc config with secret file");
	is_str(cfg.upstream_client_secret, "s3cret-value", "secret read, newline trimmed");
	config_wipe(&cfg);
	is_str(cfg.upstream_client_secret, "", "wipe clears the secret");
}

static void
test_bad(void)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct config cfg;
		char err[512] = "";
		const char *p = write_file("bad.conf", bad[i].text);
		int rc = config_load(&cfg, p, err, sizeof(err));

		ok(rc == -1 && strstr(err, bad[i].want) != NULL && strstr(err, "bad.conf") != NULL,
		   "bad config %zu: %s", i, bad[i].want);
		if (rc != -1 || strstr(err, bad[i].want) == NULL)
			printf("#   got: %s\n", err);
	}
}

static void
test_misc(void)
{
	struct config cfg;
	char err[512], longline[5000];

	ok(config_load(&cfg, "/nonexistent/mcpgate.conf", err, sizeof(err)) == -1 &&
		   strstr(err, "cannot open") != NULL,
	   "missing file reported");
	memset(longline, 'a', sizeof(longline) - 2);
	longline[sizeof(longline) - 2] = '\n';
	longline[sizeof(longline) - 1] = '\0';
	ok(config_load(&cfg, write_file("long.conf", longline), err, sizeof(err)) == -1 &&
		   strstr(err, ":1: line too long") != NULL,
	   "overlong line refused");
	ok(config_host_is_loopback("127.0.0.2"), "127/8 is loopback");
	ok(!config_host_is_loopback("127.0.0.1x"), "127.0.0.1x is not");
	ok(!config_host_is_loopback("127.example.com"), "127.example.com is not");
	ok(config_host_is_loopback("LOCALHOST"), "case-insensitive localhost");
	setenv("MCPGATE_CONFIG", "/x/y.conf", 1);
	is_str(config_path_from_env(), "/x/y.conf", "MCPGATE_CONFIG honoured");
	unsetenv("MCPGATE_CONFIG");
	is_str(config_path_from_env(), CONFIG_DEFAULT_PATH, "default path");
}

int
main(void)
{
	char cmd[300];

	if (mkdtemp(dir) == NULL)
		return 1;
	test_good();
	test_defaults_origins();
	test_secret_file();
	test_issuer_slash();
	test_bad();
	test_misc();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("cleanup failed");
	return tap_done();
}
