/*
 * store: GDBM access as short, locked transactions.  See store.h for the
 * design; this file adds the details that do not belong in the contract.
 *
 * Locking uses one file, <path>.lock, in two ways:
 *   - flock() on it is the data lock: shared for readers, exclusive for
 *     writers.  Only this lock guards the GDBM file.  The kernel drops it
 *     when its holder dies, and a tool that knows nothing else (an offline
 *     gdbm_reorganize, say) can take it with flock(LOCK_EX) alone.
 *   - its first page holds a process-shared, robust pthread mutex, the
 *     turnstile.  Every transaction queues on it: readers hold it just
 *     while taking their shared flock, writers for the whole transaction.
 *     A waiting writer therefore keeps new readers out (plain flock lets a
 *     stream of readers starve writers), and readers wait for a writer on
 *     the mutex rather than by polling flock.
 * flock() cannot wait with a timeout, and the threaded SSE program blocks
 * signals in its workers, so nothing can interrupt a blocking flock().  The
 * mutex can (pthread_mutex_clocklock), and is woken the moment its holder
 * leaves; the flock is then only polled (LOCK_NB, backoff) by the one
 * mutex holder, normally while a few readers finish.  With 8 processes on
 * 2 cores (ops/s, 50 % / 90 % / 0 % reads) polling both locks gave
 * 8.0k / 26.9k / 4.1k, this design 11.2k / 34.4k / 6.3k, and unbounded
 * blocking flock() 10.9k / 36.8k / 5.8k.
 *
 * A writer killed inside GDBM (kill -9, OOM) can leave buckets, directory
 * and header out of step; later stores then overwrite live records.  So a
 * writer sets shm->dirty while inside GDBM, and whoever next gets the
 * turnstile (robust: EOWNERDEAD instead of a hang) and finds it set
 * rebuilds the file with gdbm_recover before going on (store_repair).
 * The mutex would survive a reboot in its locked state, so the page
 * records the boot it was initialised in and is reset after a reboot.
 *
 * flock() locks belong to the open file description, so each transaction
 * opens its own descriptor: threads of one process exclude each other like
 * separate processes do, and struct store is immutable after store_open
 * (but for an atomic flag, see below).
 *
 * Durability, or group commit.  An fsync costs more than the rest of a
 * write transaction, and done under the exclusive lock it serialises every
 * writer and every reader queued behind it.  So a writer syncs after it has
 * released both locks:
 *   under the locks: GDBM work; gdbm_close(); shm->dirty = 0
 *   unlocked:        fdatasync(a duplicate of the data file's descriptor)
 *   then:            return STORE_OK (the acknowledgement)
 * gdbm_close() of a writer always fsyncs, so before calling it the store
 * keeps a duplicate of GDBM's descriptor and points GDBM's descriptor
 * number at an empty memfd (the "sink"), whose fsync is a no-op.  That is
 * safe because GDBM writes every change (buckets, directory, header) to
 * the file at the end of each gdbm_store/gdbm_delete and only syncs at
 * close; the sink's size is checked after every close in case a future
 * GDBM writes there, and the store then goes back to syncing under the lock.
 * Concurrent writers' fdatasyncs overlap, and the file system commits them
 * together, so throughput grows with the number of writers.
 *   - Killed after the unlock and before or during the sync: the write was
 *     not acknowledged.  The file in the page cache is complete and
 *     consistent (dirty was cleared after GDBM's last write), the kernel
 *     writes it back, and any other writer's sync also covers it.  Nothing
 *     needs repair.
 *   - The file replaced between the unlock and the sync (store_rebuild
 *     after a later writer died, or an offline tool): the descriptor then
 *     names the old, unlinked inode.  The records were copied into the new
 *     file under the exclusive lock, so the writer waits for a shared lock
 *     (the replacement is finished), then syncs the new file and the
 *     directory (store_sync_replaced).  store_rebuild itself still syncs
 *     under the lock, as does a writer when the sink is unavailable.
 *   - Readers never sync, and may read a record whose writer has not yet
 *     finished its sync.  After an OS crash (not a process crash) such a
 *     record can be gone although a reader saw it; its writer never
 *     acknowledged it.
 * Volatile records (STORE_VOLATILE_TYPES: rate-limit counters, fetched
 * documents, logins in progress, MCP transport sessions) are cheap to lose, so a transaction that changed only those, or only deleted
 * expired records (purge), skips the sync.  Its changes survive a kill -9
 * of any process (they are in the page cache), and the next durable
 * write's sync covers them.  To bound what an OS crash can take with them
 * (GDBM has no journal: a half-written bucket split loses that bucket's
 * other records), such a transaction still syncs when no sync of the file
 * started within STORE_VOLATILE_SYNC_MS: at most one extra sync a second.
 * GDBM without a journal was never safe against an OS crash *during* a
 * write; the guarantee is that what was acknowledged is on disk.
 *
 * Reader handles kept open.  Opening GDBM (open, fstat, header and
 * directory reads, close) is most of a read transaction's cost.  A GDBM
 * handle caches header, directory and buckets and never re-reads them, so
 * a handle may be reused only while the file is exactly as it was when the
 * handle was opened.  The page therefore holds a write generation,
 * shm->write_gen, which everything in this file that changes the data file
 * increments under the exclusive lock, before its first change: a write
 * transaction before its first gdbm_store/gdbm_delete (volatile records and
 * purge deletes included), store_rebuild before gdbm_recover replaces the
 * file.  A writer killed part way has therefore already incremented it.
 * Creating the file needs no increment: no reader holds a handle of a file
 * that did not exist, and while a handle of a removed one is open its inode
 * number cannot be reused, so the identity check below tells them apart.  A
 * read transaction, holding the shared lock (so no writer is inside), reuses
 * the handle its thread kept if the generation equals the one read when that
 * handle was opened: no change can have happened since, so every byte GDBM
 * cached is still what the file holds.  Otherwise it opens a new handle.
 * Defence against writers that know nothing of the generation (an offline
 * tool holding the flock, a process still running a build without it): the
 * path's inode, size, mtime and ctime must also match the handle's, one
 * stat per transaction; the lock file must be the one whose page is mapped.
 * Handles are kept per thread (no two threads share a GDBM handle) and per
 * process (a child after fork() shares the file offset with its parent, so
 * it never uses a handle it inherited), only by readers, and never without
 * the shared page.  An open descriptor of a file that a rebuild unlinked is
 * harmless: the generation moved, so it is closed at the next read.
 *
 * Record format (persisted; bump STORE_REC_FORMAT to change it):
 *   key   = <type byte><caller's key bytes>
 *   value = <format byte = 1><expiry: u64 big-endian seconds, 0 = never><data>
 */
#include "store.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <gdbm.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#define STORE_REC_FORMAT 1
#define STORE_HDR_LEN 9 /* format byte + 8-byte expiry */
#define STORE_GKEY_MAX (1 + STORE_KEY_MAX)
#define STORE_DEFAULT_TIMEOUT_MS 2000u
#define STORE_FILE_FORMAT 1 /* value of the META "format" record */
#define STORE_PURGE_BATCH 256       /* deletes per write transaction */
#define STORE_PURGE_SCAN_KEYS 1024  /* expired keys collected per read transaction */
#define STORE_PURGE_ROUNDS_MAX 4096 /* scan rounds per purge: 4M expired records */
#define STORE_PURGE_RESTARTS 3      /* rescans from the start when the resume key went */
/* Buckets GDBM caches during a full scan.  Its automatic cache grows with
 * the directory, so a scan of a large file would cache every bucket: several
 * MB, freed at close but kept by malloc as the process's high-water mark. */
#define STORE_SCAN_CACHE 16
/* Bucket cache of a kept reader handle: bounded, since it lives as long as
 * the thread (GDBM's automatic size grows with the directory). */
#define STORE_READER_CACHE 32
/* A transaction that changed only volatile records still syncs if no sync of
 * the file started within this many milliseconds. */
#define STORE_VOLATILE_SYNC_MS 1000
/* Record types whose loss in an OS crash costs nothing that matters: a
 * rate-limit window restarts, a fetched document is fetched again, a login
 * in progress (authorization transaction, upstream state; minutes long)
 * starts over, and an MCP client whose session is gone gets 404 and
 * initializes again, as the transport specification has it. */
#define STORE_VOLATILE_TYPES                                                            \
	((1u << STORE_RATE) | (1u << STORE_CACHE) | (1u << STORE_TXN) | (1u << STORE_STATE) | \
	 (1u << STORE_MCPSESSION))

/* Backoff between LOCK_NB attempts, in microseconds.  The floor is close
 * to the kernel's default timer slack (50 us), the cap to a few write
 * transactions (one fsync each). */
