/*
 * Unit tests for the store's durability path (src/store.c, "group commit"):
 * a writer syncs after releasing its locks, and volatile records skip it.
 *
 * This program defines fdatasync(2) itself.  The store's call to it then
 * resolves to this definition (an executable's own symbol comes before
 * libc's), which lets the tests count the syncs and stop a writer exactly
 * between its unlock and its sync.  GDBM's own fsync (rebuilds) is not
 * affected.
 *
 *   1. Which transactions sync: durable puts, deletes and updates do, once;
 *      volatile-only ones (rate limits, cache, logins in progress, MCP
 *      sessions), no-op writes, deletes of expired records, purges and
 *      reads do not, except that a volatile one syncs when no sync started
 *      in the last second.
 *   2. A writer killed (SIGKILL) after its unlock, before its sync: no
 *      rebuild, no wait for the next transaction, a consistent file that
 *      holds the unacknowledged record.
 *   3. The file replaced between a writer's unlock and its sync: the writer
 *      syncs the new file too, and the record is in it.
 *   4. Several processes writing at once: every acknowledged record is
 *      present afterwards, and a writer killed at random keeps the file
 *      consistent.
 */
#include "store.h"
#include "store_util.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <gdbm.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WRITERS 4
#define WRITES_PER_WRITER 150
#define LOCK_TIMEOUT_MS 20000

static char test_dir[256];
static char test_db[300];

/* ---- the fdatasync stand-in ----------------------------------------------- */

static atomic_int sync_calls;
static atomic_int sync_die;     /* next call: SIGKILL this process instead */
static atomic_int sync_replace; /* next call: first replace the data file by a copy */

static int
replace_by_copy(const char *path)
{
	char tmp[400], buf[65536];
	int in, out, rc = -1;
	ssize_t n;

	snprintf(tmp, sizeof(tmp), "%s.copy", path);
	in = open(path, O_RDONLY | O_CLOEXEC);
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (in >= 0 && out >= 0) {
		while ((n = read(in, buf, sizeof(buf))) > 0)
			if (write(out, buf, (size_t)n) != n)
				break;
		rc = n == 0 ? rename(tmp, path) : -1;
	}
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return rc;
}

int
fdatasync(int fd)
{
	atomic_fetch_add(&sync_calls, 1);
	if (atomic_exchange(&sync_die, 0))
		raise(SIGKILL);
	if (atomic_exchange(&sync_replace, 0) && replace_by_copy(test_db) != 0)
		printf("# could not replace %s\n", test_db);
	return (int)syscall(SYS_fdatasync, fd);
}

/* ---- helpers ---------------------------------------------------------------- */

static struct store *
fresh_store(const char *name)
{
	char err[256], lock[400];
	struct store *st;

	snprintf(test_db, sizeof(test_db), "%s/%s", test_dir, name);
	snprintf(lock, sizeof(lock), "%s.lock", test_db);
	unlink(test_db);
	unlink(lock);
	st = store_open(test_db, LOCK_TIMEOUT_MS, err, sizeof(err));
	if (st == NULL)
		printf("# store_open(%s): %s\n", test_db, err);
	return st;
}

static int
has_value(struct store *st, enum store_type type, const char *key, const char *want)
{
	struct store_val v;
	int same;

	if (store_get(st, type, key, strlen(key), &v) != STORE_OK)
		return 0;
	same = v.len == strlen(want) && memcmp(v.data, want, v.len) == 0;
	store_val_free(&v);
	return same;
}

/* Syncs made by op; the count is reset first. */
#define SYNCS(op) (atomic_store(&sync_calls, 0), (void)(op), atomic_load(&sync_calls))

/* ---- 1. which transactions sync ---------------------------------------------- */

static int
put_two_txn(struct store_txn *tx, void *arg)
{
	(void)arg;
	if (store_txn_put(tx, STORE_RATE, "mixed-r", 7, "1", 1, 0, 0) != STORE_OK)
		return STORE_ERROR;
	return store_txn_put(tx, STORE_TOKEN, "mixed-t", 7, "t", 1, 0, 0);
}

