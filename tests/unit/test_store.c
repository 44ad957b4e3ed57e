/*
 * Unit tests for src/store.c: records, expiry, update/incr/purge, hostile
 * records on disk, read-only transactions, lock timeouts, a dead lock
 * holder, and many threads sharing one struct store.
 */
#include "store.h"
#include "store_util.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <gdbm.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char test_dir[256];
static char test_db[300];
static char test_lock[320];

/* ---- helpers ------------------------------------------------------------ */

/* A fresh store file in the test directory. */
static struct store *
fresh_store(const char *name, unsigned timeout_ms)
{
	char err[256], lock[400];
	struct store *st;

	snprintf(test_db, sizeof(test_db), "%s/%s", test_dir, name);
	snprintf(test_lock, sizeof(test_lock), "%s.lock", test_db);
	snprintf(lock, sizeof(lock), "%s.lock", test_db);
	unlink(test_db);
	unlink(lock);
	st = store_open(test_db, timeout_ms, err, sizeof(err));
	if (st == NULL)
		printf("# store_open(%s): %s\n", test_db, err);
	return st;
}

/* Is the live record (type, key) exactly want/wantlen? */
static int
has_value(struct store *st, enum store_type type, const void *key, size_t keylen,
	  const void *want, size_t wantlen)
{
	struct store_val v;
	int rc = store_get(st, type, key, keylen, &v), same;

	if (rc != STORE_OK)
		return 0;
	same = v.len == wantlen && (wantlen == 0 || memcmp(v.data, want, wantlen) == 0);
	store_val_free(&v);
	return same;
}

/* Read a whole (small) file; NULL on error.  Caller frees. */
static unsigned char *
slurp(const char *path, size_t *len)
{
	struct stat sb;
	unsigned char *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &sb) != 0) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	buf = malloc((size_t)sb.st_size + 1);
	*len = buf != NULL && read(fd, buf, (size_t)sb.st_size) == sb.st_size ? (size_t)sb.st_size : 0;
	close(fd);
	return buf;
}

/* Store one raw GDBM record, bypassing the store's format. */
static int
raw_store(const char *path, const void *key, size_t keylen, const void *val, size_t vallen)
{
	GDBM_FILE dbf = gdbm_open(path, 0, GDBM_WRITER | GDBM_NOLOCK, 0600, NULL);
	datum k = {(char *)(uintptr_t)key, (int)keylen}, v = {(char *)(uintptr_t)val, (int)vallen};
	int rc;

	if (dbf == NULL)
		return -1;
	rc = gdbm_store(dbf, k, v, GDBM_REPLACE);
	return gdbm_close(dbf) == 0 ? rc : -1;
}

/* ---- open ---------------------------------------------------------------- */