#ifndef STORE_BACKOFF_MIN_US
#define STORE_BACKOFF_MIN_US 20L
#endif
#ifndef STORE_BACKOFF_MAX_US
#define STORE_BACKOFF_MAX_US 1000L
#endif
/*
 * GDBM_NOMMAP: GDBM then writes with pwrite(2), which a SIGKILL can only
 * cut at a page boundary, where a memcpy into a mapping can be cut
 * anywhere.  Killing busy writers at random points (with the rebuild in
 * store_repair) tore a bucket about once per 12,000 kills with it and
 * once per 3,500 kills with mmap; each tear lost the 60-160 records of
 * that bucket.  Without the rebuild, 3 of 4 runs of 3,000 kills ended with
 * an unreadable file.  NOMMAP was also faster here for open-per-
 * transaction use (no mmap and msync of the whole file each time); a
 * writer's gdbm_close() then fsyncs instead of msyncing.
 */
#ifndef STORE_GDBM_EXTRA_FLAGS
#define STORE_GDBM_EXTRA_FLAGS GDBM_NOMMAP
#endif

static const char store_meta_format_key[] = "format";

/* First page of <path>.lock.  A new layout needs a new magic. */
#define STORE_SHM_MAGIC 0x4d43504753544c31ULL /* "MCPGSTL1" */
#define STORE_SHM_SIZE 4096
#define STORE_BOOT_ID_LEN 40
struct store_shm {
	uint64_t magic;
	uint32_t mutex_size; /* sizeof(pthread_mutex_t) of the initialiser */
	/* Set by a writer (under the turnstile) while it is inside GDBM; still
	 * set when the next process gets the turnstile means it died there. */
	uint32_t dirty;
	char boot_id[STORE_BOOT_ID_LEN]; /* the boot that initialised the mutex */
	pthread_mutex_t turnstile;
	/* CLOCK_MONOTONIC ms when the last sync of the data file was decided;
	 * 0: none this boot.  Appended: processes of the previous layout
	 * ignore it, so the magic stays. */
	_Atomic uint64_t synced_ms;
	/* Incremented under the exclusive lock before anything changes the
	 * data file (see "Reader handles kept open").  Appended like
	 * synced_ms; never reset, so a value is never seen twice this boot. */
	_Atomic uint64_t write_gen;
};
_Static_assert(sizeof(struct store_shm) <= STORE_SHM_SIZE, "store_shm fits its page");

struct store {
	char *path;
	char *lockpath;
	char *dirpath; /* the directory holding path */
	struct store_shm *shm; /* MAP_SHARED view of the lock file; NULL: flock only */
	unsigned timeout_ms;
	/* Empty memfd that stands in for the data file at a writer's
	 * gdbm_close, so that GDBM's fsync happens after the unlock, on a
	 * duplicate; -1: GDBM syncs under the lock, as it does by itself. */
	int sinkfd;
	atomic_int sink_off; /* set for good if GDBM ever wrote to the sink */
	uint64_t id;         /* unique in the process: names the store a kept handle is of */
	dev_t lock_dev;      /* the lock file whose first page shm maps */
	ino_t lock_ino;
};

/* A thread's kept reader handle (see "Reader handles kept open"). */
struct store_rhandle {
	GDBM_FILE dbf;   /* NULL: none */
	uint64_t store_id;
	uint64_t gen;    /* shm->write_gen when dbf was opened */
	pid_t pid;       /* the process that opened dbf */
	dev_t dev;       /* the data file dbf reads, as it was then */
	ino_t ino;
	off_t size;
	struct timespec mtim, ctim;
};

struct store_txn {
	const struct store *st;
	GDBM_FILE dbf; /* NULL: read transaction on a file that does not exist yet */
	int write;
	int holds_turnstile;
	int changed; /* wrote or deleted anything */
	int lock_mapped; /* the locked lock file is the one whose page shm maps */
	int kept;        /* dbf is the thread's kept reader handle */
	int durable; /* changed a record that must be on disk before the acknowledgement */
	time_t now;
};

/* A GDBM key built from type + caller key, in a caller-provided buffer. */
struct store_gkey {
	unsigned char buf[STORE_GKEY_MAX];
	datum d;
};

/* ---- small helpers ---------------------------------------------------- */

static const char *
store_qpath(const struct store *st, char *buf, size_t bufsz)
{
	return log_quote(buf, bufsz, st->path);
}

static void
store_log_gdbm(const struct store_txn *tx, const char *what)
{
	int saved = errno;
	int gerr = tx->dbf != NULL ? (int)gdbm_last_errno(tx->dbf) : gdbm_errno;
	char q[256];

	log_msg(LOG_ERROR, "msg=\"store: %s failed\" file=%s gdbm=\"%s\" errno=\"%s\"", what,
		store_qpath(tx->st, q, sizeof(q)), gdbm_strerror(gerr),
		gdbm_check_syserr(gerr) ? strerror(saved) : "-");
}

static void
store_log_corrupt(const struct store_txn *tx, const datum *gkey, const char *why)
{
	char q[256];

	log_msg(LOG_ERROR, "msg=\"store: corrupt record\" file=%s type=%u keylen=%d why=\"%s\"",
		store_qpath(tx->st, q, sizeof(q)),
		gkey->dsize > 0 ? (unsigned)(unsigned char)gkey->dptr[0] : 0u, gkey->dsize - 1, why);
}

static void
store_datum_free(datum *d)
{
	if (d->dptr != NULL) {
		explicit_bzero(d->dptr, (size_t)d->dsize);
		free(d->dptr);
	}
	d->dptr = NULL;
	d->dsize = 0;
}

static int
store_is_expired(time_t expires, time_t now)
{
	return expires != 0 && expires <= now;
}

static int
store_gkey_make(struct store_gkey *k, enum store_type type, const void *key, size_t keylen)
{
	if ((unsigned)type >= STORE_TYPE__MAX || keylen > STORE_KEY_MAX ||
	    (key == NULL && keylen > 0)) {
		log_msg(LOG_ERROR, "msg=\"store: bad key\" type=%d keylen=%zu", (int)type, keylen);
		return STORE_ERROR;
	}
	k->buf[0] = (unsigned char)type;
	if (keylen > 0)
		memcpy(k->buf + 1, key, keylen);
	k->d.dptr = (char *)k->buf;
	k->d.dsize = (int)(keylen + 1);
	return STORE_OK;
}

static int
store_value_check(const void *data, size_t len, time_t expires)
{
	if (len > STORE_VALUE_MAX || (data == NULL && len > 0) || expires < 0) {
		log_msg(LOG_ERROR, "msg=\"store: bad value\" len=%zu expires=%lld", len,
			(long long)expires);
		return STORE_ERROR;
	}
	return STORE_OK;
}

/* ---- record encoding --------------------------------------------------- */

/* Check the header of a raw value; on success fill v with a view into rec. */
static int
store_rec_parse(const struct store_txn *tx, const datum *gkey, const datum *rec,
		struct store_val *v)
{
	const unsigned char *p = (const unsigned char *)rec->dptr;
	uint64_t e = 0;

	if (rec->dsize < STORE_HDR_LEN) {
		store_log_corrupt(tx, gkey, "short header");
		return STORE_ERROR;
	}
	if (p[0] != STORE_REC_FORMAT) {
		store_log_corrupt(tx, gkey, "unknown format");
		return STORE_ERROR;
	}
	for (int i = 1; i < STORE_HDR_LEN; i++)
		e = e << 8 | p[i];
	if (e > (uint64_t)INT64_MAX || (size_t)rec->dsize - STORE_HDR_LEN > STORE_VALUE_MAX) {
		store_log_corrupt(tx, gkey, "bad expiry or length");
		return STORE_ERROR;
	}
	v->data = (void *)(p + STORE_HDR_LEN);
	v->len = (size_t)rec->dsize - STORE_HDR_LEN;
	v->expires = (time_t)e;
	return STORE_OK;
}

/* Build header + data in a malloc'd datum (wiped and freed by the caller). */
static int
store_rec_build(const void *data, size_t len, time_t expires, datum *out)
{
	unsigned char *p = malloc(STORE_HDR_LEN + len);
	uint64_t e = (uint64_t)expires;

	if (p == NULL) {
		log_msg(LOG_ERROR, "msg=\"store: out of memory\" len=%zu", len);
		return STORE_ERROR;
	}
	p[0] = STORE_REC_FORMAT;
	for (int i = STORE_HDR_LEN - 1; i >= 1; i--, e >>= 8)
		p[i] = (unsigned char)(e & 0xff);
	if (len > 0)
		memcpy(p + STORE_HDR_LEN, data, len);
	out->dptr = (char *)p;
	out->dsize = (int)(STORE_HDR_LEN + len);
	return STORE_OK;
}

/* ---- raw GDBM access inside a transaction ------------------------------ */

/* Before the first change to the data file, under the exclusive lock:
 * readers' kept handles are stale from here on. */
static void
store_gen_bump(const struct store *st)
{
	if (st->shm != NULL)
		atomic_fetch_add_explicit(&st->shm->write_gen, 1, memory_order_release);
}