static int
noop_write_txn(struct store_txn *tx, void *arg)
{
	(void)arg;
	return store_txn_get(tx, STORE_TOKEN, "durable", 7, NULL);
}

static int
failing_write_txn(struct store_txn *tx, void *arg)
{
	(void)arg;
	store_txn_put(tx, STORE_GRANT, "half", 4, "h", 1, 0, 0);
	return STORE_EXISTS; /* the callback gives up after writing: still synced */
}

static void
test_which_sync(void)
{
	struct store *st = fresh_store("which.db");
	time_t now = time(NULL);
	uint64_t c = 0;
	size_t removed = 0;

	if (!ok(st != NULL, "store opened"))
		return;
	is_int(SYNCS(store_put(st, STORE_TOKEN, "durable", 7, "d", 1, 0, 0)), 1,
	       "durable put: one sync");
	is_int(SYNCS(store_get(st, STORE_TOKEN, "durable", 7, NULL)), 0, "read: no sync");
	atomic_store(&sync_calls, 0);
	for (int i = 0; i < 20; i++)
		store_incr(st, STORE_RATE, "ip", 2, now + 60, &c);
	is_int(atomic_load(&sync_calls), 0, "20 rate-limit increments right after a sync: no sync");
	is_int((int)c, 20, "and the counter counted all 20");
	is_int(SYNCS(store_put(st, STORE_CACHE, "doc", 3, "jwks", 4, now + 60, 0)), 0,
	       "cache put: no sync");
	ok(has_value(st, STORE_CACHE, "doc", "jwks"), "cache record reads back");
	is_int(SYNCS(store_put(st, STORE_TXN, "txn", 3, "t", 1, now + 60, 0)), 0,
	       "authorization transaction put: no sync");
	is_int(SYNCS(store_put(st, STORE_STATE, "state", 5, "s", 1, now + 60, 0)), 0,
	       "upstream login state put: no sync");
	is_int(SYNCS(store_put(st, STORE_MCPSESSION, "sess", 4, "m", 1, now + 60, 0)), 0,
	       "MCP session put: no sync");
	is_int(SYNCS(store_put(st, STORE_SNIPPET, "snip", 4, "n", 1, 0, 0)), 1,
	       "snippet put: one sync");
	is_int(SYNCS(store_put(st, STORE_CONSENT, "cons", 4, "c", 1, 0, 0)), 1,
	       "consent put: one sync");
	is_int(SYNCS(store_txn(st, 1, put_two_txn, NULL)), 1, "volatile + durable: one sync");
	is_int(SYNCS(store_put(st, STORE_TOKEN, "durable", 7, "x", 1, 0, STORE_PUT_INSERT)), 0,
	       "insert that finds a live record (EXISTS): no sync");
	is_int(SYNCS(store_txn(st, 1, noop_write_txn, NULL)), 0, "write transaction that reads only");
	is_int(SYNCS(store_txn(st, 1, failing_write_txn, NULL)), 1,
	       "callback that wrote, then failed: synced");
	is_int(SYNCS(store_put(st, STORE_CODE, "old", 3, "o", 1, now - 10, 0)), 1,
	       "put of an already expired code: synced (durable type)");
	is_int(SYNCS(store_del(st, STORE_CODE, "old", 3)), 0, "delete of an expired record: no sync");
	is_int(SYNCS(store_del(st, STORE_TOKEN, "mixed-t", 7)), 1, "delete of a live record: synced");
	store_put(st, STORE_SESSION, "gone", 4, "g", 1, now - 10, 0);
	is_int(SYNCS(store_purge(st, &removed)), 0, "purge of expired records: no sync");
	is_int((int)removed, 1, "and it removed the one");
	sleep_ms(1100);
	is_int(SYNCS(store_incr(st, STORE_RATE, "ip", 2, now + 60, &c)), 1,
	       "volatile write a second after the last sync: synced");
	is_int(SYNCS(store_incr(st, STORE_RATE, "ip", 2, now + 60, &c)), 0, "the next one: not");
	store_close(st);
}