static void
test_open(void)
{
	char err[256], path[400], junk[4096];
	struct store *st;
	struct stat sb;
	size_t i;
	int fd;
	static const char *const bad_paths[] = {"", "/nonexistent-dir-for-store-test/sub/s.db"};

	for (i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
		err[0] = '\0';
		st = store_open(bad_paths[i], 100, err, sizeof(err));
		ok(st == NULL && err[0] != '\0', "open \"%s\" fails with a message (%s)", bad_paths[i],
		   err);
		store_close(st);
	}
	snprintf(path, sizeof(path), "%s/missing/sub/s.db", test_dir);
	st = store_open(path, 100, err, sizeof(err));
	ok(st == NULL && strstr(err, "No such file") != NULL, "open in a missing directory: %s",
	   err);
	ok(store_open(NULL, 0, NULL, 0) == NULL, "NULL path, NULL err buffer");

	st = fresh_store("open.db", 0);
	ok(st != NULL, "open creates a store");
	ok(stat(test_db, &sb) == 0 && (sb.st_mode & 0777) == 0600, "store file mode 0600");
	ok(stat(test_lock, &sb) == 0 && (sb.st_mode & 0777) == 0600 && sb.st_size == 4096,
	   "lock file mode 0600, one page");
	ok(store_put(st, STORE_CLIENT, "c", 1, "v", 1, 0, STORE_PUT_REPLACE) == STORE_OK, "put");
	store_close(st);
	st = store_open(test_db, 0, err, sizeof(err));
	ok(st != NULL && has_value(st, STORE_CLIENT, "c", 1, "v", 1), "reopen keeps records");
	store_close(st);

	/* A file that is not GDBM, and a lock file that is not ours. */
	snprintf(path, sizeof(path), "%s/garbage.db", test_dir);
	memset(junk, 'x', sizeof(junk));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ok(fd >= 0 && write(fd, junk, sizeof(junk)) == (ssize_t)sizeof(junk), "write junk file");
	close(fd);
	st = store_open(path, 100, err, sizeof(err));
	ok(st == NULL && err[0] != '\0', "open a non-GDBM file fails: %s", err);
	snprintf(path, sizeof(path), "%s/badlock.db.lock", test_dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ok(fd >= 0 && write(fd, junk, sizeof(junk)) == (ssize_t)sizeof(junk), "write junk lock");
	close(fd);
	snprintf(path, sizeof(path), "%s/badlock.db", test_dir);
	st = store_open(path, 100, err, sizeof(err));
	ok(st == NULL && strstr(err, "lock file") != NULL, "open with a foreign lock file: %s",
	   err);
	store_close(st);
	store_close(NULL);
	store_val_free(NULL);
}

/* A read before anything was written, or after the file was removed. */
static int
count_cb(const void *key, size_t keylen, const struct store_val *val, void *arg)
{
	(void)key;
	(void)keylen;
	(void)val;
	(*(int *)arg)++;
	return 0;
}

struct each_args {
	enum store_type type;
	const char *prefix;
	size_t prefixlen;
	int (*fn)(const void *, size_t, const struct store_val *, void *);
	void *arg;
};

static int
each_txn(struct store_txn *tx, void *arg)
{
	struct each_args *a = arg;

	return store_txn_each(tx, a->type, a->prefix, a->prefixlen, a->fn, a->arg);
}

static int
count_each(struct store *st, enum store_type type, const char *prefix, size_t prefixlen,
	   int *n)
{
	struct each_args a = {type, prefix, prefixlen, count_cb, n};

	*n = 0;
	return store_txn(st, 0, each_txn, &a);
}

static void
test_missing_file(void)
{
	struct store *st = fresh_store("missing.db", 0);
	struct store_val v;
	struct stat sb;
	int n = -1;

	unlink(test_db);
	is_int(store_get(st, STORE_CODE, "k", 1, &v), STORE_NOTFOUND, "read of a missing file");
	ok(v.data == NULL && v.len == 0, "out cleared on NOTFOUND");
	is_int(count_each(st, STORE_CODE, "", 0, &n), STORE_OK, "each on a missing file");
	is_int(n, 0, "each visits nothing");
	is_int(store_put(st, STORE_CODE, "k", 1, "v", 1, 0, 0), STORE_OK, "write recreates it");
	ok(stat(test_db, &sb) == 0 && (sb.st_mode & 0777) == 0600, "recreated with mode 0600");
	ok(has_value(st, STORE_CODE, "k", 1, "v", 1), "and reads back");
	store_close(st);
}

/* ---- records --------------------------------------------------------------- */

static void
test_put_get_del(void)
{
	static char maxkey[STORE_KEY_MAX], bigval[1000];
	struct {
		enum store_type type;
		const char *key;
		size_t keylen;
		const char *val;
		size_t vallen;
	} t[] = {
		{STORE_CLIENT, "client-1", 8, "hello", 5},
		{STORE_CODE, "\0\1\2\xff", 4, "\0a\0b", 4},
		{STORE_TOKEN, "empty-value", 11, "", 0},
		{STORE_SNIPPET, "", 0, "empty key", 9},
		{STORE_CACHE, maxkey, sizeof(maxkey), bigval, sizeof(bigval)},
		{STORE_CODE, "shared", 6, "as code", 7},
		{STORE_TOKEN, "shared", 6, "as token", 8},
		{STORE_META, "shared", 6, "as meta", 7},
	};
	size_t n = sizeof(t) / sizeof(t[0]);
	struct store *st = fresh_store("pgd.db", 0);

	memset(maxkey, 'k', sizeof(maxkey));
	for (size_t i = 0; i < sizeof(bigval); i++)
		bigval[i] = (char)(i * 7);
	for (size_t i = 0; i < n; i++)
		is_int(store_put(st, t[i].type, t[i].key, t[i].keylen, t[i].val, t[i].vallen, 0,
				 STORE_PUT_REPLACE),
		       STORE_OK, "put #%zu", i);
	for (size_t i = 0; i < n; i++)
		ok(has_value(st, t[i].type, t[i].key, t[i].keylen, t[i].val, t[i].vallen),
		   "get #%zu (type %d) returns its own value", i, (int)t[i].type);
	for (size_t i = 0; i < n; i++) {
		is_int(store_del(st, t[i].type, t[i].key, t[i].keylen), STORE_OK, "del #%zu", i);
		is_int(store_get(st, t[i].type, t[i].key, t[i].keylen, NULL), STORE_NOTFOUND,
		       "gone #%zu", i);
		is_int(store_del(st, t[i].type, t[i].key, t[i].keylen), STORE_NOTFOUND,
		       "del again #%zu", i);
		for (size_t j = i + 1; j < n; j++)
			if (!has_value(st, t[j].type, t[j].key, t[j].keylen, t[j].val, t[j].vallen))
				ok(0, "del #%zu removed #%zu too", i, j);
	}
	store_close(st);
}

static void
test_bad_args(void)
{
	static char bigkey[STORE_KEY_MAX + 1];
	struct store *st = fresh_store("bad.db", 0);
	unsigned char *before, *after;
	size_t blen = 0, alen = 0;
	char *big = malloc(STORE_VALUE_MAX + 1);
	struct stat s1, s2;
	uint64_t c = 0;

	memset(bigkey, 'k', sizeof(bigkey));
	memset(big, 'v', STORE_VALUE_MAX + 1);
	is_int(store_put(st, STORE_CACHE, "big", 3, big, STORE_VALUE_MAX, 0, 0), STORE_OK,
	       "value of STORE_VALUE_MAX bytes");
	ok(has_value(st, STORE_CACHE, "big", 3, big, STORE_VALUE_MAX), "and reads back whole");
	is_int(store_put(st, STORE_CACHE, bigkey, STORE_KEY_MAX, "v", 1, 0, 0), STORE_OK,
	       "key of STORE_KEY_MAX bytes");
	before = slurp(test_db, &blen);
	stat(test_db, &s1);
	sleep_ms(20);
	is_int(store_put(st, STORE_CACHE, "big", 3, big, STORE_VALUE_MAX + 1, 0, 0), STORE_ERROR,
	       "value over STORE_VALUE_MAX");
	is_int(store_put(st, STORE_CACHE, bigkey, sizeof(bigkey), "v", 1, 0, 0), STORE_ERROR,
	       "put key over STORE_KEY_MAX");
	is_int(store_get(st, STORE_CACHE, bigkey, sizeof(bigkey), NULL), STORE_ERROR,
	       "get key over STORE_KEY_MAX");
	is_int(store_del(st, STORE_CACHE, bigkey, sizeof(bigkey)), STORE_ERROR,
	       "del key over STORE_KEY_MAX");
	is_int(store_incr(st, STORE_RATE, bigkey, sizeof(bigkey), 0, &c), STORE_ERROR,
	       "incr key over STORE_KEY_MAX");
	is_int(store_put(st, STORE_TYPE__MAX, "k", 1, "v", 1, 0, 0), STORE_ERROR, "type too big");
	is_int(store_put(st, (enum store_type)-1, "k", 1, "v", 1, 0, 0), STORE_ERROR,
	       "negative type");
	is_int(store_get(st, (enum store_type)200, "k", 1, NULL), STORE_ERROR, "get bad type");
	is_int(store_put(st, STORE_CODE, NULL, 3, "v", 1, 0, 0), STORE_ERROR, "NULL key, len 3");
	is_int(store_put(st, STORE_CODE, "k", 1, NULL, 3, 0, 0), STORE_ERROR, "NULL data, len 3");
	is_int(store_put(st, STORE_CODE, "k", 1, "v", 1, -5, 0), STORE_ERROR, "negative expiry");
	is_int(store_put(st, STORE_CODE, "k", 1, "v", 1, 0, 7), STORE_ERROR, "unknown flags");
	is_int(store_txn(st, 1, NULL, NULL), STORE_ERROR, "NULL callback");
	is_int(store_txn(NULL, 0, each_txn, NULL), STORE_ERROR, "NULL store");
	after = slurp(test_db, &alen);
	stat(test_db, &s2);
	ok(before != NULL && after != NULL && blen == alen && memcmp(before, after, blen) == 0,
	   "rejected calls left the file byte-identical");
	ok(s1.st_mtim.tv_sec == s2.st_mtim.tv_sec && s1.st_mtim.tv_nsec == s2.st_mtim.tv_nsec,
	   "and did not touch its mtime");
	free(before);
	free(after);
	free(big);
	store_close(st);
}

static void
test_insert_replace(void)
{
	struct store *st = fresh_store("ins.db", 0);
	time_t now = time(NULL);

	is_int(store_put(st, STORE_CODE, "a", 1, "one", 3, 0, STORE_PUT_INSERT), STORE_OK,
	       "insert new");
	is_int(store_put(st, STORE_CODE, "a", 1, "two", 3, 0, STORE_PUT_INSERT), STORE_EXISTS,
	       "insert over live record");
	ok(has_value(st, STORE_CODE, "a", 1, "one", 3), "value unchanged by failed insert");
	is_int(store_put(st, STORE_TOKEN, "a", 1, "tok", 3, 0, STORE_PUT_INSERT), STORE_OK,
	       "same key, other type: insert succeeds");
	is_int(store_put(st, STORE_CODE, "a", 1, "three", 5, 0, STORE_PUT_REPLACE), STORE_OK,
	       "replace");
	ok(has_value(st, STORE_CODE, "a", 1, "three", 5), "replaced value");
	ok(has_value(st, STORE_TOKEN, "a", 1, "tok", 3), "other type untouched");
	is_int(store_put(st, STORE_CODE, "b", 1, "old", 3, now - 10, STORE_PUT_REPLACE), STORE_OK,
	       "put expired record");
	is_int(store_put(st, STORE_CODE, "b", 1, "new", 3, now + 100, STORE_PUT_INSERT), STORE_OK,
	       "insert over expired record");
	ok(has_value(st, STORE_CODE, "b", 1, "new", 3), "inserted value");
	store_close(st);
}

static void
test_expiry(void)
{
	struct store *st = fresh_store("exp.db", 0);
	/* now + 2: a second boundary may pass between time() and the get. */
	time_t now = time(NULL), soon = now + 2;
	struct store_val v;
	int n = 0, i;

	store_put(st, STORE_SESSION, "past", 4, "x", 1, now - 1000, 0);
	store_put(st, STORE_SESSION, "now", 3, "x", 1, now, 0);
	store_put(st, STORE_SESSION, "soon", 4, "x", 1, soon, 0);
	store_put(st, STORE_SESSION, "never", 5, "x", 1, 0, 0);
	store_put(st, STORE_STATE, "soon", 4, "y", 1, now + 3600, 0);
	is_int(store_get(st, STORE_SESSION, "past", 4, NULL), STORE_NOTFOUND, "past: not found");
	ok(store_get(st, STORE_SESSION, "now", 3, NULL) == STORE_NOTFOUND,
	   "expiry == now: not found");
	is_int(store_get(st, STORE_SESSION, "soon", 4, &v), STORE_OK, "near future: found");
	is_int(v.expires, soon, "expiry returned");
	store_val_free(&v);
	is_int(count_each(st, STORE_SESSION, "", 0, &n), STORE_OK, "each");
	is_int(n, 2, "each sees soon + never");
	for (i = 0; i < 80 && time(NULL) < soon; i++)
		sleep_ms(50);
	is_int(store_get(st, STORE_SESSION, "soon", 4, NULL), STORE_NOTFOUND,
	       "near future record expired after its second");
	is_int(store_get(st, STORE_SESSION, "never", 5, NULL), STORE_OK, "0 = never expires");
	is_int(store_get(st, STORE_STATE, "soon", 4, NULL), STORE_OK, "same key, other type live");
	count_each(st, STORE_SESSION, "", 0, &n);
	is_int(n, 1, "each now sees only never");
	is_int(store_del(st, STORE_SESSION, "past", 4), STORE_NOTFOUND,
	       "del of an expired record says not found");
	store_close(st);
}

/* ---- iteration -------------------------------------------------------------- */

struct collect {
	int n;
	char seen[8][32];
	int stop_after;
};

static int
collect_cb(const void *key, size_t keylen, const struct store_val *val, void *arg)
{
	struct collect *c = arg;

	if (c->n < 8 && keylen < 32) {
		memcpy(c->seen[c->n], key, keylen);
		c->seen[c->n][keylen] = '\0';
	}
	/* Each value is "v:" + key: a torn or mismatched view would differ. */
	if (val->len != keylen + 2 || memcmp(val->data, "v:", 2) != 0 ||
	    memcmp((const char *)val->data + 2, key, keylen) != 0)
		return 99;
	c->n++;
	return c->stop_after != 0 && c->n >= c->stop_after ? 7 : 0;
}

static void
test_each(void)
{
	struct store *st = fresh_store("each.db", 0);
	time_t now = time(NULL);
	static const struct {
		enum store_type type;
		const char *key;
		size_t keylen;
		int expired;
	} recs[] = {
		{STORE_SNIPPET, "ns1/a", 5, 0}, {STORE_SNIPPET, "ns1/b", 5, 0},
		{STORE_SNIPPET, "ns1/c", 5, 1}, {STORE_SNIPPET, "ns2/a", 5, 0},
		{STORE_SNIPPET, "ns1", 3, 0},	{STORE_GRANT, "ns1/x", 5, 0},
		{STORE_SNIPPET, "n\0s/z", 5, 0},
	};
	static const struct {
		enum store_type type;
		const char *prefix;
		size_t prefixlen;
		int want;
	} q[] = {
		{STORE_SNIPPET, "ns1/", 4, 2}, {STORE_SNIPPET, "ns1", 3, 3}, {STORE_SNIPPET, "", 0, 5},
		{STORE_GRANT, "ns1/", 4, 1},   {STORE_SNIPPET, "zzz", 3, 0}, {STORE_CODE, "", 0, 0},
		{STORE_SNIPPET, "ns1/a-longer-than-any-key", 25, 0}, {STORE_SNIPPET, "n\0s", 3, 1},
		{STORE_SNIPPET, "n", 1, 5},
	};
	struct each_args a;
	struct collect c;
	char val[40];

	for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
		size_t kl = recs[i].keylen;

		memcpy(val, "v:", 2);
		memcpy(val + 2, recs[i].key, kl);
		store_put(st, recs[i].type, recs[i].key, kl, val, kl + 2,
			  recs[i].expired ? now - 5 : 0, 0);
	}
	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		memset(&c, 0, sizeof(c));
		a = (struct each_args){q[i].type, q[i].prefix, q[i].prefixlen, collect_cb, &c};
		is_int(store_txn(st, 0, each_txn, &a), STORE_OK, "each type %d prefix #%zu \"%s\"",
		       (int)q[i].type, i, q[i].prefix);
		is_int(c.n, q[i].want, "visited count for prefix #%zu", i);
	}
	memset(&c, 0, sizeof(c));
	c.stop_after = 1;
	a = (struct each_args){STORE_SNIPPET, "", 0, collect_cb, &c};
	is_int(store_txn(st, 0, each_txn, &a), 7, "callback's nonzero stops and is returned");
	is_int(c.n, 1, "stopped after one");
	a = (struct each_args){STORE_SNIPPET, NULL, 3, collect_cb, &c};
	is_int(store_txn(st, 0, each_txn, &a), STORE_ERROR, "NULL prefix with length");
	store_close(st);
}

