/*
 * Multi-process stress test for src/store.c.
 *
 * 1. PROCS processes x N operations on one store, mixing
 *      - store_incr on one shared counter   (no lost update)
 *      - puts of per-process keys, and reads of the process's own earlier
 *        keys while the others write       (no torn or missing record)
 *      - redeeming M single-use items with store_update (delete if present)
 *                                            (exactly one winner per item)
 *    Children report through a pipe; the parent then checks the counter,
 *    reads back every key and counts the winners.
 * 2. kill -9 durability: a child writes records and acknowledges each one
 *    over a pipe once store_put returned; the parent kills it mid-way, and
 *    every acknowledged record must then be readable.  Several rounds on
 *    one file, then a full GDBM consistency check.
 *
 * N comes from MCPGATE_STRESS_N (default STRESS_N_DEFAULT).  Throughput is
 * printed as TAP diagnostics only; nothing asserts on speed.
 */
#include "store.h"
#include "store_util.h"
#include "tap.h"

#include <errno.h>
#include <ftw.h>
#include <gdbm.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROCS 8
/* 8 x 4000 operations, half of them writes that each end in an fsync, take
 * about 4 s on a quiet 2-core machine (5 s under ASan), which leaves room
 * for a machine three times busier within 20 s.  N=10000 took 9 s quiet. */
#define STRESS_N_DEFAULT 4000UL
#define STRESS_N_MIN 8UL
#define STRESS_N_MAX 1000000UL
#define ITEMS_MAX 200UL
#define KILL_ROUNDS 4
#define LOCK_TIMEOUT_MS 30000 /* generous: BUSY under this load is a bug */

static char test_dir[256];
static char test_db[300];

struct child_report {
	long incr_ok, puts_ok, reads_ok, reads_bad, busy, errors, wins;
	double seconds;
};

static unsigned long
stress_n(void)
{
	const char *s = getenv("MCPGATE_STRESS_N");
	unsigned long n;
	char *end;

	if (s == NULL || s[0] == '\0')
		return STRESS_N_DEFAULT;
	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || n < STRESS_N_MIN || n > STRESS_N_MAX) {
		printf("# ignoring MCPGATE_STRESS_N=%s (want %lu..%lu)\n", s, STRESS_N_MIN,
		       STRESS_N_MAX);
		return STRESS_N_DEFAULT;
	}
	return n;
}

