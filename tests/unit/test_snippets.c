/*
 * test_snippets: names, content limits, per-user isolation, the shared
 * namespace, listing with bounded memory, grant liveness in the same
 * transaction, and the cost of the hot path (get with the grant check).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "snippets.h"
#include "tap.h"
#include "token.h"

static char dir[] = "/tmp/test_snippets.XXXXXX";
static char dbpath[256];

struct name_case {
	const char *name;
	size_t len; /* 0: strlen */
	int valid;
};

static const char n128[] =
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char n129[] =
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

static const struct name_case name_cases[] = {
	{"a", 0, 1},
	{"Z", 0, 1},
	{"0", 0, 1},
	{"notes.txt", 0, 1},
	{"my_snippet-2", 0, 1},
	{"-dash-first", 0, 1},
	{"_under", 0, 1},
	{"a..b", 0, 1},
	{"CON", 0, 1},
	{n128, 0, 1},
	{n129, 0, 0},
	{"", 0, 0},
	{".hidden", 0, 0},
	{".", 0, 0},
	{"..", 0, 0},
	{"../etc/passwd", 0, 0},
	{"a/b", 0, 0},
	{"a\\b", 0, 0},
	{"a b", 0, 0},
	{"tab\t", 0, 0},
	{"new\nline", 0, 0},
	{"caf\xc3\xa9", 0, 0},
	{"a:b", 0, 0},
	{"a%2fb", 0, 0},
	{"a\0b", 3, 0},
	{"*", 0, 0},
	{"?", 0, 0},
	{"snippet:///x", 0, 0},
};

static void
test_names(void)
{
	for (size_t i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]); i++) {
		const struct name_case *c = &name_cases[i];
		size_t len = c->len ? c->len : strlen(c->name);
		char shown[24];

		/* Keep the TAP line on one line whatever the name holds. */
		snprintf(shown, sizeof(shown), "%.20s", c->name);
		for (char *p = shown; *p != '\0'; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
				*p = '?';
		is_int(snippet_name_valid(c->name, len), c->valid, "name %zu (%s) %s", i, shown,
		       c->valid ? "valid" : "invalid");
	}
	ok(!snippet_name_valid(NULL, 0), "NULL name invalid");
}

static void
test_content(void)
{
	is_int(snippet_content_check("", 0, 10), SNIPPET_OK, "empty content ok");
	is_int(snippet_content_check("0123456789", 10, 10), SNIPPET_OK, "content at the cap");
	is_int(snippet_content_check("0123456789a", 11, 10), SNIPPET_TOO_BIG, "one byte over");
	is_int(snippet_content_check("\xff", 1, 10), SNIPPET_BAD_TEXT, "invalid UTF-8");
	is_int(snippet_content_check("\xed\xa0\x80", 3, 10), SNIPPET_BAD_TEXT, "UTF-8 surrogate");
	is_int(snippet_content_check("a\0b", 3, 10), SNIPPET_BAD_TEXT, "NUL refused");
	is_int(snippet_content_check("\xe2\x82\xac", 3, 10), SNIPPET_OK, "euro sign ok");
	is_int(snippet_content_check("x", SNIPPET_CONTENT_LIMIT + 1, (size_t)-1), SNIPPET_TOO_BIG,
	       "past the store limit whatever the configuration");
}

/* A fresh grant id and its live record (liveness = the record exists). */
static int
grant_new(struct store *st, char id[TOKEN_GRANT_ID_LEN + 1])
{
	unsigned char raw[16];
	char tmp[CRYPTO_B64URL_LEN(16)];

	if (crypto_random(raw, sizeof(raw)) != 0 ||
	    crypto_b64url_encode(raw, sizeof(raw), tmp, sizeof(tmp)) != TOKEN_GRANT_ID_LEN)
		return -1;
	memcpy(id, tmp, TOKEN_GRANT_ID_LEN + 1);
	return store_put(st, STORE_GRANT, id, strlen(id), "{}", 2, time(NULL) + 3600,
			 STORE_PUT_REPLACE);
}