/* ---- transactions ---------------------------------------------------------- */

struct ro_result {
	int put, del, get, now_ok;
};

static int
ro_txn(struct store_txn *tx, void *arg)
{
	struct ro_result *r = arg;
	time_t t = time(NULL);

	r->put = store_txn_put(tx, STORE_CODE, "k", 1, "x", 1, 0, 0);
	r->del = store_txn_del(tx, STORE_CODE, "k", 1);
	r->get = store_txn_get(tx, STORE_CODE, "k", 1, NULL);
	r->now_ok = store_txn_now(tx) <= t && store_txn_now(tx) >= t - 2;
	return 5;
}

static int
multi_write_txn(struct store_txn *tx, void *arg)
{
	(void)arg;
	if (store_txn_put(tx, STORE_GRANT, "g1", 2, "a", 1, 0, 0) != STORE_OK ||
	    store_txn_put(tx, STORE_TOKEN, "t1", 2, "g1", 2, 0, 0) != STORE_OK ||
	    store_txn_del(tx, STORE_CODE, "k", 1) != STORE_OK ||
	    store_txn_get(tx, STORE_GRANT, "g1", 2, NULL) != STORE_OK)
		return STORE_ERROR;
	return STORE_OK;
}

static int
nested_txn(struct store_txn *tx, void *arg)
{
	(void)tx;
	return store_txn(arg, 1, multi_write_txn, NULL);
}