/* ---- 2. killed between unlock and sync ------------------------------------------ */

static void
test_killed_before_sync(void)
{
	struct store *st = fresh_store("killed.db");
	struct stat before, after;
	int status = 0;
	double t0;
	pid_t pid;

	if (!ok(st != NULL, "store opened"))
		return;
	store_put(st, STORE_TOKEN, "before", 6, "b", 1, 0, 0);
	stat(test_db, &before);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		atomic_store(&sync_die, 1);
		store_put(st, STORE_GRANT, "unacked", 7, "u", 1, 0, 0);
		_exit(3); /* not reached: killed in fdatasync */
	}
	waitpid(pid, &status, 0);
	ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "writer killed at its sync");
	t0 = now_s();
	ok(has_value(st, STORE_TOKEN, "before", "b"), "earlier record intact");
	ok(now_s() - t0 < 1.0, "next transaction did not wait for a lock (%.3f s)", now_s() - t0);
	ok(has_value(st, STORE_GRANT, "unacked", "u"),
	   "the unacknowledged record is in the file (page cache)");
	stat(test_db, &after);
	ok(before.st_ino == after.st_ino, "no rebuild: the writer had left GDBM cleanly");
	is_int(gdbm_verify_count(test_db), 3, "GDBM_XVERIFY walk: 3 records (format, 2 written)");
	is_int(store_put(st, STORE_TOKEN, "after", 5, "a", 1, 0, 0), STORE_OK, "writers go on");
	store_close(st);
}

/* ---- 3. the file replaced before the sync ------------------------------------------- */

static void
test_replaced_before_sync(void)
{
	struct store *st = fresh_store("replaced.db");
	struct stat before, after;

	if (!ok(st != NULL, "store opened"))
		return;
	store_put(st, STORE_TOKEN, "first", 5, "1", 1, 0, 0);
	stat(test_db, &before);
	atomic_store(&sync_replace, 1);
	is_int(SYNCS(store_put(st, STORE_TOKEN, "second", 6, "2", 1, 0, 0)), 2,
	       "write synced the old inode, then the new file");
	stat(test_db, &after);
	ok(before.st_ino != after.st_ino, "the file was replaced");
	ok(has_value(st, STORE_TOKEN, "first", "1") && has_value(st, STORE_TOKEN, "second", "2"),
	   "the new file holds both records");
	is_int(SYNCS(store_put(st, STORE_TOKEN, "third", 5, "3", 1, 0, 0)), 1,
	       "then back to one sync per write");
	store_close(st);
}

/* ---- 4. concurrent writers --------------------------------------------------------------- */

static int
write_all(int fd, const void *buf, size_t len)
{
	return write(fd, buf, len) == (ssize_t)len ? 0 : -1;
}

/* Writer w: puts k/w/i for i = 0.. and acknowledges each on fd once
 * store_put returned. */
static void
writer_main(unsigned w, uint32_t count, int fd)
{
	char err[256], key[64], val[64];
	struct store *st = store_open(test_db, LOCK_TIMEOUT_MS, err, sizeof(err));

	if (st == NULL)
		_exit(2);
	for (uint32_t i = 0; i < count; i++) {
		int kl = snprintf(key, sizeof(key), "k/%u/%u", w, i);
		int vl = snprintf(val, sizeof(val), "value %u %u", w, i);

		if (store_put(st, STORE_GRANT, key, (size_t)kl, val, (size_t)vl, 0, 0) != STORE_OK)
			_exit(4);
		if (write_all(fd, &i, sizeof(i)) != 0)
			_exit(5);
	}
	store_close(st);
	_exit(0);
}

/* Fork WRITERS writers; kill_at > 0: SIGKILL them all once the acks reach
 * kill_at in total.  Fills acks[w] with each writer's acknowledged count. */
