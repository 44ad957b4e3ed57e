/*
 * Unit tests for the store's kept reader handles (src/store.c, "Reader
 * handles kept open"): a read transaction reuses its thread's GDBM handle
 * only while nothing has changed the data file since it was opened.
 *
 *   1. Consecutive reads open the file once; every kind of change (durable
 *      and volatile writes, deletes, purges that delete) makes the next read
 *      open it again; transactions that change nothing (failed inserts,
 *      no-op updates, purges with nothing expired) do not.  Releasing the
 *      handle (an idle process) closes it; the next read opens again.
 *   2. Threads each keep their own handle and close it when they exit; a
 *      child after fork() never uses the handle it inherited.
 *   3. The file rebuilt after a writer died, replaced by a tool that knows
 *      nothing of the store's bookkeeping, or changed in place by one:
 *      the next read sees the new content.
 *   4. A writer process, a killed writer (rebuild) and purges against
 *      reader threads: every read returns at least the last value whose
 *      write had returned before the read began.
 */
#include "store.h"
#include "store_util.h"
#include "tap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <gdbm.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Defined in store.c for tests only. */
uint64_t store_debug_reader_opens(void);

#define LOCK_TIMEOUT_MS 20000
#define RACE_WRITES 400
#define RACE_READERS 2

static char test_dir[256];
static char test_db[300];

static const char key[] = "snippet";

static uint64_t
opens(void)
{
	return store_debug_reader_opens();
}

/* Read key as a decimal number; -1 if absent, -2 on error. */
static long
read_num(struct store *st)
{
	struct store_val v;
	char buf[32];
	long n;
	int rc = store_get(st, STORE_SNIPPET, key, sizeof(key) - 1, &v);

	if (rc == STORE_NOTFOUND)
		return -1;
	if (rc != STORE_OK)
		return -2;
	if (v.len == 0 || v.len >= sizeof(buf)) {
		store_val_free(&v);
		return -2;
	}
	memcpy(buf, v.data, v.len);
	buf[v.len] = '\0';
	store_val_free(&v);
	n = strtol(buf, NULL, 10);
	return n;
}

static int
put_num(struct store *st, long n)
{
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "%ld", n);

	return store_put(st, STORE_SNIPPET, key, sizeof(key) - 1, buf, (size_t)len, 0,
			 STORE_PUT_REPLACE);
}

