/*
 * storebench: the store alone (measure 8), in the access pattern the MCP
 * programs use, with durability as shipped (a write is on disk when it is
 * acknowledged; the store syncs after releasing its locks).
 *
 *   storebench DIR PROCS SECONDS [PRESET]
 *
 * PROCS processes (as lighttpd runs several copies of a program) hammer one
 * store for SECONDS per workload:
 *   read   get_snippet's transaction: grant liveness + snippet read, one
 *          shared-lock transaction (snippet_get)
 *   write  save_snippet's: grant liveness + put of a new name, exclusive
 *          (snippet_put)
 *   mixed  the two alternating in every process
 * each through mcpgate's store (impl=mcpgate) and, as the limit of the
 * pattern, through GDBM directly with the documented locking and nothing
 * else: flock on a lock file, gdbm_open(NOLOCK), the same fetches/store,
 * gdbm_close, unlock (impl=gdbm).  GDBM's own close syncs a writer, under
 * the lock: the store moving that sync out of the lock is how it can pass
 * this "limit" on writes.  One line per run:
 *   BENCH workload=W impl=I procs=P ops=N ops_per_s=R p50_us=A p99_us=B errors=E
 * DIR must exist; the store files are created in it, with PRESET snippets
 * (default 1000) for the reads to find.
 */
#include <fcntl.h>
#include <gdbm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "snippets.h"
#include "store.h"
#include "token.h"

#define SB_PROCS_MAX 64
#define SB_SAMPLES_PER_PROC 2000000u
#define SB_PRESET_DEFAULT 1000   /* snippets saved before the runs */
#define SB_PRESET_MAX 1000000
#define SB_USER "local:bench"
#define SB_CONTENT_LEN 100
#define SB_GDBM_FLAGS (GDBM_NOLOCK | GDBM_CLOEXEC | GDBM_NOMMAP)

enum sb_workload { SB_READ, SB_WRITE, SB_MIXED, SB_WORKLOAD__MAX };
enum sb_impl { SB_MCPGATE, SB_GDBM, SB_IMPL__MAX };

static const char *const sb_workload_names[SB_WORKLOAD__MAX] = {"read", "write", "mixed"};
static const char *const sb_impl_names[SB_IMPL__MAX] = {"mcpgate", "gdbm"};

/* Results of one process, in memory shared with the parent. */
struct sb_slot {
	unsigned long ops, errors;
	unsigned long nsamples;
	float us[SB_SAMPLES_PER_PROC];
};

struct sb_run {
	const char *dir;
	char store_path[4096];
	char raw_path[4096];
	char raw_lock[4096];
	char grant[TOKEN_GRANT_ID_LEN + 1];
	char content[SB_CONTENT_LEN + 1];
	enum sb_workload workload;
	enum sb_impl impl;
	int procs;
	long preset;
	double seconds;
};

static double
sb_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int
sb_cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return (x > y) - (x < y);
}

/* ---- mcpgate's store -------------------------------------------------------- */

static int
sb_mcpgate_op(struct store *st, const struct sb_run *r, int write, int id, unsigned long n)
{
	char name[SNIPPET_NAME_MAX + 1];
	struct snippet sn = {0};
	int rc;

	if (write) {
		snprintf(name, sizeof(name), "w%d-%lu", id, n);
		return snippet_put(st, r->grant, SB_USER, name, r->content, SB_CONTENT_LEN,
				   SNIPPET_CONTENT_LIMIT, NULL) == SNIPPET_OK ? 0 : -1;
	}
	snprintf(name, sizeof(name), "p%lu", n % (unsigned long)r->preset);
	rc = snippet_get(st, r->grant, SB_USER, name, &sn);
	if (rc == SNIPPET_OK && sn.content == NULL)
		rc = SNIPPET_NOTFOUND;
	snippet_free(&sn);
	return rc == SNIPPET_OK ? 0 : -1;
}

/* ---- GDBM with the documented locking, nothing else ------------------------------ */

static datum
sb_datum(const char *s)
{
	datum d = {(char *)(uintptr_t)s, (int)strlen(s)};

	return d;
}

