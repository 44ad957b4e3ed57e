/*
 * store: all persistent state in one GDBM file, shared by many processes.
 *
 * GDBM caches its header, directory and buckets in memory and never re-reads
 * them, so a handle kept open across requests in several processes corrupts
 * the file.  Every operation therefore runs as a short transaction:
 *   flock(<file>.lock) -> gdbm_open(GDBM_NOLOCK) -> ops -> gdbm_close -> unlock
 * with one exception: a thread keeps its last reader handle and reuses it
 * for the next read transaction when nothing has changed the file since it
 * was opened (a generation counter in the lock file's shared page, bumped
 * under the exclusive lock by every change, and the file's identity), so
 * its cached view is still exact.  Writers always open afresh.
 * Readers take the lock shared, writers exclusive, both behind a "turnstile"
 * (a robust process-shared mutex kept in the lock file's first page) so a
 * stream of readers cannot starve writers.  Lock waits are bounded:
 * past the deadline the call returns STORE_BUSY, which the HTTP layer turns
 * into 503 with Retry-After; GDBM's own "can't be writer" never reaches a
 * client.
 *
 * Durability: when a write transaction returns STORE_OK, its changes are on
 * disk (fdatasync), so they survive a kill -9 of any process and an OS
 * crash.  The sync happens after the locks are released, so concurrent
 * writers' syncs overlap (group commit) and readers never wait for one.
 * Exception: a transaction that changed only volatile records (STORE_RATE,
 * STORE_CACHE, STORE_TXN, STORE_STATE, STORE_MCPSESSION) or only deleted
 * expired ones is not synced by itself; its
 * changes survive a kill -9 of any process, and reach the disk with the
 * next durable write, or within about a second.  (A writer killed inside
 * GDBM can leave the file inconsistent; the next transaction rebuilds it
 * with gdbm_recover.  Rarely, a torn bucket loses its records.)
 *
 * Records are typed and carry an absolute expiry (GDBM has none).  A record
 * whose expiry is <= the transaction's now reads as absent; store_purge()
 * deletes them.  The GDBM key is <type byte><key bytes>; the value is a small
 * header followed by the data.
 *
 * Keys are binary-safe (pointer + length, at most STORE_KEY_MAX bytes);
 * values at most STORE_VALUE_MAX bytes.
 */
#ifndef MCPGATE_STORE_H
#define MCPGATE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define STORE_KEY_MAX 512
#define STORE_VALUE_MAX (1024 * 1024)

/* Record types.  Values are persisted: append only, never renumber. */
enum store_type {
	STORE_META = 0,     /* store's own bookkeeping (format version) */
	STORE_CLIENT = 1,   /* registered OAuth clients, key client_id */
	STORE_CODE = 2,     /* authorization codes, key hash(code) */
	STORE_CONSENT = 3,  /* consents, key user + client */
	STORE_SESSION = 4,  /* browser login sessions / authorization transactions */
	STORE_TOKEN = 5,    /* token hashes -> grant */
	STORE_GRANT = 6,    /* grants (one authorization, many rotated tokens) */
	STORE_SNIPPET = 7,  /* snippets, key namespace + name */
	STORE_RATE = 8,     /* rate-limit counters (volatile: see Durability) */
	STORE_STATE = 9,    /* upstream login state (volatile) */
	STORE_MCPSESSION = 10, /* MCP transport sessions (volatile) */
	STORE_CACHE = 11,   /* fetched documents (discovery, JWKS, client metadata; volatile) */
	STORE_UPSTREAM = 12, /* upstream tokens, AEAD-sealed, key user */
	STORE_TXN = 13,     /* authorization transactions, authorize -> consent -> callback (volatile) */
	STORE_TYPE__MAX
};

enum store_status {
	STORE_OK = 0,
	STORE_NOTFOUND = 1, /* absent or expired */
	STORE_EXISTS = 2,   /* STORE_PUT_INSERT on a live record */
	STORE_BUSY = 3,     /* lock not obtained before the deadline: retry later (503) */
	STORE_ERROR = -1    /* I/O error, corrupt file, bad argument: logged once */
};

/* Flags for store_txn_put. */
#define STORE_PUT_REPLACE 0
#define STORE_PUT_INSERT 1 /* fail with STORE_EXISTS if a live record exists */