static void
test_crud(struct store *st, const char *grant)
{
	struct snippet s;
	int created = -1;

	is_int(snippet_get(st, grant, "local:alice", "x", &s), SNIPPET_NOTFOUND, "get missing");
	ok(s.content == NULL, "missing: no content");
	is_int(snippet_put(st, grant, "local:alice", "x", "hello", 5, 100, &created), SNIPPET_OK,
	       "put new");
	is_int(created, 1, "put new: created");
	is_int(snippet_get(st, grant, "local:alice", "x", &s), SNIPPET_OK, "get");
	ok(s.content != NULL && s.len == 5 && strcmp(s.content, "hello") == 0, "get content");
	ok(s.mtime > 0 && s.mtime <= time(NULL), "mtime set");
	snippet_free(&s);
	is_int(snippet_put(st, grant, "local:alice", "x", "bye", 3, 100, &created), SNIPPET_OK,
	       "replace");
	is_int(created, 0, "replace: not created");
	is_int(snippet_get(st, grant, "local:alice", "x", &s), SNIPPET_OK, "get replaced");
	ok(s.len == 3 && strcmp(s.content, "bye") == 0, "replaced content");
	snippet_free(&s);
	is_int(snippet_put(st, grant, "local:alice", "e", "", 0, 100, NULL), SNIPPET_OK,
	       "empty content saved");
	is_int(snippet_get(st, grant, "local:alice", "e", &s), SNIPPET_OK, "get empty");
	ok(s.content != NULL && s.len == 0 && s.content[0] == '\0', "empty content read back");
	snippet_free(&s);
	is_int(snippet_put(st, grant, "local:alice", "../x", "a", 1, 100, NULL), SNIPPET_BAD_NAME,
	       "put bad name");
	is_int(snippet_get(st, grant, "local:alice", ".x", &s), SNIPPET_BAD_NAME, "get bad name");
	is_int(snippet_put(st, grant, "local:alice", "big", "0123456789", 10, 9, NULL),
	       SNIPPET_TOO_BIG, "put over the bound");
	is_int(snippet_get(st, grant, "local:alice", "big", &s), SNIPPET_NOTFOUND,
	       "nothing written for an oversized put");
	is_int(snippet_put(st, grant, "local:alice", "bad", "\xc0\xaf", 2, 9, NULL),
	       SNIPPET_BAD_TEXT, "put invalid UTF-8");
	is_int(snippet_delete(st, grant, "local:alice", "x"), SNIPPET_OK, "delete");
	is_int(snippet_delete(st, grant, "local:alice", "x"), SNIPPET_NOTFOUND, "delete again");
	is_int(snippet_get(st, grant, "local:alice", "x", &s), SNIPPET_NOTFOUND, "gone");
	is_int(snippet_delete(st, grant, "local:alice", "e"), SNIPPET_OK, "delete empty");
}

static void
test_big(struct store *st)
{
	size_t n = 256 * 1024;
	char *big = malloc(n);
	struct snippet s;

	for (size_t i = 0; i < n; i++)
		big[i] = (char)('a' + i % 26);
	is_int(snippet_put(st, NULL, "local:alice", "big", big, n, n, NULL), SNIPPET_OK,
	       "256 KiB snippet saved");
	is_int(snippet_get(st, NULL, "local:alice", "big", &s), SNIPPET_OK, "256 KiB read");
	ok(s.len == n && memcmp(s.content, big, n) == 0, "256 KiB intact");
	snippet_free(&s);
	snippet_delete(st, NULL, "local:alice", "big");
	free(big);
}

