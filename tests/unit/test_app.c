/* Unit tests for src/app.c: the purge election, and a whole CGI request through app_serve. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gdbm.h>

#include "app.h"
#include "tap.h"

static int
count_fn(const void *key, size_t keylen, const struct store_val *val, void *arg)
{
	(void)key;
	(void)keylen;
	(void)val;
	(*(int *)arg)++;
	return 0;
}

static int
count_tx(struct store_txn *tx, void *arg)
{
	return store_txn_each(tx, STORE_CODE, "", 0, count_fn, arg);
}

/* Live and expired records are both counted by a raw GDBM view; here we only
 * see live ones, so count what a purge leaves by re-reading after it. */
static int
live_codes(struct store *st)
{
	int n = 0;

	store_txn(st, 0, count_tx, &n);
	return n;
}

/* Every record in the file, expired or not, straight from GDBM. */
static int
raw_count(const char *path)
{
	GDBM_FILE db = gdbm_open(path, 0, GDBM_READER | GDBM_NOLOCK, 0, NULL);
	datum k, next;
	int n = 0;

	if (db == NULL)
		return -1;
	for (k = gdbm_firstkey(db); k.dptr != NULL; k = next) {
		n++;
		next = gdbm_nextkey(db, k);
		free(k.dptr);
	}
	gdbm_close(db);
	return n;
}

static void
handler(struct app *app, struct http_req *req, struct http_resp *resp)
{
	(void)app;
	(void)req;
	http_resp_header(resp, "Content-Type", "text/plain");
	buf_puts(&resp->body, "hi");
}

int
main(void)
{
	char dir[] = "/tmp/mcpgate-test-app-XXXXXX", path[256], err[256], cmd[300];
	struct app a, b;
	time_t now = time(NULL);
	struct store_val v = {0};

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/db", dir);
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.store = store_open(path, 0, err, sizeof(err));
	b.store = store_open(path, 0, err, sizeof(err));
	ok(a.store != NULL && b.store != NULL, "two processes' handles");
	store_put(a.store, STORE_CODE, "dead", 4, "x", 1, now - 10, 0);
	store_put(a.store, STORE_CODE, "live", 4, "x", 1, now + 600, 0);
	is_int(live_codes(a.store), 1, "one live record visible");

	/* The store keeps one bookkeeping record of its own. */
	is_int(raw_count(path), 3, "two records (and the store's own) before the purge");
	app_maybe_purge(&a, now);
	is_int(raw_count(path), 3, "after: the live record, the store's own and the purge schedule");
	is_int(store_get(a.store, STORE_CODE, "live", 4, &v), STORE_OK, "live record kept");
	store_val_free(&v);
	is_int(store_get(a.store, STORE_META, "next-purge", 10, &v), STORE_OK,
	       "the next purge time is recorded for every process");
	store_val_free(&v);

	store_put(a.store, STORE_CODE, "dead2", 5, "x", 1, now - 10, 0);
	app_maybe_purge(&b, now);
	ok(b.purge_check == now, "another process asked");
	is_int(raw_count(path), 4, "but did not purge: the interval has not passed");
	app_maybe_purge(&a, now + 30);
	ok(a.purge_check == now, "a process asks at most once a minute");
	app_maybe_purge(&a, now + APP_PURGE_INTERVAL + 1);
	is_int(a.purge_check, now + APP_PURGE_INTERVAL + 1, "due again after the interval");
	is_int(raw_count(path), 3, "and the second expired record is gone");

	/* A whole request as plain CGI, through app_serve and a broken config. */
	{
		static const struct app_def def = {.name = "unit", .handle = handler};
		struct app c;

		setenv("MCPGATE_CONFIG", "/nonexistent/mcpgate.conf", 1);
		is_int(app_init(&c, &def), -1, "missing config: init fails");
		ok(c.broken && strstr(c.broken_why, "/nonexistent/mcpgate.conf") != NULL,
		   "the reason names the file");
		app_fini(&c);
	}

	store_close(a.store);
	store_close(b.store);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("cleanup failed");
	return tap_done();
}
