#include "app.h"

#include <errno.h>
#include <fcgiapp.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* The FastCGI loop's own state: whether a request is in progress, so that
 * SIGTERM (lighttpd/Apache shutting down) ends the process between requests
 * but never in the middle of a store write. */
static volatile sig_atomic_t app_busy;
static volatile sig_atomic_t app_stop;

static void
app_on_term(int sig)
{
	(void)sig;
	if (!app_busy)
		_exit(0);
	app_stop = 1;
}

static void
app_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = app_on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

static void
app_fail(struct app *app, const char *why)
{
	app->broken = 1;
	snprintf(app->broken_why, sizeof(app->broken_why), "%s", why);
	log_msg(LOG_ERROR, "msg=\"not serving: configuration error\" error=\"%s\"", why);
}

int
app_init(struct app *app, const struct app_def *def)
{
	char err[1024];

	memset(app, 0, sizeof(*app));
	app->def = def;
	log_init(def->name);
	if (config_load(&app->cfg, config_path_from_env(), err, sizeof(err)) != 0) {
		app_fail(app, err);
		return -1;
	}
	log_set_level((enum log_level)app->cfg.log_level);
	if ((def->needs & APP_NEEDS_KEYS) &&
	    crypto_keyring_load(&app->keys, app->cfg.key_file, 0, err, sizeof(err)) != 0) {
		app_fail(app, err);
		return -1;
	}
	if (def->needs & APP_NEEDS_STORE) {
		app->store = store_open(app->cfg.store, (unsigned)app->cfg.store_lock_timeout_ms,
					err, sizeof(err));
		if (app->store == NULL) {
			app_fail(app, err);
			return -1;
		}
	}
	if (def->init != NULL && def->init(app) != 0) {
		app_fail(app, "program initialisation failed (see the previous line)");
		return -1;
	}
	return 0;
}

void
app_fini(struct app *app)
{
	if (app->def != NULL && app->def->fini != NULL && !app->broken)
		app->def->fini(app);
	store_close(app->store);
	app->store = NULL;
	crypto_keyring_wipe(&app->keys);
	config_wipe(&app->cfg);
}

static double
app_ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

void
app_serve(struct app *app, struct http_req *req)
{
	struct http_resp resp;
	struct timespec t0;
	char qpath[160];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	log_set_request_id(req->id);
	http_resp_init(&resp);
	if (app->broken) {
		/* The reason was logged at start; the client learns nothing of it. */
		http_error_html(&resp, 500, "Service unavailable",
				"This server is not configured correctly. The administrator "
				"can find the reason in the server's error log.");
	} else {
		app->def->handle(app, req, &resp);
	}
	if (!req->headers_sent)
		http_send(req, &resp);
	app->served++;
	log_msg(LOG_INFO, "method=%s path=%s status=%d bytes=%zu ms=%.2f",
		req->method[0] != '\0' ? req->method : "-",
		log_quote(qpath, sizeof(qpath), req->path), resp.status, resp.body.len,
		app_ms_since(&t0));
	http_resp_free(&resp);
	log_set_request_id(NULL);
}

static const char app_purge_key[] = "next-purge";

/* Elect this process to purge when the shared deadline has passed. */
static int
app_purge_elect(const struct store_val *cur, void **newdata, size_t *newlen, time_t *newexp,
		void *arg)
{
	static _Thread_local int64_t next;
	time_t now = *(const time_t *)arg;
	int64_t due = 0;

	if (cur != NULL && cur->len == sizeof(due))
		memcpy(&due, cur->data, sizeof(due));
	if (cur != NULL && due > (int64_t)now)
		return STORE_EXISTS; /* another process purged recently */
	next = (int64_t)now + APP_PURGE_INTERVAL;
	*newdata = &next;
	*newlen = sizeof(next);
	*newexp = 0;
	return STORE_OK;
}

void
app_maybe_purge(struct app *app, time_t now)
{
	size_t removed = 0;
	int rc;

	if (app->store == NULL || app->broken || now - app->purge_check < 60)
		return;
	app->purge_check = now;
	if (store_update(app->store, STORE_META, app_purge_key, sizeof(app_purge_key) - 1,
			 app_purge_elect, &now) != STORE_OK)
		return;
	rc = store_purge(app->store, &removed);
	log_msg(rc == STORE_OK ? LOG_INFO : LOG_WARN, "msg=\"expired records purged\" count=%zu result=%s",
		removed, store_strerror(rc));
}

/* The listening socket the web server (or spawn-fcgi) hands a FastCGI
 * program: descriptor 0, as the FastCGI specification has it. */
#define APP_LISTEN_FD 0

/*
 * Has no request arrived within APP_IDLE_MS?  Asked once after each burst
 * of requests; under load a connection is already waiting and poll returns
 * at once.  Errors and signals count as "not idle": accept decides.
 */
static int
app_idle_wait(void)
{
	struct pollfd p = {.fd = APP_LISTEN_FD, .events = POLLIN};
	int rc = poll(&p, 1, APP_IDLE_MS);

	if (rc < 0 && errno != EINTR)
		log_msg(LOG_DEBUG, "msg=\"poll on the listening socket failed\" error=\"%s\"",
			strerror(errno));
	return rc == 0;
}

void
app_idle(struct app *app)
{
	if (app->store != NULL)
		store_release_reader();
	malloc_trim(0);
}

static int
app_loop_fcgi(struct app *app)
{
	FCGX_Request r;
	int served = 0;

	if (FCGX_Init() != 0 || FCGX_InitRequest(&r, APP_LISTEN_FD, 0) != 0) {
		log_msg(LOG_ERROR, "msg=\"FastCGI initialisation failed\"");
		return 1;
	}
	while (!app_stop) {
		struct http_req req;

		if (served && app_idle_wait())
			app_idle(app);
		served = 0;
		if (FCGX_Accept_r(&r) < 0)
			break;
		served = 1;
		app_busy = 1;
		http_req_init(&req, r.envp, r.in, r.out);
		app_serve(app, &req);
		http_req_free(&req);
		FCGX_Finish_r(&r);
		/* After FCGX_Finish_r the client has its answer. */
		app_maybe_purge(app, time(NULL));
		app_busy = 0;
	}
	FCGX_Free(&r, 1);
	return 0;
}

int
app_main(const struct app_def *def)
{
	struct app app;
	int rc = 0;

	app_signals();
	app_init(&app, def);
	if (FCGX_IsCGI()) {
		struct http_req req;

		/* Plain CGI (shared hosting): one request on stdin/stdout. */
		app_busy = 1;
		http_req_init(&req, NULL, NULL, NULL);
		app_serve(&app, &req);
		http_req_free(&req);
	} else {
		rc = app_loop_fcgi(&app);
	}
	app_fini(&app);
	return rc;
}
