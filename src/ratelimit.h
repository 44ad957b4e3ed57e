/*
 * ratelimit: fixed-window request counters per client IP address, kept in
 * the store (STORE_RATE) so every process of every program shares them.
 *
 * Windows are aligned to multiples of rate_limit_window seconds, so all
 * processes agree on when a window ends without reading its record, and
 * Retry-After is simply the time to the next boundary.  IPv6 clients are
 * counted per /64: one host usually owns a whole /64 and could otherwise
 * rotate addresses to escape the limit.
 */
#ifndef MCPGATE_RATELIMIT_H
#define MCPGATE_RATELIMIT_H

#include <time.h>

#include "app.h"

enum ratelimit_kind {
	RATELIMIT_REGISTER,  /* POST /oauth/register: rate_limit_register */
	RATELIMIT_TOKEN,     /* POST /oauth/token (and revoke, introspect): rate_limit_token */
	RATELIMIT_AUTHORIZE, /* GET /oauth/authorize: rate_limit_authorize */
	RATELIMIT__MAX
};

enum ratelimit_status {
	RATELIMIT_OK = 0,      /* under the limit (or limit off) */
	RATELIMIT_LIMITED = 1, /* over: *retry_after seconds until the window ends */
	RATELIMIT_BUSY = 2,    /* store busy: answer 503 */
	RATELIMIT_ERROR = -1   /* store error or bad argument (logged by the store) */
};

/* Normalise an address for counting into out (outsz >= 64): IPv4 as is,
 * IPv6 as its /64 prefix, anything unparseable as "other".  0 or -1. */
int ratelimit_client_key(const char *addr, char *out, size_t outsz);

/* Count one request of kind from addr at time now.  *count (may be NULL)
 * gets the number in this window, *retry_after (may be NULL) the seconds to
 * the window's end when limited. */
int ratelimit_hit(struct app *app, enum ratelimit_kind kind, const char *addr, time_t now,
		  unsigned long *count, long *retry_after);

/* ratelimit_hit for req's REMOTE_ADDR, rendered: returns 0 when the request
 * may go on; otherwise resp holds the answer (429 + Retry-After, or 503/500
 * when the store failed; an OAuth JSON error, or an HTML page when html) and
 * -1 is returned.  Logs one line per client and window when it first limits. */
int ratelimit_check(struct app *app, const struct http_req *req, struct http_resp *resp,
		    enum ratelimit_kind kind, int html);

#endif