/*
 * Note a change at gkey before making it (a failed GDBM call may still have
 * written part of it).  visible = 0 for a change no reader can tell from
 * its absence (deleting an expired record), which needs no sync; so does
 * a change to a volatile type.  Unknown type bytes count as durable.
 */
static void
store_note_change(struct store_txn *tx, const datum *gkey, int visible)
{
	unsigned type = gkey->dsize > 0 ? (unsigned char)gkey->dptr[0] : 0u;

	if (!tx->changed)
		store_gen_bump(tx->st);
	tx->changed = 1;
	if (visible && (type >= 32 || ((1u << type) & STORE_VOLATILE_TYPES) == 0))
		tx->durable = 1;
}

/* OK with *rec malloc'd, NOTFOUND, or ERROR (logged). */
static int
store_raw_fetch(struct store_txn *tx, const datum *gkey, datum *rec)
{
	rec->dptr = NULL;
	rec->dsize = 0;
	if (tx->dbf == NULL)
		return STORE_NOTFOUND;
	*rec = gdbm_fetch(tx->dbf, *gkey);
	if (rec->dptr != NULL)
		return STORE_OK;
	if (gdbm_last_errno(tx->dbf) == GDBM_ITEM_NOT_FOUND)
		return STORE_NOTFOUND;
	store_log_gdbm(tx, "fetch");
	return STORE_ERROR;
}

static int
store_raw_put(struct store_txn *tx, const datum *gkey, const void *data, size_t len,
	      time_t expires)
{
	datum rec;
	int rc;

	if (store_value_check(data, len, expires) != STORE_OK)
		return STORE_ERROR;
	if (store_rec_build(data, len, expires, &rec) != STORE_OK)
		return STORE_ERROR;
	rc = STORE_OK;
	store_note_change(tx, gkey, 1);
	if (gdbm_store(tx->dbf, *gkey, rec, GDBM_REPLACE) != 0) {
		store_log_gdbm(tx, "store");
		rc = STORE_ERROR;
	}
	store_datum_free(&rec);
	return rc;
}

/* visible: see store_note_change. */
static int
store_raw_delete(struct store_txn *tx, const datum *gkey, int visible)
{
	store_note_change(tx, gkey, visible);
	if (gdbm_delete(tx->dbf, *gkey) == 0)
		return STORE_OK;
	if (gdbm_last_errno(tx->dbf) == GDBM_ITEM_NOT_FOUND)
		return STORE_NOTFOUND;
	store_log_gdbm(tx, "delete");
	return STORE_ERROR;
}

static int
store_txn_writable(const struct store_txn *tx, const char *op)
{
	char q[256];

	if (tx != NULL && tx->write && tx->dbf != NULL)
		return STORE_OK;
	log_msg(LOG_ERROR, "msg=\"store: %s in a read-only transaction\" file=%s", op,
		tx != NULL ? store_qpath(tx->st, q, sizeof(q)) : "-");
	return STORE_ERROR;
}

/*
 * Fetch and validate the live record at gkey.  OK: *rec holds the raw value
 * (caller frees with store_datum_free) and *v a view into it.  NOTFOUND if
 * absent or expired; with present != NULL, *present tells whether a raw
 * (possibly expired) record exists.  ERROR if unreadable or corrupt.
 */
static int
store_live_fetch(struct store_txn *tx, const datum *gkey, datum *rec, struct store_val *v,
		 int *present)
{
	int rc = store_raw_fetch(tx, gkey, rec);

	if (present != NULL)
		*present = rc == STORE_OK;
	if (rc != STORE_OK)
		return rc;
	rc = store_rec_parse(tx, gkey, rec, v);
	if (rc == STORE_OK && store_is_expired(v->expires, tx->now))
		rc = STORE_NOTFOUND;
	if (rc != STORE_OK)
		store_datum_free(rec);
	return rc;
}

/* ---- locking ------------------------------------------------------------ */

static void
store_deadline(struct timespec *dl, unsigned ms)
{
	clock_gettime(CLOCK_MONOTONIC, dl);
	dl->tv_sec += (time_t)(ms / 1000);
	dl->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (dl->tv_nsec >= 1000000000L) {
		dl->tv_sec++;
		dl->tv_nsec -= 1000000000L;
	}
}

/* Microseconds left until dl (0 if passed). */
static long
store_remaining_us(const struct timespec *dl, struct timespec *now)
{
	long long us;

	clock_gettime(CLOCK_MONOTONIC, now);
	us = (long long)(dl->tv_sec - now->tv_sec) * 1000000LL +
	     (dl->tv_nsec - now->tv_nsec) / 1000;
	return us > 0 ? (us > LONG_MAX ? LONG_MAX : (long)us) : 0;
}

/* flock(op) with LOCK_NB retries until dl: OK, BUSY, or ERROR (errno set). */
static int
store_flock_until(int fd, int op, const struct timespec *dl)
{
	long delay = STORE_BACKOFF_MIN_US;

	for (;;) {
		struct timespec now, ts;
		long left, sleep_us;

		if (flock(fd, op | LOCK_NB) == 0)
			return STORE_OK;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return STORE_ERROR;
		left = store_remaining_us(dl, &now);
		if (left == 0)
			return STORE_BUSY;
		/* Jitter from the clock keeps waiters from retrying in lockstep. */
		sleep_us = delay + (long)((unsigned long)now.tv_nsec / 1000 % (unsigned long)delay);
		if (sleep_us > left)
			sleep_us = left;
		ts.tv_sec = sleep_us / 1000000;
		ts.tv_nsec = (sleep_us % 1000000) * 1000;
		nanosleep(&ts, NULL);
		if (delay < STORE_BACKOFF_MAX_US)
			delay = delay * 2 > STORE_BACKOFF_MAX_US ? STORE_BACKOFF_MAX_US : delay * 2;
	}
}

static int
store_open_lockfile(const char *path)
{
	char q[256];
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		log_msg(LOG_ERROR, "msg=\"store: cannot open lock file\" file=%s errno=\"%s\"",
			log_quote(q, sizeof(q), path), strerror(errno));
	return fd;
}

/* Is fd still the file at path?  A lock on an unlinked lock file excludes
 * nobody who opens the path afresh. */
static int
store_fd_is_path(int fd, const char *path, struct stat *a)
{
	struct stat b;

	return fstat(fd, a) == 0 && stat(path, &b) == 0 && a->st_dev == b.st_dev &&
	       a->st_ino == b.st_ino;
}

/*
 * Nesting guard.  A transaction inside another on the same thread would
 * wait for locks that thread itself holds; thread-local because one struct
 * store serves many threads.
 */
static _Thread_local int store_txn_depth;

/* Queue on the turnstile until dl: OK (*held says whether it is held),
 * BUSY or ERROR (logged). */
static int
store_turnstile_lock(const struct store *st, const struct timespec *dl, int *held)
{
	int rc;

	*held = 0;
	if (st->shm == NULL)
		return STORE_OK;
	rc = pthread_mutex_clocklock(&st->shm->turnstile, CLOCK_MONOTONIC, dl);
	switch (rc) {
	case 0:
		*held = 1;
		return STORE_OK;
	case EOWNERDEAD:
		/* Its holder died; the kernel dropped its flock too.  If it was
		 * inside GDBM, shm->dirty is still set and store_lock repairs. */
		pthread_mutex_consistent(&st->shm->turnstile);
		log_msg(LOG_WARN, "msg=\"store: a process died holding the turnstile\"");
		*held = 1;
		return STORE_OK;
	case ETIMEDOUT:
		return STORE_BUSY;
	case EDEADLK:
		/* Not nesting (store_txn_depth rules that out): the owner has our
		 * thread id in another PID namespace.  The flock alone is still
		 * correct, just not fair. */
		log_msg(LOG_WARN, "msg=\"store: turnstile owner shares our thread id\"");
		return STORE_OK;
	default:
		log_msg(LOG_ERROR, "msg=\"store: turnstile failed\" errno=\"%s\"", strerror(rc));
		return STORE_ERROR;
	}
}

/* The data lock on a fresh descriptor of the current lock file; *mapped
 * (may be NULL): is that the file whose page shm maps? */
static int
store_data_lock(const struct store *st, int write, const struct timespec *dl, int *lockfd,
		int *mapped)
{
	struct stat sb;
	int fd, rc = STORE_ERROR;

	for (int attempt = 0; attempt < 3; attempt++) {
		if ((fd = store_open_lockfile(st->lockpath)) < 0)
			return STORE_ERROR;
		rc = store_flock_until(fd, write ? LOCK_EX : LOCK_SH, dl);
		if (rc == STORE_OK && store_fd_is_path(fd, st->lockpath, &sb)) {
			*lockfd = fd;
			if (mapped != NULL)
				*mapped = st->shm != NULL && sb.st_dev == st->lock_dev &&
					  sb.st_ino == st->lock_ino;
			return STORE_OK;
		}
		close(fd);
		if (rc != STORE_OK)
			break;
		rc = STORE_ERROR; /* the lock file was replaced: lock the new one */
	}
	if (rc == STORE_ERROR)
		log_msg(LOG_ERROR, "msg=\"store: data lock failed\" errno=\"%s\"", strerror(errno));
	return rc;
}