static int
sb_gdbm_op(int lockfd, const struct sb_run *r, int write, int id, unsigned long n)
{
	char name[64];
	GDBM_FILE db;
	datum v;
	int rc = -1;

	if (flock(lockfd, write ? LOCK_EX : LOCK_SH) != 0)
		return -1;
	/* GDBM_NOMMAP as mcpgate's store opens it (see src/store.c). */
	db = gdbm_open(r->raw_path, 0, (write ? GDBM_WRITER : GDBM_READER) | SB_GDBM_FLAGS, 0600, NULL);
	if (db == NULL)
		goto unlock;
	v = gdbm_fetch(db, sb_datum(r->grant)); /* the grant's liveness */
	if (v.dptr == NULL)
		goto close;
	free(v.dptr);
	if (write) {
		snprintf(name, sizeof(name), "w%d-%lu", id, n);
		rc = gdbm_store(db, sb_datum(name), sb_datum(r->content), GDBM_REPLACE) == 0 ? 0 : -1;
	} else {
		snprintf(name, sizeof(name), "p%lu", n % (unsigned long)r->preset);
		v = gdbm_fetch(db, sb_datum(name));
		rc = v.dptr != NULL ? 0 : -1;
		free(v.dptr);
	}
close:
	if (gdbm_close(db) != 0)
		rc = -1;
unlock:
	(void)flock(lockfd, LOCK_UN);
	return rc;
}

/* ---- one process's loop ------------------------------------------------------------ */

static int
sb_child(const struct sb_run *r, int id, struct sb_slot *slot)
{
	char err[256];
	struct store *st = NULL;
	int lockfd = -1;
	double end, t;
	unsigned long n = 0;

	if (r->impl == SB_MCPGATE && (st = store_open(r->store_path, 10000, err, sizeof(err))) == NULL)
		return 1;
	if (r->impl == SB_GDBM && (lockfd = open(r->raw_lock, O_RDWR | O_CLOEXEC)) < 0)
		return 1;
	end = sb_now_us() + r->seconds * 1e6;
	while ((t = sb_now_us()) < end) {
		int write = r->workload == SB_WRITE || (r->workload == SB_MIXED && n % 2 == 1);
		int rc = r->impl == SB_MCPGATE ? sb_mcpgate_op(st, r, write, id, n)
					       : sb_gdbm_op(lockfd, r, write, id, n);

		n++;
		if (rc != 0)
			slot->errors++;
		else
			slot->ops++;
		if (slot->nsamples < SB_SAMPLES_PER_PROC)
			slot->us[slot->nsamples++] = (float)(sb_now_us() - t);
	}
	store_close(st);
	if (lockfd >= 0)
		close(lockfd);
	return 0;
}

/* ---- setup ------------------------------------------------------------------------------ */

static int
sb_prepare_mcpgate(struct sb_run *r)
{
	char err[256], name[32];
	struct store *st;
	int rc;

	(void)unlink(r->store_path);
	st = store_open(r->store_path, 10000, err, sizeof(err));
	if (st == NULL) {
		fprintf(stderr, "storebench: %s\n", err);
		return -1;
	}
	rc = store_put(st, STORE_GRANT, r->grant, strlen(r->grant), "{}", 2, time(NULL) + 86400,
		       STORE_PUT_REPLACE) == STORE_OK ? 0 : -1;
	for (long i = 0; rc == 0 && i < r->preset; i++) {
		snprintf(name, sizeof(name), "p%ld", i);
		rc = snippet_put(st, r->grant, SB_USER, name, r->content, SB_CONTENT_LEN,
				 SNIPPET_CONTENT_LIMIT, NULL) == SNIPPET_OK ? 0 : -1;
	}
	store_close(st);
	return rc;
}