static void
test_txn(void)
{
	struct store *st = fresh_store("txn.db", 300);
	struct ro_result r;

	store_put(st, STORE_CODE, "k", 1, "v", 1, 0, 0);
	is_int(store_txn(st, 0, ro_txn, &r), 5, "callback's result is returned");
	is_int(r.put, STORE_ERROR, "put refused in a read-only transaction");
	is_int(r.del, STORE_ERROR, "del refused in a read-only transaction");
	is_int(r.get, STORE_OK, "get allowed");
	ok(r.now_ok, "store_txn_now is the transaction's time");
	ok(has_value(st, STORE_CODE, "k", 1, "v", 1), "record untouched");
	is_int(store_txn(st, 1, multi_write_txn, NULL), STORE_OK, "several ops in one transaction");
	ok(has_value(st, STORE_TOKEN, "t1", 2, "g1", 2) &&
		   store_get(st, STORE_CODE, "k", 1, NULL) == STORE_NOTFOUND,
	   "all committed");
	is_int(store_txn(st, 1, nested_txn, st), STORE_ERROR, "nested write transaction refused");
	is_int(store_txn_now(NULL), 0, "store_txn_now(NULL)");
	is_int(store_txn_get(NULL, STORE_CODE, "k", 1, NULL), STORE_ERROR, "get without txn");
	is_int(store_txn_put(NULL, STORE_CODE, "k", 1, "v", 1, 0, 0), STORE_ERROR,
	       "put without txn");
	store_close(st);
}