static void
test_isolation(struct store *st)
{
	struct snippet s;
	struct snippet_names l;

	snippet_put(st, NULL, "local:bob", "secret", "bob's", 5, 100, NULL);
	snippet_put(st, NULL, "local:bob2", "other", "bob2's", 6, 100, NULL);
	is_int(snippet_get(st, NULL, "local:carol", "secret", &s), SNIPPET_NOTFOUND,
	       "another user cannot read it");
	is_int(snippet_get(st, NULL, "local:bo", "secret", &s), SNIPPET_NOTFOUND,
	       "a user id that is a prefix cannot read it");
	is_int(snippet_delete(st, NULL, "local:carol", "secret"), SNIPPET_NOTFOUND,
	       "another user cannot delete it");
	is_int(snippet_get(st, NULL, "local:bob", "secret", &s), SNIPPET_OK, "owner still has it");
	snippet_free(&s);
	is_int(snippet_list(st, NULL, "local:bob", NULL, NULL, 10, &l), SNIPPET_OK, "bob lists");
	ok(l.n == 1 && strcmp(l.names[0], "secret") == 0, "bob sees only his own (not bob2's)");
	snippet_names_free(&l);
	is_int(snippet_list(st, NULL, "local:carol", NULL, NULL, 10, &l), SNIPPET_OK,
	       "carol lists");
	is_int(l.n, 0, "carol sees nothing");
	snippet_names_free(&l);
	/* The team namespace is separate from every user's. */
	is_int(snippet_get(st, NULL, SNIPPET_NS_SHARED, "secret", &s), SNIPPET_NOTFOUND,
	       "shared namespace does not see bob's");
	is_int(snippet_put(st, NULL, SNIPPET_NS_SHARED, "team", "all", 3, 100, NULL), SNIPPET_OK,
	       "save in shared namespace");
	is_int(snippet_get(st, NULL, SNIPPET_NS_SHARED, "team", &s), SNIPPET_OK,
	       "read from shared namespace");
	snippet_free(&s);
	is_int(snippet_get(st, NULL, "local:bob", "team", &s), SNIPPET_NOTFOUND,
	       "users do not see the shared namespace's records");
	is_int(snippet_list(st, NULL, SNIPPET_NS_SHARED, NULL, NULL, 10, &l), SNIPPET_OK,
	       "shared list");
	ok(l.n == 1 && strcmp(l.names[0], "team") == 0, "shared list holds only shared names");
	snippet_names_free(&l);
}

static void
test_list(struct store *st)
{
	struct snippet_names l;
	char name[32];
	size_t total = 0;
	int sorted = 1;

	for (int i = 1499; i >= 0; i--) {
		snprintf(name, sizeof(name), "n%04d", i);
		snippet_put(st, NULL, "local:lister", name, "x", 1, 10, NULL);
	}
	snippet_put(st, NULL, "local:lister", "other", "x", 1, 10, NULL);
	is_int(snippet_list(st, NULL, "local:lister", NULL, NULL, SNIPPET_LIST_MAX, &l), SNIPPET_OK,
	       "list 1501");
	ok(l.n == SNIPPET_LIST_MAX && l.more == 1 && l.total == 1501,
	   "first %d names, more flagged, total counted", SNIPPET_LIST_MAX);
	for (size_t i = 1; i < l.n; i++)
		sorted &= strcmp(l.names[i - 1], l.names[i]) < 0;
	ok(sorted && strcmp(l.names[0], "n0000") == 0 && strcmp(l.names[999], "n0999") == 0,
	   "sorted ascending");
	snippet_names_free(&l);
	is_int(snippet_list(st, NULL, "local:lister", "n14", NULL, 100, &l), SNIPPET_OK,
	       "prefix list");
	ok(l.n == 100 && l.total == 100 && !l.more && strcmp(l.names[0], "n1400") == 0,
	   "prefix n14: 100 names, no more");
	snippet_names_free(&l);
	/* Page through everything with 'after' as the cursor. */
	{
		const char *after = NULL;
		char cursor[SNIPPET_NAME_MAX + 1] = "";
		int pages = 0, more = 1;

		while (more && pages < 100) {
			is_int(snippet_list(st, NULL, "local:lister", NULL, after, 100, &l), SNIPPET_OK,
			       "page %d", pages);
			total += l.n;
			more = l.more;
			if (l.n > 0)
				snprintf(cursor, sizeof(cursor), "%s", l.names[l.n - 1]);
			after = cursor;
			pages++;
			snippet_names_free(&l);
		}
		is_int(total, 1501, "pages cover every name once");
		is_int(pages, 16, "16 pages of 100");
	}
	is_int(snippet_list(st, NULL, "local:lister", NULL, NULL, 0, &l), SNIPPET_ERROR,
	       "max 0 refused");
	is_int(snippet_list(st, NULL, "local:lister", NULL, NULL, SNIPPET_LIST_MAX + 1, &l),
	       SNIPPET_ERROR, "max over the limit refused");
}