/* After a failed gdbm_open: was the file just missing or empty? */
static int
store_gdbm_absent(void)
{
	return (gdbm_errno == GDBM_FILE_OPEN_ERROR && errno == ENOENT) ||
	       gdbm_errno == GDBM_EMPTY_DATABASE;
}

/* Make a new or renamed directory entry of the data file durable. */
static int
store_sync_dir(const struct store *st)
{
	char q[256];
	int fd = open(st->dirpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = -1;

	if (fd >= 0) {
		rc = fsync(fd);
		close(fd);
	}
	if (rc != 0)
		log_msg(LOG_ERROR, "msg=\"store: directory sync failed\" dir=%s errno=\"%s\"",
			log_quote(q, sizeof(q), st->dirpath), strerror(errno));
	return rc;
}

/*
 * Rebuild the file from every record its directory still reaches.  First
 * with zero tolerance, which leaves the file untouched if anything is
 * unreadable; failing that, salvage what can be read and keep the damaged
 * file as a backup for the operator.
 */
static int
store_rebuild(const struct store *st)
{
	const int oflags = GDBM_WRITER | GDBM_NOLOCK | GDBM_CLOEXEC | STORE_GDBM_EXTRA_FLAGS;
	gdbm_recovery r = {.max_failures = 1};
	GDBM_FILE dbf;
	char q[256];
	int rc = -1;

	/* gdbm_recover replaces the file: no kept handle may read on. */
	store_gen_bump(st);
	for (int pass = 0; pass < 2 && rc != 0; pass++) {
		int flags = GDBM_RCVR_FORCE | (pass == 0 ? GDBM_RCVR_MAX_FAILURES : GDBM_RCVR_BACKUP);

		dbf = gdbm_open(st->path, 0, oflags, 0600, NULL);
		if (dbf == NULL)
			return store_gdbm_absent() ? 0 : -1; /* nothing written: nothing to repair */
		rc = gdbm_recover(dbf, &r, flags);
		if (gdbm_close(dbf) != 0) /* syncs the new file, under the lock */
			rc = -1;
	}
	/* gdbm_recover renamed the new file over the old one. */
	if (rc == 0 && store_sync_dir(st) != 0)
		rc = -1;
	log_msg(rc == 0 && r.backup_name == NULL ? LOG_INFO : LOG_WARN,
		"msg=\"store: rebuilt after a writer died\" file=%s ok=%d keys=%zu failed_keys=%zu "
		"failed_buckets=%zu backup=%s",
		store_qpath(st, q, sizeof(q)), rc == 0, r.recovered_keys, r.failed_keys,
		r.failed_buckets, r.backup_name != NULL ? r.backup_name : "-");
	free(r.backup_name);
	return rc;
}

/*
 * A writer died inside GDBM, possibly half way through writing buckets, the
 * directory or the header.  gdbm_recover's own check misses some of that
 * (a stale free list shows up only when a later store overwrites live
 * data), so rebuild unconditionally.  Under the exclusive lock; the caller
 * holds the turnstile.  Rare, and proportional to the file size.
 */
static int
store_repair(const struct store *st, const struct timespec *dl)
{
	int fd, rc;

	if ((rc = store_data_lock(st, 1, dl, &fd, NULL)) != STORE_OK)
		return rc;
	if (store_rebuild(st) == 0) {
		st->shm->dirty = 0;
	} else {
		log_msg(LOG_ERROR, "msg=\"store: recovery failed\" gdbm=\"%s\"",
			gdbm_strerror(gdbm_errno));
		rc = STORE_ERROR;
	}
	close(fd);
	return rc;
}

/* Turnstile, repair if needed, data lock.  A writer keeps the turnstile
 * until the end of its transaction. */
static int
store_lock(struct store_txn *tx, int *lockfd)
{
	const struct store *st = tx->st;
	struct timespec dl;
	int rc;

	store_deadline(&dl, st->timeout_ms);
	rc = store_turnstile_lock(st, &dl, &tx->holds_turnstile);
	if (rc != STORE_OK)
		return rc;
	if (tx->holds_turnstile && st->shm->dirty)
		rc = store_repair(st, &dl);
	if (rc == STORE_OK)
		rc = store_data_lock(st, tx->write, &dl, lockfd, &tx->lock_mapped);
	if (rc == STORE_OK && tx->write)
		return STORE_OK;
	if (tx->holds_turnstile)
		pthread_mutex_unlock(&st->shm->turnstile);
	tx->holds_turnstile = 0;
	return rc;
}

/* ---- kept reader handles -------------------------------------------------- */

/* Reader opens of the data file in this process; a test reads it to check
 * that handles are kept.  Declared here, not in store.h: not an interface. */
uint64_t store_debug_reader_opens(void);
static _Atomic uint64_t store_reader_opens;
static _Atomic uint64_t store_next_id = 1;
static pthread_key_t store_rhandle_key;
static pthread_once_t store_rhandle_once = PTHREAD_ONCE_INIT;
static int store_rhandle_key_ok;

uint64_t
store_debug_reader_opens(void)
{
	return atomic_load(&store_reader_opens);
}

/* Close a kept handle.  One inherited over fork() is closed too: that only
 * frees memory and closes this process's copy of the descriptor. */
static void
store_rhandle_drop(struct store_rhandle *h)
{
	if (h->dbf != NULL)
		gdbm_close(h->dbf);
	h->dbf = NULL;
}

/* Thread exit. */
static void
store_rhandle_free(void *p)
{
	store_rhandle_drop(p);
	free(p);
}

static void
store_rhandle_key_init(void)
{
	store_rhandle_key_ok = pthread_key_create(&store_rhandle_key, store_rhandle_free) == 0;
}

/* This thread's slot, created on first use; NULL: no reuse (out of memory). */
static struct store_rhandle *
store_rhandle_get(void)
{
	struct store_rhandle *h;

	if (pthread_once(&store_rhandle_once, store_rhandle_key_init) != 0 || !store_rhandle_key_ok)
		return NULL;
	h = pthread_getspecific(store_rhandle_key);
	if (h != NULL)
		return h;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	if (pthread_setspecific(store_rhandle_key, h) != 0) {
		free(h);
		return NULL;
	}
	return h;
}

void
store_release_reader(void)
{
	struct store_rhandle *h;

	if (pthread_once(&store_rhandle_once, store_rhandle_key_init) != 0 || !store_rhandle_key_ok)
		return;
	if ((h = pthread_getspecific(store_rhandle_key)) != NULL)
		store_rhandle_drop(h);
}

/* Is the file at the store's path still the one h read, unchanged? */
static int
store_rhandle_same_file(const struct store_rhandle *h, const struct store *st)
{
	struct stat sb;

	return stat(st->path, &sb) == 0 && sb.st_dev == h->dev && sb.st_ino == h->ino &&
	       sb.st_size == h->size && sb.st_mtim.tv_sec == h->mtim.tv_sec &&
	       sb.st_mtim.tv_nsec == h->mtim.tv_nsec && sb.st_ctim.tv_sec == h->ctim.tv_sec &&
	       sb.st_ctim.tv_nsec == h->ctim.tv_nsec;
}

/*
 * A read transaction, under the shared lock: use the thread's kept handle if
 * nothing changed the file since it was opened.  1: tx->dbf is set.  0: open
 * one (the stale handle, if any, is closed), and keep it if *h is non-NULL.
 */
static int
store_rhandle_use(struct store_txn *tx, struct store_rhandle **hp, uint64_t *gen)
{
	const struct store *st = tx->st;
	struct store_rhandle *h;

	*hp = NULL;
	if (st->shm == NULL || !tx->lock_mapped || (h = store_rhandle_get()) == NULL)
		return 0;
	/* The shared flock was taken after the last writer's increment, before
	 * its unlock, so this load sees it. */
	*gen = atomic_load_explicit(&st->shm->write_gen, memory_order_acquire);
	if (h->dbf != NULL && h->pid == getpid() && h->store_id == st->id && h->gen == *gen &&
	    store_rhandle_same_file(h, st)) {
		tx->dbf = h->dbf;
		tx->kept = 1;
		return 1;
	}
	store_rhandle_drop(h);
	*hp = h;
	return 0;
}

/* Keep the handle just opened for the thread's next read transactions. */
static void
store_rhandle_keep(struct store_txn *tx, struct store_rhandle *h, uint64_t gen)
{
	size_t n = STORE_READER_CACHE;
	struct stat sb;

	if (fstat(gdbm_fdesc(tx->dbf), &sb) != 0)
		return;
	(void)gdbm_setopt(tx->dbf, GDBM_SETCACHESIZE, &n, sizeof(n)); /* only memory */
	h->dbf = tx->dbf;
	h->store_id = tx->st->id;
	h->gen = gen;
	h->pid = getpid();
	h->dev = sb.st_dev;
	h->ino = sb.st_ino;
	h->size = sb.st_size;
	h->mtim = sb.st_mtim;
	h->ctim = sb.st_ctim;
	tx->kept = 1;
}

/* End of a read transaction on the kept handle: keep it unless GDBM or the
 * callback reported an error (GDBM may then refuse every later call). */
static void
store_rhandle_release(struct store_txn *tx, int rc)
{
	struct store_rhandle *h;

	if (!tx->kept)
		return;
	if ((rc == STORE_ERROR || gdbm_needs_recovery(tx->dbf)) &&
	    (h = store_rhandle_get()) != NULL && h->dbf == tx->dbf)
		store_rhandle_drop(h);
	tx->dbf = NULL;
	tx->kept = 0;
}

/* ---- transactions -------------------------------------------------------- */

static int
store_db_open(struct store_txn *tx)
{
	int flags = GDBM_NOLOCK | GDBM_CLOEXEC | STORE_GDBM_EXTRA_FLAGS;
	struct store_rhandle *h = NULL;
	uint64_t gen = 0;

	if (!tx->write && store_rhandle_use(tx, &h, &gen))
		return STORE_OK;
	flags |= tx->write ? GDBM_WRCREAT : GDBM_READER;
	tx->dbf = gdbm_open(tx->st->path, 0, flags, 0600, NULL);
	if (!tx->write)
		atomic_fetch_add_explicit(&store_reader_opens, 1, memory_order_relaxed);
	if (tx->dbf != NULL && h != NULL)
		store_rhandle_keep(tx, h, gen);
	if (tx->dbf != NULL)
		return STORE_OK;
	/* Nothing written yet is an empty store, not an error, for readers. */
	if (!tx->write && store_gdbm_absent())
		return STORE_OK;
	store_log_gdbm(tx, "open");
	return STORE_ERROR;
}

/* ---- syncing -------------------------------------------------------------- */

static uint64_t
store_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/*
 * Must this write transaction sync before it is acknowledged?  Decided under
 * the locks, after its last change; a sync decided now covers every change
 * made before it, so the time is claimed now (other processes' volatile
 * transactions in the next second then skip theirs).
 */
static int
store_sync_needed(const struct store_txn *tx)
{
	struct store_shm *shm = tx->st->shm;
	uint64_t now, last;

	if (!tx->changed)
		return 0;
	if (shm == NULL)
		return 1; /* no shared clock: sync as if durable */
	now = store_mono_ms();
	if (!tx->durable) {
		last = atomic_load_explicit(&shm->synced_ms, memory_order_relaxed);
		if (last != 0 && last <= now && now - last < STORE_VOLATILE_SYNC_MS)
			return 0;
	}
	atomic_store_explicit(&shm->synced_ms, now, memory_order_relaxed);
	return 1;
}

/*
 * The data file was replaced between our unlock and our sync, so the sync
 * went to the old inode.  Whoever replaced it copied our records under the
 * exclusive lock; a shared lock waits for it to finish.  Then sync the file
 * now at the path, and its directory entry.
 */
static int
store_sync_replaced(const struct store *st)
{
	struct timespec dl;
	char q[256];
	int lockfd, fd, rc;

	store_deadline(&dl, st->timeout_ms);
	if ((rc = store_data_lock(st, 0, &dl, &lockfd, NULL)) != STORE_OK)
		return rc;
	fd = open(st->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		log_msg(LOG_WARN, "msg=\"store: file removed before its write was synced\" file=%s",
			store_qpath(st, q, sizeof(q)));
	} else if (fd < 0 || fdatasync(fd) != 0 || store_sync_dir(st) != 0) {
		log_msg(LOG_ERROR, "msg=\"store: sync of the replaced file failed\" file=%s errno=\"%s\"",
			store_qpath(st, q, sizeof(q)), strerror(errno));
		rc = STORE_ERROR;
	}
	if (fd >= 0)
		close(fd);
	close(lockfd);
	return rc;
}

/* After the unlock: put a writer's changes on disk, then close fd. */
static int
store_sync_file(const struct store *st, int fd)
{
	struct stat sb;
	char q[256];
	int rc = STORE_OK;

	if (fdatasync(fd) != 0) {
		log_msg(LOG_ERROR, "msg=\"store: sync failed\" file=%s errno=\"%s\"",
			store_qpath(st, q, sizeof(q)), strerror(errno));
		rc = STORE_ERROR;
	} else if (!store_fd_is_path(fd, st->path, &sb)) {
		rc = store_sync_replaced(st);
	}
	close(fd);
	return rc;
}

/* Did GDBM write to the sink?  Then it wrote at close what belonged in the
 * file: fail this transaction (dirty stays set, so the next rebuilds the
 * file) and let GDBM sync under the lock from now on. */
static int
store_sink_check(struct store_txn *tx)
{
	struct store *st = (struct store *)tx->st;
	struct stat sb;

	if (fstat(st->sinkfd, &sb) == 0 && sb.st_size == 0)
		return STORE_OK;
	atomic_store(&st->sink_off, 1);
	if (ftruncate(st->sinkfd, 0) != 0)
		sb.st_size = -1;
	log_msg(LOG_ERROR, "msg=\"store: GDBM wrote at close; syncing under the lock from now on\" "
			   "bytes=%lld",
		(long long)sb.st_size);
	return STORE_ERROR;
}

/*
 * Close GDBM's handle under the locks.  A reader just closes.  A writer
 * first takes a duplicate of the data file's descriptor (if it must sync)
 * and swaps the sink in under GDBM's descriptor number, so gdbm_close's
 * fsync is a no-op; *syncfd (-1: nothing to sync) is for store_sync_file
 * after the unlock.  The swap is safe with threads: the number stays ours
 * until gdbm_close closes it.
 */
static int
store_db_close(struct store_txn *tx, int *syncfd)
{
	struct store *st = (struct store *)tx->st;
	int keep = -1, swapped = 0, rc = STORE_OK;

	*syncfd = -1;
	if (tx->dbf == NULL)
		return STORE_OK;
	if (tx->write && st->sinkfd >= 0 && !atomic_load(&st->sink_off)) {
		int gfd = gdbm_fdesc(tx->dbf);
		int need = store_sync_needed(tx);

		if (need)
			keep = fcntl(gfd, F_DUPFD_CLOEXEC, 0);
		/* Without a duplicate to sync later, GDBM syncs its own. */
		if ((!need || keep >= 0) && dup3(st->sinkfd, gfd, O_CLOEXEC) >= 0)
			swapped = 1;
	}
	if (gdbm_close(tx->dbf) != 0) {
		tx->dbf = NULL;
		store_log_gdbm(tx, "close");
		rc = STORE_ERROR;
	}
	tx->dbf = NULL;
	if (swapped && store_sink_check(tx) != STORE_OK)
		rc = STORE_ERROR;
	if (keep >= 0 && (rc != STORE_OK || !swapped)) {
		close(keep); /* GDBM synced itself, or the file needs repair */
		keep = -1;
	}
	*syncfd = keep;
	return rc;
}

/* Open, run fn, close; a writer brackets this with shm->dirty.  *syncfd as
 * for store_db_close. */
static int
store_txn_run(struct store_txn *tx, int (*fn)(struct store_txn *tx, void *arg), void *arg,
	      int *syncfd)
{
	struct store_shm *shm = tx->holds_turnstile ? tx->st->shm : NULL;
	int rc;

	*syncfd = -1;
	if (shm != NULL)
		shm->dirty = 1;
	tx->now = time(NULL);
	rc = store_db_open(tx);
	if (rc != STORE_OK)
		return rc;
	rc = fn(tx, arg);
	store_rhandle_release(tx, rc);
	if (store_db_close(tx, syncfd) != STORE_OK)
		return STORE_ERROR; /* dirty stays set: the next one checks */
	/* GDBM's last write is done: from here on a kill leaves the file whole. */
	if (shm != NULL)
		shm->dirty = 0;
	return rc;
}

int
store_txn(struct store *st, int write, int (*fn)(struct store_txn *tx, void *arg), void *arg)
{
	struct store_txn tx = {.st = st, .write = write != 0};
	int lockfd = -1, syncfd, rc;
	char q[256];

	if (st == NULL || fn == NULL)
		return STORE_ERROR;
	if (store_txn_depth > 0) {
		log_msg(LOG_ERROR, "msg=\"store: nested transaction\"");
		return STORE_ERROR;
	}
	rc = store_lock(&tx, &lockfd);
	if (rc == STORE_BUSY)
		log_msg(LOG_WARN, "msg=\"store: lock timeout\" file=%s write=%d ms=%u",
			store_qpath(st, q, sizeof(q)), tx.write, st->timeout_ms);
	if (rc != STORE_OK)
		return rc;
	store_txn_depth++;
	rc = store_txn_run(&tx, fn, arg, &syncfd);
	store_txn_depth--;
	/* Data lock first: a reader let in by the turnstile must find it free. */
	close(lockfd);
	if (tx.holds_turnstile)
		pthread_mutex_unlock(&st->shm->turnstile);
	/* Group commit: other writers run (and sync) while this one syncs.
	 * fn's result stands unless the sync failed after a success. */
	if (syncfd >= 0 && store_sync_file(st, syncfd) != STORE_OK && rc == STORE_OK)
		rc = STORE_ERROR;
	return rc;
}

time_t
store_txn_now(const struct store_txn *tx)
{
	return tx != NULL ? tx->now : 0;
}

int
store_txn_get(struct store_txn *tx, enum store_type type, const void *key, size_t keylen,
	      struct store_val *out)
{
	struct store_gkey k;
	struct store_val v;
	datum rec;
	int rc;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (tx == NULL || store_gkey_make(&k, type, key, keylen) != STORE_OK)
		return STORE_ERROR;
	rc = store_live_fetch(tx, &k.d, &rec, &v, NULL);
	if (rc != STORE_OK)
		return rc;
	if (out == NULL) {
		store_datum_free(&rec);
		return STORE_OK;
	}
	/* Hand GDBM's buffer to the caller: slide the data over the header
	 * and wipe the stale tail. */
	memmove(rec.dptr, v.data, v.len);
	explicit_bzero(rec.dptr + v.len, STORE_HDR_LEN);
	out->data = rec.dptr;
	out->len = v.len;
	out->expires = v.expires;
	return STORE_OK;
}

int
store_txn_put(struct store_txn *tx, enum store_type type, const void *key, size_t keylen,
	      const void *data, size_t len, time_t expires, int flags)
{
	struct store_gkey k;
	struct store_val v;
	datum rec;
	int rc;

	if (store_txn_writable(tx, "put") != STORE_OK ||
	    store_gkey_make(&k, type, key, keylen) != STORE_OK ||
	    store_value_check(data, len, expires) != STORE_OK ||
	    (flags != STORE_PUT_REPLACE && flags != STORE_PUT_INSERT))
		return STORE_ERROR;
	if (flags == STORE_PUT_INSERT) {
		rc = store_live_fetch(tx, &k.d, &rec, &v, NULL);
		if (rc == STORE_OK) {
			store_datum_free(&rec);
			return STORE_EXISTS;
		}
		if (rc != STORE_NOTFOUND)
			return rc;
	}
	return store_raw_put(tx, &k.d, data, len, expires);
}

int
store_txn_del(struct store_txn *tx, enum store_type type, const void *key, size_t keylen)
{
	struct store_gkey k;
	struct store_val v;
	datum rec;
	int rc, present, drc;

	if (store_txn_writable(tx, "delete") != STORE_OK ||
	    store_gkey_make(&k, type, key, keylen) != STORE_OK)
		return STORE_ERROR;
	rc = store_live_fetch(tx, &k.d, &rec, &v, &present);
	if (rc == STORE_OK)
		store_datum_free(&rec);
	if (!present)
		return rc;
	/* Expired and corrupt records go too: deleting is what was asked.
	 * An expired one already reads as absent, so losing that delete in an
	 * OS crash changes nothing anyone can see. */
	drc = store_raw_delete(tx, &k.d, rc != STORE_NOTFOUND);
	if (drc == STORE_ERROR)
		return STORE_ERROR;
	return rc == STORE_NOTFOUND ? STORE_NOTFOUND : STORE_OK;
}

/* Keep GDBM's bucket cache small for a full scan (see STORE_SCAN_CACHE). */
static void
store_scan_cache(struct store_txn *tx)
{
	size_t n = STORE_SCAN_CACHE;

	/* Failure only costs memory. */
	(void)gdbm_setopt(tx->dbf, GDBM_SETCACHESIZE, &n, sizeof(n));
}

/* Does raw GDBM key gk belong to type and start with prefix? */
static int
store_key_matches(const datum *gk, enum store_type type, const void *prefix, size_t prefixlen)
{
	if (gk->dsize < 1 || (unsigned char)gk->dptr[0] != (unsigned char)type)
		return 0;
	if ((size_t)gk->dsize - 1 < prefixlen)
		return 0;
	return prefixlen == 0 || memcmp(gk->dptr + 1, prefix, prefixlen) == 0;
}

/* Visit one matching key; returns fn's result (0 to go on).  Corrupt
 * records are counted in *corrupt and skipped. */
static int
store_each_visit(struct store_txn *tx, const datum *gk,
		 int (*fn)(const void *, size_t, const struct store_val *, void *), void *arg,
		 size_t *corrupt)
{
	struct store_val v;
	datum rec;
	int rc, stop;

	rc = store_live_fetch(tx, gk, &rec, &v, NULL);
	if (rc == STORE_ERROR)
		(*corrupt)++;
	if (rc != STORE_OK)
		return 0;
	stop = fn(gk->dptr + 1, (size_t)gk->dsize - 1, &v, arg);
	store_datum_free(&rec);
	return stop;
}

int
store_txn_each(struct store_txn *tx, enum store_type type, const void *prefix, size_t prefixlen,
	       int (*fn)(const void *key, size_t keylen, const struct store_val *val, void *arg),
	       void *arg)
{
	datum k, next;
	size_t corrupt = 0;
	int stop = 0;

	if (tx == NULL || fn == NULL || (unsigned)type >= STORE_TYPE__MAX ||
	    prefixlen > STORE_KEY_MAX || (prefix == NULL && prefixlen > 0))
		return STORE_ERROR;
	if (tx->dbf == NULL)
		return STORE_OK;
	store_scan_cache(tx);
	for (k = gdbm_firstkey(tx->dbf); k.dptr != NULL && stop == 0; k = next) {
		if (store_key_matches(&k, type, prefix, prefixlen))
			stop = store_each_visit(tx, &k, fn, arg, &corrupt);
		next = stop == 0 ? gdbm_nextkey(tx->dbf, k) : (datum){NULL, 0};
		free(k.dptr);
	}
	if (stop != 0)
		return stop;
	if (gdbm_last_errno(tx->dbf) != GDBM_ITEM_NOT_FOUND) {
		store_log_gdbm(tx, "iterate");
		return STORE_ERROR;
	}
	/* Corrupt records were logged and skipped; the caller still learns. */
	return corrupt > 0 ? STORE_ERROR : STORE_OK;
}

/* ---- one-operation conveniences ----------------------------------------- */

struct store_op {
	enum store_type type;
	const void *key;
	size_t keylen;
	const void *data;
	size_t len;
	time_t expires;
	int flags;
	struct store_val *out;
	store_update_fn update;
	void *arg;
};

static int
store_op_get(struct store_txn *tx, void *arg)
{
	struct store_op *op = arg;

	return store_txn_get(tx, op->type, op->key, op->keylen, op->out);
}

static int
store_op_put(struct store_txn *tx, void *arg)
{
	struct store_op *op = arg;

	return store_txn_put(tx, op->type, op->key, op->keylen, op->data, op->len, op->expires,
			     op->flags);
}

static int
store_op_del(struct store_txn *tx, void *arg)
{
	struct store_op *op = arg;

	return store_txn_del(tx, op->type, op->key, op->keylen);
}

int
store_get(struct store *st, enum store_type type, const void *key, size_t keylen,
	  struct store_val *out)
{
	struct store_op op = {.type = type, .key = key, .keylen = keylen, .out = out};
	struct store_gkey k;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (store_gkey_make(&k, type, key, keylen) != STORE_OK)
		return STORE_ERROR;
	return store_txn(st, 0, store_op_get, &op);
}

int
store_put(struct store *st, enum store_type type, const void *key, size_t keylen,
	  const void *data, size_t len, time_t expires, int flags)
{
	struct store_op op = {.type = type, .key = key, .keylen = keylen, .data = data,
			      .len = len, .expires = expires, .flags = flags};
	struct store_gkey k;

	/* Reject bad arguments before taking a lock or touching the file. */
	if (store_gkey_make(&k, type, key, keylen) != STORE_OK ||
	    store_value_check(data, len, expires) != STORE_OK ||
	    (flags != STORE_PUT_REPLACE && flags != STORE_PUT_INSERT))
		return STORE_ERROR;
	return store_txn(st, 1, store_op_put, &op);
}

int
store_del(struct store *st, enum store_type type, const void *key, size_t keylen)
{
	struct store_op op = {.type = type, .key = key, .keylen = keylen};
	struct store_gkey k;

	if (store_gkey_make(&k, type, key, keylen) != STORE_OK)
		return STORE_ERROR;
	return store_txn(st, 1, store_op_del, &op);
}

/* ---- read-modify-write -------------------------------------------------- */

static int
store_op_update(struct store_txn *tx, void *arg)
{
	struct store_op *op = arg;
	struct store_gkey k;
	struct store_val v;
	datum rec;
	void *newdata = NULL;
	size_t newlen = 0;
	time_t newexp = 0;
	int rc, present;

	if (store_gkey_make(&k, op->type, op->key, op->keylen) != STORE_OK)
		return STORE_ERROR;
	rc = store_live_fetch(tx, &k.d, &rec, &v, &present);
	if (rc == STORE_ERROR)
		return rc;
	if (rc == STORE_OK)
		newexp = v.expires;
	rc = op->update(rc == STORE_OK ? &v : NULL, &newdata, &newlen, &newexp, op->arg);
	store_datum_free(&rec);
	if (rc != STORE_OK)
		return rc;
	if (newdata != NULL)
		return store_raw_put(tx, &k.d, newdata, newlen, newexp);
	if (present && store_raw_delete(tx, &k.d, 1) == STORE_ERROR)
		return STORE_ERROR;
	return STORE_OK;
}

int
store_update(struct store *st, enum store_type type, const void *key, size_t keylen,
	     store_update_fn fn, void *arg)
{
	struct store_op op = {.type = type, .key = key, .keylen = keylen, .update = fn, .arg = arg};
	struct store_gkey k;

	if (fn == NULL || store_gkey_make(&k, type, key, keylen) != STORE_OK)
		return STORE_ERROR;
	return store_txn(st, 1, store_op_update, &op);
}

struct store_incr_ctx {
	time_t window_end;
	uint64_t count;
	unsigned char buf[8];
};

static int
store_incr_fn(const struct store_val *cur, void **newdata, size_t *newlen, time_t *newexp,
	      void *arg)
{
	struct store_incr_ctx *c = arg;
	uint64_t n = 0;

	if (cur != NULL) {
		const unsigned char *p = cur->data;

		if (cur->len != sizeof(c->buf)) {
			log_msg(LOG_ERROR, "msg=\"store: counter record has bad length\" len=%zu",
				cur->len);
			return STORE_ERROR;
		}
		for (size_t i = 0; i < sizeof(c->buf); i++)
			n = n << 8 | p[i];
	} else {
		*newexp = c->window_end; /* a new window; a live one keeps its end */
	}
	if (n < UINT64_MAX)
		n++;
	c->count = n;
	for (int i = (int)sizeof(c->buf) - 1; i >= 0; i--, n >>= 8)
		c->buf[i] = (unsigned char)(n & 0xff);
	*newdata = c->buf;
	*newlen = sizeof(c->buf);
	return STORE_OK;
}

int
store_incr(struct store *st, enum store_type type, const void *key, size_t keylen,
	   time_t window_end, uint64_t *count)
{
	struct store_incr_ctx c = {.window_end = window_end};
	int rc;

	if (window_end < 0)
		return STORE_ERROR;
	rc = store_update(st, type, key, keylen, store_incr_fn, &c);
	if (rc == STORE_OK && count != NULL)
		*count = c.count;
	return rc;
}

/* ---- purge ------------------------------------------------------------- */

/*
 * Rounds of a read transaction that collects up to STORE_PURGE_SCAN_KEYS
 * expired keys (deleting while iterating would upset gdbm_nextkey), then
 * write transactions that delete them in batches, so memory stays bounded
 * however many records expired.  A round that stops early keeps its last key
 * (the "pin", left undeleted) and the next continues after it with
 * gdbm_nextkey; if the pin went meanwhile, the scan starts over.  Other
 * writers between rounds can move records between buckets, so a record may
 * be skipped (the next purge takes it) or seen twice (re-checked anyway).
 */
struct store_purge_ctx {
	datum *keys;     /* GDBM-allocated expired keys; keys[n-1] is the pin if more */
	size_t n;        /* keys held */
	size_t ndelete;  /* keys[0 .. ndelete-1] are this round's to delete */
	size_t next;     /* next of them to delete */
	int more;        /* stopped early: continue after the pin */
	unsigned restarts;
	size_t removed, corrupt;
};

/* Is the raw record at k expired?  Corrupt records count in c->corrupt. */
static int
store_purge_expired(struct store_txn *tx, const datum *k, struct store_purge_ctx *c)
{
	struct store_val v;
	datum rec;
	int expired = 0;

	if (k->dsize < 1 || store_raw_fetch(tx, k, &rec) != STORE_OK)
		return 0;
	if (store_rec_parse(tx, k, &rec, &v) != STORE_OK)
		c->corrupt++;
	else
		expired = store_is_expired(v.expires, tx->now);
	store_datum_free(&rec);
	return expired;
}

/* Where this round's scan starts: after the pin (which stays in keys[0]),
 * or at the first key. */
static datum
store_purge_start(struct store_txn *tx, struct store_purge_ctx *c)
{
	if (c->more) {
		if (gdbm_exists(tx->dbf, c->keys[0]))
			return gdbm_nextkey(tx->dbf, c->keys[0]);
		free(c->keys[0].dptr);
		c->n = 0;
		c->restarts++;
	}
	return gdbm_firstkey(tx->dbf);
}

static int
store_purge_scan(struct store_txn *tx, void *arg)
{
	struct store_purge_ctx *c = arg;
	datum k, next;

	if (tx->dbf == NULL) {
		c->more = 0;
		return STORE_OK;
	}
	store_scan_cache(tx);
	for (k = store_purge_start(tx, c); k.dptr != NULL; k = next) {
		int keep = store_purge_expired(tx, &k, c);

		if (keep)
			c->keys[c->n++] = k;
		if (c->n == STORE_PURGE_SCAN_KEYS) {
			c->more = 1;
			c->ndelete = c->n - 1;
			return STORE_OK;
		}
		next = gdbm_nextkey(tx->dbf, k);
		if (!keep)
			free(k.dptr);
	}
	c->more = 0;
	c->ndelete = c->n;
	if (gdbm_last_errno(tx->dbf) != GDBM_ITEM_NOT_FOUND) {
		store_log_gdbm(tx, "iterate");
		return STORE_ERROR;
	}
	return STORE_OK;
}

/* Write phase: delete one batch, re-checking each record, since it may have
 * been replaced since the scan.  The records were already invisible, so
 * these deletes need no sync of their own. */
static int
store_purge_delete(struct store_txn *tx, void *arg)
{
	struct store_purge_ctx *c = arg;
	size_t end = c->next + STORE_PURGE_BATCH < c->ndelete ? c->next + STORE_PURGE_BATCH
							       : c->ndelete;

	for (; c->next < end; c->next++) {
		const datum *k = &c->keys[c->next];
		struct store_val v;
		datum rec;

		if (store_raw_fetch(tx, k, &rec) != STORE_OK)
			continue;
		if (store_rec_parse(tx, k, &rec, &v) == STORE_OK &&
		    store_is_expired(v.expires, tx->now) && store_raw_delete(tx, k, 0) == STORE_OK)
			c->removed++;
		store_datum_free(&rec);
	}
	return STORE_OK;
}

/* Free the round's keys; to continue (more), the pin moves to keys[0]. */
static void
store_purge_round_done(struct store_purge_ctx *c)
{
	size_t last = c->more && c->n > 0 ? c->n - 1 : c->n;

	for (size_t i = 0; i < last; i++)
		free(c->keys[i].dptr);
	if (last < c->n) {
		c->keys[0] = c->keys[last];
		c->n = 1;
	} else {
		c->n = 0;
		c->more = 0;
	}
	c->ndelete = c->next = 0;
}

int
store_purge(struct store *st, size_t *removed)
{
	struct store_purge_ctx c = {0};
	int rc = STORE_OK;

	if (removed != NULL)
		*removed = 0;
	c.keys = calloc(STORE_PURGE_SCAN_KEYS, sizeof(*c.keys));
	if (c.keys == NULL) {
		log_msg(LOG_ERROR, "msg=\"store: purge out of memory\"");
		return STORE_ERROR;
	}
	for (unsigned round = 0; rc == STORE_OK && round < STORE_PURGE_ROUNDS_MAX; round++) {
		rc = store_txn(st, 0, store_purge_scan, &c);
		/* Short write transactions let other writers in between batches. */
		while (rc == STORE_OK && c.next < c.ndelete)
			rc = store_txn(st, 1, store_purge_delete, &c);
		if (rc != STORE_OK)
			c.more = 0;
		store_purge_round_done(&c);
		if (!c.more || c.restarts > STORE_PURGE_RESTARTS)
			break;
	}
	if (c.n > 0)
		free(c.keys[0].dptr); /* a pin left by the round or restart limit */
	free(c.keys);
#ifdef __GLIBC__
	/* The scan's transient allocations (GDBM's directory and buckets) would
	 * otherwise stay as this long-lived process's high-water mark. */
	malloc_trim(0);
#endif
	if (c.corrupt > 0)
		log_msg(LOG_WARN, "msg=\"store: purge skipped corrupt records\" count=%zu", c.corrupt);
	if (removed != NULL)
		*removed = c.removed;
	return rc;
}

/* ---- open / close ------------------------------------------------------- */

static char *
store_path_with(const char *path, const char *suffix)
{
	size_t n = strlen(path) + strlen(suffix) + 1;
	char *p = malloc(n);

	if (p != NULL)
		snprintf(p, n, "%s%s", path, suffix);
	return p;
}

/* The directory of path ("." for a bare name), malloc'd. */
static char *
store_dir_of(const char *path)
{
	char *copy = strdup(path), *dir = NULL;

	if (copy != NULL)
		dir = strdup(dirname(copy));
	free(copy);
	return dir;
}

/* Record the file format on first use; refuse a file from a newer format. */
static int
store_init_txn(struct store_txn *tx, void *arg)
{
	unsigned char want = STORE_FILE_FORMAT;
	struct store_val v;
	int rc;

	rc = store_txn_get(tx, STORE_META, store_meta_format_key,
			   sizeof(store_meta_format_key) - 1, &v);
	if (rc == STORE_NOTFOUND)
		return store_txn_put(tx, STORE_META, store_meta_format_key,
				     sizeof(store_meta_format_key) - 1, &want, 1, 0,
				     STORE_PUT_REPLACE);
	if (rc != STORE_OK)
		return rc;
	*(int *)arg = v.len == 1 ? ((unsigned char *)v.data)[0] : -1;
	rc = *(int *)arg == STORE_FILE_FORMAT ? STORE_OK : STORE_ERROR;
	store_val_free(&v);
	return rc;
}

/* The kernel's id for this boot, NUL-terminated in buf; -1 if unknown. */
static int
store_boot_id(char *buf, size_t bufsz)
{
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	memset(buf, 0, bufsz);
	if (fd < 0)
		return -1;
	n = read(fd, buf, bufsz - 1);
	close(fd);
	if (n < 32)
		return -1;
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* (Re)initialise the turnstile; dirty is left as found. */
static int
store_shm_init(struct store_shm *shm, const char *boot_id)
{
	pthread_mutexattr_t at;
	int rc;

	if (pthread_mutexattr_init(&at) != 0)
		return -1;
	rc = pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED) != 0 ||
	     pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST) != 0 ||
	     pthread_mutexattr_settype(&at, PTHREAD_MUTEX_ERRORCHECK) != 0 ||
	     pthread_mutex_init(&shm->turnstile, &at) != 0;
	pthread_mutexattr_destroy(&at);
	if (rc != 0)
		return -1;
	memcpy(shm->boot_id, boot_id, sizeof(shm->boot_id));
	atomic_store(&shm->synced_ms, 0); /* another boot's clock */
	shm->mutex_size = (uint32_t)sizeof(shm->turnstile);
	shm->magic = STORE_SHM_MAGIC; /* last: marks the page ready */
	return 0;
}