/* ---- update / incr / purge ------------------------------------------------- */

struct upd {
	int mode; /* 0 replace, 1 delete, 2 abort, 3 oversized */
	int saw_cur;
	char saw[16];
	time_t saw_exp;
	const char *newval;
};

static int
upd_fn(const struct store_val *cur, void **newdata, size_t *newlen, time_t *newexp, void *arg)
{
	struct upd *u = arg;

	u->saw_cur = cur != NULL;
	if (cur != NULL && cur->len < sizeof(u->saw)) {
		memcpy(u->saw, cur->data, cur->len);
		u->saw[cur->len] = '\0';
		u->saw_exp = *newexp;
	}
	switch (u->mode) {
	case 0:
		*newdata = (void *)(uintptr_t)u->newval;
		*newlen = strlen(u->newval);
		return STORE_OK;
	case 1:
		return STORE_OK;
	case 2:
		*newdata = (void *)(uintptr_t)"never written";
		*newlen = 13;
		return 42;
	default:
		*newdata = (void *)(uintptr_t)u->newval;
		*newlen = (size_t)STORE_VALUE_MAX + 1;
		return STORE_OK;
	}
}

static void
test_update(void)
{
	struct store *st = fresh_store("upd.db", 0);
	time_t exp = time(NULL) + 3600;
	struct upd u = {.mode = 0, .newval = "first"};
	struct store_val v;

	is_int(store_update(st, STORE_CODE, "c", 1, upd_fn, &u), STORE_OK, "update absent record");
	ok(!u.saw_cur, "callback saw no current value");
	ok(has_value(st, STORE_CODE, "c", 1, "first", 5), "record created");
	store_put(st, STORE_CODE, "c", 1, "old", 3, exp, 0);
	u = (struct upd){.mode = 0, .newval = "new"};
	is_int(store_update(st, STORE_CODE, "c", 1, upd_fn, &u), STORE_OK, "update replace");
	ok(u.saw_cur && strcmp(u.saw, "old") == 0 && u.saw_exp == exp,
	   "callback saw current value and expiry");
	ok(store_get(st, STORE_CODE, "c", 1, &v) == STORE_OK && v.len == 3 &&
		   memcmp(v.data, "new", 3) == 0 && v.expires == exp,
	   "replaced, expiry kept");
	store_val_free(&v);
	u = (struct upd){.mode = 2};
	is_int(store_update(st, STORE_CODE, "c", 1, upd_fn, &u), 42, "abort returns fn's value");
	ok(has_value(st, STORE_CODE, "c", 1, "new", 3), "abort wrote nothing");
	u = (struct upd){.mode = 3, .newval = "x"};
	is_int(store_update(st, STORE_CODE, "c", 1, upd_fn, &u), STORE_ERROR,
	       "oversized new value refused");
	ok(has_value(st, STORE_CODE, "c", 1, "new", 3), "and nothing written");
	u = (struct upd){.mode = 1};
	is_int(store_update(st, STORE_CODE, "c", 1, upd_fn, &u), STORE_OK, "update delete");
	is_int(store_get(st, STORE_CODE, "c", 1, NULL), STORE_NOTFOUND, "deleted");
	store_put(st, STORE_CODE, "e", 1, "stale", 5, time(NULL) - 1, 0);
	u = (struct upd){.mode = 1};
	is_int(store_update(st, STORE_CODE, "e", 1, upd_fn, &u), STORE_OK, "update expired");
	ok(!u.saw_cur, "expired record is seen as absent");
	is_int(store_update(st, STORE_CODE, "e", 1, NULL, NULL), STORE_ERROR, "NULL update fn");
	store_close(st);
}

static void
test_incr(void)
{
	struct store *st = fresh_store("incr.db", 0);
	time_t now = time(NULL);
	uint64_t c = 0;
	struct store_val v;

	for (uint64_t i = 1; i <= 3; i++) {
		is_int(store_incr(st, STORE_RATE, "ip:1", 4, now + 60, &c), STORE_OK, "incr %llu",
		       (unsigned long long)i);
		is_int(c, i, "count %llu", (unsigned long long)i);
	}
	store_incr(st, STORE_RATE, "ip:2", 4, now + 60, &c);
	is_int(c, 1, "other key counts separately");
	store_incr(st, STORE_CODE, "ip:1", 4, now + 60, &c);
	is_int(c, 1, "other type counts separately");
	ok(store_get(st, STORE_RATE, "ip:1", 4, &v) == STORE_OK && v.len == 8 &&
		   v.expires == now + 60,
	   "counter is 8 bytes and expires at the window end");
	store_val_free(&v);
	store_incr(st, STORE_RATE, "ip:1", 4, now + 999, &c);
	ok(store_get(st, STORE_RATE, "ip:1", 4, &v) == STORE_OK && v.expires == now + 60,
	   "a live window keeps its end");
	store_val_free(&v);
	store_incr(st, STORE_RATE, "old", 3, now - 1, &c);
	store_incr(st, STORE_RATE, "old", 3, now - 1, &c);
	is_int(c, 1, "an expired window starts again at 1");
	store_put(st, STORE_RATE, "text", 4, "hello", 5, 0, 0);
	is_int(store_incr(st, STORE_RATE, "text", 4, now + 60, &c), STORE_ERROR,
	       "incr on a non-counter record");
	ok(has_value(st, STORE_RATE, "text", 4, "hello", 5), "non-counter record untouched");
	is_int(store_incr(st, STORE_RATE, "nocount", 7, now + 60, NULL), STORE_OK, "count NULL");
	is_int(store_incr(st, STORE_RATE, "neg", 3, -1, &c), STORE_ERROR, "negative window end");
	store_close(st);
}