static int
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Read up to len bytes; returns bytes read (short only at EOF). */
static size_t
read_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t r = read(fd, p + got, len - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

/*
 * The value for (proc, i): a length that varies with i, then a pattern
 * seeded by both, so a torn, stale or misplaced value never matches.
 */
static size_t
make_value(unsigned proc, unsigned long i, unsigned char *buf, size_t bufsz)
{
	size_t len = 16 + (i * 37 + proc * 11) % 280;
	uint32_t x = (uint32_t)(proc * 2654435761u) ^ (uint32_t)(i * 40503u + 1u);

	if (len > bufsz)
		len = bufsz;
	for (size_t k = 0; k < len; k++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[k] = (unsigned char)x;
	}
	return len;
}

static size_t
make_key(char *buf, size_t bufsz, const char *tag, unsigned proc, unsigned long i)
{
	int n = snprintf(buf, bufsz, "%s/%u/%lu", tag, proc, i);

	return n > 0 && (size_t)n < bufsz ? (size_t)n : 0;
}

static int
value_matches(const struct store_val *v, unsigned proc, unsigned long i)
{
	unsigned char want[512];
	size_t len = make_value(proc, i, want, sizeof(want));

	return v->len == len && memcmp(v->data, want, len) == 0;
}

/* ---- part 1: mixed load ----------------------------------------------------- */

static int
redeem_fn(const struct store_val *cur, void **newdata, size_t *newlen, time_t *newexp,
	  void *arg)
{
	(void)newdata;
	(void)newlen;
	(void)newexp;
	if (cur == NULL)
		return STORE_NOTFOUND;
	*(int *)arg = 1;
	return STORE_OK; /* *newdata stays NULL: delete */
}

static void
tally(struct child_report *r, int rc)
{
	if (rc == STORE_BUSY)
		r->busy++;
	else if (rc != STORE_OK && rc != STORE_NOTFOUND)
		r->errors++;
}

/* One operation of child proc; wins are written to fd as uint32 item ids. */
static void
child_op(struct store *st, unsigned proc, unsigned long i, unsigned long items, int fd,
	 struct child_report *r)
{
	unsigned char val[512];
	char key[64];
	size_t kl, vl;
	uint64_t count;
	int rc, won = 0;

	switch (i % 4) {
	case 0:
		rc = store_incr(st, STORE_RATE, "shared-counter", 14, 0, &count);
		r->incr_ok += rc == STORE_OK;
		tally(r, rc);
		break;
	case 1:
		kl = make_key(key, sizeof(key), "p", proc, i);
		vl = make_value(proc, i, val, sizeof(val));
		rc = store_put(st, STORE_TOKEN, key, kl, val, vl, 0, STORE_PUT_INSERT);
		r->puts_ok += rc == STORE_OK;
		tally(r, rc);
		break;
	case 2: { /* read back this process's latest put */
		struct store_val v;

		kl = make_key(key, sizeof(key), "p", proc, i - 1);
		rc = store_get(st, STORE_TOKEN, key, kl, &v);
		if (rc == STORE_OK && value_matches(&v, proc, i - 1))
			r->reads_ok++;
		else
			r->reads_bad++;
		store_val_free(&v);
		tally(r, rc);
		break;
	}
	default: { /* each process walks the items from its own offset */
		uint32_t item = (uint32_t)((i / 4 + proc * items / PROCS) % items);

		kl = make_key(key, sizeof(key), "item", 0, item);
		rc = store_update(st, STORE_CODE, key, kl, redeem_fn, &won);
		tally(r, rc);
		if (rc == STORE_OK && won) {
			r->wins++;
			if (write_all(fd, &item, sizeof(item)) != 0)
				r->errors++;
		}
	}
	}
}

static void
child_main(unsigned proc, unsigned long n, unsigned long items, int fd)
{
	struct child_report r = {0};
	char err[256];
	struct store *st = store_open(test_db, LOCK_TIMEOUT_MS, err, sizeof(err));
	double t0 = now_s();
	uint32_t end = UINT32_MAX;

	if (st == NULL)
		_exit(2);
	for (unsigned long i = 0; i < n; i++)
		child_op(st, proc, i, items, fd, &r);
	r.seconds = now_s() - t0;
	store_close(st);
	/* UINT32_MAX ends the win list; the report follows. */
	if (write_all(fd, &end, sizeof(end)) != 0 || write_all(fd, &r, sizeof(r)) != 0)
		_exit(3);
	_exit(0);
}

/* Collect one child's wins and report; returns 0 if well-formed. */
static int
collect_child(int fd, unsigned long items, unsigned *winners, struct child_report *r)
{
	uint32_t item;

	for (;;) {
		if (read_all(fd, &item, sizeof(item)) != sizeof(item))
			return -1;
		if (item == UINT32_MAX)
			break;
		if (item >= items)
			return -1;
		winners[item]++;
	}
	return read_all(fd, r, sizeof(*r)) == sizeof(*r) ? 0 : -1;
}

static int
spawn_children(unsigned long n, unsigned long items, pid_t *pids, int *fds)
{
	for (unsigned p = 0; p < PROCS; p++) {
		int pfd[2];

		if (pipe(pfd) != 0)
			return -1;
		fflush(stdout);
		pids[p] = fork();
		if (pids[p] < 0)
			return -1;
		if (pids[p] == 0) {
			close(pfd[0]);
			child_main(p, n, items, pfd[1]);
		}
		close(pfd[1]);
		fds[p] = pfd[0];
	}
	return 0;
}

/* Parent-side checks of every put key after the children are done. */
static void
check_puts(struct store *st, unsigned long n)
{
	unsigned long missing = 0, bad = 0, total = 0;
	char key[64];

	for (unsigned p = 0; p < PROCS; p++)
		for (unsigned long i = 1; i < n; i += 4) {
			struct store_val v;
			size_t kl = make_key(key, sizeof(key), "p", p, i);
			int rc = store_get(st, STORE_TOKEN, key, kl, &v);

			total++;
			if (rc == STORE_NOTFOUND)
				missing++;
			else if (rc != STORE_OK || !value_matches(&v, p, i))
				bad++;
			store_val_free(&v);
		}
	is_int(missing, 0, "parent: none of %lu per-process keys missing", total);
	is_int(bad, 0, "parent: no torn or wrong value");
}

static void
check_items(struct store *st, const unsigned *winners, unsigned long items, long reported)
{
	unsigned long zero = 0, multi = 0, left = 0;
	char key[64];

	for (unsigned long j = 0; j < items; j++) {
		size_t kl = make_key(key, sizeof(key), "item", 0, j);

		zero += winners[j] == 0;
		multi += winners[j] > 1;
		left += store_get(st, STORE_CODE, key, kl, NULL) != STORE_NOTFOUND;
	}
	is_int(multi, 0, "no single-use item redeemed twice");
	is_int(zero, 0, "every single-use item redeemed once");
	is_int(reported, (long)items, "total wins == %lu items", items);
	is_int(left, 0, "no redeemed item left in the store");
}

static void
test_mixed(struct store *st, unsigned long n)
{
	unsigned long items = n / 4 < ITEMS_MAX ? n / 4 : ITEMS_MAX;
	struct child_report sum = {0}, r;
	unsigned winners[ITEMS_MAX] = {0};
	pid_t pids[PROCS];
	int fds[PROCS], status, bad_children = 0;
	char key[64], line[200];
	uint64_t count = 0;
	double t0, el;

	if (items == 0)
		items = 1;
	for (unsigned long j = 0; j < items; j++) {
		size_t kl = make_key(key, sizeof(key), "item", 0, j);

		if (store_put(st, STORE_CODE, key, kl, "code", 4, 0, STORE_PUT_REPLACE) != STORE_OK)
			bad_children++;
	}
	is_int(bad_children, 0, "parent created %lu single-use items", items);
	t0 = now_s();
	if (!ok(spawn_children(n, items, pids, fds) == 0, "forked %d children", PROCS))
		return;
	for (unsigned p = 0; p < PROCS; p++) {
		memset(&r, 0, sizeof(r));
		if (collect_child(fds[p], items, winners, &r) != 0)
			bad_children++;
		close(fds[p]);
		sum.incr_ok += r.incr_ok;
		sum.puts_ok += r.puts_ok;
		sum.reads_ok += r.reads_ok;
		sum.reads_bad += r.reads_bad;
		sum.busy += r.busy;
		sum.errors += r.errors;
		sum.wins += r.wins;
	}
	for (unsigned p = 0; p < PROCS; p++)
		if (waitpid(pids[p], &status, 0) != pids[p] || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			bad_children++;
	el = now_s() - t0;
	is_int(bad_children, 0, "all children exited cleanly and reported");
	is_int(sum.busy, 0, "no STORE_BUSY reached a caller (timeout %d ms)", LOCK_TIMEOUT_MS);
	is_int(sum.errors, 0, "no STORE_ERROR");
	is_int(sum.incr_ok, (long)(PROCS * ((n + 3) / 4)), "every increment succeeded");
	is_int(store_incr(st, STORE_RATE, "shared-counter", 14, 0, &count), STORE_OK,
	       "read the counter");
	is_int(count - 1, sum.incr_ok, "shared counter == %ld increments: no lost update",
	       sum.incr_ok);
	is_int(sum.reads_bad, 0, "children read their own keys back intact under load");
	check_puts(st, n);
	check_items(st, winners, items, sum.wins);
	snprintf(line, sizeof(line),
		 "mixed: %d procs x %lu ops = %lu ops in %.2f s = %.0f ops/s (%ld incr, %ld puts, "
		 "%ld reads, %lu items)",
		 PROCS, n, PROCS * n, el, (double)(PROCS * n) / el, sum.incr_ok, sum.puts_ok,
		 sum.reads_ok, items);
	diag(line);
}

/* ---- part 2: kill -9 durability ----------------------------------------------- */

static void
writer_main(unsigned round, int fd)
{
	unsigned char val[512];
	char err[256], key[64];
	struct store *st = store_open(test_db, LOCK_TIMEOUT_MS, err, sizeof(err));

	if (st == NULL)
		_exit(2);
	for (uint32_t i = 0; i < 1000000; i++) {
		size_t kl = make_key(key, sizeof(key), "k", round, i);
		size_t vl = make_value(round, i, val, sizeof(val));

		if (store_put(st, STORE_GRANT, key, kl, val, vl, 0, STORE_PUT_REPLACE) != STORE_OK)
			_exit(4);
		if (write_all(fd, &i, sizeof(i)) != 0)
			_exit(5);
	}
	_exit(0);
}

/* Returns the number of acknowledged writes, and checks them. */
static uint32_t
kill_round(struct store *st, unsigned round, uint32_t kill_after)
{
	uint32_t ack = 0, i, missing = 0, bad = 0;
	int pfd[2], status = 0;
	char key[64];
	pid_t pid;

	if (pipe(pfd) != 0)
		return 0;
	fflush(stdout);
	if ((pid = fork()) == 0) {
		close(pfd[0]);
		writer_main(round, pfd[1]);
	}
	close(pfd[1]);
	while (ack < kill_after && read_all(pfd[0], &i, sizeof(i)) == sizeof(i))
		ack = i + 1;
	kill(pid, SIGKILL);
	/* Acks written before the kill are still in the pipe. */
	while (read_all(pfd[0], &i, sizeof(i)) == sizeof(i))
		ack = i + 1;
	close(pfd[0]);
	waitpid(pid, &status, 0);
	ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "round %u: writer killed after %u acks",
	   round, ack);
	for (i = 0; i < ack; i++) {
		struct store_val v;
		size_t kl = make_key(key, sizeof(key), "k", round, i);
		int rc = store_get(st, STORE_GRANT, key, kl, &v);

		if (rc == STORE_NOTFOUND)
			missing++;
		else if (rc != STORE_OK || !value_matches(&v, round, i))
			bad++;
		store_val_free(&v);
	}
	is_int(missing + bad, 0, "round %u: all %u acknowledged records readable and intact", round,
	       ack);
	return ack;
}

static void
test_kill9(struct store *st)
{
	uint32_t total = 0;
	char line[160];
	long before, after;
	double t0 = now_s();

	before = gdbm_verify_count(test_db);
	for (unsigned r = 0; r < KILL_ROUNDS; r++)
		total += kill_round(st, 100 + r, 150 + 173 * r);
	after = gdbm_verify_count(test_db);
	ok(before >= 0 && after >= before + (long)total,
	   "GDBM_XVERIFY walk after the kills: %ld records, %ld before + %u acknowledged", after,
	   before, total);
	is_int(store_put(st, STORE_GRANT, "after-kill", 10, "ok", 2, 0, 0), STORE_OK,
	       "store still writable after the kills");
	snprintf(line, sizeof(line), "kill -9: %u acknowledged writes in %d rounds, %.2f s", total,
		 KILL_ROUNDS, now_s() - t0);
	diag(line);
}

/* ---- main ------------------------------------------------------------------- */

int
main(void)
{
	const char *tmp = getenv("TMPDIR");
	unsigned long n = stress_n();
	struct store *st;
	char err[256], line[120];

	snprintf(test_dir, sizeof(test_dir), "%s/mcpgate-stress-XXXXXX",
		 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(test_dir) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	snprintf(test_db, sizeof(test_db), "%s/stress.db", test_dir);
	snprintf(line, sizeof(line), "N=%lu operations per process (MCPGATE_STRESS_N)", n);
	diag(line);
	st = store_open(test_db, LOCK_TIMEOUT_MS, err, sizeof(err));
	if (ok(st != NULL, "store_open: %s", st != NULL ? "ok" : err)) {
		test_mixed(st, n);
		test_kill9(st);
	}
	store_close(st);
	if (nftw(test_dir, cleanup_one, 8, FTW_DEPTH | FTW_PHYS) != 0)
		printf("# could not remove %s\n", test_dir);
	return tap_done();
}