/* Open descriptors of this process that name the data file. */
static int
data_fds(void)
{
	char target[512];
	struct dirent *e;
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		ssize_t len;

		if (e->d_name[0] == '.')
			continue;
		len = readlinkat(dirfd(d), e->d_name, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		if (strcmp(target, test_db) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* ---- 1. which transactions invalidate the kept handle --------------------- */

static int
noop_update(const struct store_val *cur, void **newdata, size_t *newlen, time_t *newexp,
	    void *arg)
{
	(void)cur;
	(void)newdata;
	(void)newlen;
	(void)newexp;
	(void)arg;
	return STORE_EXISTS; /* nothing written */
}

static int
count_each(const void *k, size_t klen, const struct store_val *val, void *arg)
{
	(void)k;
	(void)klen;
	(void)val;
	(*(int *)arg)++;
	return 0;
}

static int
each_txn(struct store_txn *tx, void *arg)
{
	return store_txn_each(tx, STORE_SNIPPET, NULL, 0, count_each, arg);
}

/* Reads after action: how many opens did 5 reads take, and the value. */
static uint64_t
reads_after(struct store *st, long want, const char *what)
{
	uint64_t before = opens();
	int good = 1;

	for (int i = 0; i < 5; i++)
		good &= read_num(st) == want;
	ok(good, "%s: reads see %ld", what, want);
	return opens() - before;
}

static void
test_counting(void)
{
	char err[256];
	struct store *st = store_open(test_db, LOCK_TIMEOUT_MS, err, sizeof(err));
	uint64_t before, n;
	size_t removed = 0;
	int count = 0;

	if (!ok(st != NULL, "store opens: %s", err))
		return;
	is_int(put_num(st, 1), STORE_OK, "first put");
	before = opens();
	for (int i = 0; i < 50; i++)
		if (read_num(st) != 1)
			break;
	is_int(opens() - before, 1, "50 reads with no write in between open the file once");
	is_int(data_fds(), 1, "one descriptor of the data file stays open between reads");

	is_int(put_num(st, 2), STORE_OK, "durable put");
	is_int(reads_after(st, 2, "after a durable put"), 1, "a durable put: one new open");

	is_int(store_put(st, STORE_SNIPPET, key, sizeof(key) - 1, "9", 1, 0, STORE_PUT_INSERT),
	       STORE_EXISTS, "failed insert");
	is_int(reads_after(st, 2, "after a failed insert"), 0, "a failed insert: handle kept");

	is_int(store_update(st, STORE_SNIPPET, key, sizeof(key) - 1, noop_update, NULL),
	       STORE_EXISTS, "no-op update");
	is_int(reads_after(st, 2, "after a no-op update"), 0, "a no-op update: handle kept");

	is_int(store_incr(st, STORE_RATE, "r", 1, time(NULL) + 60, NULL), STORE_OK,
	       "volatile increment");
	is_int(reads_after(st, 2, "after a volatile write"), 1, "a volatile write: one new open");

	is_int(store_del(st, STORE_SNIPPET, "absent", 6), STORE_NOTFOUND, "delete of nothing");
	is_int(reads_after(st, 2, "after a delete of nothing"), 0, "deleting nothing: handle kept");

	is_int(store_purge(st, &removed), STORE_OK, "purge with nothing expired");
	is_int(removed, 0, "nothing purged");
	is_int(reads_after(st, 2, "after an empty purge"), 0, "an empty purge: handle kept");

	is_int(store_put(st, STORE_CACHE, "old", 3, "x", 1, time(NULL) - 5, STORE_PUT_REPLACE),
	       STORE_OK, "expired record written");
	(void)reads_after(st, 2, "after writing an expired record");
	is_int(store_purge(st, &removed), STORE_OK, "purge");
	is_int(removed, 1, "purge removed the expired record");
	is_int(reads_after(st, 2, "after a purge"), 1, "a purge that deleted: one new open");

	before = opens();
	is_int(store_txn(st, 0, each_txn, &count), STORE_OK, "iteration on the kept handle");
	is_int(count, 1, "iteration sees the record");
	is_int(read_num(st), 2, "get after iteration");
	is_int(opens() - before, 0, "iteration and get reuse the handle");

	/* An idle process releases its handle (app_idle): memory and descriptor
	 * go, and the next read opens the file again and sees its content. */
	store_release_reader();
	is_int(data_fds(), 0, "store_release_reader closes the kept handle");
	store_release_reader();
	is_int(data_fds(), 0, "releasing again is harmless");
	is_int(reads_after(st, 2, "after a release"), 1, "after a release: one new open");
	is_int(data_fds(), 1, "the new handle is kept");

	is_int(store_del(st, STORE_SNIPPET, key, sizeof(key) - 1), STORE_OK, "delete");
	is_int(reads_after(st, -1, "after a delete"), 1, "a delete: one new open");

	/* A second store on the same file does not share the first's handle. */
	{
		struct store *st2 = store_open(test_db, LOCK_TIMEOUT_MS, err, sizeof(err));

		if (ok(st2 != NULL, "second store opens")) {
			is_int(put_num(st2, 3), STORE_OK, "put through the second store");
			is_int(reads_after(st, 3, "first store sees the second's put"), 1,
			       "other store's put: one new open");
			before = opens();
			n = (uint64_t)read_num(st2);
			is_int(n, 3, "second store reads");
			is_int(opens() - before, 1, "switching stores opens");
			store_close(st2);
		}
	}
	store_close(st);
	is_int(data_fds(), 0, "store_close closes this thread's kept handle");
}

/* ---- 2. threads and fork --------------------------------------------------- */

struct thread_arg {
	struct store *st;
	long want;
	int good;
};

static void *
reader_thread(void *p)
{
	struct thread_arg *a = p;

	a->good = 1;
	for (int i = 0; i < 200; i++)
		if (read_num(a->st) != a->want)
			a->good = 0;
	return NULL;
}

static void
test_threads_fork(void)
{
	char err[256];
	struct store *st = store_open(test_db, LOCK_TIMEOUT_MS, err, sizeof(err));
	struct thread_arg a[2];
	pthread_t t[2];
	uint64_t before;
	int status = -1;
	pid_t pid;

	if (!ok(st != NULL, "store opens: %s", err))
		return;
	is_int(put_num(st, 10), STORE_OK, "put");
	before = opens();
	for (int i = 0; i < 2; i++) {
		a[i] = (struct thread_arg){.st = st, .want = 10};
		pthread_create(&t[i], NULL, reader_thread, &a[i]);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	ok(a[0].good && a[1].good, "two threads read the right value");
	is_int(opens() - before, 2, "each thread opens once for 200 reads");
	is_int(data_fds(), 0, "threads close their handles when they exit");

	is_int(read_num(st), 10, "parent reads (keeps a handle)");
	before = opens();
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		/* The inherited handle shares its file offset with the parent's. */
		uint64_t b = opens();
		int good = read_num(st) == 10 && read_num(st) == 10 && opens() - b == 1;

		_exit(good ? 0 : 1);
	}
	if (pid > 0)
		waitpid(pid, &status, 0);
	ok(pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "a child opens its own handle and reads right");
	is_int(read_num(st), 10, "parent reads after the fork");
	is_int(opens() - before, 0, "parent keeps its handle");
	store_close(st);
}

/* ---- 3. the file rebuilt, replaced or changed behind the store's back ----- */

static int
die_inside(struct store_txn *tx, void *arg)
{
	(void)arg;
	store_txn_put(tx, STORE_SNIPPET, "other", 5, "x", 1, 0, STORE_PUT_REPLACE);
	raise(SIGKILL);
	return STORE_OK;
}

/* A writer killed inside its transaction: the next one rebuilds the file. */
static int
kill_a_writer(void)
{
	char err[256];
	int status = 0;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct store *st = store_open(test_db, LOCK_TIMEOUT_MS, err, sizeof(err));

		if (st != NULL)
			store_txn(st, 1, die_inside, NULL);
		_exit(3);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ? 0 : -1;
}

/* A GDBM record in the store's format (format byte, zero expiry, data). */
static int
raw_store(GDBM_FILE dbf, unsigned char type, const char *k, const char *v)
{
	unsigned char kb[64], vb[64];
	size_t kl = strlen(k), vl = strlen(v);
	datum dk, dv;

	if (kl + 1 > sizeof(kb) || vl + 9 > sizeof(vb))
		return -1;
	kb[0] = type;
	memcpy(kb + 1, k, kl);
	memset(vb, 0, 9);
	vb[0] = 1;
	memcpy(vb + 9, v, vl);
	dk = (datum){(char *)kb, (int)(kl + 1)};
	dv = (datum){(char *)vb, (int)(vl + 9)};
	return gdbm_store(dbf, dk, dv, GDBM_REPLACE);
}

/* As an offline tool would: under the exclusive flock alone, either write a
 * new file and rename it over the store's, or change the file in place. */
static int
tool_write(const char *value, int replace)
{
	char lock[320], tmp[320];
	const char *target = test_db;
	GDBM_FILE dbf;
	int lfd, rc = -1;
	unsigned char fmt_key[] = "format", one = 1;

	snprintf(lock, sizeof(lock), "%s.lock", test_db);
	snprintf(tmp, sizeof(tmp), "%s.new", test_db);
	if ((lfd = open(lock, O_RDWR | O_CLOEXEC)) < 0 || flock(lfd, LOCK_EX) != 0)
		goto out;
	if (replace)
		target = tmp;
	dbf = gdbm_open(target, 0, (replace ? GDBM_NEWDB : GDBM_WRITER) | GDBM_NOLOCK, 0600,
			NULL);
	if (dbf == NULL)
		goto out;
	rc = raw_store(dbf, STORE_SNIPPET, key, value);
	if (replace) {
		unsigned char kb[8] = {STORE_META};
		unsigned char vb[10] = {1};

		memcpy(kb + 1, fmt_key, 6);
		vb[9] = one;
		if (gdbm_store(dbf, (datum){(char *)kb, 7}, (datum){(char *)vb, 10},
			       GDBM_REPLACE) != 0)
			rc = -1;
	}
	if (gdbm_close(dbf) != 0)
		rc = -1;
	if (rc == 0 && replace && rename(tmp, test_db) != 0)
		rc = -1;
out:
	if (lfd >= 0)
		close(lfd);
	return rc;
}

static void
test_rebuild_replace(void)
{
	char err[256];
	struct store *st = store_open(test_db, LOCK_TIMEOUT_MS, err, sizeof(err));
	struct stat a, b;
	struct timespec pause = {0, 30 * 1000000L};

	if (!ok(st != NULL, "store opens: %s", err))
		return;
	is_int(put_num(st, 20), STORE_OK, "put");
	is_int(read_num(st), 20, "read keeps a handle");
	stat(test_db, &a);
	is_int(kill_a_writer(), 0, "a writer killed inside its transaction");
	is_int(read_num(st), 20, "read after the rebuild");
	stat(test_db, &b);
	ok(a.st_ino != b.st_ino, "the rebuild replaced the file");
	is_int(put_num(st, 21), STORE_OK, "put into the rebuilt file");
	is_int(read_num(st), 21, "read sees it");

	is_int(tool_write("22", 1), 0, "a tool replaces the file, store bookkeeping untouched");
	is_int(read_num(st), 22, "the next read sees the replaced file");

	nanosleep(&pause, NULL); /* past the file system's timestamp granularity */
	is_int(tool_write("23", 0), 0, "a tool changes the file in place");
	is_int(read_num(st), 23, "the next read sees the change");
	store_close(st);
}

/* ---- 4. readers against a writer, a dying writer and purges --------------- */

struct race {
	_Atomic long acked; /* last value whose put returned STORE_OK */
	atomic_int done;
	atomic_int writer_errors;
};

struct race_reader {
	struct store *st;
	struct race *r;
	long reads, stale, errors;
};

static void *
race_reader_thread(void *p)
{
	struct race_reader *rr = p;

	for (long i = 0; i < 1000000 && !atomic_load(&rr->r->done); i++) {
		long before = atomic_load(&rr->r->acked);
		long got = read_num(rr->st);

		rr->reads++;
		if (got == -2)
			rr->errors++;
		else if (got < before)
			rr->stale++;
	}
	return NULL;
}

static void
race_writer(struct race *r)
{
	char err[256];
	struct store *st = store_open(test_db, LOCK_TIMEOUT_MS, err, sizeof(err));

	if (st == NULL) {
		atomic_fetch_add(&r->writer_errors, 1);
		return;
	}
	for (long i = 1; i <= RACE_WRITES; i++) {
		if (put_num(st, 1000 + i) != STORE_OK) {
			atomic_fetch_add(&r->writer_errors, 1);
			continue;
		}
		atomic_store(&r->acked, 1000 + i);
		if (i % 50 == 0 && kill_a_writer() != 0)
			atomic_fetch_add(&r->writer_errors, 1);
		if (i % 20 == 0) {
			store_put(st, STORE_CACHE, "exp", 3, "x", 1, time(NULL) - 1,
				  STORE_PUT_REPLACE);
			if (store_purge(st, NULL) != STORE_OK)
				atomic_fetch_add(&r->writer_errors, 1);
		}
		if (i % 7 == 0)
			store_incr(st, STORE_RATE, "w", 1, time(NULL) + 60, NULL);
	}
	store_close(st);
}

static void
test_race(void)
{
	char err[256];
	struct store *st = store_open(test_db, LOCK_TIMEOUT_MS, err, sizeof(err));
	struct race *r = mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			      -1, 0);
	struct race_reader rr[RACE_READERS];
	pthread_t t[RACE_READERS];
	long reads = 0, stale = 0, errors = 0;
	int status = -1;
	pid_t pid;

	if (!ok(st != NULL && r != MAP_FAILED, "store opens: %s", err))
		return;
	is_int(put_num(st, 1000), STORE_OK, "initial value");
	atomic_store(&r->acked, 1000);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		race_writer(r);
		_exit(0);
	}
	for (int i = 0; i < RACE_READERS; i++) {
		rr[i] = (struct race_reader){.st = st, .r = r};
		pthread_create(&t[i], NULL, race_reader_thread, &rr[i]);
	}
	if (pid > 0)
		waitpid(pid, &status, 0);
	atomic_store(&r->done, 1);
	for (int i = 0; i < RACE_READERS; i++) {
		pthread_join(t[i], NULL);
		reads += rr[i].reads;
		stale += rr[i].stale;
		errors += rr[i].errors;
	}
	ok(pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer process finished");
	is_int(atomic_load(&r->writer_errors), 0, "every write, purge and kill went as planned");
	ok(reads > 100, "readers read (%ld reads)", reads);
	is_int(stale, 0, "no read older than the last acknowledged write");
	is_int(errors, 0, "no read failed");
	is_int(read_num(st), 1000 + RACE_WRITES, "the last value is read at the end");
	store_close(st);
	munmap(r, sizeof(*r));
}

/* ---- main ------------------------------------------------------------------ */

int
main(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(test_dir, sizeof(test_dir), "%s/mcpgate-store-reuse-XXXXXX",
		 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(test_dir) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	snprintf(test_db, sizeof(test_db), "%s/store.db", test_dir);
	test_counting();
	test_threads_fork();
	test_rebuild_replace();
	test_race();
	if (nftw(test_dir, cleanup_one, 8, FTW_DEPTH | FTW_PHYS) != 0)
		printf("# could not remove %s\n", test_dir);
	return tap_done();
}