static void
test_purge(void)
{
	struct store *st = fresh_store("purge.db", 0);
	time_t now = time(NULL);
	size_t removed = 99;
	int i;

	for (i = 0; i < 5; i++) {
		char k[16];

		snprintf(k, sizeof(k), "x%d", i);
		store_put(st, i % 2 ? STORE_CODE : STORE_SESSION, k, strlen(k), "v", 1, now - 1 - i, 0);
	}
	store_put(st, STORE_CODE, "live1", 5, "v", 1, now + 100, 0);
	store_put(st, STORE_TOKEN, "live2", 5, "v", 1, now + 100, 0);
	store_put(st, STORE_CLIENT, "forever", 7, "v", 1, 0, 0);
	is_int(store_purge(st, &removed), STORE_OK, "purge");
	is_int(removed, 5, "purge removed the 5 expired records");
	ok(has_value(st, STORE_CODE, "live1", 5, "v", 1) &&
		   has_value(st, STORE_TOKEN, "live2", 5, "v", 1) &&
		   has_value(st, STORE_CLIENT, "forever", 7, "v", 1),
	   "live records kept");
	is_int(store_purge(st, &removed), STORE_OK, "purge again");
	is_int(removed, 0, "nothing left to remove");
	is_int(store_purge(st, NULL), STORE_OK, "purge with removed NULL");
	unlink(test_db);
	is_int(store_purge(st, &removed), STORE_OK, "purge of a missing file");
	store_close(st);
}

/* Many expired records: the purge works in bounded rounds, each resuming
 * after the last, and a second purge takes what record moves hid from the
 * first (deletes shift entries inside a bucket). */
#define PURGE_MANY_EXPIRED 2600
#define PURGE_MANY_LIVE 400

static int
fill_many_txn(struct store_txn *tx, void *arg)
{
	time_t now = store_txn_now(tx);
	char k[32];

	(void)arg;
	for (int i = 0; i < PURGE_MANY_EXPIRED + PURGE_MANY_LIVE; i++) {
		int live = i % 7 == 0 && i / 7 < PURGE_MANY_LIVE;
		int kl = snprintf(k, sizeof(k), "%s%d", live ? "live" : "dead", i);

		if (store_txn_put(tx, live ? STORE_CLIENT : STORE_CODE, k, (size_t)kl, "v", 1,
				  live ? 0 : now - 1, 0) != STORE_OK)
			return STORE_ERROR;
	}
	return STORE_OK;
}

static void
test_purge_many(void)
{
	struct store *st = fresh_store("purge-many.db", 0);
	size_t first = 0, second = 0, third = 9;
	int live = 0, dead = 0;

	is_int(store_txn(st, 1, fill_many_txn, NULL), STORE_OK, "planted many expired records");
	is_int(store_purge(st, &first), STORE_OK, "purge over several rounds");
	is_int(store_purge(st, &second), STORE_OK, "second purge");
	is_int(store_purge(st, &third), STORE_OK, "third purge");
	ok(first >= PURGE_MANY_EXPIRED * 9 / 10, "first purge removed most (%zu)", first);
	is_int(first + second, PURGE_MANY_EXPIRED, "two purges removed every expired record");
	is_int(third, 0, "nothing left for a third");
	for (int i = 0; i < PURGE_MANY_EXPIRED + PURGE_MANY_LIVE; i++) {
		char k[32];
		int is_live = i % 7 == 0 && i / 7 < PURGE_MANY_LIVE;
		int kl = snprintf(k, sizeof(k), "%s%d", is_live ? "live" : "dead", i);

		if (is_live)
			live += has_value(st, STORE_CLIENT, k, (size_t)kl, "v", 1);
		else
			dead += store_get(st, STORE_CODE, k, (size_t)kl, NULL) != STORE_NOTFOUND;
	}
	is_int(live, PURGE_MANY_LIVE, "every live record kept");
	is_int(dead, 0, "no expired record readable");
	store_close(st);
}

/* ---- hostile records on disk ---------------------------------------------- */

static int
never_called(const struct store_val *cur, void **newdata, size_t *newlen, time_t *newexp,
	     void *arg)
{
	(void)cur;
	(void)newdata;
	(void)newlen;
	(void)newexp;
	(*(int *)arg)++;
	return STORE_OK;
}

