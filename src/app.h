/*
 * app: the FastCGI/CGI request loop shared by every program.
 *
 * A program's main is one call:
 *     int main(void) { return app_main(&metadata_app); }
 * app_main loads the configuration, the key ring and the store once per
 * process, then accepts requests (FastCGI) or serves exactly one (CGI),
 * calling the program's handler with a fresh request/response pair and
 * freeing both afterwards, so a long-lived process does not grow.
 *
 * If the configuration does not load, every request gets a 500 page and the
 * reason is logged once per process (file, line and key).
 */
#ifndef MCPGATE_APP_H
#define MCPGATE_APP_H

#include <time.h>

#include "config.h"
#include "crypto.h"
#include "http.h"
#include "store.h"

/* What a program needs opened before its first request. */
#define APP_NEEDS_KEYS 0x1
#define APP_NEEDS_STORE 0x2

/* Per-process context: the only mutable state a program keeps between requests. */
struct app {
	const struct app_def *def;
	struct config cfg;
	struct crypto_keyring keys;
	struct store *store;
	int broken;            /* config/keys/store failed: answer 500 */
	char broken_why[1024];
	void *priv;            /* the program's own per-process state */
	unsigned long served;  /* requests served by this process */
	time_t purge_check;    /* when this process last asked whether a purge is due */
};

struct app_def {
	const char *name; /* short program name for logs */
	unsigned needs;   /* APP_NEEDS_* */
	/* Handle one request: validate -> authorise -> act -> fill resp.
	 * The loop sends resp afterwards unless req->headers_sent. */
	void (*handle)(struct app *app, struct http_req *req, struct http_resp *resp);
	/* Optional: build per-process state once config is loaded (0 or -1). */
	int (*init)(struct app *app);
	/* Optional: free what init built. */
	void (*fini)(struct app *app);
};

/* Load config (MCPGATE_CONFIG), keys and store as def->needs says.
 * Returns 0, or -1 with app->broken set and the reason logged. */
int app_init(struct app *app, const struct app_def *def);
void app_fini(struct app *app);
/* Delete expired records when a purge is due: each process asks at most once
 * a minute, and one process in the whole installation wins the purge every
 * APP_PURGE_INTERVAL seconds (a STORE_META record elects it), so the store
 * does not grow with dead codes, tokens and sessions.  Called after a
 * response has been sent, never on a request's critical path. */
#define APP_PURGE_INTERVAL 300
void app_maybe_purge(struct app *app, time_t now);
/*
 * Nothing to do: give back what the busiest moment left behind.  A request
 * leaves nothing live (the loop frees it all), but malloc keeps the pages
 * of the freed peak, and the kept store handle holds the file's directory
 * and a bucket cache; both would count as the process's memory until the
 * next burst.  The FastCGI loop calls it once a process has seen no request
 * for APP_IDLE_MS after serving some; an event loop calls it the same way.
 */
#define APP_IDLE_MS 100
void app_idle(struct app *app);
/* Serve one request that is already read into req (used by the loop and tests). */
void app_serve(struct app *app, struct http_req *req);
/* The whole program: init, then FastCGI accept loop or one CGI request. */
int app_main(const struct app_def *def);

#endif