static int
run_writers(uint32_t count, uint32_t kill_at, uint32_t *acks)
{
	int fds[WRITERS], status, bad = 0;
	pid_t pids[WRITERS];
	uint32_t total = 0, i;

	for (unsigned w = 0; w < WRITERS; w++) {
		int pfd[2];

		if (pipe(pfd) != 0)
			return -1;
		fflush(stdout);
		if ((pids[w] = fork()) == 0) {
			close(pfd[0]);
			writer_main(w, count, pfd[1]);
		}
		close(pfd[1]);
		fds[w] = pfd[0];
		acks[w] = 0;
	}
	/* Round robin over the pipes: each read blocks until that writer's
	 * next ack, which keeps every writer busy meanwhile. */
	for (int progress = 1; progress && (kill_at == 0 || total < kill_at);) {
		progress = 0;
		for (unsigned w = 0; w < WRITERS && (kill_at == 0 || total < kill_at); w++)
			if (read(fds[w], &i, sizeof(i)) == sizeof(i)) {
				acks[w] = i + 1;
				total++;
				progress = 1;
			}
	}
	for (unsigned w = 0; w < WRITERS && kill_at > 0; w++)
		kill(pids[w], SIGKILL);
	for (unsigned w = 0; w < WRITERS; w++) {
		while (read(fds[w], &i, sizeof(i)) == sizeof(i))
			acks[w] = i + 1; /* acks sent before the kill */
		close(fds[w]);
		if (waitpid(pids[w], &status, 0) != pids[w])
			bad++;
		else if (kill_at == 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
			bad++;
	}
	return bad;
}

static uint32_t
count_missing(struct store *st, const uint32_t *acks)
{
	char key[64], val[64];
	uint32_t missing = 0;

	for (unsigned w = 0; w < WRITERS; w++)
		for (uint32_t i = 0; i < acks[w]; i++) {
			snprintf(key, sizeof(key), "k/%u/%u", w, i);
			snprintf(val, sizeof(val), "value %u %u", w, i);
			missing += !has_value(st, STORE_GRANT, key, val);
		}
	return missing;
}

static void
test_concurrent_writers(void)
{
	struct store *st = fresh_store("concurrent.db");
	uint32_t acks[WRITERS], total = 0;
	double t0;
	long n;

	if (!ok(st != NULL, "store opened"))
		return;
	t0 = now_s();
	is_int(run_writers(WRITES_PER_WRITER, 0, acks), 0, "%d writers ran to the end", WRITERS);
	printf("# %d writers x %d durable puts in %.2f s\n", WRITERS, WRITES_PER_WRITER,
	       now_s() - t0);
	for (unsigned w = 0; w < WRITERS; w++)
		total += acks[w];
	is_int(total, WRITERS * WRITES_PER_WRITER, "every put acknowledged");
	is_int(count_missing(st, acks), 0, "every acknowledged record present and intact");

	/* Same again on a fresh file, killing every writer half way. */
	store_close(st);
	st = fresh_store("concurrent-kill.db");
	if (!ok(st != NULL, "second store opened"))
		return;
	run_writers(100000, WRITERS * WRITES_PER_WRITER / 2, acks);
	total = 0;
	for (unsigned w = 0; w < WRITERS; w++)
		total += acks[w];
	ok(total >= WRITERS * WRITES_PER_WRITER / 2, "writers killed after %u acknowledgements", total);
	is_int(count_missing(st, acks), 0, "every acknowledged record survived the kill -9");
	n = gdbm_verify_count(test_db);
	ok(n >= (long)total + 1, "GDBM_XVERIFY walk after the kills: %ld records", n);
	is_int(store_put(st, STORE_GRANT, "after", 5, "a", 1, 0, 0), STORE_OK, "writable afterwards");
	store_close(st);
}

/* ---- main --------------------------------------------------------------------------------- */

int
main(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(test_dir, sizeof(test_dir), "%s/mcpgate-sync-XXXXXX",
		 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(test_dir) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_which_sync();
	test_killed_before_sync();
	test_replaced_before_sync();
	test_concurrent_writers();
	if (nftw(test_dir, cleanup_one, 8, FTW_DEPTH | FTW_PHYS) != 0)
		printf("# could not remove %s\n", test_dir);
	return tap_done();
}