struct store;     /* opaque; cheap to keep for the life of a process */
struct store_txn; /* valid only inside a store_txn() callback */

/* A value read from the store; data is malloc'd and owned by the caller
 * (release with store_val_free, which wipes it). */
struct store_val {
	void *data;
	size_t len;
	time_t expires; /* 0 = never */
};

/*
 * Prepare access to the GDBM file at path (created, mode 0600, if missing)
 * with its lock file <path>.lock.  Keeps no GDBM handle open.  lock_timeout_ms
 * bounds every lock wait (0 = default 2000).  Returns NULL with a message in
 * err on failure.  Thread-safe for use from many threads once opened.
 */
struct store *store_open(const char *path, unsigned lock_timeout_ms, char *err, size_t errlen);
void store_close(struct store *st);

/*
 * Close the calling thread's kept reader handle, if it has one: a process with
 * nothing to do gives back the handle's memory and file mapping, and its
 * next read transaction opens the file again.
 */
void store_release_reader(void);

/*
 * Run fn inside one transaction.  write=0: shared lock, read-only handle
 * (puts and deletes fail with STORE_ERROR).  write=1: exclusive lock.
 * fn returns STORE_OK to commit; any other value is passed back to the caller.
 * (GDBM cannot roll back: a callback should do its checks before its writes.)
 * Returns fn's result, or STORE_BUSY / STORE_ERROR if the transaction could
 * not start or the file could not be closed cleanly.  Transactions must not
 * be nested: an inner one fails with STORE_ERROR or, after the timeout, BUSY.
 */
int store_txn(struct store *st, int write, int (*fn)(struct store_txn *tx, void *arg), void *arg);

/* Inside a transaction.  now is taken once per transaction. */
time_t store_txn_now(const struct store_txn *tx);
int store_txn_get(struct store_txn *tx, enum store_type type, const void *key, size_t keylen,
		  struct store_val *out);
int store_txn_put(struct store_txn *tx, enum store_type type, const void *key, size_t keylen,
		  const void *data, size_t len, time_t expires, int flags);
int store_txn_del(struct store_txn *tx, enum store_type type, const void *key, size_t keylen);
/* Call fn for every live record of type whose key starts with prefix, in no
 * particular order; fn returns 0 to continue, nonzero to stop (that value is
 * returned).  key and val point into the store's buffers and are valid only
 * during the call.  The callback must not modify the store.  Corrupt records
 * are logged and skipped, and then STORE_ERROR is returned at the end. */
int store_txn_each(struct store_txn *tx, enum store_type type, const void *prefix, size_t prefixlen,
		   int (*fn)(const void *key, size_t keylen, const struct store_val *val, void *arg),
		   void *arg);

/* One-operation conveniences, each its own transaction. */
int store_get(struct store *st, enum store_type type, const void *key, size_t keylen,
	      struct store_val *out);
int store_put(struct store *st, enum store_type type, const void *key, size_t keylen,
	      const void *data, size_t len, time_t expires, int flags);
int store_del(struct store *st, enum store_type type, const void *key, size_t keylen);

/*
 * Atomic read-modify-write of one record (compare-and-swap semantics): under
 * the exclusive lock, fn sees the current value (cur NULL if absent/expired)
 * and decides:
 *   return STORE_OK with *newdata set  -> record replaced (expiry *newexp)
 *   return STORE_OK with *newdata NULL -> record deleted
 *   any other value                    -> nothing written; value returned
 * *newdata, if set, is owned by fn's caller frame (not freed by the store).
 * Used for single-use codes (exactly one winner) and refresh rotation.
 */
typedef int (*store_update_fn)(const struct store_val *cur, void **newdata, size_t *newlen,
			       time_t *newexp, void *arg);
int store_update(struct store *st, enum store_type type, const void *key, size_t keylen,
		 store_update_fn fn, void *arg);

/* Increment a counter record (8-byte value) that expires at window_end; create
 * it at 1 if absent.  *count receives the new value.  For rate limits. */
int store_incr(struct store *st, enum store_type type, const void *key, size_t keylen,
	       time_t window_end, uint64_t *count);

/* Delete every expired record; *removed (may be NULL) gets the count. */
int store_purge(struct store *st, size_t *removed);

void store_val_free(struct store_val *v);
/* Human-readable name of a status for logs. */
const char *store_strerror(int status);

#endif