static void
test_garbled(void)
{
	struct store *st = fresh_store("garbled.db", 0);
	static const unsigned char badfmt[] = {7, 0, 0, 0, 0, 0, 0, 0, 0, 'x'};
	static const unsigned char badexp[] = {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	static const unsigned char good[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 'v', ':', 'g', 'o', 'o', 'd'};
	static const struct {
		const char *key;
		size_t keylen;
		const void *val;
		size_t vallen;
	} recs[] = {
		{"\x02short", 6, "xy", 2},
		{"\x02" "empty", 6, "", 0},
		{"\x02" "badfmt", 7, badfmt, sizeof(badfmt)},
		{"\x02" "badexp", 7, badexp, sizeof(badexp)},
		{"\x02" "good", 5, good, sizeof(good)},
		{"\xc8" "weird-type", 11, good, sizeof(good)},
	};
	struct collect c = {0};
	struct each_args a = {STORE_CODE, "", 0, collect_cb, &c};
	size_t removed = 9;
	int calls = 0;
	uint64_t n;

	for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++)
		is_int(raw_store(test_db, recs[i].key, recs[i].keylen, recs[i].val, recs[i].vallen),
		       0, "plant raw record %zu", i);
	is_int(store_get(st, STORE_CODE, "short", 5, NULL), STORE_ERROR, "short header: error");
	is_int(store_get(st, STORE_CODE, "empty", 5, NULL), STORE_ERROR, "empty value: error");
	is_int(store_get(st, STORE_CODE, "badfmt", 6, NULL), STORE_ERROR, "unknown format: error");
	is_int(store_get(st, STORE_CODE, "badexp", 6, NULL), STORE_ERROR, "negative expiry: error");
	ok(has_value(st, STORE_CODE, "good", 4, "v:good", 6), "hand-made good record reads");
	is_int(store_txn(st, 0, each_txn, &a), STORE_ERROR, "each reports the corrupt records");
	ok(c.n == 1 && strcmp(c.seen[0], "good") == 0, "but still visits the good one");
	is_int(store_update(st, STORE_CODE, "short", 5, never_called, &calls), STORE_ERROR,
	       "update of a corrupt record");
	is_int(calls, 0, "update callback not called on a corrupt record");
	is_int(store_incr(st, STORE_CODE, "badfmt", 6, 0, &n), STORE_ERROR, "incr of corrupt");
	is_int(store_put(st, STORE_CODE, "short", 5, "v", 1, 0, STORE_PUT_INSERT), STORE_ERROR,
	       "insert over a corrupt record");
	is_int(store_purge(st, &removed), STORE_OK, "purge skips corrupt records");
	is_int(removed, 0, "and removes none of them");
	is_int(store_del(st, STORE_CODE, "short", 5), STORE_OK, "a corrupt record can be deleted");
	is_int(store_get(st, STORE_CODE, "short", 5, NULL), STORE_NOTFOUND, "then it is gone");
	is_int(store_put(st, STORE_CODE, "badfmt", 6, "fixed", 5, 0, 0), STORE_OK,
	       "replace overwrites a corrupt record");
	ok(has_value(st, STORE_CODE, "badfmt", 6, "fixed", 5), "replaced value reads");
	store_close(st);
}

/* ---- locking --------------------------------------------------------------- */

struct holder {
	struct store *st;
	long hold_ms;
	volatile int inside;
};

static int
hold_txn(struct store_txn *tx, void *arg)
{
	struct holder *h = arg;

	(void)tx;
	h->inside = 1;
	sleep_ms(h->hold_ms);
	return STORE_OK;
}

static void *
holder_thread(void *arg)
{
	struct holder *h = arg;

	store_txn(h->st, 1, hold_txn, h);
	return NULL;
}

static void
test_busy(void)
{
	struct store *st = fresh_store("busy.db", 150);
	struct holder h = {.st = st, .hold_ms = 1500};
	pthread_t th;
	double t0, el;
	int fd, i;

	store_put(st, STORE_CODE, "k", 1, "v", 1, 0, 0);
	fd = open(test_lock, O_RDWR | O_CLOEXEC);
	ok(fd >= 0 && flock(fd, LOCK_EX) == 0, "foreign exclusive flock on the lock file");
	t0 = now_s();
	is_int(store_get(st, STORE_CODE, "k", 1, NULL), STORE_BUSY, "read times out: BUSY");
	el = now_s() - t0;
	ok(el >= 0.14 && el < 1.5, "after about the timeout (%.3f s)", el);
	is_int(store_put(st, STORE_CODE, "k", 1, "w", 1, 0, 0), STORE_BUSY, "write: BUSY");
	flock(fd, LOCK_SH);
	is_int(store_get(st, STORE_CODE, "k", 1, NULL), STORE_OK, "foreign shared flock: read ok");
	is_int(store_put(st, STORE_CODE, "k", 1, "w", 1, 0, 0), STORE_BUSY,
	       "foreign shared flock: write BUSY");
	close(fd);
	is_int(store_put(st, STORE_CODE, "k", 1, "w", 1, 0, 0), STORE_OK, "released: write ok");

	/* A writer inside a long transaction holds the turnstile. */
	pthread_create(&th, NULL, holder_thread, &h);
	for (i = 0; i < 200 && !h.inside; i++)
		sleep_ms(5);
	t0 = now_s();
	is_int(store_get(st, STORE_CODE, "k", 1, NULL), STORE_BUSY,
	       "reader behind a long writer: BUSY");
	el = now_s() - t0;
	ok(el >= 0.14 && el < 1.4, "after about the timeout (%.3f s)", el);
	pthread_join(th, NULL);
	ok(has_value(st, STORE_CODE, "k", 1, "w", 1), "reads again once the writer left");
	store_close(st);
}

/*
 * A writer killed inside GDBM must not wedge the store, and the next
 * transaction (even a read) must rebuild the file it may have left half
 * written: gdbm_recover writes a new file, so the inode changes.
 */
static int
die_txn(struct store_txn *tx, void *arg)
{
	(void)arg;
	store_txn_put(tx, STORE_CODE, "half", 4, "x", 1, 0, 0);
	raise(SIGKILL);
	return STORE_OK;
}

static int
die_reading_txn(struct store_txn *tx, void *arg)
{
	(void)arg;
	store_txn_get(tx, STORE_CODE, "before", 6, NULL);
	raise(SIGKILL);
	return STORE_OK;
}

static int
run_dying_child(struct store *st, int write, int (*fn)(struct store_txn *, void *))
{
	int status = 0;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		store_txn(st, write, fn, NULL);
		_exit(3);
	}
	waitpid(pid, &status, 0);
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

