#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

enum config_kind {
	CK_STR,      /* free text */
	CK_PATH,     /* absolute path */
	CK_URL,      /* absolute http(s) URL */
	CK_LONG,     /* integer in [min, max] */
	CK_BOOL,     /* true/false/yes/no/on/off/1/0 */
	CK_IDENTITY, /* remote-user | oidc */
	CK_LOGLEVEL, /* error | warn | info | debug */
	CK_ORIGINS,  /* space/comma separated origins */
	CK_SECRET_FILE
};

struct config_key {
	const char *name;
	enum config_kind kind;
	size_t off;  /* offset into struct config */
	size_t size; /* for strings */
	long min, max;
	int required;
};

#define S(f) offsetof(struct config, f), sizeof(((struct config *)0)->f)
#define L(f) offsetof(struct config, f), sizeof(long)

/* Every key mcpgate accepts.  An unknown key is an error, so a typo cannot
 * silently leave a security setting at its default. */
static const struct config_key config_keys[] = {
	{"public_url", CK_URL, S(public_url), 0, 0, 1},
	{"store", CK_PATH, S(store), 0, 0, 1},
	{"key_file", CK_PATH, S(key_file), 0, 0, 1},
	{"identity", CK_IDENTITY, offsetof(struct config, identity), sizeof(int), 0, 0, 0},
	{"upstream_issuer", CK_URL, S(upstream_issuer), 0, 0, 0},
	{"upstream_client_id", CK_STR, S(upstream_client_id), 0, 0, 0},
	{"upstream_client_secret", CK_STR, S(upstream_client_secret), 0, 0, 0},
	{"upstream_client_secret_file", CK_SECRET_FILE, S(upstream_client_secret), 0, 0, 0},
	{"upstream_scopes", CK_STR, S(upstream_scopes), 0, 0, 0},
	{"upstream_token_auth", CK_STR, S(upstream_token_auth), 0, 0, 0},
	{"upstream_allow_private", CK_BOOL, offsetof(struct config, upstream_allow_private),
	 sizeof(int), 0, 0, 0},
	{"access_token_ttl", CK_LONG, L(access_token_ttl), 10, 86400, 0},
	{"refresh_token_ttl", CK_LONG, L(refresh_token_ttl), 0, 31536000, 0},
	{"code_ttl", CK_LONG, L(code_ttl), 10, 600, 0},
	{"consent_ttl", CK_LONG, L(consent_ttl), 0, 31536000, 0},
	{"refresh_grace", CK_LONG, L(refresh_grace), 0, 300, 0},
	{"allowed_origins", CK_ORIGINS, 0, 0, 0, 0, 0},
	{"log_level", CK_LOGLEVEL, offsetof(struct config, log_level), sizeof(int), 0, 0, 0},
	{"insecure_loopback", CK_BOOL, offsetof(struct config, insecure_loopback), sizeof(int), 0, 0,
	 0},
	{"max_body", CK_LONG, L(max_body), 1024, 64L * 1024 * 1024, 0},
	{"snippet_max", CK_LONG, L(snippet_max), 1, 16L * 1024 * 1024, 0},
	{"shared_snippets", CK_BOOL, offsetof(struct config, shared_snippets), sizeof(int), 0, 0, 0},
	{"store_lock_timeout_ms", CK_LONG, L(store_lock_timeout_ms), 10, 60000, 0},
	{"static_clients_file", CK_PATH, S(static_clients_file), 0, 0, 0},
	{"introspect_clients", CK_STR, S(introspect_clients), 0, 0, 0},
	{"client_metadata_hosts", CK_STR, S(client_metadata_hosts), 0, 0, 0},
	{"rate_limit_window", CK_LONG, L(rate_limit_window), 1, 86400, 0},
	{"rate_limit_register", CK_LONG, L(rate_limit_register), 0, 1000000, 0},
	{"rate_limit_token", CK_LONG, L(rate_limit_token), 0, 1000000, 0},
	{"rate_limit_authorize", CK_LONG, L(rate_limit_authorize), 0, 1000000, 0},
	{"server_name", CK_STR, S(server_name), 0, 0, 0},
	{"runtime_dir", CK_PATH, S(runtime_dir), 0, 0, 0},
	{"sse_max_streams", CK_LONG, L(sse_max_streams), 1, 20000, 0},
	/* MCP 2024-11-05 clients give up on a silent stream; 15 s is the bound. */
	{"sse_ping_ms", CK_LONG, L(sse_ping_ms), 100, 15000, 0},
};

#define CONFIG_NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))