/*
 * Check or set up the mapped page.  Robust mutexes survive a dead process
 * but not a reboot: a mutex held when the machine went down stays locked
 * in the file.  No process of this boot can be using a page stamped with
 * another boot's id, so such a page is reinitialised.
 */
static int
store_shm_check(struct store *st, char *err, size_t errlen)
{
	char boot[STORE_BOOT_ID_LEN];
	struct store_shm *shm = st->shm;

	if (store_boot_id(boot, sizeof(boot)) != 0) {
		log_msg(LOG_WARN, "msg=\"store: no boot id, turnstile disabled\"");
		munmap(st->shm, STORE_SHM_SIZE);
		st->shm = NULL; /* flock alone is correct, just not fair */
		return 0;
	}
	if (shm->magic == 0 || (shm->magic == STORE_SHM_MAGIC &&
				shm->mutex_size == sizeof(shm->turnstile) &&
				memcmp(shm->boot_id, boot, sizeof(boot)) != 0)) {
		if (store_shm_init(shm, boot) != 0) {
			snprintf(err, errlen, "%s: cannot initialise the turnstile", st->lockpath);
			return -1;
		}
	}
	if (shm->magic != STORE_SHM_MAGIC || shm->mutex_size != sizeof(shm->turnstile)) {
		snprintf(err, errlen, "%s: not a store lock file of this version", st->lockpath);
		return -1;
	}
	return 0;
}

