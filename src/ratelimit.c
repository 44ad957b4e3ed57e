#include "ratelimit.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

static const char *const ratelimit_names[RATELIMIT__MAX] = {"register", "token", "authorize"};

static long
ratelimit_limit(const struct config *cfg, enum ratelimit_kind kind)
{
	switch (kind) {
	case RATELIMIT_REGISTER:
		return cfg->rate_limit_register;
	case RATELIMIT_TOKEN:
		return cfg->rate_limit_token;
	case RATELIMIT_AUTHORIZE:
		return cfg->rate_limit_authorize;
	case RATELIMIT__MAX:
		break;
	}
	return 0;
}

int
ratelimit_client_key(const char *addr, char *out, size_t outsz)
{
	unsigned char a6[16];
	struct in_addr a4;

	if (outsz < 64)
		return -1;
	if (addr != NULL && inet_pton(AF_INET, addr, &a4) == 1)
		return inet_ntop(AF_INET, &a4, out, (socklen_t)outsz) != NULL ? 0 : -1;
	if (addr != NULL && inet_pton(AF_INET6, addr, a6) == 1) {
		/* An IPv4-mapped address is the IPv4 client it maps. */
		static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (memcmp(a6, mapped, sizeof(mapped)) == 0)
			return inet_ntop(AF_INET, a6 + 12, out, (socklen_t)outsz) != NULL ? 0 : -1;
		memset(a6 + 8, 0, 8);
		if (inet_ntop(AF_INET6, a6, out, (socklen_t)(outsz - 3)) == NULL)
			return -1;
		memcpy(out + strlen(out), "/64", 4);
		return 0;
	}
	/* Unix sockets, proxies that pass nothing: one shared bucket. */
	snprintf(out, outsz, "other");
	return 0;
}

int
ratelimit_hit(struct app *app, enum ratelimit_kind kind, const char *addr, time_t now,
	      unsigned long *count, long *retry_after)
{
	char key[112];
	long limit, window = app->cfg.rate_limit_window;
	time_t end;
	uint64_t n = 0;
	size_t klen;
	int rc;

	if ((unsigned)kind >= RATELIMIT__MAX || window <= 0)
		return RATELIMIT_ERROR;
	limit = ratelimit_limit(&app->cfg, kind);
	if (limit <= 0)
		return RATELIMIT_OK;
	/* Key: kind, the window's start, the normalised address.  Naming the
	 * window in the key means a counter never outlives its window, even if
	 * a process's clock is a little off from the others'. */
	end = now - now % window + window;
	n = (uint64_t)snprintf(key, sizeof(key), "%c%lld ", 'a' + (int)kind,
			       (long long)(end - window));
	if (n >= sizeof(key) || ratelimit_client_key(addr, key + n, sizeof(key) - n) != 0)
		return RATELIMIT_ERROR;
	klen = strlen(key);
	n = 0;
	rc = store_incr(app->store, STORE_RATE, key, klen, end, &n);
	if (rc == STORE_BUSY)
		return RATELIMIT_BUSY;
	if (rc != STORE_OK)
		return RATELIMIT_ERROR;
	if (count != NULL)
		*count = n > (uint64_t)ULONG_MAX ? ULONG_MAX : (unsigned long)n;
	if (n <= (uint64_t)limit)
		return RATELIMIT_OK;
	if (retry_after != NULL)
		*retry_after = end - now > 0 ? (long)(end - now) : 1;
	return RATELIMIT_LIMITED;
}

int
ratelimit_check(struct app *app, const struct http_req *req, struct http_resp *resp,
		enum ratelimit_kind kind, int html)
{
	unsigned long n = 0;
	long retry = 1;
	char qaddr[80];
	int rc = ratelimit_hit(app, kind, req->remote_addr, time(NULL), &n, &retry);

	if (rc == RATELIMIT_OK)
		return 0;
	if (rc != RATELIMIT_LIMITED) {
		http_error_store(resp, rc == RATELIMIT_BUSY ? STORE_BUSY : STORE_ERROR, html);
		return -1;
	}
	/* One line when a client first crosses the limit in a window, not one
	 * per refused request: a flood must not flood the log too. */
	if (n == (unsigned long)ratelimit_limit(&app->cfg, kind) + 1)
		log_msg(LOG_WARN, "msg=\"rate limited\" kind=%s ip=%s limit=%ld window=%ld",
			ratelimit_names[kind], log_quote(qaddr, sizeof(qaddr), req->remote_addr),
			ratelimit_limit(&app->cfg, kind), app->cfg.rate_limit_window);
	if (html)
		http_error_html(resp, 429, NULL, "Too many requests. Please wait a moment and try again.");
	else
		/* RFC 6749 defines no rate-limit code; temporarily_unavailable is
		 * the one clients already treat as "retry later". */
		http_error_oauth(resp, 429, "temporarily_unavailable", "too many requests, retry later");
	http_resp_header(resp, "Retry-After", "%ld", retry);
	return -1;
}