void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->identity = CONFIG_IDENTITY_REMOTE_USER;
	snprintf(cfg->upstream_scopes, sizeof(cfg->upstream_scopes), "openid profile email");
	cfg->access_token_ttl = 3600;
	cfg->refresh_token_ttl = 30L * 86400;
	cfg->code_ttl = 60;
	cfg->consent_ttl = 30L * 86400;
	cfg->refresh_grace = 30;
	cfg->log_level = LOG_INFO;
	cfg->max_body = 1024L * 1024;
	cfg->snippet_max = 256L * 1024;
	cfg->store_lock_timeout_ms = 2000;
	cfg->rate_limit_window = 60;
	cfg->rate_limit_register = 20;
	cfg->rate_limit_token = 300;
	cfg->rate_limit_authorize = 60;
	snprintf(cfg->server_name, sizeof(cfg->server_name), "mcpgate");
	snprintf(cfg->runtime_dir, sizeof(cfg->runtime_dir), "/run/mcpgate");
	cfg->sse_max_streams = 1000;
	cfg->sse_ping_ms = 10000;
}

const char *
config_path_from_env(void)
{
	const char *p = getenv("MCPGATE_CONFIG");

	return p != NULL && *p != '\0' ? p : CONFIG_DEFAULT_PATH;
}

int
config_host_is_loopback(const char *host)
{
	static const char *const names[] = {"localhost", "127.0.0.1", "::1", "[::1]"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(host, names[i]) == 0)
			return 1;
	/* The whole 127.0.0.0/8 is loopback. */
	if (strncmp(host, "127.", 4) == 0) {
		int dots = 0;
		for (const char *p = host; *p != '\0'; p++) {
			if (*p == '.')
				dots++;
			else if (!isdigit((unsigned char)*p))
				return 0;
		}
		return dots == 3;
	}
	return 0;
}

/*
 * Split an absolute http(s) URL into origin and path.  Refuses userinfo,
 * query, fragment, whitespace and control characters: every URL we emit is
 * built from this one, so it must be clean.  host receives the host (IPv6
 * with brackets).
 */
static int
config_split_url(const char *url, char *origin, size_t olen, char *path, size_t plen, char *host,
		 size_t hlen, int *https, const char **why)
{
	const char *p, *auth, *slash;
	size_t alen;

	for (p = url; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
			*why = "must not contain spaces or control characters";
			return -1;
		}
	if (strncasecmp(url, "https://", 8) == 0) {
		*https = 1;
		auth = url + 8;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		*https = 0;
		auth = url + 7;
	} else {
		*why = "must start with https:// (or http:// for a loopback host)";
		return -1;
	}
	if (strpbrk(url, "?#") != NULL) {
		*why = "must not have a query or fragment";
		return -1;
	}
	slash = strchr(auth, '/');
	alen = slash != NULL ? (size_t)(slash - auth) : strlen(auth);
	if (alen == 0 || memchr(auth, '@', alen) != NULL) {
		*why = "needs a host and no userinfo";
		return -1;
	}
	if ((size_t)(auth - url) + alen >= olen || alen >= hlen) {
		*why = "too long";
		return -1;
	}
	memcpy(origin, url, (size_t)(auth - url) + alen);
	origin[(size_t)(auth - url) + alen] = '\0';
	/* Lowercase scheme and host: the canonical form clients compare (RFC 8707). */
	for (char *o = origin; *o != '\0'; o++)
		*o = (char)tolower((unsigned char)*o);
	snprintf(path, plen, "%s", slash != NULL ? slash : "");
	memcpy(host, auth, alen);
	host[alen] = '\0';
	/* Strip the port: "[::1]:8080" -> "[::1]", "h:80" -> "h". */
	{
		char *close = strrchr(host, ']');
		char *colon = strrchr(host, ':');
		if (host[0] == '[' && close == NULL) {
			*why = "has a malformed IPv6 host";
			return -1;
		}
		if (colon != NULL && (close == NULL || colon > close)) {
			char *end;
			unsigned long port = strtoul(colon + 1, &end, 10);
			if (colon[1] == '\0' || *end != '\0' || port == 0 || port > 65535) {
				*why = "has a bad port";
				return -1;
			}
			*colon = '\0';
		}
	}
	return 0;
}