static int
sb_prepare_gdbm(struct sb_run *r)
{
	char name[32];
	GDBM_FILE db;
	int rc = 0, fd;

	(void)unlink(r->raw_path);
	fd = open(r->raw_lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	close(fd);
	db = gdbm_open(r->raw_path, 0, GDBM_NEWDB | SB_GDBM_FLAGS, 0600, NULL);
	if (db == NULL)
		return -1;
	rc |= gdbm_store(db, sb_datum(r->grant), sb_datum("{}"), GDBM_REPLACE);
	for (long i = 0; rc == 0 && i < r->preset; i++) {
		snprintf(name, sizeof(name), "p%ld", i);
		rc |= gdbm_store(db, sb_datum(name), sb_datum(r->content), GDBM_REPLACE);
	}
	return gdbm_close(db) == 0 && rc == 0 ? 0 : -1;
}

/* ---- a run ------------------------------------------------------------------------------- */

static void
sb_report(const struct sb_run *r, struct sb_slot *slots)
{
	unsigned long ops = 0, errors = 0, total = 0;
	float *all;

	for (int i = 0; i < r->procs; i++) {
		ops += slots[i].ops;
		errors += slots[i].errors;
		total += slots[i].nsamples;
	}
	all = calloc(total + 1, sizeof(*all));
	if (all == NULL)
		return;
	total = 0;
	for (int i = 0; i < r->procs; i++) {
		memcpy(all + total, slots[i].us, slots[i].nsamples * sizeof(*all));
		total += slots[i].nsamples;
	}
	qsort(all, total, sizeof(*all), sb_cmp_float);
	printf("BENCH workload=%s impl=%s procs=%d ops=%lu ops_per_s=%.1f p50_us=%.1f p99_us=%.1f "
	       "errors=%lu\n",
	       sb_workload_names[r->workload], sb_impl_names[r->impl], r->procs, ops,
	       (double)ops / r->seconds, total ? (double)all[total / 2] : 0.0,
	       total ? (double)all[total * 99 / 100] : 0.0, errors);
	fflush(stdout);
	free(all);
}

static int
sb_run_one(struct sb_run *r)
{
	size_t size = sizeof(struct sb_slot) * (size_t)r->procs;
	struct sb_slot *slots;
	pid_t pids[SB_PROCS_MAX];
	int failed = 0;

	/* Each file is prepared once; later workloads find it as the earlier
	 * ones left it (with their writes), as a live store would be. */
	if (r->workload == SB_READ &&
	    (r->impl == SB_MCPGATE ? sb_prepare_mcpgate(r) : sb_prepare_gdbm(r)) != 0) {
		fprintf(stderr, "storebench: cannot prepare the %s store\n", sb_impl_names[r->impl]);
		return -1;
	}
	slots = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (slots == MAP_FAILED)
		return -1;
	fflush(stdout);
	for (int i = 0; i < r->procs; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			_exit(sb_child(r, i, &slots[i]));
		failed |= pids[i] < 0;
	}
	for (int i = 0; i < r->procs; i++) {
		int status = 0;

		if (pids[i] > 0 && (waitpid(pids[i], &status, 0) < 0 || !WIFEXITED(status) ||
				    WEXITSTATUS(status) != 0))
			failed = 1;
	}
	if (!failed)
		sb_report(r, slots);
	munmap(slots, size);
	return failed ? -1 : 0;
}

static int
sb_paths(struct sb_run *r)
{
	int a = snprintf(r->store_path, sizeof(r->store_path), "%s/store.db", r->dir);
	int b = snprintf(r->raw_path, sizeof(r->raw_path), "%s/raw.db", r->dir);
	int c = snprintf(r->raw_lock, sizeof(r->raw_lock), "%s/raw.db.lock", r->dir);

	if (a < 0 || b < 0 || c < 0 || (size_t)a >= sizeof(r->store_path) ||
	    (size_t)b >= sizeof(r->raw_path) || (size_t)c >= sizeof(r->raw_lock))
		return -1;
	return 0;
}

int
main(int argc, char **argv)
{
	struct sb_run r;
	char *end;
	long procs;
	int rc = 0;

	memset(&r, 0, sizeof(r));
	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: storebench DIR PROCS SECONDS [PRESET]\n");
		return 2;
	}
	r.dir = argv[1];
	procs = strtol(argv[2], &end, 10);
	r.seconds = strtod(argv[3], NULL);
	r.preset = argc == 5 ? strtol(argv[4], NULL, 10) : SB_PRESET_DEFAULT;
	if (*end != '\0' || procs < 1 || procs > SB_PROCS_MAX || r.seconds <= 0 ||
	    r.seconds > 3600 || r.preset < 1 || r.preset > SB_PRESET_MAX || sb_paths(&r) != 0 ||
	    token_grant_id_new(r.grant) != 0) {
		fprintf(stderr, "usage: storebench DIR PROCS(1..%d) SECONDS [PRESET]\n", SB_PROCS_MAX);
		return 2;
	}
	r.procs = (int)procs;
	memset(r.content, 'x', SB_CONTENT_LEN);
	for (int w = 0; w < SB_WORKLOAD__MAX; w++)
		for (int i = 0; i < SB_IMPL__MAX; i++) {
			r.workload = (enum sb_workload)w;
			r.impl = (enum sb_impl)i;
			if (sb_run_one(&r) != 0)
				rc = 1;
		}
	return rc;
}