static void
test_dead_holder(void)
{
	struct store *st = fresh_store("dead.db", 1000);
	struct stat before, after;

	store_put(st, STORE_CODE, "before", 6, "b", 1, 0, 0);
	stat(test_db, &before);
	ok(run_dying_child(st, 0, die_reading_txn), "child died inside a read transaction");
	is_int(store_get(st, STORE_CODE, "before", 6, NULL), STORE_OK, "next reader proceeds");
	stat(test_db, &after);
	ok(before.st_ino == after.st_ino, "a dead reader causes no rebuild");
	ok(run_dying_child(st, 1, die_txn), "child died inside a write transaction");
	is_int(store_get(st, STORE_CODE, "before", 6, NULL), STORE_OK,
	       "next reader proceeds (robust turnstile)");
	stat(test_db, &after);
	ok(before.st_ino != after.st_ino, "and the file was rebuilt first");
	ok(stat(test_db, &after) == 0 && (after.st_mode & 0777) == 0600, "rebuilt file is 0600");
	is_int(store_put(st, STORE_CODE, "after", 5, "a", 1, 0, 0), STORE_OK, "writers proceed");
	ok(has_value(st, STORE_CODE, "before", 6, "b", 1) && has_value(st, STORE_CODE, "after", 5, "a", 1),
	   "records intact");
	stat(test_db, &before);
	store_put(st, STORE_CODE, "again", 5, "a", 1, 0, 0);
	stat(test_db, &after);
	ok(before.st_ino == after.st_ino, "no further rebuilds once repaired");
	store_close(st);
}

/* ---- threads --------------------------------------------------------------- */

#define THREADS 8
#define INCRS 500
#define ITEMS 40

struct worker {
	struct store *st;
	int id;
	int errors;
	int wins;
	uint64_t counts[INCRS];
};

static int
redeem_fn(const struct store_val *cur, void **newdata, size_t *newlen, time_t *newexp,
	  void *arg)
{
	(void)newdata;
	(void)newlen;
	(void)newexp;
	if (cur == NULL)
		return STORE_NOTFOUND;
	(*(int *)arg)++;
	return STORE_OK; /* *newdata NULL: delete */
}

static void *
worker_thread(void *arg)
{
	struct worker *w = arg;
	char key[32];

	for (int i = 0; i < INCRS; i++) {
		if (store_incr(w->st, STORE_RATE, "shared", 6, 0, &w->counts[i]) != STORE_OK)
			w->errors++;
		if (i % 10 == 0 && store_get(w->st, STORE_CODE, "probe", 5, NULL) != STORE_OK)
			w->errors++;
		if (i < ITEMS) {
			int j = (i + w->id * 5) % ITEMS, rc;

			snprintf(key, sizeof(key), "item%d", j);
			rc = store_update(w->st, STORE_CODE, key, strlen(key), redeem_fn, &w->wins);
			if (rc != STORE_OK && rc != STORE_NOTFOUND)
				w->errors++;
		}
	}
	return NULL;
}

static void
test_threads(void)
{
	static struct worker w[THREADS];
	static unsigned char seen[THREADS * INCRS + 1];
	struct store *st = fresh_store("threads.db", 10000);
	pthread_t th[THREADS];
	int errors = 0, wins = 0, dup = 0, left = 0;
	struct store_val v;
	char key[32];
	double t0;

	store_put(st, STORE_CODE, "probe", 5, "p", 1, 0, 0);
	for (int j = 0; j < ITEMS; j++) {
		snprintf(key, sizeof(key), "item%d", j);
		store_put(st, STORE_CODE, key, strlen(key), "code", 4, 0, 0);
	}
	t0 = now_s();
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){.st = st, .id = i};
		pthread_create(&th[i], NULL, worker_thread, &w[i]);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	printf("# %d threads: %d incr + %d reads + %d redeems in %.2f s\n", THREADS,
	       THREADS * INCRS, THREADS * INCRS / 10, THREADS * ITEMS, now_s() - t0);
	for (int i = 0; i < THREADS; i++) {
		errors += w[i].errors;
		wins += w[i].wins;
		for (int k = 0; k < INCRS; k++) {
			uint64_t c = w[i].counts[k];

			if (c < 1 || c > THREADS * INCRS || seen[c]++)
				dup++;
		}
	}
	is_int(errors, 0, "no errors or BUSY in threads");
	ok(store_get(st, STORE_RATE, "shared", 6, &v) == STORE_OK && v.len == 8, "counter read");
	store_val_free(&v);
	{
		uint64_t c = 0;

		store_incr(st, STORE_RATE, "shared", 6, 0, &c);
		is_int(c, THREADS * INCRS + 1, "counter is exactly %d after %d x %d incr",
		       THREADS * INCRS, THREADS, INCRS);
	}
	is_int(dup, 0, "every returned count 1..%d seen exactly once", THREADS * INCRS);
	is_int(wins, ITEMS, "exactly one winner per single-use item");
	for (int j = 0; j < ITEMS; j++) {
		snprintf(key, sizeof(key), "item%d", j);
		left += store_get(st, STORE_CODE, key, strlen(key), NULL) != STORE_NOTFOUND;
	}
	is_int(left, 0, "every item consumed");
	store_close(st);
}

static void
test_strerror(void)
{
	static const struct {
		int status;
		const char *name;
	} t[] = {
		{STORE_OK, "ok"},	  {STORE_NOTFOUND, "not found"}, {STORE_EXISTS, "exists"},
		{STORE_BUSY, "busy"}, {STORE_ERROR, "error"},	     {1234, "unknown status"},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		is_str(store_strerror(t[i].status), t[i].name, "store_strerror(%d)", t[i].status);
}

/* ---- main ------------------------------------------------------------------ */

static void
cleanup_dir(void)
{
	if (nftw(test_dir, cleanup_one, 8, FTW_DEPTH | FTW_PHYS) != 0)
		printf("# could not remove %s\n", test_dir);
}

int
main(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(test_dir, sizeof(test_dir), "%s/mcpgate-store-XXXXXX",
		 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(test_dir) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_open();
	test_missing_file();
	test_put_get_del();
	test_bad_args();
	test_insert_replace();
	test_expiry();
	test_each();
	test_txn();
	test_update();
	test_incr();
	test_purge();
	test_purge_many();
	test_garbled();
	test_busy();
	test_dead_holder();
	test_threads();
	test_strerror();
	cleanup_dir();
	return tap_done();
}