static void
test_revoked(struct store *st)
{
	char g[TOKEN_GRANT_ID_LEN + 1];
	struct snippet s;
	struct snippet_names l;

	grant_new(st, g);
	is_int(snippet_put(st, g, "local:rev", "k", "v", 1, 10, NULL), SNIPPET_OK,
	       "live grant: put");
	store_del(st, STORE_GRANT, g, strlen(g));
	is_int(snippet_get(st, g, "local:rev", "k", &s), SNIPPET_REVOKED, "revoked: get refused");
	ok(s.content == NULL, "revoked: no content leaks");
	is_int(snippet_put(st, g, "local:rev", "k2", "v", 1, 10, NULL), SNIPPET_REVOKED,
	       "revoked: put refused");
	is_int(snippet_get(st, NULL, "local:rev", "k2", &s), SNIPPET_NOTFOUND,
	       "revoked: nothing was written");
	is_int(snippet_delete(st, g, "local:rev", "k"), SNIPPET_REVOKED, "revoked: delete refused");
	is_int(snippet_get(st, NULL, "local:rev", "k", &s), SNIPPET_OK, "revoked: nothing deleted");
	snippet_free(&s);
	is_int(snippet_list(st, g, "local:rev", NULL, NULL, 10, &l), SNIPPET_REVOKED,
	       "revoked: list refused");
	ok(l.names == NULL, "revoked: list frees its page");
}

/* The hot path: one shared-lock transaction doing the grant check and the
 * read, against the same two as separate transactions. */
static void
bench_hot_path(struct store *st, const char *grant)
{
	struct timespec t0, t1;
	struct snippet s;
	char line[160];
	const int n = 2000;
	double one, two;

	snippet_put(st, NULL, "local:alice", "hot", "some text to read back", 22, 100, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++) {
		snippet_get(st, grant, "local:alice", "hot", &s);
		snippet_free(&s);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	one = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / n;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++) {
		token_grant_live(st, grant);
		snippet_get(st, NULL, "local:alice", "hot", &s);
		snippet_free(&s);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	two = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / n;
	snprintf(line, sizeof(line),
		 "hot path: grant check + get in one transaction %.1f us, as two %.1f us", one, two);
	diag(line);
	ok(one > 0 && two > 0, "hot path measured");
}

int
main(void)
{
	char err[256], g[TOKEN_GRANT_ID_LEN + 1];
	struct store *st;

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(dbpath, sizeof(dbpath), "%s/store.db", dir);
	st = store_open(dbpath, 2000, err, sizeof(err));
	ok(st != NULL, "store opens");
	if (st == NULL)
		return tap_done();
	ok(grant_new(st, g) == STORE_OK, "grant record");
	test_names();
	test_content();
	test_crud(st, g);
	test_big(st);
	test_isolation(st);
	test_list(st);
	test_revoked(st);
	bench_hot_path(st, g);
	store_close(st);
	{
		char p[300];

		snprintf(p, sizeof(p), "%s/store.db", dir);
		unlink(p);
		snprintf(p, sizeof(p), "%s/store.db.lock", dir);
		unlink(p);
		snprintf(p, sizeof(p), "%s/store.db.turn", dir);
		unlink(p);
		rmdir(dir);
	}
	return tap_done();
}
