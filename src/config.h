/*
 * config: the one configuration file, `key = value` lines with `#` comments.
 *
 * Its path comes from MCPGATE_CONFIG (set by the web server), default
 * /etc/mcpgate/mcpgate.conf.  Every key is declared in one table in config.c
 * with its type, range and default; an unknown key, a duplicate key, a bad
 * value or a missing required key fails the whole load with one message that
 * names file, line and key.  Programs that fail to load answer every request
 * with 500 and log that message (see app.c); `mcpgate-check-config` prints it.
 */
#ifndef MCPGATE_CONFIG_H
#define MCPGATE_CONFIG_H

#include <stddef.h>

#define CONFIG_DEFAULT_PATH "/etc/mcpgate/mcpgate.conf"
#define CONFIG_STR_MAX 512
#define CONFIG_ORIGINS_MAX 16

enum config_identity {
	CONFIG_IDENTITY_REMOTE_USER,
	CONFIG_IDENTITY_OIDC
};

struct config {
	char path[CONFIG_STR_MAX]; /* file this came from */

	/* public_url: scheme://host[:port][/path], no trailing slash, no query.
	 * https required unless the host is loopback. */
	char public_url[CONFIG_STR_MAX];
	char public_origin[CONFIG_STR_MAX]; /* derived: scheme://host[:port] */
	char public_path[CONFIG_STR_MAX];   /* derived: "" or "/path" */

	char store[CONFIG_STR_MAX];
	char key_file[CONFIG_STR_MAX];

	enum config_identity identity;
	char upstream_issuer[CONFIG_STR_MAX];
	char upstream_client_id[CONFIG_STR_MAX];
	char upstream_client_secret[CONFIG_STR_MAX]; /* from the file or _file key */
	char upstream_scopes[CONFIG_STR_MAX];
	char upstream_token_auth[32];  /* "" (from provider metadata), client_secret_basic,
					  client_secret_post or none */
	int upstream_allow_private;    /* provider endpoints may be on private addresses */

	long access_token_ttl;  /* seconds */
	long refresh_token_ttl;
	long code_ttl;
	long consent_ttl;
	long refresh_grace;     /* seconds a just-rotated refresh token may be retried */

	size_t n_allowed_origins; /* 0: public origin + loopback origins */
	char allowed_origins[CONFIG_ORIGINS_MAX][CONFIG_STR_MAX];

	int log_level;           /* enum log_level */
	int insecure_loopback;   /* allow http/loopback upstream and metadata fetches */

	long max_body;           /* bytes, JSON-RPC body cap */
	long snippet_max;        /* bytes */
	int shared_snippets;     /* one team namespace instead of per user */
	long store_lock_timeout_ms;

	/* OAuth clients and limits (src/oauth.c, src/ratelimit.c). */
	char static_clients_file[CONFIG_STR_MAX]; /* JSON array of pre-registered clients, "" none */
	char introspect_clients[CONFIG_STR_MAX];  /* client_ids (space separated) that may
						     introspect any token (resource servers) */
	char client_metadata_hosts[CONFIG_STR_MAX]; /* hosts whose client metadata documents
						       are accepted ("" any, ".dom" suffix) */
	long rate_limit_window;    /* seconds per fixed window */
	long rate_limit_register;  /* requests per window per client IP; 0 = no limit */
	long rate_limit_token;
	long rate_limit_authorize;

	char server_name[128];   /* shown on pages and in serverInfo */
	char runtime_dir[CONFIG_STR_MAX]; /* sockets for cross-process delivery (sse) */
	long sse_max_streams;    /* streams one sse process holds */
	long sse_ping_ms;        /* keep-alive comment interval */
};

/* Fill cfg with defaults (everything but the required keys). */
void config_defaults(struct config *cfg);
/* Load path over the defaults.  On failure returns -1 and writes
 * "file:line: key: problem" (or "file: problem") into err. */
int config_load(struct config *cfg, const char *path, char *err, size_t errlen);
/* Path from MCPGATE_CONFIG or the default. */
const char *config_path_from_env(void);
/* Wipe secrets held in cfg. */
void config_wipe(struct config *cfg);
/* 1 when origin ("scheme://host[:port]") may call the MCP endpoints. */
int config_origin_allowed(const struct config *cfg, const char *origin);
/* 1 when host (no port, IPv6 in brackets or not) names a loopback address. */
int config_host_is_loopback(const char *host);

#endif