static int
config_parse_bool(const char *v, int *out)
{
	static const char *const t[] = {"true", "yes", "on", "1"};
	static const char *const f[] = {"false", "no", "off", "0"};

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, t[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(v, f[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

static int
config_read_secret_file(const char *path, char *out, size_t outsz, const char **why)
{
	FILE *fp;
	size_t n;
	int rc = -1;

	if (path[0] != '/') {
		*why = "must be an absolute path";
		return -1;
	}
	fp = fopen(path, "re");
	if (fp == NULL) {
		*why = "cannot be read";
		return -1;
	}
	n = fread(out, 1, outsz - 1, fp);
	if (ferror(fp) || (n == outsz - 1 && fgetc(fp) != EOF)) {
		*why = "cannot be read or is too long";
		goto out;
	}
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '))
		n--;
	out[n] = '\0';
	if (n == 0) {
		*why = "is empty";
		goto out;
	}
	rc = 0;
out:
	fclose(fp);
	return rc;
}

static int
config_parse_origins(struct config *cfg, const char *v, const char **why)
{
	char tmp[CONFIG_STR_MAX * 4], *save = NULL, *tok;

	if (strlen(v) >= sizeof(tmp)) {
		*why = "too long";
		return -1;
	}
	memcpy(tmp, v, strlen(v) + 1);
	cfg->n_allowed_origins = 0;
	for (tok = strtok_r(tmp, " ,\t", &save); tok != NULL; tok = strtok_r(NULL, " ,\t", &save)) {
		char origin[CONFIG_STR_MAX], path[CONFIG_STR_MAX], host[CONFIG_STR_MAX];
		int https;
		if (cfg->n_allowed_origins == CONFIG_ORIGINS_MAX) {
			*why = "lists too many origins";
			return -1;
		}
		if (config_split_url(tok, origin, sizeof(origin), path, sizeof(path), host,
				     sizeof(host), &https, why) != 0)
			return -1;
		if (path[0] != '\0') {
			*why = "origins have no path";
			return -1;
		}
		snprintf(cfg->allowed_origins[cfg->n_allowed_origins++], CONFIG_STR_MAX, "%s", origin);
	}
	return 0;
}

/* Store value v for key k; returns -1 with *why set on a bad value. */
static int
config_set(struct config *cfg, const struct config_key *k, const char *v, const char **why)
{
	char *base = (char *)cfg + k->off;

	switch (k->kind) {
	case CK_STR:
	case CK_PATH:
	case CK_URL:
		if (strlen(v) >= k->size) {
			*why = "value too long";
			return -1;
		}
		if (k->kind == CK_PATH && v[0] != '/') {
			*why = "must be an absolute path";
			return -1;
		}
		if (k->kind == CK_URL) {
			char o[CONFIG_STR_MAX], p[CONFIG_STR_MAX], h[CONFIG_STR_MAX];
			int https;
			if (config_split_url(v, o, sizeof(o), p, sizeof(p), h, sizeof(h), &https,
					     why) != 0)
				return -1;
			/* Our own URLs are built by appending paths to public_url, so
			 * it has no trailing slash; an upstream issuer is compared
			 * exactly as the provider spells it (Auth0 ends in '/'). */
			if (strcmp(k->name, "public_url") == 0 && p[0] != '\0' &&
			    p[strlen(p) - 1] == '/') {
				*why = "must not end with '/'";
				return -1;
			}
		}
		memcpy(base, v, strlen(v) + 1);
		return 0;
	case CK_SECRET_FILE:
		return config_read_secret_file(v, base, k->size, why);
	case CK_LONG: {
		char *end;
		long n;
		errno = 0;
		n = strtol(v, &end, 10);
		if (errno != 0 || end == v || *end != '\0' || n < k->min || n > k->max) {
			*why = "must be an integer in range";
			return -1;
		}
		memcpy(base, &n, sizeof(n));
		return 0;
	}
	case CK_BOOL: {
		int b;
		if (config_parse_bool(v, &b) != 0) {
			*why = "must be true or false";
			return -1;
		}
		memcpy(base, &b, sizeof(b));
		return 0;
	}
	case CK_IDENTITY:
		if (strcmp(v, "remote-user") == 0)
			cfg->identity = CONFIG_IDENTITY_REMOTE_USER;
		else if (strcmp(v, "oidc") == 0)
			cfg->identity = CONFIG_IDENTITY_OIDC;
		else {
			*why = "must be remote-user or oidc";
			return -1;
		}
		return 0;
	case CK_LOGLEVEL: {
		int l = log_level_parse(v);
		if (l < 0) {
			*why = "must be error, warn, info or debug";
			return -1;
		}
		cfg->log_level = l;
		return 0;
	}
	case CK_ORIGINS:
		return config_parse_origins(cfg, v, why);
	}
	*why = "unhandled key";
	return -1;
}

static char *
config_trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		e--;
	*e = '\0';
	return s;
}

/* Checks that involve several keys, once the whole file is read. */
static int
config_finish(struct config *cfg, char *err, size_t errlen)
{
	char host[CONFIG_STR_MAX];
	const char *why = NULL;
	int https;

	if (config_split_url(cfg->public_url, cfg->public_origin, sizeof(cfg->public_origin),
			     cfg->public_path, sizeof(cfg->public_path), host, sizeof(host), &https,
			     &why) != 0) {
		snprintf(err, errlen, "%s: public_url: %s", cfg->path, why);
		return -1;
	}
	if (!https && !config_host_is_loopback(host)) {
		snprintf(err, errlen, "%s: public_url: must use https unless the host is loopback",
			 cfg->path);
		return -1;
	}
	if (cfg->identity == CONFIG_IDENTITY_OIDC) {
		static const char *const need[] = {"upstream_issuer", "upstream_client_id"};
		const char *vals[] = {cfg->upstream_issuer, cfg->upstream_client_id};
		for (size_t i = 0; i < 2; i++)
			if (vals[i][0] == '\0') {
				snprintf(err, errlen, "%s: %s: required when identity = oidc",
					 cfg->path, need[i]);
				return -1;
			}
		if (config_split_url(cfg->upstream_issuer, host, sizeof(host), host, sizeof(host),
				     host, sizeof(host), &https, &why) == 0 &&
		    !https && !cfg->insecure_loopback) {
			snprintf(err, errlen,
				 "%s: upstream_issuer: must use https (http only with "
				 "insecure_loopback = true)",
				 cfg->path);
			return -1;
		}
	}
	return 0;
}

int
config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
	unsigned char seen[CONFIG_NKEYS] = {0};
	char line[CONFIG_STR_MAX * 4 + 64];
	unsigned lineno = 0;
	FILE *fp;
	int rc = -1;

	config_defaults(cfg);
	snprintf(cfg->path, sizeof(cfg->path), "%s", path);
	fp = fopen(path, "re");
	if (fp == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *key, *val, *eq;
		const char *why = NULL;
		size_t i;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(fp)) {
			snprintf(err, errlen, "%s:%u: line too long", path, lineno);
			goto out;
		}
		key = config_trim(line);
		if (*key == '\0' || *key == '#')
			continue;
		eq = strchr(key, '=');
		if (eq == NULL) {
			snprintf(err, errlen, "%s:%u: expected `key = value`", path, lineno);
			goto out;
		}
		*eq = '\0';
		key = config_trim(key);
		val = config_trim(eq + 1);
		for (i = 0; i < CONFIG_NKEYS; i++)
			if (strcmp(key, config_keys[i].name) == 0)
				break;
		if (i == CONFIG_NKEYS) {
			snprintf(err, errlen, "%s:%u: %.64s: unknown key", path, lineno, key);
			goto out;
		}
		if (seen[i]) {
			snprintf(err, errlen, "%s:%u: %s: given twice", path, lineno, key);
			goto out;
		}
		seen[i] = 1;
		if (config_set(cfg, &config_keys[i], val, &why) != 0) {
			if (config_keys[i].kind == CK_LONG)
				snprintf(err, errlen, "%s:%u: %s: must be an integer from %ld to %ld",
					 path, lineno, key, config_keys[i].min, config_keys[i].max);
			else
				snprintf(err, errlen, "%s:%u: %s: %s", path, lineno, key, why);
			goto out;
		}
	}
	if (ferror(fp)) {
		snprintf(err, errlen, "%s: read error", path);
		goto out;
	}
	for (size_t i = 0; i < CONFIG_NKEYS; i++)
		if (config_keys[i].required && !seen[i]) {
			snprintf(err, errlen, "%s: %s: required key missing", path,
				 config_keys[i].name);
			goto out;
		}
	rc = config_finish(cfg, err, errlen);
out:
	explicit_bzero(line, sizeof(line));
	fclose(fp);
	if (rc != 0)
		config_wipe(cfg);
	return rc;
}

void
config_wipe(struct config *cfg)
{
	explicit_bzero(cfg->upstream_client_secret, sizeof(cfg->upstream_client_secret));
}

int
config_origin_allowed(const struct config *cfg, const char *origin)
{
	char o[CONFIG_STR_MAX], p[CONFIG_STR_MAX], host[CONFIG_STR_MAX];
	const char *why;
	int https;

	if (cfg->n_allowed_origins > 0) {
		for (size_t i = 0; i < cfg->n_allowed_origins; i++)
			if (strcasecmp(origin, cfg->allowed_origins[i]) == 0)
				return 1;
		return 0;
	}
	if (strcasecmp(origin, cfg->public_origin) == 0)
		return 1;
	if (config_split_url(origin, o, sizeof(o), p, sizeof(p), host, sizeof(host), &https,
			     &why) != 0 || p[0] != '\0')
		return 0;
	return config_host_is_loopback(host);
}
