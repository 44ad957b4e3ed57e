/*
 * snippets: named UTF-8 texts in the store (STORE_SNIPPET).
 *
 * A snippet belongs to a namespace: the user's stable id (token_access.user)
 * or, when the configuration enables shared_snippets, the one team
 * namespace SNIPPET_NS_SHARED.  The store key is <namespace> NUL <name>, so
 * one user's names can never reach another's records, and a name is a key,
 * never a file path.  User ids are never empty, so the empty shared
 * namespace cannot collide with a user's.
 *
 * Names: 1..SNIPPET_NAME_MAX bytes of [A-Za-z0-9._-], not starting with
 * '.', so a name is also a safe URI path segment (snippet:///<name>) and
 * safe in a log line.  Content: valid UTF-8 without NUL, at most the
 * caller's bound (config snippet_max).
 *
 * Every function takes the caller's grant id (or NULL): when given, the
 * grant's liveness (token_grant_live_tx) is checked inside the same store
 * transaction as the snippet operation, so the common request costs one
 * shared-lock transaction.  A revoked grant yields SNIPPET_REVOKED and the
 * operation is not performed.
 */
#ifndef MCPGATE_SNIPPETS_H
#define MCPGATE_SNIPPETS_H

#include <stddef.h>
#include <time.h>

#include "store.h"

#define SNIPPET_NAME_MAX 128
#define SNIPPET_NS_SHARED ""
/* Record header: format byte + 8-byte modification time. */
#define SNIPPET_HDR_LEN 9
/* The largest content the store can hold whatever the configuration says. */
#define SNIPPET_CONTENT_LIMIT (STORE_VALUE_MAX - SNIPPET_HDR_LEN)
#define SNIPPET_LIST_MAX 1000 /* names one listing returns at most */

enum snippet_status {
	SNIPPET_OK = 0,
	SNIPPET_NOTFOUND = 1, /* no snippet of that name in the namespace */
	SNIPPET_REVOKED = 2,  /* the grant is no longer live: nothing was done */
	SNIPPET_BUSY = 3,     /* store lock not obtained in time (503) */
	SNIPPET_BAD_NAME = 4,
	SNIPPET_TOO_BIG = 5,
	SNIPPET_BAD_TEXT = 6, /* not UTF-8, or holds NUL */
	SNIPPET_ERROR = -1    /* store or memory failure (logged) */
};

struct snippet {
	char *content; /* malloc'd, NUL-terminated; free with snippet_free */
	size_t len;
	time_t mtime;
};

/* A page of names, sorted bytewise ascending. */
struct snippet_names {
	size_t n;
	char (*names)[SNIPPET_NAME_MAX + 1]; /* malloc'd */
	size_t total; /* matching names in the namespace (all pages) */
	int more;     /* names beyond this page exist */
};

/* 1 when name[0..len) is a valid snippet name. */
int snippet_name_valid(const char *name, size_t len);
/* SNIPPET_OK, SNIPPET_TOO_BIG (len > max or past the store limit) or
 * SNIPPET_BAD_TEXT. */
int snippet_content_check(const char *content, size_t len, size_t max);

/* Read ns/name into out (content owned by the caller). Shared lock only. */
int snippet_get(struct store *st, const char *grant_id, const char *ns, const char *name,
		struct snippet *out);
/* Create or replace ns/name; *created (may be NULL) is 1 when it was new. */
int snippet_put(struct store *st, const char *grant_id, const char *ns, const char *name,
		const char *content, size_t len, size_t max, int *created);
/* Delete ns/name: SNIPPET_NOTFOUND when it did not exist. */
int snippet_delete(struct store *st, const char *grant_id, const char *ns, const char *name);
/*
 * List the names of ns that start with prefix (may be NULL or "") and sort
 * after `after` (NULL or "": from the start), at most max of them
 * (1..SNIPPET_LIST_MAX).  Memory stays bounded by max whatever the number
 * of snippets.  Free out with snippet_names_free.  Shared lock only.
 */
int snippet_list(struct store *st, const char *grant_id, const char *ns, const char *prefix,
		 const char *after, size_t max, struct snippet_names *out);

void snippet_free(struct snippet *s);
void snippet_names_free(struct snippet_names *n);

#endif