/* Map the lock file's first page.  The exclusive flock keeps two first
 * users from both initialising it. */
static int
store_shm_map(struct store *st, int fd, char *err, size_t errlen)
{
	struct timespec dl;
	struct stat sb;
	void *p;
	int rc = -1;

	store_deadline(&dl, st->timeout_ms);
	if (store_flock_until(fd, LOCK_EX, &dl) != STORE_OK) {
		snprintf(err, errlen, "%s: cannot lock (%s)", st->lockpath, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) != 0 ||
	    (sb.st_size < STORE_SHM_SIZE && ftruncate(fd, STORE_SHM_SIZE) != 0) ||
	    (p = mmap(NULL, STORE_SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) ==
		    MAP_FAILED) {
		snprintf(err, errlen, "%s: %s", st->lockpath, strerror(errno));
	} else {
		st->shm = p;
		st->lock_dev = sb.st_dev;
		st->lock_ino = sb.st_ino;
		rc = store_shm_check(st, err, errlen);
	}
	/* The mapping holds the open file description, so close() alone would
	 * not release this flock. */
	flock(fd, LOCK_UN);
	return rc;
}

static int
store_open_check(struct store *st, char *err, size_t errlen)
{
	int fd, format = STORE_FILE_FORMAT, rc;

	fd = open(st->lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", st->lockpath, strerror(errno));
		return -1;
	}
	rc = store_shm_map(st, fd, err, errlen);
	close(fd);
	if (rc != 0)
		return -1;
	rc = store_txn(st, 1, store_init_txn, &format);
	/* The first transaction may have created the file: make its directory
	 * entry durable too (once per process start). */
	if (rc == STORE_OK && store_sync_dir(st) != 0)
		rc = STORE_ERROR;
	if (rc == STORE_OK)
		return 0;
	if (format != STORE_FILE_FORMAT)
		snprintf(err, errlen, "%s: unsupported store format %d", st->path, format);
	else
		snprintf(err, errlen, "%s: cannot open store (%s)", st->path, store_strerror(rc));
	return -1;
}

struct store *
store_open(const char *path, unsigned lock_timeout_ms, char *err, size_t errlen)
{
	char dummy[256];
	struct store *st = NULL;

	if (err == NULL || errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	if (path == NULL || path[0] == '\0' || strlen(path) > PATH_MAX - 16) {
		snprintf(err, errlen, "store path missing or too long");
		return NULL;
	}
	if ((st = calloc(1, sizeof(*st))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	st->sinkfd = -1;
	st->id = atomic_fetch_add(&store_next_id, 1);
	if ((st->path = strdup(path)) == NULL ||
	    (st->lockpath = store_path_with(path, ".lock")) == NULL ||
	    (st->dirpath = store_dir_of(path)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	/* Without a sink (no memfd), writers sync under the lock as GDBM does. */
	st->sinkfd = memfd_create("mcpgate-store-sink", MFD_CLOEXEC);
	if (st->sinkfd < 0)
		log_msg(LOG_WARN, "msg=\"store: no memfd, writers sync under the lock\" errno=\"%s\"",
			strerror(errno));
	st->timeout_ms = lock_timeout_ms != 0 ? lock_timeout_ms : STORE_DEFAULT_TIMEOUT_MS;
	if (store_open_check(st, err, errlen) != 0)
		goto fail;
	return st;
fail:
	store_close(st);
	return NULL;
}

void
store_close(struct store *st)
{
	struct store_rhandle *h;

	if (st == NULL)
		return;
	/* This thread's kept handle; other threads close theirs at their next
	 * transaction (the id no longer matches) or when they exit. */
	if (pthread_once(&store_rhandle_once, store_rhandle_key_init) == 0 && store_rhandle_key_ok &&
	    (h = pthread_getspecific(store_rhandle_key)) != NULL &&
	    h->store_id == st->id)
		store_rhandle_drop(h);
	if (st->shm != NULL)
		munmap(st->shm, STORE_SHM_SIZE);
	if (st->sinkfd >= 0)
		close(st->sinkfd);
	free(st->path);
	free(st->lockpath);
	free(st->dirpath);
	free(st);
}

void
store_val_free(struct store_val *v)
{
	if (v == NULL)
		return;
	if (v->data != NULL) {
		explicit_bzero(v->data, v->len);
		free(v->data);
	}
	v->data = NULL;
	v->len = 0;
	v->expires = 0;
}

const char *
store_strerror(int status)
{
	switch (status) {
	case STORE_OK:
		return "ok";
	case STORE_NOTFOUND:
		return "not found";
	case STORE_EXISTS:
		return "exists";
	case STORE_BUSY:
		return "busy";
	case STORE_ERROR:
		return "error";
	default:
		return "unknown status";
	}
}
